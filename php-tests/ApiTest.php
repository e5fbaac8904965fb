<?php

declare(strict_types=1);

namespace RedisLockTests;

/** The documents' API as a PHP user calls it. */
final class ApiTest extends LockTestCase
{
    public function testAcquireTakesAFreeLockWithTheGivenTtl(): void
    {
        $value = \RedisLock::token();
        $this->assertTrue($this->lock()->acquire($this->key, $value, 10));
        $this->assertSame($value, $this->oracle()->get($this->key));
        $ttl = $this->oracle()->pttl($this->key);
        $this->assertGreaterThan(9_800, $ttl);
        $this->assertLessThanOrEqual(10_000, $ttl);
    }

    public function testFractionalExpireTimesAreKeptToTheMillisecond(): void
    {
        $this->assertTrue($this->lock()->acquire($this->key, 'v', 1.5));
        $ttl = $this->oracle()->pttl($this->key);
        $this->assertGreaterThan(1_400, $ttl);
        $this->assertLessThanOrEqual(1_500, $ttl);
    }

    public function testAContenderGetsFalseAndTheHolderKeepsTheLock(): void
    {
        $lock = $this->lock();
        $this->assertTrue($lock->acquire($this->key, 'holder', 10));
        $this->assertFalse($lock->acquire($this->key, 'contender', 10));
        $this->assertSame('holder', $this->oracle()->get($this->key));
    }

    public function testReleaseDeletesOnlyTheHoldersLock(): void
    {
        $lock = $this->lock();
        $this->assertTrue($lock->acquire($this->key, 'holder', 10));
        $this->assertFalse($lock->release($this->key, 'someone-else'));
        $this->assertSame('holder', $this->oracle()->get($this->key));
        $this->assertTrue($lock->release($this->key, 'holder'));
        $this->assertFalse($this->oracle()->exists($this->key) > 0);
        $this->assertFalse($lock->release($this->key, 'holder'), 'a second release reports false');
    }

    public function testRetryAcquireReturnsTrueAtOnceWhenFree(): void
    {
        $start = microtime(true);
        $this->assertTrue($this->lock()->retryAcquire($this->key, 'v', 10, 4, 2));
        $this->assertLessThan(0.5, microtime(true) - $start);
    }

    public function testRetryAcquireGivesUpAfterOnePlusMaxRetriesAttempts(): void
    {
        $lock = $this->lock();
        $this->assertTrue($lock->acquire($this->key, 'holder', 10));
        $start = microtime(true);
        $this->assertFalse($lock->retryAcquire($this->key, 'waiter', 1, 3, 0.1));
        $elapsed = microtime(true) - $start;
        $this->assertGreaterThanOrEqual(0.3, $elapsed, 'three sleeps between four attempts');
        $this->assertLessThan(0.45, $elapsed, 'no sleep after the last attempt');
    }

    public function testRetryAcquireWithZeroRetriesIsOneAttempt(): void
    {
        $lock = $this->lock();
        $this->assertTrue($lock->acquire($this->key, 'holder', 10));
        $start = microtime(true);
        $this->assertFalse($lock->retryAcquire($this->key, 'waiter', 10, 0, 5));
        $this->assertLessThan(0.2, microtime(true) - $start);
    }

    public function testRetryAcquireGetsTheLockWhenTheHolderReleases(): void
    {
        $lock = $this->lock();
        $this->assertTrue($lock->acquire($this->key, 'holder', 10));
        $releaser = Processes::fork(function (): bool {
            usleep(150_000);
            return (new \RedisLock($this->dsn))->release($this->key, 'holder');
        });
        $start = microtime(true);
        $this->assertTrue($lock->retryAcquire($this->key, 'waiter', 2, 20, 0.05));
        $elapsed = microtime(true) - $start;
        $this->assertTrue($releaser->wait());
        $this->assertGreaterThan(0.1, $elapsed);
        $this->assertLessThan(0.5, $elapsed);
        $this->assertSame('waiter', $this->oracle()->get($this->key));
    }

    public function testTheDocumentsUsageExampleRunsAsWritten(): void
    {
        // Document 001's example, with its numbers: 4 retries 2 s apart within a 10 s expiry.
        $lockManager = $this->lock();
        $lockKey = $this->key;
        $lockValue = uniqid();
        $expireTime = 10;
        $maxRetries = 4;
        $retryInterval = 2;
        $this->assertTrue($lockManager->retryAcquire($lockKey, $lockValue, $expireTime, $maxRetries, $retryInterval));
        $this->assertTrue($lockManager->release($lockKey, $lockValue));
    }

    public function testNamedArgumentsUseTheDocumentsCamelCaseNames(): void
    {
        $lock = $this->lock();
        $this->assertTrue($lock->retryAcquire(key: $this->key, value: 'v', expireTime: 5, maxRetries: 1, retryInterval: 0.5));
        $this->assertTrue($lock->release(value: 'v', key: $this->key));
    }

    public function testKeysAndValuesAreBinarySafe(): void
    {
        $key = $this->key . "\0\r\n\xff";
        $value = "\0v\r\n\$3\r\n\xfe";
        $lock = $this->lock();
        $this->assertTrue($lock->acquire($key, $value, 10));
        $this->assertSame($value, $this->oracle()->get($key));
        $this->assertFalse($lock->acquire($key, "\0v\r\n", 10));
        $this->assertFalse($lock->release($key, "\0v"));
        $this->assertTrue($lock->release($key, $value));
    }

    public function testLargeValuesRoundTrip(): void
    {
        $value = str_repeat('x', 1_000_000);
        $lock = $this->lock();
        $this->assertTrue($lock->acquire($this->key, $value, 10));
        $this->assertTrue($lock->acquire($this->key, $value, 10), 'the same value is recognised');
        $this->assertTrue($lock->release($this->key, $value));
    }

    public function testThePrefixOptionIsPrependedToKeys(): void
    {
        $lock = $this->lock(['prefix' => 'app:']);
        $this->assertTrue($lock->acquire($this->key, 'v', 10));
        $this->assertSame('v', $this->oracle()->get('app:' . $this->key));
        $this->assertFalse($this->oracle()->get($this->key));
        $this->assertTrue($lock->release($this->key, 'v'));
    }

    public function testTheDatabaseOptionAndDsnPathSelectADatabase(): void
    {
        $viaPath = new \RedisLock($this->dsn . '/4');
        $viaOption = $this->lock(['database' => 5]);
        $this->assertTrue($viaPath->acquire($this->key, 'four', 10));
        $this->assertTrue($viaOption->acquire($this->key, 'five', 10));
        $oracle = $this->oracle();
        $oracle->select(4);
        $this->assertSame('four', $oracle->get($this->key));
        $oracle->select(5);
        $this->assertSame('five', $oracle->get($this->key));
        $oracle->select(0);
        $this->assertFalse($oracle->get($this->key));
    }

    public function testTokensAreUniqueUuidV4(): void
    {
        $tokens = [];
        for ($i = 0; $i < 1000; $i++) {
            $tokens[] = \RedisLock::token();
        }
        $this->assertCount(1000, array_unique($tokens));
        foreach ($tokens as $t) {
            $this->assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $t);
        }
    }

    public function testVersionConstantMatchesTheExtensionVersion(): void
    {
        $this->assertSame(phpversion('redis_lock'), \RedisLock::VERSION);
        $this->assertMatchesRegularExpression('/^\d+\.\d+\.\d+/', \RedisLock::VERSION);
    }
}
