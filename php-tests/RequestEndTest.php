<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * Leases still held when a request ends are released, however it ends: the lock is free as
 * soon as the process is gone, not after its 60 s TTL.
 */
final class RequestEndTest extends LockTestCase
{
    /** @return iterable<string, array{string, string}> how the script ends => PHP code */
    public static function endings(): iterable
    {
        yield 'normal return' => ['', ''];
        yield 'uncaught exception' => ['throw new RuntimeException("boom");', 'boom'];
        yield 'exit()' => ['exit(3);', ''];
        yield 'memory limit' => ['ini_set("memory_limit", "32M"); $a = []; while (true) { $a[] = str_repeat("x", 1 << 20); }', 'Allowed memory size'];
        yield 'time limit' => ['set_time_limit(1); while (true) {}', 'Maximum execution time'];
        yield 'user fatal error' => ['trigger_error("fatal", E_USER_ERROR);', 'fatal'];
        yield 'lease kept in a static property' => ['final class Keep { public static $lease; } Keep::$lease = $lease;', ''];
        yield 'lease in a reference cycle' => ['$o = new stdClass(); $o->self = $o; $o->lease = $lease; unset($lease, $o);', ''];
    }

    /** @dataProvider endings */
    public function testTheLockIsFreeAsSoonAsTheProcessEnds(string $ending, string $expectedOutput): void
    {
        foreach (['ttl 60' => '60', 'watchdog' => 'null'] as $mode => $ttl) {
            $key = "{$this->key}:$mode";
            $code = '<?php
                $lock = new RedisLock(' . var_export($this->dsn, true) . ');
                $lease = $lock->lock(' . var_export($key, true) . ", $ttl);
                echo 'held ', \$lease->fence(), PHP_EOL;
                $ending";
            [$exit, $out, $err] = Processes::php($code, ['display_errors' => 'stderr']);
            $this->assertStringContainsString('held ', $out, "$mode: the script took the lock");
            $this->assertStringContainsString($expectedOutput, $out . $err, "$mode: it ended as planned");
            $this->assertNotContains($exit, [-1, 134, 139], "$mode: no crash, no hang ($err)");
            $this->assertFalse($this->lock()->isLocked($key), "$mode: released at the end of the request");
        }
    }

    public function testAnExplicitlyReleasedOrDetachedLeaseIsLeftAloneAtRequestEnd(): void
    {
        $code = '<?php
            $lock = new RedisLock(' . var_export($this->dsn, true) . ');
            $a = $lock->lock(' . var_export("{$this->key}:a", true) . ', 60);
            $a->release();
            $b = $lock->lock(' . var_export("{$this->key}:a", true) . ', 60); // the same key, again
            $c = $lock->lock(' . var_export("{$this->key}:c", true) . ', 60);
            echo $c->detach();';
        [$exit, $token] = Processes::php($code);
        $this->assertSame(0, $exit);
        $this->assertFalse($this->lock()->isLocked("{$this->key}:a"));
        $this->assertSame($token, $this->oracle()->get("{$this->key}:c"), 'detached: still held for the next owner');
    }
}
