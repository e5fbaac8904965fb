<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * Multi-key locks (`lockMany()`): all or nothing, fences per key, forked workers locking random
 * overlapping subsets of five keys with zero lost updates, no two holders of any key and no
 * deadlock, a kill -9'd holder's keys back after the TTL, a SIGSTOPped watchdog holder's keys
 * lost, bad key lists refused, request end, memory://.
 */
final class MultiLockTest extends LockTestCase
{
    /** @return list<string> five keys of this test */
    private function keys(): array
    {
        return array_map(fn (int $i) => "{$this->key}:$i", range(0, 4));
    }

    public function testAllOrNothingWithAFencePerKey(): void
    {
        [$a, $b, $c] = $this->keys();
        $lock = $this->lock();
        $busy = $this->lock()->lock($b, 10);
        $this->assertNull($lock->lockMany([$a, $b, $c], 10), 'b is busy');
        $this->assertFalse($lock->isLocked($a), 'nothing taken');
        $this->assertFalse($lock->isLocked($c), 'nothing taken');
        $busy->release();
        $many = $lock->lockMany([$c, $a, $b], 10);
        $this->assertInstanceOf(\RedisLockMultiLease::class, $many);
        $this->assertSame([$c, $a, $b], $many->keys(), 'in the given order');
        $fences = $many->fences();
        $this->assertSame([$c, $a, $b], array_keys($fences));
        foreach ([$a, $b, $c] as $key) {
            $this->assertSame($many->token(), $this->oracle()->get($key), "$key held by the one token");
            $this->assertGreaterThan(0, $fences[$key]);
        }
        $this->assertTrue($many->isHeld());
        $this->assertNull($this->lock()->lock($a, 10), 'a single-key caller waits as for any holder');
        $this->assertTrue($many->extend(20));
        $this->assertGreaterThan(19_000, $this->oracle()->pttl($b));
        $debug = print_r($many, true);
        $this->assertStringContainsString('[status] => held', $debug);
        $this->assertStringNotContainsString($many->token(), $debug, 'the token is a secret');
        $this->assertTrue($many->release());
        $this->assertFalse($many->release(), 'released once');
        $this->assertFalse($many->isHeld());
        $again = $lock->lockMany([$a, $b, $c], 10);
        foreach ($again->fences() as $key => $fence) {
            $this->assertGreaterThan($fences[$key], $fence, "the fence of $key increases");
        }
        unset($again);
        $this->assertFalse($lock->isLocked($a), 'released when destroyed');
        $this->assertSame([], array_filter($this->oracle()->keys('*' . $this->key . '*'), fn ($k) => !str_ends_with($k, 'fences')));
    }

    public function testBadKeyListsAreRefused(): void
    {
        $lock = $this->lock();
        $cases = [
            'empty' => [[], \ValueError::class, 'must not be empty'],
            'duplicate' => [['a', 'b', 'a'], \ValueError::class, '"a" is given more than once'],
            'reserved' => [['a', '!rl:shared'], \ValueError::class, 'reserved'],
            'empty key' => [['a', ''], \ValueError::class, 'empty'],
            'too many' => [array_map(fn ($i) => "k$i", range(1, 65)), \ValueError::class, 'at most 64'],
            'not a string' => [['a', 1.5], \TypeError::class, 'Argument #1 ($keys) must contain only strings, float given'],
        ];
        foreach ($cases as $name => [$keys, $class, $message]) {
            try {
                $lock->lockMany($keys, 1);
                $this->fail($name);
            } catch (\Throwable $e) {
                $this->assertInstanceOf($class, $e, $name);
                $this->assertStringContainsString($message, $e->getMessage(), $name);
            }
        }
        try {
            $lock->lockMany(['a'], -1);
            $this->fail('negative ttl');
        } catch (\ValueError) {
            $this->addToAssertionCount(1);
        }
        $many = $lock->lockMany(["{$this->key}{x}\0", "{$this->key}:7", 42], 5);
        $this->assertNotNull($many, 'binary-safe names with braces; ints are names too');
        $this->assertSame(['42'], array_slice($many->keys(), 2));
        $this->assertSame([42], array_slice(array_keys($many->fences()), 2), 'an int-like key is an int key');
        try {
            $copy = clone $many;
            $this->fail('clone');
        } catch (\Error $e) {
            $this->assertStringContainsString('uncloneable', $e->getMessage());
        }
        try {
            serialize($many);
            $this->fail('serialize');
        } catch (\Exception $e) {
            $this->assertStringContainsString('not allowed', $e->getMessage());
        }
        $many->release();
        try {
            $class = new \ReflectionClass(\RedisLockMultiLease::class);
            $class->newInstance();
            $this->fail('new');
        } catch (\Throwable $e) {
            $this->assertStringContainsString('non-public constructor', $e->getMessage());
        }
    }

    public function testMemoryRunsMultiKeyLocksToo(): void
    {
        $lock = new \RedisLock('memory://multi');
        $one = $lock->lockMany(['a', 'b'], 10);
        $this->assertNotNull($one);
        $this->assertNull($lock->lockMany(['b', 'c'], 10, 0.1));
        $this->assertFalse($lock->isLocked('c'));
        $one->release();
        $this->assertNotNull($lock->lockMany(['b', 'c'], 10));
    }

    /**
     * Six forked workers lock random overlapping subsets of five keys with a wait, and under
     * the lock read, pause and write a counter per key (a lost update shows as a short count)
     * and mark the key as theirs (a second holder shows as a mark that is not its own): zero
     * lost updates, no two holders, and every call gets its keys within the wait (no deadlock).
     */
    public function testForkedWorkersNeverLoseAnUpdateOrDeadlock(): void
    {
        $keys = $this->keys();
        $counts = Processes::all(6, function (int $worker) use ($keys): array {
            $lock = new \RedisLock($this->dsn);
            $redis = new \Redis();
            $parts = parse_url($this->dsn);
            $redis->connect($parts['host'], $parts['port']);
            mt_srand($worker + 1);
            $done = array_fill(0, 5, 0);
            for ($round = 0; $round < 15; $round++) {
                $mask = mt_rand(1, 31);
                $mine = array_values(array_filter(range(0, 4), fn ($i) => ($mask >> $i) & 1));
                shuffle($mine);
                $names = array_map(fn ($i) => $keys[$i], $mine);
                $many = count($names) === 1 && mt_rand(0, 1) === 1
                    ? $lock->lock($names[0], 10, 15)
                    : $lock->lockMany($names, 10, 15);
                if ($many === null) {
                    throw new \RuntimeException('no keys within 15 s: a deadlock?');
                }
                foreach ($mine as $i) {
                    if (!$redis->set("$keys[$i]:owner", "$worker", ['nx'])) {
                        throw new \RuntimeException("two holders of key $i");
                    }
                }
                foreach ($mine as $i) {
                    $n = (int) $redis->get("$keys[$i]:count");
                    usleep(300);
                    $redis->set("$keys[$i]:count", (string) ($n + 1));
                    $done[$i]++;
                }
                foreach ($mine as $i) {
                    $redis->del("$keys[$i]:owner");
                }
                $many->release();
            }
            return $done;
        }, 120);
        foreach (range(0, 4) as $i) {
            $expected = array_sum(array_column($counts, $i));
            $this->assertSame((string) $expected, $this->oracle()->get("{$keys[$i]}:count") ?: '0', "no lost update on key $i");
            $this->oracle()->del("{$keys[$i]}:count");
        }
        foreach ($keys as $key) {
            $this->assertFalse($this->lock()->isLocked($key));
        }
    }

    public function testAKilledHoldersKeysComeBackAfterItsTtl(): void
    {
        $keys = $this->keys();
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $holder = Processes::fork(function () use ($ready, $keys): void {
            $many = (new \RedisLock($this->dsn))->lockMany($keys, 0.8);
            file_put_contents($ready, $many === null ? 'free?' : 'held');
            sleep(60);
        });
        $this->waitFor($ready);
        $holder->signal(SIGKILL);
        $holder->waitStatus();
        $started = microtime(true);
        $this->assertNull($this->lock()->lockMany([$keys[4], $keys[0]], 10), 'the dead holder still has them');
        $many = $this->lock()->lockMany($keys, 10, 3);
        $this->assertNotNull($many, 'its keys expired');
        $this->assertLessThan(1.5, microtime(true) - $started, 'woken at the expiry, not later');
        $many->release();
        unlink($ready);
    }

    public function testAStoppedWatchdogHolderLosesItsKeys(): void
    {
        $keys = $this->keys();
        $ready = tempnam(sys_get_temp_dir(), 'ready');
        $holder = Processes::fork(function () use ($ready, $keys): void {
            $many = (new \RedisLock($this->dsn, ['leaseTtl' => 0.5]))->lockMany($keys);
            file_put_contents($ready, $many === null ? 'free?' : 'held');
            sleep(60);
        });
        $this->waitFor($ready);
        usleep(1_000_000); // two TTLs: the watchdog renews every key meanwhile
        $this->assertNull($this->lock()->lock($keys[2], 10), 'renewed by the watchdog');
        $holder->signal(SIGSTOP);
        $started = microtime(true);
        $many = $this->lock()->lockMany($keys, 10, 3);
        $this->assertNotNull($many, 'the stopped holder\'s keys expired');
        $this->assertLessThan(1.5, microtime(true) - $started);
        $holder->signal(SIGKILL);
        $holder->signal(SIGCONT);
        $holder->waitStatus();
        $many->release();
        unlink($ready);
    }

    public function testRequestEndReleasesEveryKey(): void
    {
        $keys = var_export($this->keys(), true);
        $code = '<?php
            $lock = new RedisLock(' . var_export($this->dsn, true) . ');
            $GLOBALS["many"] = $lock->lockMany(' . $keys . ', 60);
            echo $GLOBALS["many"]->isHeld() ? "held" : "not held";
            exit(0);';
        [$exit, $out] = Processes::php($code);
        $this->assertSame(0, $exit);
        $this->assertSame('held', $out);
        foreach ($this->keys() as $key) {
            $this->assertFalse($this->lock()->isLocked($key), "$key released at request end");
        }
    }

    private function waitFor(string $file): void
    {
        $deadline = microtime(true) + 5;
        while (file_get_contents($file) !== 'held' && microtime(true) < $deadline) {
            usleep(5_000);
        }
        $this->assertSame('held', file_get_contents($file));
    }
}
