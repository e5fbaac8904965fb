//! Test support: throwaway redis-server processes on free ports, and an independent client
//! (redis-rs's own synchronous connection) to check what our engine did.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server child process, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    /// The TCP port it listens on (loopback only).
    pub port: u16,
    /// Its TLS port, when it has one beside the plain one (set by whoever gave it one).
    pub tls_port: Option<u16>,
    dir: PathBuf,
    extra: Vec<String>,
    /// A command that runs redis-server ([`clock_behind`]), if any.
    wrapper: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

impl RedisServer {
    /// Starts a server with persistence off.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments (`["--requirepass", "pw"]`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        Self::start_wrapped(&[], extra)
    }

    /// Starts a server run by `wrapper` ([`clock_behind`]: a clock 30 s behind).
    pub fn start_wrapped(wrapper: &[&str], extra: &[&str]) -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "redis-lock-test-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut server = RedisServer {
            child: None,
            port: 0,
            tls_port: None,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            wrapper: wrapper.iter().map(|s| s.to_string()).collect(),
        };
        for _ in 0..20 {
            server.port = free_port();
            if server.spawn() {
                return server;
            }
        }
        panic!("could not start redis-server");
    }

    /// Spawns on `self.port`; false if it did not come up (port taken).
    fn spawn(&mut self) -> bool {
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg("redis-server");
                c
            }
            None => Command::new("redis-server"),
        };
        let child = command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "local"])
            .args(["--dir", self.dir.to_str().expect("utf-8 temp dir")])
            .args(["--unixsocket", self.socket().to_str().expect("utf-8 path")])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make deps)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return false;
            }
            // Ready when both listeners accept: the socket file exists before its listen().
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && std::os::unix::net::UnixStream::connect(self.socket()).is_ok()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        false
    }

    /// `redis://127.0.0.1:<port>`
    pub fn dsn(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The unix socket path the server also listens on.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// Kills the server with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts a new one on the same port (data is lost: no persistence).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(Instant::now() < deadline, "redis-server did not restart");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pid of the server process, if it runs.
    pub fn pid_if_running(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Pid of the server process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// An independent client (redis-rs's own connection), for checking state.
    pub fn client(&self) -> redis::Connection {
        let mut dsn = self.dsn();
        if let Some(i) = self.extra.iter().position(|a| a == "--requirepass") {
            dsn = format!("redis://:{}@127.0.0.1:{}", self.extra[i + 1], self.port);
        }
        redis::Client::open(dsn)
            .and_then(|c| c.get_connection())
            .expect("independent client connects")
    }

    /// Sends a signal (`"STOP"`, `"CONT"`) to the server process.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a redis-rs command on `conn` and returns its result.
pub fn q<T: redis::FromRedisValue>(conn: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(conn).expect("query")
}

/// A TCP proxy in front of a server that can lose a reply: armed with [`Proxy::lose_next_reply`],
/// it lets the next command reach the server (which runs it) and then closes the client's
/// connection instead of passing the reply on, as a network fault after the command would.
pub struct Proxy {
    /// The port clients connect to.
    pub port: u16,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    /// Starts a proxy to `127.0.0.1:upstream` on a free port (threads run until the test ends).
    pub fn start(upstream: u16) -> Proxy {
        Self::start_delayed(upstream, Duration::ZERO)
    }

    /// [`Proxy::start`], holding every chunk of the server's replies for `delay` before passing
    /// it on: a server a network round trip of `delay` away.
    pub fn start_delayed(upstream: u16, delay: Duration) -> Proxy {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&armed);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 || s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(std::net::Shutdown::Both);
                });
                let flag = std::sync::Arc::clone(&flag);
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = s_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if flag.swap(false, Ordering::AcqRel) {
                            break; // the reply is lost
                        }
                        if !delay.is_zero() {
                            std::thread::sleep(delay);
                        }
                        if c_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = c_out.shutdown(std::net::Shutdown::Both);
                    let _ = s_in.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Proxy { port, armed }
    }

    /// Loses the reply to the next command sent through the proxy (and that connection).
    pub fn lose_next_reply(&self) {
        self.armed.store(true, std::sync::atomic::Ordering::Release);
    }

    /// `redis://127.0.0.1:<proxy port>`
    pub fn dsn(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// Connections the server counts now (`INFO clients`), the asking one included.
pub fn connected_clients(server: &RedisServer) -> i64 {
    let info: String = q(&mut server.client(), &["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients in INFO")
}

/// A Sentinel deployment: a master, replicas and sentinels on free loopback ports, monitoring
/// the service `mymaster` (down after 1 s; failover timeout 5 s). Everything is killed on drop.
pub struct SentinelSet {
    /// The servers: `[0]` is the first master.
    pub servers: Vec<RedisServer>,
    /// The sentinels' ports, as clients reach them (the TLS ones in a TLS set).
    pub sentinel_ports: Vec<u16>,
    /// The sentinels' plain ports, for the test's own queries (redis-rs here has no TLS).
    query_ports: Vec<u16>,
    /// TLS everywhere: the DSN scheme is `rediss+sentinel`.
    tls: bool,
    sentinels: Vec<Child>,
    dir: PathBuf,
}

/// The certificates of a TLS [`SentinelSet`]: files of [`certs`] (`server`, `named`).
#[derive(Clone, Copy)]
pub struct SentinelTls {
    /// The certificate the redis-servers present.
    pub servers: &'static str,
    /// The certificate the sentinels present.
    pub sentinels: &'static str,
}

impl SentinelTls {
    /// `tls-*` settings of a server or sentinel presenting `cert`, with replication (and a
    /// sentinel's links to servers and sentinels) over TLS. Client certificates are not asked
    /// for: the test certificates of servers are for server authentication only.
    fn settings(cert_name: &str) -> Vec<(String, String)> {
        vec![
            ("tls-cert-file".into(), cert(&format!("{cert_name}.pem"))),
            ("tls-key-file".into(), cert(&format!("{cert_name}.key"))),
            ("tls-ca-cert-file".into(), cert("ca.pem")),
            ("tls-auth-clients".into(), "no".into()),
            ("tls-replication".into(), "yes".into()),
        ]
    }
}

impl SentinelSet {
    /// Starts a master, `replicas` replicas and `sentinels` sentinels (quorum: a majority),
    /// and waits until every sentinel knows the master, the replicas and the other sentinels.
    pub fn start(replicas: usize, sentinels: usize) -> SentinelSet {
        Self::start_with(replicas, sentinels, None, &[])
    }

    /// [`SentinelSet::start`] with replicas whose clocks run `seconds` behind the master's
    /// ([`clock_behind`]): hosts whose clocks differ.
    pub fn start_with_slow_replicas(
        replicas: usize,
        sentinels: usize,
        seconds: u32,
    ) -> SentinelSet {
        let wrapper = clock_behind(seconds);
        let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        Self::start_with(replicas, sentinels, None, &wrapper)
    }

    /// [`SentinelSet::start`] with TLS: every server and sentinel also has a TLS port, and
    /// replication, the sentinels' links and what they announce use it (`sentinel monitor`
    /// names the master's TLS port, replicas announce theirs). The plain ports stay open for
    /// the test's own checks only.
    pub fn start_tls(replicas: usize, sentinels: usize, tls: SentinelTls) -> SentinelSet {
        Self::start_with(replicas, sentinels, Some(tls), &[])
    }

    fn start_server(tls: Option<SentinelTls>, wrapper: &[&str], extra: &[&str]) -> RedisServer {
        let mut args: Vec<String> = ["--repl-diskless-sync-delay", "0"]
            .iter()
            .chain(extra)
            .map(|a| a.to_string())
            .collect();
        let tls_port = tls.map(|tls| {
            let port = free_port();
            args.extend(["--tls-port".to_owned(), port.to_string()]);
            for (name, value) in SentinelTls::settings(tls.servers) {
                args.extend([format!("--{name}"), value]);
            }
            port
        });
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = RedisServer::start_wrapped(wrapper, &args);
        server.tls_port = tls_port;
        server
    }

    fn start_with(
        replicas: usize,
        sentinels: usize,
        tls: Option<SentinelTls>,
        replica_wrapper: &[&str],
    ) -> SentinelSet {
        let master = Self::start_server(tls, &[], &[]);
        let port = master.tls_port.unwrap_or(master.port).to_string();
        let mut servers = vec![master];
        for _ in 0..replicas {
            servers.push(Self::start_server(
                tls,
                replica_wrapper,
                &["--replicaof", "127.0.0.1", &port],
            ));
        }
        let dir = std::env::temp_dir().join(format!(
            "redis-lock-sentinel-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let quorum = sentinels / 2 + 1;
        let mut set = SentinelSet {
            servers,
            sentinel_ports: Vec::new(),
            query_ports: Vec::new(),
            tls: tls.is_some(),
            sentinels: Vec::new(),
            dir,
        };
        for i in 0..sentinels {
            let sport = free_port();
            let mut conf_text = format!(
                "port {sport}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor mymaster 127.0.0.1 {port} {quorum}\n\
                 sentinel down-after-milliseconds mymaster 1000\n\
                 sentinel failover-timeout mymaster 5000\n\
                 sentinel parallel-syncs mymaster 1\n",
                set.dir.display()
            );
            let client_port = match tls {
                Some(tls) => {
                    let tls_port = free_port();
                    conf_text.push_str(&format!("tls-port {tls_port}\n"));
                    for (name, value) in SentinelTls::settings(tls.sentinels) {
                        conf_text.push_str(&format!("{name} \"{value}\"\n"));
                    }
                    tls_port
                }
                None => sport,
            };
            let conf = set.dir.join(format!("sentinel-{i}.conf"));
            std::fs::write(&conf, conf_text).expect("sentinel config");
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server --sentinel");
            set.sentinels.push(child);
            set.sentinel_ports.push(client_port);
            set.query_ports.push(sport);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = (0..sentinels).all(|i| {
                set.sentinel_query(i, &["SENTINEL", "replicas", "mymaster"])
                    .is_some_and(|v| matches!(v, redis::Value::Array(ref a) if a.len() == replicas))
                    && set
                        .sentinel_query(i, &["SENTINEL", "sentinels", "mymaster"])
                        .is_some_and(
                            |v| matches!(v, redis::Value::Array(ref a) if a.len() + 1 == sentinels),
                        )
            });
            if ready {
                return set;
            }
            assert!(Instant::now() < deadline, "the sentinels did not form");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A command to sentinel `i`, over its plain port.
    fn sentinel_query(&self, i: usize, args: &[&str]) -> Option<redis::Value> {
        let port = self.query_ports[i];
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_millis(300))
            .ok()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut conn).ok()
    }

    /// The DSN of the service (`redis+sentinel://…/mymaster`, `rediss+sentinel://` for a TLS
    /// set), `extra` appended to the path.
    pub fn dsn(&self, extra: &str) -> String {
        self.dsn_via("127.0.0.1", extra)
    }

    /// [`SentinelSet::dsn`] naming the sentinels by `host`.
    pub fn dsn_via(&self, host: &str, extra: &str) -> String {
        let hosts: Vec<String> = self
            .sentinel_ports
            .iter()
            .map(|p| format!("{host}:{p}"))
            .collect();
        let scheme = if self.tls {
            "rediss+sentinel"
        } else {
            "redis+sentinel"
        };
        format!("{scheme}://{}/mymaster{extra}", hosts.join(","))
    }

    /// The master's port (its TLS port in a TLS set) as the first sentinel that answers sees it.
    pub fn master_port(&self) -> u16 {
        for i in 0..self.query_ports.len() {
            if let Some(redis::Value::Array(a)) =
                self.sentinel_query(i, &["SENTINEL", "get-master-addr-by-name", "mymaster"])
                && let Some(redis::Value::BulkString(port)) = a.get(1)
            {
                return String::from_utf8_lossy(port).parse().expect("a port");
            }
        }
        panic!("no sentinel answers");
    }

    /// The server listening on `port` (plain or TLS).
    pub fn server(&mut self, port: u16) -> &mut RedisServer {
        self.servers
            .iter_mut()
            .find(|s| s.port == port || s.tls_port == Some(port))
            .expect("one of ours")
    }

    /// `SENTINEL FAILOVER mymaster`, then waits until every sentinel names a new master and
    /// that server says it is the master. Returns the new master's port.
    pub fn failover(&mut self) -> u16 {
        let old = self.master_port();
        let _ = self.sentinel_query(0, &["SENTINEL", "FAILOVER", "mymaster"]);
        self.await_new_master(old)
    }

    /// Waits until the server on `port` says its role is `role` (`"master"`, `"slave"`).
    pub fn await_role(&mut self, port: u16, role: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut conn = self.server(port).client();
            let got: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn).unwrap_or_default();
            if matches!(got.first(), Some(redis::Value::BulkString(r)) if r == role.as_bytes()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{port} is not {role} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every live sentinel names a master other than `old` and it is one.
    pub fn await_new_master(&mut self, old: u16) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ports: Vec<Option<u16>> = (0..self.query_ports.len())
                .map(|i| {
                    match self
                        .sentinel_query(i, &["SENTINEL", "get-master-addr-by-name", "mymaster"])
                    {
                        Some(redis::Value::Array(a)) => match a.get(1) {
                            Some(redis::Value::BulkString(port)) => {
                                String::from_utf8_lossy(port).parse().ok()
                            }
                            _ => None,
                        },
                        _ => None,
                    }
                })
                .collect();
            let named: Vec<u16> = ports.iter().flatten().copied().collect();
            if let Some(&new) = named.first()
                && new != old
                && named.iter().all(|&p| p == new)
            {
                let mut conn = self.server(new).client();
                let role: Vec<redis::Value> =
                    redis::cmd("ROLE").query(&mut conn).unwrap_or_default();
                if matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master") {
                    return new;
                }
            }
            assert!(Instant::now() < deadline, "no failover within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills sentinel `i`.
    pub fn kill_sentinel(&mut self, i: usize) {
        let _ = self.sentinels[i].kill();
        let _ = self.sentinels[i].wait();
    }
}

impl Drop for SentinelSet {
    fn drop(&mut self) {
        for child in &mut self.sentinels {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test certificates (`scripts/make-test-certs.sh`), made once per test process under
/// `target/tls-test-certs/<pid>` (earlier runs' directories are removed then).
pub fn certs() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tls-test-certs");
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join(std::process::id().to_string());
        let status = Command::new(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/make-test-certs.sh"),
        )
        .arg(&dir)
        .status()
        .expect("scripts/make-test-certs.sh runs (openssl CLI installed: make deps)");
        assert!(status.success(), "make-test-certs.sh failed");
        dir
    })
}

/// The path of a test certificate file (see [`certs`]), as a string.
pub fn cert(file: &str) -> String {
    certs().join(file).to_str().expect("utf-8 path").to_owned()
}

/// A redis-server with a TLS port beside its plain one (the plain one serves the independent
/// client), presenting `cert` (`server`, `named`, `expired`: files of [`certs`]) and asking for
/// client certificates as `auth_clients` says (`yes`, `optional`, `no`).
pub struct TlsServer {
    /// The server; its `port` is the plain one.
    pub server: RedisServer,
    /// The TLS port.
    pub tls_port: u16,
}

impl TlsServer {
    /// Starts a server (the CA of client certificates is `ca.pem`).
    pub fn start(cert_name: &str, auth_clients: &str) -> TlsServer {
        Self::start_with(cert_name, auth_clients, &[])
    }

    /// [`TlsServer::start`] with extra `redis-server` arguments (`["--requirepass", "pw"]`).
    pub fn start_with(cert_name: &str, auth_clients: &str, extra: &[&str]) -> TlsServer {
        let tls_port = free_port();
        let (pem, key) = (
            cert(&format!("{cert_name}.pem")),
            cert(&format!("{cert_name}.key")),
        );
        let ca = cert("ca.pem");
        let port = tls_port.to_string();
        let server = RedisServer::start_with(
            &[
                "--tls-port",
                &port,
                "--tls-cert-file",
                &pem,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca,
                "--tls-auth-clients",
                auth_clients,
            ]
            .iter()
            .chain(extra)
            .copied()
            .collect::<Vec<_>>(),
        );
        TlsServer { server, tls_port }
    }

    /// `rediss://<host>:<tls port>`
    pub fn dsn(&self, host: &str) -> String {
        format!("rediss://{host}:{}", self.tls_port)
    }
}

/// A local Redis Cluster: `masters` masters with `replicas` replicas each, made by
/// `redis-cli --cluster create`, each node a [`RedisServer`] (cluster bus on a free port of
/// its own, node timeout 1 s, replicas synced at once).
pub struct ClusterSet {
    /// The nodes, in the order given to `redis-cli --cluster create` (masters first).
    pub nodes: Vec<RedisServer>,
    /// The certificate the nodes present ([`ClusterSet::start_tls`]), if they listen on TLS.
    tls: Option<String>,
}

impl ClusterSet {
    /// Starts the nodes, creates the cluster and waits until every node says the cluster is
    /// `ok` and sees every node.
    pub fn start(masters: usize, replicas: usize) -> ClusterSet {
        Self::start_with(masters, replicas, &[])
    }

    /// [`ClusterSet::start`] with extra `redis-server` arguments for every node.
    pub fn start_with(masters: usize, replicas: usize, extra: &[&str]) -> ClusterSet {
        Self::create(masters, replicas, extra, None)
    }

    /// [`ClusterSet::start`] with TLS: every node also has a TLS port, presents `cert` (a file
    /// of [`certs`]: `server`, `named`) there, and uses TLS for the cluster bus, replication
    /// and `MIGRATE` (`tls-cluster`, `tls-replication`); what the nodes announce to TLS
    /// clients (`CLUSTER SHARDS` `tls-port`, `CLUSTER SLOTS`, `MOVED`, `ASK`) is their TLS
    /// port. Clients are not asked for certificates (`tls-auth-clients no`); the nodes show
    /// each other `client.pem` on the bus, which always asks for one. The plain ports stay
    /// open for the test's own checks only; [`ClusterSet::dsn`] names the TLS ports.
    pub fn start_tls(masters: usize, replicas: usize, cert: &str) -> ClusterSet {
        Self::create(masters, replicas, &[], Some(cert))
    }

    fn create(masters: usize, replicas: usize, extra: &[&str], tls: Option<&str>) -> ClusterSet {
        let total = masters * (1 + replicas);
        let mut set = ClusterSet {
            nodes: Vec::with_capacity(total),
            tls: tls.map(str::to_owned),
        };
        for _ in 0..total {
            let node = set.node(&[], extra);
            set.nodes.push(node);
        }
        let addresses: Vec<String> = (0..total).map(|i| set.address(i)).collect();
        let out = Command::new("redis-cli")
            .args(set.cli_tls())
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli must be installed (make deps)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        set.await_ok();
        set.await_replicas_in_sync();
        set
    }

    /// `127.0.0.1:<port>` of node `i` as clients reach it: its TLS port in a TLS set.
    fn address(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.client_port(i))
    }

    /// The port clients reach node `i` on: its TLS port in a TLS set.
    pub fn client_port(&self, i: usize) -> u16 {
        let node = &self.nodes[i];
        node.tls_port.unwrap_or(node.port)
    }

    /// `redis-cli` arguments to reach the nodes' client ports (TLS, trusting `ca.pem`).
    fn cli_tls(&self) -> Vec<String> {
        match self.tls {
            Some(_) => vec!["--tls".into(), "--cacert".into(), cert("ca.pem")],
            None => Vec::new(),
        }
    }

    /// A cluster-enabled server (bus on a free port, node timeout 1 s), run by `wrapper`, with
    /// a TLS port in a TLS set.
    fn node(&self, wrapper: &[&str], extra: &[&str]) -> RedisServer {
        let mut args: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &free_port().to_string(),
            "--cluster-node-timeout",
            "1000",
            "--repl-diskless-sync-delay",
            "0",
            "--cluster-replica-validity-factor",
            "0",
        ]
        .iter()
        .chain(extra)
        .map(|a| a.to_string())
        .collect();
        let tls_port = self.tls.as_ref().map(|name| {
            let port = free_port();
            args.extend(["--tls-port".to_owned(), port.to_string()]);
            for (flag, value) in [
                ("tls-cert-file", cert(&format!("{name}.pem"))),
                ("tls-key-file", cert(&format!("{name}.key"))),
                ("tls-client-cert-file", cert("client.pem")),
                ("tls-client-key-file", cert("client.key")),
                ("tls-ca-cert-file", cert("ca.pem")),
                ("tls-auth-clients", "no".to_owned()),
                ("tls-cluster", "yes".to_owned()),
                ("tls-replication", "yes".to_owned()),
            ] {
                args.extend([format!("--{flag}"), value]);
            }
            port
        });
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = RedisServer::start_wrapped(wrapper, &args);
        server.tls_port = tls_port;
        server
    }

    /// Adds a replica of node `master` run by `wrapper` ([`clock_behind`]), and
    /// waits until it is in sync and every node knows it. Returns its index.
    pub fn add_replica(&mut self, master: usize, wrapper: &[&str]) -> usize {
        let node = self.node(wrapper, &[]);
        let id = self.id(master);
        let out = Command::new("redis-cli")
            .args(self.cli_tls())
            .args(["--cluster", "add-node"])
            .arg(format!("127.0.0.1:{}", node.tls_port.unwrap_or(node.port)))
            .arg(self.address(master))
            .args(["--cluster-slave", "--cluster-master-id", &id])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "redis-cli --cluster add-node failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        self.nodes.push(node);
        let index = self.nodes.len() - 1;
        self.await_ok();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut self.nodes[index].client())
                .unwrap_or_default();
            if info.contains("master_link_status:up") {
                return index;
            }
            assert!(
                Instant::now() < deadline,
                "the replica did not sync in 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every live replica is attached to its master and in sync.
    pub fn await_replicas_in_sync(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for n in self.nodes.iter().filter(|n| n.child.is_some()) {
            loop {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut n.client())
                    .unwrap_or_default();
                if info.contains("role:master") || info.contains("master_link_status:up") {
                    break;
                }
                assert!(Instant::now() < deadline, "a replica did not sync in 30 s");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Waits until every live node reports `cluster_state:ok` and knows every other node.
    pub fn await_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self.nodes.iter().filter(|n| n.child.is_some()).all(|n| {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut n.client())
                    .unwrap_or_default();
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{}", self.nodes.len()))
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not form in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `redis+cluster://127.0.0.1:<port of node i>` for the listed nodes
    /// (`rediss+cluster://` and their TLS ports in a TLS set).
    pub fn dsn(&self, seeds: &[usize]) -> String {
        self.dsn_via("127.0.0.1", seeds)
    }

    /// [`ClusterSet::dsn`] naming the seeds by `host`.
    pub fn dsn_via(&self, host: &str, seeds: &[usize]) -> String {
        let hosts: Vec<String> = seeds
            .iter()
            .map(|&i| format!("{host}:{}", self.client_port(i)))
            .collect();
        let scheme = if self.tls.is_some() {
            "rediss+cluster"
        } else {
            "redis+cluster"
        };
        format!("{scheme}://{}", hosts.join(","))
    }

    /// The node listening on `port` (plain or TLS).
    fn by_port(&self, port: i64) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| i64::from(n.port) == port || n.tls_port.map(i64::from) == Some(port))
    }

    /// The node that serves `slot` as master, by what the first live node says.
    pub fn master_of(&self, slot: u16) -> usize {
        for n in self.nodes.iter().filter(|n| n.child.is_some()) {
            let Ok(ranges) = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query::<Vec<redis::Value>>(&mut n.client())
            else {
                continue;
            };
            for range in ranges {
                let redis::Value::Array(parts) = range else {
                    continue;
                };
                let (Some(redis::Value::Int(first)), Some(redis::Value::Int(last))) =
                    (parts.first(), parts.get(1))
                else {
                    continue;
                };
                if (*first..=*last).contains(&i64::from(slot))
                    && let Some(redis::Value::Array(master)) = parts.get(2)
                    && let Some(redis::Value::Int(port)) = master.get(1)
                {
                    return self.by_port(*port).expect("one of ours");
                }
            }
        }
        panic!("no node knows the master of slot {slot}");
    }

    /// The node id of node `i`.
    pub fn id(&self, i: usize) -> String {
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut self.nodes[i].client())
            .expect("CLUSTER MYID")
    }

    /// The replicas of node `i` (by index).
    pub fn replicas_of(&self, i: usize) -> Vec<usize> {
        let id = self.id(i);
        (0..self.nodes.len())
            .filter(|&j| {
                j != i
                    && self.nodes[j].child.is_some()
                    && redis::cmd("CLUSTER")
                        .arg("NODES")
                        .query::<String>(&mut self.nodes[j].client())
                        .unwrap_or_default()
                        .lines()
                        .any(|l| l.contains("myself") && l.contains(&id))
            })
            .collect()
    }

    /// `CLUSTER FAILOVER` on `replica` (of `old`, which serves `slot`), repeated when a busy
    /// machine lets the coordinated handover time out (Redis gives it 5 s, then forgets it);
    /// returns the new master once it serves `slot`.
    pub fn manual_failover(&self, replica: usize, slot: u16, old: usize) -> usize {
        for _ in 0..3 {
            let _: redis::RedisResult<()> = redis::cmd("CLUSTER")
                .arg("FAILOVER")
                .query(&mut self.nodes[replica].client());
            let deadline = Instant::now() + Duration::from_secs(8);
            while Instant::now() < deadline {
                if self.master_of(slot) == replica {
                    return self.await_new_master(slot, old);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("CLUSTER FAILOVER did not happen in 3 tries");
    }

    /// Waits until a node other than `old` serves `slot` and says it is a master. Returns it.
    pub fn await_new_master(&self, slot: u16, old: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for (j, n) in self.nodes.iter().enumerate() {
                if j == old || n.child.is_none() {
                    continue;
                }
                let role: Vec<redis::Value> = redis::cmd("ROLE")
                    .query(&mut n.client())
                    .unwrap_or_default();
                if !matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master") {
                    continue;
                }
                let owns: bool = redis::cmd("CLUSTER")
                    .arg("COUNTKEYSINSLOT")
                    .arg(slot)
                    .query::<i64>(&mut n.client())
                    .is_ok()
                    && redis::cmd("CLUSTER")
                        .arg("SLOTS")
                        .query::<Vec<redis::Value>>(&mut n.client())
                        .map(|ranges| {
                            ranges.iter().any(|r| match r {
                                redis::Value::Array(p) => {
                                    matches!((p.first(), p.get(1), p.get(2)),
                                    (Some(redis::Value::Int(a)), Some(redis::Value::Int(b)), Some(redis::Value::Array(m)))
                                        if (*a..=*b).contains(&i64::from(slot))
                                            && matches!(m.get(1), Some(redis::Value::Int(port)) if self.by_port(*port) == Some(j)))
                                }
                                _ => false,
                            })
                        })
                        .unwrap_or(false);
                if owns {
                    return j;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no failover of slot {slot} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A wrapper command (for [`RedisServer::start_wrapped`]) that runs a program whose wall clock
/// (`gettimeofday`, which Redis's `TIME` and key expiry read) is `seconds` behind the real one:
/// a host whose clock differs. A tiny `LD_PRELOAD` shim compiled with `cc` on first use
/// (libfaketime cannot be used: it recurses with Redis's jemalloc at start-up).
pub fn clock_behind(seconds: u32) -> Vec<String> {
    static SHIM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let shim = SHIM.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("redis-lock-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let source = dir.join("clock_behind.c");
        std::fs::write(
            &source,
            r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
int gettimeofday(struct timeval *tv, void *tz) {
    static int (*real)(struct timeval *, void *);
    static long behind = -1;
    if (!real) real = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
    if (behind < 0) { const char *s = getenv("CLOCK_BEHIND_SECONDS"); behind = s ? atol(s) : 0; }
    int r = real(tv, tz);
    if (r == 0 && tv) tv->tv_sec -= behind;
    return r;
}
"#,
        )
        .expect("shim source");
        let lib = dir.join("libclock_behind.so");
        let status = Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&lib)
            .arg(&source)
            .arg("-ldl")
            .status()
            .expect("cc must be installed (the Rust toolchain links with it)");
        assert!(status.success(), "the clock shim did not compile");
        lib
    });
    vec![
        "env".into(),
        format!("LD_PRELOAD={}", shim.display()),
        format!("CLOCK_BEHIND_SECONDS={seconds}"),
    ]
}

/// Waits (up to 5 s) until `replicas` replicas of `server` have every write it took so far,
/// and returns how many did. `WAIT` counts the replicas that reached the offset of the
/// *calling connection's* last write, so a fresh connection must write first (`key`, which
/// must be one `server` serves: in a cluster, a key of one of its slots): a bare `WAIT` on a
/// new connection returns at once and proves nothing.
pub fn wait_for_replicas(server: &RedisServer, key: &str, replicas: usize) -> usize {
    let mut conn = server.client();
    let (_, acked): ((), usize) = redis::pipe()
        .cmd("SET")
        .arg(key)
        .arg("1")
        .cmd("WAIT")
        .arg(replicas)
        .arg(5000)
        .query(&mut conn)
        .expect("SET + WAIT");
    acked
}
