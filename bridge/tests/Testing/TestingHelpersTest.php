<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Testing;

use PHPUnit\Framework\AssertionFailedError;
use PHPUnit\Framework\TestCase;
use RedisLock\Bridge\Testing\LockAssertions;
use RedisLock\Bridge\Testing\RedisServer;

/** The PHPUnit helpers of the bridge: the throwaway server and the lock assertions. */
final class TestingHelpersTest extends TestCase
{
    use LockAssertions;

    private static function alive(int $pid): bool
    {
        $stat = @file_get_contents("/proc/$pid/stat");
        return is_string($stat) && !preg_match('/\) Z /', $stat);
    }

    public function testAServerStartsOnAFreePortServesLocksAndStopsForGood(): void
    {
        $server = RedisServer::start();
        $this->assertMatchesRegularExpression('#^redis://127\.0\.0\.1:\d+$#', $server->dsn());
        $lock = new \RedisLock($server->dsn());
        $lease = $lock->lock('k', 10);
        self::assertLocked($lock, 'k');
        $server->flush();
        self::assertNotLocked($lock, 'k', 'flush() deleted every key');
        $pid = $server->pid();
        $this->assertTrue(self::alive($pid));
        $server->stop();
        $server->stop(); // idempotent
        $this->assertFalse(self::alive($pid), 'stopped by its pid');
        $this->expectException(\RedisLockConnectionException::class);
        (new \RedisLock($server->dsn(), ['connectTimeout' => 0.3]))->isLocked('k');
        unset($lease);
    }

    public function testAUnixSocketServer(): void
    {
        $server = RedisServer::start(['unixSocket' => true]);
        $this->assertNull($server->port());
        $this->assertStringStartsWith('unix:///', $server->dsn());
        $lock = new \RedisLock($server->dsn());
        $this->assertTrue($lock->acquire('k', 'v', 10));
        self::assertLockTtl($lock, 'k', 10.0);
        $socket = substr($server->dsn(), strlen('unix://'));
        $server->stop();
        $this->assertFileDoesNotExist($socket, 'its files are removed');
    }

    public function testAMissingRedisServerSaysWhatToDo(): void
    {
        try {
            RedisServer::start(['binary' => '/nonexistent/redis-server']);
            $this->fail('started without a binary');
        } catch (\RuntimeException $e) {
            $this->assertStringContainsString('redis-server was not found', $e->getMessage());
            $this->assertStringContainsString('memory://', $e->getMessage());
        }
        try {
            RedisServer::start(['args' => ['--no-such-option', 'x']]);
            $this->fail('started with a bad option');
        } catch (\RuntimeException $e) {
            $this->assertStringContainsString('did not start', $e->getMessage());
        }
    }

    public function testTheSharedServerIsOneAndAForkedChildNeverStopsIt(): void
    {
        $server = RedisServer::shared();
        $this->assertSame($server, RedisServer::shared());
        $pid = pcntl_fork();
        if ($pid === 0) {
            $server->stop(); // a child's stop (and its destructors at exit) must not reach the server
            exit(0);
        }
        pcntl_waitpid($pid, $status);
        $this->assertTrue(self::alive($server->pid()), "the parent's server survives the child");
        $lock = new \RedisLock($server->dsn());
        $this->assertTrue($lock->acquire('shared', 'v', 1));
    }

    public function testTheAssertionsPassAndFailOnEveryBackend(): void
    {
        foreach (['memory://assertions', RedisServer::shared()->dsn()] as $dsn) {
            $lock = new \RedisLock($dsn);
            $first = $lock->lock('a', 5);
            self::assertLocked($lock, 'a');
            self::assertHeldBy($first);
            self::assertLockTtl($lock, 'a', 5.0, 0.2);
            $first->release();
            self::assertNotLocked($lock, 'a');
            self::assertNotHeldBy($first);
            $second = $lock->lock('a', 5);
            self::assertFencedAfter($first, $second);
            foreach ([
                fn () => self::assertNotLocked($lock, 'a'),
                fn () => self::assertLocked($lock, 'free'),
                fn () => self::assertNotHeldBy($second),
                fn () => self::assertHeldBy($first),
                fn () => self::assertLockTtl($lock, 'a', 60.0),
                fn () => self::assertLockTtl($lock, 'free', 1.0),
                fn () => self::assertFencedAfter($second, $first),
            ] as $i => $wrong) {
                try {
                    $wrong();
                    $this->fail("assertion $i passed on a wrong state ($dsn)");
                } catch (AssertionFailedError $e) {
                    $this->assertStringNotContainsString('passed on a wrong state', $e->getMessage());
                }
            }
            $second->release();
        }
        \RedisLockMemory::reset('assertions');
    }

    /** The recipe in the README: one server for a PHPUnit run, from its bootstrap file. */
    public function testABootstrapFileStartsOneServerForARunAndItIsGoneAfterwards(): void
    {
        $dir = sys_get_temp_dir() . '/redis-lock-bootstrap-' . bin2hex(random_bytes(4));
        mkdir($dir);
        $autoload = dirname(__DIR__, 2) . '/autoload.php';
        file_put_contents("$dir/bootstrap.php", '<?php
            require ' . var_export($autoload, true) . ';
            $server = \RedisLock\Bridge\Testing\RedisServer::shared();
            putenv("REDIS_LOCK_DSN=" . $server->dsn());
            file_put_contents(__DIR__ . "/pid", (string) $server->pid());');
        file_put_contents("$dir/AppTest.php", '<?php
            final class AppTest extends \PHPUnit\Framework\TestCase {
                use \RedisLock\Bridge\Testing\LockAssertions;
                public function testItLocks(): void {
                    $lock = new \RedisLock((string) getenv("REDIS_LOCK_DSN"));
                    $lease = $lock->lock("job", 10);
                    self::assertLocked($lock, "job");
                    self::assertHeldBy($lease);
                }
            }');
        $cmd = [PHP_BINARY, '-d', 'extension=' . (getenv('REDIS_LOCK_SO') ?: ini_get('extension')), '/usr/bin/phpunit',
            '--bootstrap', "$dir/bootstrap.php", "$dir/AppTest.php"];
        if (extension_loaded('redis_lock') && !getenv('REDIS_LOCK_SO')) {
            array_splice($cmd, 1, 2);
        }
        $proc = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $out = stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]);
        $exit = proc_close($proc);
        $pid = (int) @file_get_contents("$dir/pid");
        array_map('unlink', glob("$dir/*"));
        rmdir($dir);
        $this->assertSame(0, $exit, $out);
        $this->assertStringContainsString('OK (1 test, 2 assertions)', $out);
        $this->assertGreaterThan(0, $pid);
        $this->assertFalse(self::alive($pid), 'the server is stopped when the run ends');
    }
}
