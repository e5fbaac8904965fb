<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/** Redis down, restarted, stopped, slow, or dropping us: fail fast, never hang, recover alone. */
final class FaultsTest extends TestCase
{
    public function testRedisDownFailsWithinTheConnectTimeout(): void
    {
        $port = RedisServer::freePort(); // nothing listens there
        $lock = new \RedisLock("redis://127.0.0.1:$port", ['connectTimeout' => 0.3]);
        $start = microtime(true);
        try {
            $lock->acquire('k', 'v', 1);
            $this->fail('no exception');
        } catch (\RedisLockConnectionException $e) {
            $this->assertStringContainsString("127.0.0.1:$port", $e->getMessage());
            $this->assertStringContainsString('cannot connect', $e->getMessage());
        }
        $this->assertLessThan(0.5, microtime(true) - $start);
    }

    public function testAStoppedServerTimesOutWithinTheReadTimeout(): void
    {
        $server = new RedisServer();
        $lock = new \RedisLock($server->dsn(), ['readTimeout' => 0.3]);
        $this->assertTrue($lock->acquire('warm', 'v', 10));
        $server->signal(SIGSTOP);
        $start = microtime(true);
        try {
            $lock->acquire('k', 'v', 10);
            $this->fail('no exception');
        } catch (\RedisLockTimeoutException $e) {
            $this->assertStringContainsString('may or may not have taken effect', $e->getMessage());
        } finally {
            $elapsed = microtime(true) - $start;
            $server->signal(SIGCONT);
        }
        $this->assertGreaterThanOrEqual(0.29, $elapsed);
        $this->assertLessThan(0.6, $elapsed);
        // The outcome was unknown: retrying with the same value resolves it to the truth.
        $this->assertTrue($lock->acquire('k', 'v', 10));
        $this->assertFalse($lock->acquire('k', 'other', 10));
    }

    public function testARestartMidRunIsAbsorbedByTheNextCall(): void
    {
        $server = new RedisServer();
        $lock = new \RedisLock($server->dsn());
        $this->assertTrue($lock->acquire('k', 'v', 10));
        $server->restart(); // our socket is dead, the data is gone
        $this->assertTrue($lock->acquire('k', 'v2', 10), 'the first call after the restart succeeds');
        $this->assertTrue($lock->release('k', 'v2'));
    }

    public function testWorkersKeepGoingThroughARestart(): void
    {
        $server = new RedisServer();
        $dsn = $server->dsn();
        $stopAt = microtime(true) + 2.0;
        $children = [];
        for ($w = 0; $w < 4; $w++) {
            $children[] = Processes::fork(function () use ($dsn, $stopAt): array {
                $lock = new \RedisLock($dsn, ['connectTimeout' => 0.2, 'readTimeout' => 0.5]);
                $token = \RedisLock::token();
                $acquired = [];
                $errors = [];
                while (microtime(true) < $stopAt) {
                    try {
                        if ($lock->acquire('restart-lock', $token, 5)) {
                            $acquired[] = microtime(true);
                            usleep(1_000);
                            $lock->release('restart-lock', $token);
                        }
                        usleep(500);
                    } catch (\RedisLockException $e) {
                        $errors[] = get_class($e); // down for a moment: a clean exception
                        usleep(20_000);
                    }
                }
                return [$acquired, $errors];
            });
        }
        usleep(700_000);
        $server->restart();
        $restartedAt = microtime(true);
        foreach ($children as $i => $child) {
            [$acquired, $errors] = $child->wait(10); // throws if a child crashed or hung
            $before = count(array_filter($acquired, fn ($t) => $t < $restartedAt - 0.1));
            $after = count(array_filter($acquired, fn ($t) => $t > $restartedAt));
            $this->assertGreaterThan(0, $before, "worker $i worked before the restart");
            $this->assertGreaterThan(0, $after, "worker $i worked again after the restart");
            foreach ($errors as $class) {
                $this->assertTrue(is_subclass_of($class, \RedisLockException::class), $class);
            }
        }
    }

    public function testAKilledConnectionIsReplacedTransparently(): void
    {
        $server = new RedisServer();
        $lock = new \RedisLock($server->dsn());
        $this->assertTrue($lock->acquire('k', 'v', 10));
        $server->client()->rawCommand('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
        $this->assertTrue($lock->release('k', 'v'));
    }

    public function testAWrongPasswordIsAConnectionErrorWithoutThePassword(): void
    {
        $server = new RedisServer(['--requirepass', 'right-pass']);
        $good = new \RedisLock("redis://:right-pass@127.0.0.1:{$server->port}");
        $this->assertTrue($good->acquire('k', 'v', 10));
        $bad = new \RedisLock("redis://:wrong-pass@127.0.0.1:{$server->port}");
        try {
            $bad->acquire('k', 'v', 10);
            $this->fail('no exception');
        } catch (\RedisLockConnectionException $e) {
            $this->assertStringContainsString('WRONGPASS', $e->getMessage());
            $this->assertStringNotContainsString('wrong-pass', $e->getMessage());
            $this->assertStringNotContainsString('wrong-pass', $e->getTraceAsString());
            $this->assertStringNotContainsString('wrong-pass', (string) $e);
        }
    }

    public function testAKeyOfAnotherTypeIsAServerException(): void
    {
        $server = new RedisServer();
        $server->client()->hSet('h', 'f', 'v');
        $this->expectException(\RedisLockServerException::class);
        // The reply's text, then the server it came from (never a password).
        $this->expectExceptionMessage("acquire: WRONGTYPE Operation against a key holding the wrong kind of value (from Redis at 127.0.0.1:{$server->port} db 0)");
        (new \RedisLock($server->dsn()))->acquire('h', 'v', 10);
    }
}
