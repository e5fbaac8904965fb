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

    /**
     * The engine's own keys that belong to the lock `$lockKey` (its holder's fence, queue,
     * heartbeats, wake lists), found by their documented shape: `!rl{TTTT}<word>:<lock key>`,
     * wake lists `!rl{TTTT}wake:<length>:<lock key><token>`. The slot's fence counter is not
     * one of them (it is shared by every lock of the slot).
     */
    protected function engineKeysOf(string $lockKey): array
    {
        $found = [];
        foreach ($this->oracle()->keys('!rl{*') as $key) {
            if (!preg_match('/^!rl\{[@-O]{4}\}(fence|queue|alive|wake):(.*)$/s', $key, $m)) {
                continue;
            }
            $rest = $m[1] === 'wake' ? preg_replace('/^' . strlen($lockKey) . ':/', '', $m[2], 1, $n) : $m[2];
            if ($m[1] === 'wake' ? ($n === 1 && str_starts_with($rest, $lockKey)) : $rest === $lockKey) {
                $found[] = $key;
            }
        }
        return $found;
    }

    protected function lock(array $options = []): \RedisLock
    {
        return new \RedisLock($this->dsn, $options);
    }
}
