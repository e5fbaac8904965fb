<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Laravel;

use Illuminate\Cache\CacheManager;
use Illuminate\Support\ServiceProvider;

/**
 * Registers the `redis_lock` cache driver (auto-discovered through `extra.laravel.providers`).
 *
 * A store config `['driver' => 'redis_lock', 'dsn' => ..., 'options' => [...], 'store' => 'redis']`
 * gives a {@see RedisLockStore}: locks from the extension (`dsn`, `options` as for
 * `new \RedisLock()`), every other cache call to the store named by `store` (default: the
 * default cache store).
 */
class RedisLockServiceProvider extends ServiceProvider
{
    public function register(): void
    {
        // In a booting callback, as Laravel's documentation recommends for Cache::extend: the
        // cache manager may be resolved by then, and the driver is there before any boot().
        $this->booting(function (): void {
            $this->app->make('cache')->extend('redis_lock', function ($app, array $config) {
                /** @var CacheManager $this */
                $lock = new \RedisLock($config['dsn'] ?? 'redis://127.0.0.1:6379', $config['options'] ?? []);
                $name = $config['store'] ?? $app['config']['cache.default'];
                if (($app['config']["cache.stores.$name.driver"] ?? null) === 'redis_lock') {
                    throw new \InvalidArgumentException("a redis_lock cache store passes its cache calls to the store named by its 'store' option, which must not be a redis_lock store itself (\"$name\" is)");
                }
                return $this->repository(new RedisLockStore($lock, $this->store($name)->getStore()), $config);
            });
        });
    }
}
