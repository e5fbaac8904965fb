<?php

// The redis_lock extension's settings for ThinkPHP (published by `php think vendor:publish`).
return [
    // Where Redis listens: redis://[user:password@]host[:port][/database] or unix:///path.sock
    'dsn' => env('REDIS_LOCK_DSN', 'redis://127.0.0.1:6379'),
    // Options of new \RedisLock($dsn, $options): connectTimeout, readTimeout, prefix, database,
    // leaseTtl, maxLifetime, strict (see the extension's stubs/RedisLock.php).
    'options' => [
        'prefix' => env('REDIS_LOCK_PREFIX', ''),
    ],
    // RedisLockMiddleware: one request at a time per lock key.
    'middleware' => [
        // seconds a request waits in line for the lock before it is turned away
        'wait' => 5.0,
        // the lock's TTL in seconds; null: renewed while the request runs (a watchdog lease)
        'ttl' => null,
        // the answer to a request turned away: 423 Locked or 429 Too Many Requests
        'status' => 429,
        // the Retry-After header of that answer, in seconds
        'retry_after' => 1,
        // the lock's name is this prefix + the key given to the middleware (or the path)
        'key_prefix' => 'http:',
    ],
];
