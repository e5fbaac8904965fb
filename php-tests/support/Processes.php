<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * Forked children with a result channel and deadlines: every child is reaped, none can hang
 * the suite.
 */
final class Child
{
    public function __construct(public readonly int $pid, private readonly string $resultFile)
    {
    }

    /**
     * Waits for the child (killing it after $timeout seconds) and returns what its callable
     * returned. Throws if the child failed, crashed or timed out.
     */
    public function wait(float $timeout = 30.0): mixed
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            $done = pcntl_waitpid($this->pid, $status, WNOHANG);
            if ($done === $this->pid) {
                break;
            }
            if (microtime(true) > $deadline) {
                posix_kill($this->pid, SIGKILL);
                pcntl_waitpid($this->pid, $status);
                @unlink($this->resultFile);
                throw new \RuntimeException("child {$this->pid} did not finish within {$timeout} s");
            }
            usleep(2_000);
        }
        $raw = @file_get_contents($this->resultFile);
        @unlink($this->resultFile);
        if (!pcntl_wifexited($status)) {
            $signal = pcntl_wifsignaled($status) ? pcntl_wtermsig($status) : 0;
            throw new \RuntimeException("child {$this->pid} died of signal $signal");
        }
        $result = $raw === false || $raw === '' ? null : unserialize($raw);
        if (!is_array($result)) {
            throw new \RuntimeException("child {$this->pid} exited with " . pcntl_wexitstatus($status) . ' and no result');
        }
        if (!$result['ok']) {
            throw new \RuntimeException("child {$this->pid} failed: {$result['error']}");
        }
        return $result['value'];
    }

    /** Exit status of a child that was expected to die (no result channel). */
    public function waitStatus(float $timeout = 30.0): int
    {
        $deadline = microtime(true) + $timeout;
        while (pcntl_waitpid($this->pid, $status, WNOHANG) !== $this->pid) {
            if (microtime(true) > $deadline) {
                posix_kill($this->pid, SIGKILL);
                pcntl_waitpid($this->pid, $status);
                throw new \RuntimeException("child {$this->pid} did not finish within {$timeout} s");
            }
            usleep(2_000);
        }
        @unlink($this->resultFile);
        return $status;
    }

    public function signal(int $signal): void
    {
        posix_kill($this->pid, $signal);
    }
}

final class Processes
{
    /**
     * Runs $fn in a forked child. The child returns $fn's value (serialized) or its exception
     * message, then exits.
     */
    public static function fork(callable $fn): Child
    {
        $file = tempnam(sys_get_temp_dir(), 'redis-lock-child-');
        $pid = pcntl_fork();
        if ($pid === -1) {
            throw new \RuntimeException('fork failed');
        }
        if ($pid > 0) {
            return new Child($pid, $file);
        }
        while (ob_get_level() > 0) {
            ob_end_clean();
        }
        try {
            $result = ['ok' => true, 'value' => $fn()];
        } catch (\Throwable $e) {
            $result = ['ok' => false, 'error' => get_class($e) . ': ' . $e->getMessage() . ' at ' . $e->getFile() . ':' . $e->getLine()];
        }
        file_put_contents($file, serialize($result));
        exit(0);
    }

    /**
     * Forks $n children running $fn($i) and waits for all of them; returns their values in order.
     *
     * @return list<mixed>
     */
    public static function all(int $n, callable $fn, float $timeout = 60.0): array
    {
        $children = [];
        for ($i = 0; $i < $n; $i++) {
            $children[] = self::fork(static fn () => $fn($i));
        }
        $values = [];
        $errors = [];
        foreach ($children as $child) {
            try {
                $values[] = $child->wait($timeout);
            } catch (\Throwable $e) {
                $errors[] = $e->getMessage();
            }
        }
        if ($errors) {
            throw new \RuntimeException(implode("\n", $errors));
        }
        return $values;
    }

    /**
     * Runs a PHP script in a fresh process with the extension loaded; returns [exit code,
     * stdout, stderr].
     *
     * @param array<string, string> $ini
     * @param list<string> $args the script's $argv after its name
     */
    public static function php(string $code, array $ini = [], float $timeout = 30.0, array $args = []): array
    {
        $file = tempnam(sys_get_temp_dir(), 'redis-lock-script-');
        file_put_contents($file, $code);
        // The default ini (it loads pcntl, posix, phpredis) plus this build of the extension.
        $cmd = [PHP_BINARY, '-d', 'extension=' . self::extensionPath()];
        foreach ($ini as $k => $v) {
            array_push($cmd, '-d', "$k=$v");
        }
        $cmd[] = $file;
        array_push($cmd, ...$args);
        try {
            return self::run($cmd, null, $timeout);
        } finally {
            unlink($file);
        }
    }

    /**
     * Runs `$cmd` with `$env` (null: this process's), killing it after `$timeout` seconds;
     * returns [exit code (-1 when killed), stdout, stderr].
     *
     * @param list<string> $cmd
     * @param array<string, string>|null $env
     * @return array{0: int, 1: string, 2: string}
     */
    public static function run(array $cmd, ?array $env, float $timeout): array
    {
        $proc = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
        stream_set_blocking($pipes[1], false);
        stream_set_blocking($pipes[2], false);
        $out = $err = '';
        $deadline = microtime(true) + $timeout;
        while (true) {
            $out .= stream_get_contents($pipes[1]);
            $err .= stream_get_contents($pipes[2]);
            $st = proc_get_status($proc);
            if (!$st['running']) {
                $out .= stream_get_contents($pipes[1]);
                $err .= stream_get_contents($pipes[2]);
                $code = $st['exitcode'];
                break;
            }
            if (microtime(true) > $deadline) {
                proc_terminate($proc, SIGKILL);
                $code = -1;
                $err .= "\n[killed after {$timeout} s]";
                break;
            }
            usleep(5_000);
        }
        fclose($pipes[1]);
        fclose($pipes[2]);
        proc_close($proc);
        return [$code, $out, $err];
    }

    /** The redis_lock shared object under test. */
    public static function extensionPath(): string
    {
        $path = getenv('REDIS_LOCK_SO') ?: dirname(__DIR__, 2) . '/target/release/libredis_lock.so';
        if (!is_file($path)) {
            throw new \RuntimeException("cannot find the extension at $path");
        }
        return $path;
    }
}
