<?php
/**
 * PHPUnit bootstrap: the extension and the test dependencies must be present. A missing
 * dependency is an error, never a skip: `make test` installs everything (scripts/deps.sh).
 */

declare(strict_types=1);

if (!extension_loaded('redis_lock')) {
    fwrite(STDERR, "redis_lock is not loaded: run the suite with `make php-test`\n");
    exit(1);
}
foreach (['pcntl', 'posix', 'redis'] as $required) {
    if (!extension_loaded($required)) {
        fwrite(STDERR, "the tests need ext-$required (Debian: php-cli, php-redis; scripts/deps.sh installs them)\n");
        exit(1);
    }
}
if (!getenv('REDIS_URL')) {
    fwrite(STDERR, "REDIS_URL is not set: run the suite with `make php-test` (scripts/with-redis.sh)\n");
    exit(1);
}

require __DIR__ . '/support/RedisServer.php';
require __DIR__ . '/support/Processes.php';
require __DIR__ . '/support/Counters.php';
require __DIR__ . '/support/RedisCluster.php';
require __DIR__ . '/support/LockTestCase.php';
require __DIR__ . '/support/LockContract.php';
require __DIR__ . '/support/weak_mode.php';
