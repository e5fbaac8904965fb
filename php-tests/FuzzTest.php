<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * The API fuzzer (support/fuzz.php): thousands of random calls on every public method with
 * randomly typed, sized and encoded arguments. Zero crashes; every failure is a TypeError, a
 * ValueError, a RedisLockException, or the fuzzer's own callback exception (or, for calls on an
 * object made without its constructor, the Error that says so).
 */
final class FuzzTest extends LockTestCase
{
    /** @return iterable<string, array{int}> */
    public static function seeds(): iterable
    {
        foreach ([1, 7, 42, 1234] as $seed) {
            yield "seed $seed" => [$seed, ''];
        }
        yield 'seed 99 on memory://' => [99, 'memory://fuzz'];
    }

    /** @dataProvider seeds */
    public function testRandomCallsNeverCrashOrThrowAnythingElse(int $seed, string $dsn): void
    {
        $this->dsn = $dsn !== '' ? $dsn : $this->dsn;
        $calls = 4000;
        [$exit, $out, $err] = Processes::php(
            file_get_contents(__DIR__ . '/support/fuzz.php'),
            [],
            120,
            [$this->dsn, (string) $seed, (string) $calls]
        );
        $this->assertSame(0, $exit, "the fuzzer process ended badly:\n$err");
        $this->assertStringNotContainsString('panicked', $err, 'a Rust panic was printed');
        $report = json_decode(trim($out), true, flags: JSON_THROW_ON_ERROR);
        $this->assertSame($calls, $report['calls']);
        $this->assertSame([], $report['findings']);
        foreach (['returned', 'TypeError', 'ValueError', 'ArgumentCountError', 'RedisLockLostException', 'Error (not initialised)'] as $expected) {
            $this->assertArrayHasKey($expected, $report['outcomes'], 'the fuzzer reached this outcome');
        }
    }
}
