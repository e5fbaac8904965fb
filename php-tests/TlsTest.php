<?php

declare(strict_types=1);

namespace RedisLockTests;

use PHPUnit\Framework\TestCase;

/**
 * `rediss://` and the `ssl` option against redis-servers with a TLS port beside their plain one
 * (the plain port serves the independent phpredis client), with certificates made at test time
 * by scripts/make-test-certs.sh (openssl CLI).
 */
final class TlsTest extends TestCase
{
    private const PASSPHRASE = 'Pass phrase 1';

    private static string $certs;
    /** @var array<string, array{RedisServer, int}> servers by "cert/auth-clients" */
    private static array $servers = [];

    public static function setUpBeforeClass(): void
    {
        self::$certs = sys_get_temp_dir() . '/redis-lock-certs-' . getmypid() . '-' . bin2hex(random_bytes(4));
        exec(escapeshellarg(dirname(__DIR__) . '/scripts/make-test-certs.sh') . ' ' . escapeshellarg(self::$certs) . ' 2>&1', $out, $code);
        if ($code !== 0) {
            throw new \RuntimeException('make-test-certs.sh failed: ' . implode("\n", $out));
        }
    }

    public static function tearDownAfterClass(): void
    {
        self::$servers = [];
        exec('rm -rf ' . escapeshellarg(self::$certs));
    }

    private static function file(string $name): string
    {
        return self::$certs . '/' . $name;
    }

    /**
     * A server presenting `$cert` (server, named, expired) and asking for client certificates
     * as `$authClients` says (yes, optional); one per kind for the whole class.
     *
     * @return array{RedisServer, int} the server (plain port) and its TLS port
     */
    private static function server(string $cert = 'server', string $authClients = 'optional'): array
    {
        $id = "$cert/$authClients";
        if (!isset(self::$servers[$id])) {
            $tlsPort = RedisServer::freePort();
            $server = new RedisServer([
                '--tls-port', (string) $tlsPort,
                '--tls-cert-file', self::file("$cert.pem"), '--tls-key-file', self::file("$cert.key"),
                '--tls-ca-cert-file', self::file('ca.pem'), '--tls-auth-clients', $authClients,
            ]);
            self::$servers[$id] = [$server, $tlsPort];
        }
        return self::$servers[$id];
    }

    private static function dsn(int $tlsPort, string $host = '127.0.0.1'): string
    {
        return "rediss://$host:$tlsPort";
    }

    /** `ssl` entries with certificate file names made full paths. */
    private static function ssl(array $entries): array
    {
        foreach (['cafile', 'local_cert', 'local_pk'] as $file) {
            if (isset($entries[$file])) {
                $entries[$file] = self::file($entries[$file]);
            }
        }
        return $entries;
    }

    private static function lock(int $tlsPort, array $ssl, string $host = '127.0.0.1', array $options = []): \RedisLock
    {
        return new \RedisLock(self::dsn($tlsPort, $host), ['ssl' => self::ssl($ssl), 'connectTimeout' => 0.5, 'readTimeout' => 0.5] + $options);
    }

    private const CLIENT = ['cafile' => 'ca.pem', 'local_cert' => 'client.pem', 'local_pk' => 'client.key'];

    /** Connections the server accepted so far, asked on `$oracle`'s own connection. */
    private static function connectionsReceived(\Redis $oracle): int
    {
        return (int) $oracle->info('stats')['total_connections_received'];
    }

    /** Runs the documents' cycle and a lease, checked on the plain port. */
    private function assertCycleWorks(\RedisLock $lock, RedisServer $server): void
    {
        $key = 'tls:' . bin2hex(random_bytes(4));
        $token = \RedisLock::token();
        $this->assertTrue($lock->acquire($key, $token, 5));
        $this->assertSame($token, $server->client()->get($key));
        $this->assertTrue($lock->release($key, $token));
        $lease = $lock->lock($key, 5);
        $this->assertNotNull($lease);
        $this->assertTrue($lock->isLocked($key));
        $this->assertTrue($lease->release());
        $this->assertFalse($server->client()->exists($key) > 0);
    }

    /** The exception of the first command; no path, key file or passphrase in it or its trace. */
    private function firstFailure(\RedisLock $lock, string $class = \RedisLockConnectionException::class): \Throwable
    {
        try {
            $lock->acquire('tls:k', 'v', 5);
        } catch (\Throwable $e) {
            $this->assertInstanceOf($class, $e);
            // The message, and the trace with its arguments (zend.exception_ignore_args=0) in
            // this class's and the extension's frames (PHPUnit's are huge, and not ours).
            $ours = array_filter($e->getTrace(), static fn (array $f): bool => in_array($f['class'] ?? '', [\RedisLock::class, self::class], true));
            $shown = (string) $e . print_r(array_column($ours, 'args'), true);
            foreach ([self::$certs, self::PASSPHRASE, '.pem', '.key'] as $secret) {
                $this->assertStringNotContainsString($secret, $shown);
            }
            return $e;
        }
        $this->fail('no exception');
    }

    public function testACycleAndALeaseRunOverTlsWithTheClientCertificateTheServerRequires(): void
    {
        [$server, $port] = self::server('server', 'yes');
        $this->assertCycleWorks(self::lock($port, self::CLIENT), $server);
        $this->assertCycleWorks(self::lock($port, self::CLIENT, 'localhost'), $server);
        // The key in the certificate's file; an encrypted key with its passphrase.
        $this->assertCycleWorks(self::lock($port, ['cafile' => 'ca.pem', 'local_cert' => 'client-combined.pem']), $server);
        $this->assertCycleWorks(self::lock($port, ['local_pk' => 'client-enc.key', 'passphrase' => self::PASSPHRASE] + self::CLIENT), $server);
        $this->assertCycleWorks(self::lock($port, ['local_pk' => 'client-legacy-enc.key', 'passphrase' => self::PASSPHRASE] + self::CLIENT), $server);
    }

    public function testTheWatchdogAndAFairWaitRunOverTls(): void
    {
        [$server, $port] = self::server('server', 'yes');
        $lock = self::lock($port, self::CLIENT, options: ['leaseTtl' => 0.6]);
        $key = 'tls:watchdog:' . bin2hex(random_bytes(4));
        $lease = $lock->lock($key); // a watchdog lease: renewed every 0.2 s on its own TLS connection
        $this->assertNotNull($lease);
        usleep(1_500_000);
        $this->assertTrue($lease->isHeld(), 'renewed over TLS past 2.5 lease times');
        $this->assertGreaterThan(0, $server->client()->pttl($key));
        // A waiter in line (BLPOP over TLS) gets the lock handed over when it is released.
        $waiter = Processes::fork(static function () use ($port, $key): bool {
            $lease = self::lock($port, self::CLIENT)->lock($key, 5, wait: 5);
            return $lease !== null && $lease->release();
        });
        usleep(300_000);
        $this->assertTrue($lease->release());
        $this->assertTrue($waiter->wait(10));
    }

    public function testWithoutAClientCertificateARequiringServerRefusesAtOnce(): void
    {
        [, $port] = self::server('server', 'yes');
        $start = microtime(true);
        $e = $this->firstFailure(self::lock($port, ['cafile' => 'ca.pem']));
        $this->assertLessThan(0.5, microtime(true) - $start);
        $this->assertStringContainsString('local_cert', $e->getMessage());
        $this->assertStringContainsString("tls://127.0.0.1:$port", $e->getMessage());
        $e = $this->firstFailure(self::lock($port, ['cafile' => 'ca.pem', 'local_cert' => 'other-client.pem', 'local_pk' => 'other-client.key']));
        $this->assertStringContainsString('refused the TLS session', $e->getMessage());
    }

    public function testAClientCertificateIsOptionalWhereTheServerSaysSo(): void
    {
        [$server, $port] = self::server();
        $this->assertCycleWorks(self::lock($port, ['cafile' => 'ca.pem']), $server);
        $this->assertCycleWorks(self::lock($port, self::CLIENT), $server);
    }

    public function testTheServerCertificateIsVerifiedByDefault(): void
    {
        [$server, $port] = self::server();
        // Only the DSN: the system's trust store does not know the test CA.
        $e = $this->firstFailure(new \RedisLock(self::dsn($port)));
        $this->assertStringContainsString("certificate was not accepted", $e->getMessage());
        $this->assertStringContainsString('trust store', $e->getMessage());
        // A wrong CA.
        $e = $this->firstFailure(self::lock($port, ['cafile' => 'other-ca.pem']));
        $this->assertStringContainsString("certificate was not accepted", $e->getMessage());
        $this->assertStringContainsString('"cafile"', $e->getMessage());
        // verify_peer => false: the chain is not checked (the name still is, and matches).
        $this->assertCycleWorks(self::lock($port, ['verify_peer' => false]), $server);
    }

    public function testAnExpiredCertificateIsRefused(): void
    {
        [$server, $port] = self::server('expired');
        $e = $this->firstFailure(self::lock($port, ['cafile' => 'ca.pem']));
        $this->assertStringContainsString('certificate has expired', $e->getMessage());
        $this->assertCycleWorks(self::lock($port, ['verify_peer' => false]), $server);
    }

    public function testTheNameIsCheckedAndPeerNameOverridesIt(): void
    {
        [$server, $port] = self::server('named'); // SAN DNS:redis.internal only
        $e = $this->firstFailure(self::lock($port, ['cafile' => 'ca.pem']));
        $this->assertStringContainsString('IP address mismatch', $e->getMessage());
        $this->assertStringContainsString('peer_name', $e->getMessage());
        $e = $this->firstFailure(self::lock($port, ['cafile' => 'ca.pem'], 'localhost'));
        $this->assertStringContainsString('hostname mismatch', $e->getMessage());
        $this->assertCycleWorks(self::lock($port, ['cafile' => 'ca.pem', 'peer_name' => 'redis.internal']), $server);
        $this->assertCycleWorks(self::lock($port, ['cafile' => 'ca.pem', 'verify_peer_name' => false]), $server);
        // As with PHP's streams, verify_peer => false alone still checks the name.
        $e = $this->firstFailure(self::lock($port, ['verify_peer' => false]));
        $this->assertStringContainsString('mismatch', $e->getMessage());
        $this->assertCycleWorks(self::lock($port, ['verify_peer' => false, 'verify_peer_name' => false]), $server);
    }

    public function testUnusableFilesNameTheEntryNeverThePathOrPassphrase(): void
    {
        [, $port] = self::server();
        $cases = [
            [['cafile' => 'missing-ca.pem'], '"cafile": the file does not exist'],
            [['local_pk' => 'missing.key', 'passphrase' => self::PASSPHRASE] + self::CLIENT, '"local_pk": the file does not exist'],
            [['local_pk' => 'client-enc.key', 'passphrase' => 'Wrong ' . self::PASSPHRASE] + self::CLIENT, 'passphrase does not decrypt it'],
            [['local_pk' => 'client-enc.key'] + self::CLIENT, 'no "passphrase" was given'],
            [['local_pk' => 'server.key'] + self::CLIENT, 'does not match the certificate'],
            [['cafile' => 'ca.key'], '"cafile": no PEM certificate'],
        ];
        foreach ($cases as [$ssl, $message]) {
            $start = microtime(true);
            $e = $this->firstFailure(self::lock($port, $ssl));
            $this->assertStringContainsString($message, $e->getMessage());
            $this->assertLessThan(0.5, microtime(true) - $start);
        }
    }

    public function testTlsToAPlainPortAndPlainToATlsPortFailWithinTheConnectTimeout(): void
    {
        [$server, $port] = self::server();
        $options = ['connectTimeout' => 0.3, 'readTimeout' => 0.3];
        $tlsToPlain = new \RedisLock("rediss://127.0.0.1:{$server->port}", $options + ['ssl' => self::ssl(['cafile' => 'ca.pem'])]);
        $plainToTls = new \RedisLock("redis://127.0.0.1:$port", $options);
        foreach ([$tlsToPlain, $plainToTls] as $lock) {
            $start = microtime(true);
            $this->firstFailure($lock);
            $this->assertLessThan(0.7, microtime(true) - $start);
        }
    }

    public function testAForkedChildOpensItsOwnSessionAndTheParentsKeepsWorking(): void
    {
        [$server, $port] = self::server();
        $lock = self::lock($port, ['cafile' => 'ca.pem']);
        $this->assertTrue($lock->acquire('tls:parent', 'p', 10));
        $oracle = $server->client();
        $before = self::connectionsReceived($oracle);
        $child = Processes::fork(static function () use ($lock): int {
            $done = 0;
            for ($i = 0; $i < 200; $i++) {
                $done += (int) $lock->acquire("tls:child", 'c', 10);
                $done += (int) $lock->release("tls:child", 'c');
            }
            return $done;
        });
        // Meanwhile the parent keeps using its own session.
        for ($i = 0; $i < 200; $i++) {
            $this->assertTrue($lock->acquire('tls:parent', 'p', 10));
        }
        $this->assertSame(400, $child->wait(30));
        // The child's exit (which drops the inherited session) sent nothing on the parent's.
        $this->assertTrue($lock->release('tls:parent', 'p'));
        $this->assertSame($before + 1, self::connectionsReceived($oracle), 'one new connection: the child\'s');
    }

    public function testAfterTheServerClosedTheSessionTheNextCallReconnectsFirst(): void
    {
        [$server, $port] = self::server();
        $lock = self::lock($port, ['cafile' => 'ca.pem']);
        for ($round = 0; $round < 3; $round++) {
            $this->assertTrue($lock->acquire('tls:kill', 'v', 10));
            $this->assertGreaterThanOrEqual(1, $server->client()->rawCommand('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
            usleep(50_000);
            // A release sent into the dead session first would throw "outcome unknown".
            $this->assertTrue($lock->release('tls:kill', 'v'));
        }
    }

    public function testTheSslOptionIsValidatedByName(): void
    {
        $cases = [
            [['ssl' => ['verify_host' => false]], \ValueError::class, 'unknown ssl option "verify_host"'],
            [['ssl' => ['cafile' => 1]], \TypeError::class, 'ssl option "cafile" must be of type string, int given'],
            [['ssl' => ['verify_peer' => 'no']], \TypeError::class, 'ssl option "verify_peer" must be of type bool, string given'],
            [['ssl' => ['passphrase' => ['x']]], \TypeError::class, 'ssl option "passphrase" must be of type string, array given'],
            [['ssl' => ['cafile' => '']], \ValueError::class, 'ssl option "cafile" must be a file path'],
            [['ssl' => ['local_pk' => '/k.key']], \ValueError::class, '"local_pk" needs "local_cert"'],
            [['ssl' => true], \TypeError::class, 'option "ssl" must be of type array, bool given'],
            [['ssl' => [0 => 'x']], \ValueError::class, 'unknown ssl option "0"'],
        ];
        foreach ($cases as [$options, $class, $message]) {
            try {
                new \RedisLock('rediss://127.0.0.1:6390', $options);
                $this->fail("no exception for $message");
            } catch (\Throwable $e) {
                $this->assertInstanceOf($class, $e, $e->getMessage());
                $this->assertStringContainsString($message, $e->getMessage());
            }
        }
        foreach (['redis://127.0.0.1:6390', 'redis+sentinel://127.0.0.1:26390/mymaster'] as $plain) {
            try {
                new \RedisLock($plain, ['ssl' => []]);
                $this->fail("the ssl option was accepted for $plain");
            } catch (\ValueError $e) {
                $this->assertSame('option "ssl" applies to TLS connections only: use a rediss://, rediss+sentinel:// or rediss+cluster:// DSN', $e->getMessage());
            }
        }
    }

    /**
     * A sentinel that listens on a TLS port only (`port 0`), monitoring a TLS master over TLS;
     * the lock finds the master through it and takes locks there, all over TLS; an error reply
     * names the master; a certificate not accepted names the sentinel, at once.
     */
    public function testRedissSentinelFindsTheMasterAndLocksThereOverTls(): void
    {
        // Without client certificates: the sentinel presents server.pem to the master as its
        // client certificate, which is for server authentication only.
        [$server, $port] = self::server('server', 'no');
        $dir = sys_get_temp_dir() . '/redis-lock-tls-sentinel-' . getmypid() . '-' . bin2hex(random_bytes(4));
        mkdir($dir);
        $sentinelPort = RedisServer::freePort();
        file_put_contents("$dir/sentinel.conf", sprintf(
            "port 0\ntls-port %d\nbind 127.0.0.1\ndir %s\ndaemonize yes\npidfile %s/sentinel.pid\nlogfile %s/sentinel.log\n"
            . "tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients no\ntls-replication yes\n"
            . "sentinel monitor mymaster 127.0.0.1 %d 1\n",
            $sentinelPort, $dir, $dir, $dir, self::file('server.pem'), self::file('server.key'), self::file('ca.pem'), $port
        ));
        exec('redis-server ' . escapeshellarg("$dir/sentinel.conf") . ' --sentinel', $out, $code);
        $this->assertSame(0, $code, 'redis-server --sentinel started');
        $pid = 0;
        try {
            $deadline = microtime(true) + 10;
            $known = false;
            while (!$known && microtime(true) < $deadline) {
                usleep(50_000);
                $pid = (int) @file_get_contents("$dir/sentinel.pid");
                try {
                    $r = new \Redis();
                    $r->connect('tls://127.0.0.1', $sentinelPort, 0.5, null, 0, 0, ['stream' => ['cafile' => self::file('ca.pem')]]);
                    $known = $pid > 0 && $r->rawCommand('SENTINEL', 'get-master-addr-by-name', 'mymaster') === ['127.0.0.1', (string) $port];
                } catch (\Throwable) {
                }
            }
            $this->assertTrue($known, 'the sentinel answers over TLS and names the master\'s TLS port');

            // The sentinel by host name (checked against "localhost"), the master by the address
            // the sentinel announces (checked against "127.0.0.1").
            $dsn = "rediss+sentinel://localhost:$sentinelPort/mymaster";
            $lock = new \RedisLock($dsn, ['ssl' => self::ssl(['cafile' => 'ca.pem']), 'connectTimeout' => 2]);
            $this->assertCycleWorks($lock, $server);
            $info = $lock->__debugInfo();
            $this->assertSame("$dsn/0", $info['dsn']);
            $this->assertSame("sentinel service mymaster via tls://localhost:$sentinelPort db 0", $info['endpoint']);
            $this->assertSame('verify_peer, verify_peer_name, cafile', $info['ssl']);

            $key = 'tls:hash:' . bin2hex(random_bytes(4));
            $server->client()->hSet($key, 'f', 'v');
            try {
                $lock->acquire($key, 'v', 5);
                $this->fail('a hash was taken for a lock');
            } catch (\RedisLockServerException $e) {
                $this->assertStringStartsWith('acquire: WRONGTYPE ', $e->getMessage());
                $this->assertStringEndsWith(" (from Redis at tls://127.0.0.1:$port db 0)", $e->getMessage());
            }

            $wrongCa = new \RedisLock(
                "rediss+sentinel://:s3cret@localhost:$sentinelPort/mymaster?sentinelPassword=t0psecret",
                ['ssl' => self::ssl(['cafile' => 'other-ca.pem']), 'connectTimeout' => 2],
            );
            $start = microtime(true);
            $e = $this->firstFailure($wrongCa);
            $this->assertLessThan(0.5, microtime(true) - $start, 'refused at once, not retried');
            $this->assertStringContainsString("localhost:$sentinelPort: ", $e->getMessage());
            $this->assertStringContainsString('certificate was not accepted', $e->getMessage());
            $this->assertStringNotContainsString('s3cret', (string) $e);
            $this->assertStringNotContainsString('t0psecret', (string) $e);
        } finally {
            if ($pid > 0) {
                posix_kill($pid, SIGKILL);
            }
            array_map('unlink', glob("$dir/*") ?: []);
            @rmdir($dir);
        }
    }

    public function testNoPathOrPassphraseInDumpsTracesOrPhpinfo(): void
    {
        [, $port] = self::server();
        $ssl = ['local_pk' => 'client-enc.key', 'passphrase' => self::PASSPHRASE] + self::CLIENT;
        $lock = self::lock($port, $ssl);
        $lock->isLocked('tls:dump'); // connected
        $dumps = [print_r($lock, true), var_export($lock, true)];
        ob_start();
        var_dump($lock);
        phpinfo(INFO_MODULES);
        $dumps[] = ob_get_clean();
        foreach ($dumps as $dump) {
            $this->assertStringNotContainsString(self::$certs, $dump);
            $this->assertStringNotContainsString(self::PASSPHRASE, $dump);
        }
        $this->assertStringContainsString('verify_peer, verify_peer_name, cafile, local_cert, local_pk, passphrase', $dumps[0]);
        $this->assertStringContainsString("endpoint tls://127.0.0.1:$port db 0 => connected", $dumps[2]);
        // The options are a sensitive parameter: a trace through the constructor hides them.
        try {
            new \RedisLock(self::dsn($port), ['ssl' => ['passphrase' => self::PASSPHRASE, 'nope' => 1]]);
            $this->fail('no exception');
        } catch (\ValueError $e) {
            $this->assertStringNotContainsString(self::PASSPHRASE, $e->getTraceAsString() . print_r($e->getTrace(), true));
            $this->assertInstanceOf(\SensitiveParameterValue::class, $e->getTrace()[0]['args'][1]);
        }
        $params = (new \ReflectionMethod(\RedisLock::class, '__construct'))->getParameters();
        $this->assertCount(1, $params[1]->getAttributes(\SensitiveParameter::class));
    }
}
