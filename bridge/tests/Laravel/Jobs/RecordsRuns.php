<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Laravel\Jobs;

/** A job that appends [name, start, end, worker pid] to a log file while it runs for `$ms`. */
trait RecordsRuns
{
    public function handle(): void
    {
        $start = microtime(true);
        usleep($this->ms * 1000);
        file_put_contents($this->log, json_encode([$this->name, $start, microtime(true), getmypid()]) . "\n", FILE_APPEND | LOCK_EX);
    }
}
