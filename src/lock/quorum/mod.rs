//! A Redlock quorum: one lock over N independent deployments (members), held while a majority
//! of them hold it, as in the Redlock algorithm (<https://redis.io/docs/latest/develop/use/patterns/distributed-locks/>).
//!
//! - A member is an ordinary [`Topology`] (one server, a Sentinel master, a cluster): the
//!   quorum is a composition of them, each with its own connections and rules.
//! - Every operation fans out ([`fanout`]): the command is written to every member's
//!   connection first, then the replies are collected as they arrive (`poll(2)` over the
//!   sockets, after what is already buffered in a connection or its TLS layer) under one
//!   deadline. No thread is spawned, but to connect two or more members at once (see below),
//!   on threads joined within the call. A member that has not answered by the deadline has its
//!   connection dropped, so that its late reply is never read as the answer to a later command;
//!   its outcome is *unknown* (it may have run the command).
//! - Acquire ([`ops`]): granted by a majority within the *validity time*: TTL − elapsed −
//!   clock drift, the drift allowance being TTL × 1 % + 2 ms as Redlock reckons it. Anything
//!   less (no majority, or the majority came too late) releases the lock on every member that
//!   granted it or whose outcome is unknown. A TTL no longer than its drift allowance is
//!   refused before any I/O.
//! - Failures name their servers: when failures decide the outcome (the members that answered
//!   cannot make or refuse a majority on their own) the call fails with the failed members'
//!   errors, never a silent `false`. A `false` means the lock is held by someone else on enough
//!   members that no majority was possible.
//! - Queries take the majority: a lock is locked when a majority of members hold it; its TTL
//!   is the largest TTL a majority still has (the majority-th largest), the time until fewer
//!   than a majority hold it.
//! - Leases ([`lease`]): extend and renewals need a majority within the validity time, and a
//!   lease is lost once a majority no longer has its token. No fencing token: a fence needs one
//!   authority that orders all holders, which independent servers are not (Kleppmann's
//!   critique of Redlock): `fence()` on a quorum lease is an error, as are shared leases and
//!   the `replicas` option.
//! - Members without an open connection are connected after the others' commands went out
//!   (their replies wait in the kernel, and are collected with the rest), at the same time
//!   (one scoped thread each, joined before their commands go out), each connect
//!   with half the time left (at most the connect timeout); one that
//!   used up its share (a host that drops packets), or that did not answer by a deadline (a
//!   stopped or overloaded server), is left out for [`CONNECT_BACKOFF`]: meanwhile it counts as
//!   failed at once, so one unreachable or stalled server does not cost every call a deadline
//!   (the same reason a single server's quiet releases have a breaker).
//! - Waits retry with a random pause (20 to 80 ms) until their deadline: there is no FIFO queue
//!   across independent servers.

pub mod fanout;
pub mod lease;
pub mod ops;

use std::time::Duration;

use crate::lock::error::{Error, ErrorKind};
use crate::lock::options::Endpoint;
use crate::lock::topology::{Topology, TopologyKey};

pub use fanout::Outcome;

/// One member: a deployment and its masked DSN (for messages).
pub struct Member {
    /// Where its commands go.
    pub topology: Topology,
    /// Its DSN, user name and password masked.
    pub name: String,
    /// After a connect that used up its whole time (a host that drops packets): until when
    /// no new connect is tried, and the error to report meanwhile.
    pub(crate) backoff: std::sync::Mutex<Option<(std::time::Instant, Error)>>,
}

/// A quorum of independent deployments.
pub struct Quorum {
    members: Vec<Member>,
}

impl Quorum {
    /// A quorum of `members` (deployment, masked DSN). No I/O.
    pub fn new(members: Vec<(Topology, String)>) -> Quorum {
        Quorum {
            members: members
                .into_iter()
                .map(|(topology, name)| Member {
                    topology,
                    name,
                    backoff: std::sync::Mutex::new(None),
                })
                .collect(),
        }
    }

    /// The same members over connections of their own (for a background thread). No I/O.
    pub fn detached(&self) -> Quorum {
        Quorum {
            members: self
                .members
                .iter()
                .map(|m| Member {
                    topology: m.topology.detached(),
                    name: m.name.clone(),
                    backoff: std::sync::Mutex::new(None),
                })
                .collect(),
        }
    }

    /// The members.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// What identifies each member.
    pub fn keys(&self) -> Vec<TopologyKey> {
        self.members.iter().map(|m| m.topology.key()).collect()
    }

    /// The first member's endpoint.
    pub fn first_endpoint(&self) -> &Endpoint {
        self.members[0].topology.endpoint()
    }

    /// How many members must agree: more than half.
    pub fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }
}

/// The most members a quorum may have (a quorum is 3, 5 or 7 servers; the fan-out keeps its
/// per-member state on the stack).
pub const MAX_MEMBERS: usize = 64;

/// How long a member whose connect timed out, or that did not answer by a deadline, is left
/// out (counted as failed at once).
pub const CONNECT_BACKOFF: Duration = Duration::from_secs(1);

/// Redlock's clock drift allowance for a TTL of `ttl_ms`: 1 % of it plus 2 ms.
pub fn drift(ttl_ms: u64) -> Duration {
    Duration::from_micros(ttl_ms.saturating_mul(10).saturating_add(2000))
}

/// The error of an operation with no quorum form reaching a quorum's [`Topology::run`] (a bug:
/// every operation a quorum supports asks [`Topology::as_quorum`] first).
#[cold]
pub fn not_on_quorum() -> Error {
    Error::new(
        ErrorKind::Unsupported,
        "this operation is not available on a quorum of independent servers",
    )
}

/// The error of an operation refused on a quorum, saying why.
#[cold]
pub fn unsupported(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unsupported, message)
}
