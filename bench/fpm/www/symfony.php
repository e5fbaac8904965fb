<?php
// Symfony Lock (RedisStore + LockFactory) on a phpredis connection per request.
require __DIR__ . '/common.php';
require_once '/usr/share/php/Symfony/Component/Lock/autoload.php';
$redis = new Redis();
$redis->connect($host, $port, 1.0);
$lock = (new Symfony\Component\Lock\LockFactory(new Symfony\Component\Lock\Store\RedisStore($redis)))->createLock($key, 5, false);
if (!$lock->acquire()) {
    http_response_code(409);
} else {
    $lock->release();
}
echo 'ok';
