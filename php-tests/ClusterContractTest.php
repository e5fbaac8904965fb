<?php

declare(strict_types=1);

namespace RedisLockTests;

/** The lock contract on a Redis Cluster of three masters (`redis+cluster://`), started for the class. */
final class ClusterContractTest extends LockContract
{
    private static ?LocalCluster $cluster = null;

    public static function setUpBeforeClass(): void
    {
        self::$cluster = new LocalCluster(3, 0);
    }

    public static function tearDownAfterClass(): void
    {
        self::$cluster = null;
    }

    protected function dsn(): string
    {
        return self::$cluster->dsn();
    }

    protected function pass(float $seconds): void
    {
        usleep((int) ($seconds * 1e6));
    }
}
