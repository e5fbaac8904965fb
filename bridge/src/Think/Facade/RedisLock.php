<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Think\Facade;

use think\Facade;

/**
 * The configured `\RedisLock` as a ThinkPHP facade.
 *
 * ```php
 * use RedisLock\Bridge\Think\Facade\RedisLock;
 * $lease = RedisLock::lock('order:42', 10, wait: 5);
 * ```
 *
 * @method static bool acquire(string $key, string $value, float $expireTime)
 * @method static bool release(string $key, string $value)
 * @method static \RedisLockLease|null lock(string $key, ?float $ttl = null, float $wait = 0.0, ?string $token = null)
 * @method static mixed synchronized(string $key, callable $callback, ?float $ttl = null, float $wait = 10.0)
 * @method static \RedisLockLease restore(string $key, string $token)
 * @method static bool isLocked(string $key)
 * @method static float|null ttl(string $key)
 * @method static bool forceRelease(string $key)
 */
class RedisLock extends Facade
{
    protected static function getFacadeClass()
    {
        return 'redis_lock';
    }
}
