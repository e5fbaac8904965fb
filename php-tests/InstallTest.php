<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/** `make install` (scripts/install.sh) makes `php -m` list redis_lock without -d extension=. */
final class InstallTest extends TestCase
{
    public function testInstalledExtensionLoadsFromItsIniFile(): void
    {
        $root = sys_get_temp_dir() . '/redis-lock-install-' . getmypid();
        $env = ['EXTENSION_DIR' => "$root/ext", 'INI_DIR' => "$root/conf.d", 'PATH' => getenv('PATH')];
        $script = dirname(__DIR__) . '/scripts/install.sh';
        exec('env ' . implode(' ', array_map(fn ($k, $v) => $k . '=' . escapeshellarg((string) $v), array_keys($env), $env)) . ' ' . escapeshellarg($script) . ' 2>&1', $out, $code);
        $this->assertSame(0, $code, implode("\n", $out));
        $this->assertFileExists("$root/ext/redis_lock.so");
        $this->assertStringContainsString('extension=redis_lock.so', file_get_contents("$root/conf.d/30-redis_lock.ini"));

        // A PHP that reads no php.ini, only our scan dir and extension dir, with no -d extension=.
        $modules = shell_exec('PHP_INI_SCAN_DIR=' . escapeshellarg("$root/conf.d") . ' ' . escapeshellarg(PHP_BINARY)
            . ' -c /dev/null -d extension_dir=' . escapeshellarg("$root/ext") . ' -m 2>&1');
        $this->assertMatchesRegularExpression('/^redis_lock$/m', (string) $modules);
        $this->assertStringNotContainsString('Warning', (string) $modules);

        array_map('unlink', glob("$root/*/*"));
        array_map('rmdir', glob("$root/*"));
        rmdir($root);
    }
}
