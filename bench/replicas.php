<?php
/**
 * What the `replicas` option costs: the acquire+release cycle (and a lease cycle, lock() +
 * release()) with `replicas` 0 and 1, against one redis-server master with one replica, both
 * on loopback and started here. Wall time in alternating rounds, client instructions per cycle
 * under callgrind (as bench/run.php). Writes bench/results/replicas.md.
 *
 * Environment: ROUNDS (default 11), CYCLES (default 2000), CALLGRIND_CYCLES (default 2000),
 * SKIP_CALLGRIND=1.
 */

declare(strict_types=1);

putenv('BENCH_REPLICAS=1');
require __DIR__ . '/clients.php';

$rounds = (int) (getenv('ROUNDS') ?: 11);
$cycles = (int) (getenv('CYCLES') ?: 2000);
$cgCycles = (int) (getenv('CALLGRIND_CYCLES') ?: 2000);

// ---- a master and its replica -------------------------------------------------------------
$dir = sys_get_temp_dir() . '/redis-lock-bench-replicas-' . getmypid();
@mkdir($dir);
[$port, $replicaPort] = [free_port(), free_port()];
foreach (['master' => [$port], 'replica' => [$replicaPort, '--replicaof', '127.0.0.1', (string) $port]] as $role => $extra) {
    $args = array_merge(['redis-server', '--port', (string) array_shift($extra), '--bind', '127.0.0.1',
        '--save', '', '--appendonly', 'no', '--dir', $dir, '--dbfilename', "$role.rdb", '--daemonize', 'yes',
        '--pidfile', "$dir/$role.pid", '--logfile', "$dir/$role.log", '--repl-diskless-sync-delay', '0'], $extra);
    exec(implode(' ', array_map('escapeshellarg', $args)), $out, $code);
}
register_shutdown_function(static function () use ($dir): void {
    foreach (['master', 'replica'] as $role) {
        $pid = (int) @file_get_contents("$dir/$role.pid");
        if ($pid > 0) {
            posix_kill($pid, SIGKILL);
        }
    }
    exec('rm -rf ' . escapeshellarg($dir));
});
$oracle = new Redis();
$deadline = microtime(true) + 20;
for (;;) {
    try {
        // Ready when a write made after the replica is online is acknowledged.
        if ($oracle->isConnected() || $oracle->connect('127.0.0.1', $port, 0.2)) {
            if (str_contains($oracle->info('replication')['slave0'] ?? '', 'state=online')
                && $oracle->incr('ready') && $oracle->rawCommand('WAIT', 1, 100) === 1) {
                break;
            }
        }
    } catch (RedisException) {
    }
    if (microtime(true) > $deadline) {
        fwrite(STDERR, "the master and its replica did not come up\n");
        exit(1);
    }
    usleep(50_000);
}

$all = bench_clients();
$names = ['redis_lock', 'redis_lock, replicas=1', 'redis_lock lease, replicas=0', 'redis_lock lease, replicas=1'];

// ---- wall time: alternating rounds in one process ------------------------------------------
$run = [];
foreach ($names as $name) {
    $run[$name] = $all[$name]('127.0.0.1', $port);
    for ($i = 0; $i < 500; $i++) {
        $run[$name]();
    }
}
$wall = bench_alternating($run, $rounds, $cycles);

// ---- instructions per cycle under callgrind --------------------------------------------------
$ir = [];
$valgrind = trim((string) shell_exec('command -v valgrind'));
if (!getenv('SKIP_CALLGRIND') && $valgrind !== '') {
    foreach ($names as $name) {
        fprintf(STDERR, "callgrind: %s ...\n", $name);
        $measure = static fn (int $n): int => bench_callgrind($valgrind, $name, $n, '127.0.0.1', $port);
        $ir[$name] = ($measure($cgCycles) - $measure(0)) / $cgCycles;
    }
}
preg_match('/^calls=(\d+)/', $oracle->info('commandstats')['cmdstat_wait'] ?? 'calls=0', $m);
$waits = (int) $m[1];

// ---- report ----------------------------------------------------------------------------------
$lines = [];
$lines[] = sprintf('# Acquire + release with replica acknowledgement (%s)', date('Y-m-d H:i'));
$lines[] = '';
$lines[] = sprintf('redis-server %s master with one replica, both on loopback; PHP %s; %d alternating rounds of %d cycles; '
    . 'median per cycle.', $oracle->info('server')['redis_version'], PHP_VERSION, $rounds, $cycles);
$lines[] = '';
$lines[] = '| client | µs per cycle (median) | vs replicas=0 | instructions per cycle | vs replicas=0 |';
$lines[] = '|---|---:|---:|---:|---:|';
foreach ($names as $name) {
    $base = str_contains($name, 'lease') ? 'redis_lock lease, replicas=0' : 'redis_lock';
    $lines[] = sprintf('| %s | %.1f | %.2fx | %s | %s |', $name, $wall[$name], $wall[$name] / $wall[$base],
        isset($ir[$name]) ? number_format($ir[$name]) : 'n/a',
        isset($ir[$name]) ? sprintf('%.2fx', $ir[$name] / $ir[$base]) : 'n/a');
}
$lines[] = '';
$lines[] = 'Instructions: `valgrind --tool=callgrind` on the whole PHP process, ' . $cgCycles
    . ' cycles minus a run with 0 cycles (both after 200 warm-up cycles), divided by ' . $cgCycles . '. '
    . "The master ran WAIT $waits times in all.";
$report = implode("\n", $lines) . "\n";
echo $report;
file_put_contents(bench_results() . '/replicas.md', $report);
file_put_contents(bench_results() . '/replicas.json', json_encode(['wall_us' => $wall, 'instructions' => $ir], JSON_PRETTY_PRINT));
