<?php

/**
 * Thrown when fewer replicas than the `replicas` option asks for acknowledged, within
 * `replicaTimeout`, a write that grants or extends a lock (Redis `WAIT`, sent in the same write
 * as the lock command). A failover that promoted one of the replicas that did not acknowledge
 * could lose that write: a second client could then take the lock.
 *
 * - From {@see RedisLock::acquire()}, {@see RedisLock::retryAcquire()},
 *   {@see RedisLock::lock()} and {@see RedisLock::synchronized()}: the lock was granted on the
 *   master but has been released again (owner-checked: nothing else was touched), so you do
 *   not hold it. Retry later, or go on without the lock if your work allows it. (If that
 *   release itself failed, the message says so: the lock then stays until its TTL.)
 * - From {@see RedisLockLease::extend()}: the lease is still held, with its new TTL on the
 *   master, but a replica promoted now may only have the older TTL;
 *   {@see RedisLockLease::isAtRisk()} is true until a renewal is acknowledged.
 *
 * The message says how many replicas acknowledged, of how many asked for, within what
 * timeout, e.g. `acquire: 0 of 1 replica acknowledged the lock "order:42" within
 * replicaTimeout 0.1 s (WAIT): it was released, as a failover could have lost it`.
 */
class RedisLockReplicationException extends RedisLockException {}
