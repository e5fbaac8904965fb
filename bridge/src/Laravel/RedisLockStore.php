<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Laravel;

use Illuminate\Contracts\Cache\LockProvider;
use Illuminate\Contracts\Cache\Store;

/**
 * The cache store of the `redis_lock` driver: locks from the extension, every other cache call
 * passed to another store (the one named by the config's `store`).
 *
 * ```php
 * // config/cache.php
 * 'locks' => ['driver' => 'redis_lock', 'dsn' => env('REDIS_LOCK_DSN', 'redis://127.0.0.1:6379'),
 *             'options' => ['prefix' => 'locks:'], 'store' => 'redis'],
 * // then
 * Cache::store('locks')->lock('invoice:42', 10)->block(5, fn () => ...);
 * ```
 */
class RedisLockStore implements Store, LockProvider
{
    public function __construct(private \RedisLock $lock, private Store $store)
    {
    }

    /** The extension's client the locks use. */
    public function getRedisLock(): \RedisLock
    {
        return $this->lock;
    }

    /** The store ordinary cache calls go to. */
    public function getStore(): Store
    {
        return $this->store;
    }

    /**
     * A lock on `$name` for `$seconds` (0: no expiry), owned by `$owner` (null: a random one).
     *
     * @param string $name
     * @param int $seconds
     * @param string|null $owner
     */
    public function lock($name, $seconds = 0, $owner = null): RedisLockCacheLock
    {
        return new RedisLockCacheLock($this->lock, $name, $seconds, $owner);
    }

    /**
     * The lock `$name` as held by `$owner`, e.g. in the worker that runs a unique job.
     *
     * @param string $name
     * @param string $owner
     */
    public function restoreLock($name, $owner): RedisLockCacheLock
    {
        return $this->lock($name, 0, $owner);
    }

    /**
     * Laravel's `funnel()` on the extension's semaphores: at most `limit()` callbacks named
     * `$name` at once (see {@see RedisLockFunnel}).
     */
    public function funnel(string $name): RedisLockFunnel
    {
        return new RedisLockFunnel($this->lock, $name);
    }

    public function get($key)
    {
        return $this->store->get($key);
    }

    public function many(array $keys)
    {
        return $this->store->many($keys);
    }

    public function put($key, $value, $seconds)
    {
        return $this->store->put($key, $value, $seconds);
    }

    public function putMany(array $values, $seconds)
    {
        return $this->store->putMany($values, $seconds);
    }

    public function increment($key, $value = 1)
    {
        return $this->store->increment($key, $value);
    }

    public function decrement($key, $value = 1)
    {
        return $this->store->decrement($key, $value);
    }

    /**
     * Stores `$value` only if `$key` is absent: the named store's own `add()` when it has one
     * (atomic on Laravel's redis, file, database and memcached stores), else a get then a put.
     * Laravel 8-10's scheduler (`onOneServer`, `withoutOverlapping`) relies on it.
     *
     * @param string $key
     * @param mixed $value
     * @param int $seconds
     */
    public function add($key, $value, $seconds)
    {
        if (method_exists($this->store, 'add')) {
            return $this->store->add($key, $value, $seconds);
        }
        return $this->store->get($key) === null && $this->store->put($key, $value, $seconds);
    }

    public function forever($key, $value)
    {
        return $this->store->forever($key, $value);
    }

    /**
     * Laravel 13's `touch()`: a new TTL for an item, passed on when the store has it.
     *
     * @param string $key
     * @param int $seconds
     */
    public function touch($key, $seconds)
    {
        if (method_exists($this->store, 'touch')) {
            return $this->store->touch($key, $seconds);
        }
        $value = $this->store->get($key);
        return $value !== null && $this->store->put($key, $value, $seconds);
    }

    public function forget($key)
    {
        return $this->store->forget($key);
    }

    public function flush()
    {
        return $this->store->flush();
    }

    public function getPrefix()
    {
        return $this->store->getPrefix();
    }

    /**
     * Tagged cache items, when the named store supports tags (redis, memcached, array): the
     * tagged cache is that store's.
     *
     * @param array<int, string>|string $names
     * @throws \BadMethodCallException when the named store does not support tags
     */
    public function tags($names)
    {
        if (!method_exists($this->store, 'tags')) {
            throw new \BadMethodCallException('This cache store does not support tagging.');
        }
        return $this->store->tags(is_array($names) ? $names : func_get_args());
    }

    /**
     * Other methods of the store (tags, connection, ...) are passed on.
     *
     * @param array<int, mixed> $arguments
     */
    public function __call(string $method, array $arguments): mixed
    {
        return $this->store->{$method}(...$arguments);
    }
}
