<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * A throwaway Redis Cluster on loopback: `$masters` masters with `$replicas` replicas each,
 * each node a RedisServer (cluster bus on a free port of its own, node timeout 1 s), made by
 * `redis-cli --cluster create`. Stopped when the object is destroyed.
 */
final class LocalCluster
{
    /** @var list<RedisServer> masters first, in `redis-cli --cluster create` order */
    public array $nodes = [];

    public function __construct(int $masters = 3, int $replicas = 0)
    {
        for ($i = 0; $i < $masters * (1 + $replicas); $i++) {
            $this->nodes[] = new RedisServer([
                '--cluster-enabled', 'yes',
                '--cluster-port', (string) RedisServer::freePort(),
                '--cluster-node-timeout', '1000',
                '--cluster-replica-validity-factor', '0',
                '--repl-diskless-sync-delay', '0',
            ]);
        }
        $cmd = ['redis-cli', '--cluster', 'create'];
        foreach ($this->nodes as $node) {
            $cmd[] = "127.0.0.1:{$node->port}";
        }
        array_push($cmd, '--cluster-replicas', (string) $replicas, '--cluster-yes');
        [$code, $out] = Processes::run($cmd, null, 30.0);
        if ($code !== 0) {
            throw new \RuntimeException("redis-cli --cluster create failed: $out");
        }
        $deadline = microtime(true) + 30;
        while (!$this->isOk()) {
            if (microtime(true) > $deadline) {
                throw new \RuntimeException('the cluster did not form within 30 s');
            }
            usleep(100_000);
        }
    }

    private function isOk(): bool
    {
        foreach ($this->nodes as $node) {
            $info = (string) $node->client()->rawCommand('CLUSTER', 'INFO');
            if (!str_contains($info, 'cluster_state:ok')
                || !str_contains($info, 'cluster_known_nodes:' . count($this->nodes))) {
                return false;
            }
        }
        return true;
    }

    /** `redis+cluster://127.0.0.1:<port>` of the first node (or of the nodes listed). */
    public function dsn(int ...$seeds): string
    {
        $seeds = $seeds ?: [0];
        return 'redis+cluster://' . implode(',', array_map(
            fn (int $i) => '127.0.0.1:' . $this->nodes[$i]->port,
            $seeds
        ));
    }

    /** The index of the master serving `$key`'s slot. */
    public function masterOf(string $key): int
    {
        $client = $this->nodes[0]->client();
        $slot = (int) $client->rawCommand('CLUSTER', 'KEYSLOT', $key);
        foreach ($client->rawCommand('CLUSTER', 'SLOTS') as [$first, $last, $master]) {
            if ($slot >= $first && $slot <= $last) {
                foreach ($this->nodes as $i => $node) {
                    if ($node->port === (int) $master[1]) {
                        return $i;
                    }
                }
            }
        }
        throw new \RuntimeException("no master serves slot $slot");
    }

    /** A key (`$prefix` + n) whose slot the master `$master` serves. */
    public function keyOn(int $master, string $prefix): string
    {
        for ($n = 0; $n < 100_000; $n++) {
            if ($this->masterOf("$prefix$n") === $master) {
                return "$prefix$n";
            }
        }
        throw new \RuntimeException("no key of $prefix hashes to master $master");
    }
}
