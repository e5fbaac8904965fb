<?php
/**
 * Loads ThinkPHP without Composer (see ../shared/thinkphp/README.md): `think\` from the chosen
 * framework version, then think-helper and think-orm (PSR-4, first match wins), the PSR
 * interfaces from Debian, and this bridge. Used by the child processes of the ThinkPHP tests
 * and by examples/thinkphp; never in the PHPUnit process (ThinkPHP's global helpers would
 * clash with Laravel's).
 *
 * Needs REDIS_LOCK_THINKPHP (the folder with framework-6.1/, framework-8.0/, think-helper/,
 * think-orm/) and REDIS_LOCK_THINKPHP_VERSION (6.1 or 8.0).
 */

declare(strict_types=1);

(static function (): void {
    $root = getenv('REDIS_LOCK_THINKPHP');
    $version = getenv('REDIS_LOCK_THINKPHP_VERSION') ?: '8.0';
    if (!$root || !is_dir("$root/framework-$version/src/think")) {
        fwrite(STDERR, "set REDIS_LOCK_THINKPHP to the ThinkPHP sources (framework-$version/ missing)\n");
        exit(2);
    }
    $dirs = ["$root/framework-$version/src/think/", "$root/think-helper/src/", "$root/think-orm/src/"];
    spl_autoload_register(static function (string $class) use ($dirs): void {
        if (strncmp($class, 'think\\', 6) !== 0) {
            return;
        }
        $relative = str_replace('\\', '/', substr($class, 6)) . '.php';
        foreach ($dirs as $dir) {
            if (is_file($dir . $relative)) {
                require $dir . $relative;
                return;
            }
        }
    });
    require_once "$root/think-helper/src/helper.php";
    foreach (['Psr/Container', 'Psr/Log', 'Psr/SimpleCache'] as $psr) {
        require_once "$psr/autoload.php";
    }
    require_once __DIR__ . '/../../../autoload.php';
})();
