//! Release at request end: every lease this thread acquired and still holds is released when
//! the PHP request ends (after a normal return, an uncaught exception, `exit()` or a fatal
//! error), within one deadline for all of them.
//!
//! - Registration is O(1) (amortised): a list of weak references, pruned of finished leases
//!   whenever it has doubled since the last pruning.
//! - At request end the releases of leases sharing a connection go out in one pipeline; the
//!   whole request end waits at most about one `readTimeout` (the longest among the leases) plus
//!   one connect. On the first connection or timeout failure it stops: the leases not released
//!   are *abandoned* (left to their TTL, never tried again, not renewed by the watchdog), so
//!   a stalled Redis costs the request one timeout, not two per lease.
//! - Leases PHP frees before the request-end hook (globals, the locals of frames an uncaught
//!   exception unwinds) are released one by one as they are dropped; a failed one opens the
//!   connection's breaker ([`crate::lock::lease::state::release_quietly`]), so those cost one timeout in all
//!   too, and the hook then abandons what is left on that connection at once.
//! - Leases inherited from a parent process (`pcntl_fork()`) are left alone.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::lock::error::Result;
use crate::lock::lease::state::{
    LeaseState, Status, breaker_is_open, by_connection, claim_window_arg, open_breaker, unexpected,
};
use crate::lock::net::connection::Timeouts;
use crate::lock::net::registry::Resend;
use crate::lock::scripts::int_reply;
use crate::lock::scripts::lease::LEASE_RELEASE_SCRIPT;
use crate::lock::topology::{Client, Route};

struct Registry {
    leases: Vec<Weak<LeaseState>>,
    /// Prune when the list reaches this length.
    prune_at: usize,
}

thread_local! {
    /// Leases acquired by this thread (PHP runs requests on one thread). Thread-local: no lock
    /// to inherit mid-update across `fork()`.
    static REQUEST_LEASES: RefCell<Registry> = const {
        RefCell::new(Registry { leases: Vec::new(), prune_at: 64 })
    };
}

fn still_held(weak: &Weak<LeaseState>) -> bool {
    weak.upgrade().is_some_and(|s| s.status() == Status::Held)
}

/// Registers `state` for release at request end. O(1) amortised.
pub fn register(state: &Arc<LeaseState>) {
    REQUEST_LEASES.with_borrow_mut(|registry| {
        if registry.leases.len() >= registry.prune_at {
            registry.leases.retain(still_held);
            registry.prune_at = (registry.leases.len() * 2).max(64);
        }
        registry.leases.push(Arc::downgrade(state));
    });
}

/// How many leases the request registry tracks (held or not yet pruned), for tests.
pub fn tracked() -> usize {
    REQUEST_LEASES.with_borrow(|registry| registry.leases.len())
}

/// Releases every lease this thread still holds (PHP: request shutdown). Returns how many were
/// released. See the module docs for the deadline.
pub fn release_request_leases() -> usize {
    let taken = REQUEST_LEASES.with_borrow_mut(|registry| {
        registry.prune_at = 64;
        std::mem::take(&mut registry.leases)
    });
    let (unsure, held): (Vec<Arc<LeaseState>>, Vec<Arc<LeaseState>>) = taken
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|s| s.is_owner_process() && s.status() == Status::Held)
        .partition(|s| s.grant.unsure || s.quorum().is_some());
    // Rare (their wait met a fault): released one by one, with their tombstones. A quorum's
    // leases too: each release fans out to the quorum's members.
    for state in &unsure {
        crate::lock::lease::state::release_quietly(state);
    }
    let unsure_released = unsure
        .iter()
        .filter(|s| s.status() == Status::Released)
        .count();
    let Some(budget) = held.iter().map(|s| s.grant.client.timeouts().read).max() else {
        return unsure_released;
    };
    let deadline = Instant::now() + budget;
    let mut released = 0;
    let mut failed = false;
    for (client, leases) in by_connection(held) {
        let route = Route::Slot(leases[0].grant.keys.slot);
        let outcome = if failed || breaker_is_open(&client, route) {
            None
        } else {
            let outcome = release_all(&client, &leases, deadline).ok();
            if outcome.is_none() {
                open_breaker(&client, route);
            }
            outcome
        };
        match outcome {
            Some(results) => {
                for (state, result) in leases.iter().zip(results) {
                    let to = match result {
                        Ok(true) => Status::Released,
                        Ok(false) => Status::Lost,
                        // A Redis Cluster redirect (the slot moved, or is being migrated): the
                        // lease is released on its own, which follows it.
                        Err(e) if crate::lock::topology::cluster::redirect::parse(&e).is_some() => {
                            crate::lock::lease::state::release_quietly(state);
                            released += usize::from(state.status() == Status::Released);
                            continue;
                        }
                        Err(_) => Status::Abandoned,
                    };
                    released += usize::from(state.leave_held(to) && to == Status::Released);
                }
            }
            None => {
                failed = true;
                for state in &leases {
                    state.leave_held(Status::Abandoned);
                }
            }
        }
    }
    released + unsure_released
}

/// The release scripts of `leases` (all on `client`'s connection) in one pipeline, by
/// `deadline`.
fn release_all(
    client: &Client,
    leases: &[Arc<LeaseState>],
    deadline: Instant,
) -> Result<Vec<Result<bool>>> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        return Err(unexpected("release at request end"));
    }
    let timeouts = Timeouts {
        connect: client.timeouts().connect.min(left),
        read: left,
    };
    let claim = claim_window_arg();
    let permits: Vec<String> = leases.iter().map(|s| s.grant.permits_arg()).collect();
    let calls: Vec<_> = leases
        .iter()
        .zip(&permits)
        .map(|(state, permits)| state.release_call(claim.as_bytes(), permits.as_bytes()))
        .collect();
    let all_released = |results: &Vec<Result<bool>>| results.iter().all(|r| *r == Ok(true));
    client.with_timeouts(timeouts).run_once(
        Route::Slot(leases[0].grant.keys.slot),
        Resend::ProvesOnly(all_released, "release at request end"),
        |conn| {
            let replies = LEASE_RELEASE_SCRIPT.run_many(conn, &calls, deadline, int_reply)?;
            Ok(replies
                .into_iter()
                .map(|reply| match reply {
                    Ok(Some(n)) => Ok(n == 1),
                    Ok(None) => Err(unexpected("release")),
                    Err(e) => Err(e),
                })
                .collect())
        },
    )
}
