<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * Semaphores with expiring permits: at most N holders across forked workers, a crashed (kill -9)
 * or stopped (SIGSTOP) holder's permit back after its TTL, FIFO waiters, request end.
 */
final class SemaphoreTest extends LockTestCase
{
    public function testAPermitIsALeaseWithoutAFenceApartFromLocks(): void
    {
        $lock = $this->lock();
        $a = $lock->permit($this->key, 2, 10);
        $b = $this->lock()->permit($this->key, 2, 10);
        $this->assertNotNull($a);
        $this->assertNotNull($b, 'two permits');
        $this->assertNull($this->lock()->permit($this->key, 2, 10), 'not three');
        $this->assertNull($this->lock()->permit($this->key, 2, 10, 0.2), 'nor after a wait');
        $this->assertTrue($a->isPermit());
        $this->assertFalse($a->isShared());
        $this->assertSame(0, $a->fence());
        $this->assertSame($this->key, $a->key());
        $this->assertTrue($a->isHeld());
        $this->assertGreaterThan(9.0, $a->remaining());
        $this->assertSame(2, $lock->permitsHeld($this->key));
        // A lock of the same name is another thing.
        $this->assertFalse($lock->isLocked($this->key));
        $writer = $lock->lock($this->key, 10);
        $this->assertNotNull($writer, 'a semaphore and a lock of one name are independent');
        $this->assertFalse($writer->isPermit());
        $writer->release();
        $this->assertTrue($a->extend(20));
        $this->assertGreaterThan(19.0, $a->remaining());
        $this->assertTrue($a->release());
        $this->assertFalse($a->release(), 'released once');
        $this->assertSame(1, $lock->permitsHeld($this->key));
        $this->assertTrue($b->release());
        $this->assertSame(0, $lock->permitsHeld($this->key));
        $this->assertSame([], $this->oracle()->keys('*' . $this->key . '*'), 'nothing left');
        $debug = print_r($this->lock()->permit($this->key, 1, 10), true);
        $this->assertStringContainsString('[permits] => 1', $debug);
    }

    public function testAnotherPermitCountIsRefusedWhilePermitsAreHeld(): void
    {
        $held = $this->lock()->permit($this->key, 3, 10);
        try {
            $this->lock()->permit($this->key, 2, 10, 0.5);
            $this->fail('a count of 2 against 3');
        } catch (\RedisLockConflictException $e) {
            $this->assertStringContainsString('held with 3 permits, not 2', $e->getMessage());
            $this->assertStringContainsString(":testAnotherPermitCountIsRefusedWhilePermitsAreHeld:", $e->getMessage());
        }
        $this->assertSame(1, $this->lock()->permitsHeld($this->key), 'the refused call holds nothing');
        $held->release();
        $one = $this->lock()->permit($this->key, 1, 10);
        $this->assertNotNull($one, 'all gone: a new count');
        $this->assertNull($this->lock()->permit($this->key, 1, 10));
        $one->release();
    }

    public function testBadArgumentsAndKindChangesAreRefused(): void
    {
        $lock = $this->lock();
        foreach ([0, -1, 1_000_001] as $bad) {
            try {
                $lock->permit($this->key, $bad, 1);
                $this->fail("permits $bad");
            } catch (\ValueError $e) {
                $this->assertStringContainsString('permits must be between 1 and 1000000', $e->getMessage());
            }
        }
        foreach (['', '!rl', "!rl{x}sem:y"] as $bad) {
            try {
                $lock->permit($bad, 1, 1);
                $this->fail('name ' . json_encode($bad));
            } catch (\ValueError) {
                $this->addToAssertionCount(1);
            }
        }
        $permit = $lock->permit("a{b}:\0c", 1, 10);
        $this->assertNotNull($permit, 'binary-safe names with braces');
        foreach (['promote', 'demote'] as $method) {
            try {
                $permit->$method();
                $this->fail($method);
            } catch (\RedisLockException $e) {
                $this->assertStringContainsString('semaphore permit', $e->getMessage());
            }
        }
        $this->assertTrue($permit->isHeld());
        $permit->release();
    }

    public function testMemoryRunsSemaphoresToo(): void
    {
        $lock = new \RedisLock('memory://semaphores');
        $a = $lock->permit('k', 2, 10);
        $b = $lock->permit('k', 2, 10);
        $this->assertNotNull($a);
        $this->assertNotNull($b);
        $this->assertNull($lock->permit('k', 2, 10, 0.1));
        $this->assertSame(2, $lock->permitsHeld('k'));
        $this->assertTrue($a->release());
        $this->assertNotNull($c = $lock->permit('k', 2, 10));
        $this->expectException(\RedisLockConflictException::class);
        $lock->permit('k', 3, 10);
    }

    /**
     * Eight forked workers, 3 permits: never more than three inside at once (a counter of who
     * is inside, INCR on entry and DECR on exit, never passes 3, and does reach 3), and every
     * worker gets its turns.
     */
    public function testNeverMoreThanNHoldersAcrossForkedWorkers(): void
    {
        $inside = $this->key . ':inside';
        $peak = $this->key . ':peak';
        $rounds = Processes::all(8, function (int $i) use ($inside, $peak): int {
            $lock = new \RedisLock($this->dsn);
            $redis = new \Redis();
            $parts = parse_url($this->dsn);
            $redis->connect($parts['host'], $parts['port']);
            $done = 0;
            for ($round = 0; $round < 12; $round++) {
                $permit = $lock->permit($this->key, 3, 10, 20);
                if ($permit === null) {
                    throw new \RuntimeException('no permit within 20 s');
                }
                $now = $redis->incr($inside);
                $redis->eval("if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end", [$peak, $now], 1);
                usleep(random_int(1_000, 8_000));
                $redis->decr($inside);
                $permit->release();
                $done++;
            }
            return $done;
        }, 120);
        $this->assertSame(array_fill(0, 8, 12), $rounds);
        $this->assertSame('3', $this->oracle()->get($peak), 'three at once, never four');
        $this->assertSame('0', $this->oracle()->get($inside));
        $this->assertSame(0, $this->lock()->permitsHeld($this->key));
        $this->oracle()->del($inside, $peak);
    }

    public function testAKilledHoldersPermitComesBackAfterItsTtl(): void
    {
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $holder = Processes::fork(function () use ($ready): void {
            $permit = (new \RedisLock($this->dsn))->permit($this->key, 1, 0.8);
            file_put_contents($ready, $permit === null ? 'free?' : 'held');
            sleep(60);
        });
        $this->waitFor($ready);
        $holder->signal(SIGKILL);
        $holder->waitStatus();
        $started = microtime(true);
        $this->assertNull($this->lock()->permit($this->key, 1, 10), 'the dead holder still has it');
        $permit = $this->lock()->permit($this->key, 1, 10, 3);
        $this->assertNotNull($permit, 'its permit expired');
        $this->assertLessThan(1.2, microtime(true) - $started, 'woken at the expiry, not later');
        $permit->release();
        unlink($ready);
    }

    public function testAStoppedWatchdogHolderLosesItsPermit(): void
    {
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $holder = Processes::fork(function () use ($ready): void {
            $permit = (new \RedisLock($this->dsn, ['leaseTtl' => 0.5]))->permit($this->key, 1);
            file_put_contents($ready, $permit === null ? 'free?' : 'held');
            sleep(60);
        });
        $this->waitFor($ready);
        usleep(1_000_000); // two TTLs: the watchdog renews the permit meanwhile
        $this->assertNull($this->lock()->permit($this->key, 1, 10), 'renewed by the watchdog');
        $holder->signal(SIGSTOP);
        $started = microtime(true);
        $permit = $this->lock()->permit($this->key, 1, 10, 3);
        $this->assertNotNull($permit, 'the stopped holder\'s permit expired');
        $this->assertLessThan(1.0, microtime(true) - $started);
        $holder->signal(SIGKILL);
        $holder->signal(SIGCONT);
        $holder->waitStatus();
        $permit->release();
        unlink($ready);
    }

    public function testWaitersGetPermitsInArrivalOrder(): void
    {
        $order = $this->key . ':order';
        $held = $this->lock()->permit($this->key, 1, 10);
        $children = [];
        for ($i = 0; $i < 4; $i++) {
            $children[] = Processes::fork(function () use ($i, $order): void {
                $permit = (new \RedisLock($this->dsn))->permit($this->key, 1, 10, 15);
                if ($permit === null) {
                    throw new \RuntimeException('no permit');
                }
                $redis = new \Redis();
                $parts = parse_url($this->dsn);
                $redis->connect($parts['host'], $parts['port']);
                $redis->rPush($order, (string) $i);
                usleep(30_000);
                $permit->release();
            });
            usleep(200_000); // arrival order
        }
        $held->release();
        $this->assertNull($this->lock()->permit($this->key, 1, 10), 'a newcomer does not overtake the line');
        foreach ($children as $child) {
            $child->wait();
        }
        $this->assertSame(['0', '1', '2', '3'], $this->oracle()->lRange($order, 0, -1));
        $this->oracle()->del($order);
    }

    public function testRequestEndReleasesPermits(): void
    {
        $code = '<?php
            $lock = new RedisLock(' . var_export($this->dsn, true) . ');
            $GLOBALS["permit"] = $lock->permit(' . var_export($this->key, true) . ', 2, 60);
            $local = (new RedisLock(' . var_export($this->dsn, true) . '))->permit(' . var_export($this->key, true) . ', 2);
            echo $GLOBALS["permit"]->isPermit() && $local->isHeld() ? "held" : "not held";
            exit(0);';
        [$exit, $out] = Processes::php($code);
        $this->assertSame(0, $exit);
        $this->assertSame('held', $out);
        $this->assertSame(0, $this->lock()->permitsHeld($this->key), 'both permits released at request end');
    }

    private function waitFor(string $file): void
    {
        $deadline = microtime(true) + 5;
        while (file_get_contents($file) !== 'held' && microtime(true) < $deadline) {
            usleep(5_000);
        }
        $this->assertSame('held', file_get_contents($file));
    }
}
