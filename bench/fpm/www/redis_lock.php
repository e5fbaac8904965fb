<?php
// The extension: a new RedisLock per request, sharing the worker's persistent connection.
require __DIR__ . '/common.php';
$lock = new RedisLock("redis://$host:$port");
$token = RedisLock::token();
if (!$lock->acquire($key, $token, 5) || !$lock->release($key, $token)) {
    http_response_code(409);
}
echo 'ok';
