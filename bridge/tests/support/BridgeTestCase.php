<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\support;

use PHPUnit\Framework\TestCase;

/** A unique lock name per test, the server of this run (REDIS_URL), and phpredis to check it. */
abstract class BridgeTestCase extends TestCase
{
    protected string $dsn;
    protected string $key;
    private ?\Redis $oracle = null;

    protected function setUp(): void
    {
        $this->dsn = (string) getenv('REDIS_URL');
        $this->key = 'bridge:' . $this->getName(false) . ':' . bin2hex(random_bytes(4));
    }

    protected function tearDown(): void
    {
        $this->oracle?->close();
        $this->oracle = null;
    }

    /** An independent phpredis connection to the server of this run. */
    protected function oracle(): \Redis
    {
        if ($this->oracle === null) {
            $parts = parse_url($this->dsn);
            $this->oracle = new \Redis();
            $this->oracle->connect($parts['host'], $parts['port'] ?? 6379, 1.0);
        }
        return $this->oracle;
    }

    /** A DSN where nothing listens. */
    protected function deadDsn(): string
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        $address = stream_socket_get_name($server, false);
        fclose($server);
        return "redis://$address";
    }

    /**
     * Runs PHP code in a fresh process with the extension, the bridge and the frameworks
     * loaded and `$dsn`, `$key` defined; returns [exit code, stdout, stderr].
     */
    protected function runPhp(string $code, float $timeout = 30.0): array
    {
        $prelude = '<?php declare(strict_types=1);'
            . 'require_once "Illuminate/autoload.php"; require_once "Symfony/Component/Lock/autoload.php";'
            . 'require ' . var_export(dirname(__DIR__, 2) . '/autoload.php', true) . ';'
            . '$dsn = ' . var_export($this->dsn, true) . '; $key = ' . var_export($this->key, true) . ';';
        return \RedisLockTests\Processes::php($prelude . $code, [], $timeout);
    }
}
