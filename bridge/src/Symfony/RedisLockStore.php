<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Symfony;

use RedisLock\Bridge\Ownership;
use Symfony\Component\Lock\BlockingSharedLockStoreInterface;
use Symfony\Component\Lock\BlockingStoreInterface;
use Symfony\Component\Lock\Exception\InvalidTtlException;
use Symfony\Component\Lock\Exception\LockConflictedException;
use Symfony\Component\Lock\Exception\LockExpiredException;
use Symfony\Component\Lock\Exception\LockReleasingException;
use Symfony\Component\Lock\Exception\LockStorageException;
use Symfony\Component\Lock\Key;
use Symfony\Component\Lock\PersistingStoreInterface;

/**
 * A Symfony Lock store on the redis_lock extension, with fair blocking waits.
 *
 * ```php
 * $factory = new LockFactory(new RedisLockStore(new \RedisLock('redis://127.0.0.1:6379')));
 * $lock = $factory->createLock('invoice:42', ttl: 30);
 * $lock->acquire(true);            // waits in arrival order, woken by the release (no polling)
 * ```
 *
 * The token lives in the `Key`'s state (a serialized `Key` restores the lock in another
 * process); `exists()` is true only for that token. Lifetimes follow Symfony: the store never
 * releases a lock by itself (not at request end, not on destruction); `Lock`'s `autoRelease`
 * decides whether its destructor releases. Each save or refresh reduces the `Key`'s lifetime
 * and throws `LockExpiredException` (after deleting) when it has already passed, as Symfony's
 * expiring stores do.
 *
 * Read locks (`$factory->createLock($name)->acquireRead()`) are the extension's shared
 * leases: many readers, never with a writer, one fair line for both. A key that holds the read
 * lock and saves (`acquire()`) is promoted once it is the only reader (else
 * `LockConflictedException`, still a reader); a writer that saves for reading is demoted.
 *
 * Failures of Redis become `LockStorageException` (`LockReleasingException` in `delete()`),
 * with the extension's exception as the previous one.
 */
class RedisLockStore implements BlockingStoreInterface, BlockingSharedLockStoreInterface, PersistingStoreInterface
{
    /** Seconds of one round of waitAndSave()'s wait (see there). */
    public const WAIT_ROUND = 60.0;

    /**
     * @param \RedisLock $lock the extension's client (its `prefix` option applies)
     * @param float $initialTtl seconds a lock is held after save() until putOffExpiration()
     * @throws InvalidTtlException when `$initialTtl` is not a positive number of seconds
     */
    public function __construct(private \RedisLock $lock, private float $initialTtl = 300.0)
    {
        self::checkTtl($initialTtl, __METHOD__);
    }

    /**
     * Takes the lock for this key's token (one attempt), for `$initialTtl` seconds; a read lock
     * this key holds is promoted if it is the only reader.
     */
    public function save(Key $key): void
    {
        $key->reduceLifetime($this->initialTtl);
        if (!$this->take($key, 0.0)) {
            throw new LockConflictedException(sprintf('The "%s" lock is held by someone else.', $key));
        }
        $this->checkNotExpired($key);
    }

    /**
     * Takes a read lock (a share) for this key's token (one attempt), for `$initialTtl`
     * seconds, unless a writer holds the resource or waits for it; a write lock this key holds
     * becomes a read lock.
     */
    public function saveRead(Key $key): void
    {
        $key->reduceLifetime($this->initialTtl);
        if (!$this->takeShared($key, 0.0)) {
            throw new LockConflictedException(sprintf('The "%s" lock is held by a writer.', $key));
        }
        $this->checkNotExpired($key);
    }

    /**
     * Waits in arrival order (writers and readers in one line) until this key's token holds a
     * read lock, then holds it for `$initialTtl` seconds. Waits in rounds as `waitAndSave()`.
     */
    public function waitAndSaveRead(Key $key): void
    {
        while (!$this->takeShared($key, static::WAIT_ROUND)) {
        }
        $key->reduceLifetime($this->initialTtl);
        $this->checkNotExpired($key);
    }

    /**
     * Waits in arrival order until the lock is this key's (woken by the release: no polling),
     * then holds it for `$initialTtl` seconds.
     */
    public function waitAndSave(Key $key): void
    {
        // No end of its own, as Symfony's blocking stores. It waits in rounds of WAIT_ROUND
        // seconds because a wait rides out Redis failures until its deadline: an outage ends a
        // round with a LockStorageException instead of hanging forever. (A wait longer than a
        // round joins the line again at its end.) The lifetime counts from the moment the lock
        // is ours: the claim sets its TTL on the server as the wait ends.
        while (!$this->take($key, static::WAIT_ROUND)) {
        }
        $key->reduceLifetime($this->initialTtl);
        $this->checkNotExpired($key);
    }

    /** Sets the lock's TTL to `$ttl` seconds if this key's token holds it. */
    public function putOffExpiration(Key $key, float $ttl): void
    {
        self::checkTtl($ttl, __METHOD__);
        $key->reduceLifetime($ttl);
        try {
            $held = Ownership::extend($this->lock, (string) $key, $this->token($key), self::serverTtl($ttl));
        } catch (\RedisLockException $e) {
            throw new LockStorageException(sprintf('Failed to put off the expiration of the "%s" lock: %s', $key, $e->getMessage()), 0, $e);
        }
        if (!$held) {
            throw new LockConflictedException(sprintf('The "%s" lock is not held by this key any more.', $key));
        }
        $this->checkNotExpired($key);
    }

    /** Releases the lock if this key's token holds it (the next waiter gets it at once). */
    public function delete(Key $key): void
    {
        if (!$key->hasState(self::class)) {
            return;
        }
        try {
            Ownership::release($this->lock, (string) $key, $this->token($key));
        } catch (\RedisLockException $e) {
            throw new LockReleasingException(sprintf('Failed to release the "%s" lock: %s', $key, $e->getMessage()), 0, $e);
        }
    }

    /** Whether this key's token holds the lock (asks Redis). */
    public function exists(Key $key): bool
    {
        if (!$key->hasState(self::class)) {
            return false;
        }
        try {
            return Ownership::holds($this->lock, (string) $key, $this->token($key));
        } catch (\RedisLockException $e) {
            throw new LockStorageException(sprintf('Failed to check the "%s" lock: %s', $key, $e->getMessage()), 0, $e);
        }
    }

    private function take(Key $key, float $wait): bool
    {
        try {
            return Ownership::takeExclusive($this->lock, (string) $key, $this->token($key), self::serverTtl($this->initialTtl), $wait);
        } catch (\RedisLockException $e) {
            throw new LockStorageException(sprintf('Failed to acquire the "%s" lock: %s', $key, $e->getMessage()), 0, $e);
        }
    }

    private function takeShared(Key $key, float $wait): bool
    {
        try {
            return Ownership::takeShared($this->lock, (string) $key, $this->token($key), self::serverTtl($this->initialTtl), $wait);
        } catch (\RedisLockException $e) {
            throw new LockStorageException(sprintf('Failed to acquire the "%s" read lock: %s', $key, $e->getMessage()), 0, $e);
        }
    }

    /** @throws InvalidTtlException unless `$ttl` is a positive number of seconds up to 1e9 */
    private static function checkTtl(float $ttl, string $method): void
    {
        if (!($ttl > 0 && $ttl <= Ownership::NO_EXPIRY)) {
            throw new InvalidTtlException(sprintf('"%s()" expects a TTL greater than 0 and at most 1e9 seconds, %s given.', $method, var_export($ttl, true)));
        }
    }

    /**
     * The TTL the server keeps: whole milliseconds, rounded up (as Symfony's RedisStore does),
     * so a TTL under 1 ms is 1 ms and the key's lifetime, already reduced by the exact TTL,
     * reports the expiry.
     */
    private static function serverTtl(float $ttl): float
    {
        return min(ceil($ttl * 1000) / 1000, Ownership::NO_EXPIRY);
    }

    /** This key's token, made on first use and kept in its state (serialized with it). */
    private function token(Key $key): string
    {
        if (!$key->hasState(self::class)) {
            $key->setState(self::class, base64_encode(random_bytes(32)));
        }
        return $key->getState(self::class);
    }

    /** As Symfony's expiring stores: a lock whose key's lifetime has passed is deleted. */
    private function checkNotExpired(Key $key): void
    {
        if (!$key->isExpired()) {
            return;
        }
        try {
            $this->delete($key);
        } catch (\Exception) {
            // the expiry is the failure to report; the TTL frees the lock
        }
        throw new LockExpiredException(sprintf('Failed to store the "%s" lock.', $key));
    }
}
