<?php

declare(strict_types=1);

namespace RedisLock\Bridge;

/**
 * Locks held by an owner token rather than by a lease object: what the frameworks' locks are.
 *
 * A framework lock lives until it is released or its TTL ends, across requests and processes,
 * so every lease taken here is detached at once (never released at request end or when an
 * object is destroyed), and every later operation restores the lease by its token, acts, and
 * detaches it again, in a `finally`. A release goes through the lease (not the documents'
 * compare-and-delete) so that the next fair waiter is handed the lock at once.
 *
 * @internal shared by the Laravel and Symfony integrations
 */
final class Ownership
{
    /** The longest TTL the extension takes (seconds, about 31.7 years): "no expiry". */
    public const NO_EXPIRY = 1e9;

    private function __construct()
    {
    }

    /**
     * Takes `$key` for `$token` for `$ttl` seconds, waiting up to `$wait` seconds in line (0: one
     * attempt). True if `$token` holds it now (also when it already did: its TTL is reset).
     *
     * @throws \RedisLockException when Redis cannot be asked
     */
    public static function take(\RedisLock $lock, string $key, string $token, float $ttl, float $wait = 0.0): bool
    {
        $lease = $lock->lock($key, $ttl, $wait, $token);
        if ($lease === null) {
            return false;
        }
        $lease->detach();
        return true;
    }

    /**
     * Takes a share (read lock) of `$key` for `$token` for `$ttl` seconds, waiting up to `$wait`
     * seconds in line. If `$token` holds the exclusive lock, it becomes its share (demoted,
     * letting the readers queued behind it in). True if `$token` holds a share now.
     *
     * @throws \RedisLockException when Redis cannot be asked
     */
    public static function takeShared(\RedisLock $lock, string $key, string $token, float $ttl, float $wait = 0.0): bool
    {
        // One round trip when the token holds nothing; a wait first looks whether the token
        // holds the lock itself (it would wait behind itself otherwise).
        if ($wait <= 0.0 && self::shareOnce($lock, $key, $token, $ttl)) {
            return true;
        }
        $held = self::restore($lock, $key, $token);
        if ($held !== null) {
            try {
                if (!$held->isShared() && !$held->demote()) {
                    return false; // lost meanwhile
                }
                return $held->extend($ttl);
            } catch (\RedisLockLostException) {
                return false;
            } finally {
                $held->detach();
            }
        }
        return $wait > 0.0 && self::shareOnce($lock, $key, $token, $ttl, $wait);
    }

    private static function shareOnce(\RedisLock $lock, string $key, string $token, float $ttl, float $wait = 0.0): bool
    {
        $lease = $lock->lockShared($key, $ttl, $wait, $token);
        if ($lease === null) {
            return false;
        }
        $lease->detach();
        return true;
    }

    /**
     * Takes `$key` exclusively for `$token`, which may hold a share of it: then the share is
     * promoted once it is the only reader, waiting up to `$wait` seconds for the others (a
     * promotion that gives up leaves the share held). Else as {@see Ownership::take()}. True if
     * `$token` holds the exclusive lock now, for `$ttl` seconds.
     *
     * @throws \RedisLockException when Redis cannot be asked
     */
    public static function takeExclusive(\RedisLock $lock, string $key, string $token, float $ttl, float $wait = 0.0): bool
    {
        // One round trip when the lock is free or the token's; a wait first looks whether the
        // token holds a share (it would wait behind its own share otherwise).
        if ($wait <= 0.0 && self::take($lock, $key, $token, $ttl)) {
            return true;
        }
        $held = self::restore($lock, $key, $token);
        if ($held === null || !$held->isShared()) {
            $held?->detach();
            return $wait > 0.0 && self::take($lock, $key, $token, $ttl, $wait);
        }
        try {
            return $held->promote($wait) && $held->extend($ttl);
        } catch (\RedisLockLostException) {
            return false;
        } finally {
            $held->detach();
        }
    }

    /**
     * Releases `$key` (the lock or a share of it) if `$token` holds it, handing it to the next
     * waiter at once. False if the token does not hold it (expired, released, taken over).
     *
     * @throws \RedisLockException when Redis cannot be asked, or the outcome is unknown
     */
    public static function release(\RedisLock $lock, string $key, string $token): bool
    {
        $lease = self::restore($lock, $key, $token);
        if ($lease === null) {
            return false;
        }
        try {
            return $lease->release();
        } catch (\RedisLockLostException) {
            return false; // strict mode: it expired between the restore and the release
        } finally {
            // A release that threw leaves the lease to its TTL, not to this request's end.
            $lease->detach();
        }
    }

    /**
     * Sets the TTL of `$key` (the lock or a share of it) to `$ttl` seconds if `$token` holds it.
     * False if it does not.
     *
     * @throws \RedisLockException when Redis cannot be asked
     */
    public static function extend(\RedisLock $lock, string $key, string $token, float $ttl): bool
    {
        $lease = self::restore($lock, $key, $token);
        if ($lease === null) {
            return false;
        }
        try {
            return $lease->extend($ttl);
        } catch (\RedisLockLostException) {
            return false; // strict mode: it expired between the restore and the extend
        } finally {
            $lease->detach();
        }
    }

    /**
     * Whether `$token` holds `$key` (the lock or a share of it) now (asks Redis).
     *
     * @throws \RedisLockException when Redis cannot be asked
     */
    public static function holds(\RedisLock $lock, string $key, string $token): bool
    {
        $lease = self::restore($lock, $key, $token);
        $lease?->detach();
        return $lease !== null;
    }

    /** The lease (the exclusive lock or a share) `$token` holds on `$key`, or null if none. */
    private static function restore(\RedisLock $lock, string $key, string $token): ?\RedisLockLease
    {
        if ($token === '') {
            return null;
        }
        try {
            return $lock->restore($key, $token);
        } catch (\RedisLockLostException) {
            return null;
        } catch (\ValueError $e) {
            // restore() refuses a lock without a TTL: no lease of this library, so not $token's.
            if (str_contains($e->getMessage(), 'has no TTL')) {
                return null;
            }
            throw $e;
        }
    }
}
