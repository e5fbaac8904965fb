<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * What is particular to `memory://`: separate spaces, the test clock (which cannot reach a
 * real server), one process only (fork), state across requests of one process with leases
 * released at request end, and its DSN. The lock semantics themselves are MemoryContractTest.
 */
final class MemoryTest extends LockTestCase
{
    protected function tearDown(): void
    {
        foreach (['', 'a', 'b', 'fork'] as $space) {
            \RedisLockMemory::reset($space);
        }
        parent::tearDown();
    }

    public function testSpacesAreSeparateAndResetEmptiesOne(): void
    {
        $a = new \RedisLock('memory://a');
        $b = new \RedisLock('memory://b');
        $default = new \RedisLock('memory://');
        $this->assertTrue($a->acquire('k', 'v', 10));
        $this->assertFalse($b->isLocked('k'));
        $this->assertFalse($default->isLocked('k'));
        $this->assertTrue((new \RedisLock('memory://a'))->isLocked('k'), 'a second object sees the same space');
        \RedisLockMemory::reset('b');
        $this->assertTrue($a->isLocked('k'), 'resetting b leaves a alone');
        \RedisLockMemory::reset('a');
        $this->assertFalse($a->isLocked('k'));
        $this->assertTrue($a->acquire('k', 'w', 10), 'the object stays usable after a reset');
    }

    public function testTheTestClockMovesOneSpaceOnlyAndNeverARealServer(): void
    {
        $redis = $this->lock();
        $this->assertTrue($redis->acquire($this->key, 'v', 2));
        $a = new \RedisLock('memory://a');
        $b = new \RedisLock('memory://b');
        $this->assertTrue($a->acquire('k', 'v', 2));
        $this->assertTrue($b->acquire('k', 'v', 2));
        \RedisLockMemory::advanceClock(100, 'a');
        $this->assertFalse($a->isLocked('k'));
        $this->assertTrue($b->isLocked('k'));
        $this->assertTrue($redis->isLocked($this->key), 'the Redis lock is untouched');
        $this->assertGreaterThan(1.5, $redis->ttl($this->key));
    }

    public function testTheClockOnlyMovesForwardAndNamesAreChecked(): void
    {
        foreach ([-1.0, NAN, INF, 1e10] as $bad) {
            try {
                \RedisLockMemory::advanceClock($bad);
                $this->fail("accepted $bad");
            } catch (\ValueError $e) {
                $this->assertStringContainsString('seconds', $e->getMessage());
            }
        }
        foreach (['a/b', str_repeat('x', 65), "a\0b", 'ä'] as $bad) {
            try {
                \RedisLockMemory::reset($bad);
                $this->fail('accepted ' . json_encode($bad));
            } catch (\ValueError $e) {
                $this->assertStringContainsString('space', $e->getMessage());
            }
            try {
                new \RedisLock("memory://$bad");
                $this->fail('accepted DSN ' . json_encode($bad));
            } catch (\ValueError $e) {
                $this->assertStringContainsString('memory', $e->getMessage());
            }
        }
    }

    public function testItCannotBeCreatedAndShowsItsDsn(): void
    {
        $this->assertFalse((new \ReflectionClass(\RedisLockMemory::class))->isInstantiable());
        $info = (new \RedisLock('MEMORY://a'))->__debugInfo();
        $this->assertSame('memory://a', $info['dsn']);
        $this->assertSame('memory://a', $info['endpoint']);
    }

    public function testAForkedChildCannotUseItsParentsSpaceButMayStartItsOwn(): void
    {
        $lock = new \RedisLock('memory://fork');
        $lease = $lock->lock('k', 60);
        $child = Processes::fork(function () use ($lock) {
            try {
                $lock->isLocked('k');
                return 'used the parent\'s space';
            } catch (\RedisLockConnectionException $e) {
                $refused = $e->getMessage();
            }
            try {
                (new \RedisLock('memory://fork'))->lock('k', 1);
                return 'a new object used the parent\'s space';
            } catch (\RedisLockConnectionException) {
            }
            try {
                (new \RedisLock('memory://never-used'))->isLocked('k');
                return 'a space the parent never used was usable before reset()';
            } catch (\RedisLockConnectionException) {
            }
            \RedisLockMemory::reset('fork');
            $own = (new \RedisLock('memory://fork'))->lock('k', 60);
            // Objects made before the fork follow the child's own space too.
            $old = $lock->acquire('doc', 'v', 10) && $lock->lock('k2', 5) !== null && $lock->isLocked('k');
            return [$refused, $own !== null && $old];
        });
        [$message, $ownSpace] = $child->wait();
        $this->assertStringContainsString('pcntl_fork()', $message);
        $this->assertStringContainsString('not shared between processes', $message);
        $this->assertTrue($ownSpace, 'after reset() the child has an empty space of its own');
        $this->assertTrue($lease->isHeld(), "the parent's lock is untouched");
        $this->assertTrue($lock->isLocked('k'));
    }

    public function testStateLivesAcrossRequestsAndLeasesAreReleasedAtRequestEnd(): void
    {
        $docroot = sys_get_temp_dir() . '/redis-lock-memory-' . bin2hex(random_bytes(4));
        mkdir($docroot);
        file_put_contents("$docroot/index.php", '<?php
            $lock = new RedisLock("memory://web");
            switch ($_GET["step"]) {
                case "take":
                    $lease = $lock->lock("lease", 60);                  // left for request end
                    $GLOBALS["kept"] = $lock->lock("global", 60);      // also in a global
                    echo $lock->acquire("doc", uniqid("", true), 60) ? "taken" : "busy";
                    break;
                case "check":
                    echo json_encode([
                        "lease" => $lock->isLocked("lease"),
                        "global" => $lock->isLocked("global"),
                        "doc" => $lock->isLocked("doc"),
                        "pid" => getmypid(),
                    ]);
                    break;
            }');
        $port = RedisServer::freePort();
        $cmd = [PHP_BINARY, '-d', 'extension=' . Processes::extensionPath(), '-S', "127.0.0.1:$port", '-t', $docroot];
        $server = proc_open($cmd, [1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes);
        try {
            $get = function (string $step) use ($port): string {
                $deadline = microtime(true) + 5;
                do {
                    $body = @file_get_contents("http://127.0.0.1:$port/index.php?step=$step");
                    if ($body !== false) {
                        return $body;
                    }
                    usleep(50_000);
                } while (microtime(true) < $deadline);
                $this->fail('the built-in server did not answer');
            };
            $this->assertSame('taken', $get('take'));
            $first = json_decode($get('check'), true);
            $this->assertSame(['lease' => false, 'global' => false, 'doc' => true], array_diff_key($first, ['pid' => 0]),
                'leases are released at request end; a lock taken with acquire() lives on in the process');
            $this->assertSame('busy', $get('take'), 'the next request of the same process sees it');
        } finally {
            proc_terminate($server);
            proc_close($server);
            array_map('unlink', glob("$docroot/*"));
            rmdir($docroot);
        }
    }
}
