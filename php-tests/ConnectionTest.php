<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/** One native connection per DSN per process: shared, lazy, kept across requests, fork-safe. */
final class ConnectionTest extends TestCase
{
    private static function stat(\Redis $oracle, string $section, string $field): int
    {
        return (int) $oracle->info($section)[$field];
    }

    public function testAThousandObjectsShareOneConnection(): void
    {
        $server = new RedisServer();
        $oracle = $server->client();
        $before = self::stat($oracle, 'stats', 'total_connections_received');
        $locks = [];
        for ($i = 0; $i < 1000; $i++) {
            $locks[] = $lock = new \RedisLock($server->dsn());
            $this->assertTrue($lock->acquire("k$i", 'v', 10));
        }
        $this->assertSame(1, self::stat($oracle, 'stats', 'total_connections_received') - $before);
        $this->assertSame(2, self::stat($oracle, 'clients', 'connected_clients'), 'ours and the oracle');
    }

    public function testConstructingDoesNoNetworkIo(): void
    {
        $server = new RedisServer();
        $oracle = $server->client();
        $before = self::stat($oracle, 'stats', 'total_connections_received');
        $start = microtime(true);
        for ($i = 0; $i < 1000; $i++) {
            new \RedisLock($server->dsn(), ['connectTimeout' => 0.25 + $i / 10_000]);
        }
        $elapsed = microtime(true) - $start;
        $this->assertSame($before, self::stat($oracle, 'stats', 'total_connections_received'));
        $this->assertLessThan(0.5, $elapsed, '1000 constructions, no round trips');
        // Nothing listens on port 1: construction still succeeds; the first command fails.
        $lock = new \RedisLock('redis://127.0.0.1:1');
        $this->expectException(\RedisLockConnectionException::class);
        $lock->acquire('k', 'v', 1);
    }

    /**
     * PHP's built-in web server runs every HTTP request as a separate PHP request in one
     * process, like an FPM worker: the connection must survive from request to request.
     */
    public function testTheConnectionIsReusedAcrossRequests(): void
    {
        $server = new RedisServer();
        $oracle = $server->client();
        $docroot = sys_get_temp_dir() . '/redis-lock-web-' . getmypid();
        @mkdir($docroot);
        file_put_contents("$docroot/index.php", '<?php
            $lock = new RedisLock(' . var_export($server->dsn(), true) . ');
            $token = RedisLock::token();
            echo $lock->acquire("web", $token, 5) && $lock->release("web", $token) ? "ok" : "busy";
        ');
        $port = RedisServer::freePort();
        $cmd = [PHP_BINARY, '-d', 'extension=' . Processes::extensionPath(), '-S', "127.0.0.1:$port", '-t', $docroot];
        $web = proc_open($cmd, [1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes);
        try {
            $this->waitForPort($port);
            $before = self::stat($oracle, 'stats', 'total_connections_received');
            for ($i = 0; $i < 20; $i++) {
                $this->assertSame('ok', file_get_contents("http://127.0.0.1:$port/index.php"));
            }
            $this->assertSame(1, self::stat($oracle, 'stats', 'total_connections_received') - $before, '20 requests, one connection');
        } finally {
            proc_terminate($web, SIGKILL);
            proc_close($web);
            unlink("$docroot/index.php");
            rmdir($docroot);
        }
    }

    /**
     * A forked child never talks over its parent's socket: both keep working side by side,
     * and each reply reaches the process that asked.
     */
    public function testAForkedChildOpensItsOwnConnection(): void
    {
        $server = new RedisServer();
        $oracle = $server->client();
        $lock = new \RedisLock($server->dsn());
        $this->assertTrue($lock->acquire('parent-warm', 'p', 10)); // the parent is connected
        $before = self::stat($oracle, 'stats', 'total_connections_received');

        $child = Processes::fork(function () use ($lock): int {
            $ok = 0;
            for ($i = 0; $i < 300; $i++) {
                $ok += (int) ($lock->acquire("child$i", "c$i", 10) && $lock->release("child$i", "c$i"));
            }
            return $ok;
        });
        $ok = 0;
        for ($i = 0; $i < 300; $i++) {
            $ok += (int) ($lock->acquire("parent$i", "p$i", 10) && $lock->release("parent$i", "p$i"));
        }
        $this->assertSame(300, $child->wait());
        $this->assertSame(300, $ok);
        $this->assertSame(1, self::stat($oracle, 'stats', 'total_connections_received') - $before, 'only the child connected');
        $this->assertTrue($lock->acquire('parent-after', 'p', 10), "the parent's connection still works");
        $this->assertSame(1, self::stat($oracle, 'stats', 'total_connections_received') - $before);
    }

    public function testUnixSocketDsn(): void
    {
        $dir = sys_get_temp_dir() . '/redis-lock-sock-' . getmypid();
        @mkdir($dir);
        $server = new RedisServer(['--unixsocket', "$dir/redis.sock"]);
        $lock = new \RedisLock("unix://$dir/redis.sock?db=3");
        $this->assertTrue($lock->acquire('k', 'v', 10));
        $oracle = $server->client();
        $oracle->select(3);
        $this->assertSame('v', $oracle->get('k'));
        unset($server);
        @rmdir($dir);
    }

    private function waitForPort(int $port): void
    {
        $deadline = microtime(true) + 5;
        while (!($s = @stream_socket_client("tcp://127.0.0.1:$port", $e, $m, 0.1))) {
            if (microtime(true) > $deadline) {
                $this->fail('the web server did not start');
            }
            usleep(20_000);
        }
        fclose($s);
    }
}
