<?php
/**
 * Symfony: a LockFactory on RedisLockStore. Four processes want the same lock at once with
 * `acquire(true)`: they are served in arrival order, each woken by the previous release (no
 * 100 ms polling). Then a lock is handed to another process as a serialized Key.
 *
 * Run: make demo-frameworks   (or: REDIS_URL=redis://127.0.0.1:6380 php -d extension=... examples/symfony_lock_factory.php)
 */

declare(strict_types=1);

use RedisLock\Bridge\Symfony\RedisLockStore;
use Symfony\Component\Lock\Key;
use Symfony\Component\Lock\LockFactory;

require 'Symfony/Component/Lock/autoload.php';
require __DIR__ . '/../bridge/autoload.php';

$dsn = getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379';
if (!extension_loaded('redis_lock') || !function_exists('pcntl_fork')) {
    fwrite(STDERR, "needs the redis_lock extension and pcntl: run `make demo-frameworks`\n");
    exit(1);
}
$factory = fn (): LockFactory => new LockFactory(new RedisLockStore(new RedisLock($dsn, ['prefix' => 'example:'])));
$resource = 'invoice-run-' . bin2hex(random_bytes(3));
$log = tempnam(sys_get_temp_dir(), 'redis-lock-example-');

echo "Symfony Lock: 4 processes call acquire(true) on one lock, 100 ms apart; each holds it 200 ms\n";
$t0 = microtime(true);
$children = [];
for ($i = 1; $i <= 4; $i++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        $lock = $factory()->createLock($resource, 30);
        $asked = microtime(true);
        $lock->acquire(true);
        $got = microtime(true);
        usleep(200_000);
        $releasing = microtime(true);
        $lock->release();
        file_put_contents($log, json_encode([$i, $asked - $t0, $got - $t0, $releasing - $t0]) . "\n", FILE_APPEND | LOCK_EX);
        exit(0);
    }
    $children[] = $pid;
    usleep(100_000);
}
foreach ($children as $pid) {
    pcntl_waitpid($pid, $status);
}
$runs = array_map(fn ($line) => json_decode($line, true), file($log, FILE_IGNORE_NEW_LINES));
unlink($log);
usort($runs, fn ($a, $b) => $a[2] <=> $b[2]);
$previousRelease = null;
foreach ($runs as [$i, $asked, $got, $released]) {
    printf("  process %d asked at %4.0f ms, got it at %4.0f ms%s, released at %4.0f ms\n", $i, $asked * 1000, $got * 1000,
        $previousRelease === null ? '' : sprintf(' (%.1f ms after the previous release)', ($got - $previousRelease) * 1000), $released * 1000);
    $previousRelease = $released;
}
$order = array_column($runs, 0);
echo 'served in arrival order: ' . ($order === [1, 2, 3, 4] ? 'yes' : 'no (' . implode(', ', $order) . ')') . "\n";

echo "\nA lock handed to another process as a serialized Key:\n";
$key = new Key($resource);
$lock = $factory()->createLockFromKey($key, 30, false);
$lock->acquire();
$payload = serialize($key);
$pid = pcntl_fork();
if ($pid === 0) {
    $restored = $factory()->createLockFromKey(unserialize($payload), 30, false);
    printf("  child: isAcquired() = %s; releasing\n", var_export($restored->isAcquired(), true));
    $restored->release();
    exit(0);
}
pcntl_waitpid($pid, $status);
printf("  parent: isAcquired() = %s after the child released it\n", var_export($lock->isAcquired(), true));
exit($order === [1, 2, 3, 4] && !$lock->isAcquired() ? 0 : 1);
