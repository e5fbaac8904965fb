<?php

declare(strict_types=1);

namespace RedisLockTests;

/** Watchdog leases under real faults: kill -9, SIGSTOP past the TTL, long jobs, stuck jobs. */
final class WatchdogTest extends LockTestCase
{
    private const LEASE_TTL = 0.6; // renewed every 0.2 s

    private function ready(string $file): void
    {
        $deadline = microtime(true) + 10;
        while (@file_get_contents($file) === '' || !is_file($file)) {
            if (microtime(true) > $deadline) {
                $this->fail('the child never got ready');
            }
            usleep(5_000);
        }
    }

    public function testAJobThreeTimesItsTtlKeepsItsLockThroughout(): void
    {
        $lock = $this->lock(['leaseTtl' => self::LEASE_TTL]);
        $lease = $lock->lock($this->key); // watchdog
        $until = microtime(true) + 3 * self::LEASE_TTL;
        $checks = 0;
        while (microtime(true) < $until) {
            $this->assertSame($lease->token(), $this->oracle()->get($this->key));
            $this->assertNull((new \RedisLock($this->dsn))->lock($this->key, 1), 'nobody else gets in');
            usleep(50_000);
            $checks++;
        }
        $this->assertGreaterThan(20, $checks);
        $this->assertTrue($lease->isHeld());
        $this->assertGreaterThan(0.3, $lease->remaining());
        $this->assertTrue($lease->release());
    }

    public function testAHolderKilledWithSigkillFreesTheLockWithinOneLeaseTime(): void
    {
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $child = Processes::fork(function () use ($ready): void {
            $lease = (new \RedisLock($this->dsn, ['leaseTtl' => self::LEASE_TTL]))->lock($this->key);
            file_put_contents($ready, (string) $lease->fence());
            sleep(60);
        });
        $this->ready($ready);
        usleep((int) (2 * self::LEASE_TTL * 1e6));
        $this->assertTrue($this->lock()->isLocked($this->key), 'renewed while the holder lives');
        $child->signal(SIGKILL);
        $killedAt = microtime(true);
        $child->waitStatus();
        $lease = $this->lock()->lock($this->key, 5, 5);
        $freedAfter = microtime(true) - $killedAt;
        $this->assertNotNull($lease);
        $this->assertLessThanOrEqual(self::LEASE_TTL + 0.15, $freedAfter);
        $this->assertGreaterThan((int) file_get_contents($ready), $lease->fence());
        unlink($ready);
    }

    /**
     * The classic pause: the holder stops (GC, SIGSTOP) past its TTL, someone else takes the
     * lock, the holder resumes. Its lease must report lost, and must not touch the new owner.
     */
    public function testAHolderStoppedPastItsTtlLosesTheLeaseVisiblyAndHarmlessly(): void
    {
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $go = tempnam(sys_get_temp_dir(), 'go');
        $child = Processes::fork(function () use ($ready, $go): array {
            $lease = (new \RedisLock($this->dsn, ['leaseTtl' => self::LEASE_TTL]))->lock($this->key);
            file_put_contents($ready, (string) $lease->fence());
            while (file_get_contents($go) !== 'go') {
                usleep(5_000); // SIGSTOP lands here
            }
            usleep(300_000); // the watchdog resumes too and finds the lock gone
            ob_start();
            var_dump($lease);
            $dump = ob_get_clean();
            return [
                'statusAfterResume' => preg_match('/"status"\]=>\s+string\(\d+\) "(\w+)"/', $dump, $m) ? $m[1] : '?',
                'isHeld' => $lease->isHeld(),
                'extend' => $lease->extend(60),
                'release' => $lease->release(),
            ];
        });
        $this->ready($ready);
        $oldFence = (int) file_get_contents($ready);
        $child->signal(SIGSTOP);
        $start = microtime(true);
        $new = $this->lock()->lock($this->key, 30, 5);
        $this->assertNotNull($new, 'taken over once the TTL ran out');
        $this->assertLessThanOrEqual(self::LEASE_TTL + 0.15, microtime(true) - $start);
        $this->assertGreaterThan($oldFence, $new->fence());
        $child->signal(SIGCONT);
        file_put_contents($go, 'go');
        $result = $child->wait();
        $this->assertSame(['statusAfterResume' => 'lost', 'isHeld' => false, 'extend' => false, 'release' => false], $result);
        $this->assertSame($new->token(), $this->oracle()->get($this->key), "the new owner's lock is untouched");
        $this->assertGreaterThan(29_000, $this->oracle()->pttl($this->key), "and so is its TTL");
        $this->assertTrue($new->release());
        unlink($ready);
        unlink($go);
    }

    public function testAStuckJobLosesItsLockAtTheMaximumLifetime(): void
    {
        $lock = $this->lock(['leaseTtl' => self::LEASE_TTL, 'maxLifetime' => 1.0]);
        $lease = $lock->lock($this->key);
        $start = microtime(true);
        while ($lock->isLocked($this->key)) {
            if (microtime(true) - $start > 3) {
                $this->fail('still renewed after its maximum lifetime');
            }
            usleep(20_000);
        }
        $freedAfter = microtime(true) - $start;
        $this->assertGreaterThanOrEqual(1.0, $freedAfter);
        $this->assertLessThanOrEqual(1.0 + self::LEASE_TTL + 0.2, $freedAfter);
        $this->assertFalse($lease->isHeld());
    }

    public function testPhpinfoCountsTheLeasesTheWatchdogRenews(): void
    {
        $lease = $this->lock()->lock($this->key);
        ob_start();
        phpinfo(INFO_MODULES);
        $info = ob_get_clean();
        $this->assertMatchesRegularExpression('/leases renewed by the watchdog => [1-9]/', $info);
        $this->assertTrue($lease->release());
    }
}
