<?php
/**
 * The bridge's PHPUnit bootstrap: the extension, a redis-server (REDIS_URL, from
 * scripts/with-redis.sh), the bridge (bridge/autoload.php), and Laravel and Symfony from
 * Debian's packages under /usr/share/php. A missing dependency is an error, never a skip:
 * `make test` installs them (scripts/deps.sh). ThinkPHP runs in child processes (its global
 * helpers would clash with Laravel's): see tests/Think/.
 */

declare(strict_types=1);

if (!extension_loaded('redis_lock')) {
    fwrite(STDERR, "redis_lock is not loaded: run the suite with `make bridge-test`\n");
    exit(1);
}
if (!getenv('REDIS_URL')) {
    fwrite(STDERR, "REDIS_URL is not set: run the suite with `make bridge-test` (scripts/with-redis.sh)\n");
    exit(1);
}
foreach ([
    'Illuminate/autoload.php' => 'php-laravel-framework',
    'Symfony/Component/Lock/autoload.php' => 'php-symfony-lock',
] as $file => $package) {
    if (!stream_resolve_include_path($file)) {
        fwrite(STDERR, "$file is missing: install Debian's $package (scripts/deps.sh test)\n");
        exit(1);
    }
    require_once $file;
}

require __DIR__ . '/../autoload.php';
require __DIR__ . '/../../php-tests/support/Processes.php';
spl_autoload_register(static function (string $class): void {
    $prefix = 'RedisLock\\Bridge\\Tests\\';
    if (strncmp($class, $prefix, strlen($prefix)) === 0) {
        $file = __DIR__ . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});
