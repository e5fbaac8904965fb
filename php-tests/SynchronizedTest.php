<?php

declare(strict_types=1);

namespace RedisLockTests;

/** synchronized(): value returned, exception propagated, lock released in every case. */
final class SynchronizedTest extends LockTestCase
{
    public function testReturnsTheCallbacksValueAndReleases(): void
    {
        $lock = $this->lock();
        $seen = null;
        $result = $lock->synchronized($this->key, function (\RedisLockLease $lease) use (&$seen, $lock) {
            $seen = [$lease->key(), $lease->isHeld(), $lock->isLocked($this->key)];
            return ['answer' => 42];
        });
        $this->assertSame(['answer' => 42], $result);
        $this->assertSame([$this->key, true, true], $seen);
        $this->assertFalse($lock->isLocked($this->key));
    }

    public function testTheCallbacksExceptionReachesTheCallerUnchangedAndTheLockIsReleased(): void
    {
        $lock = $this->lock();
        $thrown = new \DomainException('from the callback', 7);
        try {
            $lock->synchronized($this->key, function () use ($thrown) {
                throw $thrown;
            }, 10);
            $this->fail('no exception');
        } catch (\DomainException $e) {
            $this->assertSame($thrown, $e);
        }
        $this->assertFalse($lock->isLocked($this->key));
    }

    public function testALeaseKeptByTheCallbackIsStillReleased(): void
    {
        $lock = $this->lock();
        $kept = null;
        $lock->synchronized($this->key, function (\RedisLockLease $lease) use (&$kept) {
            $kept = $lease;
        });
        $this->assertFalse($lock->isLocked($this->key));
        $this->assertFalse($kept->isHeld());
        $this->assertFalse($kept->release(), 'already released');
    }

    public function testABusyLockAfterTheWaitIsAConflictAndTheCallbackDoesNotRun(): void
    {
        $lock = $this->lock();
        $held = $lock->lock($this->key, 10);
        $ran = false;
        $start = microtime(true);
        try {
            $lock->synchronized($this->key, function () use (&$ran) {
                $ran = true;
            }, 10, 0.2);
            $this->fail('no exception');
        } catch (\RedisLockConflictException $e) {
            $this->assertStringContainsString('still locked after waiting 0.2 s', $e->getMessage());
        }
        $this->assertFalse($ran);
        $this->assertGreaterThanOrEqual(0.19, microtime(true) - $start);
        $this->assertTrue($held->isHeld());
    }

    public function testSynchronizedSerializesForkedWorkers(): void
    {
        $counter = "{$this->key}:n";
        $this->oracle()->set($counter, '0');
        Processes::all(6, function () use ($counter): void {
            $lock = new \RedisLock($this->dsn);
            $data = new \Redis();
            $parts = parse_url($this->dsn);
            $data->connect($parts['host'], $parts['port']);
            for ($i = 0; $i < 25; $i++) {
                $lock->synchronized($this->key, function () use ($data, $counter) {
                    $n = (int) $data->get($counter);
                    usleep(200);
                    $data->set($counter, (string) ($n + 1));
                });
            }
        });
        $this->assertSame('150', $this->oracle()->get($counter));
    }

    public function testExitInsideTheCallbackStillReleases(): void
    {
        $code = '<?php
            $lock = new RedisLock(' . var_export($this->dsn, true) . ');
            $lock->synchronized(' . var_export($this->key, true) . ', function () { echo "in\n"; exit(0); }, 60);';
        [$exit, $out] = Processes::php($code);
        $this->assertSame(0, $exit);
        $this->assertSame("in\n", $out);
        $this->assertFalse($this->lock()->isLocked($this->key));
    }

    public function testAFatalErrorInsideTheCallbackStillReleases(): void
    {
        $code = '<?php
            $lock = new RedisLock(' . var_export($this->dsn, true) . ');
            $lock->synchronized(' . var_export($this->key, true) . ', function () {
                echo "in\n";
                ini_set("memory_limit", "32M");
                $a = [];
                while (true) { $a[] = str_repeat("x", 1 << 20); }
            }, 60);';
        [$exit, $out, $err] = Processes::php($code, ['display_errors' => 'stderr']);
        $this->assertSame(255, $exit);
        $this->assertStringContainsString('Allowed memory size', $err);
        $this->assertFalse($this->lock()->isLocked($this->key));
    }
}
