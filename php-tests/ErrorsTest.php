<?php

declare(strict_types=1);

namespace RedisLockTests;

use RedisLockTests\WeakMode;

/** Bad input gets a clear PHP error; failures are real exceptions of a documented class. */
final class ErrorsTest extends LockTestCase
{
    public function testTheExceptionHierarchy(): void
    {
        $this->assertSame(\RuntimeException::class, get_parent_class(\RedisLockException::class));
        foreach ([\RedisLockConnectionException::class, \RedisLockTimeoutException::class, \RedisLockServerException::class] as $class) {
            $this->assertSame(\RedisLockException::class, get_parent_class($class));
            $e = new $class('made by PHP code', 7);
            $this->assertSame('made by PHP code', $e->getMessage());
            $this->assertSame(7, $e->getCode());
            $this->assertSame(__LINE__ - 3, $e->getLine());
        }
        $sub = new class ('x') extends \RedisLockTimeoutException {
        };
        $this->assertInstanceOf(\RedisLockException::class, $sub);
    }

    public function testExceptionsFromTheExtensionCarryFileLineAndTrace(): void
    {
        $lock = new \RedisLock('redis://127.0.0.1:' . RedisServer::freePort());
        try {
            $line = __LINE__ + 1;
            $lock->acquire('k', 'v', 1);
            $this->fail('no exception');
        } catch (\RedisLockConnectionException $e) {
            $this->assertSame(__FILE__, $e->getFile());
            $this->assertSame($line, $e->getLine());
            $this->assertSame('acquire', $e->getTrace()[0]['function']);
            $this->assertSame(\RedisLock::class, $e->getTrace()[0]['class']);
            $this->assertStringStartsWith('acquire: cannot connect to Redis at 127.0.0.1:', $e->getMessage());
        }
    }

    /** @return iterable<string, array{callable(\RedisLock): mixed, string}> */
    public static function valueErrors(): iterable
    {
        yield 'empty key' => [fn ($l) => $l->acquire('', 'v', 1), 'key must not be empty'];
        yield 'empty value' => [fn ($l) => $l->acquire('k', '', 1), 'value must not be empty'];
        yield 'zero expire' => [fn ($l) => $l->acquire('k', 'v', 0), 'expireTime must be a finite number of seconds greater than 0, 0 given'];
        yield 'negative expire' => [fn ($l) => $l->acquire('k', 'v', -1), 'greater than 0'];
        yield 'NAN expire' => [fn ($l) => $l->acquire('k', 'v', NAN), 'NAN given'];
        yield 'INF expire' => [fn ($l) => $l->acquire('k', 'v', INF), 'INF given'];
        yield 'under 1 ms' => [fn ($l) => $l->acquire('k', 'v', 0.0004), 'at least 0.001 seconds'];
        yield 'absurd expire' => [fn ($l) => $l->acquire('k', 'v', 1e13), 'at most'];
        yield 'release empty key' => [fn ($l) => $l->release('', 'v'), 'key must not be empty'];
        yield 'release empty value' => [fn ($l) => $l->release('k', ''), 'value must not be empty'];
        yield 'negative retries' => [fn ($l) => $l->retryAcquire('k', 'v', 10, -1, 1), 'maxRetries must be 0 or greater'];
        yield 'negative interval' => [fn ($l) => $l->retryAcquire('k', 'v', 10, 1, -0.5), 'retryInterval must be'];
        yield 'NAN interval' => [fn ($l) => $l->retryAcquire('k', 'v', 10, 1, NAN), 'retryInterval must be'];
        yield 'retries outlast the lock' => [fn ($l) => $l->retryAcquire('k', 'v', 10, 4, 3), 'retryInterval × maxRetries (12 s) must not exceed expireTime (10 s)'];
    }

    /** @dataProvider valueErrors */
    public function testBadArgumentsAreValueErrorsBeforeAnyNetworkIo(callable $call, string $message): void
    {
        // Nothing listens here: a ValueError proves validation ran before connecting.
        $lock = new \RedisLock('redis://127.0.0.1:' . RedisServer::freePort());
        $this->expectException(\ValueError::class);
        $this->expectExceptionMessage($message);
        $call($lock);
    }

    /** @return iterable<string, array{string, array<mixed>, class-string, string}> */
    public static function badConstructions(): iterable
    {
        yield 'empty DSN' => ['', [], \ValueError::class, 'must not be empty'];
        yield 'no scheme' => ['127.0.0.1:6379', [], \ValueError::class, 'expected redis://'];
        yield 'bad port' => ['redis://h:port', [], \ValueError::class, 'not a valid URL'];
        yield 'bad db' => ['redis://h/x', [], \ValueError::class, 'Invalid database number'];
        yield 'unknown ssl option' => ['rediss://h', ['ssl' => ['verify_host' => 0]], \ValueError::class, 'unknown ssl option "verify_host"; the ssl options are: cafile, local_cert'];
        yield 'ssl option without TLS' => ['redis://h', ['ssl' => []], \ValueError::class, 'use a rediss://, rediss+sentinel:// or rediss+cluster:// DSN'];
        yield 'ssl entry of the wrong type' => ['rediss://h', ['ssl' => ['verify_peer' => 0]], \TypeError::class, 'ssl option "verify_peer" must be of type bool, int given'];
        yield 'not UTF-8' => ["redis://h\xff", [], \ValueError::class, 'not valid UTF-8'];
        yield 'unknown option' => ['redis://h', ['readtimeout' => 1], \ValueError::class, 'unknown option "readtimeout"; the options are: connectTimeout, readTimeout, prefix, database'];
        yield 'list instead of options' => ['redis://h', [1, 2], \ValueError::class, 'unknown option "0"'];
        yield 'zero timeout' => ['redis://h', ['connectTimeout' => 0], \ValueError::class, 'greater than 0'];
        yield 'huge timeout (found by the fuzzer: was a Rust panic)' => ['redis://h', ['readTimeout' => 1e300], \ValueError::class, 'between 0.001 and 3600 seconds'];
        yield 'option name not UTF-8 (found by the fuzzer: was a Rust panic)' => ['redis://h', ["\xff\0" => 1], \ValueError::class, 'unknown option'];
        yield 'NAN timeout' => ['redis://h', ['readTimeout' => NAN], \ValueError::class, 'NAN given'];
        yield 'negative database' => ['redis://h', ['database' => -1], \ValueError::class, '0 or greater'];
        yield 'timeout as string' => ['redis://h', ['readTimeout' => '1'], \TypeError::class, 'option "readTimeout" must be of type int|float, string given'];
        yield 'prefix as int' => ['redis://h', ['prefix' => 1], \TypeError::class, 'option "prefix" must be of type string, int given'];
        yield 'database as null' => ['redis://h', ['database' => null], \TypeError::class, 'option "database" must be of type int, null given'];
    }

    /** @dataProvider badConstructions */
    public function testBadDsnsAndOptionsFailAtConstruction(string $dsn, array $options, string $class, string $message): void
    {
        $this->expectException($class);
        $this->expectExceptionMessage($message);
        new \RedisLock($dsn, $options);
    }

    /** @return iterable<string, array{callable(\RedisLock): mixed, string}> */
    public static function strictTypeErrors(): iterable
    {
        yield 'array key' => [fn ($l) => $l->acquire([], 'v', 1), 'RedisLock::acquire(): Argument #1 ($key) must be of type string, array given'];
        yield 'int value, strict' => [fn ($l) => $l->acquire('k', 5, 1), 'RedisLock::acquire(): Argument #2 ($value) must be of type string, int given'];
        yield 'string expire, strict' => [fn ($l) => $l->acquire('k', 'v', '5'), 'RedisLock::acquire(): Argument #3 ($expireTime) must be of type float, string given'];
        yield 'float retries' => [fn ($l) => $l->retryAcquire('k', 'v', 1, 1.5, 0.1), 'RedisLock::retryAcquire(): Argument #4 ($maxRetries) must be of type int, float given'];
        yield 'object value' => [fn ($l) => $l->release('k', new \stdClass()), 'RedisLock::release(): Argument #2 ($value) must be of type string, stdClass given'];
        yield 'null key' => [fn ($l) => $l->release(null, 'v'), 'RedisLock::release(): Argument #1 ($key) must be of type string, null given'];
    }

    /** @dataProvider strictTypeErrors */
    public function testWrongTypesAreStandardTypeErrorsInStrictMode(callable $call, string $message): void
    {
        $this->expectException(\TypeError::class);
        $this->expectExceptionMessage($message);
        $call($this->lock());
    }

    public function testWeakModeCoercesScalarsAsPhpDoes(): void
    {
        $lock = $this->lock();
        $this->assertTrue(WeakMode\acquire($lock, $this->key, 42, '10'));
        $this->assertSame('42', $this->oracle()->get($this->key));
        $this->assertGreaterThan(9_000, $this->oracle()->pttl($this->key));
        $this->assertTrue(WeakMode\release($lock, $this->key, 42.0));
        $this->assertTrue(WeakMode\retryAcquire($lock, $this->key . 'x', 'v', 1, '0', '0'));
    }

    public function testWeakModeStillRejectsWhatPhpRejects(): void
    {
        $this->expectException(\TypeError::class);
        $this->expectExceptionMessage('RedisLock::acquire(): Argument #3 ($expireTime) must be of type float, string given');
        WeakMode\acquire($this->lock(), $this->key, 'v', 'ten seconds');
    }

    public function testWrongArgumentCountIsAnArgumentCountError(): void
    {
        $this->expectException(\ArgumentCountError::class);
        $this->lock()->acquire('k', 'v'); // @phpstan-ignore-line
    }

    public function testNoInputCrashesTheProcess(): void
    {
        // A mixed bag in one subprocess: each call must end in a PHP error object, never a crash.
        [$code, $out, $err] = Processes::php(<<<'PHP'
            <?php
            $l = new RedisLock('redis://127.0.0.1:1', ['connectTimeout' => 0.05]);
            $inputs = ['', "\0", str_repeat('k', 1 << 20), -0.0, PHP_INT_MAX, PHP_INT_MIN, PHP_FLOAT_EPSILON,
                1e308, -1e308, NAN, INF, [], new stdClass(), null, true, fopen('php://memory', 'r'), fn () => 1];
            $n = 0;
            foreach ($inputs as $a) {
                foreach ($inputs as $b) {
                    foreach ([[$a, $b, 1], ['k', 'v', $a], ['k', 'v', 1, $a, $b]] as $args) {
                        try { $l->retryAcquire(...array_pad($args, 5, 0)); } catch (Throwable $e) { $n++; }
                        try { $l->acquire(...array_slice($args, 0, 3)); } catch (Throwable $e) { $n++; }
                        try { $l->release($args[0], $args[1]); } catch (Throwable $e) { $n++; }
                        try { new RedisLock(is_string($a) ? $a : 'redis://h', is_array($b) ? $b : ['prefix' => $b]); } catch (Throwable $e) { $n++; }
                    }
                }
            }
            echo "survived $n\n";
            PHP);
        $this->assertSame(0, $code, $err);
        $this->assertMatchesRegularExpression('/^survived \d+$/', trim($out));
        $this->assertStringNotContainsString('panic', $err);
    }
}
