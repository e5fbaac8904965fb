//! Shared (read) leases: readers together, never with a writer, FIFO with writers not starved,
//! readers' own expiry, the watchdog and request end.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::leases::watchdog_turn;
use super::{config, get, sleep_ms};
use crate::lock::Locker;
use crate::lock::keys::LockKeys;
use crate::lock::lease::state::Status;
use crate::lock::memory;
use crate::lock::options::OptionValue;
use crate::lock::testing::{RedisServer, q};

const MARKER: &str = "!rl:shared";

fn locker_with(server: &RedisServer, extra: &[(&str, OptionValue)]) -> Locker {
    super::unshared(config(&server.dsn(), extra))
}

fn locker(server: &RedisServer) -> Locker {
    locker_with(server, &[])
}

/// Live members of the readers set of `k`.
fn readers(server: &RedisServer) -> i64 {
    let keys = LockKeys::new(b"", b"k").unwrap();
    let readers = String::from_utf8(keys.readers).unwrap();
    let now: Vec<String> = q(&mut server.client(), &["TIME"]);
    let now_ms = now[0].parse::<i64>().unwrap() * 1000 + now[1].parse::<i64>().unwrap() / 1000;
    q(
        &mut server.client(),
        &["ZCOUNT", &readers, &format!("({now_ms}"), "+inf"],
    )
}

#[test]
fn readers_hold_together_and_exclude_a_writer() {
    let server = RedisServer::start();
    let (a, b, w) = (locker(&server), locker(&server), locker(&server));
    let r1 = a.lock_shared(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let r2 = b
        .lock_shared(b"k", Some(10.0), 0.0)
        .unwrap()
        .expect("shared");
    assert_eq!((r1.fence(), r2.fence()), (0, 0), "shares have no fence");
    assert_eq!(readers(&server), 2);
    assert!(w.lock(b"k", Some(10.0), 0.0).unwrap().is_none());
    assert!(
        w.lock(b"k", Some(10.0), 0.3).unwrap().is_none(),
        "a wait too"
    );
    assert!(w.is_locked(b"k").unwrap(), "isLocked: readers hold it too");
    assert_eq!(get(&server, "k").as_deref(), Some(MARKER));
    assert!(r1.is_held().unwrap() && r2.is_held().unwrap());
    assert!(r1.remaining().unwrap() > 9.0);
    assert!(r1.release().unwrap());
    assert!(!r1.release().unwrap(), "released once");
    assert!(w.lock(b"k", Some(10.0), 0.0).unwrap().is_none());
    assert!(r2.release().unwrap());
    let held = w.lock(b"k", Some(10.0), 0.0).unwrap().expect("free again");
    assert!(held.fence() > 0);
}

#[test]
fn a_writer_excludes_readers_until_it_releases() {
    let server = RedisServer::start();
    let (w, r) = (locker(&server), locker(&server));
    let held = w.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    assert!(r.lock_shared(b"k", Some(10.0), 0.0).unwrap().is_none());
    let waiter = std::thread::spawn(move || {
        let start = Instant::now();
        let share = r
            .lock_shared(b"k", Some(10.0), 3.0)
            .unwrap()
            .expect("after");
        (share, start.elapsed())
    });
    sleep_ms(200);
    assert!(held.release().unwrap());
    let (share, waited) = waiter.join().unwrap();
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_millis(500),
        "{waited:?}"
    );
    assert!(share.is_held().unwrap());
    assert!(share.remaining().unwrap() > 9.0, "claimed to its own TTL");
    assert_eq!(
        get(&server, "k").as_deref(),
        Some(MARKER),
        "the readers' marker"
    );
}

#[test]
fn the_last_reader_out_hands_the_lock_to_a_waiting_writer() {
    let server = RedisServer::start();
    let (a, b, w) = (locker(&server), locker(&server), locker(&server));
    let r1 = a.lock_shared(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let r2 = b
        .lock_shared(b"k", Some(10.0), 0.0)
        .unwrap()
        .expect("shared");
    let waiter = std::thread::spawn(move || {
        let start = Instant::now();
        let lease = w.lock(b"k", Some(10.0), 3.0).unwrap().expect("handed over");
        (lease, start.elapsed())
    });
    sleep_ms(150);
    assert!(r1.release().unwrap());
    sleep_ms(150);
    assert!(r2.release().unwrap());
    let released = Instant::now();
    let (lease, waited) = waiter.join().unwrap();
    let woken = released.elapsed();
    eprintln!("the writer got the lock {woken:?} after the last reader left");
    assert!(waited >= Duration::from_millis(290), "{waited:?}");
    assert!(
        woken < Duration::from_millis(100),
        "woken by the release: {woken:?}"
    );
    assert!(lease.fence() > 0 && lease.is_held().unwrap());
}

#[test]
fn a_reader_arriving_after_a_queued_writer_waits_behind_it() {
    let server = RedisServer::start();
    let (a, w, late) = (locker(&server), locker(&server), locker(&server));
    let r1 = a.lock_shared(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let order = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let order = Arc::clone(&order);
        std::thread::spawn(move || {
            let lease = w.lock(b"k", Some(10.0), 5.0).unwrap().expect("turn");
            order.lock().unwrap().push("writer");
            sleep_ms(100);
            order.lock().unwrap().push("writer out");
            assert!(lease.release().unwrap());
        })
    };
    sleep_ms(100); // the writer is queued behind r1
    assert!(
        late.lock_shared(b"k", Some(10.0), 0.0).unwrap().is_none(),
        "a writer is queued ahead: no share at once"
    );
    let reader = {
        let order = Arc::clone(&order);
        std::thread::spawn(move || {
            let share = late
                .lock_shared(b"k", Some(10.0), 5.0)
                .unwrap()
                .expect("turn");
            order.lock().unwrap().push("late reader");
            assert!(share.release().unwrap());
        })
    };
    sleep_ms(100);
    assert!(order.lock().unwrap().is_empty(), "both wait for r1");
    assert!(r1.release().unwrap());
    writer.join().unwrap();
    reader.join().unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        vec!["writer", "writer out", "late reader"]
    );
}

#[test]
fn readers_queued_together_enter_together() {
    let server = RedisServer::start();
    let w = locker(&server);
    let held = w.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let inside = Arc::new(Mutex::new(Vec::new()));
    let readers_threads: Vec<_> = (0..3)
        .map(|_| {
            let (l, inside) = (locker(&server), Arc::clone(&inside));
            let handle = std::thread::spawn(move || {
                let share = l.lock_shared(b"k", Some(10.0), 5.0).unwrap().expect("turn");
                inside.lock().unwrap().push(Instant::now());
                share
            });
            sleep_ms(30);
            handle
        })
        .collect();
    sleep_ms(100);
    let released_at = Instant::now();
    assert!(held.release().unwrap());
    let shares: Vec<_> = readers_threads
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(readers(&server), 3, "all three hold at once");
    for t in inside.lock().unwrap().iter() {
        assert!(
            t.duration_since(released_at) < Duration::from_millis(200),
            "woken by the hand-over, not by a heartbeat"
        );
    }
    assert!(shares.iter().all(|s| s.is_held().unwrap()));
}

#[test]
fn a_crashed_readers_share_expires_on_its_own() {
    let server = RedisServer::start();
    let (a, b, w) = (locker(&server), locker(&server), locker(&server));
    // A reader that dies without releasing (its process is gone: nothing runs its destructor).
    std::mem::forget(a.lock_shared(b"k", Some(0.3), 0.0).unwrap().expect("free"));
    let long = b
        .lock_shared(b"k", Some(0.8), 0.0)
        .unwrap()
        .expect("shared");
    let start = Instant::now();
    assert!(
        w.lock(b"k", Some(10.0), 0.5).unwrap().is_none(),
        "the long one still reads"
    );
    drop(long);
    let lease = w.lock(b"k", Some(10.0), 2.0).unwrap();
    assert!(lease.is_some(), "the crashed share expired");
    assert!(start.elapsed() < Duration::from_millis(900));
    // And each share expires by itself: one dead reader and a live one.
    let w_lease = lease.unwrap();
    assert!(w_lease.release().unwrap());
    std::mem::forget(a.lock_shared(b"k", Some(0.2), 0.0).unwrap().expect("free"));
    let live = b
        .lock_shared(b"k", Some(10.0), 0.0)
        .unwrap()
        .expect("shared");
    sleep_ms(300);
    assert_eq!(readers(&server), 1);
    assert!(live.is_held().unwrap());
    assert!(w.lock(b"k", Some(10.0), 0.0).unwrap().is_none());
}

#[test]
fn the_watchdog_renews_a_share() {
    let _turn = watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(&server, &[("leaseTtl", OptionValue::Float(0.3))]);
    let w = locker(&server);
    let share = l.lock_shared(b"k", None, 0.0).unwrap().expect("free");
    let until = Instant::now() + Duration::from_millis(1200); // 4 TTLs
    while Instant::now() < until {
        assert_eq!(readers(&server), 1);
        sleep_ms(50);
    }
    assert!(w.lock(b"k", Some(10.0), 0.0).unwrap().is_none());
    assert!(share.is_held().unwrap());
    assert!(share.release().unwrap());
    assert_eq!(share.status(), Status::Released);
    assert!(w.lock(b"k", Some(10.0), 0.0).unwrap().is_some());
}

#[test]
fn extend_sets_a_shares_ttl_and_fails_once_it_expired() {
    let server = RedisServer::start();
    let l = locker(&server);
    let share = l.lock_shared(b"k", Some(0.2), 0.0).unwrap().expect("free");
    assert!(share.extend(5000).unwrap());
    assert!(share.remaining().unwrap() > 4.0);
    let short = locker(&server)
        .lock_shared(b"k", Some(0.1), 0.0)
        .unwrap()
        .expect("shared");
    sleep_ms(200);
    assert!(!short.extend(5000).unwrap(), "expired: lost");
    assert_eq!(short.status(), Status::Lost);
    assert!(!short.is_held().unwrap());
}

#[test]
fn request_end_releases_a_share() {
    let server = RedisServer::start();
    let (l, w) = (locker(&server), locker(&server));
    std::mem::forget(l.lock_shared(b"k", Some(30.0), 0.0).unwrap().expect("free"));
    assert!(w.lock(b"k", Some(10.0), 0.0).unwrap().is_none());
    assert_eq!(crate::lock::lease::request::release_request_leases(), 1);
    assert_eq!(readers(&server), 0);
    assert!(w.lock(b"k", Some(10.0), 0.0).unwrap().is_some());
}

#[test]
fn force_release_clears_the_shares_too() {
    let server = RedisServer::start();
    let (l, w) = (locker(&server), locker(&server));
    let share = l.lock_shared(b"k", Some(30.0), 0.0).unwrap().expect("free");
    assert!(w.force_release(b"k").unwrap());
    assert!(!share.is_held().unwrap());
    assert!(w.lock(b"k", Some(10.0), 0.0).unwrap().is_some());
}

#[test]
fn acquire_fails_while_readers_hold_and_succeeds_after() {
    let server = RedisServer::start();
    let (a, b, d) = (locker(&server), locker(&server), locker(&server));
    let r1 = a.lock_shared(b"k", Some(10.0), 0.0).unwrap().expect("free");
    assert!(!d.acquire(b"k", b"doc", 10.0).unwrap(), "a reader holds k");
    assert!(
        !d.retry_acquire(b"k", b"doc", 10.0, 2, 0.05).unwrap(),
        "retries too"
    );
    assert!(d.is_locked(b"k").unwrap(), "isLocked while a reader holds");
    assert!(d.ttl(b"k").unwrap().unwrap() > 9.0);
    // A documents' writer with readers' hands off: no share while it holds.
    assert!(r1.release().unwrap());
    assert!(
        !d.is_locked(b"k").unwrap(),
        "the marker goes with the last share"
    );
    assert!(
        d.acquire(b"k", b"doc", 10.0).unwrap(),
        "free after the reader"
    );
    assert!(b.lock_shared(b"k", Some(10.0), 0.0).unwrap().is_none());
    assert!(d.release(b"k", b"doc").unwrap());
    // A crashed reader: its share (and the marker) expire together.
    let r2 = b.lock_shared(b"k", Some(0.3), 0.0).unwrap().expect("free");
    assert!(!d.acquire(b"k", b"doc", 10.0).unwrap());
    sleep_ms(350);
    assert!(!r2.is_held().unwrap());
    assert!(
        d.acquire(b"k", b"doc", 10.0).unwrap(),
        "free after the expiry"
    );
    assert!(d.release(b"k", b"doc").unwrap());
}

#[test]
fn the_marker_covers_the_longest_share_and_follows_it() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let long = a.lock_shared(b"k", Some(20.0), 0.0).unwrap().expect("free");
    let short = b
        .lock_shared(b"k", Some(5.0), 0.0)
        .unwrap()
        .expect("shared");
    assert_eq!(get(&server, "k").as_deref(), Some(MARKER));
    let ms = super::pttl(&server, "k");
    assert!(ms > 19_000 && ms <= 20_001, "{ms}");
    assert!(short.extend(40_000).unwrap(), "a share's extension");
    let ms = super::pttl(&server, "k");
    assert!(ms > 39_000 && ms <= 40_001, "the marker follows: {ms}");
    assert!(short.release().unwrap());
    let ms = super::pttl(&server, "k");
    assert!(
        ms > 19_000 && ms <= 20_001,
        "back to the longest left: {ms}"
    );
    assert!(long.release().unwrap());
    assert_eq!(get(&server, "k"), None);
    let left: Vec<String> = q(&mut server.client(), &["KEYS", "*"]);
    assert!(left.iter().all(|k| k.ends_with("}fences")), "{left:?}");
}

#[test]
fn reserved_values_and_tokens_are_refused() {
    let server = RedisServer::start();
    let l = locker(&server);
    for value in [MARKER.as_bytes(), b"!rl", b"!rlx"] {
        let kinds = [
            l.acquire(b"k", value, 1.0).err(),
            l.retry_acquire(b"k", value, 1.0, 0, 0.0).err(),
            l.release(b"k", value).err(),
            l.lock_as(b"k", Some(value), Some(1.0), 0.0).err(),
            l.restore(b"k", value).err(),
        ];
        for err in kinds {
            let err = err.expect("refused");
            assert_eq!(err.kind(), crate::lock::error::ErrorKind::InvalidArgument);
            assert!(err.message().contains("reserved"), "{}", err.message());
        }
    }
    assert!(
        l.acquire(b"k", b"rl!", 1.0).unwrap(),
        "only the prefix is reserved"
    );
}

#[test]
fn the_documents_release_does_not_free_readers() {
    let server = RedisServer::start();
    let (a, d) = (locker(&server), locker(&server));
    let share = a.lock_shared(b"k", Some(10.0), 0.0).unwrap().expect("free");
    assert!(!d.release(b"k", b"random-value").unwrap());
    assert!(
        !d.release(b"k", share.token()).unwrap(),
        "nor with a reader's token"
    );
    assert_eq!(get(&server, "k").as_deref(), Some(MARKER));
    assert!(share.is_held().unwrap());
    assert!(!d.acquire(b"k", b"doc", 10.0).unwrap());
    // Redis < 7's acquire script sees the marker too.
    let held: i64 = q(
        &mut server.client(),
        &[
            "EVAL",
            crate::lock::scripts::documents::ACQUIRE,
            "1",
            "k",
            "doc",
            "10000",
        ],
    );
    assert_eq!(held, 0);
    assert!(share.release().unwrap());
}

#[test]
fn force_release_clears_the_readers_and_the_marker() {
    let server = RedisServer::start();
    let (a, b, d) = (locker(&server), locker(&server), locker(&server));
    let r1 = a.lock_shared(b"k", Some(30.0), 0.0).unwrap().expect("free");
    let r2 = b
        .lock_shared(b"k", Some(30.0), 0.0)
        .unwrap()
        .expect("shared");
    assert!(d.force_release(b"k").unwrap());
    assert_eq!(get(&server, "k"), None);
    assert_eq!(readers(&server), 0);
    assert!(!r1.is_held().unwrap() && !r2.is_held().unwrap());
    assert!(!d.is_locked(b"k").unwrap());
    assert!(d.acquire(b"k", b"doc", 10.0).unwrap());
    assert!(!r1.release().unwrap());
    assert!(d.release(b"k", b"doc").unwrap());
}

#[test]
fn the_only_reader_promotes_at_once_and_demotes_back() {
    let server = RedisServer::start();
    let (l, other) = (locker(&server), locker(&server));
    let lease = l.lock_shared(b"k", Some(10.0), 0.0).unwrap().expect("free");
    assert!(lease.promote(Duration::ZERO).unwrap());
    assert!(!lease.is_shared());
    assert!(lease.fence() > 0, "a writer's fence");
    assert_eq!(
        get(&server, "k").as_deref(),
        std::str::from_utf8(lease.token()).ok()
    );
    assert_eq!(readers(&server), 0);
    assert!(lease.remaining().unwrap() > 9.0, "the share's TTL");
    assert!(other.lock_shared(b"k", Some(10.0), 0.0).unwrap().is_none());
    assert!(lease.demote().unwrap());
    assert!(lease.is_shared() && lease.fence() == 0);
    assert_eq!(get(&server, "k").as_deref(), Some(MARKER));
    assert!(lease.remaining().unwrap() > 9.0);
    let second = other.lock_shared(b"k", Some(10.0), 0.0).unwrap();
    assert!(second.is_some(), "readers again");
    assert!(other.lock(b"k", Some(10.0), 0.0).unwrap().is_none());
    assert!(lease.release().unwrap());
    drop(second);
    assert!(other.lock(b"k", Some(10.0), 0.0).unwrap().is_some());
}

#[test]
fn a_promotion_waits_for_the_other_readers_and_holds_new_ones_off() {
    let server = RedisServer::start();
    let (a, b, c) = (locker(&server), locker(&server), locker(&server));
    let r1 = a.lock_shared(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let r2 = b
        .lock_shared(b"k", Some(10.0), 0.0)
        .unwrap()
        .expect("shared");
    assert!(!r1.promote(Duration::ZERO).unwrap(), "another reader holds");
    assert!(r1.is_shared() && r1.is_held().unwrap());
    let promoter = std::thread::spawn(move || {
        let start = Instant::now();
        let promoted = r1.promote(Duration::from_secs(3)).unwrap();
        (r1, promoted, start.elapsed())
    });
    sleep_ms(150);
    assert!(
        c.lock_shared(b"k", Some(10.0), 0.0).unwrap().is_none(),
        "no new reader while a promotion waits"
    );
    assert!(r2.release().unwrap());
    let (r1, promoted, waited) = promoter.join().unwrap();
    assert!(promoted);
    assert!(waited < Duration::from_millis(400), "{waited:?}");
    assert!(!r1.is_shared() && r1.fence() > 0);
    assert!(c.lock_shared(b"k", Some(10.0), 0.0).unwrap().is_none());
    assert!(r1.release().unwrap());
    assert!(c.lock_shared(b"k", Some(10.0), 0.0).unwrap().is_some());
}

#[test]
fn a_promotion_that_gives_up_stays_a_reader_and_lets_readers_in_again() {
    let server = RedisServer::start();
    let (a, b, c) = (locker(&server), locker(&server), locker(&server));
    let r1 = a.lock_shared(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let _r2 = b
        .lock_shared(b"k", Some(10.0), 0.0)
        .unwrap()
        .expect("shared");
    assert!(!r1.promote(Duration::from_millis(200)).unwrap());
    assert!(r1.is_shared() && r1.is_held().unwrap() && r1.fence() == 0);
    let r3 = c.lock_shared(b"k", Some(10.0), 0.0).unwrap();
    assert!(r3.is_some(), "the promotion left the head of the line");
    assert_eq!(readers(&server), 3);
}

#[test]
fn demote_lets_the_queued_readers_in_but_not_past_a_queued_writer() {
    let server = RedisServer::start();
    let (w, r, w2) = (locker(&server), locker(&server), locker(&server));
    let lease = w.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let reader = std::thread::spawn(move || {
        let start = Instant::now();
        let share = r
            .lock_shared(b"k", Some(10.0), 3.0)
            .unwrap()
            .expect("after demote");
        (share, start.elapsed())
    });
    sleep_ms(100);
    let writer = std::thread::spawn(move || w2.lock(b"k", Some(10.0), 3.0).unwrap().is_some());
    sleep_ms(100);
    assert!(lease.demote().unwrap());
    let (share, waited) = reader.join().unwrap();
    assert!(waited < Duration::from_millis(450), "{waited:?}");
    assert_eq!(readers(&server), 2);
    sleep_ms(100);
    assert!(!writer.is_finished(), "the writer waits for both shares");
    assert!(lease.release().unwrap() && share.release().unwrap());
    assert!(writer.join().unwrap());
}

#[test]
fn the_watchdog_renews_a_lease_across_promote_and_demote() {
    let _turn = watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(&server, &[("leaseTtl", OptionValue::Float(0.3))]);
    let lease = l.lock_shared(b"k", None, 0.0).unwrap().expect("free");
    assert!(lease.promote(Duration::ZERO).unwrap());
    sleep_ms(900);
    assert!(lease.is_held().unwrap() && !lease.is_shared());
    assert!(lease.demote().unwrap());
    sleep_ms(900);
    assert!(lease.is_held().unwrap() && lease.is_shared());
    assert_eq!(readers(&server), 1);
    assert!(lease.release().unwrap());
}

/// One step of the shared-lease property test (non-blocking calls and outside expiries).
#[derive(Clone, Debug)]
enum Step {
    Lock(usize),
    LockShared(usize),
    Release(usize),
    Promote(usize),
    Demote(usize),
    /// The share (or lock) of a lease expires: its score (or the lock) is removed from outside.
    Expire(usize),
    Extend(usize),
    /// The documents' `acquire(key, "doc<c>")`.
    Acquire(usize),
    /// The documents' `release(key, "doc<c>")` (`c` = 3: a value nobody holds).
    DocRelease(usize),
    ForceRelease,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (0..3usize).prop_map(Step::Lock),
        (0..3usize).prop_map(Step::LockShared),
        (0..8usize).prop_map(Step::Release),
        (0..8usize).prop_map(Step::Promote),
        (0..8usize).prop_map(Step::Demote),
        (0..8usize).prop_map(Step::Expire),
        (0..8usize).prop_map(Step::Extend),
        (0..3usize).prop_map(Step::Acquire),
        (0..4usize).prop_map(Step::DocRelease),
        Just(Step::ForceRelease),
    ]
}

/// What the property test sees and does behind the engine's back: a second connection to the
/// real server, or the memory space itself.
enum Side<'a> {
    Redis(&'a RedisServer),
    Memory(&'static str),
}

impl Side<'_> {
    fn now_ms(&self) -> i64 {
        match self {
            Side::Redis(server) => {
                let now: Vec<String> = q(&mut server.client(), &["TIME"]);
                now[0].parse::<i64>().unwrap() * 1000 + now[1].parse::<i64>().unwrap() / 1000
            }
            Side::Memory(name) => memory::with_store(name, |_, now| now),
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        match self {
            Side::Redis(server) => q(&mut server.client(), &["GET", key]),
            Side::Memory(name) => memory::with_store(name, |s, now| {
                s.get(key.as_bytes(), now)
                    .unwrap()
                    .map(|v| String::from_utf8(v.to_vec()).unwrap())
            }),
        }
    }

    fn del(&self, keys: &[&str]) {
        match self {
            Side::Redis(server) => {
                let mut args = vec!["DEL"];
                args.extend_from_slice(keys);
                let _: i64 = q(&mut server.client(), &args);
            }
            Side::Memory(name) => memory::with_store(name, |s, now| {
                for key in keys {
                    s.del(key.as_bytes(), now);
                }
            }),
        }
    }

    fn pexpire(&self, key: &str, ms: i64) {
        match self {
            Side::Redis(server) => {
                let _: i64 = q(&mut server.client(), &["PEXPIRE", key, &ms.to_string()]);
            }
            Side::Memory(name) => {
                memory::with_store(name, |s, now| s.pexpire(key.as_bytes(), ms, now));
            }
        }
    }

    /// Scores `member` of sorted set `key` at 1 (long past).
    fn expire_member(&self, key: &str, member: &str) {
        match self {
            Side::Redis(server) => {
                let _: i64 = q(&mut server.client(), &["ZADD", key, "1", member]);
            }
            Side::Memory(name) => memory::with_store(name, |s, now| {
                s.zadd(key.as_bytes(), 1.0, member.as_bytes(), false, now)
                    .unwrap();
            }),
        }
    }

    /// The scores of sorted set `key`, in order.
    fn scores(&self, key: &str) -> Vec<i64> {
        match self {
            Side::Redis(server) => {
                let all: Vec<String> = q(
                    &mut server.client(),
                    &["ZRANGE", key, "0", "-1", "WITHSCORES"],
                );
                all.chunks(2)
                    .map(|pair| pair[1].parse::<f64>().unwrap() as i64)
                    .collect()
            }
            Side::Memory(name) => memory::with_store(name, |s, now| {
                s.zrange(key.as_bytes(), 0, -1, now)
                    .unwrap()
                    .iter()
                    .map(|(score, _)| *score as i64)
                    .collect()
            }),
        }
    }

    fn keys(&self) -> Vec<String> {
        match self {
            Side::Redis(server) => q(&mut server.client(), &["KEYS", "*"]),
            Side::Memory(name) => memory::with_store(name, |s, now| {
                s.keys()
                    .into_iter()
                    .filter(|k| s.exists(k, now))
                    .map(|k| String::from_utf8_lossy(&k).into_owned())
                    .collect()
            }),
        }
    }

    /// What time does to the readers' marker once a share has expired (the test expires a
    /// share early, by its score): it lives until the latest live share's expiry, or is gone.
    fn expire_marker(&self, key: &str, readers: &str) {
        if self.get(key).as_deref() != Some(MARKER) {
            return;
        }
        let now_ms = self.now_ms();
        match self.scores(readers).last() {
            Some(&until) if until > now_ms => self.pexpire(key, until - now_ms + 1),
            _ => self.del(&[key]),
        }
    }

    /// What time does to the readers set itself: its TTL follows its latest live member (a
    /// set of dead members only is gone), as when its shares expire on their own.
    fn expire_readers(&self, readers: &str) {
        let now_ms = self.now_ms();
        match self.scores(readers).last() {
            Some(&until) if until > now_ms => self.pexpire(readers, until - now_ms + 1),
            _ => self.del(&[readers]),
        }
    }

    fn readers_live(&self, readers: &str) -> i64 {
        let now_ms = self.now_ms();
        self.scores(readers).iter().filter(|&&s| s > now_ms).count() as i64
    }
}

/// Random interleavings of lock, lockShared, release, promote, demote, extend and expiries from
/// three clients on one key, checked after every step against a model: never a writer with
/// anyone else, every call answers as the model says, and Redis holds exactly the model's writer
/// and readers.
#[test]
fn shared_leases_follow_the_model() {
    let server = RedisServer::start();
    let clients: Vec<Locker> = (0..3).map(|_| locker(&server)).collect();
    shared_model(&clients, &Side::Redis(&server));
}

/// The same on `memory://`, which runs the same scripts.
#[test]
fn shared_leases_follow_the_model_on_memory() {
    memory::reset("shared-model");
    let clients: Vec<Locker> = (0..3)
        .map(|_| super::unshared(config("memory://shared-model", &[])))
        .collect();
    shared_model(&clients, &Side::Memory("shared-model"));
}

fn shared_model(clients: &[Locker], side: &Side<'_>) {
    use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 256,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let cases = std::cell::Cell::new(0u32);
    let result = runner.run(&proptest::collection::vec(step(), 1..40), |steps| {
        cases.set(cases.get() + 1);
        let key = format!("model:{}", cases.get());
        let keys = LockKeys::new(b"", key.as_bytes()).unwrap();
        let readers_key = String::from_utf8(keys.readers.clone()).unwrap();
        // (lease, held in the model)
        let mut leases: Vec<(crate::lock::lease::Lease, bool)> = Vec::new();
        // The client holding the key through the documents' API, if any.
        let mut doc: Option<usize> = None;
        let writer = |leases: &Vec<(crate::lock::lease::Lease, bool)>| {
            leases.iter().position(|(l, held)| *held && !l.is_shared())
        };
        let readers_of = |leases: &Vec<(crate::lock::lease::Lease, bool)>| {
            leases
                .iter()
                .enumerate()
                .filter(|(_, (l, held))| *held && l.is_shared())
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        for s in &steps {
            let w = writer(&leases);
            let rs = readers_of(&leases);
            match *s {
                Step::Lock(c) => {
                    let got = clients[c].lock(key.as_bytes(), Some(30.0), 0.0).unwrap();
                    proptest::prop_assert_eq!(
                        got.is_some(),
                        w.is_none() && rs.is_empty() && doc.is_none()
                    );
                    if let Some(l) = got {
                        leases.push((l, true));
                    }
                }
                Step::LockShared(c) => {
                    let got = clients[c]
                        .lock_shared(key.as_bytes(), Some(30.0), 0.0)
                        .unwrap();
                    proptest::prop_assert_eq!(got.is_some(), w.is_none() && doc.is_none());
                    if let Some(l) = got {
                        leases.push((l, true));
                    }
                }
                Step::Release(i) if i < leases.len() => {
                    let held = leases[i].1;
                    proptest::prop_assert_eq!(leases[i].0.release().unwrap(), held);
                    leases[i].1 = false;
                }
                Step::Promote(i) if i < leases.len() => {
                    let (lease, held) = &leases[i];
                    let expected = *held && (!lease.is_shared() || rs == vec![i]);
                    proptest::prop_assert_eq!(lease.promote(Duration::ZERO).unwrap(), expected);
                    if *held && lease.is_shared() && expected {
                        return Err(TestCaseError::fail("promoted but still shared"));
                    }
                }
                Step::Demote(i) if i < leases.len() => {
                    let held = leases[i].1;
                    proptest::prop_assert_eq!(leases[i].0.demote().unwrap(), held);
                }
                Step::Expire(i) if i < leases.len() => {
                    let (lease, held) = &leases[i];
                    if *held {
                        let token = String::from_utf8(lease.token().to_vec()).unwrap();
                        if lease.is_shared() {
                            side.expire_member(&readers_key, &token);
                            side.expire_marker(&key, &readers_key);
                            side.expire_readers(&readers_key);
                        } else {
                            let fence = String::from_utf8(keys.fence.clone()).unwrap();
                            side.del(&[&key, &fence]);
                        }
                        leases[i].1 = false;
                    }
                }
                Step::Extend(i) if i < leases.len() => {
                    let held = leases[i].1;
                    proptest::prop_assert_eq!(leases[i].0.extend(30_000).unwrap(), held);
                }
                Step::Acquire(c) => {
                    let value = format!("doc{c}");
                    let got = clients[c]
                        .acquire(key.as_bytes(), value.as_bytes(), 30.0)
                        .unwrap();
                    let expected =
                        w.is_none() && rs.is_empty() && (doc.is_none() || doc == Some(c));
                    proptest::prop_assert_eq!(got, expected);
                    if got {
                        doc = Some(c);
                    }
                }
                Step::DocRelease(c) => {
                    let value = format!("doc{c}");
                    let got = clients[c % 3]
                        .release(key.as_bytes(), value.as_bytes())
                        .unwrap();
                    proptest::prop_assert_eq!(got, doc == Some(c));
                    if got {
                        doc = None;
                    }
                }
                Step::ForceRelease => {
                    clients[0].force_release(key.as_bytes()).unwrap();
                    for lease in &mut leases {
                        lease.1 = false;
                    }
                    doc = None;
                }
                _ => {}
            }
            // Redis agrees with the model.
            let w = writer(&leases);
            let rs = readers_of(&leases);
            proptest::prop_assert!(w.is_none() || rs.is_empty(), "a writer with readers");
            proptest::prop_assert!(
                doc.is_none() || (w.is_none() && rs.is_empty()),
                "acquire() with a lease"
            );
            let holder = side.get(&key);
            let expected = match (w, doc) {
                (Some(i), _) => Some(String::from_utf8(leases[i].0.token().to_vec()).unwrap()),
                (None, Some(c)) => Some(format!("doc{c}")),
                (None, None) if !rs.is_empty() => Some(MARKER.to_string()),
                (None, None) => None,
            };
            proptest::prop_assert_eq!(holder, expected);
            proptest::prop_assert_eq!(
                clients[1].is_locked(key.as_bytes()).unwrap(),
                w.is_some() || doc.is_some() || !rs.is_empty()
            );
            proptest::prop_assert_eq!(side.readers_live(&readers_key), rs.len() as i64);
            for &r in &rs {
                proptest::prop_assert!(leases[r].0.is_held().unwrap());
            }
        }
        for (lease, held) in &leases {
            proptest::prop_assert_eq!(lease.release().unwrap(), *held);
        }
        if let Some(c) = doc {
            let value = format!("doc{c}");
            proptest::prop_assert!(
                clients[c]
                    .release(key.as_bytes(), value.as_bytes())
                    .unwrap()
            );
        }
        // This case's keys only (a failing case's leftovers must not fail the shrunk ones).
        let left: Vec<String> = side
            .keys()
            .into_iter()
            .filter(|k| k == &key || k.ends_with(&format!(":{key}")))
            .collect();
        proptest::prop_assert!(left.is_empty(), "left behind: {left:?}");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn a_share_taken_with_a_token_is_restored_as_a_share() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let share = a
        .lock_shared_as(b"k", Some(b"reader-1"), Some(10.0), 0.0)
        .unwrap()
        .expect("free");
    assert_eq!(share.token(), b"reader-1");
    let again = a
        .lock_shared_as(b"k", Some(b"reader-1"), Some(20.0), 0.0)
        .unwrap()
        .expect("its own share is kept");
    assert!(again.remaining().unwrap() > 19.0);
    share.detach();
    again.detach();
    let restored = b.restore(b"k", b"reader-1").unwrap();
    assert!(restored.is_shared());
    assert_eq!(restored.fence(), 0);
    assert!(restored.remaining().unwrap() > 19.0);
    assert!(b.lock(b"k", Some(1.0), 0.0).unwrap().is_none());
    assert!(restored.promote(Duration::ZERO).unwrap(), "the only reader");
    assert!(restored.fence() > 0);
    restored.detach();
    let writer = a.restore(b"k", b"reader-1").unwrap();
    assert!(!writer.is_shared(), "restored as the writer it became");
    assert!(writer.release().unwrap());
    let err = a.restore(b"k", b"reader-1").err().expect("nothing held");
    assert_eq!(err.kind(), crate::lock::ErrorKind::Lost);
    assert_eq!(readers(&server), 0);
}
