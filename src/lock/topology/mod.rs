//! Where commands go: the one seam every deployment shape plugs into.
//!
//! An operation (acquire, a lease script, a wait, a renewal batch) says which hash slot its
//! keys live in ([`Route`]) and hands over a closure that talks to one connection. The
//! [`Topology`] picks the connection for that slot and applies its rules (for a single server:
//! the registry's reconnect and resend rules of [`crate::lock::net::registry`]). No operation
//! asks which shape it runs on: a new shape (Sentinel, Cluster, in-memory) is a new variant of
//! [`Shape`] here and a module beside [`single`], and nothing else changes.

pub mod cluster;
pub mod sentinel;
pub mod single;

use std::sync::Arc;

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::keys::slot_of;
use crate::lock::memory::{Direct, DirectError};
use crate::lock::net::connection::{Connection, Timeouts};
use crate::lock::net::registry::{self, Resend, ServerKey, Shared};
use crate::lock::options::{Address, Endpoint, SentinelAddress};
use crate::lock::quorum::Quorum;

pub use cluster::Cluster;
pub use sentinel::Sentinel;
pub use single::Single;

/// Which hash slot an operation's keys live in. Computed only by shapes that route by slot,
/// so a single server never hashes a key.
#[derive(Clone, Copy)]
pub enum Route<'a> {
    /// The slot is known (a lease's keys carry it).
    Slot(u16),
    /// The slot of `prefix + key`, computed on demand.
    Key(&'a [u8], &'a [u8]),
}

impl Route<'_> {
    /// The hash slot.
    pub fn slot(&self) -> u16 {
        match *self {
            Route::Slot(slot) => slot,
            Route::Key(prefix, key) => slot_of(prefix, key),
        }
    }
}

/// The deployment shapes.
enum Shape {
    Single(Single),
    Sentinel(Box<Sentinel>),
    Cluster(Box<Cluster>),
    /// An in-process `memory://` space: a single server reached through a [`crate::lock::memory::Link`],
    /// plus direct calls for the documents' two hot operations.
    Memory(Single, Direct),
    /// A Redlock quorum of independent deployments ([`crate::lock::quorum`]): its operations
    /// fan out to every member through [`Topology::quorum`], never through [`Topology::run`].
    Quorum(Box<Quorum>),
}

/// A deployment: where each slot's commands go, and over which connections.
pub struct Topology {
    shape: Shape,
}

/// What identifies a deployment (equal keys: same servers, credentials and database), for maps
/// of connections such as the watchdog's.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum TopologyKey {
    /// One server.
    Single(ServerKey),
    /// A master behind Sentinel, and the master's credentials and database.
    Sentinel(SentinelAddress, ServerKey),
    /// A cluster: its seeds, credentials (and TLS settings).
    Cluster(ServerKey),
    /// A quorum: its members' keys, in order.
    Quorum(Vec<TopologyKey>),
}

impl Topology {
    /// One server, over the connection state `shared`.
    pub fn single(shared: Arc<Shared>) -> Topology {
        Topology {
            shape: Shape::Single(Single::new(shared)),
        }
    }

    /// The deployment `endpoint` describes: a master behind Sentinel, or one server (over the
    /// process registry's connection, or one of its own when `private`). No I/O.
    pub fn for_endpoint(endpoint: &Endpoint, private: bool) -> Topology {
        let shape = match &endpoint.address {
            Address::Sentinel(address) => {
                Shape::Sentinel(Box::new(Sentinel::new(address.clone(), endpoint, private)))
            }
            Address::Cluster(address) => {
                Shape::Cluster(Box::new(Cluster::new(address.clone(), endpoint, private)))
            }
            Address::Memory(name) => {
                let single = if private {
                    Single::new(registry::private(endpoint))
                } else {
                    Single::new(registry::shared(endpoint))
                };
                Shape::Memory(single, Direct::new(name))
            }
            _ if private => Shape::Single(Single::new(registry::private(endpoint))),
            _ => Shape::Single(Single::new(registry::shared(endpoint))),
        };
        Topology { shape }
    }

    /// A Redlock quorum of `members` (each with its masked DSN), each over the process
    /// registry's connections, or connections of its own when `private`. No I/O.
    pub fn quorum(members: &[(Endpoint, String)], private: bool) -> Topology {
        let members = members
            .iter()
            .map(|(endpoint, name)| (Topology::for_endpoint(endpoint, private), name.clone()))
            .collect();
        Topology {
            shape: Shape::Quorum(Box::new(Quorum::new(members))),
        }
    }

    /// The quorum, when this deployment is one. The operations that a quorum runs differently
    /// (by fan-out and majority) ask this once, at their top.
    pub fn as_quorum(&self) -> Option<&Quorum> {
        match &self.shape {
            Shape::Quorum(q) => Some(q),
            _ => None,
        }
    }

    /// The connection state of the server that serves `route` now, when it is known without
    /// I/O (one server; Sentinel's confirmed master; the cluster map's master of the slot):
    /// what a quorum's fan-out writes to directly. `None`: go through [`Topology::run`].
    pub fn known_node(&self, route: Route<'_>) -> Option<Arc<Shared>> {
        match &self.shape {
            Shape::Single(s) => Some(Arc::clone(s.shared())),
            Shape::Sentinel(s) => s.cached_master(),
            Shape::Cluster(c) => c.cached_master(route.slot()),
            Shape::Memory(..) | Shape::Quorum(_) => None,
        }
    }

    /// The same deployment over connections of its own, shared with nobody (for a background
    /// thread). No I/O.
    pub fn detached(&self) -> Topology {
        match &self.shape {
            Shape::Quorum(q) => Topology {
                shape: Shape::Quorum(Box::new(q.detached())),
            },
            Shape::Single(s) => Topology {
                shape: Shape::Single(s.detached()),
            },
            Shape::Sentinel(s) => Topology {
                shape: Shape::Sentinel(Box::new(s.detached())),
            },
            Shape::Cluster(c) => Topology {
                shape: Shape::Cluster(Box::new(c.detached())),
            },
            Shape::Memory(s, _) => Topology::for_endpoint(s.shared().endpoint(), true),
        }
    }

    /// What identifies this deployment.
    pub fn key(&self) -> TopologyKey {
        match &self.shape {
            Shape::Single(s) | Shape::Memory(s, _) => TopologyKey::Single(s.shared().key().clone()),
            Shape::Sentinel(s) => {
                TopologyKey::Sentinel(s.address().clone(), ServerKey::of(s.endpoint()))
            }
            Shape::Cluster(c) => TopologyKey::Cluster(ServerKey::of(c.endpoint())),
            Shape::Quorum(q) => TopologyKey::Quorum(q.keys()),
        }
    }

    /// The server (for a single server) this deployment was configured with: its address,
    /// user and database, never its password.
    pub fn endpoint(&self) -> &Endpoint {
        match &self.shape {
            Shape::Single(s) | Shape::Memory(s, _) => s.shared().endpoint(),
            Shape::Sentinel(s) => s.endpoint(),
            Shape::Cluster(c) => c.endpoint(),
            Shape::Quorum(q) => q.first_endpoint(),
        }
    }

    /// Identifies the connection that serves `route` (two equal ids: one connection), for
    /// grouping work by connection.
    pub fn connection_id(&self, route: Route<'_>) -> *const () {
        match &self.shape {
            Shape::Single(s) | Shape::Memory(s, _) => {
                let _ = route;
                Arc::as_ptr(s.shared()).cast()
            }
            Shape::Sentinel(s) => s.connection_id(),
            Shape::Cluster(c) => c.connection_id(route.slot()),
            Shape::Quorum(q) => (&**q as *const Quorum).cast(),
        }
    }

    /// Whether the server that serves `route` lacks `SET key value NX GET` (Redis < 7.0).
    pub fn legacy_set(&self, route: Route<'_>) -> bool {
        match &self.shape {
            Shape::Single(s) | Shape::Memory(s, _) => {
                let _ = route;
                s.shared().legacy_set()
            }
            Shape::Sentinel(s) => s.legacy_set(),
            Shape::Cluster(c) => c.legacy_set(),
            Shape::Quorum(_) => false,
        }
    }

    /// Remembers that the server that serves `route` rejects `SET ... NX GET`.
    pub fn set_legacy_set(&self, route: Route<'_>) {
        match &self.shape {
            Shape::Single(s) | Shape::Memory(s, _) => {
                let _ = route;
                s.shared().set_legacy_set()
            }
            Shape::Sentinel(s) => s.set_legacy_set(),
            Shape::Cluster(c) => c.set_legacy_set(),
            Shape::Quorum(_) => {}
        }
    }

    /// Which runs of consecutive keys, given their hash slots in order, one script may touch
    /// together (a multi-key lock takes each run in one script call, see
    /// [`crate::lock::scripts::many`]): one run of all of them on a single server (and
    /// behind Sentinel, and on `memory://`); on a Redis Cluster, one run per slot (a script's
    /// keys must share a slot there); on a quorum, each key alone. Returned as ranges of
    /// indexes into `slots`, in order, covering it; empty for no keys.
    pub fn atomic_groups(&self, slots: &[u16]) -> Vec<std::ops::Range<usize>> {
        if slots.is_empty() {
            return Vec::new();
        }
        match &self.shape {
            Shape::Single(_) | Shape::Memory(..) | Shape::Sentinel(_) => {
                std::iter::once(0..slots.len()).collect()
            }
            // No script reaches the members together (and `lockMany` is refused there).
            Shape::Quorum(_) => (0..slots.len()).map(|i| i..i + 1).collect(),
            Shape::Cluster(_) => {
                let mut groups = Vec::new();
                let mut start = 0;
                for i in 1..=slots.len() {
                    if i == slots.len() || slots[i] != slots[start] {
                        groups.push(start..i);
                        start = i;
                    }
                }
                groups
            }
        }
    }

    /// Runs `op` on the connection that serves `route`, with `timeouts`; a resent reply proves
    /// what `resend` says (see [`crate::lock::net::registry`]).
    pub fn run<R>(
        &self,
        route: Route<'_>,
        timeouts: Timeouts,
        resend: Resend<R>,
        op: impl FnMut(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        match &self.shape {
            Shape::Single(s) | Shape::Memory(s, _) => {
                let _ = route;
                s.shared()
                    .run(timeouts, resend, op)
                    .map_err(single::cluster_hint)
            }
            Shape::Sentinel(s) => s.run(timeouts, resend, op),
            Shape::Cluster(c) => c.run(route.slot(), timeouts, resend, op),
            Shape::Quorum(_) => Err(crate::lock::quorum::not_on_quorum()),
        }
    }
}

impl Topology {
    /// Whether the documents' operations have a direct call here (`direct_acquire`,
    /// `direct_release`), so that building their arguments is worth it.
    pub fn has_direct(&self) -> bool {
        matches!(self.shape, Shape::Memory(..))
    }

    /// The documents' acquire (`SET key value NX GET PX ms`, refreshing the TTL when `value`
    /// already holds it) by a direct call, for shapes that have one (`memory://`); `None`:
    /// send the command.
    pub fn direct_acquire(&self, key: &[u8], value: &[u8], ms: u64) -> Option<Result<bool>> {
        match &self.shape {
            Shape::Memory(single, direct) => Some(
                direct
                    .acquire(key, value, ms.min(i64::MAX as u64) as i64)
                    .map_err(|e| direct_error(e, single)),
            ),
            _ => None,
        }
    }

    /// The documents' release (compare-and-delete of `key` and its `fence_key`) by a direct
    /// call, for shapes that have one; `None`: run the script.
    pub fn direct_release(
        &self,
        key: &[u8],
        fence_key: &[u8],
        value: &[u8],
    ) -> Option<Result<bool>> {
        match &self.shape {
            Shape::Memory(single, direct) => Some(
                direct
                    .release(key, fence_key, value)
                    .map_err(|e| direct_error(e, single)),
            ),
            _ => None,
        }
    }
}

/// The error of a direct call, named as the same error sent as a command would be (an error
/// reply names its node, `memory://NAME`).
fn direct_error(e: DirectError, single: &Single) -> Error {
    match e {
        DirectError::Foreign(message) => Error::new(ErrorKind::Refused, message),
        DirectError::Server(message) => {
            Error::server(message, single.shared().endpoint().describe())
        }
    }
}

/// A deployment plus the timeouts of the `RedisLock` that uses it: what every operation runs
/// on. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    topology: Arc<Topology>,
    timeouts: Timeouts,
}

impl Client {
    /// A client of `topology` with `timeouts`.
    pub fn new(topology: Arc<Topology>, timeouts: Timeouts) -> Client {
        Client { topology, timeouts }
    }

    /// The deployment.
    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    /// Identifies the connection that serves `route` (see [`Topology::connection_id`]).
    pub fn connection_id(&self, route: Route<'_>) -> *const () {
        self.topology.connection_id(route)
    }

    /// This client's timeouts.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The same deployment with other timeouts.
    pub fn with_timeouts(&self, timeouts: Timeouts) -> Client {
        Client {
            topology: Arc::clone(&self.topology),
            timeouts,
        }
    }

    /// Runs an idempotent operation on the connection that serves `route`.
    pub fn run<R>(
        &self,
        route: Route<'_>,
        op: impl FnMut(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        self.topology.run(route, self.timeouts, Resend::Safe, op)
    }

    /// Runs an operation whose resent reply proves only what `resend` says.
    pub fn run_once<R>(
        &self,
        route: Route<'_>,
        resend: Resend<R>,
        op: impl FnMut(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        self.topology.run(route, self.timeouts, resend, op)
    }
}
