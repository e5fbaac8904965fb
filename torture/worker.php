<?php
/**
 * One torture worker: takes leases on a small set of keys until the end time, and inside each
 * critical section reads and writes the fenced ledger. Records every completed section, every
 * exception by class, and every call that overran its deadline. Run by torture/run.php.
 *
 * Usage: php -d extension=... worker.php <dsn> <keys,comma,separated> <worker id> <end time> <dir>
 *        <quorum member DSNs, space separated>
 */

declare(strict_types=1);

require __DIR__ . '/Ledger.php';

[, $dsn, $keys, $id, $end, $dir, $members] = $argv;
$id = (int) $id;
$end = (float) $end;
$keys = explode(',', $keys);
$ledger = new Ledger($dir);
const WAIT = 2.0;
const LEASE_TTL = 1.0;
// A lock() call may wait WAIT, then spend a read timeout on a stopped server, reconnect and
// spend another: beyond this it overran.
const DEADLINE = WAIT + 4.0;

$watchdog = $id % 2 === 0; // half the workers use watchdog leases, half a fixed TTL
// SABOTAGE=1 proves the checks can fail: no mutual exclusion at all, just fences.
$sabotage = (bool) getenv('SABOTAGE');
$lock = new RedisLock($dsn, ['connectTimeout' => 0.5, 'readTimeout' => 1.0, 'leaseTtl' => LEASE_TTL]);
// The Redlock quorum: short timeouts, so a stopped member costs a quarter of the validity time.
$quorum = new RedisLock(explode(' ', $members), ['connectTimeout' => 0.25, 'readTimeout' => 0.25, 'leaseTtl' => LEASE_TTL]);
$out = fopen("$dir/worker-$id.jsonl", 'a');
$record = static function (array $row) use ($out, $id): void {
    fwrite($out, json_encode(['worker' => $id, 'pid' => getmypid()] + $row) . "\n");
    fflush($out);
};
$progress = static fn (string $state) => file_put_contents("$dir/progress-$id", json_encode(['t' => microtime(true), 'state' => $state, 'pid' => getmypid()]));

// A semaphore of SEM_PERMITS permits, taken in one iteration of four: the analysis checks that
// no more than SEM_PERMITS permits confirmed held (release() true) ever overlap.
const SEM_NAME = 'torture-semaphore';
const SEM_PERMITS = 2;
// A read-write lock, taken in one iteration of four (one in five of those as the writer): the
// analysis checks that no writer confirmed held (release() true) ever overlaps anyone.
const RW_NAME = 'torture-rw';

// Multi-key locks, taken in one iteration of six: two or three of these keys at once, all or
// none; the analysis checks that no two turns confirmed held (release() true) sharing a key
// ever overlap.
const MANY_KEYS = ['torture-many:a', 'torture-many:b', 'torture-many:c'];

// A lock on the Redlock quorum, taken in one iteration of six of the others: the analysis checks
// that no two turns confirmed held (release() true: a majority still held it) ever overlap.
const QUORUM_NAME = 'torture-quorum';

// One turn on a lock kind that has no fence (semaphore, read-write, multi-key, quorum): take it with
// $take (a stand-in that locks nothing under SABOTAGE), hold it a while, release it, and record
// under $kind the times and whether release() confirmed it held ($held's other fields as given).
// $during names the call in error records ("release ($what)" for the release). $holdUs: how
// long the work takes (µs; 5 to 40 ms when null).
$turn = static function (string $kind, array $held, string $waiting, string $holding, string $during, string $what, callable $take,
    ?int $holdUs = null) use ($sabotage, $progress, $record): void {
    $progress($waiting);
    $t0 = microtime(true);
    try {
        $lease = $sabotage ? new class () {
            public function release(): bool
            {
                return true;
            }
        } : $take();
    } catch (RedisLockException $e) {
        $record(['error' => get_class($e), 'during' => $during, 't' => microtime(true)]);
        usleep(50_000);
        return;
    } catch (Throwable $e) {
        $record(['violation' => get_class($e) . ': ' . $e->getMessage(), 't' => microtime(true)]);
        return;
    }
    $t1 = microtime(true);
    if ($t1 - $t0 > DEADLINE) {
        $record(['overran' => $t1 - $t0, 't0' => $t0, 't1' => $t1]);
    }
    if ($lease === null) {
        return;
    }
    $progress($holding);
    $held += ['t_call' => $t0, 't_acq' => $t1];
    usleep($holdUs ?? random_int(5_000, 40_000)); // the work
    $held['t_rel'] = microtime(true);
    try {
        $held['released'] = $lease->release();
    } catch (RedisLockException $e) {
        $held['released'] = 'error';
        $record(['error' => get_class($e), 'during' => $what === '' ? 'release' : "release ($what)", 't' => microtime(true)]);
    }
    $record([$kind => $held]);
};
$ttl = $watchdog ? null : LEASE_TTL;

while (microtime(true) < $end) {
    if (random_int(0, 5) === 0) {
        $set = MANY_KEYS;
        shuffle($set);
        $set = array_slice($set, 0, random_int(2, 3));
        $on = implode('+', $set);
        $turn('many', ['keys' => $set], "waiting for $on", "holding $on", 'lockMany', 'many',
            static fn () => $lock->lockMany($set, $ttl, WAIT));
        continue;
    }
    if (random_int(0, 5) === 0) {
        // One turn in four of a watchdog worker holds 0.3 to 1.5 s: past a stopped member's
        // resumption, so that a grant wrongly counted during the fault meets a holder whose
        // release() is then confirmed (the analysis checks no grant falls inside such a turn).
        $long = $watchdog && random_int(0, 3) === 0;
        $turn('quorum', [], 'waiting for the quorum', 'holding the quorum', 'lock (quorum)', 'quorum',
            static fn () => $quorum->lock(QUORUM_NAME, $ttl, WAIT), $long ? random_int(300_000, 1_500_000) : null);
        continue;
    }
    if (random_int(0, 3) === 1) {
        $write = random_int(0, 4) === 0;
        $turn('rw', ['write' => $write], $write ? 'waiting to write' : 'waiting to read', $write ? 'writing' : 'reading',
            $write ? 'lock (rw)' : 'lockShared', 'rw',
            static fn () => $write ? $lock->lock(RW_NAME, $ttl, WAIT) : $lock->lockShared(RW_NAME, $ttl, WAIT));
        continue;
    }
    if (random_int(0, 3) === 0) {
        $turn('permit', [], 'waiting for a permit', 'holding a permit', 'permit', '',
            static fn () => $lock->permit(SEM_NAME, SEM_PERMITS, $ttl, WAIT));
        continue;
    }
    $key = $keys[array_rand($keys)];
    $progress("waiting $key");
    $t0 = microtime(true);
    try {
        $lease = $sabotage ? new class () {
            public function fence(): int
            {
                return (int) (microtime(true) * 1e6);
            }

            public function release(): bool
            {
                return true;
            }
        } : $lock->lock($key, $watchdog ? null : LEASE_TTL, WAIT);
    } catch (RedisLockException $e) {
        $record(['error' => get_class($e), 'during' => 'lock', 't' => microtime(true)]);
        usleep(50_000);
        continue;
    } catch (Throwable $e) {
        $record(['violation' => get_class($e) . ': ' . $e->getMessage(), 't' => microtime(true)]);
        continue;
    } finally {
        $t1 = microtime(true);
        if ($t1 - $t0 > DEADLINE) {
            $record(['overran' => $t1 - $t0, 't0' => $t0, 't1' => $t1]);
        }
    }
    $record(['wait' => ['key' => $key, 't0' => $t0, 't1' => $t1, 'got' => $lease !== null]]);
    if ($lease === null) {
        continue;
    }
    $fence = $lease->fence();
    $progress("holding $key $fence");
    $section = ['key' => $key, 'fence' => $fence, 't_call' => $t0, 't_acq' => $t1];
    try {
        $section['begin_ok'] = $ledger->begin($key, $fence, $id);
        usleep(random_int(5_000, 40_000)); // the work
        $section['commit_ok'] = $section['begin_ok'] && $ledger->commit($key, $fence, $id);
        $section['t_rel'] = microtime(true);
        $section['released'] = $lease->release();
    } catch (RedisLockException $e) {
        $section['t_rel'] ??= microtime(true);
        $section['released'] = 'error';
        $record(['error' => get_class($e), 'during' => 'release', 't' => microtime(true)]);
    } catch (Throwable $e) {
        $record(['violation' => get_class($e) . ': ' . $e->getMessage(), 't' => microtime(true)]);
    }
    $record(['section' => $section]);
    unset($lease);
}
$progress('done');
$record(['done' => true]);
exit(0);
