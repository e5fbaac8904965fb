<?php

/**
 * The root of every failure the redis_lock extension reports (bad arguments are `ValueError`
 * and `TypeError`, as in PHP itself). Contention is never an exception: `acquire()` returns
 * false.
 *
 * ```php
 * try {
 *     $held = $lock->acquire('job', $token, 30);
 * } catch (RedisLockTimeoutException $e) {
 *     // unknown outcome: ask again with the same token
 *     $held = $lock->acquire('job', $token, 30);
 * } catch (RedisLockException $e) {
 *     // Redis is unreachable or refused: degrade gracefully
 * }
 * ```
 */
class RedisLockException extends RuntimeException {}
