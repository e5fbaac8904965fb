<?php
/**
 * `make bench`, failover: how long locks are unavailable after `kill -9` of a master, next to
 * the time the servers themselves need to fail over, and whether any call overran its deadline.
 *
 * Each run starts a fresh deployment, runs a client in a forked process (acquire + release of
 * one key, in a loop, with the extension's deadlines), kills the master with SIGKILL after a
 * warm-up, and measures, from the kill:
 *   - the servers' failover, by their own account (Sentinel: the sentinels' logs): until they
 *     agreed the master was down (the first `+odown`), until a replica was promoted and
 *     confirmed master (`+promoted-slave`: from then on a sentinel answers
 *     `get-master-addr-by-name` with it), and until the failover ended (`+switch-master`);
 *   - the locks' unavailability: until the end of the first successful acquire that started
 *     after the kill;
 *   - every call's duration: the longest, and how far any call went past its budget
 *     (connectTimeout + readTimeout: the connect, or the rediscovery, then one reply);
 *   - the calls that failed (by exception class) and any acquire that returned false.
 * Medians over RUNS runs per deployment; the table goes to bench/results/failover.md.
 *
 * Deployments are setup functions (see `$setups` below): each starts its servers and returns
 * a FailoverDeployment (a DSN for the client, how to kill the current master, how to tell that
 * the servers named another one and when they did, how to stop everything, and how its times
 * are read). Two are measured: Sentinel (sentinel_setup) and Cluster (cluster_setup, a
 * `redis+cluster://` DSN whose key lives on the master that is killed).
 *
 * Environment: RUNS (default 3), CONNECT_TIMEOUT and READ_TIMEOUT (default 0.5 s each),
 * WARMUP (seconds before the kill, default 1), SETUPS (comma-separated names of `$setups`,
 * default all).
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

if (!extension_loaded('redis_lock') || !extension_loaded('redis') || !extension_loaded('pcntl')) {
    fwrite(STDERR, "bench/failover.php needs the redis_lock, redis (phpredis) and pcntl extensions\n");
    exit(1);
}

$runs = max(1, (int) (getenv('RUNS') ?: 3));
$connectTimeout = (float) (getenv('CONNECT_TIMEOUT') ?: 0.5);
$readTimeout = (float) (getenv('READ_TIMEOUT') ?: 0.5);
$warmup = (float) (getenv('WARMUP') ?: 1.0);

/** What a failover run needs of a deployment. */
final class FailoverDeployment
{
    /**
     * @param string $name the row's name
     * @param string $detail what was started, for the report
     * @param string $dsn the DSN the client uses
     * @param Closure(): void $killMaster SIGKILL to the current master
     * @param Closure(): bool $switched true once the servers name another master than the killed one
     * @param Closure(): array{detected: ?float, promoted: ?float, switched: ?float} $events when
     *        (microtime) the servers agreed the master was down, promoted a replica, and ended
     *        the failover, from their logs (null: not yet)
     * @param Closure(): void $stop kills everything the setup started
     * @param string $times where the servers' times come from, for the report
     */
    public function __construct(
        public readonly string $name,
        public readonly string $detail,
        public readonly string $dsn,
        public readonly Closure $killMaster,
        public readonly Closure $switched,
        public readonly Closure $events,
        public readonly Closure $stop,
        public readonly string $times = '',
    ) {
    }
}

/** A command on a fresh phpredis connection to 127.0.0.1:$port; null if it fails. */
function ask(int $port, array $command, float $timeout = 0.1): mixed
{
    try {
        $r = new Redis();
        $r->connect('127.0.0.1', $port, $timeout, null, 0, $timeout);
        $r->setOption(Redis::OPT_READ_TIMEOUT, $timeout);
        $reply = $r->rawCommand(...$command);
        $r->close();
        return $reply;
    } catch (Throwable) {
        return null;
    }
}

/** Starts a daemonized redis-server (or sentinel) from `$conf` and returns its pid. Its log's times are UTC. */
function start_daemon(string $conf, bool $sentinel, string $pidFile): int
{
    exec('TZ=UTC redis-server ' . escapeshellarg($conf) . ($sentinel ? ' --sentinel' : '') . ' 2>&1', $out, $code);
    if ($code !== 0) {
        throw new RuntimeException('redis-server did not start: ' . implode("\n", $out));
    }
    $deadline = microtime(true) + 5;
    while (microtime(true) < $deadline) {
        $pid = (int) @file_get_contents($pidFile);
        if ($pid > 0) {
            return $pid;
        }
        usleep(10_000);
    }
    throw new RuntimeException("no pid file $pidFile");
}

/**
 * The times (microtime) of the lines of `$log` (a redis-server log, UTC) whose message matches
 * `$message` (a regular expression, without delimiters, anchored at the message's start).
 *
 * @return list<float>
 */
function logged_times(string $log, string $message): array
{
    $times = [];
    $pattern = '/^\d+:\w (\d+ \w+ \d+ \d+:\d+:\d+\.\d+) . (?:' . str_replace('/', '\/', $message) . ')/m';
    preg_match_all($pattern, (string) @file_get_contents($log), $matches);
    foreach ($matches[1] as $stamp) {
        $at = DateTime::createFromFormat('d M Y H:i:s.v', $stamp, new DateTimeZone('UTC'));
        if ($at !== false) {
            $times[] = (float) $at->format('U.u');
        }
    }
    return $times;
}

/**
 * The earliest time (microtime) at which one of `$logs` (redis-server logs, UTC) reports
 * `$event` (`+switch-master`), or null.
 */
function first_logged(array $logs, string $event): ?float
{
    $times = array_merge([], ...array_values(array_map(static fn (string $log): array => logged_times($log, preg_quote($event) . ' '), $logs)));
    return $times ? min($times) : null;
}

/**
 * Sentinel: a master, 2 replicas and 3 sentinels (quorum 2) on loopback,
 * down-after-milliseconds 1000, failover-timeout 5000 (as the engine's tests).
 */
function sentinel_setup(): FailoverDeployment
{
    $dir = sys_get_temp_dir() . '/redis-lock-bench-failover-' . getmypid() . '-' . bin2hex(random_bytes(4));
    mkdir($dir);
    $pids = [];
    $stop = static function () use (&$pids, $dir): void {
        foreach ($pids as $pid) {
            posix_kill($pid, SIGKILL);
        }
        $pids = [];
        exec('rm -rf ' . escapeshellarg($dir));
    };
    try {
        $ports = [free_port(), free_port(), free_port()];
        $serverPids = [];
        foreach ($ports as $i => $port) {
            $conf = "$dir/redis-$i.conf";
            file_put_contents($conf, sprintf(
                "port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\ndaemonize yes\npidfile %s/redis-%d.pid\n"
                . "logfile %s/redis-%d.log\nrepl-diskless-sync-delay 0\n%s",
                $port, $dir, $dir, $i, $dir, $i, $i > 0 ? "replicaof 127.0.0.1 {$ports[0]}\n" : ''
            ));
            $serverPids[$port] = $pids[] = start_daemon($conf, false, "$dir/redis-$i.pid");
        }
        $sentinelPorts = [];
        foreach ([0, 1, 2] as $i) {
            $port = $sentinelPorts[] = free_port();
            $conf = "$dir/sentinel-$i.conf";
            file_put_contents($conf, sprintf(
                "port %d\nbind 127.0.0.1\ndir %s\ndaemonize yes\npidfile %s/sentinel-%d.pid\nlogfile %s/sentinel-%d.log\n"
                . "sentinel monitor mymaster 127.0.0.1 %d 2\nsentinel down-after-milliseconds mymaster 1000\n"
                . "sentinel failover-timeout mymaster 5000\nsentinel parallel-syncs mymaster 1\n",
                $port, $dir, $dir, $i, $dir, $i, $ports[0]
            ));
            $pids[] = start_daemon($conf, true, "$dir/sentinel-$i.pid");
        }
        // Formed: every sentinel knows both replicas and the two other sentinels.
        $deadline = microtime(true) + 30;
        do {
            usleep(100_000);
            $formed = true;
            foreach ($sentinelPorts as $port) {
                $replicas = ask($port, ['SENTINEL', 'replicas', 'mymaster'], 0.3);
                $others = ask($port, ['SENTINEL', 'sentinels', 'mymaster'], 0.3);
                $formed = $formed && is_array($replicas) && count($replicas) === 2 && is_array($others) && count($others) === 2;
            }
        } while (!$formed && microtime(true) < $deadline);
        if (!$formed) {
            throw new RuntimeException('the sentinels did not form within 30 s');
        }
    } catch (Throwable $e) {
        $stop();
        throw $e;
    }
    $masterPort = static function () use ($sentinelPorts): ?int {
        foreach ($sentinelPorts as $port) {
            $addr = ask($port, ['SENTINEL', 'get-master-addr-by-name', 'mymaster']);
            if (is_array($addr) && isset($addr[1])) {
                return (int) $addr[1];
            }
        }
        return null;
    };
    $killed = null;
    $hosts = implode(',', array_map(static fn (int $p): string => "127.0.0.1:$p", $sentinelPorts));
    return new FailoverDeployment(
        'Sentinel',
        'master + 2 replicas + 3 sentinels (quorum 2), down-after-milliseconds 1000',
        "redis+sentinel://$hosts/mymaster",
        static function () use (&$killed, $masterPort, $serverPids): void {
            $killed = $masterPort() ?? throw new RuntimeException('no sentinel names a master');
            posix_kill($serverPids[$killed], SIGKILL);
        },
        static function () use (&$killed, $sentinelPorts): bool {
            foreach ($sentinelPorts as $port) {
                $addr = ask($port, ['SENTINEL', 'get-master-addr-by-name', 'mymaster'], 0.05);
                if (is_array($addr) && isset($addr[1]) && (int) $addr[1] !== $killed) {
                    return true;
                }
            }
            return false;
        },
        static function () use ($dir): array {
            $logs = glob("$dir/sentinel-*.log") ?: [];
            return [
                'detected' => first_logged($logs, '+odown'),
                'promoted' => first_logged($logs, '+promoted-slave'),
                'switched' => first_logged($logs, '+switch-master'),
            ];
        },
        $stop,
        'by the sentinels\' logs (millisecond timestamps): master down is the first `+odown` '
        . '(down-after-milliseconds, then a quorum agreeing); replica promoted is the first `+promoted-slave` (after the election, '
        . 'once the replica reports itself master: from then on a sentinel answers `get-master-addr-by-name` with it); failover '
        . 'ended is the first `+switch-master` (after the other replicas were told to follow it)',
    );
}

/**
 * Cluster: 3 masters with a replica each on loopback (`redis-cli --cluster create`),
 * cluster-node-timeout 1000 and cluster-replica-validity-factor 0 (as the engine's tests);
 * everything else default (cluster-require-full-coverage yes). The client's key is served by
 * the master that is killed.
 */
function cluster_setup(): FailoverDeployment
{
    $key = 'bench:failover'; // client_loop()'s key
    $dir = sys_get_temp_dir() . '/redis-lock-bench-failover-' . getmypid() . '-' . bin2hex(random_bytes(4));
    mkdir($dir);
    $pids = [];
    $stop = static function () use (&$pids, $dir): void {
        foreach ($pids as $pid) {
            posix_kill($pid, SIGKILL);
        }
        $pids = [];
        exec('rm -rf ' . escapeshellarg($dir));
    };
    $ports = $serverPids = $logs = [];
    try {
        for ($i = 0; $i < 6; $i++) {
            $port = $ports[] = free_port();
            $conf = "$dir/redis-$i.conf";
            file_put_contents($conf, sprintf(
                "port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\ndaemonize yes\npidfile %s/redis-%d.pid\n"
                . "logfile %s/redis-%d.log\nrepl-diskless-sync-delay 0\ncluster-enabled yes\n"
                . "cluster-config-file %s/nodes-%d.conf\ncluster-port %d\ncluster-node-timeout 1000\n"
                . "cluster-replica-validity-factor 0\n",
                $port, $dir, $dir, $i, $dir, $i, $dir, $i, free_port()
            ));
            $serverPids[$port] = $pids[] = start_daemon($conf, false, "$dir/redis-$i.pid");
            $logs[$port] = "$dir/redis-$i.log";
        }
        $cmd = 'redis-cli --cluster create ' . implode(' ', array_map(static fn (int $p): string => "127.0.0.1:$p", $ports))
            . ' --cluster-replicas 1 --cluster-yes 2>&1';
        exec($cmd, $out, $code);
        if ($code !== 0) {
            throw new RuntimeException("redis-cli --cluster create failed:\n" . implode("\n", $out));
        }
        // Formed: every node says ok and knows the 6, and every replica is in sync.
        $deadline = microtime(true) + 30;
        do {
            usleep(100_000);
            $formed = true;
            $synced = 0;
            foreach ($ports as $port) {
                $info = (string) ask($port, ['CLUSTER', 'INFO'], 0.3);
                $formed = $formed && str_contains($info, 'cluster_state:ok') && str_contains($info, 'cluster_known_nodes:6');
                $synced += (int) str_contains((string) ask($port, ['INFO', 'replication'], 0.3), 'master_link_status:up');
            }
            $formed = $formed && $synced === 3;
        } while (!$formed && microtime(true) < $deadline);
        if (!$formed) {
            throw new RuntimeException('the cluster did not form within 30 s');
        }
        $slot = (int) ask($ports[0], ['CLUSTER', 'KEYSLOT', $key], 0.3);
    } catch (Throwable $e) {
        $stop();
        throw $e;
    }
    // The master of the key's slot as the node on `$port` sees it (null: no answer, no master).
    $masterAt = static function (int $port, float $timeout = 0.1) use ($slot): ?int {
        $ranges = ask($port, ['CLUSTER', 'SLOTS'], $timeout);
        foreach (is_array($ranges) ? $ranges : [] as $range) {
            if ($slot >= $range[0] && $slot <= $range[1]) {
                return (int) $range[2][1];
            }
        }
        return null;
    };
    // Set by the kill: the killed master's port and node id, its replica's port, and the time.
    $killed = $killedId = $replica = null;
    $killedAt = 0.0;
    return new FailoverDeployment(
        'Cluster',
        '3 masters + 1 replica each, cluster-node-timeout 1000, cluster-replica-validity-factor 0, '
        . 'cluster-require-full-coverage yes (the default); the client\'s key on the killed master',
        "redis+cluster://127.0.0.1:{$ports[0]},127.0.0.1:{$ports[1]},127.0.0.1:{$ports[2]}",
        static function () use (&$killed, &$killedId, &$replica, &$killedAt, $masterAt, $ports, $serverPids): void {
            $killed = $masterAt($ports[0], 0.5) ?? throw new RuntimeException('no node names the key\'s master');
            $killedId = (string) ask($killed, ['CLUSTER', 'MYID'], 0.5);
            foreach ($ports as $port) {
                $nodes = (string) ask($port, ['CLUSTER', 'NODES'], 0.5);
                if (preg_match('/ myself,slave ' . preg_quote($killedId, '/') . ' /', $nodes)) {
                    $replica = $port;
                }
            }
            if ($killedId === '' || $replica === null) {
                throw new RuntimeException("the key's master $killed has no replica");
            }
            posix_kill($serverPids[$killed], SIGKILL);
            $killedAt = microtime(true);
        },
        static function () use (&$killed, $masterAt, $ports): bool {
            foreach ($ports as $port) {
                $master = $port === $killed ? null : $masterAt($port, 0.05);
                if ($master !== null && $master !== $killed) {
                    return true;
                }
            }
            return false;
        },
        static function () use (&$killed, &$killedId, &$replica, &$killedAt, $logs): array {
            $id = preg_quote((string) $killedId, '/');
            $detected = [];
            $ok = [];
            foreach ($logs as $port => $log) {
                if ($port === $killed) {
                    continue;
                }
                array_push($detected, ...logged_times($log, "Marking node $id as failing \\(quorum reached\\)|FAIL message received from \\w+ about $id"));
                // The first `ok` of each live node after the kill (every node says `fail` once
                // it learns the master failed, and `ok` once it knows the new master).
                $after = array_values(array_filter(logged_times($log, 'Cluster state changed: ok'), static fn (float $t): bool => $t > $killedAt - 0.001));
                $ok[] = $after[0] ?? null;
            }
            $won = array_values(array_filter(logged_times($logs[$replica], 'Failover election won'), static fn (float $t): bool => $t > $killedAt - 0.001));
            return [
                'detected' => $detected ? min($detected) : null,
                'promoted' => $won[0] ?? null,
                'switched' => in_array(null, $ok, true) ? null : max($ok),
            ];
        },
        $stop,
        'by the nodes\' logs (millisecond timestamps): master down is the first `Marking node … as failing (quorum reached)` '
        . 'or `FAIL message received … about` it on any node (cluster-node-timeout, then a majority of masters agreeing); '
        . 'replica promoted is the killed master\'s replica logging `Failover election won: I\'m the new master` (it serves '
        . 'the slots from then on); failover ended is the last live node logging `Cluster state changed: ok` again (each '
        . 'node logs `Cluster state changed: fail` when it learns the master failed, and, with cluster-require-full-coverage '
        . 'yes, answers CLUSTERDOWN for every slot until its `ok`)',
    );
}

/**
 * The deployments measured, by name: setup functions returning a FailoverDeployment.
 *
 * @var array<string, callable(): FailoverDeployment> $setups
 */
$setups = ['Sentinel' => 'sentinel_setup', 'Cluster' => 'cluster_setup'];
if ($only = getenv('SETUPS')) {
    $setups = array_intersect_key($setups, array_flip(explode(',', $only)));
}

/**
 * The client: acquire + release of one key in a loop until `$stopFile` exists; every call's
 * start (microtime), duration and outcome go to `$logFile` as JSON lines. Runs in a forked
 * process, so that the parent's polling does not delay it.
 */
function client_loop(string $dsn, array $options, string $stopFile, string $logFile): void
{
    $lock = new RedisLock($dsn, $options);
    $token = RedisLock::token();
    $out = fopen($logFile, 'w');
    $call = static function (string $op, callable $f) use ($out): mixed {
        $start = microtime(true);
        $t = hrtime(true);
        try {
            $result = $f();
            $outcome = $result ? 'ok' : 'false';
        } catch (RedisLockException $e) {
            $result = null;
            $outcome = get_class($e);
        }
        fwrite($out, json_encode(['op' => $op, 'start' => $start, 'seconds' => (hrtime(true) - $t) / 1e9, 'outcome' => $outcome]) . "\n");
        return $result;
    };
    while (!file_exists($stopFile)) {
        // The same token each time: an acquire after a release whose reply was lost still succeeds.
        if ($call('acquire', static fn (): bool => $lock->acquire('bench:failover', $token, 5))) {
            $call('release', static fn (): bool => $lock->release('bench:failover', $token));
        } else {
            usleep(5_000);
        }
    }
    fclose($out);
}

/** One run: returns the measurements, in seconds. */
function failover_run(FailoverDeployment $d, array $options, float $warmup): array
{
    $tmp = sys_get_temp_dir() . '/redis-lock-bench-failover-client-' . getmypid() . '-' . bin2hex(random_bytes(4));
    [$stopFile, $logFile] = ["$tmp.stop", "$tmp.jsonl"];
    $pid = pcntl_fork();
    if ($pid === 0) {
        $code = 0;
        try {
            client_loop($d->dsn, $options, $stopFile, $logFile);
        } catch (Throwable $e) {
            fwrite(STDERR, "client: $e\n");
            $code = 1;
        }
        posix_kill(getmypid(), SIGKILL); // no shutdown functions of the parent's in the child
        exit($code);
    }
    try {
        usleep((int) ($warmup * 1e6));
        ($d->killMaster)();
        // Once kill() has returned the old master runs no more code: a call that starts from
        // here on can only be answered by another server.
        $killedAt = microtime(true);
        $switchedAt = null;
        $deadline = $killedAt + 60;
        while ($switchedAt === null && microtime(true) < $deadline) {
            if (($d->switched)()) {
                $switchedAt = microtime(true);
            } else {
                usleep(10_000);
            }
        }
        if ($switchedAt === null) {
            throw new RuntimeException("{$d->name}: no failover within 60 s");
        }
        // Until the servers' failover has ended and the client has had 2 s of locks after the
        // switch (or 60 s passed).
        $firstOk = null;
        do {
            usleep(100_000);
            $events = ($d->events)();
            $firstOk = first_ok_after($logFile, $killedAt);
            $done = !in_array(null, $events, true) && $firstOk !== null && microtime(true) > max($firstOk, $switchedAt) + 2;
        } while (!$done && microtime(true) < $deadline);
        if (in_array(null, $events, true)) {
            throw new RuntimeException("{$d->name}: the failover is not complete in the servers' logs: " . json_encode($events));
        }
    } finally {
        touch($stopFile);
        pcntl_waitpid($pid, $status);
        $calls = array_map(static fn (string $l): array => json_decode($l, true), file($logFile, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) ?: []);
        @unlink($stopFile);
        @unlink($logFile);
    }
    if ($firstOk === null) {
        throw new RuntimeException("{$d->name}: no lock within 60 s of the kill");
    }
    $budget = $options['connectTimeout'] + $options['readTimeout'];
    $longest = max(array_column($calls, 'seconds'));
    $failed = [];
    $falses = 0;
    foreach ($calls as $c) {
        if ($c['outcome'] === 'false') {
            $falses++;
        } elseif ($c['outcome'] !== 'ok') {
            $failed[$c['outcome']] = ($failed[$c['outcome']] ?? 0) + 1;
        }
    }
    return [
        'detected' => $events['detected'] - $killedAt,
        'promoted' => $events['promoted'] - $killedAt,
        'servers' => $events['switched'] - $killedAt,
        'locks' => $firstOk - $killedAt,
        'longest' => $longest,
        'overrun' => max(0.0, $longest - $budget),
        'failed' => array_sum($failed),
        'failed_by_class' => $failed,
        'false' => $falses,
        'calls' => count($calls),
    ];
}

/** The end of the first successful acquire that started after `$after`, from the client's log. */
function first_ok_after(string $logFile, float $after): ?float
{
    foreach (file($logFile, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) ?: [] as $line) {
        $c = json_decode($line, true);
        if (is_array($c) && $c['op'] === 'acquire' && $c['outcome'] === 'ok' && $c['start'] > $after) {
            return $c['start'] + $c['seconds'];
        }
    }
    return null;
}

$options = ['connectTimeout' => $connectTimeout, 'readTimeout' => $readTimeout];
$rows = [];
foreach ($setups as $name => $setup) {
    $results = [];
    for ($r = 0; $r < $runs; $r++) {
        $deployment = $setup();
        try {
            $results[] = $result = failover_run($deployment, $options, $warmup);
        } finally {
            ($deployment->stop)();
        }
        fprintf(STDERR, "%s run %d: master down %.2f s, promoted %.2f s, ended %.2f s, locks %.2f s, longest call %.3f s, %d failed calls of %d\n",
            $name, $r + 1, $result['detected'], $result['promoted'], $result['servers'], $result['locks'], $result['longest'],
            $result['failed'], $result['calls']);
    }
    $classes = [];
    foreach ($results as $res) {
        foreach ($res['failed_by_class'] as $class => $n) {
            $classes[$class] = ($classes[$class] ?? 0) + $n;
        }
    }
    $rows[] = [
        'name' => $name,
        'detail' => $deployment->detail,
        'times' => $deployment->times,
        'detected' => median(array_column($results, 'detected')),
        'promoted' => median(array_column($results, 'promoted')),
        'servers' => median(array_column($results, 'servers')),
        'locks' => median(array_column($results, 'locks')),
        'longest' => median(array_column($results, 'longest')),
        'longest_max' => max(array_column($results, 'longest')),
        'overrun_max' => max(array_column($results, 'overrun')),
        'failed' => median(array_column($results, 'failed')),
        'false' => array_sum(array_column($results, 'false')),
        'classes' => $classes,
        'runs' => $results,
    ];
}

$budget = $connectTimeout + $readTimeout;
$lines = [];
$lines[] = sprintf('# Failover: locks after kill -9 of a master (%s)', date('Y-m-d H:i'));
$lines[] = '';
$lines[] = sprintf('redis-server %s on loopback; PHP %s; a client looping acquire + release with connectTimeout %.1f s and '
    . 'readTimeout %.1f s (budget per call %.1f s); master killed with SIGKILL after %.1f s; median of %d runs '
    . '(longest call and overrun: also the worst run).',
    trim((string) shell_exec('redis-server --version | sed -e "s/.* v=//" -e "s/ .*//"')), PHP_VERSION,
    $connectTimeout, $readTimeout, $budget, $warmup, $runs);
$lines[] = '';
$lines[] = '| deployment | servers: kill → master down (s) | kill → replica promoted (s) | kill → failover ended (s) | locks: kill → first lock (s) | locks after the promotion (s) | longest call (s), median / worst | overrun past the budget, worst (s) | failed calls (median) | acquire returned false |';
$lines[] = '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
foreach ($rows as $row) {
    $lines[] = sprintf('| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.3f / %.3f | %.3f | %s | %d |', $row['name'], $row['detected'], $row['promoted'],
        $row['servers'], $row['locks'], $row['locks'] - $row['promoted'], $row['longest'], $row['longest_max'], $row['overrun_max'],
        $row['failed'], $row['false']);
}
$lines[] = '';
foreach ($rows as $row) {
    $classes = $row['classes'] ? implode(', ', array_map(static fn (string $c, int $n): string => "$c × $n", array_keys($row['classes']), $row['classes'])) : 'none';
    $lines[] = sprintf('- %s: %s. Failed calls over all runs: %s.', $row['name'], $row['detail'], $classes);
}
foreach ($rows as $row) {
    $lines[] = sprintf('- %s servers, %s.', $row['name'], $row['times']);
}
$lines[] = '- Locks: from the kill until the end of the first successful acquire that started after it. A call\'s budget is '
    . 'connectTimeout + readTimeout.';
$report = implode("\n", $lines) . "\n";
echo $report;
file_put_contents(bench_results() . '/failover.md', $report);
file_put_contents(bench_results() . '/failover.json', json_encode($rows, JSON_PRETTY_PRINT));
