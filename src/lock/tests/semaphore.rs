//! Semaphores with expiring permits: at most N holders, FIFO hand-over, permits of crashed
//! holders come back after their TTL, a mismatched permit count is refused, the watchdog and
//! request end, the key space apart from locks, and a model-based property test.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::leases::watchdog_turn;
use super::{config, sleep_ms};
use crate::lock::Locker;
use crate::lock::keys::LockKeys;
use crate::lock::lease::state::{Kind, Status};
use crate::lock::lease::waiting::{Attempt, Waiter};
use crate::lock::lease::{Grant, Lease};
use crate::lock::options::OptionValue;
use crate::lock::testing::{RedisServer, q};

fn locker_with(server: &RedisServer, extra: &[(&str, OptionValue)]) -> Locker {
    super::unshared(config(&server.dsn(), extra))
}

fn locker(server: &RedisServer) -> Locker {
    locker_with(server, &[])
}

fn keys_left(server: &RedisServer) -> Vec<Vec<u8>> {
    q(&mut server.client(), &["KEYS", "*"])
}

/// Live permits of `name` by an independent client.
fn live(server: &RedisServer, name: &[u8]) -> i64 {
    let keys = LockKeys::semaphore(b"", name).unwrap();
    let now: Vec<String> = q(&mut server.client(), &["TIME"]);
    let now_ms = now[0].parse::<i64>().unwrap() * 1000 + now[1].parse::<i64>().unwrap() / 1000;
    redis::cmd("ZCOUNT")
        .arg(&keys.readers)
        .arg(format!("({now_ms}"))
        .arg("+inf")
        .query(&mut server.client())
        .unwrap()
}

#[test]
fn at_most_n_hold_and_a_release_hands_a_permit_to_the_first_waiter() {
    let server = RedisServer::start();
    let (a, b, c) = (locker(&server), locker(&server), locker(&server));
    let p1 = a.permit(b"s", 2, Some(10.0), 0.0).unwrap().expect("free");
    let p2 = b.permit(b"s", 2, Some(10.0), 0.0).unwrap().expect("second");
    assert_eq!((p1.fence(), p2.fence()), (0, 0), "permits have no fence");
    assert!(!p1.is_shared());
    assert!(
        c.permit(b"s", 2, Some(10.0), 0.0).unwrap().is_none(),
        "full"
    );
    assert!(
        c.permit(b"s", 2, Some(10.0), 0.2).unwrap().is_none(),
        "a wait too"
    );
    assert_eq!(a.permits_held(b"s").unwrap(), (2, 2));
    let waiter = std::thread::spawn(move || {
        let start = Instant::now();
        let p = c
            .permit(b"s", 2, Some(10.0), 5.0)
            .unwrap()
            .expect("handed over");
        (p, start.elapsed())
    });
    sleep_ms(300);
    assert!(p1.release().unwrap());
    let (p3, waited) = waiter.join().unwrap();
    assert!(
        waited < Duration::from_millis(1000),
        "event-driven: {waited:?}"
    );
    assert!(
        p3.is_held().unwrap() && p3.remaining().unwrap() > 9.0,
        "claimed"
    );
    assert_eq!(live(&server, b"s"), 2);
    assert!(p2.release().unwrap() && p3.release().unwrap());
    assert!(!p3.release().unwrap(), "released once");
    assert_eq!(a.permits_held(b"s").unwrap(), (0, 0));
    assert_eq!(keys_left(&server), Vec::<Vec<u8>>::new(), "nothing left");
}

#[test]
fn a_different_permit_count_is_refused_while_permits_live_and_free_after() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let p = a.permit(b"s", 3, Some(10.0), 0.0).unwrap().expect("free");
    for wait in [0.0, 0.3] {
        let err = b.permit(b"s", 2, Some(10.0), wait).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), crate::lock::ErrorKind::Conflict, "{err}");
        let msg = err.to_string();
        assert!(msg.contains("3 permits") && msg.contains("not 2"), "{msg}");
        assert!(msg.contains("\"s\""), "{msg}");
    }
    assert_eq!(live(&server, b"s"), 1, "a refused call holds nothing");
    assert!(p.release().unwrap());
    let q1 = b
        .permit(b"s", 1, Some(10.0), 0.0)
        .unwrap()
        .expect("a new count");
    assert_eq!(a.permits_held(b"s").unwrap(), (1, 1));
    assert!(a.permit(b"s", 1, Some(10.0), 0.0).unwrap().is_none());
    drop(q1);
    for bad in [0, -1, 1_000_001] {
        assert!(
            a.permit(b"s", bad, Some(1.0), 0.0)
                .map(|_| ())
                .unwrap_err()
                .is_invalid_argument()
        );
    }
}

#[test]
fn a_crashed_holders_permit_comes_back_after_its_ttl() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    // A holder that dies without releasing (nothing runs its destructor).
    std::mem::forget(a.permit(b"s", 1, Some(0.4), 0.0).unwrap().expect("free"));
    let start = Instant::now();
    let p = b
        .permit(b"s", 1, Some(10.0), 3.0)
        .unwrap()
        .expect("after its TTL");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(
        waited < Duration::from_millis(900),
        "woken at the expiry: {waited:?}"
    );
    assert_eq!(live(&server, b"s"), 1);
    assert!(p.release().unwrap());
}

#[test]
fn waiters_get_permits_in_arrival_order() {
    let server = RedisServer::start();
    let holder = locker(&server);
    let p = holder
        .permit(b"s", 1, Some(10.0), 0.0)
        .unwrap()
        .expect("free");
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for i in 0..4 {
        let l = locker(&server);
        let order = order.clone();
        threads.push(std::thread::spawn(move || {
            let p = l
                .permit(b"s", 1, Some(10.0), 10.0)
                .unwrap()
                .expect("in turn");
            order.lock().unwrap().push(i);
            sleep_ms(50);
            assert!(p.release().unwrap());
        }));
        sleep_ms(150); // arrival order
    }
    // A newcomer does not overtake the queue even when a permit is free for a moment.
    assert!(p.release().unwrap());
    assert!(holder.permit(b"s", 1, Some(10.0), 0.0).unwrap().is_none());
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
}

#[test]
fn waiters_enter_together_as_far_as_the_permits_allow() {
    let server = RedisServer::start();
    let holders: Vec<Lease> = (0..3)
        .map(|_| {
            locker(&server)
                .permit(b"s", 3, Some(10.0), 0.0)
                .unwrap()
                .unwrap()
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let l = locker(&server);
            std::thread::spawn(move || l.permit(b"s", 3, Some(10.0), 5.0).unwrap())
        })
        .collect();
    sleep_ms(300);
    for h in &holders {
        assert!(h.release().unwrap());
    }
    let got: Vec<Lease> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    assert_eq!(live(&server, b"s"), 3);
    drop(got);
    assert_eq!(live(&server, b"s"), 0);
}

#[test]
fn semaphores_and_locks_of_one_name_are_independent() {
    let server = RedisServer::start();
    let l = locker(&server);
    for name in [
        &b"x"[..],
        b"{x}",
        b"a:{b}:c",
        b"\0nul\0",
        b"}{",
        b"sem:x",
        b"queue:x",
    ] {
        let lock = l.lock(name, Some(10.0), 0.0).unwrap().expect("lock");
        let permit = l
            .permit(name, 1, Some(10.0), 0.0)
            .unwrap()
            .expect("a permit too");
        assert!(l.permit(name, 1, Some(10.0), 0.0).unwrap().is_none());
        assert!(l.lock(name, Some(10.0), 0.0).unwrap().is_none());
        let shared = l.lock_shared(name, Some(10.0), 0.0).unwrap();
        assert!(shared.is_none(), "the writer holds it");
        assert!(lock.release().unwrap());
        assert!(permit.is_held().unwrap());
        assert!(!l.is_locked(name).unwrap(), "the permit is no lock");
        assert!(permit.release().unwrap());
    }
    // A name and its braced form, or another semaphore whose name is a key of this one.
    let p = l.permit(b"x", 1, Some(10.0), 0.0).unwrap().unwrap();
    assert!(l.permit(b"{x}", 1, Some(10.0), 0.0).unwrap().is_some());
    let k = LockKeys::semaphore(b"", b"x").unwrap();
    assert!(
        l.permit(&k.lock[3..], 1, Some(10.0), 0.0)
            .unwrap()
            .is_some()
    );
    drop(p);
    for bad in [&b""[..], b"!rl", b"!rlx"] {
        assert!(
            l.permit(bad, 1, Some(1.0), 0.0)
                .map(|_| ())
                .unwrap_err()
                .is_invalid_argument()
        );
        assert!(
            l.permits_held(bad)
                .map(|_| ())
                .unwrap_err()
                .is_invalid_argument()
        );
    }
}

#[test]
fn the_watchdog_renews_a_permit_and_keeps_the_count() {
    let _turn = watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(&server, &[("leaseTtl", OptionValue::Float(0.3))]);
    let other = locker(&server);
    let permit = l.permit(b"s", 1, None, 0.0).unwrap().expect("free");
    let k = String::from_utf8(LockKeys::semaphore(b"", b"s").unwrap().lock).unwrap();
    let until = Instant::now() + Duration::from_millis(1200); // 4 TTLs
    while Instant::now() < until {
        assert_eq!(live(&server, b"s"), 1);
        let count: Option<String> = q(&mut server.client(), &["GET", &k]);
        assert_eq!(count.as_deref(), Some("!rl:permits=1"));
        sleep_ms(50);
    }
    assert!(other.permit(b"s", 1, Some(10.0), 0.0).unwrap().is_none());
    assert!(
        other.permit(b"s", 2, Some(10.0), 0.0).is_err(),
        "the count is kept"
    );
    assert!(permit.release().unwrap());
    assert_eq!(permit.status(), Status::Released);
    assert!(other.permit(b"s", 1, Some(10.0), 0.0).unwrap().is_some());
}

#[test]
fn extend_request_end_and_kind_changes() {
    let server = RedisServer::start();
    let (l, w) = (locker(&server), locker(&server));
    let p = l.permit(b"s", 2, Some(0.2), 0.0).unwrap().expect("free");
    assert!(p.extend(5000).unwrap());
    assert!(p.remaining().unwrap() > 4.0);
    let k = String::from_utf8(LockKeys::semaphore(b"", b"s").unwrap().lock).unwrap();
    let pttl: i64 = q(&mut server.client(), &["PTTL", &k]);
    assert!(
        pttl > 4000,
        "the count lives as long as the latest permit: {pttl}"
    );
    assert!(p.promote(Duration::ZERO).is_err() && p.demote().is_err());
    let short = l.permit(b"s", 2, Some(0.1), 0.0).unwrap().expect("second");
    sleep_ms(200);
    assert!(!short.extend(5000).unwrap(), "expired: lost");
    assert_eq!(short.status(), Status::Lost);
    std::mem::forget(p);
    std::mem::forget(
        w.permit(b"s", 2, Some(30.0), 0.0)
            .unwrap()
            .expect("one left"),
    );
    assert_eq!(live(&server, b"s"), 2);
    assert_eq!(crate::lock::lease::request::release_request_leases(), 2);
    assert_eq!(live(&server, b"s"), 0);
    assert_eq!(keys_left(&server), Vec::<Vec<u8>>::new());
}

/// `memory://` runs the semaphore scripts: the same hand-over, expiry, count check,
/// watchdog and request end, in one process.
#[test]
fn semaphores_work_on_memory() {
    let _turn = watchdog_turn();
    let dsn = "memory://semaphores";
    let l = || super::unshared(config(dsn, &[("leaseTtl", OptionValue::Float(0.3))]));
    let (a, b) = (l(), l());
    let p1 = a.permit(b"s", 2, Some(10.0), 0.0).unwrap().expect("free");
    let p2 = b
        .permit(b"s", 2, None, 0.0)
        .unwrap()
        .expect("second, a watchdog permit");
    assert!(a.permit(b"s", 2, Some(10.0), 0.0).unwrap().is_none());
    assert_eq!(a.permits_held(b"s").unwrap(), (2, 2));
    let err = b.permit(b"s", 3, Some(10.0), 0.0).map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), crate::lock::ErrorKind::Conflict);
    let c = l();
    let waiter = std::thread::spawn(move || {
        let start = Instant::now();
        let p = c
            .permit(b"s", 2, Some(10.0), 5.0)
            .unwrap()
            .expect("handed over");
        (p, start.elapsed())
    });
    sleep_ms(200);
    assert!(p1.release().unwrap());
    let (p3, waited) = waiter.join().unwrap();
    assert!(waited < Duration::from_millis(800), "{waited:?}");
    sleep_ms(700); // over two watchdog TTLs
    assert!(p2.is_held().unwrap(), "renewed by the watchdog");
    assert!(p2.release().unwrap() && p3.release().unwrap());
    // A crashed holder's permit comes back after its TTL.
    std::mem::forget(a.permit(b"s", 1, Some(0.3), 0.0).unwrap().expect("free"));
    let start = Instant::now();
    let p = b
        .permit(b"s", 1, Some(10.0), 3.0)
        .unwrap()
        .expect("after its TTL");
    assert!(start.elapsed() < Duration::from_millis(800));
    std::mem::forget(p);
    assert_eq!(crate::lock::lease::request::release_request_leases(), 1);
    assert_eq!(a.permits_held(b"s").unwrap(), (0, 0));
    assert!(p3.promote(Duration::ZERO).is_err());
    let left = crate::lock::memory::with_store("semaphores", |s, _| s.keys());
    assert!(left.iter().all(|k| k.ends_with(b"}fences")), "{left:?}");
}

/// One step of the semaphore property test.
#[derive(Clone, Debug)]
enum Step {
    /// `permit()` without waiting.
    Take(usize),
    /// A waiter joins the queue (one attempt with queueing).
    Queue(usize),
    /// A queued waiter wakes (BLPOP for 1 ms, the attempt pipelined behind it).
    Poll(usize),
    /// A queued waiter gives up.
    Cancel(usize),
    /// A queued waiter dies: its heartbeat deadline is moved into the past.
    Die(usize),
    Release(usize),
    /// A permit expires (its score is moved into the past from outside).
    Expire(usize),
    Extend(usize),
    /// `permit()` with another count.
    OtherCount(usize),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0..3usize).prop_map(Step::Take),
        3 => (0..3usize).prop_map(Step::Queue),
        3 => (0..6usize).prop_map(Step::Poll),
        1 => (0..6usize).prop_map(Step::Cancel),
        1 => (0..6usize).prop_map(Step::Die),
        3 => (0..8usize).prop_map(Step::Release),
        1 => (0..8usize).prop_map(Step::Expire),
        1 => (0..8usize).prop_map(Step::Extend),
        1 => (0..3usize).prop_map(Step::OtherCount),
    ]
}

const NAMES: [&[u8]; 6] = [b"s", b"{s}", b"a:{b}", b"\0", b"sem:", b"}{!rl"];

/// A waiter in the model: queued, handed a permit (not yet claimed), or done.
#[derive(Clone, Copy, Debug, PartialEq)]
enum W {
    Queued,
    Handed,
    Done,
}

/// Random interleavings of permit, queued waits (step by step), cancels, deaths, releases,
/// extensions, expiries and mismatched counts from three clients on one semaphore, checked after
/// every step against a model: never more than N live permits, waiters served in arrival order
/// as far as the permits allow, expired permits come back, every call answers as the model says,
/// and Redis holds exactly the model's permits; nothing is left once all are released.
#[test]
fn semaphores_follow_the_model() {
    let server = RedisServer::start();
    let clients: Vec<Locker> = (0..3).map(|_| locker(&server)).collect();
    follow_the_model(&clients, &Oracle::Redis(&server));
}

/// The same cases against `memory://`: one contract, two backends.
#[test]
fn semaphores_on_memory_follow_the_model() {
    let clients: Vec<Locker> = (0..3)
        .map(|_| super::unshared(config("memory://semaphore-model", &[])))
        .collect();
    follow_the_model(&clients, &Oracle::Memory("semaphore-model"));
}

/// What the test sees and does behind the engine's back: a second connection to the real
/// server, or the memory space itself.
enum Oracle<'a> {
    Redis(&'a RedisServer),
    Memory(&'static str),
}

impl Oracle<'_> {
    /// Members of the sorted set `key` scored above now.
    fn live(&self, key: &[u8]) -> usize {
        match self {
            Oracle::Redis(server) => {
                let now: Vec<String> = q(&mut server.client(), &["TIME"]);
                let now_ms =
                    now[0].parse::<i64>().unwrap() * 1000 + now[1].parse::<i64>().unwrap() / 1000;
                redis::cmd("ZCOUNT")
                    .arg(key)
                    .arg(format!("({now_ms}"))
                    .arg("+inf")
                    .query::<i64>(&mut server.client())
                    .unwrap() as usize
            }
            Oracle::Memory(name) => crate::lock::memory::with_store(name, |s, now| {
                let all = s.zrange(key, 0, -1, now).unwrap();
                all.iter().filter(|(score, _)| *score > now as f64).count()
            }),
        }
    }

    /// `ZADD key XX score member`.
    fn rescore(&self, key: &[u8], score: i64, member: &[u8]) {
        match self {
            Oracle::Redis(server) => {
                let _: i64 = redis::cmd("ZADD")
                    .arg(key)
                    .arg("XX")
                    .arg(score)
                    .arg(member)
                    .query(&mut server.client())
                    .unwrap();
            }
            Oracle::Memory(name) => crate::lock::memory::with_store(name, |s, now| {
                if s.zscore(key, member, now).unwrap().is_some() {
                    s.zadd(key, score as f64, member, false, now).unwrap();
                }
            }),
        }
    }

    fn del(&self, key: &[u8]) {
        match self {
            Oracle::Redis(server) => {
                let _: i64 = redis::cmd("DEL")
                    .arg(key)
                    .query(&mut server.client())
                    .unwrap();
            }
            Oracle::Memory(name) => {
                crate::lock::memory::with_store(name, |s, now| s.del(key, now));
            }
        }
    }

    fn keys(&self) -> Vec<Vec<u8>> {
        match self {
            Oracle::Redis(server) => keys_left(server),
            Oracle::Memory(name) => crate::lock::memory::with_store(name, |s, _| s.keys()),
        }
    }

    fn pttl(&self, key: &[u8]) -> i64 {
        match self {
            Oracle::Redis(server) => redis::cmd("PTTL")
                .arg(key)
                .query(&mut server.client())
                .unwrap(),
            Oracle::Memory(name) => {
                crate::lock::memory::with_store(name, |s, now| s.pttl(key, now))
            }
        }
    }
}

fn follow_the_model(clients: &[Locker], oracle: &Oracle<'_>) {
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};
    // SEMAPHORE_MODEL_CASES sets the number of cases (default 300; `make test` runs 500).
    let cases: u32 = std::env::var("SEMAPHORE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let case = (
        1..4u32,
        0..NAMES.len(),
        proptest::collection::vec(step(), 1..40),
    );
    let counter = std::cell::Cell::new(0u32);
    let result = runner.run(&case, |(n, name_i, steps)| {
        counter.set(counter.get() + 1);
        let name = [NAMES[name_i], counter.get().to_string().as_bytes()].concat();
        let keys = LockKeys::semaphore(b"", &name).unwrap();
        let ttl = Duration::from_secs(30);
        // (lease, held in the model)
        let mut leases: Vec<(Lease, bool)> = Vec::new();
        let mut waiters: Vec<(Waiter, W)> = Vec::new();
        // Queued live waiters in arrival order (indexes into `waiters`).
        let mut queue: Vec<usize> = Vec::new();
        // A lock of the same name, held throughout: semaphores are apart from locks.
        let lock = clients[2]
            .lock(&name, Some(30.0), 0.0)
            .unwrap()
            .expect("lock");
        let live_of = |leases: &Vec<(Lease, bool)>, waiters: &Vec<(Waiter, W)>| {
            leases.iter().filter(|l| l.1).count()
                + waiters.iter().filter(|w| w.1 == W::Handed).count()
        };
        // What every script on the semaphore does first: let in the queue's head while
        // permits are free.
        let admit = |leases: &Vec<(Lease, bool)>,
                     waiters: &mut Vec<(Waiter, W)>,
                     queue: &mut Vec<usize>| {
            while live_of(leases, waiters) < n as usize && !queue.is_empty() {
                let w = queue.remove(0);
                waiters[w].1 = W::Handed;
            }
        };
        let grant = |w: &Waiter, c: usize| {
            Lease::new(Grant {
                kind: Kind::Permit,
                key: name.clone(),
                keys: w.keys.clone(),
                token: w.token.clone(),
                fence: 0,
                ttl,
                watchdog: false,
                unsure: false,
                client: clients[c].client().clone(),
                config: clients[c].lease_config(),
                replicas: None,
                permits: n,
            })
            .expect("no watchdog")
        };
        for s in &steps {
            match *s {
                Step::Take(c) => {
                    admit(&leases, &mut waiters, &mut queue);
                    let free = live_of(&leases, &waiters) < n as usize;
                    let got = clients[c]
                        .permit(&name, i64::from(n), Some(30.0), 0.0)
                        .unwrap();
                    proptest::prop_assert_eq!(got.is_some(), free, "take");
                    if let Some(l) = got {
                        leases.push((l, true));
                    }
                }
                Step::Queue(c) => {
                    admit(&leases, &mut waiters, &mut queue);
                    let free = live_of(&leases, &waiters) < n as usize;
                    let token = crate::lock::token().into_bytes();
                    let waiter =
                        Waiter::new(&clients[c], keys.clone(), token, ttl).for_permit(&name, n);
                    let got = waiter.attempt(true).unwrap();
                    proptest::prop_assert_eq!(matches!(got, Attempt::Held(0)), free, "queue");
                    if free {
                        leases.push((grant(&waiter, c), true));
                        waiters.push((waiter, W::Done));
                    } else {
                        queue.push(waiters.len());
                        waiters.push((waiter, W::Queued));
                    }
                }
                Step::Poll(w) if w < waiters.len() && waiters[w].1 != W::Done => {
                    admit(&leases, &mut waiters, &mut queue);
                    let handed = waiters[w].1 == W::Handed;
                    let got = waiters[w]
                        .0
                        .wait_then_attempt(Duration::from_millis(1))
                        .unwrap();
                    proptest::prop_assert_eq!(matches!(got, Attempt::Held(0)), handed, "poll");
                    if handed {
                        let lease = grant(&waiters[w].0, 0);
                        leases.push((lease, true));
                        waiters[w].1 = W::Done;
                    }
                }
                Step::Cancel(w) if w < waiters.len() && waiters[w].1 != W::Done => {
                    let handed = waiters[w].1 == W::Handed;
                    queue.retain(|&x| x != w);
                    let got = waiters[w].0.cancel().unwrap();
                    proptest::prop_assert_eq!(got.is_some(), handed, "cancel");
                    if handed {
                        let lease = grant(&waiters[w].0, 0);
                        leases.push((lease, true));
                    }
                    waiters[w].1 = W::Done;
                    admit(&leases, &mut waiters, &mut queue);
                }
                Step::Die(w) if w < waiters.len() && waiters[w].1 == W::Queued => {
                    let member = format!(
                        "r{}:{}",
                        ttl.as_millis(),
                        String::from_utf8(waiters[w].0.token.clone()).unwrap()
                    );
                    oracle.rescore(&keys.alive, 0, member.as_bytes());
                    queue.retain(|&x| x != w);
                    waiters[w].1 = W::Done;
                }
                Step::Release(i) if i < leases.len() => {
                    let held = leases[i].1;
                    // A lease this process already knows is gone (released, or found lost)
                    // runs no script, so nobody is let in.
                    let runs = leases[i].0.status() == Status::Held;
                    proptest::prop_assert_eq!(leases[i].0.release().unwrap(), held, "release");
                    leases[i].1 = false;
                    if runs {
                        admit(&leases, &mut waiters, &mut queue);
                    }
                }
                Step::Expire(i) if i < leases.len() && leases[i].1 => {
                    let token = String::from_utf8(leases[i].0.token().to_vec()).unwrap();
                    oracle.rescore(&keys.readers, 1, token.as_bytes());
                    leases[i].1 = false;
                    // No script runs: the next one lets the queue in.
                }
                Step::Extend(i) if i < leases.len() => {
                    let held = leases[i].1;
                    proptest::prop_assert_eq!(leases[i].0.extend(30_000).unwrap(), held, "extend");
                }
                Step::OtherCount(c) if live_of(&leases, &waiters) > 0 => {
                    let got = clients[c].permit(&name, i64::from(n) + 1, Some(30.0), 0.0);
                    let err = got.err().map(|e| e.kind());
                    proptest::prop_assert_eq!(err, Some(crate::lock::ErrorKind::Conflict));
                }
                _ => {}
            }
            let live_model = live_of(&leases, &waiters);
            proptest::prop_assert!(live_model <= n as usize, "more than N in the model");
            let held = clients[1].permits_held(&name).unwrap();
            let redis_live = oracle.live(&keys.readers);
            proptest::prop_assert_eq!(redis_live, live_model, "live permits");
            proptest::prop_assert!(redis_live <= n as usize, "more than N in Redis");
            proptest::prop_assert_eq!(
                held,
                (live_model as u32, if live_model > 0 { n } else { 0 })
            );
            for (l, h) in &leases {
                if *h {
                    proptest::prop_assert!(l.is_held().unwrap());
                }
            }
        }
        // Clean up: waiters leave (a handed permit is claimed and released), leases go.
        for (w, state) in &waiters {
            if *state != W::Done && w.cancel().unwrap().is_some() {
                let _ = clients[0].permit(&name, i64::from(n), Some(1.0), 0.0);
            }
        }
        for (l, _) in &leases {
            let _ = l.release();
        }
        // A last call sweeps what expired behind the scripts' backs.
        let last = clients[0]
            .permit(&name, i64::from(n), Some(30.0), 0.0)
            .unwrap();
        if let Some(l) = last {
            l.release().unwrap();
        }
        // Permits claimed by the cancels above are this test's own leftovers: release all.
        oracle.del(&keys.readers);
        oracle.del(&keys.lock);
        proptest::prop_assert!(lock.release().unwrap(), "the lock was untouched");
        // Only this case's keys (a failing case's leftovers must not fail the shrunk ones).
        // Dead waiters' places expire with the queue (twice the heartbeat window), wake lists
        // with the claim window.
        let left: Vec<String> = oracle
            .keys()
            .into_iter()
            .filter(|k| {
                k.windows(keys.lock.len())
                    .any(|w| w == keys.lock.as_slice())
            })
            .filter(|k| {
                let pttl = oracle.pttl(k);
                let word = k.get(9..).unwrap_or_default();
                let transient = word.starts_with(b"queue:")
                    || word.starts_with(b"alive:")
                    || word.starts_with(b"wake:");
                !transient || !(pttl == -2 || (1..=4000).contains(&pttl))
            })
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect();
        proptest::prop_assert!(left.is_empty(), "left behind: {:?}", left);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Redis Cluster: a semaphore on each master (its keys all in its name's slot), hand-over to a
/// waiter, and permits that stay held (and a count that stays checked) across a slot migration.
#[test]
fn semaphores_work_on_every_master_of_a_cluster_and_across_a_migration() {
    use super::cluster::{key_on, migrate_slot};
    use crate::lock::testing::ClusterSet;
    let set = ClusterSet::start(3, 0);
    let cluster = || super::unshared(config(&set.dsn(&[0]), &[]));
    let (a, b) = (cluster(), cluster());
    for master in 0..3 {
        for name in [
            key_on(&set, master, "sem"),
            format!("{{{}}}:x", key_on(&set, master, "t")),
        ] {
            let name = name.as_bytes();
            let p1 = a.permit(name, 2, Some(10.0), 0.0).unwrap().expect("free");
            let p2 = b.permit(name, 2, Some(10.0), 0.0).unwrap().expect("second");
            assert!(a.permit(name, 2, Some(10.0), 0.0).unwrap().is_none());
            assert_eq!(a.permits_held(name).unwrap(), (2, 2));
            let c = cluster();
            let owned = name.to_vec();
            let waiter = std::thread::spawn(move || c.permit(&owned, 2, Some(10.0), 5.0).unwrap());
            sleep_ms(200);
            assert!(p1.release().unwrap());
            let p3 = waiter.join().unwrap().expect("handed over");
            assert!(p3.is_held().unwrap());
            let slot = LockKeys::semaphore(b"", name).unwrap().slot;
            assert_eq!(set.master_of(slot), master);
            let to = (master + 1) % 3;
            migrate_slot(&set, slot, master, to);
            assert!(
                p2.is_held().unwrap() && p3.is_held().unwrap(),
                "held after the move"
            );
            assert!(p2.extend(10_000).unwrap());
            assert!(
                a.permit(name, 2, Some(10.0), 0.0).unwrap().is_none(),
                "still two"
            );
            assert!(
                a.permit(name, 3, Some(10.0), 0.0).is_err(),
                "the count moved too"
            );
            assert!(p2.release().unwrap() && p3.release().unwrap());
            assert_eq!(a.permits_held(name).unwrap(), (0, 0));
            migrate_slot(&set, slot, to, master);
        }
    }
}

/// A permit wait that ends while the server is stalled (SIGSTOP) strands no permit: the
/// commands still stuck in the server's sockets take nothing when it resumes (tombstone), and
/// nobody is left in line.
#[test]
fn a_permit_wait_given_up_during_a_stall_strands_no_permit() {
    let server = RedisServer::start();
    let l = locker_with(&server, &[("readTimeout", OptionValue::Float(0.2))]);
    let full = locker(&server)
        .permit(b"s", 1, Some(30.0), 0.0)
        .unwrap()
        .expect("free");
    // Scripts loaded, as in any process that has taken permits before.
    assert!(l.permit(b"s", 1, Some(1.0), 0.0).unwrap().is_none());
    assert!(full.release().unwrap());
    for wait in [0.3, 0.0] {
        server.signal("STOP");
        let err = l.permit(b"s", 1, Some(30.0), wait).map(|_| ()).unwrap_err();
        assert!(err.is_timeout() || err.is_connection(), "{err:?}");
        server.signal("CONT");
        sleep_ms(300); // the server runs what its sockets held
        assert_eq!(live(&server, b"s"), 0, "wait {wait}: no permit for nobody");
        let keys = LockKeys::semaphore(b"", b"s").unwrap();
        let queue: i64 = redis::cmd("ZCARD")
            .arg(&keys.queue)
            .query(&mut server.client())
            .unwrap();
        assert_eq!(queue, 0, "wait {wait}: nobody left in line");
        let p = locker(&server)
            .permit(b"s", 1, Some(5.0), 0.0)
            .unwrap()
            .expect("free");
        assert!(p.release().unwrap());
    }
}

/// A permit wait rides out a server stall and killed connections, and still gets its permit.
#[test]
fn a_permit_wait_rides_out_a_stall_and_killed_connections() {
    let server = RedisServer::start();
    let holder = locker(&server);
    let waiter = locker_with(&server, &[("readTimeout", OptionValue::Float(0.3))]);
    let held = holder
        .permit(b"s", 1, Some(30.0), 0.0)
        .unwrap()
        .expect("free");
    let handle = std::thread::spawn(move || waiter.permit(b"s", 1, Some(10.0), 10.0));
    sleep_ms(300);
    let mut c = server.client();
    let _: () = q(&mut c, &["DEBUG", "SLEEP", "1"]);
    for _ in 0..2 {
        let _: i64 = q(
            &mut c,
            &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
        );
        sleep_ms(300);
    }
    let released = held.release();
    assert!(released.is_ok(), "{released:?}");
    let permit = handle.join().unwrap().expect("no error").expect("its turn");
    assert!(permit.is_held().unwrap());
    assert_eq!(live(&server, b"s"), 1);
    assert!(permit.release().unwrap());
}
