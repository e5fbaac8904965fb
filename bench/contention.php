<?php
/**
 * `make bench`, part 2: contention on one key. WORKERS forked processes each take the lock,
 * hold it HOLD_MS, release it, and start over, for SECONDS; one contender after the other, in
 * one run, against the same redis-server:
 *
 * - redis_lock: `$lock->lock($key, 5, 10)`, a fair blocking wait (hand-over on release);
 * - Laravel: `Illuminate\Cache\PhpRedisLock::block(10)` (polls every 250 ms);
 * - Symfony Lock: `LockFactory::createLock($key, 5)->acquire(true)` (polls every ~100 ms);
 * - malkusch/lock: `PHPRedisMutex::synchronized()` (randomized exponential back-off);
 * - document 001: `retryAcquireLock()` with a 10 ms interval, on phpredis.
 *
 * Reported per contender: critical sections per second as % of the ideal (1000 / HOLD_MS),
 * p50 / p99 wait (every attempt counts, also one that ended after the run or gave up after its
 * 10 s limit), fewest / most turns of one worker, and Redis commands per acquisition
 * (counted client-side through a counting phpredis subclass for the PHP libraries, and from the
 * server's INFO commandstats for redis_lock, which does not use phpredis).
 *
 * The hold is HOLD_MS measured with hrtime (usleep for most of it, then a short spin): on this
 * virtual machine usleep(1000) alone sleeps about 1.12 ms, which would cap every contender at
 * 89% before any lock overhead.
 *
 * Environment: REDIS_URL, WORKERS (8), SECONDS (5), HOLD_MS (1), ONLY (a contender name).
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

$url = parse_url(getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379');
[$host, $port] = [$url['host'], (int) ($url['port'] ?? 6379)];
$workers = (int) (getenv('WORKERS') ?: 8);
$seconds = (float) (getenv('SECONDS') ?: 5);
$holdMs = (float) (getenv('HOLD_MS') ?: 1);

foreach (['/usr/share/php/Illuminate/Cache/autoload.php', '/usr/share/php/Illuminate/Redis/autoload.php',
    '/usr/share/php/Symfony/Component/Lock/autoload.php', '/usr/share/php/Malkusch/Lock/autoload.php'] as $autoload) {
    if (is_file($autoload)) {
        require_once $autoload;
    }
}

/** phpredis, counting the commands the libraries send through it. */
final class CountingRedis extends Redis
{
    public static int $commands = 0;

    public function set($key, $value, $options = null): Redis|string|bool
    {
        self::$commands++;
        return $options === null ? parent::set($key, $value) : parent::set($key, $value, $options);
    }

    public function eval($script, $args = [], $num_keys = 0): mixed
    {
        self::$commands++;
        return parent::eval($script, $args, $num_keys);
    }

    public function evalsha($sha1, $args = [], $num_keys = 0): mixed
    {
        self::$commands++;
        return parent::evalsha($sha1, $args, $num_keys);
    }

    public function get($key): mixed
    {
        self::$commands++;
        return parent::get($key);
    }

    public function del($key, ...$other_keys): Redis|int|false
    {
        self::$commands++;
        return parent::del($key, ...$other_keys);
    }
}

const DOC001_RELEASE = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end';

/**
 * Each contender: name => factory(host, port) returning fn(string $key): callable, which blocks
 * until the lock is held and returns the function that releases it.
 *
 * @return array<string, callable>
 */
function contenders(): array
{
    $phpredis = static function (string $host, int $port): CountingRedis {
        $r = new CountingRedis();
        $r->connect($host, $port, 1.0);
        return $r;
    };
    $list = [];
    $list['redis_lock lock(wait)'] = static function (string $host, int $port): callable {
        $lock = new RedisLock("redis://$host:$port");
        return static function (string $key) use ($lock): callable {
            $lease = $lock->lock($key, 5, 10) ?? throw new RuntimeException('redis_lock: no turn in 10 s');
            return static fn () => $lease->release();
        };
    };
    if (class_exists(Illuminate\Cache\PhpRedisLock::class)) {
        $list['Laravel block()'] = static function (string $host, int $port) use ($phpredis): callable {
            $connection = new Illuminate\Redis\Connections\PhpRedisConnection($phpredis($host, $port));
            return static function (string $key) use ($connection): callable {
                $lock = new Illuminate\Cache\PhpRedisLock($connection, $key, 5);
                $lock->block(10);
                return static fn () => $lock->release();
            };
        };
    }
    if (class_exists(Symfony\Component\Lock\LockFactory::class)) {
        $list['Symfony acquire(true)'] = static function (string $host, int $port) use ($phpredis): callable {
            $factory = new Symfony\Component\Lock\LockFactory(new Symfony\Component\Lock\Store\RedisStore($phpredis($host, $port)));
            return static function (string $key) use ($factory): callable {
                $lock = $factory->createLock($key, 5, false);
                $lock->acquire(true);
                return static fn () => $lock->release();
            };
        };
    }
    if (class_exists(malkusch\lock\mutex\PHPRedisMutex::class)) {
        // synchronized() wraps the critical section; run it on a fiber-free callback chain:
        // the release closure returned here is a no-op because synchronized() releases itself.
        $list['malkusch synchronized()'] = 'malkusch';
    }
    $list['doc 001 retry (10 ms)'] = static function (string $host, int $port) use ($phpredis): callable {
        $redis = $phpredis($host, $port);
        return static function (string $key) use ($redis): callable {
            $value = uniqid('', true);
            // Document 001's retryAcquireLock with a 10 ms interval and enough retries for 10 s.
            for ($i = 0; !$redis->set($key, $value, ['nx', 'ex' => 5]); $i++) {
                if ($i >= 1000) {
                    throw new RuntimeException('doc 001: no turn in 10 s');
                }
                usleep(10_000);
            }
            return static fn () => $redis->eval(DOC001_RELEASE, [$key, $value], 1);
        };
    };
    return $list;
}

/**
 * Runs one contender; returns per-worker [turns, waits (s), client-side commands].
 *
 * @return list<array{int, list<float>, int}>
 */
function run_contender(string $name, callable|string $factory, string $host, int $port, int $workers, float $seconds, float $holdMs): array
{
    $key = 'contention:' . preg_replace('/\W+/', '-', $name);
    $dir = sys_get_temp_dir() . '/redis-lock-contention-' . getmypid();
    @mkdir($dir);
    $start = microtime(true) + 0.5;
    $end = $start + $seconds;
    $pids = [];
    for ($w = 0; $w < $workers; $w++) {
        $pid = pcntl_fork();
        if ($pid === 0) {
            $turns = 0;
            $waits = [];
            if ($factory === 'malkusch') {
                $redis = new CountingRedis();
                $redis->connect($host, $port, 1.0);
                while (microtime(true) < $start) {
                    usleep(500);
                }
                while (microtime(true) < $end) {
                    $t0 = microtime(true);
                    $mutex = new malkusch\lock\mutex\PHPRedisMutex([$redis], $key, 10);
                    try {
                        $mutex->synchronized(function () use (&$waits, $t0, $holdMs): void {
                            $waits[] = microtime(true) - $t0;
                            hold($holdMs);
                        });
                    } catch (Throwable $e) {
                        $waits[] = microtime(true) - $t0; // gave up: a wait of at least this long
                        continue;
                    }
                    if (microtime(true) <= $end) {
                        $turns++;
                    }
                }
            } else {
                $acquire = $factory($host, $port);
                while (microtime(true) < $start) {
                    usleep(500);
                }
                while (microtime(true) < $end) {
                    $t0 = microtime(true);
                    try {
                        $release = $acquire($key);
                    } catch (Throwable $e) {
                        $waits[] = microtime(true) - $t0; // gave up: a wait of at least this long
                        continue;
                    }
                    $waits[] = microtime(true) - $t0;
                    hold($holdMs);
                    $release();
                    if (microtime(true) <= $end) {
                        $turns++;
                    }
                }
            }
            file_put_contents("$dir/$w", serialize([$turns, $waits, CountingRedis::$commands]));
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

/**
 * The floor for any fair lock through Redis: one process RPUSHes, another one blocked in BLPOP
 * wakes up. Measured as a ping-pong between two processes; returns microseconds per hand-off.
 */
function handoff_floor_us(string $host, int $port, int $n = 2000): float
{
    $pid = pcntl_fork();
    $r = new Redis();
    $r->connect($host, $port);
    if ($pid === 0) {
        for ($i = 0; $i < $n; $i++) {
            $r->blPop(['floor:ping'], 5);
            $r->rPush('floor:pong', 'x');
        }
        exit(0);
    }
    usleep(100_000);
    $t = hrtime(true);
    for ($i = 0; $i < $n; $i++) {
        $r->rPush('floor:ping', 'x');
        $r->blPop(['floor:pong'], 5);
    }
    $us = (hrtime(true) - $t) / $n / 2 / 1000;
    pcntl_waitpid($pid, $status);
    return $us;
}

$oracle = new Redis();
$oracle->connect($host, $port);
$rows = [];
foreach (contenders() as $name => $factory) {
    if (getenv('ONLY') && getenv('ONLY') !== $name) {
        continue;
    }
    fprintf(STDERR, "contention: %s ...\n", $name);
    $oracle->rawCommand('CONFIG', 'RESETSTAT');
    $results = run_contender($name, $factory, $host, $port, $workers, $seconds, $holdMs);
    $turns = array_column($results, 0);
    $waits = array_merge(...array_column($results, 1));
    $acquisitions = max(1, count($waits));
    if ($name === 'redis_lock lock(wait)') {
        $commands = 0;
        foreach ($oracle->info('commandstats') as $cmd => $stats) {
            if (preg_match('/^cmdstat_(evalsha|eval|blpop)$/', $cmd) && preg_match('/calls=(\d+)/', $stats, $m)) {
                $commands += (int) $m[1];
            }
        }
    } else {
        $commands = array_sum(array_column($results, 2));
    }
    $rows[$name] = [
        'throughput' => array_sum($turns) / $seconds / (1000 / $holdMs) * 100,
        'p50' => percentile($waits, 0.5) * 1000,
        'p99' => percentile($waits, 0.99) * 1000,
        'max' => max($waits) * 1000,
        'fewest' => min($turns),
        'most' => max($turns),
        'commands' => $commands / $acquisitions,
    ];
}

$floorUs = handoff_floor_us($host, $port);
$fifo = ($workers - 1) * $holdMs;
$lines = [];
$lines[] = sprintf('# Contention on one key (%s)', date('Y-m-d H:i'));
$lines[] = '';
$lines[] = sprintf('%d forked workers, each holding the lock %.1f ms then starting over, for %.0f s per contender; '
    . 'ideal %d critical sections/s; FIFO ideal wait (workers - 1) x hold = %.1f ms.', $workers, $holdMs, $seconds, 1000 / $holdMs, $fifo);
$lines[] = '';
$lines[] = sprintf('Floor for any fair lock through Redis on this machine: a bare hand-off (one process RPUSHes, '
    . 'another wakes from BLPOP) takes %.0f µs, so strict turn-taking with %.1f ms holds can reach at most %.1f%% of ideal.',
    $floorUs, $holdMs, $holdMs * 1000 / ($holdMs * 1000 + $floorUs) * 100);
$lines[] = '';
$lines[] = '| contender | throughput (% of ideal) | p50 wait (ms) | p99 wait (ms) | p99 / FIFO ideal | longest wait (ms) | turns fewest / most (ratio) | commands per acquisition |';
$lines[] = '|---|---:|---:|---:|---:|---:|---:|---:|';
foreach ($rows as $name => $r) {
    $lines[] = sprintf('| %s | %.1f%% | %.1f | %.1f | %.2fx | %.0f | %d / %d (%.2f) | %.1f |', $name, $r['throughput'], $r['p50'], $r['p99'],
        $r['p99'] / $fifo, $r['max'], $r['fewest'], $r['most'], $r['most'] > 0 ? $r['fewest'] / $r['most'] : 0, $r['commands']);
}
$report = implode("\n", $lines) . "\n";
echo $report;
file_put_contents(bench_results() . '/contention.md', $report);
file_put_contents(bench_results() . '/contention.json', json_encode(['floor_us' => $floorUs, 'hold_ms' => $holdMs,
    'workers' => $workers, 'rows' => $rows], JSON_PRETTY_PRINT));
