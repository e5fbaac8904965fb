<?php
/**
 * Semaphore contention: WORKERS forked processes share PERMITS permits of one name; each takes a
 * permit, holds it HOLD_MS, releases it and starts over, for SECONDS; the contenders one after
 * the other, RUNS times each (alternating), against the same redis-server; medians reported:
 *
 * - redis_lock: `$lock->permit($name, PERMITS, 5, 10)`, a fair blocking wait (hand-over on
 *   release), then `$permit->release()`;
 * - Laravel 8 funnel: `$connection->funnel($name)->limit(PERMITS)->releaseAfter(5)->block(10)
 *   ->then($callback)` on phpredis (`Illuminate\Redis\Limiters\ConcurrencyLimiter`: one slot
 *   key per permit, polls every 250 ms while all are taken).
 *
 * Reported per contender: critical sections per second as % of the ideal
 * (PERMITS x 1000 / HOLD_MS), p50 / p99 / longest wait, fewest / most turns of one worker, and the peak
 * number of holders at once (from every turn's entry and exit times: must never pass PERMITS).
 *
 * Environment: REDIS_URL, WORKERS (8), PERMITS (3), SECONDS (3), HOLD_MS (2), RUNS (3).
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

$url = parse_url(getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379');
[$host, $port] = [$url['host'], (int) ($url['port'] ?? 6379)];
$workers = (int) (getenv('WORKERS') ?: 8);
$permits = (int) (getenv('PERMITS') ?: 3);
$seconds = (float) (getenv('SECONDS') ?: 3);
$holdMs = (float) (getenv('HOLD_MS') ?: 2);
$runs = (int) (getenv('RUNS') ?: 3);

foreach (['/usr/share/php/Illuminate/Support/autoload.php', '/usr/share/php/Illuminate/Redis/autoload.php'] as $autoload) {
    if (is_file($autoload)) {
        require_once $autoload;
    }
}

/**
 * Each contender: name => factory(host, port) returning fn(string $name, callable $section):
 * bool, which runs $section under a permit (false if none came within 10 s).
 *
 * @return array<string, callable>
 */
function contenders(int $permits): array
{
    $list = [];
    $list['redis_lock permit(wait)'] = static function (string $host, int $port) use ($permits): callable {
        $lock = new RedisLock("redis://$host:$port");
        return static function (string $name, callable $section) use ($lock, $permits): bool {
            $permit = $lock->permit($name, $permits, 5, 10);
            if ($permit === null) {
                return false;
            }
            $section();
            $permit->release();
            return true;
        };
    };
    if (class_exists(Illuminate\Redis\Limiters\ConcurrencyLimiterBuilder::class)) {
        $list['Laravel funnel()->block()'] = static function (string $host, int $port) use ($permits): callable {
            $redis = new Redis();
            $redis->connect($host, $port, 1.0);
            $connection = new Illuminate\Redis\Connections\PhpRedisConnection($redis);
            return static function (string $name, callable $section) use ($connection, $permits): bool {
                return $connection->funnel($name)->limit($permits)->releaseAfter(5)->block(10)
                    ->then(static function () use ($section): bool {
                        $section();
                        return true;
                    }, static fn () => false);
            };
        };
    }
    return $list;
}

/**
 * Runs one contender once; returns per-worker [turns, waits (s), [entry, exit] times].
 *
 * @return list<array{int, list<float>, list<array{float, float}>}>
 */
function run_once(string $name, callable $factory, string $host, int $port, int $workers, float $seconds, float $holdMs, int $run): array
{
    $key = 'semaphore-bench:' . preg_replace('/\W+/', '-', $name) . ":$run";
    $dir = sys_get_temp_dir() . '/redis-lock-semaphore-' . getmypid();
    @mkdir($dir);
    $start = microtime(true) + 0.5;
    $end = $start + $seconds;
    $pids = [];
    for ($w = 0; $w < $workers; $w++) {
        $pid = pcntl_fork();
        if ($pid === 0) {
            $turns = 0;
            $waits = [];
            $spans = [];
            $run = $factory($host, $port);
            while (microtime(true) < $start) {
                usleep(500);
            }
            while (microtime(true) < $end) {
                $t0 = microtime(true);
                $entered = null;
                $got = $run($key, static function () use (&$entered, &$spans, $holdMs): void {
                    $entered = microtime(true);
                    hold($holdMs);
                    $spans[] = [$entered, microtime(true)];
                });
                $waits[] = ($entered ?? microtime(true)) - $t0; // a wait that gave up counts too
                if ($got && microtime(true) <= $end) {
                    $turns++;
                }
            }
            file_put_contents("$dir/$w", serialize([$turns, $waits, $spans]));
            exit(0);
        }
        $pids[] = $pid;
    }
    foreach ($pids as $pid) {
        pcntl_waitpid($pid, $status);
        if (!pcntl_wifexited($status) || pcntl_wexitstatus($status) !== 0) {
            fwrite(STDERR, "$name: a worker failed\n");
        }
    }
    $results = [];
    foreach (glob("$dir/*") as $file) {
        $results[] = unserialize(file_get_contents($file));
        unlink($file);
    }
    rmdir($dir);
    return $results;
}

/** The most spans open at one instant. */
function peak(array $spans): int
{
    $events = [];
    foreach ($spans as [$in, $out]) {
        $events[] = [$in, 1];
        $events[] = [$out, -1];
    }
    usort($events, static fn ($a, $b) => $a[0] <=> $b[0] ?: $a[1] <=> $b[1]);
    $open = $peak = 0;
    foreach ($events as [, $d]) {
        $open += $d;
        $peak = max($peak, $open);
    }
    return $peak;
}

$list = contenders($permits);
$samples = [];
for ($run = 0; $run < $runs; $run++) {
    foreach ($list as $name => $factory) {
        if (getenv('ONLY') && getenv('ONLY') !== $name) {
            continue;
        }
        fprintf(STDERR, "semaphore: %s, run %d ...\n", $name, $run + 1);
        $results = run_once($name, $factory, $host, $port, $workers, $seconds, $holdMs, $run);
        $turns = array_column($results, 0);
        $waits = array_merge(...array_column($results, 1));
        $samples[$name][] = [
            'throughput' => array_sum($turns) / $seconds / ($permits * 1000 / $holdMs) * 100,
            'p50' => percentile($waits, 0.5) * 1000,
            'p99' => percentile($waits, 0.99) * 1000,
            'max' => max($waits) * 1000,
            'fewest' => min($turns),
            'most' => max($turns),
            'peak' => peak(array_merge(...array_column($results, 2))),
        ];
    }
}

$fifo = ($workers - $permits) / $permits * $holdMs;
$lines = [];
$lines[] = sprintf('# Semaphore contention (%s)', date('Y-m-d H:i'));
$lines[] = '';
$lines[] = sprintf('%d forked workers share %d permits of one name, each holding a permit %.1f ms then starting over, '
    . 'for %.0f s per run; %d runs per contender (alternating), medians shown; ideal %d critical sections/s; '
    . 'FIFO ideal wait (workers - permits) / permits x hold = %.1f ms. Peak holders: the most turns open at one instant '
    . '(entry and exit times of every turn), the largest over the runs.', $workers, $permits, $holdMs, $seconds, $runs,
    $permits * 1000 / $holdMs, $fifo);
$lines[] = '';
$lines[] = '| contender | throughput (% of ideal) | p50 wait (ms) | p99 wait (ms) | longest wait (ms) | turns fewest / most | peak holders |';
$lines[] = '|---|---:|---:|---:|---:|---:|---:|';
foreach ($samples as $name => $s) {
    $lines[] = sprintf('| %s | %.1f%% | %.1f | %.1f | %.0f | %d / %d | %d |', $name, median(array_column($s, 'throughput')),
        median(array_column($s, 'p50')), median(array_column($s, 'p99')), median(array_column($s, 'max')), median(array_column($s, 'fewest')),
        median(array_column($s, 'most')), max(array_column($s, 'peak')));
}
$report = implode("\n", $lines) . "\n";
echo $report;
file_put_contents(bench_results() . '/semaphore.md', $report);
