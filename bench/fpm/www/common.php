<?php
// Shared by the benchmark endpoints: where Redis is (set by bench/fpm.php in the FPM pool's
// environment) and a key per request, spread over a million keys so that the lock is uncontended
// and the numbers are the cost of the lock, not of waiting.
$url = parse_url(getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379');
$host = $url['host'];
$port = (int) ($url['port'] ?? 6379);
$key = 'fpm:' . random_int(1, 1_000_000);
$release = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end';
