<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/**
 * `redis+cluster://` through the PHP face, on three masters started for the class: every
 * master's slots, forked workers, clear errors for wrong targets. Redirects, migrations and
 * failovers are tested in the engine's suite (src/lock/tests/cluster.rs).
 */
final class ClusterTest extends TestCase
{
    private static ?LocalCluster $cluster = null;

    public static function setUpBeforeClass(): void
    {
        self::$cluster = new LocalCluster(3, 0);
    }

    public static function tearDownAfterClass(): void
    {
        self::$cluster = null;
    }

    public function testEveryMastersSlotsTakeLocksOnThatMaster(): void
    {
        $c = self::$cluster;
        $lock = new \RedisLock($c->dsn());
        for ($m = 0; $m < 3; $m++) {
            $key = $c->keyOn($m, 'every:' . bin2hex(random_bytes(3)) . ':');
            $lease = $lock->lock($key, 10);
            $this->assertNotNull($lease);
            $this->assertSame($lease->token(), $c->nodes[$m]->client()->get($key));
            $this->assertNull($lock->lock($key, 10));
            $this->assertTrue($lock->acquire("$key:doc", 'v', 10));
            $this->assertFalse($lock->acquire("$key:doc", 'w', 10));
            $this->assertTrue($lock->release("$key:doc", 'v'));
            $this->assertTrue($lease->release());
        }
        $info = $lock->__debugInfo();
        $this->assertSame($c->dsn(), $info['dsn']);
        $this->assertSame('cluster via 127.0.0.1:' . $c->nodes[0]->port, $info['endpoint']);
    }

    public function testForkedWorkersLoseNoUpdateOnAnyMaster(): void
    {
        $c = self::$cluster;
        $run = bin2hex(random_bytes(3));
        $keys = [];
        for ($m = 0; $m < 3; $m++) {
            $keys[$m] = $c->keyOn($m, "count:$run:");
        }
        // Made before the fork: each child must open connections of its own.
        $lock = new \RedisLock($c->dsn(), ['connectTimeout' => 2]);
        $this->assertFalse($lock->isLocked($keys[0]));
        $workers = 4;
        $rounds = 25;
        $results = Processes::all($workers, function () use ($c, $lock, $keys, $rounds) {
            $clients = [];
            foreach ($keys as $m => $key) {
                $clients[$m] = $c->nodes[$m]->client();
            }
            for ($i = 0; $i < $rounds; $i++) {
                foreach ($keys as $m => $key) {
                    $lease = $lock->lock($key, 5, 10);
                    if ($lease === null) {
                        return "no lease for $key";
                    }
                    $n = (int) $clients[$m]->get("{{$key}}:n");
                    usleep(200);
                    $clients[$m]->set("{{$key}}:n", (string) ($n + 1));
                    if (!$lease->release()) {
                        return "lease of $key lost";
                    }
                }
            }
            return 'ok';
        });
        $this->assertSame(array_fill(0, $workers, 'ok'), $results);
        foreach ($keys as $m => $key) {
            $this->assertSame((string) ($workers * $rounds), $c->nodes[$m]->client()->get("{{$key}}:n"), "no lost update on master $m");
        }
    }

    /**
     * Multi-key locks spanning the three masters (and two keys of one slot, by a hash tag):
     * forked workers lock random overlapping subsets with a wait; no lost update of a counter
     * per key, no deadlock.
     */
    public function testMultiKeyLocksAcrossMastersLoseNoUpdate(): void
    {
        $c = self::$cluster;
        $run = bin2hex(random_bytes(3));
        $keys = [];
        for ($m = 0; $m < 3; $m++) {
            $keys[] = $c->keyOn($m, "many:$run:");
        }
        $keys[] = "{many:$run}a";
        $keys[] = "{many:$run}b";
        $lock = new \RedisLock($c->dsn(), ['connectTimeout' => 2]);
        $all = $lock->lockMany($keys, 10);
        $this->assertNotNull($all);
        foreach ($keys as $key) {
            $this->assertTrue($lock->isLocked($key));
        }
        $this->assertNull($lock->lockMany([$keys[4], $keys[0]], 10), 'all or nothing');
        $this->assertTrue($all->release());
        $workers = 4;
        $rounds = 12;
        $results = Processes::all($workers, function (int $w) use ($c, $lock, $keys, $rounds) {
            mt_srand($w + 7);
            $clients = [];
            for ($m = 0; $m < 3; $m++) {
                $clients[$m] = $c->nodes[$m]->client();
            }
            $done = array_fill(0, 5, 0);
            for ($i = 0; $i < $rounds; $i++) {
                $mask = mt_rand(1, 31);
                $mine = array_values(array_filter(range(0, 4), fn ($k) => ($mask >> $k) & 1));
                $many = $lock->lockMany(array_map(fn ($k) => $keys[$k], $mine), 5, 15);
                if ($many === null) {
                    return 'no lease within 15 s';
                }
                foreach ($mine as $k) {
                    $counter = "{{$keys[$k]}}:n";
                    $node = $clients[$c->masterOf($counter)];
                    $n = (int) $node->get($counter);
                    usleep(200);
                    $node->set($counter, (string) ($n + 1));
                    $done[$k]++;
                }
                if (!$many->release()) {
                    return 'a key was lost';
                }
            }
            return $done;
        }, 120);
        foreach ($results as $w => $result) {
            $this->assertIsArray($result, "worker $w: " . json_encode($result));
        }
        foreach (range(0, 4) as $k) {
            $counter = "{{$keys[$k]}}:n";
            $expected = array_sum(array_column($results, $k));
            $this->assertSame((string) $expected, $c->nodes[$c->masterOf($counter)]->client()->get($counter) ?: '0', "no lost update on key $k");
        }
    }

    public function testWrongTargetsAreClearErrors(): void
    {
        $plain = (string) getenv('REDIS_URL');
        $lock = new \RedisLock(str_replace('redis://', 'redis+cluster://', $plain), ['connectTimeout' => 0.5]);
        try {
            $lock->acquire('k', 'v', 1);
            $this->fail('a cluster DSN worked against a plain server');
        } catch (\RedisLockConnectionException $e) {
            $this->assertStringContainsString('not a Redis Cluster node', $e->getMessage());
        }
        $c = self::$cluster;
        $key = $c->keyOn(1, 'elsewhere:');
        $lock = new \RedisLock('redis://127.0.0.1:' . $c->nodes[0]->port);
        try {
            $lock->acquire($key, 'v', 1);
            $this->fail('a plain DSN at a cluster node reached another master');
        } catch (\RedisLockServerException $e) {
            $this->assertStringContainsString('MOVED', $e->getMessage());
            $this->assertStringContainsString('use a redis+cluster:// DSN', $e->getMessage());
        }
        foreach ([
            'redis+cluster://127.0.0.1:1/2' => 'database 0 only',
            'redis+cluster://127.0.0.1:1?db=1' => 'no query parameters',
            'redis+cluster://:1' => 'host name is missing',
            'redis+cluster://127.0.0.1:0' => 'port',
        ] as $dsn => $why) {
            try {
                new \RedisLock($dsn);
                $this->fail("$dsn was accepted");
            } catch (\ValueError $e) {
                $this->assertStringContainsString($why, $e->getMessage(), $dsn);
            }
        }
        try {
            new \RedisLock($c->dsn(), ['database' => 1]);
            $this->fail('database 1 accepted for a cluster');
        } catch (\ValueError $e) {
            $this->assertStringContainsString('must be 0 for Redis Cluster', $e->getMessage());
        }
        try {
            new \RedisLock($c->dsn(), ['ssl' => ['verify_peer' => false]]);
            $this->fail('ssl accepted for a plain cluster DSN');
        } catch (\ValueError $e) {
            $this->assertStringContainsString('rediss+cluster://', $e->getMessage());
        }
    }

    public function testSecretsNeverShow(): void
    {
        $c = self::$cluster;
        $lock = new \RedisLock(str_replace('redis+cluster://', 'redis+cluster://u:s3cret@', $c->dsn()), ['connectTimeout' => 0.5]);
        ob_start();
        var_dump($lock);
        $dump = ob_get_clean();
        $this->assertStringNotContainsString('s3cret', $dump);
        try {
            $lock->isLocked('k');
            $this->fail('AUTH as an unknown user succeeded');
        } catch (\RedisLockConnectionException $e) {
            $this->assertStringNotContainsString('s3cret', (string) $e);
        }
    }
}
