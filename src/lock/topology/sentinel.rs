//! A master found through Redis Sentinel, following the Sentinel client specification:
//!
//! - **Discovery.** The sentinels are asked in turn, each with a short timeout
//!   ([`SENTINEL_TIMEOUT`] at most), `SENTINEL get-master-addr-by-name <service>`; the address
//!   is verified with `ROLE` on the master itself (a sentinel may be stale, or partitioned
//!   from the others), and a sentinel that answered is moved to the front of the list. All of
//!   it within the call's connect timeout: when it passes, the error names every sentinel and
//!   why it could not help. A service no sentinel knows is refused at once.
//! - **Cache.** The master's address is cached per process (per sentinel set, service and
//!   credentials), so a new object does not ask the sentinels again; its connection is the
//!   process registry's, with the registry's reconnect and resend rules.
//! - **Failover.** A reply that says the server is no longer the master (`READONLY`, or
//!   `UNBLOCKED` for a `BLPOP` cut short by a demotion) means the command did not run: the
//!   master is discovered again and the command sent there, within the call's deadline. A lost
//!   connection or a timeout forgets the cached master (the next command rediscovers it) and
//!   is returned as it is: the command may have run, and only the caller knows whether sending
//!   it again is safe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::net::connection::{Connection, Timeouts};
use crate::lock::net::registry::{self, Resend, Shared};
use crate::lock::options::{Address, Endpoint, SentinelAddress, host_port};
use crate::lock::protocol::resp::{self, Reply};

/// The longest a single sentinel is given to answer during discovery.
pub const SENTINEL_TIMEOUT: Duration = Duration::from_millis(500);

/// How many times a command refused by a demoted master is sent to a rediscovered one.
const FAILOVER_RETRIES: usize = 5;
/// The pause between discoveries while a failover is in progress.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The per-process cache of masters: (sentinels, service, credentials) → master address.
fn masters() -> MutexGuard<'static, HashMap<SentinelAddress, (String, u16)>> {
    static MASTERS: OnceLock<Mutex<HashMap<SentinelAddress, (String, u16)>>> = OnceLock::new();
    MASTERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// A master behind Sentinel.
pub struct Sentinel {
    address: SentinelAddress,
    /// The master's user, password, database and timeouts (its address is discovered).
    template: Endpoint,
    /// Connections of their own, not the registry's (a background thread's copy).
    private: bool,
    /// The master this object talks to now.
    current: Mutex<Option<Arc<Shared>>>,
    /// Sentinels in the order to ask them (one that answered moves to the front).
    order: Mutex<Vec<(String, u16)>>,
}

impl Sentinel {
    /// A Sentinel topology for `endpoint` (whose address is a [`SentinelAddress`]). No I/O.
    pub fn new(address: SentinelAddress, endpoint: &Endpoint, private: bool) -> Sentinel {
        Sentinel {
            order: Mutex::new(address.sentinels.clone()),
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

    /// The master's connection state: the current one, the cached address's, or a new
    /// discovery (within `deadline`).
    fn master(&self, deadline: Instant) -> Result<Arc<Shared>> {
        if let Some(shared) = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok(Arc::clone(shared));
        }
        let cached = masters().get(&self.address).cloned();
        let (host, port) = match cached {
            Some(found) => found,
            None => self.discover(deadline)?,
        };
        let shared = self.connect_state(&host, port);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&shared));
        Ok(shared)
    }

    fn connect_state(&self, host: &str, port: u16) -> Arc<Shared> {
        let endpoint = Endpoint {
            address: Address::Tcp {
                host: host.to_owned(),
                port,
            },
            ..self.template.clone()
        };
        if self.private {
            registry::private(&endpoint)
        } else {
            registry::shared(&endpoint)
        }
    }

    /// Forgets the master `stale` (if it is still the current one), here and in the process
    /// cache, so that the next command asks the sentinels.
    fn forget(&self, stale: &Arc<Shared>) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, stale)) {
            *current = None;
        }
        drop(current);
        let mut cache = masters();
        if let Some((host, port)) = cache.get(&self.address)
            && let Address::Tcp { host: h, port: p } = &stale.endpoint().address
            && h == host
            && p == port
        {
            cache.remove(&self.address);
        }
    }

    /// Asks the sentinels for the master and checks its role, until `deadline`.
    fn discover(&self, deadline: Instant) -> Result<(String, u16)> {
        let mut why: Vec<String> = Vec::new();
        let order = self
            .order
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut unknown = 0;
        for (i, (host, port)) in order.iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                why.push(format!(
                    "{}: not asked (connectTimeout reached)",
                    host_port(host, *port)
                ));
                continue;
            }
            let timeouts = Timeouts {
                connect: left.min(SENTINEL_TIMEOUT),
                read: left.min(SENTINEL_TIMEOUT),
            };
            match self.ask(host, *port, timeouts) {
                Ok(None) => {
                    unknown += 1;
                    why.push(format!(
                        "{}: does not know the service",
                        host_port(host, *port)
                    ));
                }
                Ok(Some((master_host, master_port))) => {
                    match self.verify(&master_host, master_port, deadline) {
                        Ok(()) => {
                            if i > 0 {
                                let mut order =
                                    self.order.lock().unwrap_or_else(PoisonError::into_inner);
                                if let Some(at) =
                                    order.iter().position(|s| s.0 == *host && s.1 == *port)
                                {
                                    let found = order.remove(at);
                                    order.insert(0, found);
                                }
                            }
                            let found = (master_host, master_port);
                            masters().insert(self.address.clone(), found.clone());
                            return Ok(found);
                        }
                        Err(e) => why.push(format!(
                            "{} named {} as master: {}",
                            host_port(host, *port),
                            host_port(&master_host, master_port),
                            e.message()
                        )),
                    }
                }
                Err(e) => why.push(format!("{}: {}", host_port(host, *port), e.message())),
            }
        }
        let kind = if unknown == order.len() {
            // Every sentinel answered that it does not know the service: no use retrying.
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
    fn ask(&self, host: &str, port: u16, timeouts: Timeouts) -> Result<Option<(String, u16)>> {
        let endpoint = Endpoint {
            address: Address::Tcp {
                host: host.to_owned(),
                port,
            },
            username: self.address.username.clone(),
            password: self.address.password.clone(),
            database: 0,
            connect_timeout: timeouts.connect,
            read_timeout: timeouts.read,
        };
        let mut conn = Connection::open(&endpoint, timeouts)?;
        resp::command(
            conn.command_buffer(),
            &[
                b"SENTINEL",
                b"get-master-addr-by-name",
                self.address.service.as_bytes(),
            ],
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
        })?;
        reply.map_err(|what| Error::new(ErrorKind::Protocol, format!("sent {what}")))
    }

    /// Checks with `ROLE` that `host:port` is a master (a fresh connection: it is not in use
    /// yet).
    fn verify(&self, host: &str, port: u16, deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::new(ErrorKind::Timeout, "connectTimeout reached"));
        }
        let endpoint = Endpoint {
            address: Address::Tcp {
                host: host.to_owned(),
                port,
            },
            ..self.template.clone()
        };
        let timeouts = Timeouts {
            connect: left,
            read: left.min(self.template.read_timeout),
        };
        let mut conn = Connection::open(&endpoint, timeouts)?;
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
            let mut sent = false;
            let result = master.run(timeouts, resend, |conn| {
                sent = true;
                op(conn)
            });
            match result {
                // Not the master any more, or not reachable before anything was sent: the
                // command did not run. Find the master again and send it there.
                Err(e)
                    if (e.is_server_code("READONLY")
                        || e.is_server_code("UNBLOCKED")
                        || (!sent && e.is_connection()))
                        && retries < FAILOVER_RETRIES
                        && Instant::now() + RETRY_PAUSE < deadline =>
                {
                    self.forget(&master);
                    retries += 1;
                    if retries > 1 {
                        std::thread::sleep(RETRY_PAUSE);
                    }
                }
                Err(e) if e.is_connection() || e.is_timeout() || e.is_server_code("READONLY") => {
                    self.forget(&master);
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    /// Identifies the connection (the current master's state, or this object).
    pub fn connection_id(&self) -> *const () {
        (self as *const Sentinel).cast()
    }

    /// Whether the current master lacks `SET ... NX GET` (false until known).
    pub fn legacy_set(&self) -> bool {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|s| s.legacy_set())
    }

    /// Remembers that the current master rejects `SET ... NX GET`.
    pub fn set_legacy_set(&self) {
        if let Some(s) = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            s.set_legacy_set();
        }
    }
}
