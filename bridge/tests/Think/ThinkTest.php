<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Think;

use RedisLock\Bridge\Tests\support\BridgeTestCase;
use RedisLock\Bridge\Tests\Think\support\ThinkApp;
use RedisLockTests\Processes;

/**
 * The ThinkPHP integration in a real think\App (6.1 and 8.0 from REDIS_LOCK_THINKPHP), set up as
 * an application would be: the service found by ThinkPHP's own `service:discover`, the config
 * published by its `vendor:publish`, requests served by PHP's built-in web server.
 */
final class ThinkTest extends BridgeTestCase
{
    /** @return array<string, array{string}> */
    public static function versions(): array
    {
        return ['ThinkPHP 6.1' => ['6.1'], 'ThinkPHP 8.0' => ['8.0']];
    }

    protected function setUp(): void
    {
        parent::setUp();
        $root = getenv('REDIS_LOCK_THINKPHP');
        if (!$root) {
            $this->markTestSkipped('REDIS_LOCK_THINKPHP is not set: point it at the ThinkPHP sources (../shared/thinkphp; .ci/run sets it)');
        }
        if (!is_dir("$root/framework-6.1") || !is_dir("$root/framework-8.0")) {
            $this->fail("REDIS_LOCK_THINKPHP=$root holds no framework-6.1/ and framework-8.0/");
        }
    }

    /** An app with the bridge discovered and its config published, as `php think` would. */
    private function app(string $version, string $routes = ''): ThinkApp
    {
        $app = new ThinkApp($version, $this->dsn, $routes);
        $this->assertStringContainsString('Succeed', $app->console('service:discover'));
        $this->assertStringContainsString('Succeed', $app->console('vendor:publish'));
        return $app;
    }

    /** @dataProvider versions */
    public function testTheServiceIsDiscoveredAndTheConfigPublished(string $version): void
    {
        $app = $this->app($version);
        $services = include "$app->root/vendor/services.php";
        $this->assertContains(\RedisLock\Bridge\Think\RedisLockService::class, $services);
        $this->assertFileEquals(dirname(__DIR__, 2) . '/src/Think/config/redis_lock.php', "$app->root/config/redis_lock.php");
        [$code, $out, $err] = $app->php('
            $app->initialize();
            $lock = $app->make(RedisLock::class);
            echo json_encode([
                "config" => $app->config->get("redis_lock.dsn"),
                "same" => $lock === $app->make("redis_lock") && $lock === app("redis_lock"),
                "class" => get_class($lock),
                "facade" => RedisLock\Bridge\Think\Facade\RedisLock::acquire(' . var_export($this->key, true) . ', "think", 10),
                "isLocked" => RedisLock\Bridge\Think\Facade\RedisLock::isLocked(' . var_export($this->key, true) . '),
            ]);');
        $this->assertSame([0, ''], [$code, $err], $out);
        $this->assertSame(['config' => $this->dsn, 'same' => true, 'class' => 'RedisLock', 'facade' => true, 'isLocked' => true], json_decode($out, true));
        $this->assertSame('think', $this->oracle()->get($this->key), 'the facade reached the configured server');
    }

    /** @dataProvider versions */
    public function testTheConfiguredOptionsReachTheInstance(string $version): void
    {
        $app = $this->app($version);
        file_put_contents("$app->root/.env", "REDIS_LOCK_DSN = \"$this->dsn\"\nREDIS_LOCK_PREFIX = \"shop:\"\n");
        [$code, $out, $err] = $app->php('
            $app->initialize();
            $lease = $app->make("redis_lock")->lock(' . var_export($this->key, true) . ', 10);
            echo $lease->detach();');
        $this->assertSame([0, ''], [$code, $err], $out);
        $this->assertSame($out, $this->oracle()->get('shop:' . $this->key));
    }

    /** @dataProvider versions */
    public function testCommandsShowAndForceReleaseALock(string $version): void
    {
        $app = $this->app($version);
        $this->assertSame("$this->key: free\n", $app->console('redis-lock:show', [$this->key]));
        $this->assertTrue((new \RedisLock($this->dsn))->acquire($this->key, 'stuck-job', 60));
        $this->assertMatchesRegularExpression('/^' . preg_quote($this->key, '/') . ': held, (59|60)\.\d{3} s left\n$/', $app->console('redis-lock:show', [$this->key]));
        $this->assertSame("$this->key: released\n", $app->console('redis-lock:release', [$this->key]));
        $this->oracle()->set($this->key, 'no ttl');
        $this->assertSame("$this->key: held, no TTL\n", $app->console('redis-lock:show', [$this->key]));
        $this->assertSame("$this->key: released\n", $app->console('redis-lock:release', [$this->key]));
        $this->assertSame(0, $this->oracle()->exists($this->key));
        $this->assertSame("$this->key: was not held\n", $app->console('redis-lock:release', [$this->key]));
    }

    /**
     * An app whose route `slow` (300 ms, logging its start and end) is behind the middleware
     * with the lock key of this test; the middleware waits `$wait` seconds and answers 429 with
     * Retry-After: 7.
     *
     * @return array{0: ThinkApp, 1: string} the app and its log file
     */
    private function appWithSlowRoute(string $version, float $wait): array
    {
        $log = tempnam(sys_get_temp_dir(), 'redis-lock-think-log-');
        $app = $this->app($version, '
Route::get("slow", function () {
    $start = microtime(true);
    usleep(300000);
    file_put_contents(' . var_export($log, true) . ', json_encode([$start, microtime(true)]) . "\n", FILE_APPEND | LOCK_EX);
    return "done";
})->middleware(RedisLock\Bridge\Think\RedisLockMiddleware::class, ' . var_export($this->key, true) . ');');
        $config = (string) file_get_contents("$app->root/config/redis_lock.php");
        file_put_contents("$app->root/config/redis_lock.php", str_replace(["'wait' => 5.0", "'retry_after' => 1"], ["'wait' => $wait", "'retry_after' => 7"], $config));
        return [$app, $log];
    }

    /**
     * GET $url/slow from `$n` forked processes at once.
     *
     * @return list<array{0: int, 1: string, 2: string|null, 3: float}> status, body, Retry-After, seconds taken
     */
    private static function requests(string $url, int $n): array
    {
        return Processes::all($n, static function () use ($url): array {
            $start = microtime(true);
            $context = stream_context_create(['http' => ['ignore_errors' => true, 'timeout' => 20]]);
            $body = file_get_contents("$url/slow", false, $context);
            $status = (int) explode(' ', $http_response_header[0])[1];
            $retry = null;
            foreach ($http_response_header as $header) {
                if (stripos($header, 'Retry-After:') === 0) {
                    $retry = trim(substr($header, 12));
                }
            }
            return [$status, $body, $retry, microtime(true) - $start];
        });
    }

    /** @dataProvider versions */
    public function testTheMiddlewareLetsConcurrentRequestsThroughOneAtATime(string $version): void
    {
        [$app, $log] = $this->appWithSlowRoute($version, 10.0);
        [$url, $stop] = $app->serve(5);
        try {
            $answers = self::requests($url, 5);
        } finally {
            $stop();
        }
        $this->assertSame(array_fill(0, 5, [200, 'done']), array_map(fn ($a) => [$a[0], $a[1]], $answers));
        $runs = array_map(fn ($line) => json_decode($line, true), file($log, FILE_IGNORE_NEW_LINES));
        unlink($log);
        $this->assertCount(5, $runs);
        usort($runs, fn ($a, $b) => $a[0] <=> $b[0]);
        for ($i = 1; $i < count($runs); $i++) {
            $this->assertGreaterThanOrEqual($runs[$i - 1][1], $runs[$i][0], 'two requests ran at once');
        }
        $this->assertSame(0, $this->oracle()->exists('http:' . $this->key), 'released after the last request');
    }

    /** @return array<string, array{string, int}> */
    public static function versionsAndStatuses(): array
    {
        return [
            'ThinkPHP 6.1, 429' => ['6.1', 429], 'ThinkPHP 6.1, 423' => ['6.1', 423],
            'ThinkPHP 8.0, 429' => ['8.0', 429], 'ThinkPHP 8.0, 423' => ['8.0', 423],
        ];
    }

    /** @dataProvider versionsAndStatuses */
    public function testTheMiddlewareTurnsAwayRequestsThatWaitedTooLong(string $version, int $status): void
    {
        [$app, $log] = $this->appWithSlowRoute($version, 0.5);
        $config = (string) file_get_contents("$app->root/config/redis_lock.php");
        file_put_contents("$app->root/config/redis_lock.php", str_replace("'status' => 429", "'status' => $status", $config));
        [$url, $stop] = $app->serve(3);
        $holder = (new \RedisLock($this->dsn))->lock('http:' . $this->key, 30);
        try {
            $refused = self::requests($url, 3);
            $this->assertTrue($holder->release());
            $served = self::requests($url, 1);
        } finally {
            $stop();
        }
        foreach ($refused as [$answer, $body, $retry, $took]) {
            $this->assertSame([$status, '7'], [$answer, $retry], 'the configured status and Retry-After');
            $this->assertStringContainsString('busy', $body);
            $this->assertGreaterThanOrEqual(0.5, $took, 'it waited its 0.5 s in line first');
        }
        $this->assertSame([200, 'done'], [$served[0][0], $served[0][1]], 'served once the lock is free');
        $this->assertCount(1, file($log));
        unlink($log);
    }

    /** @dataProvider versions */
    public function testWithoutAParameterTheMiddlewaresKeyIsThePath(string $version): void
    {
        $app = $this->app($version, 'Route::get("report/daily", fn () => "report")->middleware(RedisLock\\Bridge\\Think\\RedisLockMiddleware::class);');
        file_put_contents("$app->root/config/redis_lock.php", str_replace("'wait' => 5.0", "'wait' => 0.2", (string) file_get_contents("$app->root/config/redis_lock.php")));
        [$url, $stop] = $app->serve(1);
        $context = stream_context_create(['http' => ['ignore_errors' => true, 'timeout' => 10]]);
        try {
            $holder = (new \RedisLock($this->dsn))->lock('http:/report/daily', 30);
            $busy = file_get_contents("$url/report/daily", false, $context);
            $busyStatus = $http_response_header[0];
            $holder->release();
            $free = file_get_contents("$url/report/daily", false, $context);
            $freeStatus = $http_response_header[0];
        } finally {
            $stop();
        }
        $this->assertStringContainsString(' 429 ', $busyStatus, (string) $busy);
        $this->assertSame(['report', true], [$free, str_contains($freeStatus, ' 200 ')]);
    }
}
