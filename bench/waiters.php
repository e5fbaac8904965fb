<?php
/**
 * `make bench`, part 3: what waiting costs Redis, and what locking leaves in it.
 *
 * 1. Waiter traffic: WAITERS forked processes (8, 50 and 200) take turns on one key with
 *    `lock($key, 5, 60)`, each holding it 1 ms, for SECONDS; reported: commands the clients sent
 *    per acquisition (EVALSHA/EVAL/BLPOP from the server's INFO commandstats; commands a script
 *    runs inside Redis are not client traffic), and how much of that is heartbeats. Fair waits
 *    must not turn into polling: the figure must stay about flat as the queue grows.
 * 2. Memory: DISTINCT_KEYS (1,000,000) distinct keys each locked and released once; reported:
 *    DBSIZE and used_memory before and after. Only the per-slot fence counters may remain
 *    (at most 16,384 keys), whatever the number of keys ever locked.
 *
 * Environment: REDIS_URL, SECONDS (4), DISTINCT_KEYS (1000000).
 * Writes bench/results/waiters.md and waiters.json.
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

$url = parse_url(getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379');
[$host, $port] = [$url['host'], (int) ($url['port'] ?? 6379)];
$dsn = "redis://$host:$port";
$seconds = (float) (getenv('SECONDS') ?: 4);
$distinct = (int) (getenv('DISTINCT_KEYS') ?: 1_000_000);

$oracle = new Redis();
$oracle->connect($host, $port);

/** Client commands by name since the last RESETSTAT. */
function client_commands(Redis $oracle): array
{
    $counts = [];
    foreach ($oracle->info('commandstats') as $cmd => $stats) {
        if (preg_match('/^cmdstat_(evalsha|eval|blpop)$/', $cmd, $name) && preg_match('/calls=(\d+)/', $stats, $m)) {
            $counts[$name[1]] = (int) $m[1];
        }
    }
    return $counts;
}

/** @return array{acquisitions: int, commands: float, blpop: float, evals: float, fewest: int, most: int} */
function waiter_traffic(string $dsn, Redis $oracle, int $waiters, float $seconds): array
{
    $dir = sys_get_temp_dir() . '/redis-lock-waiters-' . getmypid();
    @mkdir($dir);
    $key = "waiters:$waiters";
    $start = microtime(true) + 1.0 + $waiters / 100; // everyone connected before the race
    $end = $start + $seconds;
    $pids = [];
    for ($w = 0; $w < $waiters; $w++) {
        $pid = pcntl_fork();
        if ($pid === 0) {
            $lock = new RedisLock($dsn);
            $lock->isLocked('warm-up');
            while (microtime(true) < $start) {
                usleep(1_000);
            }
            $turns = 0;
            while (microtime(true) < $end) {
                $lease = $lock->lock($key, 5, 60);
                if ($lease === null) {
                    continue;
                }
                $until = hrtime(true) + 1_000_000;
                usleep(800);
                while (hrtime(true) < $until) {
                }
                $lease->release();
                $turns++;
            }
            file_put_contents("$dir/$w", (string) $turns);
            exit(0);
        }
        $pids[] = $pid;
    }
    while (microtime(true) < $start) {
        usleep(1_000);
    }
    $oracle->rawCommand('CONFIG', 'RESETSTAT');
    foreach ($pids as $pid) {
        pcntl_waitpid($pid, $status);
    }
    $counts = client_commands($oracle);
    $turns = array_map(static fn ($f) => (int) file_get_contents($f), glob("$dir/*"));
    array_map('unlink', glob("$dir/*"));
    rmdir($dir);
    $acquisitions = max(1, array_sum($turns));
    return [
        'acquisitions' => $acquisitions,
        'commands' => array_sum($counts) / $acquisitions,
        'blpop' => ($counts['blpop'] ?? 0) / $acquisitions,
        'evals' => (($counts['evalsha'] ?? 0) + ($counts['eval'] ?? 0)) / $acquisitions,
        'fewest' => min($turns),
        'most' => max($turns),
    ];
}

$rows = [];
foreach ([8, 50, 200] as $n) {
    fprintf(STDERR, "waiters: %d ...\n", $n);
    $rows[$n] = waiter_traffic($dsn, $oracle, $n, $seconds);
}

fprintf(STDERR, "memory: %d distinct keys ...\n", $distinct);
$oracle->flushAll();
$before = ['dbsize' => $oracle->dbSize(), 'used_memory' => (int) $oracle->info('memory')['used_memory']];
$lock = new RedisLock($dsn);
$t = microtime(true);
for ($i = 0; $i < $distinct; $i++) {
    $lock->lock("order:$i", 10)->release();
}
$took = microtime(true) - $t;
$after = ['dbsize' => $oracle->dbSize(), 'used_memory' => (int) $oracle->info('memory')['used_memory']];

$lines = [];
$lines[] = sprintf('# Waiter traffic and Redis memory (%s)', date('Y-m-d H:i'));
$lines[] = '';
$lines[] = sprintf('Workers take turns on one key with `lock($key, 5, 60)`, holding it 1 ms, for %.0f s. Commands are what the '
    . 'clients send (EVALSHA/EVAL and BLPOP, from INFO commandstats): a waiter\'s first attempt, then per wake-up a BLPOP '
    . 'with the next attempt (a claim or a heartbeat) pipelined behind it, and the release.', $seconds);
$lines[] = '';
$lines[] = '| waiters | acquisitions | client commands per acquisition | of which BLPOP | of which scripts | turns fewest / most |';
$lines[] = '|---:|---:|---:|---:|---:|---:|';
foreach ($rows as $n => $r) {
    $lines[] = sprintf('| %d | %d | %.2f | %.2f | %.2f | %d / %d |', $n, $r['acquisitions'], $r['commands'], $r['blpop'], $r['evals'], $r['fewest'], $r['most']);
}
$lines[] = '';
$lines[] = sprintf('%s distinct keys, each locked with `lock()` and released once (%.0f s): DBSIZE %d → %d, used_memory %.1f MiB → %.1f MiB '
    . '(what remains: one fence counter per hash slot used, at most 16,384).',
    number_format($distinct), $took, $before['dbsize'], $after['dbsize'], $before['used_memory'] / 1048576, $after['used_memory'] / 1048576);
$report = implode("\n", $lines) . "\n";
echo $report;
file_put_contents(bench_results() . '/waiters.md', $report);
file_put_contents(bench_results() . '/waiters.json', json_encode(['rows' => $rows, 'distinct_keys' => $distinct,
    'before' => $before, 'after' => $after, 'seconds' => $took], JSON_PRETTY_PRINT));
