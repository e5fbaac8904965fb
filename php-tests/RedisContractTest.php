<?php

declare(strict_types=1);

namespace RedisLockTests;

/** The lock contract against the real redis-server of this run (REDIS_URL). */
final class RedisContractTest extends LockContract
{
    protected function dsn(): string
    {
        return (string) getenv('REDIS_URL');
    }

    protected function pass(float $seconds): void
    {
        usleep((int) ($seconds * 1e6));
    }
}
