<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/** The hand-written stubs in stubs/ match the loaded extension exactly, and document everything. */
final class StubsTest extends TestCase
{
    private const STUBS = __DIR__ . '/../stubs';

    /** @return array<string, array<string, mixed>> what the stubs declare, read without the extension */
    private function stubs(): array
    {
        $code = '<?php require ' . var_export(__DIR__ . '/support/describe.php', true) . ';'
            . '$before = get_declared_classes();'
            . '$dir = ' . var_export(self::STUBS, true) . ';'
            . 'spl_autoload_register(function ($c) use ($dir) { require "$dir/$c.php"; });'
            . 'foreach (glob("$dir/*.php") as $f) { class_exists(basename($f, ".php")); }'
            . 'echo json_encode(RedisLockTests\describe_classes(array_values(array_diff(get_declared_classes(), $before))));';
        $cmd = escapeshellarg(PHP_BINARY) . ' -n -r ' . escapeshellarg(substr($code, 5));
        $json = shell_exec($cmd);
        $this->assertIsString($json, 'the stub reader ran');
        $this->assertJson($json, $json);
        return json_decode($json, true, flags: JSON_THROW_ON_ERROR);
    }

    /** @return array<string, array<string, mixed>> */
    private function extension(): array
    {
        require_once __DIR__ . '/support/describe.php';
        $names = (new \ReflectionExtension('redis_lock'))->getClassNames();
        $described = describe_classes(array_values($names));
        // Internal classes carry no doc comments; documentation is the stubs' job.
        array_walk_recursive($described, function (&$v, $k) {
            if ($k === 'documented') {
                $v = true;
            }
        });
        return json_decode(json_encode($described), true);
    }

    public function testStubsDeclareExactlyTheExtensionsClasses(): void
    {
        $this->assertSame(array_keys($this->extension()), array_keys($this->stubs()));
    }

    public function testEverySignatureMatches(): void
    {
        $extension = $this->extension();
        foreach ($this->stubs() as $class => $stub) {
            $this->assertArrayHasKey($class, $extension);
            $this->assertSame($extension[$class], $stub, "stubs/$class.php differs from the extension");
        }
    }

    public function testEveryClassAndMethodIsDocumented(): void
    {
        foreach ($this->stubs() as $class => $stub) {
            $this->assertTrue($stub['documented'], "$class has no docblock");
            foreach ($stub['methods'] as $method => $m) {
                $this->assertTrue($m['documented'], "$class::$method has no docblock");
            }
        }
    }

    public function testEachClassHasItsOwnStubFile(): void
    {
        $files = array_map(fn ($f) => basename($f, '.php'), glob(self::STUBS . '/*.php'));
        sort($files);
        $this->assertSame(array_keys($this->extension()), $files);
    }
}
