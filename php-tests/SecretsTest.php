<?php

declare(strict_types=1);

namespace RedisLockTests;

/** A password never appears in a message, a trace, var_dump, print_r or phpinfo(). */
final class SecretsTest extends LockTestCase
{
    private const SECRET = 'hunter2-Secret-Pw';

    private function dsnWithPassword(int $port): string
    {
        return 'redis://alice:' . self::SECRET . "@127.0.0.1:$port/2";
    }

    public function testDumpsShowTheDsnMasked(): void
    {
        $lock = new \RedisLock($this->dsnWithPassword(6390), ['prefix' => 'app:']);
        ob_start();
        var_dump($lock);
        print_r($lock);
        var_export($lock);
        debug_zval_dump($lock);
        echo json_encode($lock), serialize((array) $lock);
        $dump = ob_get_clean();
        $this->assertStringNotContainsString(self::SECRET, $dump);
        $this->assertStringNotContainsString('alice', $dump);
        $this->assertStringContainsString('redis://***@127.0.0.1:6390/2', $dump);
        $this->assertStringContainsString('app:', $dump);
    }

    public function testObjectsCannotBeSerialized(): void
    {
        $this->expectException(\Exception::class);
        serialize(new \RedisLock($this->dsnWithPassword(6390)));
    }

    public function testConnectionErrorsAndTheirTracesDoNotShowThePassword(): void
    {
        $lock = new \RedisLock($this->dsnWithPassword(RedisServer::freePort()));
        try {
            $lock->acquire('k', 'v', 1);
            $this->fail('no exception');
        } catch (\RedisLockException $e) {
            $this->assertStringNotContainsString(self::SECRET, (string) $e);
            $this->assertStringNotContainsString(self::SECRET, print_r($e->getTrace(), true));
        }
    }

    public function testTheDsnParameterIsSensitiveInTraces(): void
    {
        // zend.exception_ignore_args=0 (set in phpunit.xml) puts arguments into traces.
        try {
            new \RedisLock('redis://:' . self::SECRET . '@h:notaport');
            $this->fail('no exception');
        } catch (\ValueError $e) {
            $this->assertStringNotContainsString(self::SECRET, $e->getMessage());
            $this->assertStringNotContainsString(self::SECRET, $e->getTraceAsString());
            $this->assertStringNotContainsString(self::SECRET, print_r($e->getTrace(), true));
            $this->assertInstanceOf(\SensitiveParameterValue::class, $e->getTrace()[0]['args'][0]);
            $this->assertSame('redis://:' . self::SECRET . '@h:notaport', $e->getTrace()[0]['args'][0]->getValue());
        }
        $params = (new \ReflectionMethod(\RedisLock::class, '__construct'))->getParameters();
        $this->assertCount(1, $params[0]->getAttributes(\SensitiveParameter::class));
    }

    public function testAnUncaughtErrorPrintsNoPassword(): void
    {
        [$code, $out, $err] = Processes::php(
            '<?php new RedisLock("redis://:' . self::SECRET . '@h:notaport");',
            ['zend.exception_ignore_args' => '0', 'display_errors' => '1', 'zend.exception_string_param_max_len' => '1000000']
        );
        $this->assertSame(255, $code);
        $this->assertStringContainsString('ValueError', $out . $err);
        $this->assertStringNotContainsString(self::SECRET, $out . $err);
    }

    public function testPhpinfoShowsVersionAndSettingsButNoPassword(): void
    {
        $lock = new \RedisLock($this->dsnWithPassword(6390));
        ob_start();
        phpinfo(INFO_MODULES);
        $info = ob_get_clean();
        $this->assertStringContainsString('redis_lock support => enabled', $info);
        $this->assertStringContainsString('version => ' . \RedisLock::VERSION, $info);
        $this->assertStringContainsString('default connectTimeout (s) => 1', $info);
        $this->assertStringContainsString('127.0.0.1:6390 db 2', $info);
        $this->assertStringNotContainsString(self::SECRET, $info);
        $this->assertStringNotContainsString('alice', $info);
        unset($lock);
    }
}
