<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/**
 * A Redlock quorum over 5 throwaway redis-servers: new RedisLock([dsn, ...]). Majority with
 * servers down or stopped, forked contention without lost updates, kill -9 of a holder, the
 * watchdog and request end, and the clear errors for what a quorum cannot do.
 */
final class QuorumTest extends TestCase
{
    /** @var list<RedisServer> */
    private array $servers = [];

    protected function setUp(): void
    {
        for ($i = 0; $i < 5; $i++) {
            $this->servers[] = new RedisServer();
        }
    }

    protected function tearDown(): void
    {
        foreach ($this->servers as $s) {
            $s->kill();
        }
        $this->servers = [];
    }

    /** @return list<string> */
    private function dsns(): array
    {
        return array_map(fn (RedisServer $s) => $s->dsn(), $this->servers);
    }

    private function quorum(array $options = []): \RedisLock
    {
        return new \RedisLock($this->dsns(), $options + ['connectTimeout' => 0.5, 'readTimeout' => 0.5]);
    }

    /** How many servers hold $key with $value. */
    private function holders(string $key, string $value): int
    {
        $n = 0;
        foreach ($this->servers as $s) {
            try {
                $n += (int) ($s->client()->get($key) === $value);
            } catch (\RedisException) {
                // down
            }
        }
        return $n;
    }

    public function testTheConstructorTakesAnArrayOfDsns(): void
    {
        $param = (new \ReflectionMethod(\RedisLock::class, '__construct'))->getParameters()[0];
        $this->assertSame('array|string', (string) $param->getType());
        $lock = $this->quorum();
        $info = $lock->__debugInfo();
        $this->assertSame(5, $info['quorum']);
        $this->assertSame(3, $info['majority']);
        $this->assertTrue($lock->acquire('k', 'v', 5));
        $this->assertSame(5, $this->holders('k', 'v'));
        $this->assertFalse($lock->acquire('k', 'other', 5));
        $this->assertTrue($lock->isLocked('k'));
        $this->assertGreaterThan(4.5, $lock->ttl('k'));
        $this->assertTrue($lock->release('k', 'v'));
        $this->assertSame(0, $this->holders('k', 'v'));
        $this->assertNull($lock->ttl('k'));
        $this->assertTrue($lock->retryAcquire('k', 'v', 5, 3, 0.1));
        $this->assertTrue($lock->release('k', 'v'));
    }

    public function testBadQuorumsAreClearErrors(): void
    {
        $cases = [
            [[], \ValueError::class, 'empty array'],
            [[$this->dsns()[0], 'memory://q'], \ValueError::class, 'memory://'],
            [[$this->dsns()[0], $this->dsns()[1], $this->dsns()[0]], \ValueError::class, 'same server'],
            [[$this->dsns()[0], 42], \TypeError::class, 'int given at key 1'],
            [['a' => $this->dsns()[0], 'b' => null], \TypeError::class, 'null given at key "b"'],
            [[$this->dsns()[0], 'nope://x'], \ValueError::class, 'quorum member #2'],
        ];
        foreach ($cases as [$dsn, $class, $text]) {
            try {
                new \RedisLock($dsn);
                $this->fail("no error for $text");
            } catch (\Throwable $e) {
                $this->assertInstanceOf($class, $e, $e->getMessage());
                $this->assertStringContainsString($text, $e->getMessage());
            }
        }
        try {
            new \RedisLock(42);
            $this->fail('an int DSN under strict_types');
        } catch (\TypeError $e) {
            $this->assertStringContainsString('must be of type array|string, int given', $e->getMessage());
        }
        $this->expectException(\ValueError::class);
        $this->expectExceptionMessage('replicas');
        new \RedisLock($this->dsns(), ['replicas' => 1]);
    }

    public function testNoPasswordInAQuorumsMessagesTracesOrDumps(): void
    {
        $dead = RedisServer::freePort();
        $dsns = ["redis://:s3cret-pw@127.0.0.1:$dead", "redis://user:s3cret-pw@127.0.0.1:" . RedisServer::freePort(), $this->dsns()[0]];
        $lock = new \RedisLock($dsns, ['connectTimeout' => 0.2]);
        $this->assertStringNotContainsString('s3cret', print_r($lock, true));
        try {
            $lock->acquire('k', 'v', 5);
            $this->fail('no majority');
        } catch (\RedisLockConnectionException $e) {
            $this->assertStringContainsString("127.0.0.1:$dead", $e->getMessage());
            $this->assertStringNotContainsString('s3cret', $e->getMessage() . $e->getTraceAsString() . (string) $e);
        }
        try {
            new \RedisLock(["redis://:s3cret-pw@127.0.0.1:$dead", "redis://:s3cret-pw@127.0.0.1:$dead"]);
            $this->fail('duplicate');
        } catch (\ValueError $e) {
            $this->assertStringNotContainsString('s3cret', (string) $e);
        }
    }

    public function testAMajorityWithTwoServersDownAndAnErrorNamingThemWithThree(): void
    {
        $lock = $this->quorum();
        $this->servers[0]->kill();
        $this->servers[3]->kill();
        $this->assertTrue($lock->acquire('k', 'v', 5));
        $this->assertTrue($lock->release('k', 'v'));
        $dead = $this->servers[4]->port;
        $this->servers[4]->kill();
        try {
            $lock->acquire('k', 'v', 5);
            $this->fail('no majority, no exception');
        } catch (\RedisLockConnectionException $e) {
            $this->assertStringContainsString('no majority of the quorum: 2 of 5', $e->getMessage());
            foreach ([$this->servers[0]->port, $this->servers[3]->port, $dead] as $port) {
                $this->assertStringContainsString("127.0.0.1:$port", $e->getMessage());
            }
        }
        $this->assertSame(0, $this->holders('k', 'v'), 'undone where it was granted');
        $this->expectException(\RedisLockConnectionException::class);
        $lock->lock('k', 5);
    }

    public function testAStoppedServerMidAcquireCostsOneDeadlineAndTheLockKeepsItsMajority(): void
    {
        $lock = $this->quorum();
        $this->assertTrue($lock->acquire('warm', 'v', 5));
        $this->servers[2]->signal(SIGSTOP);
        $start = microtime(true);
        try {
            $this->assertTrue($lock->acquire('k', 'v', 5));
            $took = microtime(true) - $start;
            $this->assertTrue($lock->isLocked('k'));
            $this->assertFalse($lock->acquire('k', 'w', 5));
        } finally {
            $this->servers[2]->signal(SIGCONT);
        }
        $this->assertGreaterThan(0.45, $took);
        $this->assertLessThan(0.9, $took);
        usleep(1_100_000); // it missed a deadline: left out for a second
        $this->assertFalse($lock->acquire('k', 'w', 5));
        $this->assertTrue($lock->release('k', 'v'));
        $this->assertTrue($lock->acquire('k', 'w', 5));
        $this->assertSame(5, $this->holders('k', 'w'));
    }

    public function testForkedWorkersNeverLoseAnUpdate(): void
    {
        $dsns = $this->dsns();
        $port = $this->servers[0]->port;
        $workers = 4;
        $rounds = 30;
        Processes::all($workers, function () use ($dsns, $port, $rounds) {
            $lock = new \RedisLock($dsns);
            $r = new \Redis();
            $r->connect('127.0.0.1', $port);
            for ($i = 0; $i < $rounds; $i++) {
                $lease = $lock->lock('counter-lock', 5, 20);
                if ($lease === null) {
                    throw new \RuntimeException('no lease within 20 s');
                }
                $n = (int) $r->get('counter');
                usleep(200);
                $r->set('counter', (string) ($n + 1));
                if (!$lease->release()) {
                    throw new \RuntimeException('lease lost');
                }
            }
            return true;
        }, 120);
        $this->assertSame($workers * $rounds, (int) $this->servers[0]->client()->get('counter'));
    }

    public function testForkedWorkersOnTheDocumentsApiNeverLoseAnUpdate(): void
    {
        $dsns = $this->dsns();
        $port = $this->servers[4]->port;
        Processes::all(4, function () use ($dsns, $port) {
            $lock = new \RedisLock($dsns);
            $r = new \Redis();
            $r->connect('127.0.0.1', $port);
            for ($i = 0; $i < 25; $i++) {
                $value = \RedisLock::token();
                $deadline = microtime(true) + 20;
                while (!$lock->acquire('doc-lock', $value, 5)) {
                    if (microtime(true) > $deadline) {
                        throw new \RuntimeException('not acquired within 20 s');
                    }
                    usleep(random_int(1_000, 5_000));
                }
                $n = (int) $r->get('doc-counter');
                usleep(200);
                $r->set('doc-counter', (string) ($n + 1));
                if (!$lock->release('doc-lock', $value)) {
                    throw new \RuntimeException('release found the lock gone');
                }
            }
            return true;
        }, 120);
        $this->assertSame(100, (int) $this->servers[4]->client()->get('doc-counter'));
    }

    public function testAHolderKilledWithSigkillFreesTheLockAfterItsTtl(): void
    {
        $dsns = $this->dsns();
        $file = tempnam(sys_get_temp_dir(), 'quorum-holder-');
        $child = Processes::fork(function () use ($dsns, $file) {
            $lease = (new \RedisLock($dsns))->lock('k', 1.0);
            file_put_contents($file, $lease->token());
            sleep(30);
            return true;
        });
        $deadline = microtime(true) + 5;
        while (@file_get_contents($file) === '' && microtime(true) < $deadline) {
            usleep(5_000);
        }
        $token = file_get_contents($file);
        unlink($file);
        $child->signal(SIGKILL);
        $child->waitStatus();
        $killedAt = microtime(true);
        $lock = $this->quorum();
        $this->assertSame(5, $this->holders('k', $token));
        $this->assertTrue($lock->isLocked('k'));
        $lease = $lock->lock('k', 5, 3);
        $this->assertNotNull($lease, 'free once its TTL ran out');
        $this->assertLessThan(1.3, microtime(true) - $killedAt);
        $this->assertTrue($lease->release());
    }

    public function testFencesSharedLeasesAndDemoteAreRefusedSayingWhy(): void
    {
        $lock = $this->quorum();
        $lease = $lock->lock('k', 5);
        try {
            $lease->fence();
            $this->fail('a quorum lease has no fence');
        } catch (\RedisLockException $e) {
            $this->assertStringContainsString('no fencing token', $e->getMessage());
            $this->assertStringContainsString('single authority', $e->getMessage());
        }
        $this->assertNull($lease->__debugInfo()['fence']);
        try {
            $lease->demote();
            $this->fail('no demote on a quorum');
        } catch (\RedisLockException $e) {
            $this->assertStringContainsString('quorum', $e->getMessage());
        }
        try {
            $lock->lockShared('s', 5);
            $this->fail('no shared leases on a quorum');
        } catch (\RedisLockException $e) {
            $this->assertStringContainsString('not available on a quorum', $e->getMessage());
        }
        try {
            $lock->lockMany(['m1', 'm2'], 5);
            $this->fail('no multi-key locks on a quorum');
        } catch (\RedisLockException $e) {
            $this->assertStringContainsString('multi-key locks are not available on a quorum', $e->getMessage());
        }
        $this->assertTrue($lease->extend(10));
        $this->assertGreaterThan(9.5, $lease->remaining());
        $this->assertTrue($lease->release());
        $this->assertFalse($lock->isLocked('k'));
    }

    public function testALeaseWhoseMajorityIsGoneReportsLost(): void
    {
        $lock = $this->quorum(['strict' => false]);
        $lease = $lock->lock('k', 10);
        foreach (array_slice($this->servers, 0, 3) as $s) {
            $s->client()->del('k');
        }
        $this->assertFalse($lease->isHeld());
        $this->assertFalse($lease->extend(10));
        $this->assertSame('lost', $lease->__debugInfo()['status']);
    }

    public function testTheWatchdogRenewsOnAMajority(): void
    {
        $lock = $this->quorum(['leaseTtl' => 0.3]);
        $lease = $lock->lock('k');
        $this->servers[0]->kill();
        usleep(1_000_000); // three TTLs
        $this->assertTrue($lease->isHeld());
        $this->assertSame(4, $this->holders('k', $lease->token()));
        $this->assertTrue($lease->release());
    }

    public function testSynchronizedAndRequestEndReleaseOnAQuorum(): void
    {
        $lock = $this->quorum();
        $this->assertSame(42, $lock->synchronized('k', fn (\RedisLockLease $l) => 42, 5));
        $this->assertFalse($lock->isLocked('k'));
        $code = '<?php
            $lock = new RedisLock(' . var_export($this->dsns(), true) . ');
            $lease = $lock->lock("k", 60);
            echo "held ", $lease->token();';
        [$exit, $out, $err] = Processes::php($code);
        $this->assertSame(0, $exit, $err);
        $this->assertStringStartsWith('held ', $out);
        $this->assertSame(0, $this->holders('k', substr($out, 5)), 'released at request end, not left to its TTL');
    }
}
