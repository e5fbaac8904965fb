<?php

/**
 * A held lock: returned by {@see RedisLock::lock()} and {@see RedisLock::restore()}, passed to
 * the callback of {@see RedisLock::synchronized()}. It cannot be created with `new`, cloned or
 * serialized.
 *
 * A lease cannot be lost silently: if its lock expires or is taken over, `extend()` and
 * `release()` return false (or throw {@see RedisLockLostException} with the `strict` option)
 * and `isHeld()` returns false; another owner's lock is never touched. It is released when you
 * call `release()`, when the object is destroyed, or at the end of the request (also after an
 * uncaught exception, a fatal error or `exit()`), but never by a `pcntl_fork()` child of the
 * process that took it.
 *
 * The fencing token protects against the one failure no lock can prevent on its own: a holder
 * that pauses (GC, SIGSTOP, a slow disk) past its TTL and then writes after a new owner took
 * over. Pass `fence()` along with every write and let the storage reject old fences:
 *
 * ```php
 * $lease = $lock->lock('account:7', wait: 5) ?? throw new RuntimeException('busy');
 * $pdo->prepare('UPDATE accounts SET balance = ?, fence = ? WHERE id = 7 AND fence < ?')
 *     ->execute([$balance, $lease->fence(), $lease->fence()]);   // 0 rows: a newer owner wrote
 * $lease->release();
 * ```
 */
final class RedisLockLease
{
    /** Leases come from {@see RedisLock::lock()} and {@see RedisLock::restore()}. */
    private function __construct() {}

    /**
     * The lock's name, as given to `lock()` (without the `prefix` option).
     */
    public function key(): string {}

    /**
     * The lease's token: its proof of ownership in Redis. Whoever has it can release the lock;
     * pass it only to the process that will {@see RedisLock::restore()} the lease. A UUID for
     * leases from `lock()` without a `$token`; the exact bytes given otherwise.
     */
    public function token(): string {}

    /**
     * The fencing token: an integer assigned atomically with the acquisition, strictly greater
     * than that of every earlier acquisition of the same key. It is at least the Redis server's
     * clock in microseconds (a 16-digit number: store it as BIGINT), so it stays above every
     * earlier fence even when Redis loses its counters (eviction, a restart without
     * persistence), as long as the server's clock does not step back. 0 for a shared lease
     * ({@see RedisLock::lockShared()}): readers get no fence; 0 for a semaphore permit
     * ({@see RedisLock::permit()}): N holders at once have no single order a fence could keep.
     *
     * A lease on a Redlock quorum (`new RedisLock([...])`) has none: independent servers cannot
     * hand out one strictly increasing number, which needs a single authority ordering every
     * holder (Kleppmann's critique of Redlock).
     *
     * @throws RedisLockException on a quorum lease, saying so
     */
    public function fence(): int {}

    /**
     * True for a shared (read) lease, from {@see RedisLock::lockShared()}; false for an
     * exclusive one, from {@see RedisLock::lock()}. A shared lease's fence is 0.
     */
    public function isShared(): bool {}

    /**
     * True for a semaphore permit, from {@see RedisLock::permit()}. A permit's fence is 0, it
     * is neither shared nor exclusive, and {@see RedisLockLease::promote()} and
     * {@see RedisLockLease::demote()} throw {@see RedisLockException} for it.
     */
    public function isPermit(): bool {}

    /**
     * Read → write: turns this shared lease into the exclusive one, with a fresh fence and the
     * share's remaining TTL, as soon as it is the only reader. While it waits (up to `$wait`
     * seconds) for the other readers to release, no new reader enters, and writers already
     * waiting stay behind it. If the other readers still hold their shares when the wait ends,
     * it returns false and this lease is still a shared one (a reader). Two readers promoting
     * at once wait for each other until one's wait ends, so both can fail: when in doubt,
     * release and call {@see RedisLock::lock()} instead. For a lease that is already exclusive:
     * whether it is still held.
     *
     * @param float $wait seconds to wait for the other readers; 0 for a single attempt
     * @return bool true if this lease is now the exclusive one; false if other readers
     *         remained, or the lease was lost (strict mode: an exception then)
     * @throws RedisLockLostException in strict mode, if the share was lost
     * @throws RedisLockException for a semaphore permit
     */
    public function promote(float $wait = 0.0): bool {}

    /**
     * Write → read: turns this exclusive lease into a shared one with the lock's remaining TTL
     * (its fence becomes 0), and lets in the readers that were waiting at the head of the line.
     * A writer that was waiting first still waits, now for this share too. For a lease that is
     * already shared: whether it is still held.
     *
     * @return bool true if this lease is now a shared one; false if it was lost (strict mode:
     *         an exception then)
     * @throws RedisLockLostException in strict mode, if the lease was lost
     * @throws RedisLockException for a semaphore permit, or on a Redlock quorum lease (no
     *         shared leases there)
     */
    public function demote(): bool {}

    /**
     * Sets the lock's TTL to `$ttl` seconds if this lease still holds it (owner-checked and
     * atomic). Never extends someone else's lock.
     *
     * @param float $ttl seconds from now, kept to the millisecond
     * @return bool false if the lease was lost (or released, or detached)
     * @throws RedisLockLostException in strict mode, when the lease was lost
     * @throws RedisLockReplicationException with the `replicas` option, when fewer replicas
     *         acknowledged the extension: the lease is still held (with the new TTL on the
     *         master) but {@see RedisLockLease::isAtRisk()} is now true
     * @throws ValueError for a ttl out of range
     * @throws RedisLockException when Redis cannot be asked
     */
    public function extend(float $ttl): bool {}

    /**
     * With the `replicas` option: whether the last renewal of this lease (by the watchdog, or
     * {@see RedisLockLease::extend()}) was acknowledged by fewer replicas than asked for. The
     * lease is still held on the master, but a replica promoted by a failover now may only
     * have an older, shorter TTL, so the lock could expire there earlier than you expect.
     * Cleared by the next renewal that is acknowledged. Always false without `replicas`. No
     * network I/O.
     *
     * ```php
     * if ($lease->isAtRisk()) {
     *     $log->warning('lock renewal not on the replicas yet');   // or checkpoint your work
     * }
     * ```
     */
    public function isAtRisk(): bool {}

    /**
     * Whether this lease still holds its lock (asks Redis).
     *
     * @throws RedisLockException when Redis cannot be asked
     */
    public function isHeld(): bool {}

    /**
     * Seconds the lock has left (asks Redis): 0.0 when the lease no longer holds it.
     *
     * @throws RedisLockException when Redis cannot be asked
     */
    public function remaining(): float {}

    /**
     * Releases the lock if this lease still holds it; the next waiter, if any, gets it at once.
     *
     * @return bool true if it was released; false if it had been lost (expired, taken over) or
     *         was already released
     * @throws RedisLockLostException in strict mode, when the lease was lost
     * @throws RedisLockConnectionException when Redis cannot be reached, or the connection
     *         broke after the release was sent and a second try found nothing to release (the
     *         outcome is unknown: never a false that might be wrong)
     * @throws RedisLockException when Redis cannot be asked
     */
    public function release(): bool {}

    /**
     * Hands the lease to another process: this one stops renewing it and will not release it
     * (at request end or destruction). The lock stays held until its TTL unless the other
     * process calls {@see RedisLock::restore()} with the key and the returned token, then
     * extends or releases it.
     *
     * @return string the token to pass on
     */
    public function detach(): string {}

    /**
     * What `var_dump()` shows: key, the token's first 8 characters, fence, whether the watchdog
     * renews it, its status (`held`, `released`, `lost`, `detached`, or `abandoned`: its
     * release at request end failed and it was left to its TTL), and `atRisk`
     * ({@see RedisLockLease::isAtRisk()}); on a quorum, `fence` is null and `quorum` true.
     *
     * @return array{key: string, token: string, fence: int|null, quorum?: bool, shared: bool, watchdog: bool, status: string, atRisk: bool}
     */
    public function __debugInfo(): array {}
}
