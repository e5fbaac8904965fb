<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/**
 * The semantics of `\RedisLock` and `\RedisLockLease`, written once and run against every
 * backend: a real redis-server (RedisContractTest) and `memory://` (MemoryContractTest). A
 * divergence between the two fails `make test`.
 *
 * A backend says how to build a lock and how to let time pass (on Redis: sleep; in memory:
 * move the space's clock, which is what unit tests of an app do).
 */
abstract class LockContract extends TestCase
{
    protected string $key;

    /** The DSN of the backend under test. */
    abstract protected function dsn(): string;

    /** Lets `$seconds` pass for the backend's clock. */
    abstract protected function pass(float $seconds): void;

    protected function setUp(): void
    {
        $this->key = 'contract:' . $this->getName(false) . ':' . bin2hex(random_bytes(4));
    }

    protected function lock(array $options = []): \RedisLock
    {
        return new \RedisLock($this->dsn(), $options);
    }

    public function testReadersHoldTogetherAndExcludeWriters(): void
    {
        $l = $this->lock();
        $a = $l->lockShared($this->key, 10);
        $b = $this->lock()->lockShared($this->key, 10);
        $this->assertNotNull($a);
        $this->assertNotNull($b, 'readers hold together');
        $this->assertTrue($a->isShared());
        $this->assertSame(0, $a->fence(), 'a share has no fence');
        $this->assertNull($l->lock($this->key, 10), 'no writer while readers hold');
        $this->assertFalse($l->acquire($this->key, 'doc', 10), 'nor acquire()');
        $this->assertTrue($l->isLocked($this->key));
        $this->assertFalse($a->promote(), 'another reader holds');
        $this->assertTrue($b->release());
        $this->assertTrue($a->promote(), 'the only reader promotes');
        $this->assertFalse($a->isShared());
        $this->assertGreaterThan(0, $a->fence());
        $this->assertNull($this->lock()->lockShared($this->key, 10), 'no reader while a writer holds');
        $this->assertTrue($a->demote());
        $this->assertTrue($a->isShared());
        $this->assertNotNull($c = $this->lock()->lockShared($this->key, 10), 'readers again');
        $this->assertTrue($a->release());
        $this->assertTrue($c->release());
        $this->assertFalse($l->isLocked($this->key));
    }

    public function testEachShareExpiresOnItsOwn(): void
    {
        $l = $this->lock();
        $short = $l->lockShared($this->key, 0.5);
        $long = $l->lockShared($this->key, 2);
        $this->assertEqualsWithDelta(2.0, $l->ttl($this->key), 0.05, 'the key lives as long as the longest share');
        $this->pass(0.6);
        $this->assertFalse($short->isHeld());
        $this->assertTrue($long->isHeld());
        $this->assertNull($l->lock($this->key, 10), 'the long share still holds');
        $this->pass(1.5);
        $this->assertFalse($long->isHeld());
        $this->assertFalse($l->isLocked($this->key));
        $writer = $l->lock($this->key, 10);
        $this->assertNotNull($writer, 'free once every share expired');
        $this->assertFalse($short->release());
        $this->assertTrue($writer->release());
    }

    public function testASharedLeaseWithATokenIsRestoredAsAShare(): void
    {
        $l = $this->lock();
        $share = $l->lockShared($this->key, 10, token: 'reader-1');
        $this->assertSame('reader-1', $share->token());
        $share->detach();
        $restored = $this->lock()->restore($this->key, 'reader-1');
        $this->assertTrue($restored->isShared());
        $this->assertSame(0, $restored->fence());
        $this->assertNotNull($other = $l->lockShared($this->key, 10), 'still a reader among readers');
        $this->assertTrue($other->release());
        $this->assertTrue($restored->release());
        $this->expectException(\RedisLockLostException::class);
        $l->restore($this->key, 'reader-1');
    }

    public function testAcquireAndReleaseAreOwnerChecked(): void
    {
        $l = $this->lock();
        $this->assertTrue($l->acquire($this->key, 'a', 10));
        $this->assertFalse($l->acquire($this->key, 'b', 10), 'held by a');
        $this->assertFalse($l->release($this->key, 'b'), 'a stranger cannot release');
        $this->assertTrue($l->isLocked($this->key));
        $this->assertTrue($l->release($this->key, 'a'));
        $this->assertFalse($l->release($this->key, 'a'), 'already released');
        $this->assertFalse($l->isLocked($this->key));
        $this->assertNull($l->ttl($this->key));
    }

    public function testAcquireAgainWithTheSameValueResetsTheTtl(): void
    {
        $l = $this->lock();
        $this->assertTrue($l->acquire($this->key, 'a', 2));
        $this->pass(1.5);
        $this->assertTrue($l->acquire($this->key, 'a', 2));
        $this->assertGreaterThan(1.9, $l->ttl($this->key));
        $this->assertFalse($l->acquire($this->key, 'b', 2));
        $this->assertGreaterThan(1.9, $l->ttl($this->key), "a stranger's attempt leaves the TTL alone");
    }

    public function testALockExpiresAfterItsTtl(): void
    {
        $l = $this->lock();
        $this->assertTrue($l->acquire($this->key, 'a', 0.5));
        $this->assertEqualsWithDelta(0.5, $l->ttl($this->key), 0.05);
        $this->pass(0.6);
        $this->assertFalse($l->isLocked($this->key));
        $this->assertTrue($l->acquire($this->key, 'b', 1), 'free after the TTL');
        $this->assertFalse($l->release($this->key, 'a'), 'the old owner cannot release the new lock');
    }

    public function testRetryAcquireWaitsForTheHolderToExpire(): void
    {
        $l = $this->lock();
        $this->assertTrue($l->acquire($this->key, 'a', 0.2));
        $this->assertTrue($l->retryAcquire($this->key, 'b', 1, 10, 0.05));
        $this->assertFalse($l->retryAcquire($this->key, 'c', 1, 2, 0.05), 'b holds it for 1 s');
    }

    public function testFencesStrictlyIncreaseAcrossEveryWayOfTakingTheLock(): void
    {
        $l = $this->lock();
        $fences = [];
        for ($i = 0; $i < 5; $i++) {
            $lease = $l->lock($this->key, 10);
            $fences[] = $lease->fence();
            $lease->release();
        }
        $lease = $l->lock($this->key, 0.2);
        $fences[] = $lease->fence();
        $this->pass(0.3); // expired, not released
        $fences[] = $l->lock($this->key, 10)->fence();
        $this->assertTrue($l->acquire("{$this->key}:doc", 'v', 10));
        $restored = $l->restore("{$this->key}:doc", 'v');
        $this->assertGreaterThan(0, $restored->fence(), 'a lock taken with acquire() gets a fence when restored');
        for ($i = 1; $i < count($fences); $i++) {
            $this->assertGreaterThan($fences[$i - 1], $fences[$i]);
        }
    }

    public function testALeaseIsLostWhenItExpires(): void
    {
        $l = $this->lock();
        $lease = $l->lock($this->key, 0.5);
        $this->assertTrue($lease->isHeld());
        $this->assertEqualsWithDelta(0.5, $lease->remaining(), 0.05);
        $this->pass(0.6);
        $this->assertFalse($lease->isHeld());
        $this->assertSame(0.0, $lease->remaining());
        $this->assertFalse($lease->extend(10), 'an expired lease cannot be extended');
        $other = $l->lock($this->key, 10);
        $this->assertNotNull($other);
        $this->assertFalse($lease->release(), 'nor released');
        $this->assertTrue($other->isHeld(), "the new owner's lock is untouched");
        $this->assertSame('lost', $lease->__debugInfo()['status']);
    }

    public function testStrictModeThrowsOnALostLease(): void
    {
        $lease = $this->lock(['strict' => true])->lock($this->key, 0.2);
        $this->pass(0.3);
        $this->expectException(\RedisLockLostException::class);
        $lease->release();
    }

    public function testExtendIsOwnerChecked(): void
    {
        $l = $this->lock();
        $lease = $l->lock($this->key, 1);
        $this->assertTrue($lease->extend(5));
        $this->assertEqualsWithDelta(5.0, $l->ttl($this->key), 0.05);
        $this->assertTrue($l->forceRelease($this->key));
        $this->assertFalse($lease->extend(5));
        $this->assertFalse($l->isLocked($this->key), 'a lost lease never extends somebody else\'s lock');
    }

    public function testAWaitEndsWhenTheHolderExpires(): void
    {
        $l = $this->lock();
        $holder = $l->lock($this->key, 0.3);
        $t = microtime(true);
        $waiter = $l->lock($this->key, 5, 3.0);
        $this->assertNotNull($waiter);
        $this->assertLessThan(1.5, microtime(true) - $t, 'woken at the TTL, not at the deadline');
        $this->assertGreaterThan($holder->fence(), $waiter->fence());
        $this->assertFalse($holder->isHeld());
    }

    public function testAWaitOnAWatchdogLeaseEndsAtItsDeadline(): void
    {
        $l = $this->lock();
        $holder = $l->lock($this->key);
        $t = microtime(true);
        $this->assertNull($l->lock($this->key, 5, 0.3));
        $elapsed = microtime(true) - $t;
        $this->assertGreaterThanOrEqual(0.29, $elapsed);
        $this->assertLessThan(1.0, $elapsed);
        $this->assertTrue($holder->isHeld());
    }

    public function testTheWatchdogKeepsALeaseAlive(): void
    {
        $l = $this->lock(['leaseTtl' => 0.6]);
        $lease = $l->lock($this->key);
        usleep(1_500_000); // real time: the watchdog renews on the real clock
        $this->assertTrue($lease->isHeld());
        $this->assertGreaterThan(0.2, $lease->remaining());
        $this->assertTrue($lease->release());
        $this->assertFalse($l->isLocked($this->key));
    }

    public function testSynchronizedReleasesInEveryCase(): void
    {
        $l = $this->lock();
        $this->assertSame(42, $l->synchronized($this->key, fn (\RedisLockLease $lease) => $lease->isHeld() ? 42 : 0));
        $this->assertFalse($l->isLocked($this->key));
        try {
            $l->synchronized($this->key, function () {
                throw new \DomainException('boom');
            });
            $this->fail('the callback threw');
        } catch (\DomainException $e) {
            $this->assertSame('boom', $e->getMessage());
        }
        $this->assertFalse($l->isLocked($this->key));
        $holder = $l->lock($this->key, 10);
        $this->expectException(\RedisLockConflictException::class);
        $l->synchronized($this->key, fn () => 1, wait: 0.1);
    }

    public function testDetachAndRestoreHandALeaseOver(): void
    {
        $l = $this->lock();
        $lease = $l->lock($this->key, 10);
        $fence = $lease->fence();
        $token = $lease->detach();
        unset($lease); // detached: destroying it releases nothing
        $this->assertTrue($l->isLocked($this->key));
        $restored = $this->lock()->restore($this->key, $token);
        $this->assertSame($fence, $restored->fence());
        $this->assertSame($token, $restored->token());
        $this->assertTrue($restored->release());
        try {
            $l->restore($this->key, $token);
            $this->fail('restore of a released lease');
        } catch (\RedisLockLostException) {
        }
        $this->assertFalse($l->isLocked($this->key));
    }

    public function testADestroyedLeaseIsReleased(): void
    {
        $l = $this->lock();
        $lease = $l->lock($this->key, 60);
        $this->assertTrue($l->isLocked($this->key));
        unset($lease);
        $this->assertFalse($l->isLocked($this->key));
    }

    public function testForceReleaseDeletesWhoeverHoldsIt(): void
    {
        $l = $this->lock();
        $this->assertFalse($l->forceRelease($this->key));
        $lease = $l->lock($this->key, 60);
        $this->assertTrue($l->forceRelease($this->key));
        $this->assertFalse($lease->isHeld());
        $this->assertNotNull($l->lock($this->key, 1));
    }

    public function testNamesAreBinarySafeAndPrefixesSeparateThem(): void
    {
        $key = "{$this->key}\0{}:fence\xff";
        $a = $this->lock(['prefix' => 'a:']);
        $b = $this->lock(['prefix' => 'b:']);
        $lease = $a->lock($key, 10);
        $this->assertSame($key, $lease->key());
        $this->assertTrue($a->isLocked($key));
        $this->assertFalse($b->isLocked($key));
        $this->assertNotNull($b->lock($key, 10));
        $this->assertNotNull($a->lock("{{$key}}", 10), 'a name and its braced form are different locks');
    }

    public function testReservedAndEmptyNamesAreRefused(): void
    {
        $l = $this->lock();
        foreach (['', '!rl{AAAA}fences', '!rl'] as $name) {
            try {
                $l->lock($name, 1);
                $this->fail('accepted ' . json_encode($name));
            } catch (\ValueError) {
                $this->addToAssertionCount(1);
            }
        }
    }
}
