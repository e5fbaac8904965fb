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

function sample(string $phase, int $done, float $t0): array
{
    gc_collect_cycles();
    return [$phase, $done, memory_get_usage(), rss_kib(), microtime(true) - $t0];
}

$lock = new RedisLock($dsn);
$value = RedisLock::token();
for ($i = 0; $i < 20_000; $i++) { // warm up: connection, scripts, allocator pools
    $lock->acquire('soak', $value, 10);
    $lock->release('soak', $value);
    $lock->lock('soak:lease', 10)?->release();
}
$t0 = microtime(true);
$rows = [sample('after warm-up', 0, $t0)];
for ($i = 1; $i <= $cycles; $i++) {
    if (!$lock->acquire('soak', $value, 10) || !$lock->release('soak', $value)) {
        fwrite(STDERR, "cycle $i failed\n");
        exit(1);
    }
    if ($i % intdiv($cycles, 5) === 0) {
        $rows[] = sample('acquire/release', $i, $t0);
    }
}
for ($i = 1; $i <= $leaseCycles; $i++) {
    $lease = $lock->lock('soak:lease', 10) ?? exit("lease $i failed\n");
    $lease->release();
    if ($i % intdiv($leaseCycles, 2) === 0) {
        $rows[] = sample('lease lock/release', $i, $t0);
    }
}
printf("%-18s %10s %14s %10s %9s\n", 'phase', 'cycles', 'PHP heap (B)', 'RSS (KiB)', 'time (s)');
foreach ($rows as [$phase, $done, $heap, $rss, $t]) {
    printf("%-18s %10d %14d %10d %9.1f\n", $phase, $done, $heap, $rss, $t);
}
$heapGrowth = end($rows)[2] - $rows[0][2];
$rssGrowth = end($rows)[3] - $rows[0][3];
printf("\ngrowth after warm-up over %d + %d cycles: PHP heap %+d B, RSS %+d KiB\n", $cycles, $leaseCycles, $heapGrowth, $rssGrowth);
exit($rssGrowth > 1024 || $heapGrowth > 65536 ? 1 : 0);
