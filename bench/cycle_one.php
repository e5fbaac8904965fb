<?php
/**
 * Runs one client's acquire+release cycle: 200 warm-up cycles (connect, load scripts), then
 * the number of cycles given. bench/run.php runs this under callgrind twice (N and 0 cycles)
 * and divides the difference by N: the instructions of one steady-state cycle.
 *
 * Usage: php cycle_one.php <client name> <cycles> <host> <port> [new-per-cycle]
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

[, $name, $cycles, $host, $port] = $argv;
$factory = bench_clients()[$name] ?? throw new InvalidArgumentException("unknown client $name");
$fresh = ($argv[5] ?? '') === 'new-per-cycle';
$cycle = $factory($host, (int) $port);
for ($i = 0; $i < 200; $i++) {
    $cycle();
}
for ($i = 0, $n = (int) $cycles; $i < $n; $i++) {
    if ($fresh) {
        $cycle = $factory($host, (int) $port); // a new object per "request"
    }
    $cycle();
}
