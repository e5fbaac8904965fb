<?php
/**
 * Flash sale: a dozen PHP worker processes race to buy limited stock.
 *
 * The stock lives in a plain file that each worker reads, decrements and writes back, the way
 * a naive "SELECT stock ... UPDATE stock" works: without mutual exclusion two buyers read the
 * same count and the shop oversells. The same race runs twice: first without a lock, then with
 * RedisLock around each purchase.
 *
 * Run: make demo   (or: REDIS_URL=redis://127.0.0.1:6380 php -d extension=... examples/flash_sale.php)
 */

declare(strict_types=1);

const WORKERS = 12;
const STOCK = 120;

$dsn = getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379';
if (!extension_loaded('redis_lock')) {
    fwrite(STDERR, "the redis_lock extension is not loaded: run `make demo`\n");
    exit(1);
}
if (!function_exists('pcntl_fork')) {
    fwrite(STDERR, "this demo needs pcntl (php-cli has it on Debian)\n");
    exit(1);
}

/** One purchase: read the stock, think for a moment, write it back and record the sale. */
function buy(string $dir, int $worker): bool
{
    $stock = (int) file_get_contents("$dir/stock");
    if ($stock <= 0) {
        return false;
    }
    usleep(200); // checking the payment: the window in which another buyer reads the same stock
    file_put_contents("$dir/stock", (string) ($stock - 1));
    file_put_contents("$dir/sales", "$worker\n", FILE_APPEND);
    return true;
}

/**
 * Runs the sale with WORKERS forked processes.
 *
 * @return array{sold: int[], left: int, seconds: float, waits: int}
 */
function run_sale(string $dsn, string $mode): array
{
    $locked = $mode !== 'none';
    $dir = sys_get_temp_dir() . '/flash-sale-' . getmypid() . "-$mode";
    @mkdir($dir);
    file_put_contents("$dir/stock", (string) STOCK);
    file_put_contents("$dir/sales", '');
    file_put_contents("$dir/waits", '');
    $key = 'flash-sale:sku-42:' . getmypid() . ":$mode";

    $start = microtime(true);
    $children = [];
    for ($w = 1; $w <= WORKERS; $w++) {
        $pid = pcntl_fork();
        if ($pid === -1) {
            fwrite(STDERR, "fork failed\n");
            exit(1); // exit("...") would print it and exit with status 0
        }
        if ($pid === 0) {
            $lock = new RedisLock($dsn);           // shares one connection per process
            $token = RedisLock::token();           // our value: only we can release our lock
            $waits = 0;
            while (true) {
                if (!$locked) {
                    if (!buy($dir, $w)) {
                        break;
                    }
                    continue;
                }
                if ($mode === 'lease') {
                    // The lease API: wait in line (first come, first served) for up to 5 s.
                    $lease = $lock->lock($key, 5, 5);
                    if ($lease === null) {
                        $waits++;
                        continue;
                    }
                    try {
                        $bought = buy($dir, $w);
                    } finally {
                        $lease->release();         // hands the lock to the next in line
                    }
                    if (!$bought) {
                        break;
                    }
                    continue;
                }
                // Document 001's API: up to 1 + 200 attempts 5 ms apart, within a 5 s lease.
                if (!$lock->retryAcquire($key, $token, 5, 200, 0.005)) {
                    $waits++;
                    continue;
                }
                try {
                    $bought = buy($dir, $w);
                } finally {
                    $lock->release($key, $token);
                }
                if (!$bought) {
                    break;
                }
                usleep(random_int(0, 300));           // the buyer goes back to the queue
            }
            file_put_contents("$dir/waits", "$waits\n", FILE_APPEND);
            exit(0);
        }
        $children[] = $pid;
    }
    foreach ($children as $pid) {
        pcntl_waitpid($pid, $status);
        if (!pcntl_wifexited($status) || pcntl_wexitstatus($status) !== 0) {
            fwrite(STDERR, "a worker failed (status $status)\n");
            exit(1);
        }
    }
    $seconds = microtime(true) - $start;

    $sold = array_fill(1, WORKERS, 0);
    foreach (file("$dir/sales", FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $worker) {
        $sold[(int) $worker]++;
    }
    $left = (int) file_get_contents("$dir/stock");
    $waits = array_sum(array_map('intval', file("$dir/waits", FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES)));
    array_map('unlink', glob("$dir/*"));
    rmdir($dir);
    return ['sold' => $sold, 'left' => $left, 'seconds' => $seconds, 'waits' => $waits];
}

function report(string $title, array $r): bool
{
    $total = array_sum($r['sold']);
    $oversold = $total - STOCK;
    printf("\n%s\n%s\n", $title, str_repeat('-', strlen($title)));
    foreach ($r['sold'] as $worker => $n) {
        printf("  worker %2d  %3d sold  %s\n", $worker, $n, str_repeat("#", min($n, 60)));
    }
    printf("  stock %d, sold %d, left in the file %d, elapsed %.2f s\n", STOCK, $total, $r['left'], $r['seconds']);
    if ($oversold > 0) {
        printf("  OVERSOLD by %d: %d customers paid for items that do not exist\n", $oversold, $oversold);
        return false;
    }
    printf("  sold exactly the stock, never oversold%s\n", $r['waits'] ? " ({$r['waits']} retry rounds timed out)" : '');
    return $total === STOCK && $r['left'] === 0;
}

printf("Flash sale: %d workers, %d items, Redis at %s, redis_lock %s\n", WORKERS, STOCK,
    preg_replace('#//[^@/]*@#', '//***@', $dsn), RedisLock::VERSION);

$unlocked = run_sale($dsn, 'none');
report('Round 1: no lock (read, decrement, write)', $unlocked);

$locked = run_sale($dsn, 'retry');
$ok = report('Round 2: each purchase under retryAcquire() / release() (the documents\' API)', $locked);

$fair = run_sale($dsn, 'lease');
$ok = report('Round 3: each purchase under a lease, waiting in line (lock() with a wait)', $fair) && $ok;
printf("  fairness: every worker sold between %d and %d items (first come, first served)\n", min($fair['sold']), max($fair['sold']));

echo $ok ? "\nOK: with RedisLock the sale sold exactly its stock, every time.\n" : "\nFAILED: a locked sale did not sell exactly its stock.\n";
exit($ok ? 0 : 1);
