<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Laravel;

use Illuminate\Contracts\Debug\ExceptionHandler;
use Illuminate\Foundation\Application;
use Illuminate\Queue\WorkerOptions;
use RedisLock\Bridge\Tests\Laravel\Jobs\OverlappingJob;
use RedisLock\Bridge\Tests\Laravel\Jobs\UniqueJob;
use RedisLock\Bridge\Tests\support\BridgeTestCase;
use RedisLock\Bridge\Tests\support\LaravelApp;
use RedisLock\Bridge\Tests\support\RecordingExceptionHandler;
use RedisLockTests\Processes;

/**
 * Laravel's own job middleware and unique jobs on the redis_lock cache store (the default
 * store), with jobs on Laravel's Redis queue processed by several forked queue workers.
 */
final class LaravelQueueTest extends BridgeTestCase
{
    private string $log;
    private string $queue;

    protected function setUp(): void
    {
        parent::setUp();
        $this->log = sys_get_temp_dir() . '/redis-lock-jobs-' . bin2hex(random_bytes(4));
        touch($this->log);
        $this->queue = 'queue-' . bin2hex(random_bytes(4));
    }

    protected function tearDown(): void
    {
        @unlink($this->log);
        parent::tearDown();
    }

    private function boot(): Application
    {
        $app = LaravelApp::boot($this->dsn, ['queue' => ['connections' => ['redis' => ['queue' => $this->queue]]]]);
        $app->singleton(ExceptionHandler::class, RecordingExceptionHandler::class);
        return $app;
    }

    /**
     * Runs `$n` forked queue workers until the queue is empty (or `$timeout`); returns what each
     * worker's exception handler was given.
     *
     * @return list<list<string>>
     */
    private function work(int $n, float $timeout = 30.0): array
    {
        return Processes::all($n, function (): array {
            $app = $this->boot();
            $worker = $app->make('queue.worker');
            // any number of attempts (a job WithoutOverlapping released comes back), short idle sleeps
            $options = new WorkerOptions('default', 0, 128, 60, 0.02, 0);
            $queue = $app['queue']->connection('redis');
            $deadline = microtime(true) + 20;
            while ($queue->size($this->queue) > 0 && microtime(true) < $deadline) {
                $worker->runNextJob('redis', $this->queue, $options);
            }
            return $app->make(ExceptionHandler::class)->reported;
        }, $timeout);
    }

    /** @return list<array{0: string, 1: float, 2: float, 3: int}> */
    private function runs(): array
    {
        return array_map(fn ($line) => json_decode($line, true), file($this->log, FILE_IGNORE_NEW_LINES));
    }

    public function testWithoutOverlappingJobsNeverRunAtOnceAcrossWorkers(): void
    {
        $this->boot();
        $names = [];
        for ($i = 0; $i < 8; $i++) {
            OverlappingJob::dispatch($this->log, $this->key, $names[] = "job-$i", 120);
        }
        $reported = $this->work(3);
        $this->assertSame([[], [], []], $reported, 'no worker reported an exception');
        $runs = $this->runs();
        $ran = array_column($runs, 0);
        sort($ran);
        $this->assertSame($names, $ran, 'every job ran exactly once');
        $this->assertGreaterThan(1, count(array_unique(array_column($runs, 3))), 'more than one worker ran jobs');
        usort($runs, fn ($a, $b) => $a[1] <=> $b[1]);
        for ($i = 1; $i < count($runs); $i++) {
            $this->assertGreaterThanOrEqual($runs[$i - 1][2], $runs[$i][1], "{$runs[$i - 1][0]} and {$runs[$i][0]} overlapped");
        }
        $this->assertSame(0, $this->oracle()->exists('laravel-queue-overlap:' . OverlappingJob::class . ':' . $this->key), 'the overlap lock was released');
    }

    public function testJobsWithDifferentOverlapKeysRunSideBySide(): void
    {
        $this->boot();
        OverlappingJob::dispatch($this->log, $this->key . ':a', 'a', 600);
        OverlappingJob::dispatch($this->log, $this->key . ':b', 'b', 600);
        $this->work(2);
        $runs = $this->runs();
        $this->assertCount(2, $runs);
        $this->assertLessThan(min($runs[0][2], $runs[1][2]), max($runs[0][1], $runs[1][1]), 'the control: without a shared key they overlap, so the test above can fail');
    }

    public function testAUniqueJobIsQueuedOnceUntilItHasRunThenAgain(): void
    {
        $app = $this->boot();
        // Five processes dispatch the same unique job at once: one is queued.
        $queued = Processes::all(5, function (int $i): int {
            $app = $this->boot();
            UniqueJob::dispatch($this->log, $this->key, "dispatch-$i", 50);
            return $app['queue']->connection('redis')->size($this->queue);
        });
        $this->assertSame(1, $app['queue']->connection('redis')->size($this->queue), 'one unique job queued out of ' . json_encode($queued));
        $lockName = 'laravel_unique_job:' . UniqueJob::class . $this->key;
        $this->assertSame(1, $this->oracle()->exists($lockName), 'its lock is held while it waits');
        $this->assertGreaterThan(50_000, $this->oracle()->pttl($lockName), 'for uniqueFor (60 s)');
        UniqueJob::dispatch($this->log, $this->key, 'late', 50);
        $this->assertSame(1, $app['queue']->connection('redis')->size($this->queue), 'a later dispatch is dropped too');

        $this->assertSame([[], [], []], $this->work(3));
        $this->assertCount(1, $this->runs(), 'it ran once');
        $this->assertSame(0, $this->oracle()->exists($lockName), 'the worker released its lock (another process than the one that took it)');

        UniqueJob::dispatch($this->log, $this->key, 'again', 50);
        $this->assertSame(1, $app['queue']->connection('redis')->size($this->queue), 'queued again once it had run');
        $this->work(1);
        $this->assertCount(2, $this->runs());
        $this->assertSame('again', $this->runs()[1][0]);
    }
}
