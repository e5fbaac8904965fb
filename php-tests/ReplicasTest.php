<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/**
 * The `replicas` / `replicaTimeout` options through the PHP face: a master with a real replica
 * on loopback, the replica stopped with SIGSTOP so that it never acknowledges (always resumed
 * in a `finally`, and by RedisServer's destructor).
 */
final class ReplicasTest extends TestCase
{
    private const PASSWORD = 'r3pl1ca-s3cret';

    /** @return array{RedisServer, RedisServer} a master (with a password) and its replica, in sync */
    private static function replicated(): array
    {
        $master = new RedisServer(['--requirepass', self::PASSWORD, '--repl-diskless-sync-delay', '0']);
        $replica = new RedisServer([
            '--replicaof', '127.0.0.1', (string) $master->port, '--masterauth', self::PASSWORD,
            '--requirepass', self::PASSWORD,
        ]);
        $deadline = microtime(true) + 20;
        // Ready when a write made after the replica is online is acknowledged (a write made
        // before counts for nothing, and for about a second after a sync Redis 7.0 does not
        // count an online replica: it streams to it from its first periodic ACK).
        $client = $master->client();
        while (!(str_contains($client->info('replication')['slave0'] ?? '', 'state=online')
            && $client->incr('ready') && $client->rawCommand('WAIT', 1, 100) === 1)) {
            if (microtime(true) > $deadline) {
                throw new \RuntimeException('the replica did not sync');
            }
            usleep(50_000);
        }
        return [$master, $replica];
    }

    private static function dsn(RedisServer $server): string
    {
        return 'redis://:' . self::PASSWORD . "@127.0.0.1:{$server->port}";
    }

    /** Runs $fn while $server is stopped (SIGSTOP), resuming it whatever happens. */
    private static function whileStopped(RedisServer $server, callable $fn): mixed
    {
        $server->signal(SIGSTOP);
        try {
            return $fn();
        } finally {
            $server->signal(SIGCONT);
        }
    }

    public function testAnAcknowledgedLockIsGrantedAndAlreadyOnTheReplica(): void
    {
        [$master, $replica] = self::replicated();
        $lock = new \RedisLock(self::dsn($master), ['replicas' => 1]);
        $this->assertTrue($lock->acquire('doc', 'v1', 10));
        $this->assertSame('v1', $replica->client()->get('doc'), 'on the replica when acquire() returns');
        $this->assertTrue($lock->release('doc', 'v1'));

        $lease = $lock->lock('lease', 10);
        $this->assertInstanceOf(\RedisLockLease::class, $lease);
        $this->assertSame($lease->token(), $replica->client()->get('lease'));
        $this->assertFalse($lease->isAtRisk());
        $this->assertTrue($lease->release());

        $seen = $lock->synchronized('sync', fn (\RedisLockLease $l) => $replica->client()->get('sync') === $l->token());
        $this->assertTrue($seen, 'synchronized() ran its callback with the lock on the replica');
        $info = $lock->__debugInfo();
        $this->assertSame(1, $info['replicas']);
        $this->assertSame(0.1, $info['replicaTimeout']);
    }

    public function testWithTheReplicaStoppedAcquireLockAndSynchronizedThrowAndLeaveTheLockFree(): void
    {
        [$master, $replica] = self::replicated();
        $lock = new \RedisLock(self::dsn($master), ['replicas' => 1, 'replicaTimeout' => 0.2]);
        $plain = new \RedisLock(self::dsn($master));
        $oracle = $master->client();
        $fenceBefore = $plain->lock('k', 10)->fence();   // released when the lease is destroyed
        $ran = false;
        $errors = self::whileStopped($replica, function () use ($lock, &$ran): array {
            $errors = [];
            foreach ([
                'acquire' => fn () => $lock->acquire('doc', 'v1', 10),
                'retryAcquire' => fn () => $lock->retryAcquire('retry', 'v1', 10, 2, 1),
                'lock' => fn () => $lock->lock('k', 10),
                'watchdog lock' => fn () => $lock->lock('wd'),
                'synchronized' => fn () => $lock->synchronized('sync', function () use (&$ran) { $ran = true; }),
            ] as $name => $call) {
                $start = microtime(true);
                try {
                    $call();
                    $errors[$name] = null;
                } catch (\RedisLockException $e) {
                    $errors[$name] = [$e, microtime(true) - $start];
                }
            }
            return $errors;
        });
        foreach ($errors as $name => $error) {
            $this->assertNotNull($error, "$name threw");
            [$e, $took] = $error;
            $this->assertInstanceOf(\RedisLockReplicationException::class, $e, $name);
            $this->assertStringNotContainsString(self::PASSWORD, $e->getMessage());
            $this->assertGreaterThanOrEqual(0.19, $took, "$name: WAIT waited replicaTimeout");
            $this->assertLessThan(0.9, $took, "$name: and no more (retryAcquire does not retry)");
        }
        $this->assertSame(
            'acquire: 0 of 1 replica acknowledged the lock "doc" within replicaTimeout 0.2 s (WAIT): '
            . 'it was released, as a failover could have lost it',
            $errors['acquire'][0]->getMessage()
        );
        $this->assertFalse($ran, 'the callback did not run');
        foreach (['doc', 'retry', 'k', 'wd', 'sync'] as $key) {
            $this->assertSame(0, $oracle->exists($key), "$key was given back");
        }
        $this->assertTrue($plain->acquire('doc', 'other', 10), 'free for others');
        $this->assertGreaterThan($fenceBefore, $plain->lock('k', 10)->fence(), 'fences still increase');
    }

    public function testReplicasTwoWithOneReplicaThrows(): void
    {
        [$master, $replica] = self::replicated();   // both kept: a destroyed server is killed
        $lock = new \RedisLock(self::dsn($master), ['replicas' => 2]);
        try {
            $lock->acquire('doc', 'v1', 10);
            $this->fail('no exception');
        } catch (\RedisLockReplicationException $e) {
            $this->assertStringStartsWith('acquire: 1 of 2 replicas acknowledged the lock "doc"', $e->getMessage());
        }
        $this->assertSame(0, $master->client()->exists('doc'));
    }

    /**
     * The lost write, made deterministic: the replica is stopped and cut off, a lock is taken on the master,
     * the master dies, the replica resumes and is promoted without the lock, and a second client
     * takes it. With `replicas` 0 the first client was told it held the lock: two holders. With
     * `replicas` 1 it was told it did not.
     */
    public function testTheLostWriteScenarioWithAndWithoutReplicas(): void
    {
        foreach ([0 => true, 1 => false] as $replicas => $firstBelievesItHoldsIt) {
            [$master, $replica] = self::replicated();
            $first = new \RedisLock(self::dsn($master), ['replicas' => $replicas]);
            // Stopped, and cut off: else the master's stream would wait in the stopped
            // replica's socket buffer and reach it when it resumes.
            $replica->signal(SIGSTOP);
            try {
                $master->client()->rawCommand('CLIENT', 'KILL', 'TYPE', 'replica');
                try {
                    $granted = $first->acquire('order:42', 'first', 60);
                } catch (\RedisLockReplicationException) {
                    $granted = false;
                }
                $master->kill();   // dies before the replica has the write
            } finally {
                $replica->signal(SIGCONT);
            }
            $this->assertSame($firstBelievesItHoldsIt, $granted, "replicas $replicas: the first client's answer");
            $promoted = $replica->client();
            $promoted->rawCommand('REPLICAOF', 'NO', 'ONE');
            $second = new \RedisLock(self::dsn($replica));
            $this->assertTrue($second->acquire('order:42', 'second', 60), "replicas $replicas: the promoted replica never had the lock");
            // replicas 0: both believe they hold order:42. replicas 1: only the second does.
        }
    }

    public function testAnUnacknowledgedExtendThrowsButTheLeaseIsHeldAtRisk(): void
    {
        [$master, $replica] = self::replicated();
        $lock = new \RedisLock(self::dsn($master), ['replicas' => 1]);
        $lease = $lock->lock('k', 10);
        $this->assertFalse($lease->isAtRisk());
        $error = self::whileStopped($replica, function () use ($lease) {
            try {
                $lease->extend(30);
                return null;
            } catch (\RedisLockReplicationException $e) {
                return $e;
            }
        });
        $this->assertInstanceOf(\RedisLockReplicationException::class, $error);
        $this->assertStringStartsWith('extend: 0 of 1 replica acknowledged the lock "k"', $error->getMessage());
        $this->assertStringContainsString('still held', $error->getMessage());
        $this->assertTrue($lease->isAtRisk());
        $this->assertTrue($lease->__debugInfo()['atRisk']);
        $this->assertSame('held', $lease->__debugInfo()['status']);
        $this->assertTrue($lease->isHeld());
        $this->assertGreaterThan(20_000, $master->client()->pttl('k'), 'extended on the master');
        $this->assertTrue($lease->extend(30), 'acknowledged once the replica is back');
        $this->assertFalse($lease->isAtRisk());
        $this->assertTrue($lease->release());
    }

    public function testTheWatchdogMarksALeaseAtRiskAndKeepsRenewingIt(): void
    {
        [$master, $replica] = self::replicated();
        $lock = new \RedisLock(self::dsn($master), ['replicas' => 1, 'leaseTtl' => 0.9]);
        $lease = $lock->lock('wd');
        usleep(500_000);
        $this->assertFalse($lease->isAtRisk(), 'renewals acknowledged');
        $risky = self::whileStopped($replica, function () use ($lease): bool {
            $deadline = microtime(true) + 3;
            while (!$lease->isAtRisk() && microtime(true) < $deadline) {
                usleep(20_000);
            }
            usleep(1_200_000);   // past the lease's TTL: renewed all along
            return $lease->isAtRisk();
        });
        $this->assertTrue($risky, 'a renewal found the replica silent');
        $this->assertSame($lease->token(), $master->client()->get('wd'), 'still held and renewed');
        $deadline = microtime(true) + 3;
        while ($lease->isAtRisk() && microtime(true) < $deadline) {
            usleep(20_000);
        }
        $this->assertFalse($lease->isAtRisk(), 'cleared by an acknowledged renewal');
        $this->assertTrue($lease->release());
    }

    public function testWithoutReplicasALeaseIsNeverAtRisk(): void
    {
        $lease = (new \RedisLock((string) getenv('REDIS_URL')))->lock('replicas:off:' . bin2hex(random_bytes(4)), 5);
        $this->assertFalse($lease->isAtRisk());
        $this->assertTrue($lease->extend(5));
        $this->assertFalse($lease->isAtRisk());
        $this->assertArrayNotHasKey('replicas', (new \RedisLock((string) getenv('REDIS_URL')))->__debugInfo());
        $this->assertTrue($lease->release());
    }

    /** @return iterable<string, array{string, array<string, mixed>, class-string<\Throwable>, string}> */
    public static function badOptions(): iterable
    {
        yield 'memory:// has no replicas' => ['memory://', ['replicas' => 1], \ValueError::class, 'memory:// has no replicas'];
        yield 'negative' => ['redis://h', ['replicas' => -1], \ValueError::class, 'option "replicas" must be from 0 to 1000, -1 given'];
        yield 'too many' => ['redis://h', ['replicas' => 1001], \ValueError::class, 'from 0 to 1000'];
        yield 'float replicas' => ['redis://h', ['replicas' => 1.0], \TypeError::class, 'option "replicas" must be of type int, float given'];
        yield 'string replicas' => ['redis://h', ['replicas' => '1'], \TypeError::class, 'option "replicas" must be of type int, string given'];
        yield 'zero timeout' => ['redis://h', ['replicaTimeout' => 0], \ValueError::class, 'option "replicaTimeout" must be a finite number of seconds greater than 0'];
        yield 'string timeout' => ['redis://h', ['replicaTimeout' => '0.1'], \TypeError::class, 'option "replicaTimeout" must be of type int|float'];
        yield 'timeout over half of readTimeout' => ['redis://h', ['replicas' => 1, 'replicaTimeout' => 0.6], \ValueError::class, 'must be at most half of "readTimeout" (1 s)'];
        yield 'readTimeout given after' => ['redis://h', ['replicas' => 1, 'replicaTimeout' => 0.5, 'readTimeout' => 0.5], \ValueError::class, '(0.5 s) must be at most half of "readTimeout" (0.5 s)'];
    }

    /** @dataProvider badOptions */
    public function testBadOptionsAreRefusedByTheConstructor(string $dsn, array $options, string $class, string $message): void
    {
        $this->expectException($class);
        $this->expectExceptionMessage($message);
        new \RedisLock($dsn, $options);
    }

    public function testGoodOptionsAreAccepted(): void
    {
        $lock = new \RedisLock('redis://h', ['readTimeout' => 3, 'replicas' => 2, 'replicaTimeout' => 1.5]);
        $this->assertSame(2, $lock->__debugInfo()['replicas']);
        $this->assertSame(1.5, $lock->__debugInfo()['replicaTimeout']);
        $this->assertArrayNotHasKey('replicas', (new \RedisLock('memory://', ['replicas' => 0]))->__debugInfo());
    }
}
