//! The watchdog: one background thread per process that renews watchdog leases (taken without
//! a TTL) every third of their TTL, as Redisson's lock watchdog does.
//!
//! - It uses connections of its own (one per server, closed when no lease needs it), never the
//!   PHP thread's.
//! - Renewals due together go out in pipelined batches of up to [`BATCH`] per server and round
//!   trip; registering and finding due leases cost O(log n), so 60,000 leases are renewed
//!   without scanning them.
//! - It never touches Zend: no zvals, no exceptions, no emalloc.
//! - A renewal that finds the lock gone marks the lease lost; the next call on it says so.
//!   When Redis cannot be reached it retries every second, and gives the lease up as lost
//!   once a whole TTL has passed without a successful renewal (the lock has expired by then).
//! - With the `replicas` option, each batch ends with one `WAIT`; a renewal acknowledged by
//!   fewer replicas than its lease asks for marks the lease at risk (still held, and renewed
//!   again on time), and one acknowledged clears it.
//! - A lease older than the `maxLifetime` option is no longer renewed: it expires at its TTL,
//!   so a stuck worker cannot hold a lock forever.
//! - The thread starts with the first watchdog lease of a process. A `pcntl_fork()` child has
//!   no watchdog thread (threads do not survive fork) and never touches its parent's state; it
//!   starts its own if it takes a watchdog lease. [`shutdown`] stops and joins the thread; the
//!   extension calls it at module shutdown, before the library can be unloaded.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::lease::state::{LeaseState, Status};
use crate::lock::net::connection::Timeouts;
use crate::lock::replicas::ReplicaAck;
use crate::lock::scripts::int_reply;
use crate::lock::scripts::lease::EXTEND_SCRIPT;
use crate::lock::topology::{Client, Route, TopologyKey};

/// How soon to retry a renewal that failed for want of a connection.
const RETRY: Duration = Duration::from_secs(1);
/// Most renewals sent in one round trip.
pub const BATCH: usize = 100;

struct Entry {
    /// Weak: a lease whose handle is gone (released, or dropped) needs no renewal, and its
    /// memory is not kept alive until its next due time.
    state: Weak<LeaseState>,
    due: Instant,
    last_renewed: Instant,
}

/// The leases being renewed, and when each is due (a min-heap; an item whose time no longer
/// matches its entry is stale and skipped).
impl Entry {
    /// The lease, if its handle is alive and it is still held.
    fn held(&self) -> Option<Arc<LeaseState>> {
        self.state.upgrade().filter(|s| s.status() == Status::Held)
    }
}

#[derive(Default)]
struct Book {
    entries: HashMap<u64, Entry>,
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    next_id: u64,
}

impl Book {
    fn schedule(&mut self, id: u64, due: Instant) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.due = due;
            self.due.push(Reverse((due, id)));
        }
    }

    /// Up to [`BATCH`] leases due by `now` (dropping finished ones), else the next due time.
    /// Once one is due, leases due a little later ([`early_by`]) join its batch: renewing them
    /// a few ms early fills round trips instead of waking for each lease.
    fn take_due(&mut self, now: Instant) -> std::result::Result<Vec<u64>, Option<Instant>> {
        let mut ready = Vec::new();
        while let Some(&Reverse((due, id))) = self.due.peek() {
            let current = self.entries.get(&id);
            if current.is_none_or(|e| e.due != due) {
                self.due.pop();
                continue;
            }
            let Some(state) = current.and_then(Entry::held) else {
                self.due.pop();
                self.entries.remove(&id);
                continue;
            };
            let horizon = if ready.is_empty() {
                now
            } else {
                now + early_by(state.grant.ttl / 3)
            };
            if due > horizon || ready.len() == BATCH {
                break;
            }
            self.due.pop();
            ready.push(id);
        }
        if ready.is_empty() {
            Err(self.due.peek().map(|Reverse((due, _))| *due))
        } else {
            Ok(ready)
        }
    }
}

/// How much earlier than due a renewal may go out to share a round trip: a tenth of the
/// renewal period, at most 100 ms.
fn early_by(period: Duration) -> Duration {
    (period / 10).min(Duration::from_millis(100))
}

struct Inner {
    pid: u32,
    book: Mutex<Book>,
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
        .is_some_and(|w| w.inner.pid != crate::lock::net::pid::current())
    {
        // Inherited across fork: the thread does not exist here and its mutexes may be locked
        // forever. Touch nothing (not even its destructor).
        std::mem::forget(slot.take());
    }
    slot
}

fn lock_book(inner: &Inner) -> MutexGuard<'_, Book> {
    inner.book.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts renewing `state` (starting the thread if this process has none).
pub fn register(state: Arc<LeaseState>) -> Result<()> {
    let mut slot = slot();
    if slot.is_none() {
        let inner = Arc::new(Inner {
            pid: crate::lock::net::pid::current(),
            book: Mutex::new(Book::default()),
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
    let mut book = lock_book(inner);
    let id = book.next_id;
    book.next_id += 1;
    let due = now + state.grant.ttl / 3;
    let soonest = book.due.peek().is_none_or(|Reverse((d, _))| due < *d);
    book.entries.insert(
        id,
        Entry {
            due,
            last_renewed: now,
            state: Arc::downgrade(&state),
        },
    );
    book.due.push(Reverse((due, id)));
    drop(book);
    if soonest {
        inner.changed.notify_one();
    }
    Ok(())
}

/// How many leases the watchdog is renewing in this process (for tests and `phpinfo()`).
pub fn active() -> usize {
    slot().as_ref().map_or(0, |w| {
        lock_book(&w.inner)
            .entries
            .values()
            .filter(|e| e.held().is_some())
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
    drop(lock_book(&watchdog.inner));
    watchdog.inner.changed.notify_all();
    let _ = watchdog.thread.join();
}

/// The watchdog's own connection to each server its leases are on.
type Connections = HashMap<TopologyKey, Client>;

/// The watchdog's timeouts for a server: the leases' own, but at most half a renewal period,
/// so that one stalled server (renewed in turn with the others, on one thread) cannot make the
/// renewals of other servers late.
fn renewal_timeouts(leases: Timeouts, period: Duration) -> Timeouts {
    let cap = (period / 2).max(Duration::from_millis(10));
    Timeouts {
        connect: leases.connect.min(cap),
        read: leases.read.min(cap),
    }
}

/// How often the watchdog looks for connections it no longer needs.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

fn run(inner: &Inner) {
    let mut connections = Connections::new();
    let mut pruned = Instant::now();
    while let Some(due) = next_due(inner) {
        // Group by connection (leases of one server share one): one pipeline per server.
        let mut by_server: HashMap<*const (), Vec<(u64, Arc<LeaseState>)>> = HashMap::new();
        for (id, state) in due {
            let connection = state
                .grant
                .client
                .connection_id(Route::Slot(state.grant.keys.slot));
            by_server.entry(connection).or_default().push((id, state));
        }
        for leases in by_server.into_values() {
            let template = &leases[0].1.grant.client;
            let key = template.topology().key();
            if !connections.contains_key(&key) {
                let client = Client::new(
                    Arc::new(template.topology().detached()),
                    renewal_timeouts(template.timeouts(), leases[0].1.grant.ttl / 3),
                );
                connections.insert(key.clone(), client);
            }
            let client = &connections[&key];
            let outcomes = renew(client, &leases);
            settle(inner, &leases, outcomes);
        }
        if connections.len() > 1 && pruned.elapsed() >= PRUNE_EVERY {
            prune(inner, &mut connections);
            pruned = Instant::now();
        }
    }
}

/// Waits until some leases are due for renewal; `None` when the watchdog must stop.
fn next_due(inner: &Inner) -> Option<Vec<(u64, Arc<LeaseState>)>> {
    let mut book = lock_book(inner);
    loop {
        if inner.stop.load(Ordering::Acquire) {
            return None;
        }
        let now = Instant::now();
        book = match book.take_due(now) {
            Ok(ids) => {
                let mut due = Vec::with_capacity(ids.len());
                for id in ids {
                    // Its handle may have been dropped since `take_due` looked.
                    match book.entries[&id].state.upgrade() {
                        Some(state) => due.push((id, state)),
                        None => drop(book.entries.remove(&id)),
                    }
                }
                if due.is_empty() {
                    continue;
                }
                return Some(due);
            }
            Err(Some(soonest)) => {
                inner
                    .changed
                    .wait_timeout(book, soonest - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            Err(None) => inner
                .changed
                .wait(book)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

enum Renewal {
    Renewed,
    RetrySoon,
    Stop,
}

/// Renews `leases` (all on `client`'s server) in pipelined batches.
fn renew(client: &Client, leases: &[(u64, Arc<LeaseState>)]) -> Vec<Renewal> {
    let mut outcomes: Vec<Option<Renewal>> = leases
        .iter()
        .map(|(_, state)| {
            let too_old = state
                .grant
                .config
                .max_lifetime
                .is_some_and(|max| state.acquired_at.elapsed() >= max);
            too_old.then_some(Renewal::Stop)
        })
        .collect();
    let todo: Vec<usize> = (0..leases.len())
        .filter(|&i| outcomes[i].is_none())
        .collect();
    if client.topology().as_quorum().is_some() {
        // A quorum's renewals fan out to its members one lease at a time.
        for &i in &todo {
            outcomes[i] = Some(renew_alone(client, &leases[i].1));
        }
        return outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Renewal::RetrySoon))
            .collect();
    }
    let ttls: Vec<String> = todo
        .iter()
        .map(|&i| leases[i].1.grant.ttl.as_millis().to_string())
        .collect();
    let permits: Vec<String> = todo
        .iter()
        .map(|&i| leases[i].1.grant.permits_arg())
        .collect();
    // Read before each lease's kind: a renewal that finds nothing proves a loss only if the
    // lease did not change kind (promote, demote) meanwhile.
    let changes: Vec<u64> = todo.iter().map(|&i| leases[i].1.changes()).collect();
    let calls: Vec<_> = todo
        .iter()
        .zip(ttls.iter().zip(&permits))
        .map(|(&i, (ttl, permits))| {
            let state = &leases[i].1;
            (
                state.grant.own_keys(state.kind()),
                state.extend_args(ttl.as_bytes(), permits.as_bytes()),
            )
        })
        .collect();
    // One WAIT closes the batch: enough replicas for the lease that asks the most, as long as
    // the one that waits the longest.
    let ack = todo
        .iter()
        .filter_map(|&i| leases[i].1.grant.replicas)
        .reduce(|a, b| ReplicaAck {
            replicas: a.replicas.max(b.replicas),
            timeout: a.timeout.max(b.timeout),
        });
    // WAIT's reply comes up to its timeout after the renewals': allow it, as the lease's own
    // readTimeout does (the options keep replicaTimeout under half of it).
    let read = client
        .timeouts()
        .read
        .max(ack.map_or(Duration::ZERO, |a| a.timeout * 2));
    let replies = if calls.is_empty() {
        Ok((Vec::new(), None))
    } else {
        client.run(Route::Slot(leases[0].1.grant.keys.slot), |conn| {
            let deadline = Instant::now() + read;
            EXTEND_SCRIPT.run_many_acked(conn, &calls, deadline, ack.as_ref(), int_reply)
        })
    };
    match replies {
        Ok((replies, acked)) => {
            let acked = acked.and_then(|a| a.ok());
            for ((&i, reply), &changed) in todo.iter().zip(replies).zip(&changes) {
                outcomes[i] = Some(match reply {
                    Ok(Some(1)) => {
                        let state = &leases[i].1;
                        if let Some(wanted) = state.grant.replicas {
                            // A WAIT that failed counts as no replica.
                            let enough = acked.unwrap_or(0) >= i64::from(wanted.replicas);
                            state.set_at_risk(!enough);
                        }
                        Renewal::Renewed
                    }
                    Ok(Some(_)) if leases[i].1.changed_since(changed) => Renewal::RetrySoon,
                    Ok(Some(_)) => {
                        leases[i].1.leave_held(Status::Lost);
                        Renewal::Stop
                    }
                    // A Redis Cluster redirect kept as this lease's result (its slot moved or
                    // is being migrated): renew it on its own, which follows `MOVED`, `ASK`
                    // and `TRYAGAIN` (a batch cannot: its leases may be on either side).
                    Err(e) if crate::lock::topology::cluster::redirect::parse(&e).is_some() => {
                        renew_alone(client, &leases[i].1)
                    }
                    _ => Renewal::RetrySoon,
                });
            }
        }
        Err(_) => {
            for &i in &todo {
                outcomes[i] = Some(Renewal::RetrySoon);
            }
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Renewal::RetrySoon))
        .collect()
}

/// Renews one lease by itself (see [`crate::lock::lease::state::extend`]).
fn renew_alone(client: &Client, state: &LeaseState) -> Renewal {
    let ttl_ms = u64::try_from(state.grant.ttl.as_millis()).unwrap_or(u64::MAX);
    let changes = state.changes();
    match crate::lock::lease::state::extend(client, state, ttl_ms) {
        Ok((true, acked)) => {
            if let Some(wanted) = state.grant.replicas {
                let got = acked.and_then(|a| a.ok()).unwrap_or(0);
                state.set_at_risk(got < i64::from(wanted.replicas));
            }
            Renewal::Renewed
        }
        Ok((false, _)) if state.changed_since(changes) => Renewal::RetrySoon,
        Ok((false, _)) => {
            state.leave_held(Status::Lost);
            Renewal::Stop
        }
        Err(_) => Renewal::RetrySoon,
    }
}

/// Records the outcome of each renewal and when the lease is due next.
fn settle(inner: &Inner, leases: &[(u64, Arc<LeaseState>)], outcomes: Vec<Renewal>) {
    let mut book = lock_book(inner);
    let now = Instant::now();
    for ((id, state), outcome) in leases.iter().zip(outcomes) {
        let period = state.grant.ttl / 3;
        let Some(entry) = book.entries.get_mut(id) else {
            continue;
        };
        let due = match outcome {
            Renewal::Renewed => {
                entry.last_renewed = now;
                now + period
            }
            Renewal::RetrySoon if now.duration_since(entry.last_renewed) < state.grant.ttl => {
                now + RETRY.min(period)
            }
            // A whole TTL without a renewal: the lock has expired by now.
            Renewal::RetrySoon => {
                state.leave_held(Status::Lost);
                book.entries.remove(id);
                continue;
            }
            Renewal::Stop => {
                book.entries.remove(id);
                continue;
            }
        };
        book.schedule(*id, due);
    }
}

/// Closes the watchdog's connections to servers none of its leases is on.
fn prune(inner: &Inner, connections: &mut Connections) {
    let book = lock_book(inner);
    let mut used: HashMap<TopologyKey, ()> = HashMap::new();
    let states: Vec<_> = book
        .entries
        .values()
        .filter_map(|e| e.state.upgrade())
        .collect();
    drop(book);
    for state in &states {
        used.insert(state.grant.client.topology().key(), ());
    }
    connections.retain(|key, _| used.contains_key(key));
}
