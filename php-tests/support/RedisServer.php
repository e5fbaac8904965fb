<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * A throwaway redis-server on a free loopback port, for tests that kill, stop or restart it.
 * Stopped (SIGKILL) when the object is destroyed.
 */
final class RedisServer
{
    public int $port = 0;
    private ?int $pid = null;
    private string $dir;
    /** Only the process that started the server stops it (forked children inherit the object). */
    private int $owner;

    /** @param list<string> $extra extra redis-server arguments */
    public function __construct(private array $extra = [])
    {
        $this->owner = getmypid();
        $this->dir = sys_get_temp_dir() . '/redis-lock-phpt-' . getmypid() . '-' . bin2hex(random_bytes(4));
        mkdir($this->dir);
        for ($i = 0; $i < 20; $i++) {
            $this->port = self::freePort();
            if ($this->spawn()) {
                return;
            }
        }
        throw new \RuntimeException('could not start redis-server');
    }

    public static function freePort(): int
    {
        $s = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($s, false);
        fclose($s);
        return (int) substr(strrchr($name, ':'), 1);
    }

    private function spawn(): bool
    {
        $args = array_merge([
            'redis-server', '--port', (string) $this->port, '--bind', '127.0.0.1',
            '--save', '', '--appendonly', 'no', '--dir', $this->dir,
            '--enable-debug-command', 'local', '--daemonize', 'yes',
            '--pidfile', $this->dir . '/redis.pid', '--logfile', $this->dir . '/redis.log',
        ], $this->extra);
        @unlink($this->dir . '/redis.pid');
        exec(implode(' ', array_map('escapeshellarg', $args)), $out, $code);
        if ($code !== 0) {
            return false;
        }
        $deadline = microtime(true) + 5;
        while (microtime(true) < $deadline) {
            if (is_file($this->dir . '/redis.pid') && ($s = @stream_socket_client("tcp://127.0.0.1:{$this->port}", $e, $m, 0.2))) {
                fclose($s);
                $this->pid = (int) file_get_contents($this->dir . '/redis.pid');
                if ($this->pid > 0 && $this->ping() && $this->unixSocketAccepts()) {
                    return true;
                }
            }
            usleep(10_000);
        }
        $this->kill();
        return false;
    }

    /** True unless a --unixsocket was asked for and does not accept yet (its file exists before listen()). */
    private function unixSocketAccepts(): bool
    {
        $i = array_search('--unixsocket', $this->extra, true);
        if ($i === false) {
            return true;
        }
        $s = @stream_socket_client('unix://' . $this->extra[$i + 1], $e, $m, 0.2);
        if ($s === false) {
            return false;
        }
        fclose($s);
        return true;
    }

    private function ping(): bool
    {
        try {
            return (bool) $this->client()->ping();
        } catch (\Throwable) {
            return false;
        }
    }

    public function dsn(): string
    {
        return "redis://127.0.0.1:{$this->port}";
    }

    public function pid(): int
    {
        return $this->pid ?? throw new \LogicException('server not running');
    }

    /** An independent client (phpredis) to check what the extension did. */
    public function client(): \Redis
    {
        $r = new \Redis();
        $r->connect('127.0.0.1', $this->port, 1.0);
        $i = array_search('--requirepass', $this->extra, true);
        if ($i !== false) {
            $r->auth($this->extra[$i + 1]);
        }
        return $r;
    }

    public function kill(): void
    {
        if ($this->pid !== null) {
            posix_kill($this->pid, SIGKILL);
            $deadline = microtime(true) + 5;
            while (self::isAlive($this->pid) && microtime(true) < $deadline) {
                usleep(5_000);
            }
            $this->pid = null;
        }
    }

    /** True while $pid runs; a zombie (killed, not yet reaped by init) counts as dead. */
    public static function isAlive(int $pid): bool
    {
        $stat = @file_get_contents("/proc/$pid/stat");
        if ($stat === false) {
            return false;
        }
        // "pid (comm) state ...": the state follows the last ')'.
        return substr(ltrim(substr($stat, strrpos($stat, ')') + 1)), 0, 1) !== 'Z';
    }

    /** Kills the server and starts a new one on the same port (no persistence: data is gone). */
    public function restart(): void
    {
        $this->kill();
        $deadline = microtime(true) + 10;
        while (!$this->spawn()) {
            if (microtime(true) > $deadline) {
                throw new \RuntimeException('redis-server did not restart');
            }
            usleep(50_000);
        }
    }

    public function signal(int $signal): void
    {
        posix_kill($this->pid(), $signal);
    }

    public function __destruct()
    {
        if (getmypid() !== $this->owner) {
            return;
        }
        if ($this->pid !== null) {
            posix_kill($this->pid, SIGCONT);
        }
        $this->kill();
        array_map('unlink', glob($this->dir . '/*') ?: []);
        @rmdir($this->dir);
    }
}
