<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Laravel;

use Illuminate\Contracts\Cache\LockTimeoutException;
use Illuminate\Support\Facades\Cache;
use RedisLock\Bridge\Tests\support\BridgeTestCase;
use RedisLock\Bridge\Tests\support\LaravelApp;

/**
 * A Laravel app's unit tests with the `redis_lock` store on `memory://` (REDIS_LOCK_DSN in
 * phpunit.xml): the lock methods, with time moved by the test clock instead of sleeping.
 */
final class LaravelMemoryTest extends BridgeTestCase
{
    protected function tearDown(): void
    {
        \RedisLockMemory::reset('laravel');
        parent::tearDown();
    }

    public function testCacheLocksWorkOnMemoryAndExpireByTheTestClock(): void
    {
        LaravelApp::boot('memory://laravel');
        $first = Cache::lock('invoice:42', 10);
        $this->assertTrue($first->get());
        $this->assertFalse(Cache::lock('invoice:42', 10)->get());
        $this->assertTrue($first->isOwnedByCurrentProcess());
        \RedisLockMemory::advanceClock(11, 'laravel');
        $second = Cache::lock('invoice:42', 10);
        $this->assertTrue($second->get(), 'free once the clock passed its TTL');
        $this->assertFalse($first->release(), 'the first owner lost it');
        $restored = Cache::restoreLock('invoice:42', $second->owner());
        $this->assertTrue($restored->release(), 'released by its owner string');
        $this->assertSame('done', Cache::lock('invoice:42', 10)->block(1, fn () => 'done'));
        $holder = Cache::lock('invoice:42', 10);
        $holder->get();
        $this->expectException(LockTimeoutException::class);
        Cache::lock('invoice:42', 10)->block(0.2);
    }
}
