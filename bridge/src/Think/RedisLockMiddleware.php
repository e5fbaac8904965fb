<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Think;

use Closure;
use think\Config;
use think\Request;
use think\Response;

/**
 * Lets one request at a time through per lock key; the others wait in line (fair, woken by the
 * release) up to `redis_lock.middleware.wait` seconds, then get `status` (423 or 429) with a
 * `Retry-After` header.
 *
 * ```php
 * Route::post('order/:id/pay', 'Order/pay')->middleware(RedisLockMiddleware::class, 'pay');
 * ```
 *
 * The key is the middleware's parameter, or the request's path; the lock's name is
 * `key_prefix` + key. The lock is a lease of this request: released when the response is
 * ready, and at request end whatever happens (exception, fatal error, exit).
 */
class RedisLockMiddleware
{
    public function __construct(private \RedisLock $lock, private Config $config)
    {
    }

    /**
     * @param string|null $key the lock key; null for the request's path
     */
    public function handle(Request $request, Closure $next, ?string $key = null): Response
    {
        $settings = (array) $this->config->get('redis_lock.middleware', []) + [
            'wait' => 5.0, 'ttl' => null, 'status' => 429, 'retry_after' => 1, 'key_prefix' => 'http:',
        ];
        $name = $settings['key_prefix'] . ($key ?? ('/' . ltrim($request->pathinfo(), '/')));
        $ttl = $settings['ttl'] === null ? null : (float) $settings['ttl'];
        $lease = $this->lock->lock($name, $ttl, (float) $settings['wait']);
        if ($lease === null) {
            return Response::create('busy: another request holds this lock; retry later', 'html', (int) $settings['status'])
                ->header(['Retry-After' => (string) $settings['retry_after']]);
        }
        try {
            return $next($request);
        } finally {
            $lease->release();
        }
    }
}
