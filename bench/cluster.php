<?php
/**
 * `make bench`, Redis Cluster: the acquire+release cycle of the extension over
 * `redis+cluster://` against document 001's code on phpredis's `RedisCluster`, on one local
 * cluster of three masters, next to both clients on a single server (REDIS_URL): wall time in
 * alternating rounds, client instructions per cycle under callgrind (as bench/run.php). The
 * issue's target: the cluster cycle within 1.1x of the single-server cycle's instructions.
 * Writes bench/results/cluster.md.
 *
 * Environment: REDIS_URL (scripts/with-redis.sh), ROUNDS (default 11), CYCLES (default 2000),
 * CALLGRIND_CYCLES (default 2000), SKIP_CALLGRIND=1.
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';
require dirname(__DIR__) . '/php-tests/support/RedisServer.php';
require dirname(__DIR__) . '/php-tests/support/Processes.php';
require dirname(__DIR__) . '/php-tests/support/RedisCluster.php';

use RedisLockTests\LocalCluster;

$rounds = (int) (getenv('ROUNDS') ?: 11);
$cycles = (int) (getenv('CYCLES') ?: 2000);
$cgCycles = (int) (getenv('CALLGRIND_CYCLES') ?: 2000);
$url = parse_url(getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379');
[$host, $port] = [$url['host'], $url['port'] ?? 6379];

$cluster = new LocalCluster(3, 0);
putenv('BENCH_CLUSTER_SEED=127.0.0.1:' . $cluster->nodes[0]->port);
$master = $cluster->masterOf(BENCH_KEY);

$all = bench_clients();
$names = ['redis_lock', 'phpredis (doc 001)', 'redis_lock (cluster)', 'phpredis RedisCluster (doc 001)'];
foreach ($names as $name) {
    if (!isset($all[$name])) {
        fwrite(STDERR, "missing client: $name\n");
        exit(1);
    }
}

// ---- wall time: alternating rounds in one process ------------------------------------------
$run = [];
foreach ($names as $name) {
    $run[$name] = $all[$name]($host, $port);
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
        $ir[$name] = (bench_callgrind($valgrind, $name, $cgCycles, $host, $port) - bench_callgrind($valgrind, $name, 0, $host, $port)) / $cgCycles;
    }
}

// ---- report ----------------------------------------------------------------------------------
$version = $cluster->nodes[0]->client()->info('server')['redis_version'];
$lines = [];
$lines[] = sprintf('# Acquire + release cycle on Redis Cluster (%s)', date('Y-m-d H:i'));
$lines[] = '';
$lines[] = sprintf('redis-server %s on loopback: a single server, and a cluster of 3 masters (the key `%s` lives on '
    . 'master %d); PHP %s; %d alternating rounds of %d cycles; median per cycle.', $version, BENCH_KEY, $master,
    PHP_VERSION, $rounds, $cycles);
$lines[] = '';
$lines[] = '| client | µs per cycle (median) | instructions per cycle | vs redis_lock on one server | vs phpredis RedisCluster |';
$lines[] = '|---|---:|---:|---:|---:|';
foreach ($names as $name) {
    $lines[] = sprintf('| %s | %.1f | %s | %s | %s |', $name, $wall[$name],
        isset($ir[$name]) ? number_format($ir[$name]) : 'n/a',
        isset($ir[$name]) ? sprintf('%.2fx', $ir[$name] / $ir['redis_lock']) : 'n/a',
        isset($ir[$name]) ? sprintf('%.2fx', $ir[$name] / $ir['phpredis RedisCluster (doc 001)']) : 'n/a');
}
$lines[] = '';
$lines[] = 'Instructions: `valgrind --tool=callgrind` on the whole PHP process, ' . $cgCycles
    . ' cycles minus a run with 0 cycles (both after 200 warm-up cycles), divided by ' . $cgCycles . '.';
if (isset($ir['redis_lock (cluster)'])) {
    $ratio = $ir['redis_lock (cluster)'] / $ir['redis_lock'];
    $lines[] = sprintf('Target: the cluster cycle within 1.1x of the single-server one: %.2fx (%s).', $ratio, $ratio <= 1.1 ? 'met' : 'NOT met');
}
$report = implode("\n", $lines) . "\n";
echo $report;
file_put_contents(bench_results() . '/cluster.md', $report);
file_put_contents(bench_results() . '/cluster.json', json_encode(['wall_us' => $wall, 'instructions' => $ir], JSON_PRETTY_PRINT));
