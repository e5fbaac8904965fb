<?php
/**
 * `make bench`, TLS: the acquire+release cycle of the extension over `rediss://` against
 * document 001's code on phpredis over `tls://`, both verifying the server's certificate, on
 * one redis-server that listens on a plain and a TLS port (the plain rows run on that same
 * server, for the cost of TLS itself). Wall time in alternating rounds, client instructions per
 * cycle under callgrind (as bench/run.php), and the time of a cycle on a new connection (TCP
 * connect + TLS handshake + the cycle). Writes bench/results/tls.md.
 *
 * Environment: ROUNDS (default 11), CYCLES (default 2000), CALLGRIND_CYCLES (default 2000),
 * RECONNECTS (default 200), SKIP_CALLGRIND=1.
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

$rounds = (int) (getenv('ROUNDS') ?: 11);
$cycles = (int) (getenv('CYCLES') ?: 2000);
$cgCycles = (int) (getenv('CALLGRIND_CYCLES') ?: 2000);
$reconnects = (int) (getenv('RECONNECTS') ?: 200);

// ---- a redis-server with a plain and a TLS port, and its certificates --------------------------
$dir = sys_get_temp_dir() . '/redis-lock-bench-tls-' . getmypid();
exec(escapeshellarg(dirname(__DIR__) . '/scripts/make-test-certs.sh') . ' ' . escapeshellarg("$dir/certs"), $out, $code);
if ($code !== 0) {
    fwrite(STDERR, "scripts/make-test-certs.sh failed\n");
    exit(1);
}
[$port, $tlsPort] = [free_port(), free_port()];
$args = ['redis-server', '--port', (string) $port, '--tls-port', (string) $tlsPort, '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--dir', $dir, '--daemonize', 'yes', '--pidfile', "$dir/redis.pid",
    '--logfile', "$dir/redis.log", '--tls-cert-file', "$dir/certs/server.pem", '--tls-key-file', "$dir/certs/server.key",
    '--tls-ca-cert-file', "$dir/certs/ca.pem", '--tls-auth-clients', 'no'];
exec(implode(' ', array_map('escapeshellarg', $args)), $out, $code);
$oracle = new Redis();
for ($i = 0; $i < 100; $i++) {
    try {
        if ($oracle->connect('127.0.0.1', $port, 0.2) && $oracle->ping()) {
            break;
        }
    } catch (RedisException) {
    }
    usleep(20_000);
}
register_shutdown_function(static function () use ($dir): void {
    $pid = (int) @file_get_contents("$dir/redis.pid");
    if ($pid > 0) {
        posix_kill($pid, SIGKILL);
    }
    exec('rm -rf ' . escapeshellarg($dir));
});
putenv("BENCH_TLS_PORT=$tlsPort");
putenv("BENCH_TLS_CA=$dir/certs/ca.pem");

$all = bench_clients();
$names = ['redis_lock', 'phpredis (doc 001)', 'redis_lock (TLS)', 'phpredis (doc 001, tls://)'];
foreach ($names as $name) {
    if (!isset($all[$name])) {
        fwrite(STDERR, "missing client: $name\n");
        exit(1);
    }
}

// ---- wall time: alternating rounds in one process ------------------------------------------
$run = [];
foreach ($names as $name) {
    $run[$name] = $all[$name]('127.0.0.1', $port);
    for ($i = 0; $i < 500; $i++) {
        $run[$name]();
    }
}
$wall = bench_alternating($run, $rounds, $cycles);

// ---- a cycle on a new connection (connect + handshake + cycle) --------------------------------
$fresh = array_fill_keys($names, []);
$lockPlain = new RedisLock("redis://127.0.0.1:$port");
$lockTls = new RedisLock("rediss://127.0.0.1:$tlsPort", ['ssl' => ['cafile' => "$dir/certs/ca.pem"]]);
$ca = "$dir/certs/ca.pem";
for ($i = 0; $i < $reconnects; $i++) {
    foreach (['redis_lock' => $lockPlain, 'redis_lock (TLS)' => $lockTls] as $name => $lock) {
        $lock->isLocked('bench:warm'); // connected
        $oracle->rawCommand('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
        usleep(2_000);
        $t = hrtime(true);
        $lock->acquire(BENCH_KEY, 'v', BENCH_TTL) && $lock->release(BENCH_KEY, 'v') || throw new RuntimeException("$name failed");
        $fresh[$name][] = (hrtime(true) - $t) / 1000;
    }
    foreach (['phpredis (doc 001)' => ['127.0.0.1', $port, []], 'phpredis (doc 001, tls://)' => ['tls://127.0.0.1', $tlsPort, ['stream' => ['cafile' => $ca]]]] as $name => [$host, $p, $context]) {
        $t = hrtime(true);
        $redis = new Redis();
        $redis->connect($host, $p, 1.0, null, 0, 0, $context);
        $redis->set(BENCH_KEY, 'v', ['nx', 'ex' => BENCH_TTL]) && $redis->eval(DOC001_RELEASE, [BENCH_KEY, 'v'], 1) || throw new RuntimeException("$name failed");
        $fresh[$name][] = (hrtime(true) - $t) / 1000;
        $redis->close();
    }
}
$fresh = array_map('median', $fresh);

// ---- instructions per cycle under callgrind --------------------------------------------------
$ir = [];
$valgrind = trim((string) shell_exec('command -v valgrind'));
$measure = static fn (string $name, int $n): int => bench_callgrind($valgrind, $name, $n, '127.0.0.1', $port);
if (!getenv('SKIP_CALLGRIND') && $valgrind !== '') {
    foreach ($names as $name) {
        fprintf(STDERR, "callgrind: %s ...\n", $name);
        $ir[$name] = ($measure($name, $cgCycles) - $measure($name, 0)) / $cgCycles;
    }
}

// ---- report ----------------------------------------------------------------------------------
$baseline = 'phpredis (doc 001, tls://)';
$lines = [];
$lines[] = sprintf('# Acquire + release cycle over TLS (%s)', date('Y-m-d H:i'));
$lines[] = '';
$lines[] = sprintf('redis-server %s on loopback with a plain and a TLS port (TLS 1.3, ECDSA P-256 certificates, '
    . 'both clients verify chain and name); PHP %s, %s; %d alternating rounds of %d cycles; median per cycle.',
    $oracle->info('server')['redis_version'], PHP_VERSION, OPENSSL_VERSION_TEXT, $rounds, $cycles);
$lines[] = '';
$lines[] = '| client | µs per cycle (median) | vs phpredis tls:// | instructions per cycle | vs phpredis tls:// | µs for a cycle on a new connection (median) |';
$lines[] = '|---|---:|---:|---:|---:|---:|';
foreach ($names as $name) {
    $lines[] = sprintf('| %s | %.1f | %.2fx | %s | %s | %.0f |', $name, $wall[$name], $wall[$name] / $wall[$baseline],
        isset($ir[$name]) ? number_format($ir[$name]) : 'n/a',
        isset($ir[$name]) ? sprintf('%.2fx', $ir[$name] / $ir[$baseline]) : 'n/a', $fresh[$name]);
}
$lines[] = '';
$lines[] = 'Instructions: `valgrind --tool=callgrind` on the whole PHP process, ' . $cgCycles
    . ' cycles minus a run with 0 cycles (both after 200 warm-up cycles), divided by ' . $cgCycles . '.';
$lines[] = sprintf('A cycle on a new connection: redis_lock after the server closed its connection (`CLIENT KILL`; the '
    . 'next call sees it before sending, reconnects, handshakes, PINGs over TLS, then runs the cycle); phpredis: `new Redis`, '
    . '`connect()`, the cycle. Median of %d.', $reconnects);
$report = implode("\n", $lines) . "\n";
echo $report;
file_put_contents(bench_results() . '/tls.md', $report);
file_put_contents(bench_results() . '/tls.json', json_encode(['wall_us' => $wall, 'instructions' => $ir, 'new_connection_us' => $fresh], JSON_PRETTY_PRINT));
