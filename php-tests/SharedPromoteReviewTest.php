<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * Review of shared leases: promote() and demote() under real processes. Four processes for two
 * seconds take readers and writers, promote readers (two may promote at once) and demote
 * writers, with watchdog leases (the renewal thread runs while kinds change); a writer, however
 * it got there, never overlaps anyone.
 */
final class SharedPromoteReviewTest extends LockTestCase
{
    public function testPromotingAndDemotingProcessesNeverLetAWriterInWithAnyoneElse(): void
    {
        $counters = Counters::start(5);
        $dsn = $this->dsn;
        $key = $this->key;
        $start = microtime(true) + 0.5;
        $end = $start + 2.0;
        // "readers writers violations promotions demotions", updated under flock.
        $update = $counters->update(...);
        // A writer arrives: alone, or a violation. A reader arrives: no writer, or a violation.
        $writerIn = fn (array $v): array => [$v[0], $v[1] + 1, $v[2] + (($v[0] > 0 || $v[1] > 0) ? 1 : 0), $v[3], $v[4]];
        $writerOut = fn (array $v): array => [$v[0], $v[1] - 1, $v[2], $v[3], $v[4]];
        $readerIn = fn (array $v): array => [$v[0] + 1, $v[1], $v[2] + ($v[1] > 0 ? 1 : 0), $v[3], $v[4]];
        $readerOut = fn (array $v): array => [$v[0] - 1, $v[1], $v[2], $v[3], $v[4]];
        Processes::all(4, function (int $i) use ($dsn, $key, $start, $end, $update, $writerIn, $writerOut, $readerIn, $readerOut): array {
            $lock = new \RedisLock($dsn, ['leaseTtl' => 0.6]);
            $lock->isLocked('warm-up');
            while (microtime(true) < $start) {
                usleep(1_000);
            }
            mt_srand($i);
            while (microtime(true) < $end) {
                if (mt_rand(0, 1) === 0) {
                    $lease = $lock->lockShared($key, null, 10) ?? throw new \RuntimeException('reader waited 10 s');
                    $update($readerIn);
                    usleep(mt_rand(500, 3_000));
                    $update($readerOut); // about to ask: counted out before it may become a writer
                    if ($lease->promote(mt_rand(0, 1) * 0.05)) {
                        $update($writerIn);
                        $update(fn (array $v): array => [$v[0], $v[1], $v[2], $v[3] + 1, $v[4]]);
                        usleep(1_000);
                        $update($writerOut);
                    } else {
                        $this->assertTrue($lease->isShared(), 'a failed promotion stays a reader');
                    }
                } else {
                    $lease = $lock->lock($key, null, 10) ?? throw new \RuntimeException('writer waited 10 s');
                    $update($writerIn);
                    usleep(1_000);
                    $update($writerOut);
                    if (mt_rand(0, 1) === 0) {
                        // Still alone: counted as a reader before readers can come in.
                        $update($readerIn);
                        $this->assertTrue($lease->demote());
                        $update(fn (array $v): array => [$v[0], $v[1], $v[2], $v[3], $v[4] + 1]);
                        usleep(mt_rand(500, 2_000));
                        $update($readerOut);
                    }
                }
                $this->assertTrue($lease->release(), 'held until released: ' . json_encode($lease->__debugInfo()));
            }
            return [];
        });
        [$readers, $writers, $violations, $promotions, $demotions] = $counters->values();
        $counters->remove();
        $this->assertSame(0, $violations, 'a writer overlapped a reader or another writer');
        $this->assertSame([0, 0], [$readers, $writers], 'everyone left');
        $this->assertGreaterThan(5, $promotions, 'promotions happened');
        $this->assertGreaterThan(5, $demotions, 'demotions happened');
    }
}
