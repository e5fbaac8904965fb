//! The per-process registry of connections: one per server (address, credentials, database),
//! shared by every `RedisLock` built for that server whatever its timeouts, and kept across PHP
//! requests.
//!
//! Rules enforced here, and nowhere else:
//! - The first command connects; building a lock does no I/O.
//! - Timeouts travel with each call ([`crate::lock::topology::Client`]), not with the connection: 2,000 objects with
//!   2,000 different `readTimeout`s share one socket.
//! - The registry is bounded: when it holds [`IDLE_LIMIT`] servers, adding one closes the
//!   connections no object uses any more. Sockets open in a process are therefore at most the
//!   servers used by live objects, plus [`IDLE_LIMIT`].
//! - A connection opened by another process (we are a `pcntl_fork()` child, or an FPM worker
//!   forked after the master connected) is never used: the child opens its own. Dropping the
//!   inherited socket only closes the child's copy of the descriptor; the parent's connection
//!   is untouched.
//! - After a timeout, a lost connection or a protocol error the connection is dropped.
//! - Before a command goes out on a reused connection, a non-blocking peek checks that the server
//!   has not closed it (restart, idle timeout): then a fresh connection is opened first and the
//!   command is sent exactly once. If a reused connection breaks *after* the command went out,
//!   the command is sent once more on a fresh connection only when the caller says what a resent
//!   reply proves ([`Resend`]): a release that finds its lock gone on the second try cannot tell
//!   whether its first try released it, so that outcome is an error saying so, never a `false`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::net::connection::{Connection, Timeouts};
use crate::lock::options::{Address, Endpoint};

/// How many servers the registry keeps connections to before it closes unused ones.
pub const IDLE_LIMIT: usize = 16;

/// What identifies one connection: where, as whom, which database (not the timeouts).
#[derive(Clone)]
pub struct ServerKey(Endpoint);

impl ServerKey {
    /// The key of `endpoint`.
    pub fn of(endpoint: &Endpoint) -> ServerKey {
        ServerKey(endpoint.clone())
    }

    fn parts(&self) -> (&Address, &Option<String>, &Option<String>, i64) {
        let e = &self.0;
        (&e.address, &e.username, &e.password, e.database)
    }
}

impl PartialEq for ServerKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for ServerKey {}

impl Hash for ServerKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

/// What a command's reply proves when it had to be sent a second time, because the connection
/// broke after the first send (which may or may not have taken effect).
pub enum Resend<R> {
    /// The command is idempotent: the second reply is the truth.
    Safe,
    /// The second reply is the truth only when this says so; otherwise the outcome is unknown and
    /// the call fails with a connection error naming `what`.
    ProvesOnly(fn(&R) -> bool, &'static str),
}

impl<R> Clone for Resend<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Resend<R> {}

/// The shared state of one server.
pub struct Shared {
    server: ServerKey,
    conn: Mutex<Option<Connection>>,
    /// Set once the server has shown it does not know `SET ... NX GET` (Redis < 7.0).
    legacy_set: AtomicBool,
    /// The server's configuration epoch as its topology learned it (a Sentinel master's), or 0.
    epoch: AtomicU64,
    /// A Redis Cluster node: fenced scripts read its epoch on the node.
    cluster_node: AtomicBool,
}

fn registry() -> MutexGuard<'static, HashMap<ServerKey, Arc<Shared>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<ServerKey, Arc<Shared>>>> = OnceLock::new();
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The shared state for `endpoint`'s server, created on first use. No I/O.
pub fn shared(endpoint: &Endpoint) -> Arc<Shared> {
    let key = ServerKey(endpoint.clone());
    let mut map = registry();
    if let Some(existing) = map.get(&key) {
        return Arc::clone(existing);
    }
    if map.len() >= IDLE_LIMIT {
        // Only the registry holds these: no object uses them.
        map.retain(|_, shared| Arc::strong_count(shared) > 1);
    }
    let created = private(endpoint);
    map.insert(key, Arc::clone(&created));
    created
}

/// State with a connection of its own, not shared through the registry (for a background
/// thread, or a test that needs several clients in one process). No I/O.
pub fn private(endpoint: &Endpoint) -> Arc<Shared> {
    Arc::new(Shared {
        server: ServerKey(endpoint.clone()),
        conn: Mutex::new(None),
        legacy_set: AtomicBool::new(false),
        epoch: AtomicU64::new(0),
        cluster_node: AtomicBool::new(false),
    })
}

/// Forgets every server and closes this process's connections (module shutdown). Lockers
/// still alive keep their own state.
pub fn shutdown() {
    drop(std::mem::take(&mut *registry()));
}

/// A snapshot of the registry for `phpinfo()` and tests: each server's safe description and
/// whether this process has an open connection to it.
pub fn describe_all() -> Vec<(String, bool)> {
    let pid = crate::lock::net::pid::current();
    let mut rows: Vec<(String, bool)> = registry()
        .values()
        .map(|s| (s.server.0.describe(), s.is_connected(pid)))
        .collect();
    rows.sort();
    rows
}

/// How many connections of the registry are open in this process (for tests).
pub fn open_connections() -> usize {
    let pid = crate::lock::net::pid::current();
    registry().values().filter(|s| s.is_connected(pid)).count()
}

impl Shared {
    /// The server this state belongs to (its timeouts are those of the first user; calls bring
    /// their own).
    pub fn endpoint(&self) -> &Endpoint {
        &self.server.0
    }

    /// The identity of the server (for maps keyed by connection).
    pub fn key(&self) -> &ServerKey {
        &self.server
    }

    fn slot(&self) -> MutexGuard<'_, Option<Connection>> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_connected(&self, pid: u32) -> bool {
        self.slot().as_ref().is_some_and(|c| c.pid() == pid)
    }

    /// Whether this process has a connection open here (not checked for liveness).
    pub fn has_connection(&self) -> bool {
        self.is_connected(crate::lock::net::pid::current())
    }

    /// Whether `SET key value NX GET` must be replaced by a script on this server.
    pub fn legacy_set(&self) -> bool {
        self.legacy_set.load(Ordering::Relaxed)
    }

    /// Remembers that this server rejects `SET ... NX GET`.
    pub fn set_legacy_set(&self) {
        self.legacy_set.store(true, Ordering::Relaxed);
    }

    /// Raises the configuration epoch its connections report (see [`Connection::epoch`]).
    pub fn raise_epoch(&self, epoch: u64) {
        self.epoch.fetch_max(epoch, Ordering::Relaxed);
    }

    /// Marks the server as a Redis Cluster node (see [`Connection::epoch`]).
    pub fn set_cluster_node(&self) {
        self.cluster_node.store(true, Ordering::Relaxed);
    }

    fn open(&self, timeouts: Timeouts) -> Result<Connection> {
        let mut conn = Connection::open(&self.server.0, timeouts)?;
        if self.cluster_node.load(Ordering::Relaxed) {
            conn.set_cluster_node();
        }
        Ok(conn)
    }

    /// Runs `op` on this process's connection with `timeouts`, connecting first if needed. See
    /// the module docs for when the connection is dropped and when `op` runs a second time.
    pub fn run<R>(
        &self,
        timeouts: Timeouts,
        resend: Resend<R>,
        mut op: impl FnMut(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        let mut slot = self.slot();
        let pid = crate::lock::net::pid::current();
        // The pid first: a forked child must not even check its parent's socket (over TLS the
        // check reads the records waiting there).
        let reused = slot
            .as_mut()
            .is_some_and(|conn| conn.pid() == pid && conn.is_reusable());
        if !reused {
            // None, closed by the server, or inherited across fork: never talk over the
            // parent's socket (dropping it sends nothing, over TLS neither).
            *slot = None;
            *slot = Some(self.open(timeouts)?);
        }
        let conn = slot
            .as_mut()
            .expect("connection was just checked or opened");
        conn.set_read_timeout(timeouts.read);
        conn.raise_epoch(self.epoch.load(Ordering::Relaxed));
        match op(conn) {
            Ok(r) => Ok(r),
            Err(e) if e.kind() == ErrorKind::Server => Err(e),
            Err(e) if reused && e.kind() == ErrorKind::Connection => {
                *slot = None;
                let fresh = slot.insert(self.open(timeouts)?);
                let result = op(fresh);
                if result
                    .as_ref()
                    .is_err_and(|e| e.kind() != ErrorKind::Server)
                {
                    *slot = None;
                }
                match (result, resend) {
                    (Ok(r), Resend::ProvesOnly(proves, what)) if !proves(&r) => {
                        Err(unknown_outcome(&e, what))
                    }
                    (result, _) => result,
                }
            }
            Err(e) => {
                *slot = None;
                Err(e)
            }
        }
    }
}

/// This process's connection to one server, held (locked) by one caller that writes a command
/// now and reads its reply later, beside other servers' (a quorum's fan-out,
/// [`crate::lock::quorum`]). Nothing is ever resent on it: a reply that does not come by the
/// caller's deadline is an unknown outcome, and the caller must [`Checkout::discard`] the
/// connection, so that the late reply is never read as the answer to a later command.
pub struct Checkout<'a> {
    slot: MutexGuard<'a, Option<Connection>>,
}

impl Checkout<'_> {
    /// The connection.
    pub fn conn(&mut self) -> &mut Connection {
        self.slot
            .as_mut()
            .expect("a checkout holds a connection until discarded")
    }

    /// Drops the connection (a command is unanswered on it, or it failed): the next user opens
    /// a fresh one.
    pub fn discard(&mut self) {
        *self.slot = None;
    }

    /// Whether [`Checkout::discard`] was called.
    pub fn is_discarded(&self) -> bool {
        self.slot.is_none()
    }
}

impl Shared {
    /// Locks this process's connection for one caller, connecting first if needed (by the same
    /// rules as [`Shared::run`]: never a forked parent's socket, never one the server closed),
    /// with `timeouts`.
    pub fn checkout(&self, timeouts: Timeouts) -> Result<Checkout<'_>> {
        let mut slot = self.slot();
        let pid = crate::lock::net::pid::current();
        let reused = slot
            .as_mut()
            .is_some_and(|conn| conn.pid() == pid && conn.is_reusable());
        if !reused {
            *slot = None;
            *slot = Some(self.open(timeouts)?);
        }
        let conn = slot
            .as_mut()
            .expect("connection was just checked or opened");
        conn.set_read_timeout(timeouts.read);
        conn.raise_epoch(self.epoch.load(Ordering::Relaxed));
        Ok(Checkout { slot })
    }

    /// Opens this process's connection when it has none it may use (by the rules of
    /// [`Shared::checkout`], with `timeouts`), and sends no command: a quorum's fan-out connects
    /// the members that need it at the same time ([`crate::lock::quorum::fanout`]), each on
    /// its own thread, then checks each one out.
    pub fn connect(&self, timeouts: Timeouts) -> Result<()> {
        self.checkout(timeouts).map(drop)
    }
}

/// The error of a command sent twice whose second reply does not prove what the first did.
pub fn unknown_outcome(first: &Error, what: &str) -> Error {
    Error::new(
        ErrorKind::Connection,
        format!(
            "{}; sent again on a new connection, it found nothing left to do, so whether the \
             first {what} took effect is unknown",
            first.detail()
        ),
    )
}
