<?php
/**
 * The acquire+release cycle of each client compared by `make bench`, written as its users
 * write it. Each factory returns a closure running one full cycle on one key; connections are
 * opened (and scripts cached) before timing starts.
 */

declare(strict_types=1);

const BENCH_KEY = 'bench:lock';
const BENCH_TTL = 10;

/** Document 001's release script, verbatim in behaviour. */
const DOC001_RELEASE = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end';

/**
 * @return array<string, callable(string, int): callable(): void> name => factory(host, port)
 */
function bench_clients(): array
{
    $clients = [];
    if (extension_loaded('redis_lock')) {
        $clients['redis_lock'] = static function (string $host, int $port): callable {
            $lock = new RedisLock("redis://$host:$port");
            $value = RedisLock::token();
            return static function () use ($lock, $value): void {
                if (!$lock->acquire(BENCH_KEY, $value, BENCH_TTL) || !$lock->release(BENCH_KEY, $value)) {
                    throw new RuntimeException('redis_lock cycle failed');
                }
            };
        };
    }
    if (extension_loaded('redis_lock')) {
        // The in-process test backend: no server, no socket (host and port unused).
        $clients['redis_lock on memory:// (tests)'] = static function (string $host, int $port): callable {
            $lock = new RedisLock('memory://bench');
            $value = RedisLock::token();
            return static function () use ($lock, $value): void {
                if (!$lock->acquire(BENCH_KEY, $value, BENCH_TTL) || !$lock->release(BENCH_KEY, $value)) {
                    throw new RuntimeException('redis_lock memory:// cycle failed');
                }
            };
        };
    }
    if (extension_loaded('redis')) {
        $clients['phpredis (doc 001)'] = static function (string $host, int $port): callable {
            $redis = new Redis();
            $redis->connect($host, $port, 1.0);
            $value = uniqid('', true);
            return static function () use ($redis, $value): void {
                $ok = $redis->set(BENCH_KEY, $value, ['nx', 'ex' => BENCH_TTL]);
                $released = $redis->eval(DOC001_RELEASE, [BENCH_KEY, $value], 1);
                if (!$ok || $released !== 1) {
                    throw new RuntimeException('phpredis cycle failed');
                }
            };
        };
    }
    if (is_file('/usr/share/php/Predis/autoload.php')) {
        $clients['predis (doc 001)'] = static function (string $host, int $port): callable {
            require_once '/usr/share/php/Predis/autoload.php';
            $client = new Predis\Client(['host' => $host, 'port' => $port, 'read_write_timeout' => 1.0]);
            $value = uniqid('', true);
            return static function () use ($client, $value): void {
                $ok = $client->set(BENCH_KEY, $value, 'EX', BENCH_TTL, 'NX');
                $released = $client->eval(DOC001_RELEASE, 1, BENCH_KEY, $value);
                if ($ok === null || $released !== 1) {
                    throw new RuntimeException('predis cycle failed');
                }
            };
        };
    }
    if (extension_loaded('redis')) {
        $clients['floor: 2 phpredis PINGs'] = static function (string $host, int $port): callable {
            $redis = new Redis();
            $redis->connect($host, $port, 1.0);
            return static function () use ($redis): void {
                $redis->ping();
                $redis->ping();
            };
        };
    }
    // bench/replicas.php, against a master with one replica (BENCH_REPLICAS=1): the same cycle
    // with every grant acknowledged by the replica (WAIT), and a lease cycle with and without.
    if (getenv('BENCH_REPLICAS') && extension_loaded('redis_lock')) {
        $clients['redis_lock, replicas=1'] = static function (string $host, int $port): callable {
            $lock = new RedisLock("redis://$host:$port", ['replicas' => 1]);
            $value = RedisLock::token();
            return static function () use ($lock, $value): void {
                if (!$lock->acquire(BENCH_KEY, $value, BENCH_TTL) || !$lock->release(BENCH_KEY, $value)) {
                    throw new RuntimeException('redis_lock replicas=1 cycle failed');
                }
            };
        };
        foreach ([0, 1] as $replicas) {
            $clients["redis_lock lease, replicas=$replicas"] = static function (string $host, int $port) use ($replicas): callable {
                $lock = new RedisLock("redis://$host:$port", ['replicas' => $replicas]);
                return static function () use ($lock): void {
                    if (!$lock->lock(BENCH_KEY, BENCH_TTL)?->release()) {
                        throw new RuntimeException('redis_lock lease cycle failed');
                    }
                };
            };
        }
    }
    // bench/quorum.php, against 5 redis-servers (their ports in BENCH_QUORUM_PORTS, comma
    // separated; the host and port given are ignored): a Redlock quorum of the 5 and of one,
    // by redis_lock, malkusch/lock's PHPRedisMutex and Symfony's CombinedStore.
    $quorumPorts = array_map('intval', array_filter(explode(',', (string) getenv('BENCH_QUORUM_PORTS'))));
    if ($quorumPorts !== []) {
        foreach ([1, count($quorumPorts)] as $n) {
            $ports = array_slice($quorumPorts, 0, $n);
            $phpredis = static function () use ($ports): array {
                return array_map(static function (int $port): Redis {
                    $redis = new Redis();
                    $redis->connect('127.0.0.1', $port, 1.0);
                    return $redis;
                }, $ports);
            };
            if (extension_loaded('redis_lock')) {
                $clients["redis_lock, quorum($n)"] = static function () use ($ports, $n): callable {
                    $dsns = array_map(static fn (int $p): string => "redis://127.0.0.1:$p", $ports);
                    $lock = new RedisLock($n === 1 ? $dsns[0] : $dsns);
                    $value = RedisLock::token();
                    return static function () use ($lock, $value): void {
                        if (!$lock->acquire(BENCH_KEY, $value, BENCH_TTL) || !$lock->release(BENCH_KEY, $value)) {
                            throw new RuntimeException('redis_lock quorum cycle failed');
                        }
                    };
                };
                $clients["redis_lock lease, quorum($n)"] = static function () use ($ports, $n): callable {
                    $dsns = array_map(static fn (int $p): string => "redis://127.0.0.1:$p", $ports);
                    $lock = new RedisLock($n === 1 ? $dsns[0] : $dsns);
                    return static function () use ($lock): void {
                        if (!$lock->lock(BENCH_KEY, BENCH_TTL)?->release()) {
                            throw new RuntimeException('redis_lock quorum lease cycle failed');
                        }
                    };
                };
            }
            if (extension_loaded('redis_lock') && $n > 1) {
                // The same engine, the same commands, one server after the other: what the
                // fan-out saves over a sequential quorum client, with nothing else different.
                $clients["redis_lock, $n servers one after the other"] = static function () use ($ports): callable {
                    $locks = array_map(static fn (int $p): RedisLock => new RedisLock("redis://127.0.0.1:$p"), $ports);
                    $value = RedisLock::token();
                    return static function () use ($locks, $value): void {
                        foreach ($locks as $lock) {
                            $lock->acquire(BENCH_KEY, $value, BENCH_TTL) || throw new RuntimeException('sequential cycle failed');
                        }
                        foreach ($locks as $lock) {
                            $lock->release(BENCH_KEY, $value) || throw new RuntimeException('sequential cycle failed');
                        }
                    };
                };
            }
            if (extension_loaded('redis') && is_file('/usr/share/php/Malkusch/Lock/autoload.php')) {
                $clients["malkusch PHPRedisMutex, $n server(s)"] = static function () use ($phpredis): callable {
                    require_once '/usr/share/php/Malkusch/Lock/autoload.php';
                    $apis = $phpredis();
                    return static function () use ($apis): void {
                        // As its users write it: a mutex per critical section.
                        (new malkusch\lock\mutex\PHPRedisMutex($apis, BENCH_KEY, BENCH_TTL))->synchronized(static fn () => null);
                    };
                };
            }
            if (extension_loaded('redis') && is_file('/usr/share/php/Symfony/Component/Lock/autoload.php')) {
                $clients["Symfony CombinedStore(ConsensusStrategy), $n RedisStore(s)"] = static function () use ($phpredis): callable {
                    require_once '/usr/share/php/Symfony/Component/Lock/autoload.php';
                    $stores = array_map(static fn (Redis $r) => new Symfony\Component\Lock\Store\RedisStore($r), $phpredis());
                    $store = new Symfony\Component\Lock\Store\CombinedStore($stores, new Symfony\Component\Lock\Strategy\ConsensusStrategy());
                    $factory = new Symfony\Component\Lock\LockFactory($store);
                    return static function () use ($factory): void {
                        $lock = $factory->createLock(BENCH_KEY, BENCH_TTL, false);
                        if (!$lock->acquire()) {
                            throw new RuntimeException('Symfony CombinedStore cycle failed');
                        }
                        $lock->release();
                    };
                };
            }
        }
    }
    // TLS peers, against the TLS port of bench/tls.php's server (BENCH_TLS_PORT, its CA in
    // BENCH_TLS_CA); the host and port given are ignored. Both verify the server's chain and name;
    // a long connect timeout, for the handshake under callgrind.
    $tlsPort = (int) getenv('BENCH_TLS_PORT');
    $ca = (string) getenv('BENCH_TLS_CA');
    if ($tlsPort > 0 && extension_loaded('redis_lock')) {
        $clients['redis_lock (TLS)'] = static function () use ($tlsPort, $ca): callable {
            $lock = new RedisLock("rediss://127.0.0.1:$tlsPort", ['ssl' => ['cafile' => $ca], 'connectTimeout' => 10]);
            $value = RedisLock::token();
            return static function () use ($lock, $value): void {
                if (!$lock->acquire(BENCH_KEY, $value, BENCH_TTL) || !$lock->release(BENCH_KEY, $value)) {
                    throw new RuntimeException('redis_lock TLS cycle failed');
                }
            };
        };
    }
    if ($tlsPort > 0 && extension_loaded('redis')) {
        $clients['phpredis (doc 001, tls://)'] = static function () use ($tlsPort, $ca): callable {
            $redis = new Redis();
            $redis->connect('tls://127.0.0.1', $tlsPort, 10.0, null, 0, 0, ['stream' => ['cafile' => $ca]]);
            $value = uniqid('', true);
            return static function () use ($redis, $value): void {
                $ok = $redis->set(BENCH_KEY, $value, ['nx', 'ex' => BENCH_TTL]);
                $released = $redis->eval(DOC001_RELEASE, [BENCH_KEY, $value], 1);
                if (!$ok || $released !== 1) {
                    throw new RuntimeException('phpredis TLS cycle failed');
                }
            };
        };
    }
    // Redis Cluster peers, against bench/cluster.php's cluster (a seed in BENCH_CLUSTER_SEED,
    // host:port); the host and port given are ignored.
    $seed = (string) getenv('BENCH_CLUSTER_SEED');
    if ($seed !== '' && extension_loaded('redis_lock')) {
        $clients['redis_lock (cluster)'] = static function () use ($seed): callable {
            $lock = new RedisLock("redis+cluster://$seed", ['connectTimeout' => 10]);
            $value = RedisLock::token();
            return static function () use ($lock, $value): void {
                if (!$lock->acquire(BENCH_KEY, $value, BENCH_TTL) || !$lock->release(BENCH_KEY, $value)) {
                    throw new RuntimeException('redis_lock cluster cycle failed');
                }
            };
        };
    }
    if ($seed !== '' && extension_loaded('redis')) {
        $clients['phpredis RedisCluster (doc 001)'] = static function () use ($seed): callable {
            $redis = new RedisCluster(null, [$seed], 10.0, 10.0);
            $value = uniqid('', true);
            return static function () use ($redis, $value): void {
                $ok = $redis->set(BENCH_KEY, $value, ['nx', 'ex' => BENCH_TTL]);
                $released = $redis->eval(DOC001_RELEASE, [BENCH_KEY, $value], 1);
                if (!$ok || $released !== 1) {
                    throw new RuntimeException('phpredis RedisCluster cycle failed');
                }
            };
        };
    }
    return $clients;
}

/**
 * Instructions `valgrind --tool=callgrind` counts for the whole PHP process that runs
 * bench/cycle_one.php with `$n` cycles of client `$name` (after its 200 warm-up cycles).
 * Measure N and 0 cycles and divide the difference by N for one steady-state cycle.
 */
function bench_callgrind(string $valgrind, string $name, int $n, string $host, int $port, string $mode = ''): int
{
    $so = dirname(__DIR__) . '/target/release/libredis_lock.so';
    $cmd = [$valgrind, '--tool=callgrind', '--callgrind-out-file=/dev/null', PHP_BINARY, '-d', "extension=$so",
        __DIR__ . '/cycle_one.php', $name, (string) $n, $host, (string) $port];
    if ($mode !== '') {
        $cmd[] = $mode;
    }
    $proc = proc_open($cmd, [1 => ['file', '/dev/null', 'w'], 2 => ['pipe', 'w']], $pipes);
    $err = stream_get_contents($pipes[2]);
    fclose($pipes[2]);
    if (proc_close($proc) !== 0 || !preg_match('/Collected : (\d+)/', $err, $m)) {
        throw new RuntimeException("callgrind run failed for $name:\n$err");
    }
    return (int) $m[1];
}

/** The median of `$xs`. */
function median(array $xs): float
{
    sort($xs);
    $n = count($xs);
    return $n % 2 ? $xs[intdiv($n, 2)] : ($xs[$n / 2 - 1] + $xs[$n / 2]) / 2;
}

/** The `$p` quantile of `$xs` (0 ≤ p ≤ 1; the nearest rank at or below), 0.0 for none. */
function percentile(array $xs, float $p): float
{
    if ($xs === []) {
        return 0.0;
    }
    sort($xs);
    return $xs[min(count($xs) - 1, (int) floor($p * count($xs)))];
}

/** Holds for $ms milliseconds, as a critical section's work would: sleeps most of it, spins the rest. */
function hold(float $ms): void
{
    $until = hrtime(true) + (int) ($ms * 1e6);
    $sleep = (int) ($ms * 1000) - 200;
    if ($sleep > 0) {
        usleep($sleep);
    }
    while (hrtime(true) < $until) {
    }
}

/** Where the benchmarks write their reports: bench/results, or $BENCH_RESULTS (the smoke test's scratch folder). */
function bench_results(): string
{
    $dir = getenv('BENCH_RESULTS') ?: __DIR__ . '/results';
    @mkdir($dir, 0777, true);
    return $dir;
}

/** A free TCP port on loopback. */
function free_port(): int
{
    $s = stream_socket_server('tcp://127.0.0.1:0');
    $name = stream_socket_get_name($s, false);
    fclose($s);
    return (int) substr(strrchr($name, ':'), 1);
}

/**
 * Wall time of each cycle in `$run` (name => closure, warmed up), in one process: `$rounds`
 * rounds of `$cycles` cycles each, the order rotating every round. Returns name => median µs
 * per cycle.
 *
 * @param array<string, callable(): void> $run
 * @return array<string, float>
 */
function bench_alternating(array $run, int $rounds, int $cycles): array
{
    $names = array_keys($run);
    $samples = array_fill_keys($names, []);
    for ($r = 0; $r < $rounds; $r++) {
        $shift = $r % count($names);
        foreach (array_merge(array_slice($names, $shift), array_slice($names, 0, $shift)) as $name) {
            $cycle = $run[$name];
            $t = hrtime(true);
            for ($i = 0; $i < $cycles; $i++) {
                $cycle();
            }
            $samples[$name][] = (hrtime(true) - $t) / $cycles / 1000;
        }
    }
    return array_map('median', $samples);
}
