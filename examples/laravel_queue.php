<?php
/**
 * Laravel: a queue of jobs that must not overlap (they rebuild the same report), processed by
 * three queue workers at once, with Laravel's own WithoutOverlapping job middleware on the
 * redis_lock cache store.
 *
 * A minimal Laravel application (Debian's laravel/framework 8.83 under /usr/share/php) with the
 * bridge's service provider, a cache store `['driver' => 'redis_lock', 'store' => 'array']` as
 * the default, and Laravel's Redis queue on phpredis.
 *
 * Run: make demo-frameworks   (or: REDIS_URL=redis://127.0.0.1:6380 php -d extension=... examples/laravel_queue.php)
 */

declare(strict_types=1);

namespace Example;

use Illuminate\Bus\Queueable;
use Illuminate\Config\Repository;
use Illuminate\Contracts\Debug\ExceptionHandler;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Application;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\Middleware\WithoutOverlapping;
use Illuminate\Queue\WorkerOptions;
use Illuminate\Support\Facades\Facade;

require 'Illuminate/autoload.php';
require __DIR__ . '/../bridge/autoload.php';

$dsn = getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379';
if (!extension_loaded('redis_lock') || !function_exists('pcntl_fork')) {
    fwrite(STDERR, "needs the redis_lock extension and pcntl: run `make demo-frameworks`\n");
    exit(1);
}

/** Rebuilds the daily report: 150 ms of work that must never run twice at once. */
class RebuildReport implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    public function __construct(public string $log, public int $number)
    {
    }

    public function middleware(): array
    {
        return [(new WithoutOverlapping('daily-report'))->releaseAfter(0)->expireAfter(60)];
    }

    public function handle(): void
    {
        $start = microtime(true);
        usleep(150_000);
        file_put_contents($this->log, json_encode([$this->number, getmypid(), $start, microtime(true)]) . "\n", FILE_APPEND | LOCK_EX);
    }
}

/** Reports what a worker's jobs threw (nothing, here). */
class Handler implements ExceptionHandler
{
    public function report(\Throwable $e): void
    {
        fwrite(STDERR, 'job failed: ' . $e->getMessage() . "\n");
    }

    public function shouldReport(\Throwable $e): bool
    {
        return true;
    }

    public function render($request, \Throwable $e)
    {
        throw $e;
    }

    public function renderForConsole($output, \Throwable $e): void
    {
        $this->report($e);
    }
}

function app(string $dsn, string $queue): Application
{
    $parts = parse_url($dsn);
    $redis = ['host' => $parts['host'], 'port' => $parts['port'] ?? 6379, 'database' => 0];
    $app = new Application(sys_get_temp_dir());
    $app->instance('config', new Repository([
        'cache' => [
            'default' => 'locks',
            'stores' => [
                'array' => ['driver' => 'array'],
                'locks' => ['driver' => 'redis_lock', 'dsn' => $dsn, 'options' => ['prefix' => 'example:'], 'store' => 'array'],
            ],
        ],
        'database' => ['redis' => ['client' => 'phpredis', 'default' => $redis]],
        'queue' => ['default' => 'redis', 'connections' => ['redis' => ['driver' => 'redis', 'connection' => 'default', 'queue' => $queue, 'retry_after' => 90]]],
    ]));
    foreach ([
        \Illuminate\Cache\CacheServiceProvider::class,
        \Illuminate\Redis\RedisServiceProvider::class,
        \Illuminate\Bus\BusServiceProvider::class,
        \Illuminate\Queue\QueueServiceProvider::class,
        \RedisLock\Bridge\Laravel\RedisLockServiceProvider::class, // found by package discovery in a real app
    ] as $provider) {
        $app->register($provider);
    }
    $app->singleton(ExceptionHandler::class, Handler::class);
    Facade::setFacadeApplication($app);
    $app->boot();
    return $app;
}

$queue = 'example-' . bin2hex(random_bytes(3));
$log = tempnam(sys_get_temp_dir(), 'redis-lock-example-');
$app = app($dsn, $queue);
for ($i = 1; $i <= 6; $i++) {
    RebuildReport::dispatch($log, $i);
}
echo "Laravel " . Application::VERSION . ": 6 RebuildReport jobs (WithoutOverlapping('daily-report')) on the Redis queue, 3 workers\n";

$started = microtime(true);
$workers = [];
for ($w = 0; $w < 3; $w++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        $app = app($dsn, $queue);
        $worker = $app->make('queue.worker');
        $options = new WorkerOptions('default', 0, 128, 60, 0.02, 0);
        $deadline = microtime(true) + 20;
        while ($app['queue']->connection('redis')->size($queue) > 0 && microtime(true) < $deadline) {
            $worker->runNextJob('redis', $queue, $options);
        }
        exit(0);
    }
    $workers[] = $pid;
}
foreach ($workers as $pid) {
    pcntl_waitpid($pid, $status);
}

$runs = array_map(fn ($line) => json_decode($line, true), file($log, FILE_IGNORE_NEW_LINES));
unlink($log);
usort($runs, fn ($a, $b) => $a[2] <=> $b[2]);
$overlaps = 0;
foreach ($runs as $i => [$number, $pid, $start, $end]) {
    printf("  job %d  worker %-6d  %4.0f ms .. %4.0f ms\n", $number, $pid, ($start - $started) * 1000, ($end - $started) * 1000);
    if ($i > 0 && $start < $runs[$i - 1][3]) {
        $overlaps++;
    }
}
printf("%d of 6 jobs ran, by %d workers; overlapping runs: %d\n", count($runs), count(array_unique(array_column($runs, 1))), $overlaps);
exit(count($runs) === 6 && $overlaps === 0 ? 0 : 1);
