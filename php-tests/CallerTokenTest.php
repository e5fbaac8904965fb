<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * `lock(..., token: $owner)`: a lease held with a token the caller chose (Laravel's lock owner, a
 * Symfony key's state), so that another process can restore it without being told a UUID.
 */
final class CallerTokenTest extends LockTestCase
{
    public function testALeaseIsHeldWithTheCallersTokenByteForByte(): void
    {
        $lock = $this->lock(['prefix' => 'app:']);
        $token = "owner:\0\xff:" . bin2hex(random_bytes(4));
        $lease = $lock->lock($this->key, 10, token: $token);
        $this->assertInstanceOf(\RedisLockLease::class, $lease);
        $this->assertSame($token, $lease->token());
        $this->assertSame($token, $this->oracle()->get('app:' . $this->key), 'Redis holds the exact bytes');
        $this->assertGreaterThan(0, $lease->fence());
        $this->assertFalse($lock->release($this->key, 'someone else'), "another value cannot release it");
        $this->assertTrue($lease->release());
        $this->assertFalse($lock->isLocked($this->key));
    }

    public function testAnotherTokenIsRefusedAndTheHoldersLockIsUntouched(): void
    {
        $lock = $this->lock();
        $held = $lock->lock($this->key, 10, token: 'first');
        $this->assertNull($lock->lock($this->key, 30, token: 'second'));
        $this->assertSame('first', $this->oracle()->get($this->key));
        $this->assertLessThanOrEqual(10_000, $this->oracle()->pttl($this->key));
        $this->assertTrue($held->release());
    }

    public function testLockingAgainWithTheHoldersTokenKeepsTheLockAndResetsItsTtl(): void
    {
        $lock = $this->lock();
        $first = $lock->lock($this->key, 2, token: 'mine');
        $first->detach();
        $again = $lock->lock($this->key, 30, token: 'mine');
        $this->assertNotNull($again, 'as acquire() does with its value: retrying after a lost reply tells the truth');
        $this->assertSame($first->fence(), $again->fence(), 'the same holding, not a new one');
        $this->assertGreaterThan(29_000, $this->oracle()->pttl($this->key));
        $this->assertTrue($again->release());
    }

    public function testAnotherProcessRestoresTheLeaseByTheTokenItAlreadyKnows(): void
    {
        $lock = $this->lock();
        $owner = 'job-' . bin2hex(random_bytes(8));
        $lease = $lock->lock($this->key, 30, token: $owner);
        $fence = $lease->fence();
        $lease->detach();
        $result = Processes::fork(function () use ($owner): array {
            $restored = (new \RedisLock($this->dsn))->restore($this->key, $owner);
            return [$restored->fence(), $restored->release()];
        })->wait();
        $this->assertSame([$fence, true], $result);
        $this->assertFalse($lock->isLocked($this->key));
    }

    public function testAWaiterWithItsOwnTokenIsHandedTheLockInLine(): void
    {
        $lock = $this->lock();
        $held = $lock->lock($this->key, 10);
        $waiter = Processes::fork(function (): array {
            $lease = (new \RedisLock($this->dsn))->lock($this->key, 10, 5, 'the-waiter');
            $lease?->detach();
            return [microtime(true), $lease?->token()];
        });
        usleep(300_000);
        $releasedAt = microtime(true);
        $this->assertTrue($held->release());
        [$gotAt, $token] = $waiter->wait();
        $this->assertSame('the-waiter', $token);
        $this->assertLessThan(0.05, $gotAt - $releasedAt, 'handed over by the release, not by a poll');
        $this->assertSame('the-waiter', $this->oracle()->get($this->key));
        $this->assertGreaterThan(5_000, $this->oracle()->pttl($this->key), 'claimed with its own TTL');
        $this->assertTrue($lock->restore($this->key, 'the-waiter')->release());
    }

    public function testAWatchdogLeaseAcceptsACallersToken(): void
    {
        $lock = $this->lock(['leaseTtl' => 1]);
        $lease = $lock->lock($this->key, token: 'watched');
        usleep(1_500_000);
        $this->assertTrue($lease->isHeld(), 'renewed past its 1 s lease time');
        $this->assertSame('watched', $this->oracle()->get($this->key));
        $this->assertTrue($lease->release());
    }

    public function testAnEmptyTokenIsAValueErrorAndNullMeansAFreshUuid(): void
    {
        $lock = $this->lock();
        try {
            $lock->lock($this->key, 1, token: '');
            $this->fail('an empty token was accepted');
        } catch (\ValueError $e) {
            $this->assertStringContainsString('token must not be empty', $e->getMessage());
        }
        $this->assertFalse($lock->isLocked($this->key), 'nothing was taken');
        $lease = $lock->lock($this->key, 1, 0, null);
        $this->assertMatchesRegularExpression('/^[0-9a-f-]{36}$/', $lease->token());
        $lease->release();
    }

    public function testATokenIsCoercedAsPhpDoesInWeakModeAndRefusedInStrictMode(): void
    {
        $lock = $this->lock();
        $lease = WeakMode\lock($lock, $this->key, 5, 0, 12345);
        $this->assertSame('12345', $lease->token());
        $lease->release();
        $this->expectException(\TypeError::class);
        $this->expectExceptionMessage('Argument #4 ($token) must be of type ?string, int given');
        $lock->lock($this->key, 5, 0, 12345);
    }
}
