<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Laravel;

use Illuminate\Contracts\Redis\LimiterTimeoutException;
use Illuminate\Support\Facades\Cache;
use RedisLock\Bridge\Laravel\RedisLockFunnel;
use RedisLock\Bridge\Tests\support\BridgeTestCase;
use RedisLock\Bridge\Tests\support\LaravelApp;
use RedisLockTests\Processes;

/** Laravel's funnel() API on the extension's semaphores, in a real Laravel 8.83 application. */
final class LaravelFunnelTest extends BridgeTestCase
{
    public function testThenRunsInASlotAndReleasesIt(): void
    {
        LaravelApp::boot($this->dsn);
        $funnel = Cache::store('locks')->funnel($this->key);
        $this->assertInstanceOf(RedisLockFunnel::class, $funnel);
        $lock = Cache::store('locks')->getStore()->getRedisLock();
        $got = $funnel->limit(2)->releaseAfter(30)->block(1)->then(function (\RedisLockLease $permit) use ($lock): string {
            $this->assertTrue($permit->isPermit());
            $this->assertSame(1, $lock->permitsHeld($this->key));
            $this->assertGreaterThan(29.0, $permit->remaining());
            return 'done';
        });
        $this->assertSame('done', $got);
        $this->assertSame(0, $lock->permitsHeld($this->key), 'released after the callback');
        try {
            Cache::store('locks')->funnel($this->key)->limit(2)->then(static fn () => throw new \DomainException('boom'));
            $this->fail('the callback threw');
        } catch (\DomainException) {
            $this->assertSame(0, $lock->permitsHeld($this->key), 'released when it throws too');
        }
    }

    public function testAFullFunnelTimesOutAsLaravelsDoes(): void
    {
        LaravelApp::boot($this->dsn);
        $lock = Cache::store('locks')->getStore()->getRedisLock();
        $held = [$lock->permit($this->key, 2, 30), $lock->permit($this->key, 2, 30)];
        $started = microtime(true);
        $failed = Cache::store('locks')->funnel($this->key)->limit(2)->block(0.3)
            ->then(static fn () => 'ran', static fn (LimiterTimeoutException $e) => 'failed');
        $this->assertSame('failed', $failed);
        $this->assertGreaterThanOrEqual(0.3, microtime(true) - $started);
        $this->expectException(LimiterTimeoutException::class);
        Cache::store('locks')->funnel($this->key)->limit(2)->block(0)->then(static fn () => 'ran');
        unset($held);
    }

    public function testForkedWorkersNeverRunMoreThanTheLimitAtOnce(): void
    {
        $inside = $this->key . ':inside';
        $peak = $this->key . ':peak';
        Processes::all(6, function () use ($inside, $peak): int {
            LaravelApp::boot($this->dsn);
            $redis = new \Redis();
            $parts = parse_url($this->dsn);
            $redis->connect($parts['host'], $parts['port']);
            for ($i = 0; $i < 8; $i++) {
                Cache::store('locks')->funnel($this->key)->limit(2)->releaseAfter(10)->block(20)->then(function () use ($redis, $inside, $peak): void {
                    $now = $redis->incr($inside);
                    $redis->eval("if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end", [$peak, $now], 1);
                    usleep(random_int(2_000, 8_000));
                    $redis->decr($inside);
                });
            }
            return 0;
        }, 120);
        $this->assertSame('2', $this->oracle()->get($peak), 'two at once, never three');
        $this->oracle()->del($inside, $peak);
    }
}
