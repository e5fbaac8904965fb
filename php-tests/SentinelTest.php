<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/**
 * `redis+sentinel://` through the PHP face: a master and one sentinel (quorum 1) started for
 * the class. Failovers are tested in the engine's suite (src/lock/tests/sentinel.rs).
 */
final class SentinelTest extends TestCase
{
    private static ?RedisServer $master = null;
    private static int $sentinelPort = 0;
    private static int $sentinelPid = 0;
    private static string $dir = '';

    public static function setUpBeforeClass(): void
    {
        self::$master = new RedisServer();
        self::$dir = sys_get_temp_dir() . '/redis-lock-sentinel-' . getmypid() . '-' . bin2hex(random_bytes(4));
        mkdir(self::$dir);
        self::$sentinelPort = RedisServer::freePort();
        $conf = self::$dir . '/sentinel.conf';
        file_put_contents($conf, sprintf(
            "port %d\nbind 127.0.0.1\ndir %s\ndaemonize yes\npidfile %s/sentinel.pid\nlogfile %s/sentinel.log\n"
            . "sentinel monitor mymaster 127.0.0.1 %d 1\n",
            self::$sentinelPort, self::$dir, self::$dir, self::$dir, self::$master->port
        ));
        exec('redis-server ' . escapeshellarg($conf) . ' --sentinel', $out, $code);
        if ($code !== 0) {
            throw new \RuntimeException('redis-server --sentinel did not start');
        }
        $deadline = microtime(true) + 10;
        while (microtime(true) < $deadline) {
            // The pid file may appear after the sentinel answers: ready means both.
            self::$sentinelPid = (int) @file_get_contents(self::$dir . '/sentinel.pid');
            if (self::$sentinelPid <= 0) {
                usleep(20_000);
                continue;
            }
            try {
                $r = new \Redis();
                $r->connect('127.0.0.1', self::$sentinelPort, 0.5);
                $addr = $r->rawCommand('SENTINEL', 'get-master-addr-by-name', 'mymaster');
                if (is_array($addr) && (int) $addr[1] === self::$master->port) {
                    return;
                }
            } catch (\Throwable) {
            }
            usleep(50_000);
        }
        throw new \RuntimeException('the sentinel did not come up');
    }

    public static function tearDownAfterClass(): void
    {
        if (self::$sentinelPid > 0) {
            posix_kill(self::$sentinelPid, SIGKILL);
        }
        array_map('unlink', glob(self::$dir . '/*') ?: []);
        @rmdir(self::$dir);
        self::$master = null;
    }

    private function dsn(string $userinfo = '', string $query = ''): string
    {
        return "redis+sentinel://{$userinfo}127.0.0.1:" . self::$sentinelPort . "/mymaster$query";
    }

    public function testALockThroughSentinelLandsOnTheMaster(): void
    {
        $lock = new \RedisLock($this->dsn());
        $key = 'sentinel:' . bin2hex(random_bytes(4));
        $lease = $lock->lock($key, 10);
        $this->assertNotNull($lease);
        $this->assertSame($lease->token(), self::$master->client()->get($key));
        $this->assertTrue($lock->acquire("$key:doc", 'v', 10));
        $this->assertTrue($lock->release("$key:doc", 'v'));
        $this->assertTrue($lease->release());
        $this->assertFalse($lock->isLocked($key));
        $info = $lock->__debugInfo();
        $this->assertSame('redis+sentinel://127.0.0.1:' . self::$sentinelPort . '/mymaster/0', $info['dsn']);
        $this->assertStringStartsWith('sentinel service mymaster via 127.0.0.1:', $info['endpoint']);
    }

    public function testSecretsNeverShow(): void
    {
        $lock = new \RedisLock($this->dsn(':s3cret@', '?sentinelPassword=t0psecret'), ['connectTimeout' => 0.5]);
        ob_start();
        var_dump($lock);
        print_r($lock);
        $dump = ob_get_clean();
        $this->assertStringNotContainsString('s3cret', $dump);
        $this->assertStringNotContainsString('t0psecret', $dump);
        $this->assertStringContainsString('***', $dump);
        try {
            $lock->isLocked('k'); // the sentinel has no password: refused
            $this->fail('AUTH to a sentinel without a password succeeded');
        } catch (\RedisLockConnectionException $e) {
            $this->assertStringNotContainsString('s3cret', (string) $e);
            $this->assertStringNotContainsString('t0psecret', (string) $e);
        }
        try {
            new \RedisLock('redis+sentinel://:s3cret@127.0.0.1:1/');
            $this->fail('a DSN without a service was accepted');
        } catch (\ValueError $e) {
            $this->assertStringContainsString('service name is missing', $e->getMessage());
            $this->assertStringNotContainsString('s3cret', $e->getMessage());
        }
    }

    public function testAnUnknownServiceIsRefusedAtOnce(): void
    {
        $lock = new \RedisLock(str_replace('/mymaster', '/nope', $this->dsn()), ['connectTimeout' => 2]);
        $t = microtime(true);
        try {
            $lock->lock('k', 1);
            $this->fail('an unknown service answered');
        } catch (\RedisLockConnectionException $e) {
            $this->assertStringContainsString('"nope"', $e->getMessage());
        }
        $this->assertLessThan(0.5, microtime(true) - $t);
    }
}
