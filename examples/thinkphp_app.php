<?php
/**
 * ThinkPHP: an app whose `pay` route lets one request at a time through (RedisLockMiddleware).
 * Five requests arrive at once; the route takes 300 ms; requests wait in line up to 0.5 s, so
 * some are served one after the other and the rest get 429 with Retry-After.
 *
 * The app is set up as Composer and ThinkPHP's own commands would: the bridge installed under
 * vendor/, `php think service:discover` and `php think vendor:publish` run through think\Console,
 * then PHP's built-in web server (5 workers) serves public/index.php.
 *
 * ThinkPHP is not packaged by Debian: REDIS_LOCK_THINKPHP names its sources (default:
 * ../shared/thinkphp beside this repository); REDIS_LOCK_THINKPHP_VERSION picks 6.1 or 8.0.
 *
 * Run: make demo-frameworks   (or: REDIS_URL=... php -d extension=... examples/thinkphp_app.php)
 */

declare(strict_types=1);

/** Removes the example's app root. */
function remove_tree(string $path): void
{
    if (is_link($path) || is_file($path)) {
        unlink($path);
        return;
    }
    foreach (array_diff(scandir($path), ['.', '..']) as $entry) {
        remove_tree("$path/$entry");
    }
    rmdir($path);
}

$dsn = getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379';
$thinkphp = getenv('REDIS_LOCK_THINKPHP') ?: dirname(__DIR__, 2) . '/shared/thinkphp';
$version = getenv('REDIS_LOCK_THINKPHP_VERSION') ?: '8.0';
if (!is_dir("$thinkphp/framework-$version")) {
    fwrite(STDERR, "ThinkPHP $version not found: set REDIS_LOCK_THINKPHP to the folder with framework-$version/\n");
    exit(1);
}
if (!extension_loaded('redis_lock') || !function_exists('pcntl_fork')) {
    fwrite(STDERR, "needs the redis_lock extension and pcntl: run `make demo-frameworks`\n");
    exit(1);
}
$bridge = dirname(__DIR__) . '/bridge';
$boot = "$bridge/tests/Think/support/boot.php"; // loads ThinkPHP without Composer
$env = ['REDIS_LOCK_THINKPHP' => $thinkphp, 'REDIS_LOCK_THINKPHP_VERSION' => $version, 'PATH' => (string) getenv('PATH')];
$php = [PHP_BINARY, '-d', 'extension=' . (getenv('REDIS_LOCK_SO') ?: dirname(__DIR__) . '/target/release/libredis_lock.so')];

// The app root, as `composer create-project` + `composer require redis-lock/bridge` leave it.
$root = sys_get_temp_dir() . '/redis-lock-think-example-' . bin2hex(random_bytes(3));
foreach (['vendor/composer', 'vendor/redis-lock', 'config', 'route', 'public', 'runtime', 'app'] as $dir) {
    mkdir("$root/$dir", 0777, true);
}
symlink($bridge, "$root/vendor/redis-lock/bridge");
file_put_contents("$root/vendor/composer/installed.json", json_encode(['packages' => [json_decode(file_get_contents("$bridge/composer.json"), true)]]));
file_put_contents("$root/.env", "REDIS_LOCK_DSN = \"$dsn\"\n");
file_put_contents("$root/config/app.php", "<?php return ['default_timezone' => 'UTC'];\n");
file_put_contents("$root/config/cache.php", "<?php return ['default' => 'file', 'stores' => ['file' => ['type' => 'File', 'path' => '']]];\n");
file_put_contents("$root/config/log.php", "<?php return ['default' => 'file', 'channels' => ['file' => ['type' => 'File', 'path' => '']]];\n");
file_put_contents("$root/route/app.php", <<<'PHP'
<?php
use RedisLock\Bridge\Think\RedisLockMiddleware;
use think\facade\Route;

Route::post('order/:id/pay', function (string $id) {
    usleep(300000); // charging the card: must not run twice at once for one order
    return json(['order' => $id, 'paid' => true]);
})->middleware(RedisLockMiddleware::class, 'pay');
PHP);
file_put_contents("$root/public/index.php", "<?php require " . var_export($boot, true) . ";\n"
    . "\$http = (new think\\App(" . var_export($root, true) . "))->http;\n"
    . "\$response = \$http->run(); \$response->send(); \$http->end(\$response);\n");
$think = function (string $command) use ($php, $boot, $root, $env): string {
    $code = "<?php require " . var_export($boot, true) . "; echo (new think\\App(" . var_export($root, true) . "))->console->call('$command')->fetch();";
    $proc = proc_open([...$php, '-r', substr($code, 5)], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
    $out = stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]);
    proc_close($proc);
    return trim(strip_tags($out));
};
echo "ThinkPHP $version: php think service:discover -> " . $think('service:discover') . "\n";
echo "ThinkPHP $version: php think vendor:publish   -> " . $think('vendor:publish') . "\n";
$config = str_replace(["'wait' => 5.0", "'retry_after' => 1"], ["'wait' => 0.5", "'retry_after' => 2"], file_get_contents("$root/config/redis_lock.php"));
file_put_contents("$root/config/redis_lock.php", $config);
echo "config/redis_lock.php: middleware wait 0.5 s, answer 429 with Retry-After: 2\n";

$socket = stream_socket_server('tcp://127.0.0.1:0');
$address = stream_socket_get_name($socket, false);
fclose($socket);
$server = proc_open([...$php, '-S', $address, '-t', "$root/public", "$root/public/index.php"], [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes, null, $env + ['PHP_CLI_SERVER_WORKERS' => '5']);
for ($i = 0; $i < 100 && !($probe = @stream_socket_client("tcp://$address")); $i++) {
    usleep(50_000);
}
fclose($probe);

echo "5 requests at once: POST /order/42/pay\n";
$t0 = microtime(true);
$log = tempnam(sys_get_temp_dir(), 'redis-lock-example-');
$children = [];
for ($i = 1; $i <= 5; $i++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        $context = stream_context_create(['http' => ['method' => 'POST', 'ignore_errors' => true, 'timeout' => 10]]);
        $body = file_get_contents("http://$address/order/42/pay", false, $context);
        $retry = '';
        foreach ($http_response_header as $header) {
            if (stripos($header, 'Retry-After:') === 0) {
                $retry = ', Retry-After:' . substr($header, 12);
            }
        }
        file_put_contents($log, sprintf("  %4.0f ms  %s%s  %s\n", (microtime(true) - $t0) * 1000, $http_response_header[0], $retry, trim($body)), FILE_APPEND | LOCK_EX);
        exit(0);
    }
    $children[] = $pid;
}
foreach ($children as $pid) {
    pcntl_waitpid($pid, $status);
}
proc_terminate($server);
proc_close($server);
$lines = file($log);
sort($lines);
echo implode('', $lines);
unlink($log);
$served = count(preg_grep('/ 200 /', $lines));
printf("%d served one at a time, %d turned away with 429\n", $served, count($lines) - $served);
remove_tree($root);
exit($served >= 1 && $served < 5 ? 0 : 1);
