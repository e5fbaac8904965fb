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
        let child = Command::new("redis-server")
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
        Self::start_with(replicas, sentinels, None)
    }

    /// [`SentinelSet::start`] with TLS: every server and sentinel also has a TLS port, and
    /// replication, the sentinels' links and what they announce use it (`sentinel monitor`
    /// names the master's TLS port, replicas announce theirs). The plain ports stay open for
    /// the test's own checks only.
    pub fn start_tls(replicas: usize, sentinels: usize, tls: SentinelTls) -> SentinelSet {
        Self::start_with(replicas, sentinels, Some(tls))
    }

    fn start_server(tls: Option<SentinelTls>, extra: &[&str]) -> RedisServer {
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
        let mut server = RedisServer::start_with(&args);
        server.tls_port = tls_port;
        server
    }

    fn start_with(replicas: usize, sentinels: usize, tls: Option<SentinelTls>) -> SentinelSet {
        let master = Self::start_server(tls, &[]);
        let port = master.tls_port.unwrap_or(master.port).to_string();
        let mut servers = vec![master];
        for _ in 0..replicas {
            servers.push(Self::start_server(
                tls,
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
