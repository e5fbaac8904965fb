<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * Each problem the source documents raise, shown impossible with real forked processes and a
 * real redis-server.
 */
final class DocumentProblemsTest extends LockTestCase
{
    /** Document 000: a holder that dies without deleting the key must not deadlock everyone. */
    public function testAHolderKilledWithSigkillCannotDeadlockTheKey(): void
    {
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $holder = Processes::fork(function () use ($ready): void {
            (new \RedisLock($this->dsn))->acquire($this->key, 'doomed', 0.5);
            file_put_contents($ready, 'held');
            sleep(30); // killed long before this
        });
        $this->waitFor(fn () => file_get_contents($ready) === 'held');
        $holder->signal(SIGKILL);
        $status = $holder->waitStatus();
        unlink($ready);
        $this->assertTrue(pcntl_wifsignaled($status) && pcntl_wtermsig($status) === SIGKILL);

        $lock = $this->lock();
        $this->assertFalse($lock->acquire($this->key, 'next', 5), 'still held right after the kill');
        $start = microtime(true);
        $this->assertTrue($lock->retryAcquire($this->key, 'next', 5, 100, 0.01), 'free once the TTL runs out');
        $this->assertLessThan(0.6, microtime(true) - $start);
    }

    /**
     * Document 000's MULTI version (SETNX + EXPIRE in a transaction) refreshed the TTL on every
     * failed attempt, so a busy key never expired. Ours: contenders change nothing.
     */
    public function testFailedContendersNeverRefreshTheHoldersTtl(): void
    {
        $this->assertTrue($this->lock()->acquire($this->key, 'holder', 1));
        $attempts = Processes::all(8, function (): int {
            $lock = new \RedisLock($this->dsn);
            $n = 0;
            $until = microtime(true) + 0.5;
            while (microtime(true) < $until) {
                if ($lock->acquire($this->key, 'contender-' . getmypid(), 60)) {
                    throw new \RuntimeException('a contender took a held lock');
                }
                $n++;
            }
            return $n;
        });
        $this->assertGreaterThan(100, array_sum($attempts), 'contenders really hammered the key');
        $ttl = $this->oracle()->pttl($this->key);
        $this->assertLessThanOrEqual(520, $ttl, "the holder's TTL was refreshed: $ttl ms left");
        $this->assertSame('holder', $this->oracle()->get($this->key));
        usleep(($ttl + 50) * 1000);
        $this->assertFalse($this->oracle()->exists($this->key) > 0, 'the lock expired on time');
    }

    /**
     * Document 000's GET-then-DEL release deleted a lock that expired and was taken by someone
     * else in between. Ours compares and deletes atomically.
     */
    public function testAStaleHolderCannotDeleteTheNewOwnersLock(): void
    {
        $taken = tempnam(sys_get_temp_dir(), 'taken');
        $stale = Processes::fork(function () use ($taken): bool {
            $lock = new \RedisLock($this->dsn);
            $lock->acquire($this->key, 'stale', 0.2);
            // The work overruns the TTL; meanwhile the parent takes the lock.
            $deadline = microtime(true) + 5;
            while (file_get_contents($taken) !== 'yes' && microtime(true) < $deadline) {
                usleep(5_000);
            }
            return $lock->release($this->key, 'stale');
        });
        $lock = $this->lock();
        $this->assertTrue($lock->retryAcquire($this->key, 'owner', 5, 100, 0.01));
        file_put_contents($taken, 'yes');
        $this->assertFalse($stale->wait(), "the stale holder's release reports false");
        unlink($taken);
        $this->assertSame('owner', $this->oracle()->get($this->key), "the new owner's lock is untouched");
        $this->assertGreaterThan(4_000, $this->oracle()->pttl($this->key));
    }

    /**
     * Document 003's GETSET takeover let two processes that both saw an expired timestamp take
     * the lock. With Redis-side expiry a takeover is a SET NX, which exactly one process wins.
     */
    public function testRacingTakeoversOfAnExpiredLockHaveExactlyOneWinner(): void
    {
        $contenders = 12;
        for ($round = 0; $round < 8; $round++) {
            $key = "{$this->key}:$round";
            $this->assertTrue($this->lock()->acquire($key, 'expired-holder', 0.05));
            $go = microtime(true) + 0.3; // all children fire at the same instant, after the expiry
            $won = Processes::all($contenders, function (int $i) use ($key, $go): bool {
                $lock = new \RedisLock($this->dsn);
                $lock->acquire("{$key}:warm", 'x', 1); // connect before the race
                while (microtime(true) < $go) {
                }
                return $lock->acquire($key, "contender-$i", 10);
            });
            $this->assertSame(1, count(array_filter($won)), "round $round: " . json_encode($won));
            $winner = array_search(true, $won, true);
            $this->assertSame("contender-$winner", $this->oracle()->get($key));
        }
    }

    /** Mutual exclusion: forked processes doing read-modify-write under the lock lose nothing. */
    public function testForkedWorkersUnderTheLockLoseNoUpdate(): void
    {
        $this->assertSame(8 * 40, $this->countWithWorkers(8, 40, true));
    }

    /** The control for the test above: the same workload without the lock does lose updates. */
    public function testTheSameWorkloadWithoutTheLockLosesUpdates(): void
    {
        $this->assertLessThan(8 * 40, $this->countWithWorkers(8, 40, false));
    }

    /**
     * $workers forked processes each add 1 to a counter $perWorker times by GET, pause, SET (a
     * read-modify-write that loses updates unless serialized); returns the final count.
     */
    private function countWithWorkers(int $workers, int $perWorker, bool $locked): int
    {
        $counter = "{$this->key}:counter";
        $this->oracle()->set($counter, '0');
        Processes::all($workers, function () use ($counter, $perWorker, $locked): void {
            $lock = new \RedisLock($this->dsn);
            $data = new \Redis();
            $parts = parse_url($this->dsn);
            $data->connect($parts['host'], $parts['port']);
            $me = \RedisLock::token();
            for ($i = 0; $i < $perWorker; $i++) {
                if ($locked && !$lock->retryAcquire($this->key, $me, 5, 1000, 0.001)) {
                    throw new \RuntimeException('could not get the lock');
                }
                $n = (int) $data->get($counter);
                usleep(100);
                $data->set($counter, (string) ($n + 1));
                if ($locked && !$lock->release($this->key, $me)) {
                    throw new \RuntimeException('lost the lock inside the critical section');
                }
            }
        });
        return (int) $this->oracle()->get($counter);
    }

    private function waitFor(callable $condition, float $timeout = 5.0): void
    {
        $deadline = microtime(true) + $timeout;
        while (!$condition()) {
            if (microtime(true) > $deadline) {
                $this->fail('condition not reached in time');
            }
            usleep(2_000);
        }
    }
}
