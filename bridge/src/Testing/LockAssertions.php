<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Testing;

use PHPUnit\Framework\Assert;

/**
 * PHPUnit assertions about locks, for test cases (`use LockAssertions;`). They work on every
 * backend: a real server, or `memory://` in unit tests.
 */
trait LockAssertions
{
    /** Someone holds the lock `$key`. */
    public static function assertLocked(\RedisLock $lock, string $key, string $message = ''): void
    {
        Assert::assertTrue($lock->isLocked($key), $message !== '' ? $message : "the lock \"$key\" is held");
    }

    /** Nobody holds the lock `$key`. */
    public static function assertNotLocked(\RedisLock $lock, string $key, string $message = ''): void
    {
        Assert::assertFalse($lock->isLocked($key), $message !== '' ? $message : "the lock \"$key\" is free");
    }

    /** `$lease` still holds its lock (asks the server). */
    public static function assertHeldBy(\RedisLockLease $lease, string $message = ''): void
    {
        Assert::assertTrue($lease->isHeld(), $message !== '' ? $message : "the lease on \"{$lease->key()}\" holds its lock");
    }

    /** `$lease` no longer holds its lock (released, expired or taken over). */
    public static function assertNotHeldBy(\RedisLockLease $lease, string $message = ''): void
    {
        Assert::assertFalse($lease->isHeld(), $message !== '' ? $message : "the lease on \"{$lease->key()}\" no longer holds its lock");
    }

    /** The lock `$key` has `$seconds` left, within `$delta`. */
    public static function assertLockTtl(\RedisLock $lock, string $key, float $seconds, float $delta = 0.1, string $message = ''): void
    {
        $ttl = $lock->ttl($key);
        Assert::assertNotNull($ttl, $message !== '' ? $message : "the lock \"$key\" is held");
        Assert::assertEqualsWithDelta($seconds, $ttl, $delta, $message !== '' ? $message : "the TTL of \"$key\"");
    }

    /** `$later`'s fence is above `$earlier`'s: a storage that checks fences accepts its writes and refuses the other's. */
    public static function assertFencedAfter(\RedisLockLease $earlier, \RedisLockLease $later, string $message = ''): void
    {
        Assert::assertGreaterThan($earlier->fence(), $later->fence(), $message !== '' ? $message : 'the later lease has the higher fence');
    }
}
