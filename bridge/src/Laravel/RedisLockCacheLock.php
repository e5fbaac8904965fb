<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Laravel;

use Illuminate\Cache\Lock;
use Illuminate\Contracts\Cache\LockTimeoutException;
use RedisLock\Bridge\Ownership;

/**
 * A Laravel cache lock (`Cache::lock($name, $seconds, $owner)`) on the redis_lock extension.
 *
 * Laravel's lifetime rules: the lock lives until it is released or its TTL ends (`$seconds = 0`:
 * no expiry, here the extension's longest TTL, about 31.7 years), across requests and processes
 * (a unique job's lock is released by the worker that ran it). It is never released at request
 * end or when this object is destroyed. `block()` waits in the extension's fair line (woken by
 * the release, no 250 ms polling) and throws Laravel's `LockTimeoutException`; `release()`
 * hands the lock to the next waiter at once.
 *
 * Differences from Laravel's Redis lock, both deliberate: `get()` by the owner that already
 * holds the lock returns true and resets its TTL (a retry after a lost reply tells the truth);
 * `getCurrentOwner()` never reveals another owner's token (it is proof of ownership).
 *
 * Failures of Redis are the extension's `RedisLockException`s, never swallowed.
 */
class RedisLockCacheLock extends Lock
{
    /**
     * @param \RedisLock $lock the extension's client (its `prefix` option applies)
     * @param string $name the lock's name
     * @param int|float $seconds the TTL; 0 for no expiry
     * @param string|null $owner the owner token; null for a random one
     */
    public function __construct(protected \RedisLock $lock, $name, $seconds, $owner = null)
    {
        parent::__construct($name, $seconds, $owner);
    }

    /** Takes the lock if it is free (one attempt). */
    public function acquire(): bool
    {
        return Ownership::take($this->lock, (string) $this->name, (string) $this->owner, self::ttl($this->seconds));
    }

    /**
     * Waits up to `$seconds` for the lock in arrival order, then runs `$callback` (releasing
     * afterwards) if one is given.
     *
     * @param int|float $seconds
     * @param callable|null $callback
     * @return mixed true, or what `$callback` returned
     * @throws LockTimeoutException when the lock was still held by someone else after `$seconds`
     */
    public function block($seconds, $callback = null)
    {
        $wait = min(max(0.0, (float) $seconds), Ownership::NO_EXPIRY);
        if (!Ownership::take($this->lock, (string) $this->name, (string) $this->owner, self::ttl($this->seconds), $wait)) {
            throw new LockTimeoutException();
        }
        if (is_callable($callback)) {
            try {
                return $callback();
            } finally {
                $this->release();
            }
        }
        return true;
    }

    /** Releases the lock if this owner holds it; the next waiter gets it at once. */
    public function release(): bool
    {
        return Ownership::release($this->lock, (string) $this->name, (string) $this->owner);
    }

    /** Deletes the lock whoever holds it, and wakes the first waiter. */
    public function forceRelease(): void
    {
        $this->lock->forceRelease((string) $this->name);
    }

    /**
     * Sets the lock's TTL to `$seconds` (default: the lock's own; 0: no expiry) if this owner
     * holds it. Laravel 12+'s `refresh()`, available on every version here.
     *
     * @param int|float|null $seconds
     */
    public function refresh($seconds = null): bool
    {
        return Ownership::extend($this->lock, (string) $this->name, (string) $this->owner, self::ttl($seconds ?? $this->seconds));
    }

    /** Whether anyone holds the lock (Laravel 13's `isLocked()`). */
    public function isLocked(): bool
    {
        return $this->lock->isLocked((string) $this->name);
    }

    /** Whether this lock's owner holds it (asks Redis). */
    public function isOwnedByCurrentProcess(): bool
    {
        return $this->isOwnedBy($this->owner);
    }

    /**
     * Whether `$owner` holds the lock; `null` asks whether nobody does.
     *
     * @param string|null $owner
     */
    public function isOwnedBy($owner): bool
    {
        if ($owner === null) {
            return !$this->isLocked();
        }
        return Ownership::holds($this->lock, (string) $this->name, (string) $owner);
    }

    /**
     * This lock's owner if it holds the lock, else null: another owner's token is proof of
     * ownership and is not read back.
     *
     * @return string|null
     */
    protected function getCurrentOwner()
    {
        return $this->isOwnedByCurrentProcess() ? $this->owner : null;
    }

    /** A Laravel lock time in seconds as the extension's TTL: 0 (or less) is no expiry. */
    private static function ttl(int|float|string|null $seconds): float
    {
        $seconds = (float) $seconds;
        return $seconds > 0 ? min($seconds, Ownership::NO_EXPIRY) : Ownership::NO_EXPIRY;
    }
}
