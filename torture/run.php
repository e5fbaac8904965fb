<?php
/**
 * `make torture`: N worker processes take leases on a few keys for T seconds, writing through a
 * fenced ledger, while a chaos loop kills holders with SIGKILL, kills waiters in line with
 * SIGKILL, stops holders past their TTL with SIGSTOP, kills their connections (CLIENT KILL),
 * stalls the server (DEBUG SLEEP), restarts it (kill -9, then start again from its append-only
 * file), wipes it (kill -9, then start without its data: every fence counter lost) and makes it
 * evict (maxmemory with allkeys-lru, filled with junk: lock keys and counters are evicted). The
 * lock names include pairs that shared keys under the old naming scheme (`N` and `{N}`, `{T}:a`
 * and `{T}:a:fence`). Workers also take a semaphore, a read-write lock, multi-key locks (on that
 * server) and a Redlock quorum lock over 3 more servers, one of which at a time the chaos loop
 * stops (SIGSTOP), takes down (kill -9, started again from its append-only file), stalls or
 * disconnects. Then the invariants are checked and printed as a table, ending with one line:
 * "N passed, M failed".
 *
 * Environment: WORKERS (16), SECONDS (60), SEED (random), SABOTAGE=1 (workers skip the lock:
 * the run must then fail, which shows the checks can).
 * Needs no REDIS_URL: it runs its own redis-servers (AOF, fsync always) on free ports.
 */

declare(strict_types=1);

require __DIR__ . '/Ledger.php';
require __DIR__ . '/analysis.php';

$workers = (int) (getenv('WORKERS') ?: 16);
$seconds = (float) (getenv('SECONDS') ?: 60);
$seed = (int) (getenv('SEED') ?: random_int(1, PHP_INT_MAX));
mt_srand($seed);
$so = getenv('REDIS_LOCK_SO') ?: dirname(__DIR__) . '/target/release/libredis_lock.so';
$dir = sys_get_temp_dir() . '/redis-lock-torture-' . getmypid();
@mkdir($dir);
const LEASE_TTL = 1.0;

// ---- the servers --------------------------------------------------------------------------
// Server 0 holds the fenced keys, the semaphore, the read-write and the multi-key locks; servers
// 1..QUORUM are the members of a Redlock quorum (torture-quorum), each with its own data.
const QUORUM = 3;
$freePort = static function (): int {
    $s = stream_socket_server('tcp://127.0.0.1:0');
    $name = stream_socket_get_name($s, false);
    fclose($s);
    return (int) substr(strrchr($name, ':'), 1);
};
$servers = []; // i => ['port', 'dir', 'pid']
for ($i = 0; $i <= QUORUM; $i++) {
    $servers[$i] = ['port' => $freePort(), 'dir' => $i === 0 ? $dir : "$dir/member-$i", 'pid' => null];
    @mkdir($servers[$i]['dir']);
}
$port = $servers[0]['port'];
$startServer = static function (int $i = 0, bool $wipe = false) use (&$servers): void {
    ['port' => $port, 'dir' => $dir] = $servers[$i];
    if ($wipe) {
        exec('rm -rf ' . escapeshellarg("$dir/appendonlydir") . ' ' . escapeshellarg("$dir/appendonly.aof"));
    }
    $cmd = sprintf('redis-server --port %d --bind 127.0.0.1 --dir %s --appendonly yes --appendfsync always --save "" '
        . '--enable-debug-command local --daemonize yes --pidfile %s/redis.pid --logfile %s/redis.log',
        $port, escapeshellarg($dir), escapeshellarg($dir), escapeshellarg($dir));
    @unlink("$dir/redis.pid");
    exec($cmd, $o, $code);
    $deadline = microtime(true) + 10;
    while (microtime(true) < $deadline) {
        $pid = (int) @file_get_contents("$dir/redis.pid");
        if ($pid > 0) {
            $servers[$i]['pid'] = $pid; // known from now on: stopped at the end even if it never answers
            try {
                $r = new Redis();
                if (@$r->connect('127.0.0.1', $port, 0.2) && $r->ping()) {
                    return;
                }
            } catch (Throwable) {
                // still loading its append-only file
            }
        }
        usleep(10_000);
    }
    throw new RuntimeException("redis-server $i did not start");
};
$isAlive = static function (int $pid): bool {
    $stat = @file_get_contents("/proc/$pid/stat");
    return $stat !== false && substr(ltrim(substr($stat, strrpos($stat, ')') + 1)), 0, 1) !== 'Z';
};
$killServer = static function (int $i = 0) use (&$servers, $isAlive): void {
    $pid = $servers[$i]['pid'];
    if ($pid) {
        posix_kill($pid, SIGCONT); // a stopped server dies all the same; be sure
        posix_kill($pid, SIGKILL);
        $deadline = microtime(true) + 5;
        while ($isAlive($pid) && microtime(true) < $deadline) {
            usleep(5_000);
        }
        $servers[$i]['pid'] = null;
    }
};
// Whatever ends this script (an error, SIGTERM from a test that gave up on it), no server is
// left running, or stopped.
register_shutdown_function(static function () use (&$servers): void {
    foreach ($servers as $server) {
        if ($server['pid']) {
            posix_kill($server['pid'], SIGCONT);
            posix_kill($server['pid'], SIGKILL);
        }
    }
});
pcntl_async_signals(true);
pcntl_signal(SIGTERM, static fn () => exit(2));
foreach (array_keys($servers) as $i) {
    $startServer($i);
}
$dsn = "redis://127.0.0.1:$port";
$members = implode(' ', array_map(static fn ($s) => "redis://127.0.0.1:{$s['port']}", array_slice($servers, 1)));
$admin = static function (int $i = 0) use (&$servers): Redis {
    $r = new Redis();
    $r->connect('127.0.0.1', $servers[$i]['port'], 1.0);
    return $r;
};

// ---- the workers --------------------------------------------------------------------------
// Pairs that shared companion keys under the old naming scheme: `N` and `{N}`, and a tagged
// name and the name of its old fence counter.
$lockNames = ['torture:k1', '{torture:k1}', '{torture}:a', '{torture}:a:fence'];
$keyCount = count($lockNames);
$keys = implode(',', $lockNames);
$end = microtime(true) + $seconds;
$procs = [];   // id => ['proc', 'pid', 'exit' => null|array]
$nextId = 0;
$spawn = static function () use (&$procs, &$nextId, $so, $dsn, $keys, &$end, $dir, $members): void {
    $id = $nextId++;
    $cmd = [PHP_BINARY, '-d', "extension=$so", __DIR__ . '/worker.php', $dsn, $keys, (string) $id, (string) $end, $dir, $members];
    $proc = proc_open($cmd, [1 => ['file', "$dir/stdout-$id", 'w'], 2 => ['file', "$dir/stderr-$id", 'w']], $pipes);
    $procs[$id] = ['proc' => $proc, 'pid' => proc_get_status($proc)['pid'], 'exit' => null, 'killed' => false, 'hung' => false];
};
for ($i = 0; $i < $workers; $i++) {
    $spawn();
}
$poll = static function () use (&$procs): void {
    foreach ($procs as $id => &$w) {
        if ($w['exit'] === null) {
            $st = proc_get_status($w['proc']);
            if (!$st['running']) {
                $w['exit'] = ['code' => $st['exitcode'], 'signaled' => $st['signaled'], 'sig' => $st['termsig']];
            }
        }
    }
};
$holders = static function () use (&$procs, $dir): array {
    $found = [];
    foreach ($procs as $id => $w) {
        $p = json_decode((string) @file_get_contents("$dir/progress-$id"), true);
        if ($w['exit'] === null && is_array($p) && str_starts_with($p['state'], 'holding')) {
            $found[] = $id;
        }
    }
    return $found;
};

// ---- chaos --------------------------------------------------------------------------------
$events = []; // each: [type, t0, t1, pid|null]
$stopped = []; // pid => [id, t_stop]
$actions = ['kill9' => 3, 'killwaiter' => 3, 'stop' => 3, 'clientkill' => 2, 'debugsleep' => 2, 'restart' => 1,
    'wipe' => 1, 'evict' => 1, 'member-stop' => 3, 'member-down' => 2, 'member-clientkill' => 1, 'member-sleep' => 1];
// One member of the quorum at a time is stopped (SIGSTOP) or down (kill -9, started again from
// its append-only file later), for 0.3 to 1.5 s: a majority stays. (A member is never wiped: a
// member that forgets its locks breaks Redlock, see the README's safety caveats.)
$memberFault = null; // ['type', 'i', 't0', 'until']
$waiters = static function () use (&$procs, $dir): array {
    $found = [];
    foreach ($procs as $id => $w) {
        $p = json_decode((string) @file_get_contents("$dir/progress-$id"), true);
        // In line for a while (not just arrived): queued, heartbeating.
        if ($w['exit'] === null && is_array($p) && str_starts_with($p['state'], 'waiting') && microtime(true) - $p['t'] > 0.1) {
            $found[] = $id;
        }
    }
    return $found;
};
$next = microtime(true) + 1.0;
while (microtime(true) < $end) {
    $poll();
    $now = microtime(true);
    foreach ($stopped as $pid => [$id, $t]) {
        if ($now - $t >= LEASE_TTL + 0.5) {
            posix_kill($pid, SIGCONT);
            $events[] = ['stop', $t, microtime(true), $pid];
            unset($stopped[$pid]);
        }
    }
    if ($memberFault !== null && $now >= $memberFault['until']) {
        ['type' => $type, 'i' => $i, 't0' => $t] = $memberFault;
        try {
            if ($type === 'member-stop') {
                posix_kill($servers[$i]['pid'], SIGCONT);
            } else {
                $startServer($i);
            }
            $events[] = [$type, $t, microtime(true), null];
            $memberFault = null;
        } catch (Throwable $e) {
            // Not back: no other member is faulted meanwhile; try again in a while.
            fwrite(STDERR, "chaos $type (ending) failed: {$e->getMessage()}\n");
            $killServer($i);
            $memberFault['until'] = microtime(true) + 0.5;
        }
    }
    if ($now >= $next && $now < $end - 1.5) {
        $pick = mt_rand(1, array_sum($actions));
        foreach ($actions as $action => $weight) {
            if (($pick -= $weight) <= 0) {
                break;
            }
        }
        $t0 = microtime(true);
        try {
            switch ($action) {
                case 'kill9':
                case 'stop':
                    $candidates = array_values(array_filter($holders(), static fn ($id) => !isset($stopped[$procs[$id]['pid']])));
                    if (!$candidates) {
                        break;
                    }
                    $id = $candidates[array_rand($candidates)];
                    $pid = $procs[$id]['pid'];
                    if ($action === 'kill9') {
                        $procs[$id]['killed'] = true;
                        posix_kill($pid, SIGKILL);
                        $events[] = ['kill9', $t0, microtime(true), $pid];
                        $spawn();
                    } else {
                        posix_kill($pid, SIGSTOP);
                        $stopped[$pid] = [$id, $t0];
                    }
                    break;
                case 'killwaiter':
                    $candidates = $waiters();
                    if (!$candidates) {
                        break;
                    }
                    $id = $candidates[array_rand($candidates)];
                    $procs[$id]['killed'] = true;
                    posix_kill($procs[$id]['pid'], SIGKILL);
                    $events[] = ['killwaiter', $t0, microtime(true), $procs[$id]['pid']];
                    $spawn();
                    break;
                case 'wipe':
                    $killServer();
                    $startServer(0, true);
                    $events[] = ['wipe', $t0, microtime(true), null];
                    break;
                case 'evict':
                    // Just above what is used, then junk: allkeys-lru evicts whatever is least
                    // recently used, lock keys and fence counters included. (Writes that find
                    // nothing left to evict fail with OOM: expected, workers see it too.)
                    $r = $admin();
                    try {
                        $used = (int) $r->info('memory')['used_memory'];
                        $r->rawCommand('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
                        $r->rawCommand('CONFIG', 'SET', 'maxmemory', (string) ($used + 200_000));
                        for ($j = 0; $j < 400; $j++) {
                            try {
                                $r->set("junk:$j", str_repeat('x', 1000));
                            } catch (RedisException) {
                            }
                        }
                        usleep(300_000);
                    } finally {
                        $r->rawCommand('CONFIG', 'SET', 'maxmemory', '0');
                        $r->rawCommand('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
                        $r->del(array_map(static fn ($j) => "junk:$j", range(0, 399)));
                        $events[] = ['evict', $t0, microtime(true), null];
                    }
                    break;
                case 'clientkill':
                    $admin()->rawCommand('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
                    $events[] = ['clientkill', $t0, microtime(true), null];
                    break;
                case 'debugsleep':
                    $admin()->rawCommand('DEBUG', 'SLEEP', '0.4');
                    $events[] = ['debugsleep', $t0, microtime(true), null];
                    break;
                case 'member-stop':
                case 'member-down':
                    if ($memberFault !== null) {
                        break;
                    }
                    $i = mt_rand(1, QUORUM);
                    if ($action === 'member-stop') {
                        posix_kill($servers[$i]['pid'], SIGSTOP);
                    } else {
                        $killServer($i);
                    }
                    $memberFault = ['type' => $action, 'i' => $i, 't0' => $t0, 'until' => $t0 + mt_rand(300, 1500) / 1000];
                    break;
                case 'member-clientkill':
                case 'member-sleep':
                    if ($memberFault !== null) {
                        break;
                    }
                    $r = $admin(mt_rand(1, QUORUM));
                    if ($action === 'member-clientkill') {
                        $r->rawCommand('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
                    } else {
                        $r->rawCommand('DEBUG', 'SLEEP', '0.4');
                    }
                    $events[] = [$action, $t0, microtime(true), null];
                    break;
                case 'restart':
                    $killServer();
                    usleep(100_000); // down for a moment
                    $startServer();
                    $events[] = ['restart', $t0, microtime(true), null];
                    break;
            }
        } catch (Throwable $e) {
            fwrite(STDERR, "chaos $action failed: {$e->getMessage()}\n");
        }
        $next = microtime(true) + mt_rand(300, 700) / 1000;
    }
    usleep(20_000);
}
foreach ($stopped as $pid => [$id, $t]) {
    posix_kill($pid, SIGCONT);
    $events[] = ['stop', $t, microtime(true), $pid];
}
if ($memberFault !== null) {
    try {
        $memberFault['type'] === 'member-stop' ? posix_kill($servers[$memberFault['i']]['pid'], SIGCONT) : $startServer($memberFault['i']);
    } catch (Throwable $e) {
        fwrite(STDERR, "chaos {$memberFault['type']} (ending) failed: {$e->getMessage()}\n");
    }
    $events[] = [$memberFault['type'], $memberFault['t0'], microtime(true), null];
    $memberFault = null;
}

// ---- wind down: every worker must finish on its own -----------------------------------------
$grace = microtime(true) + 15;
do {
    $poll();
    $running = array_filter($procs, static fn ($w) => $w['exit'] === null);
    usleep(50_000);
} while ($running && microtime(true) < $grace);
foreach ($running as $id => $w) {
    $procs[$id]['hung'] = true;
    proc_terminate($w['proc'], SIGKILL);
}
$poll();
foreach ($procs as $w) {
    proc_close($w['proc']);
}

// ---- analysis -----------------------------------------------------------------------------
$records = [];
foreach (glob("$dir/worker-*.jsonl") as $file) {
    foreach (file($file, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $line) {
        $records[] = json_decode($line, true);
    }
}
$stderr = [];
foreach ($procs as $id => $w) {
    $err = trim((string) @file_get_contents("$dir/stderr-$id"));
    if ($err !== '') {
        $stderr[$id] = $err;
    }
}
file_put_contents("$dir/chaos.json", json_encode($events));
$report = torture_analyse($records, Ledger::events($dir), $events, $procs, $stderr);
foreach (array_keys($servers) as $i) {
    $killServer($i);
}
printf("Torture: %d workers (%d spawned), %.0f s, %d keys, lease TTL %.1f s, seed %d, redis-server 127.0.0.1:%d "
    . "and a quorum of %d (AOF, fsync always)\n\n", $workers, count($procs), $seconds, $keyCount, LEASE_TTL, $seed, $port, QUORUM);
echo $report['text'];
if ($report['failed'] === 0) {
    exec('rm -rf ' . escapeshellarg($dir));
} else {
    echo "evidence kept in $dir\n";
}
exit($report['failed'] === 0 ? 0 : 1);
