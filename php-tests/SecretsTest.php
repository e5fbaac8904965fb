<?php

declare(strict_types=1);

namespace RedisLockTests;

/** A password never appears in a message, a trace, var_dump, print_r or phpinfo(). */
final class SecretsTest extends LockTestCase
{
    private const SECRET = 'hunter2-Secret-Pw';
    /** "Secret123" as the DSNs of encodedCredentials() write it. */
    private const ENCODED_FORMS = ['Secret123', 'Secret%31%323', '%53ecret123'];

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

    /** @return iterable<string, array{string, string}> DSN with "Secret123" in it, its masked form */
    public static function encodedCredentials(): iterable
    {
        yield 'encoded key (issue 7)' => ['unix:///tmp/x.sock?p%61ss=Secret123', 'unix:///tmp/x.sock?pass=***'];
        yield 'all of the key encoded, lower hex' => ['unix:///tmp/x.sock?db=2&%70%61%73%73=Secret123', 'unix:///tmp/x.sock?db=2&pass=***'];
        yield 'encoded user key, repeated pass' => ['redis+unix:///tmp/x.sock?%75ser=Secret123&pass=a&p%61ss=Secret123', 'redis+unix:///tmp/x.sock?user=***&pass=***&pass=***'];
        yield 'other case, unknown key' => ['unix:///tmp/x.sock?PASS=Secret123&Secret123', 'unix:///tmp/x.sock?***&***'];
        yield 'in the userinfo, partly encoded' => ['redis://al%69ce:Secret%31%323@127.0.0.1:6390', 'redis://***@127.0.0.1:6390'];
    }

    /** @dataProvider encodedCredentials */
    public function testDumpsMaskCredentialsWhateverTheirEncoding(string $dsn, string $masked): void
    {
        $lock = new \RedisLock($dsn);
        ob_start();
        var_dump($lock);
        print_r($lock);
        var_export($lock);
        $dump = ob_get_clean();
        foreach (self::ENCODED_FORMS as $form) {
            $this->assertStringNotContainsString($form, $dump);
        }
        $this->assertStringContainsString($masked, $dump);
    }

    /** @dataProvider encodedCredentials */
    public function testAnInvalidDsnWithAnEncodedCredentialShowsOnlyItsScheme(string $dsn): void
    {
        try {
            new \RedisLock($dsn . ':notaport&db=x');
            $this->fail('no exception');
        } catch (\ValueError $e) {
            // The constructor's frame only: PHPUnit's own frames hold this test's arguments.
            foreach (self::ENCODED_FORMS as $form) {
                $this->assertStringNotContainsString($form, $e->getMessage());
                $this->assertStringNotContainsString($form, print_r($e->getTrace()[0], true));
            }
            $this->assertMatchesRegularExpression('~^invalid DSN "[a-z+]+://…": ~', $e->getMessage());
        }
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
