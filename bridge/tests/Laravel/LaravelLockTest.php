<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Laravel;

use Illuminate\Contracts\Cache\LockTimeoutException;
use Illuminate\Support\Facades\Cache;
use RedisLock\Bridge\Laravel\RedisLockCacheLock;
use RedisLock\Bridge\Laravel\RedisLockStore;
use RedisLock\Bridge\Tests\support\BridgeTestCase;
use RedisLock\Bridge\Tests\support\LaravelApp;
use RedisLockTests\Processes;

/** Every lock method of the Laravel integration, against a real Laravel 8.83 application. */
final class LaravelLockTest extends BridgeTestCase
{
    public function testTheProviderIsDiscoveredAndTheDriverPassesCacheCallsToTheNamedStore(): void
    {
        $app = LaravelApp::boot($this->dsn);
        $this->assertArrayHasKey(\RedisLock\Bridge\Laravel\RedisLockServiceProvider::class, $app->getLoadedProviders(), 'found by package discovery in composer.json');
        $store = Cache::store('locks')->getStore();
        $this->assertInstanceOf(RedisLockStore::class, $store);
        $this->assertSame($app['cache']->store('array')->getStore(), $store->getStore(), "the store named by 'store'");
        Cache::put('greeting', 'hello', 60);
        $this->assertSame('hello', $app['cache']->store('array')->get('greeting'), 'written to the array store');
        $this->assertSame('hello', Cache::get('greeting'));
        $this->assertSame(2, Cache::increment('n', 2));
        $this->assertTrue(Cache::forget('greeting'));
        $this->assertNull(Cache::get('greeting'));
        $this->assertInstanceOf(RedisLockCacheLock::class, Cache::lock($this->key, 10));
    }

    public function testCacheCallsCanGoToLaravelsRedisStoreOnPhpredis(): void
    {
        $app = LaravelApp::boot($this->dsn, ['cache' => ['stores' => ['locks' => ['store' => 'redis']]]]);
        Cache::put($this->key . ':value', ['a' => 1], 60);
        $this->assertSame(['a' => 1], $app['cache']->store('redis')->get($this->key . ':value'));
        $this->assertSame(serialize(['a' => 1]), $this->oracle()->get('laravel_database_laravel_cache:' . $this->key . ':value'), 'in Redis, under Laravel\'s prefixes');
        $this->assertTrue(Cache::lock($this->key, 5)->get());
    }

    public function testTagsAreTheNamedStoresWhenItSupportsThem(): void
    {
        $app = LaravelApp::boot($this->dsn);
        Cache::tags(['people', 'artists'])->put('john', 'John', 60);
        $this->assertSame('John', $app['cache']->store('array')->tags(['people', 'artists'])->get('john'), 'in the array store');
        Cache::tags('people')->flush();
        $this->assertNull(Cache::tags(['people', 'artists'])->get('john'));
        LaravelApp::boot($this->dsn, ['cache' => ['stores' => ['locks' => ['store' => 'file']]]]);
        $this->expectException(\BadMethodCallException::class);
        $this->expectExceptionMessage('This cache store does not support tagging.');
        Cache::tags('people');
    }

    public function testAStoreCannotPassItsCallsToAnotherRedisLockStore(): void
    {
        LaravelApp::boot($this->dsn, ['cache' => ['stores' => ['locks' => ['store' => 'locks']]]]);
        $this->expectException(\InvalidArgumentException::class);
        $this->expectExceptionMessage('must not be a redis_lock store itself');
        Cache::store('locks');
    }

    public function testGetTakesTheLockOnceAndRedisHoldsTheOwner(): void
    {
        LaravelApp::boot($this->dsn);
        $first = Cache::lock($this->key, 10);
        $this->assertTrue($first->get());
        $this->assertSame($first->owner(), $this->oracle()->get($this->key), 'the owner string is the token in Redis');
        $ttl = $this->oracle()->pttl($this->key);
        $this->assertGreaterThan(9_000, $ttl);
        $this->assertLessThanOrEqual(10_000, $ttl);
        $second = Cache::lock($this->key, 10);
        $this->assertFalse($second->get());
        $this->assertFalse($second->release(), 'another owner cannot release it');
        $this->assertSame($first->owner(), $this->oracle()->get($this->key));
        $this->assertTrue($first->release());
        $this->assertSame(0, $this->oracle()->exists($this->key));
        $this->assertTrue($second->get());
        $second->release();
    }

    public function testGetWithACallbackRunsItUnderTheLockAndReleases(): void
    {
        LaravelApp::boot($this->dsn);
        $result = Cache::lock($this->key, 10)->get(function () {
            return [$this->oracle()->exists($this->key), 'done'];
        });
        $this->assertSame([1, 'done'], $result);
        $this->assertSame(0, $this->oracle()->exists($this->key), 'released after the callback');
        $holder = Cache::lock($this->key, 10);
        $holder->get();
        $this->assertFalse(Cache::lock($this->key, 10)->get(fn () => $this->fail('ran without the lock')));
        $holder->release();
    }

    public function testZeroSecondsMeansNoExpiry(): void
    {
        LaravelApp::boot($this->dsn);
        $lock = Cache::lock($this->key, 0);
        $this->assertTrue($lock->get());
        $this->assertGreaterThan(31_000_000_000 * 1000 / 1000, $this->oracle()->pttl($this->key), 'about 31.7 years, in ms');
        $this->assertTrue($lock->release());
    }

    public function testTheLockOutlivesItsObjectAndItsProcess(): void
    {
        LaravelApp::boot($this->dsn);
        $lock = Cache::lock($this->key, 30);
        $this->assertTrue($lock->get());
        $owner = $lock->owner();
        unset($lock);
        gc_collect_cycles();
        $this->assertSame($owner, $this->oracle()->get($this->key), 'not released when its object is destroyed');

        $other = $this->key . ':process';
        [$code, $out, $err] = $this->runPhp('
            $lock = new RedisLock\Bridge\Laravel\RedisLockCacheLock(new RedisLock($dsn), $key . ":process", 30, "worker-1");
            echo json_encode($lock->get());
            exit(0);');
        $this->assertSame([0, 'true', ''], [$code, $out, $err]);
        $this->assertSame('worker-1', $this->oracle()->get($other), 'still held after that process ended');
        $this->assertTrue(Cache::restoreLock($other, 'worker-1')->release());
    }

    public function testBlockWaitsInLineAndIsHandedTheLockByTheRelease(): void
    {
        LaravelApp::boot($this->dsn);
        $holder = Cache::lock($this->key, 10);
        $this->assertTrue($holder->get());
        $child = Processes::fork(function (): array {
            LaravelApp::boot($this->dsn);
            $start = microtime(true);
            $result = Cache::lock($this->key, 10)->block(5, fn () => microtime(true));
            return [$start, $result];
        });
        usleep(400_000);
        $releasedAt = microtime(true);
        $this->assertTrue($holder->release());
        [$start, $ranAt] = $child->wait();
        $this->assertGreaterThan(0.3, $releasedAt - $start, 'it waited');
        $this->assertLessThan(0.05, $ranAt - $releasedAt, 'woken by the release, not by a 250 ms poll');
        $this->assertSame(0, $this->oracle()->exists($this->key), 'block() with a callback released afterwards');
    }

    public function testBlockThrowsLaravelsLockTimeoutException(): void
    {
        LaravelApp::boot($this->dsn);
        $holder = Cache::lock($this->key, 10);
        $holder->get();
        $start = microtime(true);
        try {
            Cache::lock($this->key, 10)->block(0.3);
            $this->fail('no exception');
        } catch (LockTimeoutException) {
            $waited = microtime(true) - $start;
            $this->assertGreaterThan(0.29, $waited);
            $this->assertLessThan(1.0, $waited);
        }
        $this->assertSame($holder->owner(), $this->oracle()->get($this->key));
        $this->assertTrue(Cache::lock($this->key . ':free', 10)->block(1));
    }

    public function testRestoreLockReleasesFromAnotherProcessAfterSerialization(): void
    {
        LaravelApp::boot($this->dsn);
        $lock = Cache::lock($this->key, 30);
        $lock->get();
        $payload = serialize(['lock' => $this->key, 'owner' => $lock->owner()]);
        $released = Processes::fork(function () use ($payload): array {
            LaravelApp::boot($this->dsn);
            ['lock' => $name, 'owner' => $owner] = unserialize($payload);
            $restored = Cache::restoreLock($name, $owner);
            return [$restored->owner(), $restored->isOwnedByCurrentProcess(), $restored->release()];
        })->wait();
        $this->assertSame([$lock->owner(), true, true], $released);
        $this->assertSame(0, $this->oracle()->exists($this->key));
        $this->assertFalse($lock->release(), 'already released');
    }

    public function testOwnershipQueries(): void
    {
        LaravelApp::boot($this->dsn);
        $lock = Cache::lock($this->key, 10, 'alice');
        $this->assertSame('alice', $lock->owner());
        $this->assertFalse($lock->isLocked());
        $this->assertTrue($lock->isOwnedBy(null), 'nobody holds it');
        $this->assertFalse($lock->isOwnedByCurrentProcess());
        $lock->get();
        $this->assertTrue($lock->isLocked());
        $this->assertTrue($lock->isOwnedByCurrentProcess());
        $this->assertTrue($lock->isOwnedBy('alice'));
        $this->assertFalse($lock->isOwnedBy('bob'));
        $this->assertFalse($lock->isOwnedBy(null));
        $bob = Cache::lock($this->key, 10, 'bob');
        $this->assertTrue($bob->isLocked());
        $this->assertFalse($bob->isOwnedByCurrentProcess());
        $this->assertTrue(Cache::lock($this->key, 10, 'alice')->release(), 'the same owner in another object');
        $this->assertFalse($lock->isOwnedByCurrentProcess());
    }

    public function testTheHoldersOwnerGetsTrueAgainAndItsTtlReset(): void
    {
        LaravelApp::boot($this->dsn);
        $this->assertTrue(Cache::lock($this->key, 2, 'alice')->get());
        $this->assertTrue(Cache::lock($this->key, 20, 'alice')->get(), 'idempotent for the holder (a documented difference from Laravel)');
        $this->assertGreaterThan(19_000, $this->oracle()->pttl($this->key));
        $this->assertFalse(Cache::lock($this->key, 20, 'bob')->get());
    }

    public function testForceReleaseDeletesAnyOwnersLockAndWakesTheNextWaiter(): void
    {
        LaravelApp::boot($this->dsn);
        Cache::lock($this->key, 30, 'stuck')->get();
        $child = Processes::fork(function (): float {
            LaravelApp::boot($this->dsn);
            Cache::lock($this->key, 10, 'next')->block(5);
            return microtime(true);
        });
        usleep(300_000);
        $at = microtime(true);
        Cache::lock($this->key, 10)->forceRelease();
        $gotAt = $child->wait();
        $this->assertLessThan(0.1, $gotAt - $at);
        $this->assertSame('next', $this->oracle()->get($this->key));
    }

    public function testRefreshExtendsOnlyTheOwnersLock(): void
    {
        LaravelApp::boot($this->dsn);
        $lock = Cache::lock($this->key, 5, 'alice');
        $this->assertFalse($lock->refresh(), 'not held');
        $lock->get();
        $this->assertTrue($lock->refresh(60));
        $this->assertGreaterThan(59_000, $this->oracle()->pttl($this->key));
        $this->assertTrue($lock->refresh());
        $this->assertLessThanOrEqual(5_000, $this->oracle()->pttl($this->key), 'the lock\'s own seconds by default');
        $this->assertTrue($lock->refresh(0));
        $this->assertGreaterThan(31_000_000_000, $this->oracle()->pttl($this->key), '0: no expiry');
        $this->assertFalse(Cache::lock($this->key, 5, 'bob')->refresh(60), "another owner cannot extend it");
        $lock->forceRelease();
        $this->assertFalse($lock->refresh(60), 'lost');
        $this->assertSame(0, $this->oracle()->exists($this->key), 'and not re-created');
    }

    public function testAnExpiredLockIsFreeAndItsOwnerCannotReleaseTheNextOne(): void
    {
        LaravelApp::boot($this->dsn);
        $old = Cache::lock($this->key, 1);
        $this->assertTrue($old->get());
        usleep(1_100_000);
        $new = Cache::lock($this->key, 10);
        $this->assertTrue($new->get());
        $this->assertFalse($old->release());
        $this->assertSame($new->owner(), $this->oracle()->get($this->key));
    }

    public function testAKeyWithoutTtlWrittenByOthersIsTakenAndNeverTouched(): void
    {
        LaravelApp::boot($this->dsn);
        $this->oracle()->set($this->key, 'written-by-hand');
        $lock = Cache::lock($this->key, 10, 'alice');
        $this->assertFalse($lock->get(), 'it is taken');
        $this->assertTrue($lock->isLocked());
        $this->assertFalse($lock->isOwnedByCurrentProcess());
        $this->assertFalse($lock->isOwnedBy('written-by-hand'), 'no lock of this library (no TTL): nobody\'s ownership to report');
        $this->assertFalse($lock->release());
        $this->assertFalse($lock->refresh(30));
        $this->assertSame('written-by-hand', $this->oracle()->get($this->key));
        $this->assertSame(-1, $this->oracle()->ttl($this->key), 'untouched');
        $lock->forceRelease();
        $this->assertSame(0, $this->oracle()->exists($this->key));
    }

    public function testRedisFailuresReachTheCallerAsTheExtensionsExceptions(): void
    {
        LaravelApp::boot($this->dsn, ['cache' => ['stores' => ['locks' => ['dsn' => $this->deadDsn(), 'options' => ['connectTimeout' => 0.2]]]]]);
        $lock = Cache::lock($this->key, 10);
        foreach (['get' => fn () => $lock->get(), 'block' => fn () => $lock->block(0.2), 'release' => fn () => $lock->release(), 'isLocked' => fn () => $lock->isLocked()] as $method => $call) {
            try {
                $call();
                $this->fail("$method() succeeded without Redis");
            } catch (\RedisLockConnectionException $e) {
                $this->assertNotSame('', $e->getMessage(), $method);
            }
        }
    }
}
