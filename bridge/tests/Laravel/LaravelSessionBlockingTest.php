<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\Laravel;

use Illuminate\Http\Request;
use Illuminate\Routing\Router;
use Illuminate\Session\Middleware\StartSession;
use RedisLock\Bridge\Tests\support\BridgeTestCase;
use RedisLock\Bridge\Tests\support\LaravelApp;
use RedisLock\Bridge\Tests\support\TempDirs;
use RedisLockTests\Processes;

/**
 * Laravel's session blocking (`Route::...->block()`, StartSession's lock on the session id)
 * with `session.block_store` on the redis_lock store: requests of one session run one at a
 * time, across processes.
 */
final class LaravelSessionBlockingTest extends BridgeTestCase
{
    /**
     * Runs GET /slow (300 ms, behind StartSession, `->block(10, 5)`) in a forked process for the
     * session `$sessionId`; returns [start, end] of the route's body.
     */
    private function request(string $sessions, string $sessionId): \RedisLockTests\Child
    {
        return Processes::fork(function () use ($sessions, $sessionId): array {
            $app = LaravelApp::boot($this->dsn, [
                'app' => ['providers' => [5 => \Illuminate\Session\SessionServiceProvider::class], 'key' => 'base64:' . base64_encode(str_repeat('k', 32))],
                'session' => [
                    'driver' => 'file', 'files' => $sessions, 'lifetime' => 120, 'expire_on_close' => false,
                    'lottery' => [0, 100], 'cookie' => 'laravel_session', 'path' => '/', 'domain' => null,
                    'secure' => false, 'http_only' => true, 'same_site' => 'lax', 'block_store' => 'locks',
                ],
            ]);
            $router = $app->make(Router::class);
            $router->get('slow', function () {
                $start = microtime(true);
                usleep(300_000);
                return json_encode([$start, microtime(true)]);
            })->middleware(StartSession::class)->block(10, 5);
            $request = Request::create('/slow', 'GET', [], ['laravel_session' => $sessionId]);
            $response = $router->dispatch($request);
            return json_decode($response->getContent(), true);
        });
    }

    public function testRequestsOfOneSessionRunOneAtATimeAndOtherSessionsDoNot(): void
    {
        $sessions = TempDirs::make('redis-lock-sessions');
        $alice = str_repeat('a', 40);
        $bob = str_repeat('b', 40);
        $children = [];
        foreach ([$alice, $alice, $alice, $bob] as $id) {
            $children[] = $this->request($sessions, $id);
        }
        [$a1, $a2, $a3, $b] = array_map(fn ($child) => $child->wait(), $children);
        $runs = [$a1, $a2, $a3];
        usort($runs, fn ($x, $y) => $x[0] <=> $y[0]);
        $this->assertGreaterThanOrEqual($runs[0][1], $runs[1][0], "two of alice's requests ran at once");
        $this->assertGreaterThanOrEqual($runs[1][1], $runs[2][0], "two of alice's requests ran at once");
        $overlapsAlice = array_filter($runs, fn ($run) => $run[0] < $b[1] && $b[0] < $run[1]);
        $this->assertNotEmpty($overlapsAlice, "bob's request ran beside alice's (the control: no shared lock)");
        $this->assertSame(0, $this->oracle()->exists('session:' . $alice), 'the session lock was released');
    }
}
