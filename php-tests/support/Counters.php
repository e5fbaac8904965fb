<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * A few integers in a file that forked processes update under flock(): the tally that tests of
 * mutual exclusion keep (who is inside, violations seen). The parent creates it before forking
 * and removes it after; children only update it (no destructor: a child's exit must not remove
 * the parent's file).
 */
final class Counters
{
    private function __construct(private readonly string $file)
    {
    }

    /** `$n` counters, all 0. */
    public static function start(int $n): self
    {
        $file = tempnam(sys_get_temp_dir(), 'redis-lock-counters-');
        file_put_contents($file, implode(' ', array_fill(0, $n, 0)));
        return new self($file);
    }

    /**
     * Replaces the counters with `$change($counters)`, under an exclusive flock().
     *
     * @param callable(list<int>): list<int> $change
     */
    public function update(callable $change): void
    {
        $f = fopen($this->file, 'r+');
        flock($f, LOCK_EX);
        $values = $change(array_map('intval', explode(' ', stream_get_contents($f))));
        ftruncate($f, 0);
        rewind($f);
        fwrite($f, implode(' ', $values));
        fflush($f);
        flock($f, LOCK_UN);
        fclose($f);
    }

    /** @return list<int> */
    public function values(): array
    {
        return array_map('intval', explode(' ', (string) file_get_contents($this->file)));
    }

    public function remove(): void
    {
        @unlink($this->file);
    }
}
