<?php
// No declare(strict_types=1) here on purpose: calls made from this file use PHP's weak
// (coercive) typing mode, the default for PHP code, so tests can check both modes.

namespace RedisLockTests\WeakMode;

function acquire(\RedisLock $lock, mixed $key, mixed $value, mixed $expireTime): bool
{
    return $lock->acquire($key, $value, $expireTime);
}

function retryAcquire(\RedisLock $lock, mixed $key, mixed $value, mixed $expireTime, mixed $maxRetries, mixed $retryInterval): bool
{
    return $lock->retryAcquire($key, $value, $expireTime, $maxRetries, $retryInterval);
}

function release(\RedisLock $lock, mixed $key, mixed $value): bool
{
    return $lock->release($key, $value);
}

function lock(\RedisLock $lock, mixed $key, mixed $ttl, mixed $wait, mixed $token): ?\RedisLockLease
{
    return $lock->lock($key, $ttl, $wait, $token);
}
