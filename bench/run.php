<?php
/**
 * `make bench`: the acquire+release cycle of the extension against document 001's code on
 * phpredis and on predis, and a floor of two phpredis PINGs, in one process, in alternating
 * rounds. Then client-side CPU instructions per cycle under callgrind (stable on a noisy
 * machine). Writes bench/results/cycle.md.
 *
 * Environment: REDIS_URL (scripts/with-redis.sh sets it), ROUNDS (default 15), CYCLES (default
 * 2000), CALLGRIND_CYCLES (default 2000), SKIP_CALLGRIND=1.
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

$url = parse_url(getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379');
[$host, $port] = [$url['host'], $url['port'] ?? 6379];
$rounds = (int) (getenv('ROUNDS') ?: 15);
$cycles = (int) (getenv('CYCLES') ?: 2000);
$cgCycles = (int) (getenv('CALLGRIND_CYCLES') ?: 2000);

$factories = bench_clients();
$baseline = 'phpredis (doc 001)';
foreach (['redis_lock', $baseline] as $required) {
    if (!isset($factories[$required])) {
        fwrite(STDERR, "missing client: $required (make deps-bench installs php-redis and php-predis)\n");
        exit(1);
    }
}

// ---- wall time: alternating rounds in one process -------------------------------------------
$run = [];
foreach ($factories as $name => $factory) {
    $run[$name] = $factory($host, $port);
    for ($i = 0; $i < 500; $i++) {
        $run[$name](); // warm up: connect, cache scripts
    }
}
$wall = bench_alternating($run, $rounds, $cycles);

// ---- instructions per cycle under callgrind --------------------------------------------------
$ir = [];
$valgrind = trim((string) shell_exec('command -v valgrind'));
$measure = static fn (string $name, int $n, string $mode = ''): int => bench_callgrind($valgrind, $name, $n, $host, $port, $mode);
if (!getenv('SKIP_CALLGRIND') && $valgrind !== '') {
    foreach (array_keys($factories) as $name) {
        fprintf(STDERR, "callgrind: %s ...\n", $name);
        $ir[$name] = ($measure($name, $cgCycles) - $measure($name, 0)) / $cgCycles;
    }
    fprintf(STDERR, "callgrind: redis_lock with a new RedisLock object and token per cycle ...\n");
    $ir['redis_lock, new object + token per cycle'] = ($measure('redis_lock', $cgCycles, 'new-per-cycle') - $measure('redis_lock', 0)) / $cgCycles;
}

// ---- commands per cycle, by the server's own count (top-level commands only) ---------------
$oracle = new Redis();
$oracle->connect($host, $port);
$topLevel = static function (Redis $oracle): int {
    $calls = 0;
    foreach ($oracle->info('commandstats') as $name => $stats) {
        // Commands a script runs inside EVALSHA also appear here; count what clients sent.
        if (preg_match('/^cmdstat_(set|evalsha|eval|ping|auth|select)$/', $name) && preg_match('/calls=(\d+)/', $stats, $m)) {
            $calls += (int) $m[1];
        }
    }
    return $calls;
};
$roundTrips = [];
foreach (['redis_lock' => '', 'redis_lock, new object + token per cycle' => 'new-per-cycle'] as $label => $mode) {
    $cycle = $factories['redis_lock']($host, $port);
    $cycle();
    $oracle->rawCommand('CONFIG', 'RESETSTAT');
    for ($i = 0; $i < 1000; $i++) {
        if ($mode) {
            $cycle = $factories['redis_lock']($host, $port);
        }
        $cycle();
    }
    $roundTrips[$label] = $topLevel($oracle) / 1000;
}

// ---- report ----------------------------------------------------------------------------------
$lines = [];
$lines[] = sprintf('# Acquire + release cycle (%s)', date('Y-m-d H:i'));
$lines[] = '';
$lines[] = sprintf('redis-server %s on loopback; PHP %s; %d alternating rounds of %d cycles; median per cycle.',
    $oracle->info('server')['redis_version'], PHP_VERSION, $rounds, $cycles);
$lines[] = '';
$lines[] = '| client | µs per cycle (median) | vs phpredis | instructions per cycle | vs phpredis |';
$lines[] = '|---|---:|---:|---:|---:|';
foreach ($wall as $name => $us) {
    $lines[] = sprintf('| %s | %.1f | %.2fx | %s | %s |', $name, $us, $us / $wall[$baseline],
        isset($ir[$name]) ? number_format($ir[$name]) : 'n/a',
        isset($ir[$name]) ? sprintf('%.2fx', $ir[$name] / $ir[$baseline]) : 'n/a');
}
if (isset($ir['redis_lock, new object + token per cycle'])) {
    $lines[] = sprintf('| redis_lock, new object + token per cycle | | | %s | %.2fx |',
        number_format($ir['redis_lock, new object + token per cycle']), $ir['redis_lock, new object + token per cycle'] / $ir[$baseline]);
}
$lines[] = '';
foreach ($roundTrips as $label => $n) {
    $lines[] = sprintf('- %s: %.2f commands sent per cycle (server INFO commandstats, excluding the GET/DEL a script runs inside EVALSHA)', $label, $n);
}
$lines[] = '';
$lines[] = 'Instructions: `valgrind --tool=callgrind` on the whole PHP process, ' . $cgCycles
    . ' cycles minus a run with 0 cycles (both after 200 warm-up cycles), divided by ' . $cgCycles . '.';
$report = implode("\n", $lines) . "\n";
echo $report;
file_put_contents(bench_results() . '/cycle.md', $report);
file_put_contents(bench_results() . '/cycle.json', json_encode(['wall_us' => $wall, 'instructions' => $ir], JSON_PRETTY_PRINT));
