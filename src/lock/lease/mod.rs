//! Leases: a held lock with its token and fencing token.
//!
//! - [`state`]: what an acquisition granted, a lease's status, and the owner-checked release
//!   and extend.
//! - [`waiting`]: taking a lease, with the fair FIFO wait and its hand-over protocol.
//! - [`watchdog`]: the background thread that renews watchdog leases.
//! - [`request`]: the leases of the current PHP request, released together at its end.
//! - [`handle`]: [`handle::Lease`], the handle that ties a lease to the three above.
//! - [`many`]: multi-key locks ([`many::MultiLease`]), all or none over several keys.

pub mod handle;
pub mod many;
pub mod request;
pub mod state;
pub mod waiting;
pub mod watchdog;

use std::time::Duration;

pub use handle::Lease;
pub use many::MultiLease;
pub use state::{Grant, Kind, LeaseState, Status};

/// How often a waiter refreshes its place in the queue.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long a waiter keeps its place without a heartbeat.
pub const ALIVE_WINDOW: Duration = Duration::from_millis(2000);
/// How long a lock handed over to a waiter stays its own before the waiter claims it (extends
/// it to its TTL). Locks with a shorter TTL are handed over with their TTL and need no claim.
pub const CLAIM_WINDOW: Duration = ALIVE_WINDOW;
/// How long a waiter that gave up after a fault stays refused (its commands stuck in a stalled
/// server run as soon as it resumes).
pub const TOMBSTONE: Duration = Duration::from_secs(30);
