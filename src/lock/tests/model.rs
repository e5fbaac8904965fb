//! A model-based property test: random interleavings of every lock operation from several
//! clients, over lock names drawn from an adversarial alphabet (braces, colons, NUL, the
//! companion-key words, the reserved marker, empty tags, prefixes with and without tags), run
//! against a real redis-server and checked after every step against a reference model of who
//! holds what, with which fence:
//!
//! - at most one holder per lock name (also for `lockMany()`'s keys, taken all or none), and
//!   Redis agrees with the model on who it is;
//! - fences strictly increase per lock name, across every way of acquiring (lock, hand-over,
//!   claim, restore of an `acquire()` lock);
//! - every call answers as the model says (true/false, lease/none, held/busy);
//! - no error other than the documented ones (a refused name; `restore` of a token that does not
//!   hold the lock);
//! - when everything is released, nothing is left in Redis but the per-slot fence counters.
//!
//! Waits are driven step by step through [`Waiter`] (queue, poll, cancel, die), so the test is
//! deterministic. `MODEL_CASES` sets the number of cases (default 300; `make test` runs 2,000).
//! The same cases run against `memory://` ([`crate::lock::memory`]): one contract, two backends.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

use super::{config, unshared};
use crate::lock::Locker;
use crate::lock::error::Error;
use crate::lock::keys::{LockKeys, RESERVED, check_lock_name};
use crate::lock::lease::waiting::{Attempt, Waiter};
use crate::lock::lease::{Grant, Lease};
use crate::lock::memory::store::Store;
use crate::lock::options::OptionValue;
use crate::lock::testing::{RedisServer, q};

/// Pieces lock names and prefixes are made of.
const PIECES: [&[u8]; 13] = [
    b"{", b"}", b":", b"a", b"b", b"\0", b"fence", b"queue", b"wake:", b"!rl", b"{}", b"x", b"1",
];
/// TTL of every lock in the model (long: only `Expire` ends one).
const TTL_MS: u64 = 10_000;
/// A waiter's claim window is shorter than `TTL_MS`: a hand-over first holds for it.
const CLAIM_MS: i64 = 2_000;

#[derive(Clone, Debug)]
enum Op {
    /// The documents' `acquire()` with a fresh value.
    Acquire { client: usize, name: usize },
    /// The documents' `release()` with the value a holder has (or a stranger's).
    DocRelease {
        client: usize,
        name: usize,
        stranger: bool,
    },
    /// `lock()` without waiting.
    Lock { client: usize, name: usize },
    /// `lockMany()` without waiting, over some of the names (repeats allowed: refused).
    LockMany { client: usize, names: Vec<usize> },
    /// A waiter joins the queue (one attempt with queueing).
    Queue { client: usize, name: usize },
    /// A queued waiter wakes (BLPOP with the claim attempt pipelined behind it).
    Poll { waiter: usize },
    /// A queued waiter gives up.
    Cancel { waiter: usize },
    /// A queued waiter dies: its heartbeat deadline is moved into the past.
    Die { waiter: usize },
    /// A lease is released.
    Release { lease: usize },
    /// A lease is extended.
    Extend { lease: usize },
    /// An operator deletes a lock.
    ForceRelease { client: usize, name: usize },
    /// A lock expires (PEXPIRE from outside).
    Expire { name: usize },
    /// `restore()` with the current holder's token (or a stranger's).
    Restore {
        client: usize,
        name: usize,
        stranger: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..3usize;
    let n = 0..4usize;
    let i = 0..8usize;
    prop_oneof![
        1 => (c.clone(), n.clone()).prop_map(|(client, name)| Op::Acquire { client, name }),
        1 => (c.clone(), n.clone(), any::<bool>())
            .prop_map(|(client, name, stranger)| Op::DocRelease { client, name, stranger }),
        3 => (c.clone(), n.clone()).prop_map(|(client, name)| Op::Lock { client, name }),
        2 => (c.clone(), proptest::collection::vec(n.clone(), 1..4))
            .prop_map(|(client, names)| Op::LockMany { client, names }),
        3 => (c.clone(), n.clone()).prop_map(|(client, name)| Op::Queue { client, name }),
        3 => i.clone().prop_map(|waiter| Op::Poll { waiter }),
        1 => i.clone().prop_map(|waiter| Op::Cancel { waiter }),
        1 => i.clone().prop_map(|waiter| Op::Die { waiter }),
        3 => i.clone().prop_map(|lease| Op::Release { lease }),
        1 => i.prop_map(|lease| Op::Extend { lease }),
        1 => (c.clone(), n.clone()).prop_map(|(client, name)| Op::ForceRelease { client, name }),
        1 => n.clone().prop_map(|name| Op::Expire { name }),
        1 => (c, n, any::<bool>())
            .prop_map(|(client, name, stranger)| Op::Restore { client, name, stranger }),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(proptest::sample::select(PIECES.to_vec()), 0..4)
        .prop_map(|pieces| pieces.concat())
}

/// Ways to dress a stem, so that names in one case are related the way colliding names are
/// (`N` and `{N}`, `N` and `N:queue`, a name and the reserved marker before it, ...).
const DRESSES: [(&[u8], &[u8]); 10] = [
    (b"", b""),
    (b"{", b"}"),
    (b"", b":fence"),
    (b"", b":queue"),
    (b"{}", b""),
    (b"", b"\0"),
    (b"{", b""),
    (b"!rl", b""),
    (b"", b"}"),
    (b"{", b"}:wake:"),
];

/// Four names: mostly one stem in different dresses, sometimes unrelated names.
fn names() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let dressed =
        (bytes(), proptest::collection::vec(0..DRESSES.len(), 4)).prop_map(|(stem, d)| {
            d.into_iter()
                .map(|i| [DRESSES[i].0, stem.as_slice(), DRESSES[i].1].concat())
                .collect()
        });
    prop_oneof![3 => dressed, 1 => proptest::collection::vec(bytes(), 4)]
}

/// Three prefixes, one per client: mostly the same for all (so clients meet on the same
/// locks), sometimes each its own.
fn prefixes() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        3 => bytes().prop_map(|p| vec![p; 3]),
        1 => proptest::collection::vec(bytes(), 3),
    ]
}

/// A case: three prefixes (one per client), four names, and the operations.
fn case() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<Op>)> {
    (prefixes(), names(), proptest::collection::vec(op(), 1..40))
}

/// Who holds a lock, as the model knows it.
#[derive(Clone, Debug, PartialEq)]
enum Holder {
    /// A lease (index into `leases`).
    Lease(usize),
    /// The documents' API, with this value (no fence).
    Doc(Vec<u8>),
    /// The same, after `restore()` gave it a fence.
    DocFenced(Vec<u8>),
    /// A waiter the lock was handed to, before it claimed it.
    HandedTo(usize),
}

#[derive(Default)]
struct LockModel {
    holder: Option<Holder>,
    /// Queued live waiters, in arrival order.
    queue: Vec<usize>,
    last_fence: i64,
}

struct QueuedWaiter<'a> {
    waiter: Waiter<'a>,
    lock: Vec<u8>,
    client: usize,
    name: usize,
    done: bool,
}

/// What the test sees and does behind the engine's back: a second connection to the real
/// server, or the memory space itself.
enum Oracle {
    Redis(redis::Connection),
    Memory(&'static str),
}

impl Oracle {
    fn memory<R>(name: &str, f: impl FnOnce(&mut Store, i64) -> R) -> R {
        crate::lock::memory::with_store(name, f)
    }

    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        match self {
            Oracle::Redis(c) => redis::cmd("GET").arg(key).query(c).unwrap(),
            Oracle::Memory(name) => {
                Self::memory(name, |s, now| s.get(key, now).unwrap().map(<[u8]>::to_vec))
            }
        }
    }

    fn pttl(&mut self, key: &[u8]) -> i64 {
        match self {
            Oracle::Redis(c) => redis::cmd("PTTL").arg(key).query(c).unwrap(),
            Oracle::Memory(name) => Self::memory(name, |s, now| s.pttl(key, now)),
        }
    }

    fn pexpire(&mut self, key: &[u8], ms: i64) {
        match self {
            Oracle::Redis(c) => {
                let _: i64 = redis::cmd("PEXPIRE").arg(key).arg(ms).query(c).unwrap();
            }
            Oracle::Memory(name) => {
                Self::memory(name, |s, now| s.pexpire(key, ms, now));
            }
        }
        std::thread::sleep(Duration::from_millis(3));
    }

    /// Moves a waiter's heartbeat deadline into the past (`ZADD alive XX 0 member`).
    fn kill_waiter(&mut self, alive: &[u8], member: &[u8]) {
        match self {
            Oracle::Redis(c) => {
                let _: i64 = redis::cmd("ZADD")
                    .arg(alive)
                    .arg("XX")
                    .arg(0)
                    .arg(member)
                    .query(c)
                    .unwrap();
            }
            Oracle::Memory(name) => Self::memory(name, |s, now| {
                if s.zscore(alive, member, now).unwrap().is_some() {
                    s.zadd(alive, 0.0, member, false, now).unwrap();
                }
            }),
        }
    }

    fn del(&mut self, key: &[u8]) {
        match self {
            Oracle::Redis(c) => {
                let _: i64 = redis::cmd("DEL").arg(key).query(c).unwrap();
            }
            Oracle::Memory(name) => {
                Self::memory(name, |s, now| s.del(key, now));
            }
        }
    }

    fn keys(&mut self) -> Vec<Vec<u8>> {
        match self {
            Oracle::Redis(c) => q(c, &["KEYS", "*"]),
            Oracle::Memory(name) => Self::memory(name, |s, _| s.keys()),
        }
    }
}

struct Run<'a> {
    oracle: Oracle,
    lockers: &'a [Locker],
    prefixes: &'a [Vec<u8>],
    names: &'a [Vec<u8>],
    locks: HashMap<Vec<u8>, LockModel>,
    leases: Vec<Lease>,
    lease_lock: Vec<Vec<u8>>,
    waiters: Vec<QueuedWaiter<'a>>,
    values: u64,
}

fn fail(what: String) -> TestCaseError {
    TestCaseError::fail(what)
}

/// Errors the API documents for these inputs: a refused name, a restore of a token that does not
/// hold the lock.
fn documented(e: &Error) -> bool {
    e.is_invalid_argument() || e.is_lost()
}

impl<'a> Run<'a> {
    fn full(&self, client: usize, name: usize) -> Vec<u8> {
        [self.prefixes[client].as_slice(), &self.names[name]].concat()
    }

    fn valid(&self, client: usize, name: usize) -> bool {
        check_lock_name(&self.prefixes[client], &self.names[name]).is_ok()
    }

    fn model(&mut self, lock: &[u8]) -> &mut LockModel {
        self.locks.entry(lock.to_vec()).or_default()
    }

    fn token_of(&self, holder: &Holder) -> Vec<u8> {
        match holder {
            Holder::Lease(i) => self.leases[*i].token().to_vec(),
            Holder::Doc(value) | Holder::DocFenced(value) => value.clone(),
            Holder::HandedTo(w) => self.waiters[*w].waiter.token.clone(),
        }
    }

    /// The full lock name, its holder in the model, and the holder's token (or a stranger's).
    fn holder_and_token(
        &self,
        client: usize,
        name: usize,
        stranger: bool,
    ) -> (Vec<u8>, Option<Holder>, Vec<u8>) {
        let lock = self.full(client, name);
        let holder = self.locks.get(&lock).and_then(|m| m.holder.clone());
        let token = match (&holder, stranger) {
            (Some(h), false) => self.token_of(h),
            _ => b"stranger".to_vec(),
        };
        (lock, holder, token)
    }

    /// A new fence for `lock` must exceed every earlier one.
    fn fence(&mut self, lock: &[u8], fence: i64, how: &str) -> Result<(), TestCaseError> {
        let model = self.model(lock);
        if fence <= model.last_fence {
            return Err(fail(format!(
                "{how}: fence {fence} not above {} for {:?}",
                model.last_fence,
                String::from_utf8_lossy(lock)
            )));
        }
        model.last_fence = fence;
        Ok(())
    }

    fn new_lease(&mut self, w: usize, fence: i64) -> usize {
        let qw = &self.waiters[w];
        let lease = Lease::new(Grant {
            kind: crate::lock::lease::Kind::Exclusive,
            key: self.names[qw.name].clone(),
            keys: qw.waiter.keys.clone(),
            token: qw.waiter.token.clone(),
            fence,
            ttl: Duration::from_millis(TTL_MS),
            watchdog: false,
            unsure: false,
            client: self.lockers[qw.client].client().clone(),
            config: self.lockers[qw.client].lease_config(),
            replicas: None,
            permits: 0,
        })
        .expect("no watchdog");
        self.leases.push(lease);
        self.lease_lock.push(qw.lock.clone());
        self.leases.len() - 1
    }

    /// The lock was released (or expired) with these waiters queued: a release hands it to the
    /// first one; an expiry or deletion leaves it free for the first one's next attempt.
    fn hand_over(&mut self, lock: &[u8]) {
        let model = self.model(lock);
        model.holder = if model.queue.is_empty() {
            None
        } else {
            Some(Holder::HandedTo(model.queue.remove(0)))
        };
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Acquire { client, name } => {
                self.values += 1;
                let value = format!("doc-{}", self.values).into_bytes();
                let got = self.lockers[client].acquire(&self.names[name], &value, 10.0);
                if !self.valid(client, name) {
                    return expect_refused(got);
                }
                let lock = self.full(client, name);
                let free = self.model(&lock).holder.is_none();
                check_eq(got.map_err(unexpected)?, free, "acquire")?;
                if free {
                    self.model(&lock).holder = Some(Holder::Doc(value));
                }
            }
            Op::DocRelease {
                client,
                name,
                stranger,
            } => {
                let (lock, holder, value) = self.holder_and_token(client, name, stranger);
                let got = self.lockers[client].release(&self.names[name], &value);
                if !self.valid(client, name) {
                    return expect_refused(got);
                }
                let ours = holder.is_some() && !stranger;
                check_eq(got.map_err(unexpected)?, ours, "documents' release")?;
                if ours {
                    // A plain DEL: no hand-over; the first waiter takes it on its next attempt.
                    self.model(&lock).holder = None;
                }
            }
            Op::Lock { client, name } => {
                let got = self.lockers[client].lock(&self.names[name], Some(10.0), 0.0);
                if !self.valid(client, name) {
                    return expect_refused(got);
                }
                let lock = self.full(client, name);
                let model = self.model(&lock);
                let free = model.holder.is_none() && model.queue.is_empty();
                let got = got.map_err(unexpected)?;
                check_eq(got.is_some(), free, "lock")?;
                if let Some(lease) = got {
                    self.fence(&lock, lease.fence(), "lock")?;
                    self.leases.push(lease);
                    self.lease_lock.push(lock.clone());
                    self.model(&lock).holder = Some(Holder::Lease(self.leases.len() - 1));
                }
            }
            Op::LockMany { client, ref names } => {
                let keys: Vec<&[u8]> = names.iter().map(|&n| self.names[n].as_slice()).collect();
                let got = self.lockers[client].lock_many(&keys, Some(10.0), 0.0);
                let mut locks: Vec<Vec<u8>> = names.iter().map(|&n| self.full(client, n)).collect();
                let valid = names.iter().all(|&n| self.valid(client, n));
                locks.sort();
                locks.dedup();
                if !valid || locks.len() < names.len() {
                    return expect_refused(got);
                }
                let free = locks.iter().all(|lock| {
                    let model = self.model(lock);
                    model.holder.is_none() && model.queue.is_empty()
                });
                let got = got.map_err(unexpected)?;
                check_eq(got.is_some(), free, "lockMany")?;
                if let Some(many) = got {
                    for lease in many.into_leases() {
                        let lock = lease.grant.keys.lock.clone();
                        prop_assert!(locks.contains(&lock), "a lease on a key not asked for");
                        self.fence(&lock, lease.fence(), "lockMany")?;
                        self.leases.push(lease);
                        self.lease_lock.push(lock.clone());
                        self.model(&lock).holder = Some(Holder::Lease(self.leases.len() - 1));
                    }
                }
            }
            Op::Queue { client, name } => {
                let locker = &self.lockers[client];
                let Ok(keys) = LockKeys::new(&self.prefixes[client], &self.names[name]) else {
                    prop_assert!(!self.valid(client, name));
                    return Ok(());
                };
                let lock = keys.lock.clone();
                let token = crate::lock::token().into_bytes();
                let waiter = Waiter::new(locker, keys, token, Duration::from_millis(TTL_MS));
                let w = self.waiters.len();
                let got = waiter.attempt(true).map_err(unexpected)?;
                self.waiters.push(QueuedWaiter {
                    waiter,
                    lock: lock.clone(),
                    client,
                    name,
                    done: false,
                });
                let model = self.model(&lock);
                let free = model.holder.is_none() && model.queue.is_empty();
                match got {
                    Attempt::Held(fence) => {
                        check_eq(true, free, "queue: took it at once")?;
                        self.fence(&lock, fence, "queue")?;
                        self.waiters[w].done = true;
                        let l = self.new_lease(w, fence);
                        self.model(&lock).holder = Some(Holder::Lease(l));
                    }
                    Attempt::Busy(_) => {
                        check_eq(false, free, "queue: busy")?;
                        self.model(&lock).queue.push(w);
                    }
                }
            }
            Op::Poll { waiter } => {
                let Some(w) = self.live_waiter(waiter) else {
                    return Ok(());
                };
                let lock = self.waiters[w].lock.clone();
                let got = self.waiters[w]
                    .waiter
                    .wait_then_attempt(Duration::from_millis(1));
                let got = got.map_err(unexpected)?;
                let model = self.model(&lock);
                let handed = model.holder == Some(Holder::HandedTo(w));
                let queued = model.queue.contains(&w);
                // Free, and nobody live ahead (a waiter whose hand-over expired is queued no
                // more: it takes a free lock with an empty queue, else rejoins at the tail).
                let first_in_free = model.holder.is_none()
                    && (model.queue.first() == Some(&w) || model.queue.is_empty());
                let should_hold = handed || first_in_free;
                match got {
                    Attempt::Held(fence) => {
                        check_eq(true, should_hold, "poll: held")?;
                        if first_in_free {
                            self.fence(&lock, fence, "poll")?;
                            self.model(&lock).queue.retain(|&x| x != w);
                        } else {
                            check_eq(
                                fence,
                                self.model(&lock).last_fence,
                                "claim keeps the hand-over fence",
                            )?;
                        }
                        self.waiters[w].done = true;
                        let l = self.new_lease(w, fence);
                        self.model(&lock).holder = Some(Holder::Lease(l));
                        let pttl = self.oracle.pttl(&lock);
                        prop_assert!(pttl > CLAIM_MS, "claimed to its own TTL: {}", pttl);
                    }
                    Attempt::Busy(_) => {
                        check_eq(false, should_hold, "poll: busy")?;
                        if !queued {
                            self.model(&lock).queue.push(w);
                        }
                    }
                }
            }
            Op::Cancel { waiter } => {
                let Some(w) = self.live_waiter(waiter) else {
                    return Ok(());
                };
                let lock = self.waiters[w].lock.clone();
                let got = self.waiters[w].waiter.cancel().map_err(unexpected)?;
                self.waiters[w].done = true;
                let handed = self.model(&lock).holder == Some(Holder::HandedTo(w));
                check_eq(got.is_some(), handed, "cancel: handed over meanwhile")?;
                if let Some(fence) = got {
                    check_eq(
                        fence,
                        self.model(&lock).last_fence,
                        "cancel keeps the fence",
                    )?;
                    let l = self.new_lease(w, fence);
                    self.model(&lock).holder = Some(Holder::Lease(l));
                } else {
                    self.model(&lock).queue.retain(|&x| x != w);
                }
            }
            Op::Die { waiter } => {
                let Some(w) = self.live_waiter(waiter) else {
                    return Ok(());
                };
                let qw = &self.waiters[w];
                let member = format!("{TTL_MS}:{}", lossy(&qw.waiter.token));
                let alive = lossy(&qw.waiter.keys.alive);
                self.oracle.kill_waiter(alive.as_bytes(), member.as_bytes());
                self.waiters[w].done = true;
                let lock = self.waiters[w].lock.clone();
                // A dead waiter the lock was already handed to keeps it until its claim window
                // ends (modelled by `Expire`).
                self.model(&lock).queue.retain(|&x| x != w);
            }
            Op::Release { lease } => {
                let Some(i) = pick(self.leases.len(), lease) else {
                    return Ok(());
                };
                let lock = self.lease_lock[i].clone();
                let ours = self.model(&lock).holder == Some(Holder::Lease(i));
                let got = self.leases[i].release().map_err(unexpected)?;
                check_eq(got, ours, "release")?;
                if ours {
                    let had_waiters = !self.model(&lock).queue.is_empty();
                    self.hand_over(&lock);
                    if had_waiters {
                        // The hand-over itself assigns the next fence.
                        let record = lossy(&self.oracle.get(&fence_key(&lock)).unwrap());
                        let fence = record.split(':').next().unwrap().parse().unwrap();
                        self.fence(&lock, fence, "hand-over")?;
                        let pttl = self.oracle.pttl(&lock);
                        prop_assert!(
                            pttl <= CLAIM_MS,
                            "handed over for the claim window: {}",
                            pttl
                        );
                    }
                }
            }
            Op::Extend { lease } => {
                let Some(i) = pick(self.leases.len(), lease) else {
                    return Ok(());
                };
                let lock = self.lease_lock[i].clone();
                let ours = self.model(&lock).holder == Some(Holder::Lease(i));
                let got = self.leases[i].extend(TTL_MS).map_err(unexpected)?;
                check_eq(got, ours, "extend")?;
            }
            Op::ForceRelease { client, name } => {
                let got = self.lockers[client].force_release(&self.names[name]);
                if !self.valid(client, name) {
                    return expect_refused(got);
                }
                let lock = self.full(client, name);
                let held = self.model(&lock).holder.is_some();
                check_eq(got.map_err(unexpected)?, held, "forceRelease")?;
                self.model(&lock).holder = None;
            }
            Op::Expire { name } => {
                let lock = self.full(0, name);
                let Some(model) = self.locks.get_mut(&lock) else {
                    return Ok(());
                };
                if model.holder.take().is_some() {
                    self.oracle.pexpire(&lock, 1);
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
            Op::Restore {
                client,
                name,
                stranger,
            } => {
                let (lock, holder, token) = self.holder_and_token(client, name, stranger);
                let got = self.lockers[client].restore(&self.names[name], &token);
                if !self.valid(client, name) {
                    return expect_refused(got);
                }
                match (got, holder.filter(|_| !stranger)) {
                    (Ok(restored), Some(h)) => {
                        match h {
                            // A lock without a fence gets a fresh one, and keeps it.
                            Holder::Doc(value) => {
                                self.fence(&lock, restored.fence(), "restore")?;
                                self.model(&lock).holder = Some(Holder::DocFenced(value));
                            }
                            _ => check_eq(
                                restored.fence(),
                                self.model(&lock).last_fence,
                                "restore keeps the fence",
                            )?,
                        }
                        // The restored handle must not release the lock behind the model.
                        restored.detach();
                    }
                    (Err(e), None) if e.is_lost() => {}
                    (got, expected) => {
                        return Err(fail(format!(
                            "restore: got {:?}, holder {expected:?}",
                            got.map(|l| l.fence())
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn live_waiter(&self, index: usize) -> Option<usize> {
        let live: Vec<usize> = (0..self.waiters.len())
            .filter(|&w| !self.waiters[w].done)
            .collect();
        pick(live.len(), index).map(|i| live[i])
    }

    /// Redis agrees with the model on every lock's holder.
    fn check(&mut self) -> Result<(), TestCaseError> {
        for (lock, model) in &self.locks {
            let actual = self.oracle.get(lock);
            let expected = model.holder.as_ref().map(|h| self.token_of(h));
            if actual != expected {
                return Err(fail(format!(
                    "holder of {:?}: Redis has {:?}, the model {:?}",
                    lossy(lock),
                    actual.as_deref().map(lossy),
                    expected.as_deref().map(lossy)
                )));
            }
        }
        Ok(())
    }

    /// Releases and cancels everything; then only per-slot fence counters may remain.
    fn finish(mut self) -> Result<(), TestCaseError> {
        for qw in &self.waiters {
            if !qw.done {
                qw.waiter.cancel().map_err(unexpected)?;
            }
        }
        for lease in self.leases.drain(..) {
            lease.release().map_err(unexpected)?;
        }
        for lock in self.locks.keys() {
            self.oracle.del(lock);
        }
        for key in self.oracle.keys() {
            let counter = key.starts_with(RESERVED) && key.ends_with(b"}fences");
            // Claim windows of dead waiters, holder fences of locks deleted behind the
            // engine's back: all with a TTL.
            let ttl = self.oracle.pttl(&key);
            prop_assert!(counter || ttl > 0, "left without a TTL: {:?}", lossy(&key));
        }
        Ok(())
    }
}

fn fence_key(lock: &[u8]) -> Vec<u8> {
    LockKeys::new(b"", lock).expect("valid").fence
}

fn pick(len: usize, index: usize) -> Option<usize> {
    (len > 0).then(|| index % len)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn unexpected(e: Error) -> TestCaseError {
    fail(format!("undocumented error: {e:?}"))
}

fn expect_refused<T>(got: crate::lock::Result<T>) -> Result<(), TestCaseError> {
    match got {
        Err(e) if documented(&e) && e.is_invalid_argument() => Ok(()),
        Err(e) => Err(unexpected(e)),
        Ok(_) => Err(fail("a reserved or empty name was accepted".into())),
    }
}

fn check_eq<T: PartialEq + std::fmt::Debug>(
    got: T,
    want: T,
    what: &str,
) -> Result<(), TestCaseError> {
    if got == want {
        Ok(())
    } else {
        Err(fail(format!(
            "{what}: got {got:?}, the model says {want:?}"
        )))
    }
}

/// Where the model runs: a real redis-server, or a `memory://` space.
enum Backend {
    Redis(RedisServer),
    Memory(&'static str),
}

impl Backend {
    fn dsn(&self) -> String {
        match self {
            Backend::Redis(server) => server.dsn(),
            Backend::Memory(name) => format!("memory://{name}"),
        }
    }

    fn flush(&self) {
        match self {
            Backend::Redis(server) => {
                let _: () = q(&mut server.client(), &["FLUSHALL"]);
            }
            Backend::Memory(name) => crate::lock::memory::reset(name),
        }
    }

    fn oracle(&self) -> Oracle {
        match self {
            Backend::Redis(server) => Oracle::Redis(server.client()),
            Backend::Memory(name) => Oracle::Memory(name),
        }
    }
}

fn run_model(backend: &Backend) {
    let cases = std::env::var("MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let result = runner.run(&case(), |(prefixes, names, ops)| {
        backend.flush();
        let lockers: Vec<Locker> = prefixes
            .iter()
            .map(|p| {
                let prefix = if p.starts_with(RESERVED) {
                    Vec::new()
                } else {
                    p.clone()
                };
                unshared(config(
                    &backend.dsn(),
                    &[("prefix", OptionValue::Str(prefix))],
                ))
            })
            .collect();
        let prefixes: Vec<Vec<u8>> = lockers.iter().map(|l| l.prefix().to_vec()).collect();
        let mut run = Run {
            oracle: backend.oracle(),
            lockers: &lockers,
            prefixes: &prefixes,
            names: &names,
            locks: HashMap::new(),
            leases: Vec::new(),
            lease_lock: Vec::new(),
            waiters: Vec::new(),
            values: 0,
        };
        for (n, op) in ops.iter().enumerate() {
            run.step(op)
                .and_then(|()| run.check())
                .map_err(|e| fail(format!("step {n} {op:?}: {e}")))?;
        }
        run.finish()
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn random_interleavings_keep_one_holder_and_increasing_fences() {
    // A short BLPOP times out at the server's next timer tick: 2 ms apart at hz 500.
    run_model(&Backend::Redis(RedisServer::start_with(&["--hz", "500"])));
}

/// The same model, the same cases, against `memory://`: the in-process backend must answer
/// every call as the model (and so as Redis) does.
#[test]
fn memory_backend_keeps_the_same_model() {
    run_model(&Backend::Memory("model"));
}
