<?php
/**
 * `make soak`: one million acquire/release cycles (and 100,000 lease lock/release cycles) in one
 * process; memory_get_usage() and RSS are sampled as they go and must stay flat.
 *
 * Environment: REDIS_URL, CYCLES (1000000), LEASE_CYCLES (100000).
 * Exits 1 if RSS grew by more than 1 MiB or PHP's heap by more than 64 KiB after warm-up.
 */

declare(strict_types=1);

$dsn = getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379';
$cycles = (int) (getenv('CYCLES') ?: 1_000_000);
$leaseCycles = (int) (getenv('LEASE_CYCLES') ?: 100_000);

function rss_kib(): int
{
    $statm = explode(' ', (string) file_get_contents('/proc/self/statm'));
    return (int) ($statm[1] * 4096 / 1024);
}

/**
 * Samples live in arrays allocated up front and filled with scalars, so that taking a sample
 * does not itself grow the heap being measured.
 */
$phases = array_fill(0, 8, '');
$dones = array_fill(0, 8, 0);
$heaps = array_fill(0, 8, 0);
$rsses = array_fill(0, 8, 0);
$times = array_fill(0, 8, 0.0);
$n = 0;
$sample = static function (string $phase, int $done, float $t0) use (&$phases, &$dones, &$heaps, &$rsses, &$times, &$n): void {
    gc_collect_cycles();
    [$phases[$n], $dones[$n], $heaps[$n], $rsses[$n], $times[$n]] = [$phase, $done, memory_get_usage(), rss_kib(), microtime(true) - $t0];
    $n++;
};

$lock = new RedisLock($dsn);
$value = RedisLock::token();
for ($i = 0; $i < 20_000; $i++) { // warm up: connection, scripts, allocator pools
    $lock->acquire('soak', $value, 10);
    $lock->release('soak', $value);
    $lock->lock('soak:lease', 10)?->release();
}
$t0 = microtime(true);
$sample('after warm-up', 0, $t0);
for ($i = 1; $i <= $cycles; $i++) {
    if (!$lock->acquire('soak', $value, 10) || !$lock->release('soak', $value)) {
        fwrite(STDERR, "cycle $i failed\n");
        exit(1);
    }
    if ($i % intdiv($cycles, 5) === 0) {
        $sample('acquire/release', $i, $t0);
    }
}
for ($i = 1; $i <= $leaseCycles; $i++) {
    $lease = $lock->lock('soak:lease', 10) ?? throw new RuntimeException("lease $i failed");
    $lease->release();
    if ($i % intdiv($leaseCycles, 2) === 0) {
        $sample('lease lock/release', $i, $t0);
    }
}
printf("%-18s %10s %14s %10s %9s\n", 'phase', 'cycles', 'PHP heap (B)', 'RSS (KiB)', 'time (s)');
for ($i = 0; $i < $n; $i++) {
    printf("%-18s %10d %14d %10d %9.1f\n", $phases[$i], $dones[$i], $heaps[$i], $rsses[$i], $times[$i]);
}
$heapGrowth = $heaps[$n - 1] - $heaps[0];
$rssGrowth = $rsses[$n - 1] - $rsses[0];
printf("\ngrowth after warm-up over %d + %d cycles: PHP heap %+d B, RSS %+d KiB\n", $cycles, $leaseCycles, $heapGrowth, $rssGrowth);
exit($rssGrowth > 1024 || $heapGrowth > 65536 ? 1 : 0);
