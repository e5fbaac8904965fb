<?php
/**
 * `make bench`, part 3: a real deployment. php-fpm (Debian's php8.2-fpm, 4 static workers)
 * behind nginx, both on loopback, driven by wrk; each request takes and releases a lock. Compared in one run, alternating: the extension (persistent
 * connection per worker), phpredis connect() per request, phpredis pconnect(), Laravel's lock,
 * Symfony Lock. Keys are drawn from a million, so the lock is uncontended. Requests/s and p99 latency at several concurrency levels.
 *
 * Environment: REDIS_URL, CONCURRENCY ("1,8,32"), SECONDS (4 per run), ROUNDS (2).
 * Writes bench/results/fpm.md and fpm.json.
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

$url = parse_url(getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379');
$redisUrl = sprintf('redis://%s:%d', $url['host'], $url['port'] ?? 6379);
$levels = array_map('intval', explode(',', getenv('CONCURRENCY') ?: '1,8,32'));
$seconds = (int) (getenv('SECONDS') ?: 4);
$rounds = (int) (getenv('ROUNDS') ?: 2);
$so = getenv('REDIS_LOCK_SO') ?: dirname(__DIR__) . '/target/release/libredis_lock.so';
$fpmBinary = trim((string) shell_exec('command -v php-fpm8.2 || ls /usr/sbin/php-fpm8.2 2>/dev/null'));
$nginxBinary = trim((string) shell_exec('command -v nginx || ls /usr/sbin/nginx 2>/dev/null'));
$wrk = trim((string) shell_exec('command -v wrk'));
foreach (['php-fpm8.2' => $fpmBinary, 'nginx' => $nginxBinary, 'wrk' => $wrk] as $tool => $path) {
    if ($path === '') {
        fwrite(STDERR, "$tool is missing (make deps-bench installs php8.2-fpm, nginx and wrk)\n");
        exit(1);
    }
}
$variants = [
    'redis_lock' => 'redis_lock.php',
    'phpredis connect()' => 'phpredis_connect.php',
    'phpredis pconnect()' => 'phpredis_pconnect.php',
    'Laravel lock' => 'laravel.php',
    'Symfony Lock' => 'symfony.php',
];

$dir = sys_get_temp_dir() . '/redis-lock-fpm-' . getmypid();
mkdir($dir);
chmod($dir, 0777);
$www = __DIR__ . '/fpm/www';
$port = (static function (): int {
    $s = stream_socket_server('tcp://127.0.0.1:0');
    $name = stream_socket_get_name($s, false);
    fclose($s);
    return (int) substr(strrchr($name, ':'), 1);
})();
$asRoot = posix_getuid() === 0;
file_put_contents("$dir/php-fpm.conf", <<<CONF
[global]
pid = $dir/fpm.pid
error_log = $dir/fpm.log
daemonize = no

[bench]
listen = $dir/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = 4
clear_env = yes
env[REDIS_URL] = $redisUrl
CONF . ($asRoot ? "\nuser = nobody\ngroup = nogroup\n" : "\n"));
file_put_contents("$dir/nginx.conf", <<<CONF
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    fastcgi_temp_path $dir/fastcgi;
    proxy_temp_path $dir/proxy;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        root $www;
        location ~ \.php$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_pass unix:$dir/fpm.sock;
        }
    }
}
CONF);
if ($asRoot) {
    file_put_contents("$dir/nginx.conf", "user nobody nogroup;\n" . file_get_contents("$dir/nginx.conf"));
}
$fpm = proc_open([$fpmBinary, '-F', '-R', '-y', "$dir/php-fpm.conf", '-d', "extension=$so"], [1 => ['file', "$dir/fpm.out", 'w'], 2 => ['file', "$dir/fpm.err", 'w']], $p1);
$nginx = proc_open([$nginxBinary, '-c', "$dir/nginx.conf", '-p', $dir], [1 => ['file', "$dir/nginx.out", 'w'], 2 => ['file', "$dir/nginx.err", 'w']], $p2);
$stop = static function () use ($fpm, $nginx, $dir): void {
    foreach ([$nginx, $fpm] as $proc) {
        proc_terminate($proc, SIGTERM);
        $deadline = microtime(true) + 5;
        while (proc_get_status($proc)['running'] && microtime(true) < $deadline) {
            usleep(20_000);
        }
        proc_terminate($proc, SIGKILL);
        proc_close($proc);
    }
    exec('rm -rf ' . escapeshellarg($dir));
};

try {
    // Every endpoint answers "ok" before anything is measured.
    $deadline = microtime(true) + 15;
    foreach ($variants as $name => $script) {
        while (@file_get_contents("http://127.0.0.1:$port/$script") !== 'ok') {
            if (microtime(true) > $deadline) {
                throw new RuntimeException("$name does not answer ok: " . @file_get_contents("$dir/fpm.log") . @file_get_contents("$dir/nginx-error.log"));
            }
            usleep(100_000);
        }
    }
    $results = []; // [variant][concurrency] => list of [rps, p99 ms, errors]
    foreach ($levels as $c) {
        for ($r = 0; $r < $rounds; $r++) {
            $names = array_keys($variants);
            if ($r % 2 === 1) {
                $names = array_reverse($names);
            }
            foreach ($names as $name) {
                fprintf(STDERR, "fpm: %s, %d connections, round %d ...\n", $name, $c, $r + 1);
                $out = shell_exec(sprintf('%s -t%d -c%d -d%ds --latency %s 2>&1', $wrk, min(2, $c), $c, $seconds,
                    escapeshellarg("http://127.0.0.1:$port/{$variants[$name]}")));
                preg_match('/Requests\/sec:\s+([\d.]+)/', (string) $out, $rps);
                preg_match('/^\s+99%\s+([\d.]+)(us|ms|s)/m', (string) $out, $p99);
                preg_match('/Non-2xx or 3xx responses: (\d+)/', (string) $out, $errors);
                $ms = isset($p99[1]) ? (float) $p99[1] * ['us' => 0.001, 'ms' => 1, 's' => 1000][$p99[2]] : NAN;
                $results[$name][$c][] = [(float) ($rps[1] ?? 0), $ms, (int) ($errors[1] ?? 0)];
            }
        }
    }
} finally {
    $stop();
}

$median = static function (array $xs): float {
    sort($xs);
    $n = count($xs);
    return $n % 2 ? $xs[intdiv($n, 2)] : ($xs[$n / 2 - 1] + $xs[$n / 2]) / 2;
};
$table = [];
foreach ($results as $name => $byLevel) {
    foreach ($byLevel as $c => $runs) {
        $table[$name][$c] = [
            'rps' => $median(array_column($runs, 0)),
            'p99' => $median(array_column($runs, 1)),
            'errors' => array_sum(array_column($runs, 2)),
        ];
    }
}
$lines = [sprintf('# PHP-FPM behind nginx (%s)', date('Y-m-d H:i')), ''];
$lines[] = sprintf('php-fpm 8.2 (4 static workers, opcache as Debian ships it) behind nginx on loopback, wrk -t2 (-t1 for 1 connection), %d s per run, '
    . 'median of %d alternating rounds; each request takes and releases a lock on one of a million keys (busy answers count as failed requests).', $seconds, $rounds);
$lines[] = '';
$header = '| variant |';
$rule = '|---|';
foreach ($levels as $c) {
    $header .= " req/s (c=$c) | p99 ms (c=$c) |";
    $rule .= '---:|---:|';
}
$lines[] = $header . ' failed requests |';
$lines[] = $rule . '---:|';
$base = $table['phpredis connect()'] ?? null;
foreach ($table as $name => $byLevel) {
    $row = "| $name |";
    $errors = 0;
    foreach ($levels as $c) {
        $ratio = $base ? sprintf(' (%.2fx)', $byLevel[$c]['rps'] / max(1, $base[$c]['rps'])) : '';
        $row .= sprintf(' %.0f%s | %.2f |', $byLevel[$c]['rps'], $ratio, $byLevel[$c]['p99']);
        $errors += $byLevel[$c]['errors'];
    }
    $lines[] = $row . " $errors |";
}
$lines[] = '';
$lines[] = 'Ratios are against phpredis connect() at the same concurrency.';
$report = implode("\n", $lines) . "\n";
echo $report;
file_put_contents(bench_results() . '/fpm.md', $report);
file_put_contents(bench_results() . '/fpm.json', json_encode(['levels' => $levels, 'table' => $table], JSON_PRETTY_PRINT));
