<?php
// Laravel's lock (Illuminate\Cache\PhpRedisLock) on a phpredis connection per request, as with
// Laravel's default non-persistent redis config.
require __DIR__ . '/common.php';
require_once '/usr/share/php/Illuminate/Cache/autoload.php';
require_once '/usr/share/php/Illuminate/Redis/autoload.php';
$redis = new Redis();
$redis->connect($host, $port, 1.0);
$lock = new Illuminate\Cache\PhpRedisLock(new Illuminate\Redis\Connections\PhpRedisConnection($redis), $key, 5);
if (!$lock->get() || !$lock->release()) {
    http_response_code(409);
}
echo 'ok';
