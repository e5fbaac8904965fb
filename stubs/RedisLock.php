<?php

/**
 * IDE stubs for the redis_lock extension (https://github.com/ — see README.md).
 * Not loaded at run time: the extension defines these classes natively.
 * php-tests/StubsTest.php proves these declarations match the loaded extension.
 */

/**
 * A distributed lock on Redis: the API of the classic PHP recipe (`SET NX EX` to take, a Lua
 * compare-and-delete to release), made safe and fast in native code.
 *
 * One native connection per server (address, credentials, database) per process is shared by
 * every `RedisLock` object of that server, whatever its timeouts, and kept across requests
 * (PHP-FPM workers live for many requests), so create objects freely: the constructor does no
 * network I/O. A process made by `pcntl_fork()` opens its own connection.
 *
 * Lock names are binary-safe, but a full name (prefix + key) may not start with `!rl`: the
 * lock's own bookkeeping keys (fence counters, wait queues) live there, out of reach of any
 * lock name (a `ValueError` says so).
 *
 * ```php
 * $lock  = new RedisLock('redis://127.0.0.1:6379', ['prefix' => 'shop:']);
 * $token = RedisLock::token();                    // your value: only you can release your lock
 * if ($lock->acquire('order:42', $token, 10)) {   // held for at most 10 seconds
 *     try {
 *         // ... critical section ...
 *     } finally {
 *         $lock->release('order:42', $token);     // deletes it only if it is still yours
 *     }
 * }
 * ```
 *
 * A subclass that defines `__construct()` must call `parent::__construct()`: until the
 * constructor has run (also for an object made by `ReflectionClass::newInstanceWithoutConstructor()`)
 * every method throws an {@see Error} that says so, and `var_dump()` shows `state` =>
 * `"not initialised: …"`.
 */
class RedisLock
{
    /** The extension's version (also `phpversion('redis_lock')`). */
    public const VERSION = '0.1.0';

    /**
     * Validates the DSN and the options. Does no network I/O: the first command connects.
     *
     * DSN forms: `redis://[user:password@]host[:port][/database]` (IPv6 as `redis://[::1]:6379`),
     * `unix:///path/to/redis.sock[?db=N&user=U&pass=P]` (also `redis+unix://`), over TLS
     * `rediss://[user:password@]host[:port][/database]` (also `valkeys://`; see the `ssl`
     * option), a master behind Redis Sentinel:
     * `redis+sentinel://[user:password@]host1[:port1][,host2[:port2]…]/SERVICE[/database]`
     * (sentinel port 26379 by default; the user and password are the master's, the sentinels'
     * own go in the query: `?sentinelUsername=U&sentinelPassword=P`; over TLS to the sentinels
     * and the master: `rediss+sentinel://`, with the `ssl` option), a Redis Cluster:
     * `redis+cluster://[user:password@]host1[:port1][,host2[:port2]…]` (any nodes as seeds,
     * port 6379 by default, database 0 only; over TLS to every node: `rediss+cluster://`), and
     * for tests
     * `memory://` or `memory://NAME`: an in-process backend with the same semantics, no server
     * needed, one process only (see {@see RedisLockMemory}).
     *
     * An array of DSNs is a Redlock quorum of independent deployments (each element any of the
     * forms above but `memory://`; 3 or 5 of them): a lock is held while a majority of them
     * hold it, taken within its validity time (TTL − elapsed − clock drift of TTL × 1 % + 2 ms)
     * by writing to every member at once and collecting the replies under one deadline. The
     * options apply to every member. A quorum lease has no fencing token
     * ({@see RedisLockLease::fence()} throws), there are no shared leases, no `replicas`
     * option, and waits retry with a random 20–80 ms pause instead of queueing in FIFO order;
     * `isLocked()`/`ttl()` answer for the majority. An empty array, a `memory://` element or
     * the same server twice is a `ValueError`, an element that is not a string a `TypeError`.
     * See README.md, "Redlock quorum", for its safety caveats.
     *
     * ```php
     * $lock = new RedisLock(['redis://10.0.0.1', 'redis://10.0.0.2', 'redis://10.0.0.3']);
     * ```
     *
     * Percent-encode special characters
     * in the user name and password. The password is never shown in messages, traces (the
     * parameter is `#[\SensitiveParameter]`), `var_dump()` or `phpinfo()`.
     *
     * Options (each optional):
     * - `connectTimeout` (int|float, seconds, default 1.0): how long connecting may take.
     * - `readTimeout` (int|float, seconds, default 1.0): how long to wait for a reply (and for a
     *   write to be accepted). A call that times out throws {@see RedisLockTimeoutException}.
     * - `prefix` (string, default ''): prepended to every key; may not start with `!rl`.
     * - `database` (int >= 0): the database to `SELECT`; overrides the DSN's (0 only for a
     *   cluster).
     * - `leaseTtl` (int|float, seconds, default 30): the TTL of a watchdog lease (one taken by
     *   {@see RedisLock::lock()} without a TTL); the watchdog renews it every third of this.
     * - `maxLifetime` (int|float, seconds, default 0 = no limit): a watchdog lease older than
     *   this is no longer renewed, so a stuck worker cannot hold a lock forever.
     * - `strict` (bool, default false): a lost lease makes `extend()` and `release()` throw
     *   {@see RedisLockLostException} instead of returning false.
     * - `replicas` (int from 0 to 1000, default 0 = off): how many replicas must acknowledge
     *   every write that grants or extends a lock (`acquire()`, `retryAcquire()`, `lock()`,
     *   `synchronized()`, `extend()`, the watchdog's renewals), by a Redis `WAIT` sent in the
     *   same write, on the same connection. A grant acknowledged by fewer is released and
     *   {@see RedisLockReplicationException} is thrown; an extension so acknowledged throws it
     *   too, but the lease stays held and {@see RedisLockLease::isAtRisk()} turns true (a
     *   watchdog renewal only sets that flag). Releases do not wait. Not for `memory://`
     *   (`ValueError`: it has no replicas). `WAIT` is not consensus: see README.md.
     * - `replicaTimeout` (int|float, seconds, default 0.1): how long `WAIT` waits for the
     *   replicas. With `replicas`, it must be at most half of `readTimeout` (`ValueError`): the
     *   reply to `WAIT` comes up to this long after the lock command's.
     * - `ssl` (array, `rediss://`, `rediss+sentinel://` and `rediss+cluster://` only):
     *   certificates and verification
     *   (for Sentinel: of the sentinels and the master, whose certificate is checked against the
     *   host the sentinels announce unless `peer_name` is given), under the names of PHP's
     *   SSL context options (as phpredis and `stream_context_create(['ssl' => ...])` take them):
     *   - `cafile` (string): PEM file of the CAs to trust (default: the system's trust store);
     *   - `local_cert` (string): PEM file of the client certificate (then its chain; it may
     *     also hold the key);
     *   - `local_pk` (string): PEM file of the client's private key, if not in `local_cert`;
     *   - `passphrase` (string): decrypts an encrypted private key;
     *   - `verify_peer` (bool, default true): verify the server's certificate chain;
     *   - `verify_peer_name` (bool, default true): verify that the certificate names
     *     `peer_name` (checked even when `verify_peer` is false, as PHP does);
     *   - `peer_name` (string, default: the DSN's host): the name to verify and send as SNI.
     *   The connect timeout covers the TCP connect and the TLS handshake. An unknown name is a
     *   `ValueError`, a value of the wrong type a `TypeError`. A file that cannot be read, a key
     *   the passphrase does not decrypt or a certificate that fails verification throws
     *   {@see RedisLockConnectionException} at the first command, naming the entry, never its
     *   path or the passphrase (the parameter is `#[\SensitiveParameter]`).
     *
     * ```php
     * $lock = new RedisLock('rediss://redis.internal:6380', ['ssl' => [
     *     'cafile'     => '/etc/redis/ca.pem',
     *     'local_cert' => '/etc/redis/client.pem',
     *     'local_pk'   => '/etc/redis/client.key',
     * ]]);
     * ```
     *
     * Connections are shared between objects of the same server (address, user, password,
     * database, `ssl` settings); each call uses its own object's timeouts.
     *
     * @param string|list<string> $dsn where Redis listens, or a quorum of independent servers
     * @param array{connectTimeout?: int|float, readTimeout?: int|float, prefix?: string, database?: int, leaseTtl?: int|float, maxLifetime?: int|float, strict?: bool, replicas?: int, replicaTimeout?: int|float, ssl?: array{cafile?: string, local_cert?: string, local_pk?: string, passphrase?: string, verify_peer?: bool, verify_peer_name?: bool, peer_name?: string}} $options
     * @throws ValueError for a malformed DSN, an unknown option or an out-of-range value
     * @throws TypeError for an option of the wrong type, or a quorum element that is no string
     */
    public function __construct(#[\SensitiveParameter] string|array $dsn = 'redis://127.0.0.1:6379', #[\SensitiveParameter] array $options = []) {}

    /**
     * Takes the lock `$key` for `$value` for at most `$expireTime` seconds, in one round trip
     * (`SET key value NX GET PX ms`).
     *
     * Returns true if `$value` holds the lock afterwards: newly taken, or already held by
     * `$value` (then its TTL is reset to `$expireTime`, which is what makes a retry after a
     * lost reply safe). Returns false if another value holds it; that lock and its TTL are
     * left untouched.
     *
     * ```php
     * $token = RedisLock::token();
     * if (!$lock->acquire('report:daily', $token, 300)) {
     *     exit('another worker is building the report');
     * }
     * ```
     *
     * @param string $key the lock's name (binary-safe; the `prefix` option is prepended)
     * @param string $value the owner's secret, e.g. {@see RedisLock::token()} (binary-safe)
     * @param float $expireTime seconds (int or float), kept to the millisecond; at least 0.001
     * @return bool true if `$value` holds the lock
     * @throws ValueError for an empty key or value, a key or value starting with the reserved `!rl`
     *         (prefix included), or an expire time that is not a finite number of seconds
     *         from 0.001 to 1e9
     * @throws RedisLockConnectionException when Redis cannot be reached
     * @throws RedisLockTimeoutException when Redis does not answer within `readTimeout`: the
     *         outcome is unknown; call acquire() again with the same value to learn it
     * @throws RedisLockServerException when Redis answers with an error (e.g. WRONGTYPE)
     * @throws RedisLockReplicationException with the `replicas` option, when fewer replicas
     *         acknowledged the lock: it has been released again
     */
    public function acquire(string $key, string $value, float $expireTime): bool {}

    /**
     * {@see RedisLock::acquire()} up to `1 + $maxRetries` times, sleeping `$retryInterval`
     * seconds between attempts (never after the last).
     *
     * As the recipe this API comes from requires, `$retryInterval × $maxRetries` must not
     * exceed `$expireTime` (compared in whole milliseconds: `0.3, 3, 0.1` is accepted).
     *
     * ```php
     * // up to 5 attempts, 2 s apart, for a lock held at most 10 s
     * if ($lock->retryAcquire('import', $token, 10, 4, 2)) { ... }
     * ```
     *
     * @param string $key the lock's name
     * @param string $value the owner's secret
     * @param float $expireTime seconds the lock is held at most, kept to the millisecond
     * @param int $maxRetries attempts after the first one, 0 or more
     * @param float $retryInterval seconds between attempts, 0 or more
     * @return bool true as soon as an attempt takes the lock; false after the last failed one
     * @throws ValueError for bad arguments, or when `$retryInterval × $maxRetries` exceeds
     *         `$expireTime`
     * @throws RedisLockConnectionException when Redis cannot be reached
     * @throws RedisLockTimeoutException when Redis does not answer within `readTimeout`
     * @throws RedisLockServerException when Redis answers with an error
     * @throws RedisLockReplicationException with the `replicas` option, when fewer replicas
     *         acknowledged the attempt that took the lock: it has been released again (no
     *         further attempt is made)
     */
    public function retryAcquire(string $key, string $value, float $expireTime, int $maxRetries, float $retryInterval): bool {}

    /**
     * Deletes the lock `$key` if and only if `$value` holds it: an atomic compare-and-delete
     * (a Lua script run by EVALSHA).
     *
     * @param string $key the lock's name
     * @param string $value the value it was acquired with
     * @return bool true if `$value` held the lock and it is now deleted; false if it had expired
     *         or belongs to someone else (whose lock stays untouched)
     * @throws ValueError for an empty key or value, a reserved key, or a value starting with `!rl`
     * @throws RedisLockConnectionException when Redis cannot be reached; also when the
     *         connection broke after the release was sent and a second try found nothing to
     *         release: the first may have released it, so the outcome is unknown (never a
     *         false that might be wrong)
     * @throws RedisLockTimeoutException when Redis does not answer within `readTimeout`: the
     *         outcome is unknown
     * @throws RedisLockServerException when Redis answers with an error
     */
    public function release(string $key, string $value): bool {}

    /**
     * Takes a lease on `$key`: a held lock with a token and a fencing token, released when you
     * call `release()`, when the lease object is destroyed, or at the end of the request, even
     * after an uncaught exception, a fatal error or `exit()` (never by a `pcntl_fork()` child).
     *
     * With `$ttl = null` it is a watchdog lease: held for `leaseTtl` seconds (default 30) and
     * renewed by a background thread every third of that for as long as it is held and the
     * process lives (up to `maxLifetime`). With a `$ttl` it expires after `$ttl` seconds unless
     * extended.
     *
     * With `$wait > 0` it waits up to `$wait` seconds, in arrival order (first come, first
     * served: no starvation). A release hands the lock straight to the next waiter, who is
     * woken at once (no polling) and claims it; a holder that dies without releasing wakes the
     * waiters when its TTL runs out, and a waiter that dies in line (SIGKILL, FPM's
     * `request_terminate_timeout`) holds the others up for at most about 2 s. Inside the wait,
     * lost connections, timeouts and a busy or restarting server are ridden out until the
     * deadline; an exception means Redis did not answer by then.
     *
     * The lease's token is a fresh UUID unless you pass `$token`: an owner you chose (a job's
     * id, Laravel's lock owner), so that another process can {@see RedisLock::restore()} it
     * without being told. Keep such a token secret and unique per holder: whoever has it can
     * release the lock. A lock that `$token` already holds is kept and its TTL reset (as
     * {@see RedisLock::acquire()} does with its value); two callers waiting with the same
     * token share one place in line.
     *
     * ```php
     * $lease = $lock->lock('invoice:42', wait: 5);      // watchdog lease, wait up to 5 s
     * if ($lease === null) {
     *     throw new RuntimeException('busy');
     * }
     * try {
     *     $db->update('... WHERE id = 42 AND fence < ?', [$lease->fence()]);
     * } finally {
     *     $lease->release();
     * }
     *
     * $lease = $lock->lock('import', 60, token: $jobId);  // another worker can restore('import', $jobId)
     * ```
     *
     * @param string $key the lock's name
     * @param float|null $ttl seconds, kept to the millisecond; null for a watchdog lease
     * @param float $wait seconds to wait for the lock; 0 for a single attempt
     * @param string|null $token the owner's secret (binary-safe, not empty); null for a fresh UUID
     * @return RedisLockLease|null null if someone else still held the lock when the wait ended
     * @throws ValueError for an empty or reserved key, an empty token or one starting with `!rl`, or a ttl or wait out of
     *         range
     * @throws RedisLockConnectionException when Redis cannot be reached
     * @throws RedisLockTimeoutException when Redis does not answer within `readTimeout`
     * @throws RedisLockServerException when Redis answers with an error
     * @throws RedisLockReplicationException with the `replicas` option, when fewer replicas
     *         acknowledged the write that gave this lease the lock: it has been released again
     *         (to the next waiter, if any)
     */
    public function lock(string $key, ?float $ttl = null, float $wait = 0.0, ?string $token = null): ?RedisLockLease {}

    /**
     * Exclusive leases on several keys at once, all or none, held by one token: a caller that
     * gets the multi-lease holds every key; one that gets null holds none of them.
     *
     * The keys are taken in one global order (by Redis Cluster hash slot, then by name), so
     * two callers locking overlapping sets never deadlock, with each other or with `lock()`
     * callers. Keys that one script can reach together are taken in one round trip, atomically:
     * all keys on a single server, behind Sentinel and on `memory://`; the keys of one hash
     * slot on a Redis Cluster (use a `{tag}` to put keys in one slot). A key is free for it
     * only when nobody holds it (no writer, no reader) and nobody is queued for it: it never
     * jumps ahead of `lock()` callers already waiting. With `$wait`, keys found busy are
     * waited for one by one in that order, in line with the other waiters, holding the keys
     * already taken; if the wait ends first, every key taken is released and the result is
     * null. Each key gets its full TTL when the call returns.
     *
     * Each key has its own fence ({@see RedisLockMultiLease::fences()}). A watchdog lease
     * (`$ttl` null) renews every key; every key is released by
     * {@see RedisLockMultiLease::release()}, when the object is destroyed, or at the end of the
     * request, like `lock()`'s leases.
     *
     * ```php
     * $lease = $lock->lockMany(['account:7', 'account:9'], wait: 5)
     *     ?? throw new RuntimeException('busy');
     * try {
     *     $fences = $lease->fences();                   // ['account:7' => ..., 'account:9' => ...]
     *     // move money from account 7 to account 9
     * } finally {
     *     $lease->release();
     * }
     * ```
     *
     * @param list<string> $keys the locks' names: 1 to 64, distinct (values are used, keys ignored)
     * @param float|null $ttl seconds, kept to the millisecond; null for watchdog leases
     * @param float $wait seconds to wait for all of them; 0 for a single attempt
     * @return RedisLockMultiLease|null null if not every key was free by the end of the wait
     *         (then none is held)
     * @throws ValueError for an empty array, more than 64 keys, a key given twice, an empty or
     *         reserved key, or a ttl or wait out of range
     * @throws TypeError for a value that is not a string
     * @throws RedisLockConnectionException when Redis cannot be reached
     * @throws RedisLockTimeoutException when Redis does not answer within `readTimeout`
     * @throws RedisLockServerException when Redis answers with an error
     * @throws RedisLockReplicationException with the `replicas` option, when fewer replicas
     *         acknowledged the write that took the keys: they have been released again
     */
    public function lockMany(array $keys, ?float $ttl = null, float $wait = 0.0): ?RedisLockMultiLease {}

    /**
     * Takes a shared (read) lease on `$key`: many readers hold one together, never while a
     * writer holds `$key` with {@see RedisLock::lock()} (the same key space: `lock('k')`
     * excludes and is excluded by `lockShared('k')`). Fair with writers: readers and writers
     * wait in one arrival-order line, and a reader arriving after a queued writer waits behind
     * it, so a stream of readers never starves a writer; readers queued together enter
     * together when the writer ahead of them leaves.
     *
     * Each reader's lease expires on its own: a reader that crashes frees its share after its
     * TTL. A watchdog lease (`$ttl` null) is renewed by the watchdog; every shared lease is
     * released at request end, like `lock()`'s. A shared lease has no fence
     * ({@see RedisLockLease::fence()} returns 0): fences guard writes, and readers write
     * nothing. While readers hold `$key` (and no writer does), the key holds the reserved value
     * `!rl:shared` until the latest share expires, so {@see RedisLock::isLocked()} is true,
     * {@see RedisLock::ttl()} tells the longest share's time left, and
     * {@see RedisLock::acquire()} returns false (contention) as for any other holder;
     * {@see RedisLock::forceRelease()} drops readers' shares too. Values and tokens starting
     * with `!rl` are refused (ValueError).
     *
     * A shared lease can become the exclusive one with {@see RedisLockLease::promote()}, and
     * back with {@see RedisLockLease::demote()}. With a `$token` of your choosing, as for
     * `lock()`, another process that knows it can {@see RedisLock::restore()} the share; a share
     * the token already holds is kept and its TTL reset.
     *
     * ```php
     * $lease = $lock->lockShared('catalog', wait: 5);
     * if ($lease === null) {
     *     throw new RuntimeException('a writer held it too long');
     * }
     * try {
     *     $rows = $db->select('...');
     * } finally {
     *     $lease->release();
     * }
     * ```
     *
     * @param string $key the lock's name
     * @param float|null $ttl seconds, kept to the millisecond; null for a watchdog lease
     * @param float $wait seconds to wait; 0 for a single attempt
     * @param string|null $token hold the share with this token (binary-safe, not empty, not
     *        starting with `!rl`) instead of a fresh UUID
     * @return RedisLockLease|null null if a writer still held the lock, or was ahead in line,
     *         when the wait ended
     * @throws ValueError for an empty or reserved key or token, or a ttl or wait out of range
     * @throws RedisLockConnectionException when Redis cannot be reached
     * @throws RedisLockTimeoutException when Redis does not answer within `readTimeout`
     * @throws RedisLockServerException when Redis answers with an error
     * @throws RedisLockException on a Redlock quorum (shared leases need a single server)
     */
    public function lockShared(string $key, ?float $ttl = null, float $wait = 0.0, ?string $token = null): ?RedisLockLease {}

    /**
     * Takes one of the `$permits` permits of the semaphore `$name`: at most `$permits` holders
     * at once. Each permit is a lease ({@see RedisLockLease}) of its own: owner-checked, with
     * its own TTL (`$ttl` seconds) or renewed by the watchdog (`$ttl` null), released at request
     * end, extendable ({@see RedisLockLease::extend()}) and releasable
     * ({@see RedisLockLease::release()}); a holder that crashes frees its permit after its TTL.
     * Waiters are served in arrival order (FIFO, no polling): a release hands its permit
     * straight to the first waiter, and a newcomer never overtakes the line.
     *
     * Pass the same `$permits` on every call for one semaphore: it is stored with the live
     * permits, and a call with another count while any permit is held throws
     * {@see RedisLockConflictException} naming both numbers; once every permit is gone (released
     * or expired) the count goes too, and the next call may set another.
     *
     * Semaphore names live in their own key space (a semaphore `x` and a lock `x` are
     * independent; every key of a semaphore is in one Redis Cluster hash slot) and follow the
     * rules of lock names (binary-safe, not empty, prefix + name not starting with `!rl`). A
     * permit's {@see RedisLockLease::fence()} is 0 (N holders at once have no single order);
     * {@see RedisLockLease::isPermit()} is true, and it cannot be promoted or demoted. A permit
     * cannot be taken over by {@see RedisLock::restore()} (which restores locks): a detached
     * permit is held until its TTL. Works on `memory://` too (the same scripts).
     *
     * ```php
     * $permit = $lock->permit('pdf-renderer', 3, ttl: 60, wait: 10);
     * if ($permit === null) {
     *     throw new RuntimeException('all three renderers stayed busy');
     * }
     * try {
     *     render();
     * } finally {
     *     $permit->release();
     * }
     * ```
     *
     * @param string $name the semaphore's name
     * @param int $permits how many holders at once, 1 to 1,000,000; the same on every call
     * @param float|null $ttl seconds, kept to the millisecond; null for a watchdog lease
     * @param float $wait seconds to wait; 0 for a single attempt
     * @return RedisLockLease|null null if every permit was still held (or others were ahead in
     *         line) when the wait ended
     * @throws ValueError for an empty or reserved name, a count, ttl or wait out of range
     * @throws RedisLockConflictException if the semaphore's permits are held with another count
     * @throws RedisLockConnectionException when Redis cannot be reached
     * @throws RedisLockTimeoutException when Redis does not answer within `readTimeout`
     * @throws RedisLockServerException when Redis answers with an error
     */
    public function permit(string $name, int $permits, ?float $ttl = null, float $wait = 0.0): ?RedisLockLease {}

    /**
     * How many permits of the semaphore `$name` are held now (expired ones do not count). A
     * caller passing `$permits` to {@see RedisLock::permit()} finds `$permits - permitsHeld()`
     * available (those may already be promised to waiters in line).
     *
     * @param string $name the semaphore's name
     * @return int the number of live permits
     * @throws ValueError for an empty or reserved name
     * @throws RedisLockException when Redis cannot be asked
     */
    public function permitsHeld(string $name): int {}

    /**
     * Runs `$callback($lease)` under a lease on `$key` and releases it afterwards in every case
     * (return, exception, `exit()`; after a fatal error, at request end). Returns what the
     * callback returns; the callback's exceptions reach the caller unchanged.
     *
     * ```php
     * $total = $lock->synchronized('report', function (RedisLockLease $lease) {
     *     return buildReport();
     * }, wait: 30);
     * ```
     *
     * @param string $key the lock's name
     * @param callable(RedisLockLease): mixed $callback the critical section
     * @param float|null $ttl seconds, or null for a watchdog lease
     * @param float $wait seconds to wait for the lock
     * @return mixed what `$callback` returned
     * @throws RedisLockConflictException when the lock was still held by someone else after
     *         `$wait` seconds (the callback did not run)
     * @throws RedisLockLostException in strict mode, when the lease was lost before the release
     * @throws ValueError for an empty or reserved key, or a ttl or wait out of range
     * @throws RedisLockConnectionException when Redis cannot be reached
     * @throws RedisLockTimeoutException when Redis does not answer within `readTimeout`
     * @throws RedisLockServerException when Redis answers with an error
     * @throws RedisLockReplicationException with the `replicas` option, when fewer replicas
     *         acknowledged the lock (released again; the callback did not run)
     */
    public function synchronized(string $key, callable $callback, ?float $ttl = null, float $wait = 10.0): mixed {}

    /**
     * Takes over a lease from another process: the one that got it called
     * {@see RedisLockLease::detach()} and passed you the key and token (for example in a queued
     * job). The restored lease keeps the lock's remaining TTL (no watchdog) and its fence;
     * extend it as needed. It is released by this process from now on (request end,
     * destruction). A lock taken with {@see RedisLock::acquire()} carries no fence: restoring
     * it gives it a fresh one, above every earlier fence of the key. A detached shared lease
     * ({@see RedisLock::lockShared()}) comes back as a shared one (fence 0).
     *
     * @param string $key the lock's name, as given to lock()
     * @param string $token the lease's token (binary-safe: any value acquire() took)
     * @throws RedisLockLostException when `$token` holds neither the lock nor a share of it
     *         (it expired, or was released or taken over)
     * @throws ValueError for an empty or reserved key, or an empty token or one starting with `!rl`
     * @throws RedisLockConnectionException when Redis cannot be reached
     * @throws RedisLockTimeoutException when Redis does not answer within `readTimeout`
     * @throws RedisLockServerException when Redis answers with an error
     */
    public function restore(string $key, string $token): RedisLockLease {}

    /**
     * Whether anyone holds the lock `$key` (any API: lease or acquire()).
     *
     * @throws ValueError for an empty or reserved key
     * @throws RedisLockException when Redis cannot be asked
     */
    public function isLocked(string $key): bool {}

    /**
     * Seconds the lock `$key` has left.
     *
     * @return float|null null when nobody holds it; INF when it was set without a TTL
     * @throws ValueError for an empty or reserved key
     * @throws RedisLockException when Redis cannot be asked
     */
    public function ttl(string $key): ?float {}

    /**
     * Deletes the lock `$key` whoever holds it, and wakes the first waiter. For operators
     * (stuck jobs, maintenance): the former holder's lease reports lost on its next call.
     *
     * @return bool true if there was a lock to delete
     * @throws ValueError for an empty or reserved key
     * @throws RedisLockConnectionException when Redis cannot be reached, or the connection
     *         broke after the command was sent and a second try found nothing to delete (the
     *         outcome is unknown)
     * @throws RedisLockException when Redis cannot be asked
     */
    public function forceRelease(string $key): bool {}

    /**
     * A fresh random UUID v4 (36 characters), to use as a lock value.
     *
     * @return string e.g. `"0c6e9d8a-3f0b-4c1e-9a52-7d1f0e4b2a61"`
     */
    public static function token(): string {}

    /**
     * What `var_dump()` and `print_r()` show: the DSN with user and password masked, the
     * endpoint, prefix, database and timeouts (seconds), and with the `replicas` option
     * `replicas` and `replicaTimeout`; for a quorum, every member's masked DSN in `dsn`, and
     * `quorum` (members) and `majority` instead of `endpoint`; only `state` for an object whose
     * constructor was not called. Never throws.
     *
     * @return array{dsn: string, endpoint?: string, quorum?: int, majority?: int, prefix: string, database: int, connectTimeout: float, readTimeout: float, replicas?: int, replicaTimeout?: float}|array{state: string}
     */
    public function __debugInfo(): array {}
}
