<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Laravel;

use Illuminate\Contracts\Redis\LimiterTimeoutException;

/**
 * Laravel's `funnel()` (`Redis::funnel($name)->limit(3)->releaseAfter(60)->block(10)->then(...)`,
 * Laravel 8's `ConcurrencyLimiterBuilder`), on the extension's semaphores: at most `limit()`
 * callbacks at once across processes, each holding a permit of {@see \RedisLock::permit()} that
 * expires `releaseAfter()` seconds after it was taken unless released (a crashed worker frees its
 * slot then), waiters served in arrival order without polling.
 *
 * ```php
 * Cache::store('locks')->funnel('pdf-renderer')->limit(3)->releaseAfter(60)->block(10)
 *     ->then(fn () => render(), fn () => report('busy'));
 * ```
 *
 * As Laravel's: `then()` returns the callback's value and releases the slot afterwards, also when
 * the callback throws; when no slot came within `block()` seconds it calls `$failure($e)` with a
 * {@see LimiterTimeoutException} and returns its value, or throws that exception. Differences:
 * waits are FIFO and event-driven (Laravel polls every 250 ms); the callback is also given the
 * permit ({@see \RedisLockLease}: `extend()` it for long work); funnel names are semaphore names,
 * apart from lock names and from Laravel's own funnels (which use other keys), and one name must
 * keep one `limit()` while slots are held (a `RedisLockConflictException` otherwise).
 */
class RedisLockFunnel
{
    private int $maxLocks = 1;
    private float $releaseAfter = 60.0;
    private float $timeout = 3.0;

    public function __construct(private \RedisLock $lock, private string $name)
    {
    }

    /** How many callbacks may run at once (Laravel's default: 1). */
    public function limit(int $maxLocks): static
    {
        $this->maxLocks = $maxLocks;
        return $this;
    }

    /**
     * Seconds (or an expiry as Laravel accepts it: a `DateTimeInterface` or `DateInterval`) after
     * which a slot not released frees itself (Laravel's default: 60).
     */
    public function releaseAfter(int|float|\DateTimeInterface|\DateInterval $releaseAfter): static
    {
        if ($releaseAfter instanceof \DateInterval) {
            $releaseAfter = (new \DateTimeImmutable())->add($releaseAfter);
        }
        if ($releaseAfter instanceof \DateTimeInterface) {
            $releaseAfter = max(0.001, (float) $releaseAfter->format('U.u') - microtime(true));
        }
        $this->releaseAfter = (float) $releaseAfter;
        return $this;
    }

    /** Seconds to wait for a slot (Laravel's default: 3). */
    public function block(int|float $timeout): static
    {
        $this->timeout = (float) $timeout;
        return $this;
    }

    /**
     * Runs `$callback($permit)` in a slot and releases it afterwards.
     *
     * @throws LimiterTimeoutException when no slot came in time and no `$failure` is given
     */
    public function then(callable $callback, ?callable $failure = null): mixed
    {
        $permit = $this->lock->permit($this->name, $this->maxLocks, $this->releaseAfter, $this->timeout);
        if ($permit === null) {
            $e = new LimiterTimeoutException();
            if ($failure !== null) {
                return $failure($e);
            }
            throw $e;
        }
        try {
            return $callback($permit);
        } finally {
            $permit->release();
        }
    }
}
