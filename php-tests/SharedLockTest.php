<?php

declare(strict_types=1);

namespace RedisLockTests;

/** Shared (read) leases: readers together, never with a writer, under forks and real faults. */
final class SharedLockTest extends LockTestCase
{
    public function testASharedLeaseIsAShareWithoutAFence(): void
    {
        $lock = $this->lock();
        $a = $lock->lockShared($this->key, 10);
        $b = $this->lock()->lockShared($this->key, 10);
        $this->assertNotNull($a);
        $this->assertNotNull($b, 'readers hold together');
        $this->assertTrue($a->isShared());
        $this->assertSame(0, $a->fence());
        $this->assertTrue($a->isHeld());
        $this->assertGreaterThan(9.0, $a->remaining());
        $this->assertNull($this->lock()->lock($this->key, 10), 'a writer waits for the readers');
        $this->assertTrue($lock->isLocked($this->key), 'isLocked() reports readers too');
        $this->assertTrue($a->release());
        $this->assertTrue($b->release());
        $writer = $this->lock()->lock($this->key, 10);
        $this->assertNotNull($writer);
        $this->assertFalse($writer->isShared());
        $this->assertGreaterThan(0, $writer->fence());
        $this->assertNull($this->lock()->lockShared($this->key, 10), 'a reader waits for the writer');
        $writer->release();
    }

    public function testPromoteWaitsForTheOtherReaderAndDemoteLetsReadersBackIn(): void
    {
        $reader = $this->lock()->lockShared($this->key, 10);
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $other = Processes::fork(function () use ($ready): void {
            $lease = (new \RedisLock($this->dsn))->lockShared($this->key, 10);
            file_put_contents($ready, $lease === null ? 'free?' : 'held');
            usleep(300_000);
            $lease->release();
        });
        $this->waitFor($ready);
        $this->assertFalse($reader->promote(), 'another reader holds');
        $this->assertTrue($reader->promote(3), 'once it left');
        $this->assertFalse($reader->isShared());
        $this->assertGreaterThan(0, $reader->fence());
        $this->assertNull($this->lock()->lockShared($this->key, 10), 'a writer now');
        $this->assertTrue($reader->demote());
        $this->assertTrue($reader->isShared());
        $this->assertSame(0, $reader->fence());
        $this->assertNotNull($this->lock()->lockShared($this->key, 10), 'readers again');
        $this->assertNull($other->wait());
        $reader->release();
        unlink($ready);
    }

    public function testAcquireFailsWhileAReaderHoldsAndSucceedsAfter(): void
    {
        $lock = $this->lock();
        $share = $this->lock()->lockShared($this->key, 10);
        $this->assertNotNull($share);
        $this->assertFalse($lock->acquire($this->key, 'doc', 10), 'a reader holds the key');
        $this->assertFalse($lock->retryAcquire($this->key, 'doc', 10, 2, 0.05));
        $this->assertTrue($lock->isLocked($this->key));
        $this->assertGreaterThan(9.0, $lock->ttl($this->key), 'the marker covers the share');
        $this->assertFalse($lock->release($this->key, 'random-value'), 'release() cannot free readers');
        $this->assertTrue($share->isHeld());
        $this->assertTrue($share->release());
        $this->assertFalse($lock->isLocked($this->key));
        $this->assertTrue($lock->acquire($this->key, 'doc', 10));
        $this->assertNull($this->lock()->lockShared($this->key, 10), 'no reader while acquire() holds');
        $this->assertTrue($lock->release($this->key, 'doc'));
        $short = $this->lock()->lockShared($this->key, 0.3);
        $this->assertFalse($lock->acquire($this->key, 'doc', 10));
        usleep(350_000);
        $this->assertTrue($lock->acquire($this->key, 'doc', 10), 'free once the share expired');
        $this->assertTrue($lock->release($this->key, 'doc'));
        unset($short);
    }

    public function testTheMarkerCoversTheLongestShare(): void
    {
        $a = $this->lock()->lockShared($this->key, 20);
        $b = $this->lock()->lockShared($this->key, 5);
        $ttl = $this->lock()->ttl($this->key);
        $this->assertGreaterThan(19.0, $ttl);
        $this->assertLessThanOrEqual(20.01, $ttl);
        $this->assertTrue($b->release());
        $this->assertGreaterThan(19.0, $this->lock()->ttl($this->key));
        $this->assertTrue($a->release());
        $this->assertNull($this->lock()->ttl($this->key));
    }

    public function testReservedValuesAndTokensAreRefused(): void
    {
        $lock = $this->lock();
        $calls = [
            fn () => $lock->acquire($this->key, '!rl:shared', 1),
            fn () => $lock->retryAcquire($this->key, '!rl:shared', 1, 0, 0),
            fn () => $lock->release($this->key, '!rl:shared'),
            fn () => $lock->lock($this->key, 1, 0, '!rl:shared'),
            fn () => $lock->lock($this->key, 1, 0, '!rlmine'),
            fn () => $lock->restore($this->key, '!rl:shared'),
        ];
        foreach ($calls as $i => $call) {
            try {
                $call();
                $this->fail("call $i was not refused");
            } catch (\ValueError $e) {
                $this->assertStringContainsString('reserved', $e->getMessage());
            }
        }
    }

    public function testForceReleaseClearsReadersAndTheMarker(): void
    {
        $lock = $this->lock();
        $a = $this->lock()->lockShared($this->key, 30);
        $b = $this->lock()->lockShared($this->key, 30);
        $this->assertTrue($lock->forceRelease($this->key));
        $this->assertFalse($lock->isLocked($this->key));
        $this->assertFalse($a->isHeld());
        $this->assertFalse($b->isHeld());
        $this->assertTrue($lock->acquire($this->key, 'doc', 10));
        $this->assertTrue($lock->release($this->key, 'doc'));
    }

    /**
     * Four processes, each taking turns as reader or writer for two seconds: a writer never
     * overlaps anyone, and readers do overlap each other.
     */
    public function testFourProcessesNeverLetAWriterInWithAnyoneElse(): void
    {
        $counters = Counters::start(4);
        $dsn = $this->dsn;
        $key = $this->key;
        $start = microtime(true) + 0.5;
        $end = $start + 2.0;
        // "readers writers violations max_readers", updated under flock.
        $update = $counters->update(...);
        $turns = Processes::all(4, function (int $i) use ($dsn, $key, $start, $end, $update): array {
            $lock = new \RedisLock($dsn);
            $lock->isLocked('warm-up');
            while (microtime(true) < $start) {
                usleep(1_000);
            }
            $reads = $writes = 0;
            mt_srand($i);
            while (microtime(true) < $end) {
                $write = mt_rand(0, 3) === 0; // one turn in four writes
                if ($write) {
                    $lease = $lock->lock($key, 5, 10) ?? throw new \RuntimeException('writer waited 10 s');
                    $update(function (array $v): array {
                        [$r, $w, $bad, $max] = $v;
                        return [$r, $w + 1, $bad + (($r > 0 || $w > 0) ? 1 : 0), $max];
                    });
                    usleep(2_000);
                    $update(fn (array $v): array => [$v[0], $v[1] - 1, $v[2], $v[3]]);
                    $writes++;
                } else {
                    $lease = $lock->lockShared($key, 5, 10) ?? throw new \RuntimeException('reader waited 10 s');
                    $update(function (array $v): array {
                        [$r, $w, $bad, $max] = $v;
                        return [$r + 1, $w, $bad + ($w > 0 ? 1 : 0), max($max, $r + 1)];
                    });
                    usleep(5_000);
                    $update(fn (array $v): array => [$v[0] - 1, $v[1], $v[2], $v[3]]);
                    $reads++;
                }
                $this->assertTrue($lease->release());
            }
            return [$reads, $writes];
        });
        [$readers, $writers, $violations, $maxReaders] = $counters->values();
        $counters->remove();
        $this->assertSame(0, $violations, 'a writer overlapped a reader or another writer');
        $this->assertSame([0, 0], [$readers, $writers], 'everyone left');
        $this->assertGreaterThan(1, $maxReaders, 'readers overlapped each other');
        $this->assertGreaterThan(20, array_sum(array_column($turns, 1)), 'writers got turns: ' . json_encode($turns));
        $this->assertGreaterThan(20, array_sum(array_column($turns, 0)), 'readers got turns: ' . json_encode($turns));
    }

    /**
     * Four processes mixing the documents' acquire()/release() writers with lockShared()
     * readers for two seconds: an acquire() writer never overlaps a reader or another writer.
     * (acquire() does not queue, so a steady stream of readers would starve it: the readers
     * here pause between turns.)
     */
    public function testFourProcessesMixingAcquireAndReadersNeverOverlap(): void
    {
        $counters = Counters::start(4);
        $dsn = $this->dsn;
        $key = $this->key;
        $start = microtime(true) + 0.5;
        $end = $start + 2.0;
        $update = $counters->update(...);
        $turns = Processes::all(4, function (int $i) use ($dsn, $key, $start, $end, $update): array {
            $lock = new \RedisLock($dsn);
            $lock->isLocked('warm-up');
            while (microtime(true) < $start) {
                usleep(1_000);
            }
            $reads = $writes = 0;
            mt_srand($i);
            while (microtime(true) < $end) {
                if (mt_rand(0, 2) === 0) {
                    $value = \RedisLock::token();
                    if (!$lock->acquire($key, $value, 5)) {
                        usleep(1_000);
                        continue;
                    }
                    $update(function (array $v): array {
                        [$r, $w, $bad, $max] = $v;
                        return [$r, $w + 1, $bad + (($r > 0 || $w > 0) ? 1 : 0), $max];
                    });
                    usleep(2_000);
                    $update(fn (array $v): array => [$v[0], $v[1] - 1, $v[2], $v[3]]);
                    $this->assertTrue($lock->release($key, $value));
                    $writes++;
                } else {
                    $lease = $lock->lockShared($key, 5, 10) ?? throw new \RuntimeException('reader waited 10 s');
                    $update(function (array $v): array {
                        [$r, $w, $bad, $max] = $v;
                        return [$r + 1, $w, $bad + ($w > 0 ? 1 : 0), max($max, $r + 1)];
                    });
                    usleep(5_000);
                    $update(fn (array $v): array => [$v[0] - 1, $v[1], $v[2], $v[3]]);
                    $this->assertTrue($lease->release());
                    $reads++;
                    // acquire() does not queue: readers leave gaps, or they would starve it.
                    usleep(mt_rand(5_000, 20_000));
                }
            }
            return [$reads, $writes];
        });
        [$readers, $writers, $violations, $maxReaders] = $counters->values();
        $counters->remove();
        $this->assertSame(0, $violations, 'an acquire() writer overlapped a reader or another writer');
        $this->assertSame([0, 0], [$readers, $writers], 'everyone left');
        $this->assertGreaterThan(5, array_sum(array_column($turns, 1)), 'writers got turns: ' . json_encode($turns));
        $this->assertGreaterThan(20, array_sum(array_column($turns, 0)), 'readers got turns: ' . json_encode($turns));
        $this->assertFalse((new \RedisLock($dsn))->isLocked($key), 'nothing left');
    }

    public function testAReaderKilledWithSigkillFreesItsShareAfterItsTtl(): void
    {
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $reader = Processes::fork(function () use ($ready): void {
            $lease = (new \RedisLock($this->dsn))->lockShared($this->key, 0.5);
            file_put_contents($ready, $lease === null ? 'free?' : 'held');
            sleep(60);
            $lease->release();
        });
        $this->waitFor($ready);
        $reader->signal(SIGKILL);
        $reader->waitStatus();
        $started = microtime(true);
        $this->assertNull($this->lock()->lock($this->key, 10), 'the dead reader still has its share');
        $lease = $this->lock()->lock($this->key, 10, 3);
        $this->assertNotNull($lease, 'its share expired');
        $this->assertLessThan(1.0, microtime(true) - $started);
        $lease->release();
        unlink($ready);
    }

    public function testAStoppedWatchdogReaderLosesItsShareAndAWriterGetsIn(): void
    {
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $reader = Processes::fork(function () use ($ready): void {
            $lease = (new \RedisLock($this->dsn, ['leaseTtl' => 0.5]))->lockShared($this->key);
            file_put_contents($ready, 'held');
            sleep(60);
            $lease->release();
        });
        $this->waitFor($ready);
        usleep(1_000_000); // two TTLs: the watchdog renews the share meanwhile
        $this->assertNull($this->lock()->lock($this->key, 10), 'renewed by the watchdog');
        $reader->signal(SIGSTOP);
        $started = microtime(true);
        $lease = $this->lock()->lock($this->key, 10, 3);
        $this->assertNotNull($lease, 'the stopped reader\'s share expired');
        $this->assertLessThan(1.0, microtime(true) - $started);
        $reader->signal(SIGKILL);
        $reader->signal(SIGCONT);
        $reader->waitStatus();
        $lease->release();
        unlink($ready);
    }

    public function testRequestEndReleasesAShare(): void
    {
        $code = '<?php
            $lock = new RedisLock(' . var_export($this->dsn, true) . ');
            $GLOBALS["share"] = $lock->lockShared(' . var_export($this->key, true) . ', 60);
            $local = (new RedisLock(' . var_export($this->dsn, true) . '))->lockShared(' . var_export($this->key, true) . ', 60);
            echo $GLOBALS["share"]->isShared() && $local->isHeld() ? "held" : "not held";
            exit(0);';
        [$exit, $out] = Processes::php($code);
        $this->assertSame(0, $exit);
        $this->assertSame('held', $out);
        $this->assertNotNull($this->lock()->lock($this->key, 10), 'both shares released at request end');
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
