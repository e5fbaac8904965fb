<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Testing;

/**
 * A throwaway redis-server for integration tests: started on a free loopback port (or a unix
 * socket), without persistence (`--save ''`, `--appendonly no`), stopped by its pid when
 * stop() is called, when the object is destroyed, or when the process that started it ends
 * (never by a forked child).
 *
 * PHPUnit 9 (bootstrap file) and PHPUnit 10+ (bootstrap file, or an extension's bootstrap):
 *
 * ```php
 * // tests/bootstrap.php
 * require 'vendor/autoload.php';
 * $dsn = \RedisLock\Bridge\Testing\RedisServer::shared()->dsn();  // one server for the run
 * putenv("REDIS_LOCK_DSN=$dsn");
 * ```
 *
 * or per test class: `self::$server = RedisServer::start();` in `setUpBeforeClass()` and
 * `self::$server->stop();` in `tearDownAfterClass()`.
 */
final class RedisServer
{
    private static ?self $shared = null;

    private bool $stopped = false;

    private function __construct(
        private readonly int $pid,
        private readonly string $dir,
        private readonly string $dsn,
        private readonly ?int $port,
        private readonly int $owner,
    ) {
    }

    /**
     * Starts a server and waits until it answers.
     *
     * @param array{unixSocket?: bool, args?: list<string>, binary?: string, timeout?: float} $options
     *        `unixSocket`: listen on a unix socket instead of a TCP port; `args`: more
     *        redis-server arguments (e.g. `['--maxmemory', '10mb']`); `binary`: the
     *        redis-server to run (default: `redis-server` on the PATH); `timeout`: seconds to
     *        wait for it (default 5)
     * @throws \RuntimeException when redis-server is missing or does not start
     */
    public static function start(array $options = []): self
    {
        $binary = $options['binary'] ?? self::find('redis-server');
        if ($binary === null || !is_executable($binary)) {
            throw new \RuntimeException(
                'redis-server was not found on the PATH: install it (Debian/Ubuntu: apt-get install redis-server; '
                . 'macOS: brew install redis), pass its path as the "binary" option, or use the DSN memory:// '
                . 'for unit tests that need no server'
            );
        }
        $dir = sys_get_temp_dir() . '/redis-lock-test-' . getmypid() . '-' . bin2hex(random_bytes(4));
        if (!@mkdir($dir, 0700)) {
            throw new \RuntimeException("cannot create $dir");
        }
        $unix = (bool) ($options['unixSocket'] ?? false);
        $port = $unix ? null : self::freePort();
        $args = [$binary, '--port', (string) ($port ?? 0), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
            '--dir', $dir, '--daemonize', 'yes', '--pidfile', "$dir/redis.pid", '--logfile', "$dir/redis.log"];
        if ($unix) {
            array_push($args, '--unixsocket', "$dir/redis.sock", '--unixsocketperm', '700');
        }
        foreach ($options['args'] ?? [] as $arg) {
            $args[] = (string) $arg;
        }
        $proc = proc_open($args, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        if (!is_resource($proc)) {
            throw new \RuntimeException("cannot run $binary");
        }
        $output = stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]);
        $exit = proc_close($proc);
        $dsn = $unix ? "unix://$dir/redis.sock" : "redis://127.0.0.1:$port";
        $deadline = microtime(true) + (float) ($options['timeout'] ?? 5.0);
        $pid = 0;
        while (microtime(true) < $deadline) {
            $pid = (int) @file_get_contents("$dir/redis.pid");
            if ($pid > 0 && self::answers($unix ? "$dir/redis.sock" : "127.0.0.1:$port", $unix)) {
                return new self($pid, $dir, $dsn, $port, getmypid());
            }
            usleep(10_000);
        }
        if ($pid > 0) {
            @posix_kill($pid, SIGKILL);
        }
        $log = (string) @file_get_contents("$dir/redis.log");
        self::removeDir($dir);
        throw new \RuntimeException("redis-server did not start (exit $exit): " . trim($output . "\n" . substr($log, -2000)));
    }

    /** One server for the whole process, started on first use and stopped when the process ends. */
    public static function shared(): self
    {
        if (self::$shared === null || self::$shared->stopped) {
            self::$shared = self::start();
            $server = self::$shared;
            register_shutdown_function(static fn () => $server->stop());
        }
        return self::$shared;
    }

    /** The DSN to give `new \RedisLock(...)` (`redis://127.0.0.1:PORT` or `unix:///…/redis.sock`). */
    public function dsn(): string
    {
        return $this->dsn;
    }

    /** The TCP port, or null for a unix socket server. */
    public function port(): ?int
    {
        return $this->port;
    }

    /** The server's pid. */
    public function pid(): int
    {
        return $this->pid;
    }

    /** Deletes every key (between tests). */
    public function flush(): void
    {
        $reply = $this->command("*1\r\n\$8\r\nFLUSHALL\r\n");
        if ($reply !== "+OK\r\n") {
            throw new \RuntimeException('FLUSHALL failed: ' . trim($reply));
        }
    }

    /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its files. Idempotent. */
    public function stop(): void
    {
        if ($this->stopped || getmypid() !== $this->owner) {
            return; // a forked child never stops its parent's server
        }
        $this->stopped = true;
        if (@posix_kill($this->pid, SIGTERM)) {
            $deadline = microtime(true) + 5;
            while (@posix_kill($this->pid, 0) && microtime(true) < $deadline) {
                if (self::isZombie($this->pid)) {
                    break;
                }
                usleep(10_000);
            }
            if (@posix_kill($this->pid, 0) && !self::isZombie($this->pid)) {
                @posix_kill($this->pid, SIGKILL);
            }
        }
        self::removeDir($this->dir);
    }

    public function __destruct()
    {
        $this->stop();
    }

    private function command(string $resp): string
    {
        $unix = $this->port === null;
        $fp = @stream_socket_client($unix ? "unix://{$this->dir}/redis.sock" : "tcp://127.0.0.1:{$this->port}", $errno, $err, 2.0);
        if ($fp === false) {
            throw new \RuntimeException("cannot reach the test server: $err");
        }
        stream_set_timeout($fp, 5);
        fwrite($fp, $resp);
        $line = (string) fgets($fp);
        fclose($fp);
        return $line;
    }

    private static function answers(string $address, bool $unix): bool
    {
        $fp = @stream_socket_client(($unix ? 'unix://' : 'tcp://') . $address, $errno, $err, 0.5);
        if ($fp === false) {
            return false;
        }
        stream_set_timeout($fp, 1);
        fwrite($fp, "*1\r\n\$4\r\nPING\r\n");
        $ok = fgets($fp) === "+PONG\r\n";
        fclose($fp);
        return $ok;
    }

    private static function freePort(): int
    {
        $socket = stream_socket_server('tcp://127.0.0.1:0', $errno, $err);
        if ($socket === false) {
            throw new \RuntimeException("no free port: $err");
        }
        $name = stream_socket_get_name($socket, false);
        fclose($socket);
        return (int) substr((string) strrchr((string) $name, ':'), 1);
    }

    private static function find(string $program): ?string
    {
        foreach (explode(PATH_SEPARATOR, (string) getenv('PATH')) as $dir) {
            if ($dir !== '' && is_executable("$dir/$program")) {
                return "$dir/$program";
            }
        }
        foreach (['/usr/bin', '/usr/local/bin', '/usr/sbin', '/opt/homebrew/bin'] as $dir) {
            if (is_executable("$dir/$program")) {
                return "$dir/$program";
            }
        }
        return null;
    }

    private static function isZombie(int $pid): bool
    {
        $stat = @file_get_contents("/proc/$pid/stat");
        return is_string($stat) && preg_match('/\) Z /', $stat) === 1;
    }

    private static function removeDir(string $dir): void
    {
        foreach (glob("$dir/{,.}*", GLOB_BRACE) ?: [] as $file) {
            if (is_file($file) || is_link($file)) {
                @unlink($file);
            } elseif (!in_array(basename($file), ['.', '..'], true)) {
                @rmdir($file);
            }
        }
        @rmdir($dir);
    }
}
