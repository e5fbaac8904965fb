//! A master found through Redis Sentinel, following the Sentinel client specification:
//!
//! - **Discovery.** The sentinels are asked in turn, each with a short timeout
//!   ([`SENTINEL_TIMEOUT`] at most), `SENTINEL get-master-addr-by-name <service>`; the address
//!   is verified with `ROLE` on the master itself (a sentinel may be stale, or partitioned
//!   from the others), and a sentinel that answered is moved to the front of the list. All of
//!   it within the call's connect timeout: when it passes, the error names every sentinel and
//!   why it could not help. A service no sentinel knows is refused at once, and so is a
//!   discovery where every sentinel did not know it or refused us (a wrong sentinel or master
//!   password, a certificate not accepted): retrying would not help.
//! - **Cache.** The master's address is cached per process (per sentinel set, service and
//!   credentials), so a new object does not ask the sentinels again; its connection is the
//!   process registry's, with the registry's reconnect and resend rules. The cached address is
//!   checked again with one sentinel when it is older than [`REVALIDATE`] (one round trip to a
//!   sentinel per second per process while commands flow): after a failover the sentinels
//!   name the new master at once, but a still-reachable old master keeps accepting writes until
//!   they demote it, seconds later; without this check a process would keep writing there.
//! - **TLS** (`rediss+sentinel://`): the sentinels and the master are reached over TLS with
//!   the one `ssl` option. A sentinel's certificate is checked against its host as written in
//!   the DSN; the master's against the host the sentinels announce for it (an IP address unless
//!   they run with `announce-hostnames yes`), because that is the only name of it the client
//!   has. `peer_name`, when given, replaces both: every certificate must then name it.
//! - **Failover.** A reply that says the server is no longer the master, or may not write
//!   (`READONLY`; `UNBLOCKED` for a `BLPOP` cut short by a demotion; `NOREPLICAS` and
//!   `MASTERDOWN` from a master that lost its replicas) means the command did not run: the
//!   master is discovered again and the command sent there, within the call's deadline. A lost
//!   connection or a timeout forgets the cached master (the next command rediscovers it) and
//!   is returned as it is: the command may have run, and only the caller knows whether sending
//!   it again is safe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::net::connection::{Connection, Timeouts};
use crate::lock::net::registry::{self, Resend, Shared, unknown_outcome};
use crate::lock::options::{Address, Endpoint, SentinelAddress, host_port};
use crate::lock::protocol::resp::{self, Reply};

/// The longest a single sentinel is given to answer during discovery.
pub const SENTINEL_TIMEOUT: Duration = Duration::from_millis(500);

/// How old a cached master address may get before a sentinel is asked again.
pub const REVALIDATE: Duration = Duration::from_secs(1);

/// How many times a command refused by a demoted master is sent to a rediscovered one.
const FAILOVER_RETRIES: usize = 5;
/// Error replies of a server that is not (or no longer) a master that may write: the command
/// did not run.
const NOT_MASTER: [&str; 4] = ["READONLY", "UNBLOCKED", "NOREPLICAS", "MASTERDOWN"];

/// The pause between discoveries while a failover is in progress.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What this process knows of one service: its master and when a sentinel last confirmed it,
/// and the order to ask the sentinels in. Shared by every object of the same sentinel set,
/// service and credentials.
struct Discovery {
    master: Mutex<Option<(String, u16, Instant)>>,
    order: Mutex<Vec<(String, u16)>>,
    /// The configuration epoch a sentinel reported with the master it named (`SENTINEL
    /// MASTER`'s `config-epoch`, which each failover raises): folded into that master's fences.
    epoch: Mutex<Option<(String, u16, u64)>>,
}

/// The per-process discoveries.
fn discovery(address: &SentinelAddress) -> Arc<Discovery> {
    static ALL: OnceLock<Mutex<HashMap<SentinelAddress, Arc<Discovery>>>> = OnceLock::new();
    let mut all = lock(ALL.get_or_init(Default::default));
    Arc::clone(all.entry(address.clone()).or_insert_with(|| {
        Arc::new(Discovery {
            master: Mutex::new(None),
            order: Mutex::new(address.sentinels.clone()),
            epoch: Mutex::new(None),
        })
    }))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A master behind Sentinel.
pub struct Sentinel {
    address: SentinelAddress,
    /// The master's user, password, database and timeouts (its address is discovered).
    template: Endpoint,
    /// Connections of their own, not the registry's (a background thread's copy).
    private: bool,
    /// The master this object talks to now, and its address.
    current: Mutex<Option<(Arc<Shared>, String, u16)>>,
    /// The process's knowledge of the service.
    discovery: Arc<Discovery>,
}

impl Sentinel {
    /// A Sentinel topology for `endpoint` (whose address is a [`SentinelAddress`]). No I/O.
    pub fn new(address: SentinelAddress, endpoint: &Endpoint, private: bool) -> Sentinel {
        Sentinel {
            discovery: discovery(&address),
            address,
            template: endpoint.clone(),
            private,
            current: Mutex::new(None),
        }
    }

    /// The same deployment over connections of its own.
    pub fn detached(&self) -> Sentinel {
        Sentinel::new(self.address.clone(), &self.template, true)
    }

    /// What identifies it.
    pub fn address(&self) -> &SentinelAddress {
        &self.address
    }

    /// The endpoint as configured (its address is the Sentinel one).
    pub fn endpoint(&self) -> &Endpoint {
        &self.template
    }

    /// The master's connection state: the process's cached master (confirmed by a sentinel
    /// when older than [`REVALIDATE`]), or a new discovery (within `deadline`).
    fn master(&self, deadline: Instant) -> Result<Arc<Shared>> {
        let known = lock(&self.discovery.master).clone();
        let (host, port, learned) = match known {
            Some((host, port, confirmed)) if confirmed.elapsed() < REVALIDATE => {
                (host, port, false)
            }
            Some((host, port, _)) => {
                let (host, port) = self.revalidate(host, port, deadline);
                (host, port, true)
            }
            None => {
                let (host, port) = self.discover(deadline)?;
                (host, port, true)
            }
        };
        let mut current = lock(&self.current);
        if let Some((shared, h, p)) = current.as_ref()
            && *h == host
            && *p == port
        {
            if learned {
                self.apply_epoch(shared, &host, port);
            }
            return Ok(Arc::clone(shared));
        }
        let shared = self.connect_state(&host, port);
        self.apply_epoch(&shared, &host, port);
        *current = Some((Arc::clone(&shared), host, port));
        Ok(shared)
    }

    /// Gives the master at `host:port` the configuration epoch a sentinel reported with it.
    fn apply_epoch(&self, shared: &Shared, host: &str, port: u16) {
        if let Some((h, p, epoch)) = lock(&self.discovery.epoch).as_ref()
            && h == host
            && *p == port
        {
            shared.raise_epoch(*epoch);
        }
    }

    /// Asks the first sentinel whether `host:port` is still the master: the new master if it
    /// names another one that says it is the master; else `host:port` (also when no sentinel
    /// answers in time: the master's own replies will tell).
    fn revalidate(&self, host: String, port: u16, deadline: Instant) -> (String, u16) {
        let first = lock(&self.discovery.order).first().cloned();
        let mut keep = (host, port);
        if let Some((s_host, s_port)) = first {
            match self.ask(&s_host, s_port, deadline) {
                Ok(Some(named)) => {
                    if named != keep && self.verify(&named.0, named.1, deadline).is_ok() {
                        keep = named;
                    }
                }
                Ok(None) => {}
                Err(_) => {
                    // Unreachable or silent: ask another one next time, so that a sentinel
                    // that is down costs one check, not one per second.
                    let mut order = lock(&self.discovery.order);
                    if order.first() == Some(&(s_host, s_port)) && order.len() > 1 {
                        order.rotate_left(1);
                    }
                }
            }
        }
        *lock(&self.discovery.master) = Some((keep.0.clone(), keep.1, Instant::now()));
        keep
    }

    /// The address of `host:port`, a sentinel or a master: TLS with the `ssl` option for
    /// `rediss+sentinel://` (the certificate checked against `host`, unless `peer_name` is
    /// set), plain TCP otherwise.
    fn server_address(&self, host: &str, port: u16) -> Address {
        let host = host.to_owned();
        match &self.address.tls {
            Some(tls) => Address::Tls {
                host,
                port,
                tls: Arc::clone(tls),
            },
            None => Address::Tcp { host, port },
        }
    }

    /// The master's endpoint at `host:port`: the DSN's user, password, database and timeouts.
    fn master_endpoint(&self, host: &str, port: u16) -> Endpoint {
        Endpoint {
            address: self.server_address(host, port),
            ..self.template.clone()
        }
    }

    fn connect_state(&self, host: &str, port: u16) -> Arc<Shared> {
        let endpoint = self.master_endpoint(host, port);
        if self.private {
            registry::private(&endpoint)
        } else {
            registry::shared(&endpoint)
        }
    }

    /// Forgets the master `stale` (if it is still the current one), here and in the process
    /// cache, so that the next command asks the sentinels.
    fn forget(&self, stale: &Arc<Shared>) {
        let mut current = lock(&self.current);
        let Some((shared, host, port)) = current.as_ref() else {
            return;
        };
        if !Arc::ptr_eq(shared, stale) {
            return;
        }
        let mut master = lock(&self.discovery.master);
        if master
            .as_ref()
            .is_some_and(|(h, p, _)| h == host && p == port)
        {
            *master = None;
        }
        drop(master);
        *current = None;
    }

    /// Asks the sentinels for the master and checks its role, until `deadline`.
    fn discover(&self, deadline: Instant) -> Result<(String, u16)> {
        let mut why: Vec<String> = Vec::new();
        let order = lock(&self.discovery.order).clone();
        // Sentinels that do not know the service, or refused us (a wrong password, a
        // certificate that is not accepted), or named a master that refused us.
        let mut hopeless = 0;
        for (i, (host, port)) in order.iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                why.push(format!(
                    "{}: not asked (connectTimeout reached)",
                    host_port(host, *port)
                ));
                continue;
            }
            match self.ask(host, *port, deadline) {
                Ok(None) => {
                    hopeless += 1;
                    why.push(format!(
                        "{}: does not know the service",
                        host_port(host, *port)
                    ));
                }
                Ok(Some((master_host, master_port))) => {
                    match self.verify(&master_host, master_port, deadline) {
                        Ok(()) => {
                            if i > 0 {
                                let mut order = lock(&self.discovery.order);
                                if let Some(at) =
                                    order.iter().position(|s| s.0 == *host && s.1 == *port)
                                {
                                    let found = order.remove(at);
                                    order.insert(0, found);
                                }
                            }
                            *lock(&self.discovery.master) =
                                Some((master_host.clone(), master_port, Instant::now()));
                            return Ok((master_host, master_port));
                        }
                        Err(e) => {
                            hopeless += usize::from(e.is_refused());
                            why.push(format!(
                                "{} named {} as master: {}",
                                host_port(host, *port),
                                host_port(&master_host, master_port),
                                e.message()
                            ));
                        }
                    }
                }
                Err(e) => {
                    hopeless += usize::from(e.is_refused());
                    why.push(format!("{}: {}", host_port(host, *port), e.message()));
                }
            }
        }
        let kind = if hopeless == order.len() {
            // Every sentinel does not know the service or refused us: no use retrying.
            ErrorKind::Refused
        } else {
            ErrorKind::Connection
        };
        Err(Error::new(
            kind,
            format!(
                "no master found for Sentinel service \"{}\" ({})",
                self.address.service,
                why.join("; ")
            ),
        ))
    }

    /// `SENTINEL get-master-addr-by-name <service>` on one sentinel: `None` if it does not
    /// know the service.
    fn ask(&self, host: &str, port: u16, deadline: Instant) -> Result<Option<(String, u16)>> {
        let started = Instant::now();
        let budget = deadline
            .saturating_duration_since(started)
            .min(SENTINEL_TIMEOUT);
        if budget.is_zero() {
            return Err(Error::new(ErrorKind::Timeout, "connectTimeout reached"));
        }
        let timeouts = Timeouts {
            connect: budget,
            read: budget,
        };
        let endpoint = Endpoint {
            address: self.server_address(host, port),
            username: self.address.username.clone(),
            password: self.address.password.clone(),
            database: 0,
            connect_timeout: timeouts.connect,
            read_timeout: timeouts.read,
        };
        let mut conn = Connection::open(&endpoint, timeouts)?;
        let left = budget.saturating_sub(started.elapsed());
        if left < Duration::from_millis(1) {
            return Err(Error::new(ErrorKind::Timeout, "no time left to ask"));
        }
        conn.set_read_timeout(left);
        resp::command(
            conn.command_buffer(),
            &[
                b"SENTINEL",
                b"get-master-addr-by-name",
                self.address.service.as_bytes(),
            ],
        );
        // The master's configuration epoch, in the same write: the sentinel answers both from
        // one state.
        resp::command(
            conn.command_buffer(),
            &[b"SENTINEL", b"MASTER", self.address.service.as_bytes()],
        );
        conn.send()?;
        let reply = conn.read_reply(|reply| match reply {
            Reply::Nil => Ok(None),
            Reply::Array(items) => match items.as_slice() {
                [Reply::Bulk(host), Reply::Bulk(port)] => {
                    let host = String::from_utf8_lossy(host).into_owned();
                    let port = std::str::from_utf8(port)
                        .ok()
                        .and_then(|p| p.parse::<u16>().ok());
                    match port {
                        Some(port) if !host.is_empty() => Ok(Some((host, port))),
                        _ => Err("an address that is not host and port"),
                    }
                }
                [] => Ok(None),
                _ => Err("an address that is not host and port"),
            },
            _ => Err("an unexpected reply"),
        });
        if let Err(e) = &reply
            && !e.is_server()
        {
            return Err(e.clone());
        }
        // Read the second reply whatever the first was, so that none is left behind.
        let epoch = match conn.read_reply(config_epoch) {
            Ok(epoch) => epoch,
            Err(e) if e.is_server() => None, // e.g. the service is unknown
            Err(e) => return Err(e),
        };
        let named =
            reply?.map_err(|what| Error::new(ErrorKind::Protocol, format!("sent {what}")))?;
        if let (Some((host, port)), Some(epoch)) = (&named, epoch) {
            *lock(&self.discovery.epoch) = Some((host.clone(), *port, epoch));
        }
        Ok(named)
    }

    /// Checks with `ROLE` that `host:port` is a master (a fresh connection: it is not in use
    /// yet).
    fn verify(&self, host: &str, port: u16, deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::new(ErrorKind::Timeout, "connectTimeout reached"));
        }
        let endpoint = self.master_endpoint(host, port);
        let timeouts = Timeouts {
            connect: left,
            read: left.min(self.template.read_timeout),
        };
        let mut conn = Connection::open(&endpoint, timeouts)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(Error::new(ErrorKind::Timeout, "connectTimeout reached"));
        }
        conn.set_read_timeout(left.min(self.template.read_timeout));
        resp::command(conn.command_buffer(), &[b"ROLE"]);
        conn.send()?;
        let role = conn.read_reply(|reply| match reply {
            Reply::Array(items) => match items.first() {
                Some(Reply::Bulk(role)) => String::from_utf8_lossy(role).into_owned(),
                _ => String::new(),
            },
            _ => String::new(),
        })?;
        if role == "master" {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Connection,
                format!("its role is \"{role}\", not master"),
            ))
        }
    }

    /// Runs `op` on the master (see the module docs for failover).
    pub fn run<R>(
        &self,
        timeouts: Timeouts,
        resend: Resend<R>,
        mut op: impl FnMut(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        let deadline = Instant::now() + timeouts.connect;
        let mut retries = 0;
        // Set when a try was sent twice by the registry (its connection broke after the first
        // send) and then refused as not-master: the first send may have taken effect, so a
        // reply from the new master proves only what `resend` says.
        let mut uncertain: Option<Error> = None;
        loop {
            let master = match self.master(deadline) {
                Ok(master) => master,
                Err(e) if !e.is_refused() && Instant::now() + RETRY_PAUSE < deadline => {
                    // A failover in progress: the sentinels name the old master for a moment.
                    std::thread::sleep(RETRY_PAUSE);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut sends = 0;
            // Connecting (again) must not outlast the call's own connect deadline.
            let left = deadline.saturating_duration_since(Instant::now());
            let bounded = Timeouts {
                connect: timeouts.connect.min(left.max(Duration::from_millis(1))),
                read: timeouts.read,
            };
            let result = master.run(bounded, resend, |conn| {
                sends += 1;
                op(conn)
            });
            let sent = sends > 0;
            match result {
                // Not the master any more, or not reachable before anything was sent: the
                // command did not run. Find the master again and send it there.
                Err(e)
                    if (NOT_MASTER.iter().any(|code| e.is_server_code(code))
                        || (!sent && e.is_connection()))
                        && retries < FAILOVER_RETRIES
                        && Instant::now() + RETRY_PAUSE < deadline =>
                {
                    if sends > 1 {
                        uncertain.get_or_insert(e);
                    }
                    self.forget(&master);
                    retries += 1;
                    if retries > 1 {
                        std::thread::sleep(RETRY_PAUSE);
                    }
                }
                Err(e)
                    if e.is_connection()
                        || e.is_timeout()
                        || NOT_MASTER.iter().any(|code| e.is_server_code(code)) =>
                {
                    self.forget(&master);
                    return Err(e);
                }
                Ok(r) => {
                    if let (Some(first), Resend::ProvesOnly(proves, what)) = (&uncertain, resend)
                        && !proves(&r)
                    {
                        return Err(unknown_outcome(first, what));
                    }
                    return Ok(r);
                }
                other => return other,
            }
        }
    }

    /// The master's connection state when a sentinel confirmed it recently (no I/O), else
    /// `None` (then [`Sentinel::run`] finds it).
    pub fn cached_master(&self) -> Option<Arc<Shared>> {
        let (host, port, confirmed) = lock(&self.discovery.master).clone()?;
        if confirmed.elapsed() >= REVALIDATE {
            return None;
        }
        lock(&self.current)
            .as_ref()
            .filter(|(_, h, p)| *h == host && *p == port)
            .map(|(shared, _, _)| Arc::clone(shared))
    }

    /// Identifies the connection (the current master's state, or this object).
    pub fn connection_id(&self) -> *const () {
        (self as *const Sentinel).cast()
    }

    /// Whether the current master lacks `SET ... NX GET` (false until known).
    pub fn legacy_set(&self) -> bool {
        lock(&self.current)
            .as_ref()
            .is_some_and(|(s, _, _)| s.legacy_set())
    }

    /// Remembers that the current master rejects `SET ... NX GET`.
    pub fn set_legacy_set(&self) {
        if let Some((s, _, _)) = lock(&self.current).as_ref() {
            s.set_legacy_set();
        }
    }
}

/// The `config-epoch` field of a `SENTINEL MASTER` reply (a flat array of names and values).
fn config_epoch(reply: Reply<'_>) -> Option<u64> {
    let Reply::Array(items) = reply else {
        return None;
    };
    items.chunks(2).find_map(|pair| match pair {
        [Reply::Bulk(name), Reply::Bulk(value)] if *name == b"config-epoch" => {
            std::str::from_utf8(value).ok()?.parse().ok()
        }
        _ => None,
    })
}
