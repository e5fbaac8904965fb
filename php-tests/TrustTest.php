<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * Leases you can trust: the defects an adversarial user found, each shown gone with real
 * processes and a real server (the engine's own cargo tests and its model-based property test
 * cover the same items step by step).
 */
final class TrustTest extends LockTestCase
{
    /** Two lock names never share a key: `x` and `{x}` are two locks, even with a waiter in line. */
    public function testANameAndItsBracedFormAreDifferentLocks(): void
    {
        $x = $this->key;
        $braced = '{' . $this->key . '}';
        $a = $this->lock()->lock($x, 10);
        $c = $this->lock()->lock($braced, 10);
        $this->assertNotNull($a);
        $this->assertNotNull($c, 'another lock');
        $waiter = Processes::fork(fn (): ?int => (new \RedisLock($this->dsn))->lock($x, 10, 1.5)?->fence());
        usleep(300_000);
        $this->assertTrue($c->release());
        $this->assertNull($waiter->wait(), 'releasing {x} handed nothing to a waiter on x');
        $this->assertSame($a->token(), $this->oracle()->get($x));
        $this->assertTrue($a->isHeld());
    }

    /** Names that were the engine's own keys are ordinary locks; the reserved marker is refused. */
    public function testLockNamesCannotReachTheEnginesOwnKeys(): void
    {
        $lock = $this->lock(['prefix' => '{app}:' . $this->key . ':']);
        $queue = $lock->lock('jobs:queue', 10);
        $jobs = $lock->lock('jobs', 10);
        $fence = $lock->lock('a:fence', 10);
        $a = $lock->lock('a', 10);
        $this->assertNotNull($queue);
        $this->assertNotNull($jobs, 'no WRONGTYPE');
        $this->assertNotNull($a, 'no clash with a fence counter');
        $this->assertGreaterThan($fence->fence(), $a->fence());
        $this->assertFalse($lock->forceRelease('b:fence'));
        $this->assertNull($lock->ttl('b:fence'));
        foreach (['!rl', '!rl{AAAA}fences', '!rlx'] as $name) {
            foreach ([
                fn () => $this->lock()->lock($name),
                fn () => $this->lock()->acquire($name, 'v', 1),
                fn () => $this->lock()->release($name, 'v'),
                fn () => $this->lock()->isLocked($name),
                fn () => $this->lock()->forceRelease($name),
            ] as $call) {
                try {
                    $call();
                    $this->fail("'$name' was accepted");
                } catch (\ValueError $e) {
                    $this->assertStringContainsString('reserved', $e->getMessage());
                }
            }
        }
        $this->expectException(\ValueError::class);
        new \RedisLock($this->dsn, ['prefix' => '!rlapp:']);
    }

    /**
     * A waiter SIGKILLed while in line (FPM's request_terminate_timeout does exactly that) is
     * handed the lock for the claim window only: the next live waiter holds it within about
     * 3 s of the release, not after the dead one's 30 s TTL.
     */
    public function testAWaiterKilledInLineHoldsTheOthersUpForTheClaimWindowOnly(): void
    {
        $holder = $this->lock()->lock($this->key, 30);
        $dead = Processes::fork(function (): void {
            (new \RedisLock($this->dsn))->lock($this->key, null, 60); // a watchdog lease, 30 s
        });
        usleep(300_000); // the doomed one queues first
        $live = Processes::fork(function (): array {
            $lease = (new \RedisLock($this->dsn))->lock($this->key, 30, 20);
            return [microtime(true), $lease?->fence(), $lease?->remaining()];
        });
        usleep(300_000);
        $dead->signal(SIGKILL);
        $dead->waitStatus();
        $releasedAt = microtime(true);
        $this->assertTrue($holder->release());
        [$gotAt, $fence, $remaining] = $live->wait();
        $this->assertNotNull($fence, 'the live waiter got its turn');
        $this->assertLessThan(3.0, $gotAt - $releasedAt);
        $this->assertGreaterThan($holder->fence(), $fence);
        $this->assertGreaterThan(25.0, $remaining, 'claimed to its own TTL');
    }

    /** Every key ever locked leaves nothing behind but one fence counter per hash slot. */
    public function testDistinctKeysLeaveOnlyPerSlotCounters(): void
    {
        $server = new RedisServer();
        $lock = new \RedisLock($server->dsn());
        for ($i = 0; $i < 5000; $i++) {
            $lease = $lock->lock("order:$i", 10, 0.1);
            $lease->release();
        }
        $redis = $server->client();
        $this->assertLessThanOrEqual(5000, $redis->dbSize());
        foreach ($redis->keys('*') as $key) {
            $this->assertMatchesRegularExpression('/^!rl\{[@-O]{4}\}fences$/', $key);
        }
        unset($lock);
    }

    /** Fences stay above every earlier fence when the counters are lost (restart, eviction). */
    public function testFencesNeverGoBackWhenTheCountersAreLost(): void
    {
        $server = new RedisServer();
        $lock = new \RedisLock($server->dsn());
        $last = 0;
        foreach (['flush', 'restart', 'evict'] as $loss) {
            for ($i = 0; $i < 3; $i++) {
                $lease = $lock->lock('k', 5);
                $this->assertGreaterThan($last, $lease->fence(), "after $loss");
                $last = $lease->fence();
                $lease->release();
            }
            match ($loss) {
                'flush' => $server->client()->flushAll(),
                'restart' => $server->restart(),
                'evict' => $server->client()->del($server->client()->keys('!rl*')),
            };
        }
        $this->assertGreaterThan($last, $lock->lock('k', 5)->fence());
    }

    /** 2,000 objects with 2,000 different read timeouts share one socket. */
    public function testObjectsWithDistinctTimeoutsShareOneSocket(): void
    {
        $server = new RedisServer();
        $code = '<?php
            $locks = [];
            for ($i = 0; $i < 2000; $i++) {
                $locks[] = $l = new RedisLock(' . var_export($server->dsn(), true) . ', ["readTimeout" => 1 + $i / 1000]);
                $l->isLocked("k$i");
            }
            echo count(glob("/proc/self/fd/*"));';
        [$exit, $fds, $err] = Processes::php($code);
        $this->assertSame(0, $exit, $err);
        $this->assertLessThan(20, (int) $fds, 'a handful of descriptors, not 2,000');
    }

    /**
     * When Redis stalls at request end, releasing 20 leases costs about one readTimeout in all
     * (not two per lease): the first timeout abandons the rest to their TTLs.
     */
    public function testRequestEndWithAStalledServerWaitsOneTimeoutInAll(): void
    {
        $server = new RedisServer();
        $code = '<?php
            $lock = new RedisLock(' . var_export($server->dsn(), true) . ', ["readTimeout" => 0.5]);
            $leases = [];
            for ($i = 0; $i < 20; $i++) {
                $leases[] = $lock->lock("k$i", 60);
            }
            posix_kill(' . $server->pid() . ', SIGSTOP);
            echo microtime(true);';
        $start = microtime(true);
        [$exit, $stoppedAt, $err] = Processes::php($code);
        $end = microtime(true);
        $server->signal(SIGCONT);
        $this->assertSame(0, $exit, $err);
        $this->assertLessThan(1.2, $end - (float) $stoppedAt, 'request end and object frees together');
        $this->assertSame(20, count($server->client()->keys('k*')), 'left to their TTLs');
    }

    /**
     * The same with the leases in separate global variables, which PHP frees one by one before
     * the request-end hook runs: the first timeout opens the connection's breaker, the others
     * give up at once.
     */
    public function testLeasesInGlobalsAgainstAStalledServerCostOneTimeoutInAll(): void
    {
        $server = new RedisServer();
        $code = '<?php
            $lock = new RedisLock(' . var_export($server->dsn(), true) . ', ["readTimeout" => 0.5]);
            $a = $lock->lock("a", 60); $b = $lock->lock("b", 60); $c = $lock->lock("c", 60);
            $d = $lock->lock("d", 60); $e = $lock->lock("e", 60); $f = $lock->lock("f", null);
            function inner(RedisLock $lock): void {
                $g = $lock->lock("g", 60);
                $h = $lock->lock("h", 60);
                posix_kill(' . $server->pid() . ', SIGSTOP);
                echo microtime(true), "\n";
                throw new RuntimeException("unwinds with two leases in its frame");
            }
            inner($lock);';
        [$exit, $out, $err] = Processes::php($code, ['display_errors' => 'stderr']);
        $end = microtime(true);
        $server->signal(SIGCONT);
        $this->assertSame(255, $exit, $err);
        $this->assertStringContainsString('unwinds with two leases', $err);
        $this->assertLessThan(1.2, $end - (float) $out, 'one timeout for all eight leases');
    }

    /** retryAcquire compares in whole milliseconds; tokens are bytes everywhere. */
    public function testEdgeCasesOfTheDocumentsApi(): void
    {
        $lock = $this->lock();
        $this->assertTrue($lock->retryAcquire($this->key, 'v', 0.3, 3, 0.1), '0.1 × 3 is not more than 0.3');
        $binary = "\xff\xfe\x00token";
        $this->assertTrue($lock->acquire("{$this->key}:bin", $binary, 10));
        $restored = $lock->restore("{$this->key}:bin", $binary);
        $this->assertSame($binary, $restored->token());
        $this->assertGreaterThan(0, $restored->fence(), 'a lock taken with acquire() gets a fresh fence');
        $this->assertTrue($restored->release());
        $this->assertSame(0, $this->oracle()->exists("{$this->key}:bin"));
    }

    /** Taking many leases costs the same per lease whatever is already held. */
    public function testHoldingManyLeasesKeepsLockConstantTime(): void
    {
        $lock = $this->lock();
        $leases = [];
        $batch = function (int $from) use ($lock, &$leases): float {
            $start = hrtime(true);
            for ($i = $from; $i < $from + 1000; $i++) {
                $leases[] = $lock->lock("{$this->key}:$i", 60);
            }
            return (hrtime(true) - $start) / 1e9;
        };
        $first = $batch(0);
        for ($n = 1000; $n < 19000; $n += 1000) {
            $batch($n);
        }
        $last = $batch(19000);
        $this->assertLessThan(3 * $first, $last, sprintf('first 1000: %.3f s, last 1000: %.3f s', $first, $last));
        $start = hrtime(true);
        $leases = [];
        $this->assertLessThan(20.0, (hrtime(true) - $start) / 1e9, '20,000 releases');
    }

    /** A wait rides out a server stall and killed connections, and still gets the lock. */
    public function testAWaitRidesOutAStallAndKilledConnections(): void
    {
        $holder = $this->lock()->lock($this->key, 30);
        $waiter = Processes::fork(fn (): ?int => (new \RedisLock($this->dsn, ['readTimeout' => 0.3]))->lock($this->key, 10, 10)?->fence());
        usleep(300_000);
        $admin = new \Redis();
        $parts = parse_url($this->dsn);
        $admin->connect($parts['host'], $parts['port']);
        $admin->rawCommand('DEBUG', 'SLEEP', '1');
        foreach ([1, 2] as $_) {
            $admin->rawCommand('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
            usleep(300_000);
        }
        $this->assertTrue($this->lock()->forceRelease($this->key));
        $fence = $waiter->wait();
        $this->assertGreaterThan($holder->fence(), $fence, 'no exception: it waited on and got its turn');
    }
}
