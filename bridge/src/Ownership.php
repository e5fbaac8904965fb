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
     * Releases `$key` if `$token` holds it, handing it to the next waiter at once. False if the
     * token does not hold it (expired, released, taken over).
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
     * Sets the TTL of `$key` to `$ttl` seconds if `$token` holds it. False if it does not.
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
     * Whether `$token` holds `$key` now (asks Redis).
     *
     * @throws \RedisLockException when Redis cannot be asked
     */
    public static function holds(\RedisLock $lock, string $key, string $token): bool
    {
        $lease = self::restore($lock, $key, $token);
        $lease?->detach();
        return $lease !== null;
    }

    /** The lease `$token` holds on `$key`, or null if it holds none. */
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
