<?php
// Document 001 on phpredis with a connection per request (connect(), as most apps do).
require __DIR__ . '/common.php';
$redis = new Redis();
$redis->connect($host, $port, 1.0);
$token = uniqid('', true);
if (!$redis->set($key, $token, ['nx', 'ex' => 5]) || $redis->eval($release, [$key, $token], 1) !== 1) {
    http_response_code(409);
}
$redis->close();
echo 'ok';
