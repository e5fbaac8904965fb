<?php

/**
 * Thrown when Redis did not answer within `readTimeout` after the command was sent: the
 * command may or may not have taken effect. The connection is dropped (a late reply can never
 * be mistaken for the next one).
 *
 * After a timed-out `acquire()`, call `acquire()` again with the same value: it returns true
 * if the first call did take the lock. After a timed-out `release()`, the lock is either
 * released or expires at its TTL.
 */
class RedisLockTimeoutException extends RedisLockException {}
