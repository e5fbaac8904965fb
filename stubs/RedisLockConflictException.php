<?php

/**
 * Thrown by {@see RedisLock::synchronized()} when the lock was still held by someone else after
 * waiting `$wait` seconds: the callback did not run. (`lock()` returns null in that case, and
 * `acquire()` false: contention is only an exception where no other answer is possible.)
 *
 * Also thrown by {@see RedisLock::permit()} when the semaphore's live permits were taken with
 * another permit count than the one given (the message names both).
 */
class RedisLockConflictException extends RedisLockException {}
