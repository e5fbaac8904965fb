<?php

declare(strict_types=1);

/**
 * A shared ledger that enforces fencing the way a careful database would: every access carries
 * the lease's fence, the ledger remembers the highest fence it has seen per key, and refuses a
 * begin (read) with a fence not above it and a commit (write) whose fence is no longer the
 * highest. All workers share one file, serialized with flock; every decision is logged with
 * the time it was taken (inside the lock) for the final analysis.
 */
final class Ledger
{
    public function __construct(private string $dir)
    {
    }

    /** Registers `$fence` as the newest on `$key`; false (stale) if it is not above the newest seen. */
    public function begin(string $key, int $fence, int $worker): bool
    {
        return $this->decide('begin', $key, $fence, $worker, static fn (int $max) => $fence > $max);
    }

    /** Accepts the write of `$fence` only if no newer fence began meanwhile. */
    public function commit(string $key, int $fence, int $worker): bool
    {
        return $this->decide('commit', $key, $fence, $worker, static fn (int $max) => $fence === $max);
    }

    private function decide(string $op, string $key, int $fence, int $worker, callable $accept): bool
    {
        $lock = fopen("{$this->dir}/ledger.lock", 'c');
        flock($lock, LOCK_EX);
        try {
            $stateFile = "{$this->dir}/ledger.state";
            $max = is_file($stateFile) ? json_decode((string) file_get_contents($stateFile), true) : [];
            $ok = $accept($max[$key] ?? 0);
            if ($ok && $op === 'begin') {
                $max[$key] = $fence;
                file_put_contents($stateFile, json_encode($max));
            }
            $event = ['op' => $op, 'key' => $key, 'fence' => $fence, 'worker' => $worker, 'ok' => $ok, 't' => microtime(true)];
            file_put_contents("{$this->dir}/ledger.jsonl", json_encode($event) . "\n", FILE_APPEND);
            return $ok;
        } finally {
            flock($lock, LOCK_UN);
            fclose($lock);
        }
    }

    /** @return list<array{op: string, key: string, fence: int, worker: int, ok: bool, t: float}> */
    public static function events(string $dir): array
    {
        $file = "$dir/ledger.jsonl";
        if (!is_file($file)) {
            return [];
        }
        return array_map(static fn ($l) => json_decode($l, true), file($file, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES));
    }
}
