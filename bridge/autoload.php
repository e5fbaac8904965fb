<?php

/**
 * A PSR-4 autoloader for `RedisLock\Bridge\` → src/, for apps without Composer (and this
 * repository's tests and examples). With Composer, composer.json's autoload does this.
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $prefix = 'RedisLock\\Bridge\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
