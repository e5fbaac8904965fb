<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Think\support;

/**
 * A ThinkPHP application root in a temporary folder, laid out as Composer would leave it: this
 * bridge installed as vendor/redis-lock/bridge and listed in vendor/composer/installed.json
 * (so ThinkPHP's own `service:discover` and `vendor:publish` find it), a .env with the DSN, a
 * route file, and public/index.php. Its PHP runs in child processes (see support/boot.php).
 */
final class ThinkApp
{
    public readonly string $root;

    public function __construct(public readonly string $version, string $dsn, string $routes = '')
    {
        $this->root = \RedisLock\Bridge\Tests\support\TempDirs::make('redis-lock-think');
        $bridge = dirname(__DIR__, 3);
        foreach (['vendor/composer', 'vendor/redis-lock', 'config', 'route', 'public', 'runtime', 'app'] as $dir) {
            mkdir("$this->root/$dir", 0777, true);
        }
        symlink($bridge, "$this->root/vendor/redis-lock/bridge");
        $package = json_decode((string) file_get_contents("$bridge/composer.json"), true, flags: JSON_THROW_ON_ERROR);
        file_put_contents("$this->root/vendor/composer/installed.json", json_encode(['packages' => [$package]]));
        file_put_contents("$this->root/.env", "REDIS_LOCK_DSN = \"$dsn\"\n");
        // The least configuration a fresh app needs (a skeleton project ships these files).
        file_put_contents("$this->root/config/app.php", "<?php return ['default_timezone' => 'UTC', 'show_error_msg' => true];\n");
        file_put_contents("$this->root/config/cache.php", "<?php return ['default' => 'file', 'stores' => ['file' => ['type' => 'File', 'path' => '']]];\n");
        file_put_contents("$this->root/config/log.php", "<?php return ['default' => 'file', 'channels' => ['file' => ['type' => 'File', 'path' => '']]];\n");
        file_put_contents("$this->root/route/app.php", "<?php\nuse think\\facade\\Route;\n$routes\n");
        file_put_contents("$this->root/public/index.php", '<?php
require ' . var_export(__DIR__ . '/boot.php', true) . ';
$http = (new think\App(' . var_export($this->root, true) . '))->http;
$response = $http->run();
$response->send();
$http->end($response);
');
    }

    /** The environment of this app's PHP processes. */
    public function env(): array
    {
        return [
            'REDIS_LOCK_THINKPHP' => (string) getenv('REDIS_LOCK_THINKPHP'),
            'REDIS_LOCK_THINKPHP_VERSION' => $this->version,
        ];
    }

    /**
     * Runs `$code` in a child process with ThinkPHP loaded and `$app` (a `think\App` of this
     * root) defined; returns [exit code, stdout, stderr].
     */
    public function php(string $code, float $timeout = 30.0): array
    {
        $file = tempnam(sys_get_temp_dir(), 'redis-lock-think-');
        file_put_contents($file, '<?php declare(strict_types=1);
require ' . var_export(__DIR__ . '/boot.php', true) . ';
$app = new think\App(' . var_export($this->root, true) . ');
' . $code);
        try {
            return self::run([PHP_BINARY, '-d', 'extension=' . \RedisLockTests\Processes::extensionPath(), $file], $this->env(), $timeout);
        } finally {
            unlink($file);
        }
    }

    /** Runs a think console command through think\Console (in a child process); returns its output. */
    public function console(string $command, array $arguments = []): string
    {
        [$code, $out, $err] = $this->php('
            $output = $app->console->call(' . var_export($command, true) . ', ' . var_export($arguments, true) . ');
            echo json_encode(["out" => $output->fetch()]);');
        if ($code !== 0 || $err !== '') {
            throw new \RuntimeException("think $command failed ($code): $err$out");
        }
        return json_decode($out, true, flags: JSON_THROW_ON_ERROR)['out'];
    }

    /**
     * Starts PHP's built-in web server (`$workers` worker processes) on this app's public/;
     * returns its base URL and a function that stops it.
     *
     * @return array{0: string, 1: \Closure}
     */
    public function serve(int $workers): array
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        $address = stream_socket_get_name($server, false);
        fclose($server);
        $env = $this->env() + ['PHP_CLI_SERVER_WORKERS' => (string) $workers, 'PATH' => (string) getenv('PATH')];
        $cmd = [PHP_BINARY, '-d', 'extension=' . \RedisLockTests\Processes::extensionPath(), '-S', $address, '-t', "$this->root/public", "$this->root/public/index.php"];
        $log = "$this->root/runtime/server.log";
        $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', $log, 'a'], 2 => ['file', $log, 'a']], $pipes, null, $env);
        $deadline = microtime(true) + 10;
        while (!($socket = @stream_socket_client("tcp://$address", $errno, $errstr, 0.2))) {
            if (microtime(true) > $deadline) {
                proc_terminate($proc, SIGKILL);
                throw new \RuntimeException("the built-in server did not start: " . @file_get_contents($log));
            }
            usleep(50_000);
        }
        fclose($socket);
        $stop = static function () use ($proc): void {
            // The server and its workers are one process group only with setsid; stop the
            // master, which stops its workers.
            proc_terminate($proc, SIGTERM);
            $deadline = microtime(true) + 5;
            while (proc_get_status($proc)['running'] && microtime(true) < $deadline) {
                usleep(20_000);
            }
            if (proc_get_status($proc)['running']) {
                proc_terminate($proc, SIGKILL);
            }
            proc_close($proc);
        };
        return ["http://$address", $stop];
    }

    /** @return array{0: int, 1: string, 2: string} */
    private static function run(array $cmd, array $env, float $timeout): array
    {
        return \RedisLockTests\Processes::run($cmd, $env + ['PATH' => (string) getenv('PATH')], $timeout);
    }
}
