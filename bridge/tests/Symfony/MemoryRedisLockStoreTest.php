<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Symfony;

use RedisLock\Bridge\Symfony\RedisLockStore;
use Symfony\Component\Lock\BlockingStoreInterface;
use Symfony\Component\Lock\Key;
use Symfony\Component\Lock\LockFactory;
use Symfony\Component\Lock\PersistingStoreInterface;

/**
 * The same store contract on `memory://`: what a Symfony app's unit tests get when they swap
 * `InMemoryStore` for the store they deploy, on the in-process backend. One process only, so
 * the contract's blocking test (a forked process releases) becomes a wait that ends when the
 * holder's TTL runs out.
 */
final class MemoryRedisLockStoreTest extends StoreContractTestCase
{
    protected function store(float $initialTtl = 300.0): PersistingStoreInterface
    {
        return new RedisLockStore(new \RedisLock('memory://symfony'), $initialTtl);
    }

    protected function tearDown(): void
    {
        \RedisLockMemory::reset('symfony');
        parent::tearDown();
    }

    public function testWaitAndSaveBlocksUntilAnotherProcessReleases(): void
    {
        $store = $this->store(0.4);
        $this->assertInstanceOf(BlockingStoreInterface::class, $store);
        $holder = new Key($this->key);
        $store->save($holder);
        $key = new Key($this->key);
        $start = microtime(true);
        $store->waitAndSave($key);
        $waited = microtime(true) - $start;
        $this->assertTrue($store->exists($key));
        $this->assertFalse($store->exists($holder));
        $this->assertGreaterThan(0.3, $waited, 'it waited for the TTL');
        $this->assertLessThan(1.5, $waited);
    }

    public function testTheTestClockExpiresALockFactorysLock(): void
    {
        $factory = new LockFactory($this->store());
        $lock = $factory->createLock('report', ttl: 30);
        $this->assertTrue($lock->acquire());
        \RedisLockMemory::advanceClock(31, 'symfony');
        $this->assertFalse($lock->isAcquired(), "expired by the test clock");
        $other = $factory->createLock('report', ttl: 30);
        $this->assertTrue($other->acquire(), 'free once the clock passed its TTL');
        $other->release();
    }
}
