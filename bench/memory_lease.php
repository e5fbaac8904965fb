<?php
/**
 * A lease cycle (`lock()` + `release()`) on `memory://`, N times after 200 warm-up cycles: run
 * it under `valgrind --tool=callgrind` with N and with 0 and divide the difference by N for the
 * instructions of one cycle (the README's `memory://` cost).
 *
 * Usage: php -d extension=target/release/libredis_lock.so bench/memory_lease.php <cycles>
 */

declare(strict_types=1);

$n = (int) ($argv[1] ?? 2000);
$lock = new RedisLock('memory://bench');
for ($i = 0; $i < 200 + $n; $i++) {
    $lease = $lock->lock('k', 10);
    if ($lease === null || !$lease->release()) {
        throw new RuntimeException('memory:// lease cycle failed');
    }
}
