<?php

declare(strict_types=1);

namespace RedisLockTests;

/** A subclass that forgets `parent::__construct()`. */
class SkipsParentConstructor extends \RedisLock
{
    public function __construct(public string $label = 'skips')
    {
    }
}

/** A subclass that does it right, with a property of its own. */
class CallsParentConstructor extends \RedisLock
{
    public function __construct(string $dsn, public string $label = 'calls')
    {
        parent::__construct($dsn, ['prefix' => 'sub:']);
    }
}

/** A subclass whose parent constructor fails, and that swallows the failure. */
class SwallowsParentFailure extends \RedisLock
{
    public ?\Throwable $failure = null;

    public function __construct()
    {
        try {
            parent::__construct('not a dsn');
        } catch (\ValueError $e) {
            $this->failure = $e;
        }
    }
}

/**
 * A `RedisLock` whose constructor never ran (made by `newInstanceWithoutConstructor()`, or by a
 * subclass that skips `parent::__construct()`): every method throws an `\Error` naming the class,
 * and dumping it works.
 */
final class UninitialisedTest extends LockTestCase
{
    private const WHY = 'object is not initialised: RedisLock::__construct() was not called'
        . ' (a subclass that defines __construct() must call parent::__construct())';

    private static function uninitialised(string $class = \RedisLock::class): \RedisLock
    {
        return (new \ReflectionClass($class))->newInstanceWithoutConstructor();
    }

    /** @return iterable<string, array{callable(\RedisLock): mixed}> every public method but token() and __debugInfo() */
    public static function methods(): iterable
    {
        yield 'acquire' => [fn (\RedisLock $l) => $l->acquire('k', 'v', 1)];
        yield 'retryAcquire' => [fn (\RedisLock $l) => $l->retryAcquire('k', 'v', 1, 0, 0)];
        yield 'release' => [fn (\RedisLock $l) => $l->release('k', 'v')];
        yield 'lock' => [fn (\RedisLock $l) => $l->lock('k')];
        yield 'lock with a wait' => [fn (\RedisLock $l) => $l->lock('k', 1, 5)];
        yield 'synchronized' => [fn (\RedisLock $l) => $l->synchronized('k', fn () => throw new \LogicException('the callback ran'))];
        yield 'restore' => [fn (\RedisLock $l) => $l->restore('k', 'token')];
        yield 'isLocked' => [fn (\RedisLock $l) => $l->isLocked('k')];
        yield 'ttl' => [fn (\RedisLock $l) => $l->ttl('k')];
        yield 'forceRelease' => [fn (\RedisLock $l) => $l->forceRelease('k')];
        // The check comes before the arguments' own: the object is unusable whatever they are.
        yield 'acquire, invalid arguments' => [fn (\RedisLock $l) => $l->acquire('', '', NAN)];
        // Called through the engine rather than the VM: the class is still found.
        yield 'acquire via call_user_func' => [fn (\RedisLock $l) => call_user_func([$l, 'acquire'], 'k', 'v', 1)];
        yield 'isLocked via first-class callable' => [fn (\RedisLock $l) => ($l->isLocked(...))('k')];
        yield 'ttl via ReflectionMethod' => [fn (\RedisLock $l) => (new \ReflectionMethod($l, 'ttl'))->invoke($l, 'k')];
    }

    private function assertNotInitialisedError(string $class, callable $call, \RedisLock $object): void
    {
        try {
            $call($object);
            $this->fail('no exception');
        } catch (\Throwable $e) {
            $this->assertSame(\Error::class, get_class($e), (string) $e);
            $this->assertSame("$class " . self::WHY, $e->getMessage());
            $this->assertSame(0, $e->getCode());
            $this->assertNull($e->getPrevious());
        }
    }

    /** @dataProvider methods */
    public function testEveryMethodOfAnObjectMadeWithoutItsConstructorThrowsError(callable $call): void
    {
        $this->assertNotInitialisedError('RedisLock', $call, self::uninitialised());
    }

    /** @dataProvider methods */
    public function testASubclassThatSkipsTheParentConstructorIsNamedAsGetClassNamesIt(callable $call): void
    {
        $object = new SkipsParentConstructor();
        $this->assertSame('skips', $object->label, "the subclass's own state is intact");
        $this->assertNotInitialisedError(SkipsParentConstructor::class, $call, $object);
        $this->assertNotInitialisedError(SkipsParentConstructor::class, $call, self::uninitialised(SkipsParentConstructor::class));
    }

    public function testAnAnonymousSubclassIsNamedUpToItsNulByte(): void
    {
        $object = new class () extends \RedisLock {
            public function __construct()
            {
            }
        };
        $this->assertStringStartsWith("RedisLock@anonymous\0", get_class($object));
        $this->assertNotInitialisedError('RedisLock@anonymous', fn ($l) => $l->acquire('k', 'v', 1), $object);
    }

    public function testASubclassWhoseParentConstructorFailedIsNotInitialised(): void
    {
        $object = new SwallowsParentFailure();
        $this->assertInstanceOf(\ValueError::class, $object->failure);
        $this->assertNotInitialisedError(SwallowsParentFailure::class, fn ($l) => $l->isLocked('k'), $object);
        $this->assertSame(['state' => 'not initialised: RedisLock::__construct() was not called'], $object->__debugInfo());
    }

    public function testASubclassThatCallsTheParentConstructorWorks(): void
    {
        $object = new CallsParentConstructor($this->dsn);
        $this->assertSame(CallsParentConstructor::class, get_class($object));
        $this->assertSame('calls', $object->label);
        $token = \RedisLock::token();
        $this->assertTrue($object->acquire($this->key, $token, 5));
        $this->assertSame($token, $this->oracle()->get('sub:' . $this->key));
        $this->assertTrue($object->isLocked($this->key));
        $this->assertTrue($object->release($this->key, $token));
        $this->assertSame(0, $this->oracle()->exists('sub:' . $this->key));
        $this->assertSame(42, $object->synchronized($this->key, fn (\RedisLockLease $lease) => 42));
        $info = $object->__debugInfo();
        $this->assertSame(['dsn', 'endpoint', 'prefix', 'database', 'connectTimeout', 'readTimeout'], array_keys($info));
        $this->assertSame('sub:', $info['prefix']);
    }

    public function testCallingTheConstructorLaterInitialisesTheObject(): void
    {
        $object = self::uninitialised();
        $this->assertNotInitialisedError('RedisLock', fn ($l) => $l->isLocked('k'), $object);
        $object->__construct($this->dsn);
        $this->assertFalse($object->isLocked($this->key));
        $this->assertTrue($object->acquire($this->key, 'v', 5));
        $this->assertTrue($object->forceRelease($this->key));
        $this->assertArrayHasKey('dsn', $object->__debugInfo());
    }

    public function testDebugInfoSaysItIsNotInitialised(): void
    {
        foreach ([self::uninitialised(), new SkipsParentConstructor()] as $object) {
            $this->assertSame(['state' => 'not initialised: RedisLock::__construct() was not called'], $object->__debugInfo());
        }
    }

    public function testDumpsOfAnUninitialisedObjectWork(): void
    {
        // In a subprocess: a __debugInfo() that throws is a fatal error in var_dump().
        [$code, $out, $err] = Processes::php(<<<'PHP'
            <?php
            class Sub extends RedisLock { public function __construct() {} }
            foreach ([(new ReflectionClass(RedisLock::class))->newInstanceWithoutConstructor(), new Sub()] as $o) {
                var_dump($o);
                print_r($o);
                echo "\n";
                var_export($o);
                echo "\n";
                debug_zval_dump($o);
                echo json_encode($o), "\n";
                var_dump((array) $o);
                var_dump([$o]);
            }
            echo "done\n";
            PHP);
        $this->assertSame(0, $code, $err);
        $this->assertSame('', $err);
        $this->assertStringEndsWith("done\n", $out);
        $out = preg_replace('/\)#\d+ /', ')#n ', $out);
        $state = 'string(56) "not initialised: RedisLock::__construct() was not called"';
        $this->assertStringContainsString("object(RedisLock)#n (1) {\n  [\"state\"]=>\n  $state\n}\n", $out);
        $this->assertStringContainsString("object(Sub)#n (1) {\n  [\"state\"]=>\n  $state\n}\n", $out);
        $this->assertStringContainsString("RedisLock Object\n(\n    [state] => not initialised: RedisLock::__construct() was not called\n)\n", $out);
        $this->assertStringContainsString("Sub Object\n(\n    [state] => not initialised: RedisLock::__construct() was not called\n)\n", $out);
        // var_export() and json_encode() read properties, not __debugInfo(): there are none.
        $this->assertStringContainsString("\\RedisLock::__set_state(array(\n))", $out);
        $this->assertStringContainsString("\\Sub::__set_state(array(\n))", $out);
        $this->assertSame(2, substr_count($out, "{}\n"));
        $this->assertStringNotContainsString('must return an array', $out);
    }

    public function testCloneIsRefusedAsForAnyRedisLock(): void
    {
        foreach ([self::uninitialised(), new SkipsParentConstructor(), $this->lock()] as $object) {
            try {
                clone $object;
                $this->fail('cloned');
            } catch (\Error $e) {
                $this->assertSame(\Error::class, get_class($e));
                // ext-php-rs names the registered class, not the subclass.
                $this->assertSame('Trying to clone an uncloneable object of class RedisLock', $e->getMessage());
            }
        }
    }

    public function testSerializeAndUnserializeAreStillRefused(): void
    {
        foreach ([self::uninitialised(), new SkipsParentConstructor()] as $object) {
            $class = get_class($object);
            try {
                serialize($object);
                $this->fail('serialized');
            } catch (\Exception $e) {
                $this->assertSame(\Exception::class, get_class($e));
                $this->assertSame("Serialization of '$class' is not allowed", $e->getMessage());
            }
            try {
                unserialize('O:' . strlen($class) . ':"' . $class . '":0:{}');
                $this->fail('unserialized');
            } catch (\Exception $e) {
                $this->assertSame(\Exception::class, get_class($e));
                $this->assertSame("Unserialization of '$class' is not allowed", $e->getMessage());
            }
        }
    }

    public function testTheStaticTokenNeedsNoObject(): void
    {
        $uuid = '/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/';
        $this->assertMatchesRegularExpression($uuid, \RedisLock::token());
        $this->assertMatchesRegularExpression($uuid, self::uninitialised()::token());
        $this->assertMatchesRegularExpression($uuid, SkipsParentConstructor::token());
        $this->assertMatchesRegularExpression($uuid, (new SkipsParentConstructor())->token());
    }

    public function testALeaseCannotBeMadeWithoutItsConstructor(): void
    {
        // In a subprocess, so that a crash would be reported rather than end the suite.
        [$code, $out, $err] = Processes::php(<<<'PHP'
            <?php
            $lock = new RedisLock($argv[1]);
            $lease = $lock->lock($argv[2], 5);
            $attempts = [
                'newInstanceWithoutConstructor' => fn () => (new ReflectionClass(RedisLockLease::class))->newInstanceWithoutConstructor(),
                'newInstance' => fn () => (new ReflectionClass(RedisLockLease::class))->newInstance(),
                'new' => fn () => new RedisLockLease(),
                'new in its own scope' => fn () => (@Closure::bind(fn () => new RedisLockLease(), null, RedisLockLease::class))
                    ?? throw new LogicException('PHP does not bind a closure to the scope of an internal class'),
                'constructor on a lease' => fn () => (new ReflectionMethod(RedisLockLease::class, '__construct'))->invoke($lease),
                'unserialize' => fn () => unserialize('O:14:"RedisLockLease":0:{}'),
            ];
            foreach ($attempts as $name => $attempt) {
                try {
                    $made = $attempt();
                    echo "$name: made ", get_debug_type($made), "\n";
                } catch (Throwable $e) {
                    echo "$name: ", get_class($e), ": ", $e->getMessage(), "\n";
                }
            }
            echo 'lease still held: ', var_export($lease->isHeld(), true), "\n";
            echo 'released: ', var_export($lease->release(), true), "\n";
            PHP, [], 30, [$this->dsn, $this->key]);
        $this->assertSame(0, $code, $err);
        $this->assertSame('', $err);
        $this->assertSame(implode("\n", [
            'newInstanceWithoutConstructor: ReflectionException: Class RedisLockLease is an internal class marked as final that cannot be instantiated without invoking its constructor',
            'newInstance: ReflectionException: Access to non-public constructor of class RedisLockLease',
            'new: Error: Call to private RedisLockLease::__construct() from global scope',
            'new in its own scope: LogicException: PHP does not bind a closure to the scope of an internal class',
            'constructor on a lease: Exception: You cannot instantiate this class from PHP.',
            "unserialize: Exception: Unserialization of 'RedisLockLease' is not allowed",
            'lease still held: true',
            'released: true',
        ]) . "\n", $out);
    }
}
