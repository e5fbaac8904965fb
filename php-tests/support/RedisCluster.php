<?php

declare(strict_types=1);

namespace RedisLockTests;

/**
 * A throwaway Redis Cluster on loopback: `$masters` masters with `$replicas` replicas each,
 * each node a RedisServer (cluster bus on a free port of its own, node timeout 1 s), made by
 * `redis-cli --cluster create`. Stopped when the object is destroyed.
 *
 * With `$certs` (a directory made by scripts/make-test-certs.sh) every node also has a TLS
 * port, presents `$cert.pem` there and uses TLS for the cluster bus and replication
 * (`tls-cluster`, `tls-replication`; the bus always asks for a client certificate: the nodes
 * show each other client.pem), so what the nodes announce to TLS clients are TLS ports;
 * clients are not asked for certificates. dsn() then names the TLS ports (`rediss+cluster://`);
 * the plain ports serve the independent phpredis clients.
 */
final class LocalCluster
{
    /** @var list<RedisServer> masters first, in `redis-cli --cluster create` order */
    public array $nodes = [];
    /** @var list<int> the nodes' TLS ports (a TLS cluster only), in the order of `$nodes` */
    public array $tlsPorts = [];

    public function __construct(int $masters = 3, int $replicas = 0, private ?string $certs = null, string $cert = 'server')
    {
        for ($i = 0; $i < $masters * (1 + $replicas); $i++) {
            $args = [
                '--cluster-enabled', 'yes',
                '--cluster-port', (string) RedisServer::freePort(),
                '--cluster-node-timeout', '1000',
                '--cluster-replica-validity-factor', '0',
                '--repl-diskless-sync-delay', '0',
            ];
            if ($certs !== null) {
                $tlsPort = $this->tlsPorts[] = RedisServer::freePort();
                array_push(
                    $args,
                    '--tls-port', (string) $tlsPort,
                    '--tls-cert-file', "$certs/$cert.pem", '--tls-key-file', "$certs/$cert.key",
                    '--tls-client-cert-file', "$certs/client.pem", '--tls-client-key-file', "$certs/client.key",
                    '--tls-ca-cert-file', "$certs/ca.pem", '--tls-auth-clients', 'no',
                    '--tls-cluster', 'yes', '--tls-replication', 'yes',
                );
            }
            $this->nodes[] = new RedisServer($args);
        }
        $cmd = ['redis-cli'];
        if ($certs !== null) {
            array_push($cmd, '--tls', '--cacert', "$certs/ca.pem");
        }
        array_push($cmd, '--cluster', 'create');
        foreach (array_keys($this->nodes) as $i) {
            $cmd[] = '127.0.0.1:' . $this->clientPort($i);
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

    /** The port clients reach node `$i` on: its TLS port in a TLS cluster. */
    public function clientPort(int $i): int
    {
        return $this->certs !== null ? $this->tlsPorts[$i] : $this->nodes[$i]->port;
    }

    /**
     * `redis+cluster://127.0.0.1:<port>` of the first node (or of the nodes listed);
     * `rediss+cluster://` and the TLS ports in a TLS cluster.
     */
    public function dsn(int ...$seeds): string
    {
        return $this->dsnVia('127.0.0.1', ...$seeds);
    }

    /** dsn() naming the seeds by `$host`. */
    public function dsnVia(string $host, int ...$seeds): string
    {
        $seeds = $seeds ?: [0];
        return ($this->certs !== null ? 'rediss' : 'redis') . '+cluster://' . implode(',', array_map(
            fn (int $i) => "$host:" . $this->clientPort($i),
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
                    if (in_array((int) $master[1], [$node->port, $this->tlsPorts[$i] ?? 0], true)) {
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
