<?php

/**
 * Test controls of `memory://` spaces: the in-process backend for unit tests that need no
 * Redis server (`new RedisLock('memory://')`, or `memory://NAME` for a separate space).
 *
 * For tests only. These methods reach in-process memory spaces and nothing else: no
 * connection to a Redis server can be affected by them.
 *
 * A memory space has the semantics of a Redis server running this extension's scripts (TTL
 * expiry, owner-checked release and extend, fences strictly increasing, fair waits), in one
 * process: it lives for the process (across the requests of a PHP-FPM worker, like a server)
 * until {@see RedisLockMemory::reset()}. A `pcntl_fork()` child of a process that used
 * `memory://` shares nothing with it: its calls on any memory space throw
 * {@see RedisLockConnectionException} until `reset()` in the child gives it an empty space of
 * its own (objects made before the fork then use it too). Waits really wait: nothing outside the process can
 * release a lock, so a wait ends when the holder's TTL runs out or at its deadline.
 *
 * ```php
 * $lock = new RedisLock('memory://');
 * $lease = $lock->lock('report', 30);
 * RedisLockMemory::advanceClock(31);          // the lease expires without sleeping
 * assert(!$lease->isHeld());
 * RedisLockMemory::reset();                   // empty again, for the next test
 * ```
 */
final class RedisLockMemory
{
    /** Static methods only. */
    private function __construct() {}

    /**
     * Moves the clock of a memory space forward: locks whose TTL runs out by then are gone,
     * as after waiting that long (like `Carbon::setTestNow()` for Laravel's array store). The
     * watchdog still renews on the real clock, so a watchdog lease expires when the clock is
     * moved past its TTL before the next renewal. The clock never moves back.
     *
     * @param float $seconds how far, from 0 to 1e9
     * @param string $space the space's name (`''`: `memory://`)
     * @throws ValueError for a negative or non-finite number of seconds, or an invalid name
     */
    public static function advanceClock(float $seconds, string $space = ''): void {}

    /**
     * Empties a memory space (every lock, fence counter and waiter) and gives the space to
     * this process (so a forked child can start afresh). Objects built on it stay usable. The
     * clock is not set back: fences handed out afterwards are still above every earlier one.
     *
     * @param string $space the space's name (`''`: `memory://`)
     * @throws ValueError for an invalid name
     */
    public static function reset(string $space = ''): void {}
}
