<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Laravel;

use Illuminate\Console\Scheduling\Schedule;
use Illuminate\Support\Carbon;
use RedisLock\Bridge\Tests\support\BridgeTestCase;
use RedisLock\Bridge\Tests\support\LaravelApp;
use RedisLockTests\Processes;

/**
 * The scheduler's `onOneServer()` with the redis_lock store as the default cache. Laravel 8.83
 * takes that mutex with the cache's `add()`, which the store passes to the named store (here
 * Laravel's redis store); Laravel 11+ takes it with the store's `lock()` (checked by reading).
 */
final class LaravelSchedulerTest extends BridgeTestCase
{
    public function testAnOnOneServerEventRunsOnOneOfFourServersPerMinute(): void
    {
        $log = tempnam(sys_get_temp_dir(), 'redis-lock-schedule-');
        $minute = Carbon::create(2026, 1, 1, 12, random_int(0, 59), 0, 'UTC')->addYears(random_int(0, 500));
        $ran = Processes::all(4, function () use ($log, $minute): bool {
            $app = LaravelApp::boot($this->dsn, ['cache' => ['stores' => ['locks' => ['store' => 'redis']]]]);
            $schedule = new Schedule('UTC');
            $event = $schedule->call(function () use ($log): void {
                file_put_contents($log, getmypid() . "\n", FILE_APPEND | LOCK_EX);
            })->name('nightly-report-' . $this->key)->everyMinute()->onOneServer();
            if (!$schedule->serverShouldRun($event, $minute)) {
                return false;
            }
            $event->run($app);
            return true;
        });
        $lines = file($log, FILE_IGNORE_NEW_LINES);
        unlink($log);
        $this->assertSame(1, count(array_filter($ran)), 'one server ran it: ' . json_encode($ran));
        $this->assertCount(1, $lines);
    }

    /**
     * Laravel 11+'s CacheSchedulingMutex, read from its source: on a LockProvider store it calls
     * `getStore()->lock($event->mutexName() . $time->format('Hi'), 3600)->acquire()`. The same
     * calls from four processes: one wins, and the mutex holds for the hour.
     */
    public function testTheLockCallsOfNewerSchedulersLetOneServerOfFourThrough(): void
    {
        $mutex = 'framework/schedule-' . sha1($this->key) . '1200';
        $won = Processes::all(4, function () use ($mutex): bool {
            $app = LaravelApp::boot($this->dsn);
            return $app['cache']->store('locks')->getStore()->lock($mutex, 3600)->acquire();
        });
        $this->assertSame(1, count(array_filter($won)), json_encode($won));
        $this->assertGreaterThan(3_590_000, $this->oracle()->pttl($mutex));
    }

    public function testAddIsPassedToTheNamedStore(): void
    {
        $app = LaravelApp::boot($this->dsn, ['cache' => ['stores' => ['locks' => ['store' => 'redis']]]]);
        $cache = $app['cache']->store('locks');
        $this->assertTrue($cache->add($this->key, 'first', 60));
        $this->assertFalse($cache->add($this->key, 'second', 60));
        $this->assertSame('first', $cache->get($this->key));
        $this->assertSame(serialize('first'), $this->oracle()->get('laravel_database_laravel_cache:' . $this->key));
        $this->assertSame($app['cache']->store('redis')->getStore(), $cache->getStore()->getStore());
    }
}
