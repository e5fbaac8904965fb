<?php

/**
 * Thrown when a lease turned out to be lost (its lock expired, was taken over, or was deleted
 * by `forceRelease()`): by `extend()` and `release()` in strict mode (the `strict` option), by
 * `synchronized()` in strict mode when the lease was lost before the callback returned, and by
 * `restore()` when the token does not hold the lock.
 *
 * Work done under a lost lease may have overlapped with another owner's: this is what fencing
 * tokens protect against (see {@see RedisLockLease::fence()}).
 */
class RedisLockLostException extends RedisLockException {}
