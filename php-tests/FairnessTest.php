<?php

declare(strict_types=1);

namespace RedisLockTests;

/** Fair blocking waits: arrival order, no starvation, no polling storm. */
final class FairnessTest extends LockTestCase
{
    public function testEightContendersGetSharesWithinTenPercentOfEachOther(): void
    {
        $server = new RedisServer(); // its own server: commands are counted below
        $dsn = $server->dsn();
        $key = 'fair';
        $start = microtime(true) + 0.5;
        $end = $start + 3.0;
        $turns = Processes::all(8, function () use ($dsn, $key, $start, $end): int {
            $lock = new \RedisLock($dsn);
            $lock->isLocked('warm-up'); // connect before the race
            while (microtime(true) < $start) {
                usleep(1_000);
            }
            $turns = 0;
            while (microtime(true) < $end) {
                $lease = $lock->lock($key, 5, 10) ?? throw new \RuntimeException('waited 10 s');
                usleep(1_000); // the critical section
                $lease->release();
                $turns++;
            }
            return $turns;
        });
        $this->assertGreaterThan(500, array_sum($turns), 'the lock kept changing hands');
        $this->assertGreaterThanOrEqual(0.9, min($turns) / max($turns), 'shares: ' . json_encode($turns));

        $stats = $server->client()->info('commandstats');
        $commands = 0;
        foreach ($stats as $name => $line) {
            // What the clients send (commands a script runs inside Redis are counted apart).
            if (preg_match('/^cmdstat_(evalsha|eval|blpop)$/', $name) && preg_match('/calls=(\d+)/', $line, $m)) {
                $commands += (int) $m[1];
            }
        }
        $perAcquisition = $commands / array_sum($turns);
        // A waiter's first attempt, its BLPOP with the claim pipelined behind it, the release.
        $this->assertLessThan(4.3, $perAcquisition, 'commands per acquisition stay bounded (no polling storm)');
    }

    public function testWaitersAreServedInArrivalOrder(): void
    {
        $lock = $this->lock();
        $held = $lock->lock($this->key, 10);
        $log = tempnam(sys_get_temp_dir(), 'order');
        $children = [];
        for ($i = 0; $i < 6; $i++) {
            $children[] = Processes::fork(function () use ($i, $log): void {
                $lease = (new \RedisLock($this->dsn))->lock($this->key, 10, 10) ?? throw new \RuntimeException('no turn');
                file_put_contents($log, "$i\n", FILE_APPEND);
                usleep(2_000);
                $lease->release();
            });
            usleep(50_000); // arrive one after another
        }
        $held->release();
        foreach ($children as $c) {
            $c->wait();
        }
        $this->assertSame(['0', '1', '2', '3', '4', '5'], file($log, FILE_IGNORE_NEW_LINES));
        unlink($log);
    }

    public function testAHolderThatDiesDoesNotStrandTheQueue(): void
    {
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $holder = Processes::fork(function () use ($ready): void {
            (new \RedisLock($this->dsn))->lock($this->key, 0.5);
            file_put_contents($ready, 'held');
            sleep(60);
        });
        $deadline = microtime(true) + 5;
        while (file_get_contents($ready) !== 'held' && microtime(true) < $deadline) {
            usleep(5_000);
        }
        $waiters = [];
        for ($i = 0; $i < 3; $i++) {
            $waiters[] = Processes::fork(function (): float {
                $t0 = microtime(true);
                $lease = (new \RedisLock($this->dsn))->lock($this->key, 0.2, 10) ?? throw new \RuntimeException('stranded');
                $lease->release();
                return microtime(true) - $t0;
            });
        }
        $holder->signal(SIGKILL);
        $holder->waitStatus();
        $waited = array_map(fn (Child $c) => $c->wait(), $waiters);
        $this->assertLessThan(1.5, max($waited), 'all waiters got the lock soon after the TTL ran out');
        unlink($ready);
    }
}
