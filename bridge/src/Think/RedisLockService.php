<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Think;

use RedisLock\Bridge\Think\Command\ForceReleaseCommand;
use RedisLock\Bridge\Think\Command\ShowCommand;
use think\Service;

/**
 * The ThinkPHP service (listed in `extra.think.services`, so `php think service:discover`
 * writes it into vendor/services.php): the container resolves `\RedisLock::class` and
 * `'redis_lock'` to one `\RedisLock` built from `config/redis_lock.php` (`dsn`, `options`), and
 * the console gains `redis-lock:show` and `redis-lock:release`.
 */
class RedisLockService extends Service
{
    public function register(): void
    {
        $this->app->bind(\RedisLock::class, static function (\think\App $app): \RedisLock {
            $config = $app->config->get('redis_lock', []);
            return new \RedisLock($config['dsn'] ?? 'redis://127.0.0.1:6379', $config['options'] ?? []);
        });
        $this->app->bind('redis_lock', \RedisLock::class);
    }

    public function boot(): void
    {
        $this->commands([ShowCommand::class, ForceReleaseCommand::class]);
    }
}
