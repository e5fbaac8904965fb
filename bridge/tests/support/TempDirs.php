<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\support;

/** Temporary folders removed when the process that made them ends (never by a forked child). */
final class TempDirs
{
    public static function make(string $prefix): string
    {
        $dir = sys_get_temp_dir() . "/$prefix-" . bin2hex(random_bytes(4));
        mkdir($dir, 0777, true);
        $pid = getmypid();
        register_shutdown_function(static function () use ($dir, $pid): void {
            if (getmypid() === $pid) {
                self::remove($dir);
            }
        });
        return $dir;
    }

    public static function remove(string $dir): void
    {
        if (is_link($dir) || is_file($dir)) {
            unlink($dir);
            return;
        }
        if (!is_dir($dir)) {
            return;
        }
        foreach (scandir($dir) as $entry) {
            if ($entry !== '.' && $entry !== '..') {
                self::remove("$dir/$entry");
            }
        }
        rmdir($dir);
    }
}
