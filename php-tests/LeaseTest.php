<?php

declare(strict_types=1);

namespace RedisLockTests;

/** The lease API: fencing, extend, loss, restore, queries, and what a fork child may not do. */
final class LeaseTest extends LockTestCase
{
    public function testALeaseCarriesKeyTokenAndAFenceThatAlwaysGrows(): void
    {
        $lock = $this->lock(['prefix' => 'app:']);
        $fences = [];
        for ($i = 0; $i < 3; $i++) {
            $lease = $lock->lock($this->key, 10);
            $this->assertInstanceOf(\RedisLockLease::class, $lease);
            $this->assertSame($this->key, $lease->key());
            $this->assertMatchesRegularExpression('/^[0-9a-f-]{36}$/', $lease->token());
            $this->assertSame($lease->token(), $this->oracle()->get('app:' . $this->key));
            $fences[] = $lease->fence();
            $this->assertTrue($lease->release());
        }
        $this->assertGreaterThan($fences[0], $fences[1]);
        $this->assertGreaterThan($fences[1], $fences[2]);
    }

    public function testFencesGrowAcrossProcesses(): void
    {
        $fences = Processes::all(6, function (): array {
            $lock = new \RedisLock($this->dsn);
            $mine = [];
            for ($i = 0; $i < 20; $i++) {
                $lease = $lock->lock($this->key, 5, 10) ?? throw new \RuntimeException('no turn');
                $mine[] = $lease->fence();
                $lease->release();
            }
            return $mine;
        });
        $all = array_merge(...$fences);
        $this->assertCount(120, array_unique($all), 'no fence handed out twice');
        foreach ($fences as $mine) {
            $sorted = $mine;
            sort($sorted);
            $this->assertSame($sorted, $mine, 'each process saw its fences increase');
        }
    }

    public function testABusyLockGivesNullWithoutWaiting(): void
    {
        $lock = $this->lock();
        $held = $lock->lock($this->key, 10);
        $start = microtime(true);
        $this->assertNull($lock->lock($this->key, 10));
        $this->assertNull($lock->lock($this->key));
        $this->assertLessThan(0.1, microtime(true) - $start);
        $this->assertTrue($held->isHeld());
    }

    public function testWaitingEndsAtTheDeadlineWithNull(): void
    {
        $lock = $this->lock();
        $held = $lock->lock($this->key, 10);
        $start = microtime(true);
        $this->assertNull($lock->lock($this->key, 10, 0.3));
        $elapsed = microtime(true) - $start;
        $this->assertGreaterThanOrEqual(0.29, $elapsed);
        $this->assertLessThan(0.6, $elapsed);
        $left = preg_grep('/\}(queue|alive|wake):/', $this->engineKeysOf($this->key));
        $this->assertSame([], $left, 'the waiter left the queue');
        $this->assertTrue($held->release());
    }

    public function testAWaiterIsHandedTheLockTheMomentItIsReleased(): void
    {
        $lock = $this->lock();
        $held = $lock->lock($this->key, 10);
        $waiter = Processes::fork(function (): array {
            $start = microtime(true);
            $lease = (new \RedisLock($this->dsn))->lock($this->key, 10, 5);
            return [microtime(true), microtime(true) - $start, $lease?->fence()];
        });
        usleep(300_000);
        $releasedAt = microtime(true);
        $this->assertTrue($held->release());
        [$gotAt, $waited, $fence] = $waiter->wait();
        $this->assertGreaterThan($held->fence(), $fence);
        $this->assertGreaterThan(0.25, $waited);
        $this->assertLessThan(0.05, $gotAt - $releasedAt, 'woken by the release, not by a poll');
    }

    public function testExtendIsOwnerCheckedAndReportsLoss(): void
    {
        $lock = $this->lock();
        $lease = $lock->lock($this->key, 1);
        $this->assertTrue($lease->extend(30));
        $this->assertGreaterThan(29.0, $lease->remaining());
        $this->assertGreaterThan(29_000, $this->oracle()->pttl($this->key));
        $this->assertTrue($lock->forceRelease($this->key));
        $other = $lock->lock($this->key, 5);
        $this->assertFalse($lease->extend(60), 'lost');
        $this->assertFalse($lease->isHeld());
        $this->assertSame(0.0, $lease->remaining());
        $this->assertFalse($lease->release());
        $this->assertSame($other->token(), $this->oracle()->get($this->key), "the new owner's lock is untouched");
        $this->assertLessThanOrEqual(5_000, $this->oracle()->pttl($this->key));
        $this->assertSame('lost', $this->dumpField($lease, 'status'));
    }

    public function testStrictModeThrowsLostExceptions(): void
    {
        $lock = $this->lock(['strict' => true]);
        $lease = $lock->lock($this->key, 0.1);
        usleep(150_000);
        try {
            $lease->extend(10);
            $this->fail('no exception');
        } catch (\RedisLockLostException $e) {
            $this->assertStringContainsString('was lost', $e->getMessage());
        }
        $this->expectException(\RedisLockLostException::class);
        $lease->release();
    }

    public function testDetachAndRestoreHandALeaseToAnotherProcess(): void
    {
        $lock = $this->lock();
        $lease = $lock->lock($this->key, 30);
        $fence = $lease->fence();
        $token = $lease->detach();
        unset($lease); // detached: destroying it does not release
        $this->assertTrue($lock->isLocked($this->key));
        $result = Processes::fork(function () use ($token): array {
            $restored = (new \RedisLock($this->dsn))->restore($this->key, $token);
            return [$restored->fence(), $restored->remaining() > 25, $restored->release()];
        })->wait();
        $this->assertSame([$fence, true, true], $result);
        $this->assertFalse($lock->isLocked($this->key));
        $this->expectException(\RedisLockLostException::class);
        $lock->restore($this->key, $token);
    }

    public function testABinaryKeyInAnErrorMessageIsEscaped(): void
    {
        // Found by the fuzzer: a NUL byte in a message made the exception impossible to throw.
        try {
            $this->lock()->restore("k\0ey\xff", 'not-the-token');
            $this->fail('no exception');
        } catch (\RedisLockLostException $e) {
            $this->assertStringContainsString('"k\\x00ey\\xff" is not held by this token', $e->getMessage());
        }
    }

    public function testDestroyingALeaseReleasesIt(): void
    {
        $lock = $this->lock();
        $lease = $lock->lock($this->key, 30);
        $this->assertTrue($lock->isLocked($this->key));
        $lease = null;
        $this->assertFalse($lock->isLocked($this->key));
    }

    public function testAForkedChildNeverReleasesItsParentsLeases(): void
    {
        $lock = $this->lock();
        $lease = $lock->lock($this->key, 30);
        $watchdogLease = $lock->lock($this->key . ':wd');
        $status = Processes::fork(function () use (&$lease, &$watchdogLease): bool {
            // The child drops the inherited objects and ends its request normally.
            $lease = null;
            $watchdogLease = null;
            return true;
        })->wait();
        $this->assertTrue($status);
        $this->assertTrue($lease->isHeld(), "the parent's lease survived the child's exit");
        $this->assertTrue($watchdogLease->isHeld());
        $this->assertTrue($lease->release());
        $this->assertTrue($watchdogLease->release());
    }

    public function testQueries(): void
    {
        $lock = $this->lock();
        $this->assertFalse($lock->isLocked($this->key));
        $this->assertNull($lock->ttl($this->key));
        $lease = $lock->lock($this->key, 3);
        $this->assertTrue($lock->isLocked($this->key));
        $this->assertEqualsWithDelta(3.0, $lock->ttl($this->key), 0.2);
        $this->oracle()->set($this->key . ':forever', 'x');
        $this->assertSame(INF, $lock->ttl($this->key . ':forever'));
        $this->assertTrue($lock->forceRelease($this->key));
        $this->assertFalse($lock->forceRelease($this->key));
        $this->assertFalse($lease->isHeld());
    }

    public function testLeasesCannotBeConstructedClonedOrSerialized(): void
    {
        $lease = $this->lock()->lock($this->key, 5);
        foreach ([
            fn () => new \RedisLockLease(),
            fn () => clone $lease,
            fn () => serialize($lease),
        ] as $i => $attempt) {
            try {
                $attempt();
                $this->fail("attempt $i succeeded");
            } catch (\Throwable $e) {
                $this->assertNotInstanceOf(\PHPUnit\Framework\AssertionFailedError::class, $e);
            }
        }
        $this->assertTrue($lease->release());
    }

    public function testLeaseArgumentsAreValidated(): void
    {
        $lock = $this->lock();
        foreach ([
            fn () => $lock->lock('', 1),
            fn () => $lock->lock('k', 0),
            fn () => $lock->lock('k', NAN),
            fn () => $lock->lock('k', 1, -1),
            fn () => $lock->lock('k', 1, INF),
            fn () => $lock->restore('k', ''),
            fn () => $lock->isLocked(''),
        ] as $i => $call) {
            try {
                $call();
                $this->fail("call $i was accepted");
            } catch (\ValueError $e) {
                $this->assertNotSame('', $e->getMessage());
            }
        }
        $lease = $lock->lock($this->key, 5);
        $this->expectException(\ValueError::class);
        $lease->extend(-1);
    }

    private function dumpField(object $o, string $field): mixed
    {
        ob_start();
        var_dump($o);
        $dump = ob_get_clean();
        preg_match('/\["' . $field . '"\]=>\s+string\(\d+\) "([^"]*)"/', $dump, $m);
        return $m[1] ?? null;
    }
}
