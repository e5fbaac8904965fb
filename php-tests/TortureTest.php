<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/**
 * The fault-injection suite (torture/run.php, `make torture` runs it for 60 s): a short run
 * must pass every invariant, and a sabotaged run (workers skip the lock) must fail, which shows
 * the checks can.
 */
final class TortureTest extends TestCase
{
    private static function runTorture(array $env, float $timeout): array
    {
        $cmd = [PHP_BINARY, dirname(__DIR__) . '/torture/run.php'];
        $env += ['PATH' => getenv('PATH'), 'REDIS_LOCK_SO' => Processes::extensionPath()];
        $proc = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
        $deadline = microtime(true) + $timeout;
        $out = $err = '';
        stream_set_blocking($pipes[1], false);
        stream_set_blocking($pipes[2], false);
        while (($status = proc_get_status($proc))['running']) {
            $out .= stream_get_contents($pipes[1]);
            $err .= stream_get_contents($pipes[2]);
            if (microtime(true) > $deadline) {
                // SIGTERM first: run.php then stops its redis-servers; SIGKILL if it lingers.
                proc_terminate($proc, SIGTERM);
                for ($i = 0; $i < 50 && proc_get_status($proc)['running']; $i++) {
                    usleep(100_000);
                }
                proc_terminate($proc, SIGKILL);
                throw new \RuntimeException("torture did not finish in $timeout s:\n$out");
            }
            usleep(50_000);
        }
        $out .= stream_get_contents($pipes[1]);
        $err .= stream_get_contents($pipes[2]);
        proc_close($proc);
        return [$status['exitcode'], $out, $err];
    }

    public function testAShortRunUnderChaosKeepsEveryInvariant(): void
    {
        [$exit, $out] = self::runTorture(['WORKERS' => '16', 'SECONDS' => '15'], 90);
        $this->assertMatchesRegularExpression('/^14 passed, 0 failed$/m', $out, $out);
        $this->assertSame(0, $exit, $out);
        $this->assertMatchesRegularExpression('/Chaos: .*\d+ (kill9|killwaiter|stop|restart|wipe|evict)/', $out, 'chaos happened');
    }

    public function testASabotagedRunIsCaught(): void
    {
        [$exit, $out] = self::runTorture(['WORKERS' => '4', 'SECONDS' => '3', 'SABOTAGE' => '1'], 60);
        $this->assertSame(1, $exit, $out);
        $this->assertMatchesRegularExpression('/two holders at once .*\| FAIL/', $out);
        if (preg_match('/evidence kept in (\S+)/', $out, $m)) {
            exec('rm -rf ' . escapeshellarg($m[1]));
        }
    }
}
