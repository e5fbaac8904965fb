//! The watchdog: one background thread per process that renews watchdog leases (taken without
//! a TTL) every third of their TTL, as Redisson's lock watchdog does.
//!
//! - It uses connections of its own (one per endpoint), never the PHP thread's.
//! - It never touches Zend: no zvals, no exceptions, no emalloc.
//! - A renewal that finds the lock gone marks the lease lost; the next call on it says so.
//!   When Redis cannot be reached it retries every second, and gives the lease up as lost
//!   once a whole TTL has passed without a successful renewal (the lock has expired by then).
//! - A lease older than the `maxLifetime` option is no longer renewed: it expires at its TTL,
//!   so a stuck worker cannot hold a lock forever.
//! - The thread starts with the first watchdog lease of a process. A `pcntl_fork()` child has
//!   no watchdog thread (threads do not survive fork) and never touches its parent's state; it
//!   starts its own if it takes a watchdog lease. [`shutdown`] stops and joins the thread; the
//!   extension calls it at module shutdown, before the library can be unloaded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::Endpoint;
use super::error::{Error, ErrorKind, Result};
use super::lease::{self, LeaseState, Status};
use super::pool::{self, Shared};

/// How soon to retry a renewal that failed for want of a connection.
const RETRY: Duration = Duration::from_secs(1);

struct Entry {
    state: Arc<LeaseState>,
    due: Instant,
    last_renewed: Instant,
    /// Past `maxLifetime`: kept out of renewal.
    retired: bool,
}

struct Inner {
    pid: u32,
    entries: Mutex<Vec<Entry>>,
    changed: Condvar,
    stop: AtomicBool,
}

struct Watchdog {
    inner: Arc<Inner>,
    thread: JoinHandle<()>,
}

static WATCHDOG: Mutex<Option<Watchdog>> = Mutex::new(None);

fn slot() -> MutexGuard<'static, Option<Watchdog>> {
    let mut slot = WATCHDOG.lock().unwrap_or_else(PoisonError::into_inner);
    if slot
        .as_ref()
        .is_some_and(|w| w.inner.pid != std::process::id())
    {
        // Inherited across fork: the thread does not exist here and its mutexes may be locked
        // forever. Touch nothing (not even its destructor).
        std::mem::forget(slot.take());
    }
    slot
}

fn lock_entries(inner: &Inner) -> MutexGuard<'_, Vec<Entry>> {
    inner.entries.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts renewing `state` (starting the thread if this process has none).
pub fn register(state: Arc<LeaseState>) -> Result<()> {
    let mut slot = slot();
    if slot.is_none() {
        let inner = Arc::new(Inner {
            pid: std::process::id(),
            entries: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let for_thread = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("redis-lock-watchdog".into())
            .spawn(move || run(&for_thread))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Connection,
                    format!("lock: cannot start the watchdog thread: {e}"),
                )
            })?;
        *slot = Some(Watchdog { inner, thread });
    }
    let inner = &slot.as_ref().expect("just started").inner;
    let now = Instant::now();
    lock_entries(inner).push(Entry {
        due: now + state.grant.ttl / 3,
        last_renewed: now,
        state,
        retired: false,
    });
    inner.changed.notify_one();
    Ok(())
}

/// How many leases the watchdog is renewing in this process (for tests and `phpinfo()`).
pub fn active() -> usize {
    slot().as_ref().map_or(0, |w| {
        lock_entries(&w.inner)
            .iter()
            .filter(|e| !e.retired && e.state.status() == Status::Held)
            .count()
    })
}

/// Stops and joins this process's watchdog thread, if any. Leases it was renewing keep their
/// TTL. Safe to call more than once.
pub fn shutdown() {
    let Some(watchdog) = slot().take() else {
        return;
    };
    watchdog.inner.stop.store(true, Ordering::Release);
    // Take the lock so the notification cannot slip in before the thread waits.
    drop(lock_entries(&watchdog.inner));
    watchdog.inner.changed.notify_all();
    let _ = watchdog.thread.join();
}

fn run(inner: &Inner) {
    let mut connections: HashMap<Endpoint, Arc<Shared>> = HashMap::new();
    while let Some(due) = next_due(inner) {
        for state in due {
            let outcome = renew(&mut connections, inner, &state);
            let mut entries = lock_entries(inner);
            if let Some(entry) = entries.iter_mut().find(|e| Arc::ptr_eq(&e.state, &state)) {
                let now = Instant::now();
                match outcome {
                    Renewal::Renewed => {
                        entry.last_renewed = now;
                        entry.due = now + state.grant.ttl / 3;
                    }
                    Renewal::RetrySoon => entry.due = now + RETRY.min(state.grant.ttl / 3),
                    Renewal::Stop => entry.retired = true,
                }
            }
        }
    }
}

/// Waits until some lease is due for renewal; `None` when the watchdog must stop.
fn next_due(inner: &Inner) -> Option<Vec<Arc<LeaseState>>> {
    let mut entries = lock_entries(inner);
    loop {
        if inner.stop.load(Ordering::Acquire) {
            return None;
        }
        entries.retain(|e| !e.retired && e.state.status() == Status::Held);
        let now = Instant::now();
        let due: Vec<_> = entries
            .iter()
            .filter(|e| e.due <= now)
            .map(|e| Arc::clone(&e.state))
            .collect();
        if !due.is_empty() {
            return Some(due);
        }
        entries = match entries.iter().map(|e| e.due).min() {
            Some(soonest) => {
                inner
                    .changed
                    .wait_timeout(entries, soonest - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => inner
                .changed
                .wait(entries)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

enum Renewal {
    Renewed,
    RetrySoon,
    Stop,
}

fn renew(
    connections: &mut HashMap<Endpoint, Arc<Shared>>,
    inner: &Inner,
    state: &LeaseState,
) -> Renewal {
    if state
        .grant
        .config
        .max_lifetime
        .is_some_and(|max| state.acquired_at.elapsed() >= max)
    {
        return Renewal::Stop;
    }
    let endpoint = state.grant.shared.endpoint();
    let shared = connections
        .entry(endpoint.clone())
        .or_insert_with(|| pool::private(endpoint.clone()));
    match lease::extend(shared, state, state.grant.ttl.as_millis() as u64) {
        Ok(true) => Renewal::Renewed,
        Ok(false) => {
            state.leave_held(Status::Lost);
            Renewal::Stop
        }
        Err(_) => {
            let last = lock_entries(inner)
                .iter()
                .find(|e| std::ptr::eq(Arc::as_ptr(&e.state), state))
                .map(|e| e.last_renewed);
            if last.is_some_and(|t| t.elapsed() >= state.grant.ttl) {
                state.leave_held(Status::Lost);
                Renewal::Stop
            } else {
                Renewal::RetrySoon
            }
        }
    }
}
