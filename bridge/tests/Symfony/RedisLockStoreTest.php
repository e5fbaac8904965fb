<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Symfony;

use RedisLock\Bridge\Symfony\RedisLockStore;
use RedisLockTests\Processes;
use Symfony\Component\Lock\Exception\InvalidTtlException;
use Symfony\Component\Lock\Exception\LockAcquiringException;
use Symfony\Component\Lock\Exception\LockConflictedException;
use Symfony\Component\Lock\Exception\LockExpiredException;
use Symfony\Component\Lock\Exception\LockReleasingException;
use Symfony\Component\Lock\Exception\LockStorageException;
use Symfony\Component\Lock\Key;
use Symfony\Component\Lock\LockFactory;
use Symfony\Component\Lock\PersistingStoreInterface;

/** The store contract, then what this store adds, through Symfony's own LockFactory (5.4). */
final class RedisLockStoreTest extends StoreContractTestCase
{
    protected function store(float $initialTtl = 300.0, ?string $dsn = null, array $options = []): PersistingStoreInterface
    {
        return new RedisLockStore(new \RedisLock($dsn ?? $this->dsn, $options), $initialTtl);
    }

    public function testTheTokenLivesInTheKeyAndIsTheValueInRedis(): void
    {
        $store = $this->store();
        $key = new Key($this->key);
        $store->save($key);
        $this->assertTrue($key->hasState(RedisLockStore::class));
        $this->assertSame($key->getState(RedisLockStore::class), $this->oracle()->get($this->key));
        $store->delete($key);
    }

    public function testLockFactoryAcquireRefreshReleaseAndLifetime(): void
    {
        $factory = new LockFactory($this->store());
        $lock = $factory->createLock($this->key, 10);
        $this->assertTrue($lock->acquire());
        $this->assertTrue($lock->isAcquired());
        $this->assertGreaterThan(9.0, $lock->getRemainingLifetime());
        $ttl = $this->oracle()->pttl($this->key);
        $this->assertGreaterThan(9_000, $ttl, 'acquire() refreshes to the lock\'s TTL');
        $this->assertLessThanOrEqual(10_000, $ttl);
        $this->assertFalse($factory->createLock($this->key, 10)->acquire());
        $lock->refresh(60);
        $this->assertGreaterThan(59_000, $this->oracle()->pttl($this->key));
        $lock->release();
        $this->assertFalse($lock->isAcquired());
        $this->assertSame(0, $this->oracle()->exists($this->key));
    }

    public function testBlockingAcquireIsHandedTheLockByTheRelease(): void
    {
        $factory = new LockFactory($this->store());
        $holder = $factory->createLock($this->key, 10);
        $holder->acquire();
        $child = Processes::fork(function (): float {
            $lock = (new LockFactory($this->store()))->createLock($this->key, 10);
            $lock->acquire(true);
            $at = microtime(true);
            $lock->release();
            return $at;
        });
        usleep(400_000);
        $releasedAt = microtime(true);
        $holder->release();
        $gotAt = $child->wait();
        $this->assertGreaterThanOrEqual($releasedAt - 0.01, $gotAt);
        $this->assertLessThan(0.05, $gotAt - $releasedAt, 'woken by the release, not by a 100 ms poll');
    }

    public function testWaitersAreServedInArrivalOrder(): void
    {
        $factory = new LockFactory($this->store());
        $holder = $factory->createLock($this->key, 10);
        $holder->acquire();
        $children = [];
        foreach ([0, 1, 2] as $i) {
            $children[] = Processes::fork(function () use ($i): float {
                $lock = (new LockFactory($this->store()))->createLock($this->key, 10);
                $lock->acquire(true);
                $at = microtime(true);
                usleep(50_000);
                $lock->release();
                return $at;
            });
            usleep(150_000); // arrive in order
        }
        $holder->release();
        $times = array_map(fn ($child) => $child->wait(), $children);
        $sorted = $times;
        sort($sorted);
        $this->assertSame($sorted, $times, 'first come, first served');
    }

    public function testASerializedKeyRestoresTheLockInAnotherProcess(): void
    {
        $factory = new LockFactory($this->store());
        $key = new Key($this->key);
        $lock = $factory->createLockFromKey($key, 30, false);
        $this->assertTrue($lock->acquire());
        $serialized = serialize($key);
        $result = Processes::fork(function () use ($serialized): array {
            $key = unserialize($serialized);
            $lock = (new LockFactory($this->store()))->createLockFromKey($key, 30, false);
            $held = $lock->isAcquired();
            $lock->refresh(40);
            $ttl = $this->oracle()->pttl($this->key);
            $lock->release();
            return [$held, $ttl];
        })->wait();
        $this->assertTrue($result[0], 'held by the key from the other process');
        $this->assertGreaterThan(39_000, $result[1]);
        $this->assertSame(0, $this->oracle()->exists($this->key), 'released by the other process');
        $this->assertFalse($lock->isAcquired());
    }

    public function testTheStoreNeverReleasesAtRequestEndAutoReleaseDecides(): void
    {
        [$code, $out, $err] = $this->runPhp('
            $factory = new Symfony\Component\Lock\LockFactory(new RedisLock\Bridge\Symfony\RedisLockStore(new RedisLock($dsn)));
            $kept = $factory->createLock($key . ":kept", 30, false);
            $freed = $factory->createLock($key . ":freed", 30, true);
            echo json_encode([$kept->acquire(), $freed->acquire()]);
            unset($freed);   // autoRelease: its destructor releases
            exit(0);         // the request ends with $kept still acquired');
        $this->assertSame([0, '[true,true]', ''], [$code, $out, $err]);
        $this->assertSame(1, $this->oracle()->exists($this->key . ':kept'), 'autoRelease false: held after the process ended');
        $this->assertSame(0, $this->oracle()->exists($this->key . ':freed'), 'autoRelease true: released by Lock\'s destructor');
        $this->assertTrue((new \RedisLock($this->dsn))->forceRelease($this->key . ':kept'));
    }

    public function testASaveThatOutlivesTheKeysLifetimeThrowsLockExpiredException(): void
    {
        $store = $this->store(1 / 1000000); // held 1 ms on the server, 1 µs by the key
        try {
            $store->save(new Key($this->key));
            $this->fail('no exception');
        } catch (LockExpiredException) {
        }
        $this->assertSame(0, $this->oracle()->exists($this->key), 'deleted on the way out');
        $lock = (new LockFactory($store))->createLock($this->key, null);
        try {
            $lock->acquire();
            $this->fail('no exception');
        } catch (LockAcquiringException $e) {
            // Symfony 5.4's Lock wraps it
            $this->assertInstanceOf(LockExpiredException::class, $e->getPrevious());
        }
    }

    public function testTtlsAreValidated(): void
    {
        foreach ([0.0, -1.0, NAN, 2e9] as $ttl) {
            try {
                $this->store($ttl);
                $this->fail("initial TTL $ttl accepted");
            } catch (InvalidTtlException) {
            }
        }
        $store = $this->store();
        $key = new Key($this->key);
        $store->save($key);
        $this->expectException(InvalidTtlException::class);
        $store->putOffExpiration($key, 0);
    }

    public function testRedisFailuresMapOntoSymfonysExceptions(): void
    {
        $dead = $this->store(300.0, $this->deadDsn(), ['connectTimeout' => 0.2]);
        $lock = (new LockFactory($dead))->createLock($this->key, 10, false);
        try {
            $lock->acquire();
            $this->fail('acquired without Redis');
        } catch (LockAcquiringException $e) {
            $this->assertInstanceOf(LockStorageException::class, $e->getPrevious());
            $this->assertInstanceOf(\RedisLockConnectionException::class, $e->getPrevious()->getPrevious());
        }
        $key = new Key($this->key);
        $key->setState(RedisLockStore::class, 'a token');
        try {
            $dead->delete($key);
            $this->fail('deleted without Redis');
        } catch (LockReleasingException $e) {
            $this->assertInstanceOf(\RedisLockConnectionException::class, $e->getPrevious());
        }
        $this->expectException(LockStorageException::class);
        $dead->exists($key);
    }

    /** The store with waitAndSave() rounds of 0.3 s instead of 60 s. */
    private function storeWithShortRounds(string $dsn, array $options = []): RedisLockStore
    {
        return new class(new \RedisLock($dsn, $options)) extends RedisLockStore {
            public const WAIT_ROUND = 0.3;
        };
    }

    public function testWaitAndSaveEndsWithAnExceptionWhenRedisIsDownInsteadOfHanging(): void
    {
        $store = $this->storeWithShortRounds($this->deadDsn(), ['connectTimeout' => 0.1, 'readTimeout' => 0.1]);
        $start = microtime(true);
        try {
            $store->waitAndSave(new Key($this->key));
            $this->fail('saved without Redis');
        } catch (LockStorageException $e) {
            $this->assertInstanceOf(\RedisLockConnectionException::class, $e->getPrevious());
        }
        $this->assertLessThan(2.0, microtime(true) - $start, 'within about one round');
    }

    public function testAWaitLongerThanARoundStillGetsTheLock(): void
    {
        $holder = (new \RedisLock($this->dsn))->lock($this->key, 10);
        $child = Processes::fork(function (): float {
            $store = $this->storeWithShortRounds($this->dsn);
            $key = new Key($this->key);
            $store->waitAndSave($key);
            $at = microtime(true);
            $store->delete($key);
            return $at;
        });
        usleep(1_000_000); // about three rounds
        $releasedAt = microtime(true);
        $this->assertTrue($holder->release());
        $gotAt = $child->wait();
        $this->assertGreaterThanOrEqual($releasedAt - 0.01, $gotAt);
        $this->assertLessThan(0.05, $gotAt - $releasedAt, 'still in line when the lock was released');
    }

    public function testAConflictInABlockingAcquireIsNeverSwallowed(): void
    {
        $store = $this->store();
        $holder = new Key($this->key);
        $store->save($holder);
        $lock = (new LockFactory($store))->createLock($this->key, 10);
        $this->assertFalse($lock->acquire(), 'non-blocking: false');
        $this->expectException(LockConflictedException::class);
        $lock->refresh(); // not acquired: Symfony reports the conflict
    }

    /**
     * Symfony's `acquireRead()` through LockFactory, across processes: four workers mixing
     * blocking read and write locks never let a writer in with anyone, and readers do overlap.
     */
    public function testForkedReadersAndWritersThroughLockFactoryNeverOverlap(): void
    {
        $log = tempnam(sys_get_temp_dir(), 'rw');
        $children = [];
        foreach (range(0, 3) as $w) {
            $children[] = Processes::fork(function () use ($w, $log): int {
                $factory = new LockFactory($this->store(10));
                $rounds = 0;
                $until = microtime(true) + 2.0;
                while (microtime(true) < $until) {
                    $lock = $factory->createLock($this->key, 10);
                    $write = ($rounds + $w) % 4 === 0;
                    $write ? $lock->acquire(true) : $lock->acquireRead(true);
                    $tag = ($write ? 'W' : 'R') . $w;
                    file_put_contents($log, sprintf("+%s %.6f\n", $tag, microtime(true)), FILE_APPEND | LOCK_EX);
                    usleep($write ? 3_000 : 8_000);
                    file_put_contents($log, sprintf("-%s %.6f\n", $tag, microtime(true)), FILE_APPEND | LOCK_EX);
                    $lock->release();
                    $rounds++;
                }
                return $rounds;
            });
        }
        $rounds = array_sum(array_map(fn ($c) => $c->wait(), $children));
        $this->assertGreaterThan(20, $rounds);
        $inside = [];
        $maxReaders = 0;
        $writes = 0;
        foreach (file($log, FILE_IGNORE_NEW_LINES) as $line) {
            [$event] = explode(' ', $line);
            $tag = substr($event, 1);
            if ($event[0] === '+') {
                $writer = $tag[0] === 'W';
                $this->assertTrue(!$writer || $inside === [], "a writer entered beside " . implode(',', array_keys($inside)));
                $this->assertFalse(array_filter(array_keys($inside), fn ($t) => $t[0] === 'W') !== [], "$tag entered beside a writer");
                $inside[$tag] = true;
                $writes += $writer ? 1 : 0;
                $maxReaders = max($maxReaders, count($inside));
            } else {
                unset($inside[$tag]);
            }
        }
        unlink($log);
        $this->assertGreaterThan(0, $writes, 'writers got in');
        $this->assertGreaterThan(1, $maxReaders, 'readers overlapped');
    }
}
