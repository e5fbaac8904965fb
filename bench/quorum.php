<?php
/**
 * What a Redlock quorum costs: the acquire+release cycle (and a lease cycle, lock() +
 * release()) on a quorum of 5 redis-servers against the same cycle on one of them, side by
 * side, beside malkusch/lock's PHPRedisMutex and Symfony's CombinedStore (ConsensusStrategy)
 * over the same 5 servers (and over one). All servers on loopback, started here. Wall time in
 * alternating rounds (median per cycle), client instructions per cycle under callgrind (as
 * bench/run.php). Writes bench/results/quorum.md.
 *
 * Environment: ROUNDS (default 11), CYCLES (default 1000), CALLGRIND_CYCLES (default 1000),
 * SKIP_CALLGRIND=1.
 */

declare(strict_types=1);

require __DIR__ . '/clients.php'; // bench_clients() reads BENCH_QUORUM_PORTS when called, below

// ---- 5 servers ---------------------------------------------------------------------------------
$dir = sys_get_temp_dir() . '/redis-lock-bench-quorum-' . getmypid();
@mkdir($dir);
$ports = [];
for ($i = 0; $i < 5; $i++) {
    $ports[$i] = free_port();
    $args = ['redis-server', '--port', (string) $ports[$i], '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--dir', $dir, '--dbfilename', "s$i.rdb", '--daemonize', 'yes', '--pidfile', "$dir/s$i.pid", '--logfile', "$dir/s$i.log"];
    exec(implode(' ', array_map('escapeshellarg', $args)));
}
register_shutdown_function(static function () use ($dir): void {
    for ($i = 0; $i < 5; $i++) {
        $pid = (int) @file_get_contents("$dir/s$i.pid");
        if ($pid > 0) {
            posix_kill($pid, SIGKILL);
        }
    }
    exec('rm -rf ' . escapeshellarg($dir));
});
$deadline = microtime(true) + 10;
foreach ($ports as $port) {
    for (;;) {
        try {
            $r = new Redis();
            if (@$r->connect('127.0.0.1', $port, 0.2) && $r->ping()) {
                break;
            }
        } catch (RedisException) {
        }
        if (microtime(true) > $deadline) {
            fwrite(STDERR, "redis-server on $port did not come up\n");
            exit(1);
        }
        usleep(20_000);
    }
}

putenv('BENCH_QUORUM_PORTS=' . implode(',', $ports));

$rounds = (int) (getenv('ROUNDS') ?: 11);
$cycles = (int) (getenv('CYCLES') ?: 1000);
$cgCycles = (int) (getenv('CALLGRIND_CYCLES') ?: 1000);

$all = bench_clients();
$pairs = [
    ['redis_lock, quorum(1)', 'redis_lock, quorum(5)'],
    ['redis_lock, quorum(1)', 'redis_lock, 5 servers one after the other'],
    ['redis_lock lease, quorum(1)', 'redis_lock lease, quorum(5)'],
    ['malkusch PHPRedisMutex, 1 server(s)', 'malkusch PHPRedisMutex, 5 server(s)'],
    ['Symfony CombinedStore(ConsensusStrategy), 1 RedisStore(s)', 'Symfony CombinedStore(ConsensusStrategy), 5 RedisStore(s)'],
];
$names = array_values(array_unique(array_filter(array_merge(...$pairs), static fn ($n) => isset($all[$n]))));

// ---- wall time: alternating rounds in one process ------------------------------------------
$run = [];
foreach ($names as $name) {
    $run[$name] = $all[$name]('127.0.0.1', $ports[0]);
    for ($i = 0; $i < 300; $i++) {
        $run[$name]();
    }
}
$samples = array_fill_keys($names, []);
$k = count($names);
for ($r = 0; $r < $rounds; $r++) {
    $order = array_merge(array_slice($names, $r % $k), array_slice($names, 0, $r % $k));
    foreach ($order as $name) {
        $t = hrtime(true);
        for ($i = 0; $i < $cycles; $i++) {
            $run[$name]();
        }
        $samples[$name][] = (hrtime(true) - $t) / $cycles / 1000;
    }
}
$wall = array_map('median', $samples);

// ---- instructions per cycle under callgrind --------------------------------------------------
$ir = [];
$valgrind = trim((string) shell_exec('command -v valgrind'));
if (!getenv('SKIP_CALLGRIND') && $valgrind !== '') {
    foreach ($names as $name) {
        fprintf(STDERR, "callgrind: %s ...\n", $name);
        $measure = static fn (int $n): int => bench_callgrind($valgrind, $name, $n, '127.0.0.1', $ports[0]);
        $ir[$name] = ($measure($cgCycles) - $measure(0)) / $cgCycles;
    }
}

// ---- report ----------------------------------------------------------------------------------
$version = (new Redis());
$version->connect('127.0.0.1', $ports[0]);
$lines = [];
$lines[] = sprintf('# A Redlock quorum of 5 servers against one (%s)', date('Y-m-d H:i'));
$lines[] = '';
$lines[] = sprintf('5 redis-server %s on loopback; PHP %s; %d CPU core(s); %d alternating rounds of %d cycles; median per cycle. '
    . 'Each row pair: the same client on one server, then on a quorum of 5.', $version->info('server')['redis_version'],
    PHP_VERSION, (int) trim((string) shell_exec('nproc')), $rounds, $cycles);
$lines[] = '';
$lines[] = '| client | µs per cycle (median) | 5 vs 1 | instructions per cycle | 5 vs 1 |';
$lines[] = '|---|---:|---:|---:|---:|';
$shown = [];
foreach ($pairs as [$one, $five]) {
    foreach ([$one, $five] as $name) {
        if (!isset($wall[$name]) || isset($shown[$name])) {
            continue;
        }
        $shown[$name] = true;
        $ratio = $name === $five && isset($wall[$one]) ? sprintf('%.2fx', $wall[$five] / $wall[$one]) : '';
        $irRatio = $name === $five && isset($ir[$one], $ir[$five]) ? sprintf('%.2fx', $ir[$five] / $ir[$one]) : '';
        $lines[] = sprintf('| %s | %.1f | %s | %s | %s |', $name, $wall[$name], $ratio,
            isset($ir[$name]) ? number_format($ir[$name]) : 'n/a', $irRatio);
    }
}
$lines[] = '';
$lines[] = 'quorum(1) is a plain one-server `RedisLock` (a string DSN); quorum(5) is `new RedisLock([5 DSNs])`, '
    . 'which writes to the 5 servers first and then collects their replies with poll(2). malkusch/lock and '
    . 'Symfony go to the servers one after the other; so does the row "5 servers one after the other": 5 one-server '
    . '`RedisLock`s, acquire on each then release on each, the same commands as the quorum sends without its fan-out. '
    . 'On this machine the 5 servers share 2 cores with the client (and with other jobs): each write to a local server '
    . 'wakes it, so the servers\' work is serialised on the cores whatever the client does, and wall times vary from run '
    . 'to run with the load; the instruction counts do not. Instructions: `valgrind --tool=callgrind` on the whole PHP '
    . "process, $cgCycles cycles minus a run with 0 cycles (both after 200 warm-up cycles), divided by $cgCycles.";
$report = implode("\n", $lines) . "\n";
echo $report;
file_put_contents(bench_results() . '/quorum.md', $report);
file_put_contents(bench_results() . '/quorum.json', json_encode(['wall_us' => $wall, 'instructions' => $ir], JSON_PRETTY_PRINT));
