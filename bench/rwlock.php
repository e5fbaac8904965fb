<?php
/**
 * Read-write lock contention, read-heavy: WORKERS forked processes each take, READ_PCT% of the
 * time, a read lock, else the write lock, of one name; hold it HOLD_MS; release; start over, for
 * SECONDS. The contenders one after the other, RUNS times each (alternating), against the same
 * redis-server; medians reported:
 *
 * - redis_lock: `lockShared($name, 5, 10)` / `lock($name, 5, 10)`: one fair line, woken by
 *   the release (no polling);
 * - Symfony 5.4 `LockFactory` on its own `RedisStore` (phpredis): `acquireRead(true)` /
 *   `acquire(true)`, which retry with a sleep while the lock is taken;
 * - Symfony 5.4 `LockFactory` on this repository's `RedisLockStore` (the bridge): the same calls
 *   on the extension's read-write lock.
 *
 * Reported per contender: critical sections per second, p50 / p99 / longest wait of readers and
 * of writers, writes done, and the overlaps seen in every turn's entry and exit times (a writer
 * beside anyone: must be 0).
 *
 * Environment: REDIS_URL, WORKERS (8), READ_PCT (90), SECONDS (3), HOLD_MS (2), RUNS (3), ONLY.
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

$url = parse_url(getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379');
[$host, $port] = [$url['host'], (int) ($url['port'] ?? 6379)];
$workers = (int) (getenv('WORKERS') ?: 8);
$readPct = (int) (getenv('READ_PCT') ?: 90);
$seconds = (float) (getenv('SECONDS') ?: 3);
$holdMs = (float) (getenv('HOLD_MS') ?: 2);
$runs = (int) (getenv('RUNS') ?: 3);

foreach (['/usr/share/php/Symfony/Component/Lock/autoload.php', __DIR__ . '/../bridge/autoload.php'] as $autoload) {
    if (is_file($autoload)) {
        require_once $autoload;
    }
}

/**
 * name => factory(host, port) returning fn(string $key, bool $write, callable $section): bool.
 *
 * @return array<string, callable>
 */
function rw_contenders(): array
{
    $list = [];
    $list['redis_lock lockShared()/lock()'] = static function (string $host, int $port): callable {
        $lock = new RedisLock("redis://$host:$port");
        return static function (string $key, bool $write, callable $section) use ($lock): bool {
            $lease = $write ? $lock->lock($key, 5, 10) : $lock->lockShared($key, 5, 10);
            if ($lease === null) {
                return false;
            }
            $section();
            $lease->release();
            return true;
        };
    };
    if (class_exists(Symfony\Component\Lock\Store\RedisStore::class) && class_exists(Redis::class)) {
        $list['Symfony RedisStore acquireRead()/acquire()'] = static function (string $host, int $port): callable {
            $redis = new Redis();
            $redis->connect($host, $port, 1.0);
            $factory = new Symfony\Component\Lock\LockFactory(new Symfony\Component\Lock\Store\RedisStore($redis));
            return static fn (string $key, bool $write, callable $section): bool => rw_symfony($factory, $key, $write, $section);
        };
    }
    if (class_exists(RedisLock\Bridge\Symfony\RedisLockStore::class)) {
        $list['Symfony on RedisLockStore (bridge)'] = static function (string $host, int $port): callable {
            $store = new RedisLock\Bridge\Symfony\RedisLockStore(new RedisLock("redis://$host:$port"), 5);
            $factory = new Symfony\Component\Lock\LockFactory($store);
            return static fn (string $key, bool $write, callable $section): bool => rw_symfony($factory, $key, $write, $section);
        };
    }
    return $list;
}

function rw_symfony(Symfony\Component\Lock\LockFactory $factory, string $key, bool $write, callable $section): bool
{
    $lock = $factory->createLock($key, 5, false);
    $write ? $lock->acquire(true) : $lock->acquireRead(true);
    $section();
    $lock->release();
    return true;
}

/**
 * One run of one contender: per worker [reads, writes, read waits, write waits, spans].
 *
 * @return list<array{int, int, list<float>, list<float>, list<array{float, float, bool}>}>
 */
function rw_run(string $name, callable $factory, string $host, int $port, int $workers, int $readPct, float $seconds, float $holdMs, int $run): array
{
    $key = 'rw-bench:' . preg_replace('/\W+/', '-', $name) . ":$run";
    $dir = sys_get_temp_dir() . '/redis-lock-rw-' . getmypid();
    @mkdir($dir);
    $start = microtime(true) + 0.5;
    $end = $start + $seconds;
    $pids = [];
    for ($w = 0; $w < $workers; $w++) {
        $pid = pcntl_fork();
        if ($pid === 0) {
            mt_srand($w * 7919 + $run);
            [$reads, $writes, $readWaits, $writeWaits, $spans] = [0, 0, [], [], []];
            $section = $factory($host, $port);
            while (microtime(true) < $start) {
                usleep(500);
            }
            while (microtime(true) < $end) {
                $write = mt_rand(1, 100) > $readPct;
                $t0 = microtime(true);
                $entered = null;
                $got = $section($key, $write, static function () use (&$entered, &$spans, $holdMs, $write): void {
                    $entered = microtime(true);
                    hold($holdMs);
                    $spans[] = [$entered, microtime(true), $write];
                });
                $wait = ($entered ?? microtime(true)) - $t0;
                if ($write) {
                    $writeWaits[] = $wait;
                } else {
                    $readWaits[] = $wait;
                }
                if ($got && microtime(true) <= $end) {
                    $write ? $writes++ : $reads++;
                }
            }
            file_put_contents("$dir/$w", serialize([$reads, $writes, $readWaits, $writeWaits, $spans]));
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

/** Turns that overlap a write (a writer beside anyone), and the most readers at once. */
function rw_overlaps(array $spans): array
{
    usort($spans, static fn ($a, $b) => $a[0] <=> $b[0]);
    $bad = 0;
    $events = [];
    foreach ($spans as $i => [$in, $out, $write]) {
        for ($j = $i + 1; $j < count($spans) && $spans[$j][0] < $out; $j++) {
            if ($write || $spans[$j][2]) {
                $bad++;
            }
        }
        if (!$write) {
            $events[] = [$in, 1];
            $events[] = [$out, -1];
        }
    }
    usort($events, static fn ($a, $b) => $a[0] <=> $b[0] ?: $a[1] <=> $b[1]);
    $open = $peak = 0;
    foreach ($events as [, $d]) {
        $open += $d;
        $peak = max($peak, $open);
    }
    return [$bad, $peak];
}

$list = rw_contenders();
$samples = [];
for ($run = 0; $run < $runs; $run++) {
    foreach ($list as $name => $factory) {
        if (getenv('ONLY') && getenv('ONLY') !== $name) {
            continue;
        }
        fprintf(STDERR, "rwlock: %s, run %d ...\n", $name, $run + 1);
        $results = rw_run($name, $factory, $host, $port, $workers, $readPct, $seconds, $holdMs, $run);
        $readWaits = array_merge(...array_column($results, 2));
        $writeWaits = array_merge(...array_column($results, 3));
        [$bad, $peak] = rw_overlaps(array_merge(...array_column($results, 4)));
        $samples[$name][] = [
            'ops' => (array_sum(array_column($results, 0)) + array_sum(array_column($results, 1))) / $seconds,
            'writes' => array_sum(array_column($results, 1)),
            'r50' => percentile($readWaits, 0.5) * 1000,
            'r99' => percentile($readWaits, 0.99) * 1000,
            'w50' => percentile($writeWaits, 0.5) * 1000,
            'w99' => percentile($writeWaits, 0.99) * 1000,
            'wmax' => ($writeWaits === [] ? 0 : max($writeWaits)) * 1000,
            'peak' => $peak,
            'bad' => $bad,
        ];
    }
}

$lines = [];
$lines[] = sprintf('# Read-write lock contention (%s)', date('Y-m-d H:i'));
$lines[] = '';
$lines[] = sprintf('%d forked workers on one name, %d%% reads, each holding %.1f ms then starting over, for %.0f s per run; '
    . '%d runs per contender (alternating), medians shown. Waits in ms. Overlaps: turns beside a writer (must be 0; the worst run shown).',
    $workers, $readPct, $holdMs, $seconds, $runs);
$lines[] = '';
$lines[] = '| contender | sections/s | writes | read wait p50 | read p99 | write wait p50 | write p99 | longest write wait | most readers at once | overlaps |';
$lines[] = '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
foreach ($samples as $name => $runsOf) {
    $m = static fn (string $k): float => median(array_column($runsOf, $k));
    $lines[] = sprintf('| %s | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %d |', $name, $m('ops'), $m('writes'),
        $m('r50'), $m('r99'), $m('w50'), $m('w99'), $m('wmax'), $m('peak'), max(array_column($runsOf, 'bad')));
}
$table = implode("\n", $lines) . "\n";
echo $table;
file_put_contents(bench_results() . '/rwlock.md', $table);
