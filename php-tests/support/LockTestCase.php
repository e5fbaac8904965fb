<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/**
 * Base for tests against the shared server of this run (REDIS_URL): a unique key per test, and
 * an independent client (phpredis) to check what the extension did.
 */
abstract class LockTestCase extends TestCase
{
    protected string $dsn;
    protected string $key;
    private ?\Redis $oracle = null;

    protected function setUp(): void
    {
        $this->dsn = (string) getenv('REDIS_URL');
        $this->key = 'test:' . static::class . ':' . $this->getName(false) . ':' . bin2hex(random_bytes(4));
    }

    protected function tearDown(): void
    {
        $this->oracle?->close();
        $this->oracle = null;
    }

    /** An independent phpredis connection to the shared server. */
    protected function oracle(): \Redis
    {
        if ($this->oracle === null) {
            $parts = parse_url($this->dsn);
            $this->oracle = new \Redis();
            $this->oracle->connect($parts['host'], $parts['port'] ?? 6379, 1.0);
        }
        return $this->oracle;
    }

    protected function lock(array $options = []): \RedisLock
    {
        return new \RedisLock($this->dsn, $options);
    }
}
