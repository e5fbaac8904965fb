<?php

/**
 * Several locks held together by one token: returned by {@see RedisLock::lockMany()}. It cannot
 * be created with `new`, cloned or serialized.
 *
 * Each key is an ordinary exclusive lock with its own fencing token: `lock()` on one of the
 * keys waits for it as for any holder. The keys are released when you call `release()`, when
 * the object is destroyed, or at the end of the request (also after an uncaught exception, a
 * fatal error or `exit()`), but never by a `pcntl_fork()` child of the process that took them.
 * Taken without a TTL, every key is renewed by the watchdog until then.
 */
final class RedisLockMultiLease
{
    /** Multi-leases come from {@see RedisLock::lockMany()}. */
    private function __construct() {}

    /**
     * The keys, as given to `lockMany()` (without the `prefix` option), in that order.
     *
     * @return list<string>
     */
    public function keys(): array {}

    /**
     * Each key's fencing token, in the order the keys were given: strictly greater than that
     * of every earlier acquisition of the same key (see {@see RedisLockLease::fence()}). Keys
     * that look like integers are integer keys of the array, as in any PHP array.
     *
     * @return array<string|int, int> key => fence
     */
    public function fences(): array {}

    /**
     * The token every key is held with (a UUID). Whoever has it can release the keys.
     */
    public function token(): string {}

    /**
     * Sets every key's TTL to `$ttl` seconds if this lease still holds it (owner-checked).
     * Never extends someone else's lock.
     *
     * @param float $ttl seconds from now, kept to the millisecond
     * @return bool true only if every key was still held; false if one was lost (the others
     *         are extended all the same) or the lease was released
     * @throws RedisLockLostException in strict mode, when a key was lost
     * @throws ValueError for a ttl out of range
     * @throws RedisLockException when Redis cannot be asked
     */
    public function extend(float $ttl): bool {}

    /**
     * Whether this lease still holds every key (asks Redis).
     *
     * @throws RedisLockException when Redis cannot be asked
     */
    public function isHeld(): bool {}

    /**
     * Releases every key this lease still holds (in one pipeline per Redis node); each key's
     * next waiter, if any, gets it at once.
     *
     * @return bool true if every key was still held and is now released; false if one had
     *         been lost (the others are released all the same) or the lease was already
     *         released
     * @throws RedisLockLostException in strict mode, when a key had been lost
     * @throws RedisLockException when Redis cannot be reached
     */
    public function release(): bool {}

    /**
     * What `var_dump()` shows: each key's fence, the token's first 8 characters, whether the
     * watchdog renews it, and its status (`held`, `released`, `lost`, `abandoned`, or
     * `partly released`).
     *
     * @return array{fences: array<string|int, int>, token: string, watchdog: bool, status: string}
     */
    public function __debugInfo(): array {}
}
