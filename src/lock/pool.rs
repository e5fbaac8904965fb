//! One connection per endpoint per process, shared by every `RedisLock` built with that DSN and
//! kept across PHP requests.
//!
//! Rules enforced here, and nowhere else:
//! - The first command connects; building a lock does no I/O.
//! - A connection opened by another process (we are a `pcntl_fork()` child, or an FPM worker
//!   forked after the master connected) is never used: the child opens its own. Dropping the
//!   inherited socket only closes the child's copy of the descriptor; the parent's connection
//!   is untouched.
//! - After a timeout, a lost connection or a protocol error the connection is dropped.
//! - When a *reused* connection turns out to be dead (the server restarted, or closed an idle
//!   client), the command is sent once more on a fresh connection. Every command the engine
//!   sends is safe to repeat with the same arguments (see `Locker`), so this resolves to the
//!   truth instead of reporting a stale socket as an error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use super::config::Endpoint;
use super::conn::Connection;
use super::error::{ErrorKind, Result};

/// The shared state of one endpoint.
pub struct Shared {
    endpoint: Endpoint,
    conn: Mutex<Option<Connection>>,
    /// Set once the server has shown it does not know `SET ... NX GET` (Redis < 7.0).
    legacy_set: AtomicBool,
}

fn registry() -> MutexGuard<'static, HashMap<Endpoint, Arc<Shared>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<Endpoint, Arc<Shared>>>> = OnceLock::new();
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The shared state for `endpoint`, created on first use. No I/O.
pub fn shared(endpoint: Endpoint) -> Arc<Shared> {
    let mut map = registry();
    if let Some(existing) = map.get(&endpoint) {
        return Arc::clone(existing);
    }
    let created = private(endpoint.clone());
    map.insert(endpoint, Arc::clone(&created));
    created
}

/// State with a connection of its own, not shared through the registry (for a background
/// thread, or a test that needs several clients in one process). No I/O.
pub fn private(endpoint: Endpoint) -> Arc<Shared> {
    Arc::new(Shared {
        endpoint,
        conn: Mutex::new(None),
        legacy_set: AtomicBool::new(false),
    })
}

/// Forgets every endpoint and closes this process's connections (module shutdown). Lockers
/// still alive keep their own endpoint state.
pub fn shutdown() {
    drop(std::mem::take(&mut *registry()));
}

/// A snapshot of the registry for `phpinfo()` and tests: each endpoint's safe description and
/// whether this process has an open connection to it.
pub fn describe_all() -> Vec<(String, bool)> {
    let pid = std::process::id();
    let mut rows: Vec<(String, bool)> = registry()
        .values()
        .map(|s| (s.endpoint.describe(), s.is_connected(pid)))
        .collect();
    rows.sort();
    rows
}

impl Shared {
    /// The endpoint this state belongs to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn slot(&self) -> MutexGuard<'_, Option<Connection>> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_connected(&self, pid: u32) -> bool {
        self.slot().as_ref().is_some_and(|c| c.pid() == pid)
    }

    /// Whether `SET key value NX GET` must be replaced by a script on this server.
    pub fn legacy_set(&self) -> bool {
        self.legacy_set.load(Ordering::Relaxed)
    }

    /// Remembers that this server rejects `SET ... NX GET`.
    pub fn set_legacy_set(&self) {
        self.legacy_set.store(true, Ordering::Relaxed);
    }

    /// Runs `op` on this process's connection, connecting first if needed. See the module docs
    /// for when the connection is dropped and when `op` runs a second time.
    pub fn run<R>(&self, mut op: impl FnMut(&mut Connection) -> Result<R>) -> Result<R> {
        let mut slot = self.slot();
        let pid = std::process::id();
        let reused = match slot.as_ref() {
            Some(conn) if conn.pid() == pid => true,
            _ => {
                // Either none, or inherited across fork: never talk over the parent's socket.
                *slot = None;
                *slot = Some(Connection::open(&self.endpoint)?);
                false
            }
        };
        let conn = slot
            .as_mut()
            .expect("connection was just checked or opened");
        match op(conn) {
            Ok(r) => Ok(r),
            Err(e) if e.kind() == ErrorKind::Server => Err(e),
            Err(e) if reused && e.kind() == ErrorKind::Connection => {
                *slot = None;
                let fresh = slot.insert(Connection::open(&self.endpoint)?);
                let result = op(fresh);
                if result
                    .as_ref()
                    .is_err_and(|e| e.kind() != ErrorKind::Server)
                {
                    *slot = None;
                }
                result
            }
            Err(e) => {
                *slot = None;
                Err(e)
            }
        }
    }
}
