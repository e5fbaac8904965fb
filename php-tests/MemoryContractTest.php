<?php

declare(strict_types=1);

namespace RedisLockTests;

/** The lock contract against `memory://`, time passing by the test clock. */
final class MemoryContractTest extends LockContract
{
    protected function dsn(): string
    {
        return 'memory://contract';
    }

    protected function pass(float $seconds): void
    {
        \RedisLockMemory::advanceClock($seconds, 'contract');
    }

    protected function tearDown(): void
    {
        \RedisLockMemory::reset('contract');
    }
}
