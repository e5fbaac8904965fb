//! [`Lease`]: the handle on a lease that the PHP object owns. Creating one registers the lease
//! for release at request end and, for a watchdog lease, with the watchdog; dropping it
//! releases the lease (in the owning process only).

use std::sync::Arc;

use crate::lock::error::Result;
use crate::lock::lease::state::{Grant, LeaseState, release_quietly};
use crate::lock::lease::{request, watchdog};

/// A handle on a lease. Dropping it releases the lease (in the owning process only).
pub struct Lease {
    state: Arc<LeaseState>,
}

impl Lease {
    /// Wraps a freshly acquired (or restored) lease, registers it for release at request end
    /// and, for a watchdog lease, with the watchdog. If the watchdog cannot start, the error is
    /// returned (and the lease, dropped, is released).
    pub fn new(grant: Grant) -> Result<Lease> {
        Lease::adopt(LeaseState::new(grant))
    }

    /// [`Lease::new`] for a state made with [`LeaseState::new`] and not registered yet.
    pub fn adopt(state: LeaseState) -> Result<Lease> {
        let state = Arc::new(state);
        request::register(&state);
        let lease = Lease { state };
        if lease.state.grant.watchdog {
            watchdog::register(Arc::clone(&lease.state))?;
        }
        Ok(lease)
    }

    /// The shared state (for the watchdog, `synchronized` and tests).
    pub fn state(&self) -> &Arc<LeaseState> {
        &self.state
    }
}

impl std::ops::Deref for Lease {
    type Target = LeaseState;

    fn deref(&self) -> &LeaseState {
        &self.state
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        release_quietly(&self.state);
    }
}
