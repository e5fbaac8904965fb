<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Laravel\Jobs;

use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldBeUnique;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;

/** At most one of these per `uniqueId` is on the queue or running: Laravel's ShouldBeUnique. */
class UniqueJob implements ShouldQueue, ShouldBeUnique
{
    use Dispatchable, InteractsWithQueue, Queueable, RecordsRuns;

    public $uniqueFor = 60;

    public function __construct(public string $log, public string $uniqueId, public string $name, public int $ms)
    {
    }
}
