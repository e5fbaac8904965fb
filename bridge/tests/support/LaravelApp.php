<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\support;

use Illuminate\Config\Repository;
use Illuminate\Foundation\Application;
use Illuminate\Support\Facades\Facade;

/**
 * A real Laravel application (Debian's laravel/framework) in a temporary base path whose
 * vendor/composer/installed.json lists this bridge's composer.json, as Composer would write it:
 * the service provider is found by Laravel's own package discovery.
 */
final class LaravelApp
{
    /**
     * @param array<string, mixed> $config extra configuration, merged over the defaults
     */
    public static function boot(string $dsn, array $config = []): Application
    {
        $base = TempDirs::make('redis-lock-laravel');
        mkdir("$base/vendor/composer", 0777, true);
        mkdir("$base/bootstrap/cache", 0777, true);
        mkdir("$base/storage/framework/cache", 0777, true);
        $package = json_decode((string) file_get_contents(__DIR__ . '/../../composer.json'), true, flags: JSON_THROW_ON_ERROR);
        file_put_contents("$base/vendor/composer/installed.json", json_encode(['packages' => [$package]]));

        $app = new Application($base);
        $app->instance('config', new Repository(array_replace_recursive([
            'app' => [
                'providers' => [
                    \Illuminate\Cache\CacheServiceProvider::class,
                    \Illuminate\Filesystem\FilesystemServiceProvider::class,
                    \Illuminate\Redis\RedisServiceProvider::class,
                    \Illuminate\Bus\BusServiceProvider::class,
                    \Illuminate\Queue\QueueServiceProvider::class,
                ],
            ],
            'cache' => [
                'default' => 'locks',
                'prefix' => 'laravel_cache',
                'stores' => [
                    'array' => ['driver' => 'array'],
                    'file' => ['driver' => 'file', 'path' => "$base/storage/framework/cache"],
                    'redis' => ['driver' => 'redis', 'connection' => 'cache'],
                    'locks' => ['driver' => 'redis_lock', 'dsn' => $dsn, 'options' => [], 'store' => 'array'],
                ],
            ],
            'database' => ['redis' => self::redisConfig($dsn)],
            'queue' => [
                'default' => 'redis',
                'connections' => [
                    'redis' => ['driver' => 'redis', 'connection' => 'default', 'queue' => 'default', 'retry_after' => 90, 'block_for' => null],
                ],
                'failed' => ['driver' => 'null'],
            ],
        ], $config)));
        $app->registerConfiguredProviders();
        Facade::clearResolvedInstances();
        Facade::setFacadeApplication($app);
        $app->boot();
        return $app;
    }

    /** Laravel's database.redis configuration for the server of `$dsn`, on phpredis. */
    private static function redisConfig(string $dsn): array
    {
        $parts = parse_url($dsn);
        $server = ['host' => $parts['host'], 'port' => $parts['port'] ?? 6379, 'database' => 0];
        return [
            'client' => 'phpredis',
            'options' => ['prefix' => 'laravel_database_'],
            'default' => $server,
            'cache' => $server,
        ];
    }
}
