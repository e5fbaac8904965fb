<?php
/**
 * The API fuzzer, run by FuzzTest in a subprocess: random public calls with randomly typed,
 * sized and encoded arguments. Every call must return or throw a TypeError, a ValueError, a
 * RedisLockException, or the exception the fuzzer's own callback threw; anything else (a
 * "Rust panic" Error, a crash) is a finding. A call on the object made without its constructor
 * must throw the Error that says so (or a TypeError for its arguments).
 *
 * Usage: php -d extension=... fuzz.php <redis dsn> <seed> <calls>
 * Prints one JSON line: {"calls": n, "outcomes": {class: count}, "findings": [...]}.
 */

declare(strict_types=0); // weak mode: coercion paths are part of the surface

[, $dsn, $seed, $calls] = $argv;
mt_srand((int) $seed);

final class FuzzCallbackException extends Exception
{
}

function pick(array $xs): mixed
{
    return $xs[mt_rand(0, count($xs) - 1)];
}

function fuzz_string(): string
{
    return pick([
        static fn () => '',
        static fn () => "\0",
        static fn () => "k\0ey",
        static fn () => "\xff\xfe\x80invalid utf-8",
        static fn () => str_repeat('x', mt_rand(1, 64)),
        static fn () => str_repeat("\r\n", mt_rand(1, 8)),
        static fn () => random_bytes(mt_rand(1, 32)),
        static fn () => str_repeat('k', 1 << mt_rand(10, 20)),
        static fn () => '{tag}:' . mt_rand(),
        static fn () => 'redis://:pw@127.0.0.1:' . mt_rand(0, 70000),
        static fn () => 'unix:///nonexistent/' . mt_rand(),
        static fn () => '$3' . "\r\nSET\r\n",
        static fn () => (string) mt_rand(),
        static fn () => '🔒' . mt_rand(),
    ])();
}

function fuzz_number(): int|float
{
    return pick([0, -0.0, 1, -1, 0.0004, 0.001, 0.05, 0.5, 2, 7.5, 1e9, 1e13, 1e300, -1e300, NAN, INF, -INF,
        PHP_INT_MAX, PHP_INT_MIN, PHP_FLOAT_EPSILON, mt_rand(-5, 5), mt_rand() / mt_getrandmax()]);
}

/** A value of any type, weighted towards the interesting ones. */
function fuzz_value(int $depth = 0): mixed
{
    $kind = mt_rand(0, 11);
    return match (true) {
        $kind <= 3 => fuzz_string(),
        $kind <= 6 => fuzz_number(),
        $kind === 7 => pick([null, true, false]),
        $kind === 8 && $depth < 2 => fuzz_options($depth + 1),
        $kind === 9 => pick([new stdClass(), new ArrayObject([1]), fopen('php://memory', 'r')]),
        $kind === 10 => static fn () => throw new FuzzCallbackException('from a fuzzed closure'),
        default => fuzz_string(),
    };
}

/** Options arrays: valid names with random values, random names, lists. */
function fuzz_options(int $depth = 0): array
{
    $names = ['connectTimeout', 'readTimeout', 'prefix', 'database', 'leaseTtl', 'maxLifetime', 'strict', 'replicas', 'replicaTimeout'];
    $options = [];
    for ($i = mt_rand(0, 3); $i > 0; $i--) {
        $name = mt_rand(0, 4) ? pick($names) : (mt_rand(0, 1) ? fuzz_string() : mt_rand(-3, 3));
        $options[$name] = $depth < 2 ? fuzz_value($depth + 1) : fuzz_number();
    }
    return $options;
}

/** Mostly valid arguments for one parameter kind, sometimes anything. */
function arg(string $kind): mixed
{
    if (mt_rand(0, 3) === 0) {
        return fuzz_value();
    }
    return match ($kind) {
        'key' => pick(['fuzz:a', 'fuzz:b', '{fuzz}:c', fuzz_string()]),
        'keys' => pick([
            ['fuzz:a', 'fuzz:b'],
            ['{fuzz}:c', 'fuzz:a', 'fuzz:b'],
            ['fuzz:a', 'fuzz:a'],
            [],
            ['fuzz:a', fuzz_string()],
            ['k' => 'fuzz:b', 7 => fuzz_value()],
            array_map(static fn ($i) => "fuzz:$i", range(1, mt_rand(60, 70))),
            [fuzz_value(), fuzz_value()],
            [['fuzz:a']],
        ]),
        'value' => pick(['v1', 'v2', fuzz_string()]),
        'ttl' => pick([0.05, 0.5, 2, fuzz_number()]),
        'wait' => pick([0, 0.01, 0.05, fuzz_number()]),
        'retries' => pick([0, 1, 2, mt_rand(-2, 3), PHP_INT_MAX]),
        'callable' => pick([
            static fn ($lease = null) => 42,
            static fn ($lease = null) => throw new FuzzCallbackException('boom'),
            static fn ($lease = null) => $lease?->fence(),
            'strlen',
            fuzz_value(),
        ]),
        'dsn' => pick([$GLOBALS['dsn'], $GLOBALS['dsn'] . '/1', 'redis://127.0.0.1:1', 'memory://', 'memory://' . fuzz_string(), fuzz_string()]),
        // Mostly the fuzzer's own space ('fuzz'), sometimes anything.
        'space' => mt_rand(0, 3) ? 'fuzz' : fuzz_value(),
        'options' => mt_rand(0, 2) ? ['connectTimeout' => 0.2, 'readTimeout' => 0.5] + fuzz_options() : fuzz_value(),
    };
}

$lock = new RedisLock($dsn, ['connectTimeout' => 0.2, 'readTimeout' => 0.5]);
$cleanup = new RedisLock($dsn);
$uninitialised = (new ReflectionClass(RedisLock::class))->newInstanceWithoutConstructor();
const NOT_INITIALISED = 'RedisLock object is not initialised: RedisLock::__construct() was not called'
    . ' (a subclass that defines __construct() must call parent::__construct())';
$leases = [];
$multis = [];
$methods = [
    'new' => ['dsn', 'options'],
    'acquire' => ['key', 'value', 'ttl'],
    'retryAcquire' => ['key', 'value', 'ttl', 'retries', 'wait'],
    'release' => ['key', 'value'],
    'lock' => ['key', 'ttl', 'wait', 'value'],
    'lockMany' => ['keys', 'ttl', 'wait'],
    'synchronized' => ['key', 'callable', 'ttl', 'wait'],
    'restore' => ['key', 'value'],
    'isLocked' => ['key'],
    'ttl' => ['key'],
    'forceRelease' => ['key'],
    'token' => [],
    'lease.extend' => ['ttl'],
    'lease.isHeld' => [],
    'lease.remaining' => [],
    'lease.release' => [],
    'lease.detach' => [],
    'lease.key' => [],
    'lease.fence' => [],
    'multi.extend' => ['ttl'],
    'multi.isHeld' => [],
    'multi.release' => [],
    'multi.keys' => [],
    'multi.fences' => [],
    'multi.token' => [],
    'memory.advanceClock' => ['wait', 'space'],
    'memory.reset' => ['space'],
];
$outcomes = [];
$findings = [];
for ($i = 0; $i < (int) $calls; $i++) {
    $method = array_rand($methods);
    $args = array_map('arg', $methods[$method]);
    // Fewer or more arguments than declared, sometimes.
    if (mt_rand(0, 9) === 0) {
        mt_rand(0, 1) ? array_pop($args) : $args[] = fuzz_value();
    }
    $target = mt_rand(0, 19) === 0 ? $uninitialised : $lock;
    try {
        $result = match ($method) {
            'new' => new RedisLock(...$args),
            'token' => RedisLock::token(),
            'memory.advanceClock' => RedisLockMemory::advanceClock(...$args),
            'memory.reset' => RedisLockMemory::reset(...$args),
            default => match (true) {
                str_starts_with($method, 'lease.') => $leases ? $leases[array_rand($leases)]->{substr($method, 6)}(...$args) : null,
                str_starts_with($method, 'multi.') => $multis ? $multis[array_rand($multis)]->{substr($method, 6)}(...$args) : null,
                default => $target->{$method}(...$args),
            },
        };
        if ($result instanceof RedisLockLease) {
            $leases[] = $result;
        }
        if ($result instanceof RedisLockMultiLease) {
            $multis[] = $result;
        }
        $outcome = 'returned';
        if ($target === $uninitialised && !in_array($method, ['new', 'token'], true) && !str_starts_with($method, 'lease.') && !str_starts_with($method, 'multi.') && !str_starts_with($method, 'memory.')) {
            $findings[] = sprintf('%s(%s) on an uninitialised object returned', $method, substr(var_export($args, true), 0, 300));
        }
    } catch (TypeError | ValueError | RedisLockException | FuzzCallbackException $e) {
        $outcome = get_class($e);
    } catch (Throwable $e) {
        $outcome = get_class($e);
        if ($target === $uninitialised && $outcome === Error::class && $e->getMessage() === NOT_INITIALISED) {
            $outcome = 'Error (not initialised)';
        } else {
            $findings[] = sprintf('%s(%s): %s: %s', $method, substr(var_export($args, true), 0, 300), get_class($e), $e->getMessage());
        }
    }
    $outcomes[$outcome] = ($outcomes[$outcome] ?? 0) + 1;
    // Free every key this call used, so that a valid but enormous wait or retry count in a
    // later call returns at once instead of waiting for a lock the fuzzer itself holds.
    if (count($leases) > 8) {
        $leases = [];
    }
    if (count($multis) > 4) {
        $multis = [];
    }
    $used = is_array($args[0] ?? null) ? array_values($args[0]) : [$args[0] ?? null];
    $keys = array_filter([...$used, 'fuzz:a', 'fuzz:b', '{fuzz}:c'], static fn ($k) => is_string($k) && $k !== '');
    foreach ($keys as $key) {
        $cleanup->forceRelease($key);
    }
}
ksort($outcomes);
echo json_encode(['calls' => (int) $calls, 'outcomes' => $outcomes, 'findings' => $findings]), "\n";
