<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Laravel\Jobs;

use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\Middleware\WithoutOverlapping;

/** Jobs of one `$key` must never run at once: Laravel's own WithoutOverlapping middleware. */
class OverlappingJob implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, RecordsRuns;

    public function __construct(public string $log, public string $key, public string $name, public int $ms)
    {
    }

    public function middleware(): array
    {
        // Not acquired: back on the queue at once, to be tried again.
        return [(new WithoutOverlapping($this->key))->releaseAfter(0)->expireAfter(60)];
    }
}
