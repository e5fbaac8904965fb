<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/**
 * `rediss+cluster://` through the PHP face: three masters whose TLS ports speak nothing but
 * TLS and announce TLS ports (tls-cluster), certificates made by scripts/make-test-certs.sh.
 * Redirects over TLS and the name checks are tested in the engine's suite
 * (src/lock/tests/cluster_tls.rs).
 */
final class ClusterTlsTest extends TestCase
{
    private static ?LocalCluster $cluster = null;
    private static string $certs;

    public static function setUpBeforeClass(): void
    {
        self::$certs = sys_get_temp_dir() . '/redis-lock-certs-' . getmypid() . '-' . bin2hex(random_bytes(4));
        exec(escapeshellarg(dirname(__DIR__) . '/scripts/make-test-certs.sh') . ' ' . escapeshellarg(self::$certs) . ' 2>&1', $out, $code);
        if ($code !== 0) {
            throw new \RuntimeException('make-test-certs.sh failed: ' . implode("\n", $out));
        }
        self::$cluster = new LocalCluster(3, 0, self::$certs);
    }

    public static function tearDownAfterClass(): void
    {
        self::$cluster = null;
        exec('rm -rf ' . escapeshellarg(self::$certs));
    }

    public function testEveryMastersSlotsTakeLocksOverTls(): void
    {
        $c = self::$cluster;
        // The seed by name (server.pem names localhost), the masters by the IP address the
        // seed announces them with (and server.pem names 127.0.0.1).
        $dsn = $c->dsnVia('localhost', 0);
        $this->assertStringStartsWith('rediss+cluster://localhost:', $dsn);
        $lock = new \RedisLock($dsn, ['ssl' => ['cafile' => self::$certs . '/ca.pem']]);
        for ($m = 0; $m < 3; $m++) {
            $key = $c->keyOn($m, 'tls:' . bin2hex(random_bytes(3)) . ':');
            $lease = $lock->lock($key, 10);
            $this->assertNotNull($lease);
            $this->assertSame($lease->token(), $c->nodes[$m]->client()->get($key));
            $this->assertNull($lock->lock($key, 10));
            $doc = "{{$key}}:doc"; // the key's slot
            $this->assertTrue($lock->acquire($doc, 'v', 10));
            $this->assertSame('v', $c->nodes[$m]->client()->get($doc));
            $this->assertTrue($lock->release($doc, 'v'));
            $this->assertTrue($lease->release());
        }
        $info = $lock->__debugInfo();
        $this->assertSame('tls cluster via localhost:' . $c->tlsPorts[0], $info['endpoint']);
    }

    public function testAWrongCaIsRefusedAtOnceNamingTheNodeAndNoSecret(): void
    {
        $c = self::$cluster;
        $port = $c->tlsPorts[0];
        $lock = new \RedisLock(
            "rediss+cluster://:Clust3rPw@127.0.0.1:$port",
            ['ssl' => ['cafile' => self::$certs . '/other-ca.pem'], 'connectTimeout' => 2],
        );
        $start = microtime(true);
        try {
            $lock->acquire('tls:k', 'v', 5);
            $this->fail('a certificate of another CA was accepted');
        } catch (\RedisLockConnectionException $e) {
            $this->assertLessThan(0.5, microtime(true) - $start, 'not retried until the connect timeout');
            $this->assertStringContainsString("127.0.0.1:$port: ", $e->getMessage());
            $this->assertStringContainsString('certificate was not accepted', $e->getMessage());
            $this->assertStringContainsString('"cafile"', $e->getMessage());
            foreach ([self::$certs, '.pem', 'Clust3rPw'] as $secret) {
                $this->assertStringNotContainsString($secret, (string) $e);
            }
        }
        // A plain DSN at the TLS ports: a connection error within the connect timeout.
        $lock = new \RedisLock("redis+cluster://127.0.0.1:$port", ['connectTimeout' => 0.5]);
        $start = microtime(true);
        try {
            $lock->acquire('tls:k', 'v', 5);
            $this->fail('plain TCP worked at a TLS port');
        } catch (\RedisLockConnectionException $e) {
            $this->assertLessThan(0.9, microtime(true) - $start);
            $this->assertStringContainsString("127.0.0.1:$port", $e->getMessage());
        }
    }
}
