<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Symfony;

use RedisLock\Bridge\Tests\support\BridgeTestCase;
use RedisLockTests\Processes;
use Symfony\Component\Lock\BlockingStoreInterface;
use Symfony\Component\Lock\Exception\LockConflictedException;
use Symfony\Component\Lock\Exception\LockExpiredException;
use Symfony\Component\Lock\Key;
use Symfony\Component\Lock\PersistingStoreInterface;
use Symfony\Component\Lock\SharedLockStoreInterface;

/**
 * Symfony's store contract, as its own store tests state it (persisting, expiring and blocking
 * stores), written for this repository: a store's test supplies the store.
 */
abstract class StoreContractTestCase extends BridgeTestCase
{
    /** The store under test; `$initialTtl` seconds for a save. */
    abstract protected function store(float $initialTtl = 300.0): PersistingStoreInterface;

    public function testASavedKeyExistsUntilItIsDeleted(): void
    {
        $store = $this->store();
        $key = new Key($this->key);
        $this->assertFalse($store->exists($key));
        $store->save($key);
        $this->assertTrue($store->exists($key));
        $store->delete($key);
        $this->assertFalse($store->exists($key));
    }

    public function testDifferentResourcesAreIndependent(): void
    {
        $store = $this->store();
        $a = new Key($this->key . ':a');
        $b = new Key($this->key . ':b');
        $store->save($a);
        $store->save($b);
        $this->assertTrue($store->exists($a));
        $this->assertTrue($store->exists($b));
        $store->delete($a);
        $this->assertFalse($store->exists($a));
        $this->assertTrue($store->exists($b));
        $store->delete($b);
    }

    public function testASecondKeyOnTheSameResourceConflictsUntilTheFirstIsDeleted(): void
    {
        $store = $this->store();
        $first = new Key($this->key);
        $second = new Key($this->key);
        $store->save($first);
        try {
            $store->save($second);
            $this->fail('two keys held one resource');
        } catch (LockConflictedException) {
        }
        $this->assertTrue($store->exists($first));
        $this->assertFalse($store->exists($second), 'exists() is about this key, not the resource');
        $store->delete($first);
        $store->save($second);
        $this->assertTrue($store->exists($second));
        $this->assertFalse($store->exists($first));
        $store->delete($second);
    }

    public function testSavingTwiceIsFine(): void
    {
        $store = $this->store();
        $key = new Key($this->key);
        $store->save($key);
        $store->save($key);
        $this->assertTrue($store->exists($key));
        $store->delete($key);
        $this->assertFalse($store->exists($key));
    }

    public function testDeletingAnotherKeyLeavesTheLockAlone(): void
    {
        $store = $this->store();
        $held = new Key($this->key);
        $other = new Key($this->key);
        $store->save($held);
        $store->delete($other);
        $store->delete(new Key($this->key . ':never-saved'));
        $this->assertTrue($store->exists($held));
        $store->delete($held);
    }

    public function testASavedKeyExpiresWithItsInitialTtl(): void
    {
        $store = $this->store(0.3);
        $key = new Key($this->key);
        $store->save($key);
        $this->assertTrue($store->exists($key));
        $remaining = $key->getRemainingLifetime();
        $this->assertNotNull($remaining, 'save() reduces the key\'s lifetime');
        $this->assertLessThanOrEqual(0.3, $remaining);
        $this->assertGreaterThan(0.2, $remaining);
        usleep(400_000);
        $this->assertFalse($store->exists($key));
        $this->assertTrue($key->isExpired());
        $store->save($other = new Key($this->key));
        $this->assertTrue($store->exists($other), 'an expired lock is free');
        $store->delete($other);
    }

    public function testPuttingOffTheExpirationSetsANewTtl(): void
    {
        $store = $this->store(0.3);
        $key = new Key($this->key);
        $store->save($key);
        $key->resetLifetime();
        $store->putOffExpiration($key, 1.0);
        $this->assertGreaterThan(0.9, $key->getRemainingLifetime());
        usleep(500_000);
        $this->assertTrue($store->exists($key), 'outlived its initial TTL');
        $key->resetLifetime();
        $store->putOffExpiration($key, 0.2);
        usleep(300_000);
        $this->assertFalse($store->exists($key), 'a shorter TTL shortens it too');
    }

    public function testPuttingOffALockSomeoneElseHoldsConflicts(): void
    {
        $store = $this->store(0.2);
        $old = new Key($this->key);
        $store->save($old);
        usleep(300_000);
        $new = new Key($this->key);
        $store->save($new);
        try {
            $store->putOffExpiration($old, 10);
            $this->fail('an expired key extended the new owner\'s lock');
        } catch (LockConflictedException) {
        }
        $this->assertTrue($store->exists($new));
        $store->delete($old);
        $this->assertTrue($store->exists($new), 'an expired key cannot delete the new owner\'s lock');
        $store->delete($new);
    }

    public function testAKeyWhoseLifetimeEndsBeforeTheStoreAnswersIsAbortedAndDeleted(): void
    {
        $store = $this->store();
        $key = new Key($this->key);
        $store->save($key);
        try {
            $store->putOffExpiration($key, 1 / 1000000);
            $this->fail('no LockExpiredException');
        } catch (LockExpiredException) {
        }
        $this->assertFalse($store->exists($key), 'deleted on the way out');
        $again = new Key($this->key);
        $store->save($again);
        $store->delete($again);
    }

    public function testWaitAndSaveBlocksUntilAnotherProcessReleases(): void
    {
        $store = $this->store();
        $this->assertInstanceOf(BlockingStoreInterface::class, $store);
        $key = new Key($this->key);
        $store->save($key);
        $child = Processes::fork(function (): array {
            $store = $this->store();
            $key = new Key($this->key);
            $start = microtime(true);
            $store->waitAndSave($key);
            $got = microtime(true);
            $exists = $store->exists($key);
            $store->delete($key);
            return [$start, $got, $exists];
        });
        usleep(400_000);
        $releasedAt = microtime(true);
        $store->delete($key);
        [$start, $got, $exists] = $child->wait();
        $this->assertTrue($exists);
        $this->assertGreaterThan(0.3, $releasedAt - $start, 'it waited');
        $this->assertGreaterThanOrEqual($releasedAt - 0.01, $got, 'not before the release');
    }

    /** The store as a shared-lock store (every store of this repository is one). */
    private function sharedStore(): SharedLockStoreInterface
    {
        $store = $this->store();
        $this->assertInstanceOf(SharedLockStoreInterface::class, $store);
        return $store;
    }

    /** @param array<string, array{Key, bool}> $expected name => [key, exists] */
    private function assertExist(PersistingStoreInterface $store, array $expected): void
    {
        foreach ($expected as $name => [$key, $exists]) {
            $this->assertSame($exists, $store->exists($key), "$name exists");
        }
    }

    public function testReadersShareAResourceAndAWriterWaitsForAllOfThem(): void
    {
        $store = $this->sharedStore();
        [$r1, $r2, $w] = [new Key($this->key), new Key($this->key), new Key($this->key)];
        $store->saveRead($r1);
        $store->saveRead($r2);
        $this->assertExist($store, ['r1' => [$r1, true], 'r2' => [$r2, true], 'w' => [$w, false]]);
        try {
            $store->save($w);
            $this->fail('a writer got in beside readers');
        } catch (LockConflictedException) {
        }
        $this->assertExist($store, ['r1' => [$r1, true], 'r2' => [$r2, true], 'w' => [$w, false]]);
        $store->delete($r1);
        $this->assertExist($store, ['r1' => [$r1, false], 'r2' => [$r2, true]]);
        try {
            $store->save($w);
            $this->fail('a writer got in beside a reader');
        } catch (LockConflictedException) {
        }
        $store->delete($r2);
        $store->save($w);
        $this->assertExist($store, ['r1' => [$r1, false], 'r2' => [$r2, false], 'w' => [$w, true]]);
        $store->delete($w);
        $this->assertFalse($store->exists($w));
    }

    public function testAWriterKeepsReadersOut(): void
    {
        $store = $this->sharedStore();
        [$w, $r] = [new Key($this->key), new Key($this->key)];
        $store->save($w);
        try {
            $store->saveRead($r);
            $this->fail('a reader got in beside a writer');
        } catch (LockConflictedException) {
        }
        $this->assertExist($store, ['w' => [$w, true], 'r' => [$r, false]]);
        $store->delete($w);
        $store->saveRead($r);
        $this->assertExist($store, ['w' => [$w, false], 'r' => [$r, true]]);
        $store->delete($r);
    }

    public function testAReaderPromotesOnlyWhenItIsTheOnlyOne(): void
    {
        $store = $this->sharedStore();
        [$a, $b] = [new Key($this->key), new Key($this->key)];
        $store->saveRead($a);
        $store->saveRead($b);
        try {
            $store->save($a);
            $this->fail('promoted beside another reader');
        } catch (LockConflictedException) {
        }
        $this->assertExist($store, ['a' => [$a, true], 'b' => [$b, true]]);
        $store->delete($b);
        $store->save($a);
        try {
            $store->saveRead($b);
            $this->fail('a reader got in beside the promoted writer');
        } catch (LockConflictedException) {
        }
        $this->assertExist($store, ['a' => [$a, true], 'b' => [$b, false]]);
        $store->delete($a);
        $store->saveRead($b);
        $this->assertExist($store, ['a' => [$a, false], 'b' => [$b, true]]);
        $store->delete($b);
    }

    public function testAWriterDemotesAndLetsReadersIn(): void
    {
        $store = $this->sharedStore();
        [$a, $b, $w] = [new Key($this->key), new Key($this->key), new Key($this->key)];
        $store->save($a);
        $store->saveRead($a);
        $store->saveRead($b);
        $this->assertExist($store, ['a' => [$a, true], 'b' => [$b, true]]);
        try {
            $store->save($w);
            $this->fail('a writer got in beside the demoted reader');
        } catch (LockConflictedException) {
        }
        $store->putOffExpiration($a, 30);
        $store->delete($a);
        $store->delete($b);
        $this->assertExist($store, ['a' => [$a, false], 'b' => [$b, false]]);
        $store->save($w);
        $store->delete($w);
    }
}
