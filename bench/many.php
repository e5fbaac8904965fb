<?php
/**
 * Multi-key locks: `lockMany()` of KEYS free keys plus `release()`, against KEYS `lock()` calls
 * plus KEYS `release()`s (the same keys, one after the other), in one process on one
 * redis-server: ROUNDS rounds of CYCLES cycles, the order rotating every round; medians of µs
 * per cycle. Prints a table and writes bench/results/many.md.
 *
 * Environment: REDIS_URL, KEYS (5), ROUNDS (7), CYCLES (1000).
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

$url = getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379';
$n = (int) (getenv('KEYS') ?: 5);
$rounds = (int) (getenv('ROUNDS') ?: 7);
$cycles = (int) (getenv('CYCLES') ?: 1000);
$lock = new RedisLock($url);
$keys = array_map(static fn (int $i): string => "many-bench:$i", range(1, $n));

$run = [
    "lockMany() of $n + release()" => static function () use ($lock, $keys): void {
        $lease = $lock->lockMany($keys, 10);
        if ($lease === null || !$lease->release()) {
            throw new RuntimeException('lockMany cycle failed');
        }
    },
    "$n x lock() + $n x release()" => static function () use ($lock, $keys): void {
        $leases = [];
        foreach ($keys as $key) {
            $leases[] = $lock->lock($key, 10) ?? throw new RuntimeException('lock cycle failed');
        }
        foreach ($leases as $lease) {
            $lease->release();
        }
    },
];
foreach ($run as $cycle) {
    for ($i = 0; $i < 100; $i++) {
        $cycle();
    }
}
$medians = bench_alternating($run, $rounds, $cycles);
$names = array_keys($medians);
$lines = [sprintf('# Multi-key locks (%s)', date('Y-m-d H:i')), '',
    sprintf('%d free keys on one redis-server (loopback), %d rounds of %d cycles, alternating; median µs per cycle.', $n, $rounds, $cycles), '',
    '| cycle | µs per cycle | vs lockMany |', '|---|---:|---:|'];
foreach ($medians as $name => $us) {
    $lines[] = sprintf('| %s | %.1f | %.2fx |', $name, $us, $us / $medians[$names[0]]);
}
$table = implode("\n", $lines) . "\n";
echo $table;
file_put_contents(bench_results() . '/many.md', $table);
