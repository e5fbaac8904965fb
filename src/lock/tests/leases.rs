//! Leases: fencing, fair waiting with hand-over, extension, loss, restore, watchdog.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{config, get, pttl, sleep_ms};
use crate::lock::Locker;
use crate::lock::keys::LockKeys;
use crate::lock::lease::state::Status;
use crate::lock::lease::watchdog;
use crate::lock::options::OptionValue;
use crate::lock::scripts::lease::LEASE_ACQUIRE_SCRIPT;
use crate::lock::scripts::{Keys, ints_reply};
use crate::lock::testing::{RedisServer, q};
use crate::lock::topology::Route;

fn locker_with(server: &RedisServer, extra: &[(&str, OptionValue)]) -> Locker {
    super::unshared(config(&server.dsn(), extra))
}

fn locker(server: &RedisServer) -> Locker {
    locker_with(server, &[])
}

/// A token (our tokens are UUIDs) as text.
fn text(token: &[u8]) -> &str {
    std::str::from_utf8(token).expect("a UUID")
}

/// The watchdog is one thread per process: tests that start or stop it take turns.
static WATCHDOG_TESTS: Mutex<()> = Mutex::new(());

pub(super) fn watchdog_turn() -> std::sync::MutexGuard<'static, ()> {
    WATCHDOG_TESTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Threads of this process named like the watchdog (`/proc/self/task/*/comm`, 15 characters),
/// once the count is `expected` or after a second (a new thread names itself as it starts).
fn watchdog_threads(expected: usize) -> usize {
    let count = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
            .filter(|comm| comm.trim() == "redis-lock-watc")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let n = count();
        if n == expected || Instant::now() > deadline {
            return n;
        }
        sleep_ms(5);
    }
}

#[test]
fn every_acquisition_gets_a_strictly_higher_fence() {
    let server = RedisServer::start();
    let l = locker(&server);
    let mut last = 0;
    for _ in 0..5 {
        let lease = l.lock(b"k", Some(5.0), 0.0).unwrap().expect("free");
        assert!(lease.fence() > last);
        last = lease.fence();
        assert_eq!(get(&server, "k").as_deref(), Some(text(lease.token())));
        assert!(lease.release().unwrap());
    }
    let keys = LockKeys::new(b"", b"k").unwrap();
    let counter: i64 = q(
        &mut server.client(),
        &["GET", std::str::from_utf8(&keys.fences).unwrap()],
    );
    assert_eq!(counter, last, "the slot's counter holds the last fence");
    let holder_fence: Option<String> = q(
        &mut server.client(),
        &["GET", std::str::from_utf8(&keys.fence).unwrap()],
    );
    assert_eq!(holder_fence, None, "released: no holder fence left");
}

#[test]
fn a_busy_lock_gives_none_without_waiting() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let held = a.lock(b"k", Some(5.0), 0.0).unwrap().expect("free");
    let start = Instant::now();
    assert!(b.lock(b"k", Some(5.0), 0.0).unwrap().is_none());
    assert!(start.elapsed() < Duration::from_millis(100));
    assert!(held.is_held().unwrap());
}

#[test]
fn a_waiter_is_handed_the_lock_on_release_with_the_next_fence() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let held = a.lock(b"k", Some(5.0), 0.0).unwrap().expect("free");
    let first_fence = held.fence();
    let waiter = std::thread::spawn(move || {
        let start = Instant::now();
        let lease = b.lock(b"k", Some(5.0), 3.0).unwrap().expect("handed over");
        (lease, start.elapsed())
    });
    sleep_ms(200);
    assert!(held.release().unwrap());
    let (lease, waited) = waiter.join().unwrap();
    assert!(lease.fence() > first_fence);
    assert!(waited >= Duration::from_millis(190) && waited < Duration::from_millis(400));
    assert_eq!(get(&server, "k").as_deref(), Some(text(lease.token())));
    // Handed over for the claim window, then claimed: the waiter's own TTL.
    assert!(pttl(&server, "k") > 4500, "claimed to its TTL");
}

#[test]
fn waiters_get_the_lock_in_arrival_order() {
    let server = RedisServer::start();
    let holder = locker(&server);
    let held = holder.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let order = Arc::new(Mutex::new(Vec::new()));
    let waiters: Vec<_> = (0..6)
        .map(|i| {
            let (l, order) = (locker(&server), Arc::clone(&order));
            let handle = std::thread::spawn(move || {
                let lease = l.lock(b"k", Some(10.0), 5.0).unwrap().expect("turn");
                order.lock().unwrap().push(i);
                sleep_ms(5);
                assert!(lease.release().unwrap());
            });
            sleep_ms(30); // arrive one after another
            handle
        })
        .collect();
    assert!(held.release().unwrap());
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(get(&server, "k"), None);
    let queued: i64 = q(&mut server.client(), &["ZCARD", "{k}:queue"]);
    assert_eq!(queued, 0);
}

#[test]
fn a_waiter_that_gives_up_leaves_the_queue() {
    let server = RedisServer::start();
    let (a, b, c) = (locker(&server), locker(&server), locker(&server));
    let held = a.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let start = Instant::now();
    assert!(b.lock(b"k", Some(10.0), 0.3).unwrap().is_none());
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(290) && waited < Duration::from_millis(600));
    let queued: i64 = q(&mut server.client(), &["ZCARD", "{k}:queue"]);
    assert_eq!(queued, 0);
    // The next one in line is not blocked by the one that left.
    drop(held);
    assert!(c.lock(b"k", Some(10.0), 0.0).unwrap().is_some());
}

#[test]
fn a_dead_holder_strands_no_waiter() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let dead = a.lock(b"k", Some(0.3), 0.0).unwrap().expect("free");
    std::mem::forget(dead); // dies without releasing
    let start = Instant::now();
    let lease = b
        .lock(b"k", Some(5.0), 3.0)
        .unwrap()
        .expect("after the TTL");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_millis(500));
    assert!(lease.is_held().unwrap());
}

#[test]
fn a_waiter_that_vanished_is_skipped_after_its_heartbeat_window() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let held = a.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    // A ghost joins the queue with a 200 ms heartbeat window and never comes back.
    let keys = LockKeys::new(b"", b"k").unwrap();
    let all = keys.all();
    let reply = a
        .client()
        .run(Route::Slot(keys.slot), |conn| {
            LEASE_ACQUIRE_SCRIPT.run(
                conn,
                Keys::List(&all),
                &[
                    b"ghost",
                    b"10000",
                    b"200",
                    &keys.wake_prefix,
                    &keys.gone_prefix,
                ],
                ints_reply,
            )
        })
        .unwrap();
    assert_eq!(reply.as_deref().map(|r| r[0]), Some(0));
    sleep_ms(300);
    let waiter = std::thread::spawn(move || b.lock(b"k", Some(10.0), 3.0).unwrap().is_some());
    sleep_ms(100);
    assert!(held.release().unwrap());
    assert!(
        waiter.join().unwrap(),
        "the live waiter got it, not the ghost"
    );
    assert_ne!(get(&server, "k").as_deref(), Some("ghost"));
}

#[test]
fn extend_is_owner_checked_and_reports_loss() {
    let server = RedisServer::start();
    let l = locker(&server);
    let lease = l.lock(b"k", Some(1.0), 0.0).unwrap().expect("free");
    assert!(lease.extend(5000).unwrap());
    assert!(pttl(&server, "k") > 4500);
    assert!(lease.remaining().unwrap() > 4.5);
    assert!(l.force_release(b"k").unwrap());
    let other = l.lock(b"k", Some(5.0), 0.0).unwrap().expect("free again");
    assert!(!lease.extend(60_000).unwrap());
    assert_eq!(lease.status(), Status::Lost);
    assert!(
        pttl(&server, "k") <= 5000,
        "the new owner's TTL is untouched"
    );
    assert!(!lease.release().unwrap());
    assert_eq!(get(&server, "k").as_deref(), Some(text(other.token())));
    assert!(!lease.is_held().unwrap());
    assert_eq!(lease.remaining().unwrap(), 0.0);
}

#[test]
fn strict_mode_reports_a_lost_lease_as_an_error() {
    let server = RedisServer::start();
    let l = locker_with(&server, &[("strict", OptionValue::Bool(true))]);
    let lease = l.lock(b"k", Some(0.1), 0.0).unwrap().expect("free");
    sleep_ms(150);
    assert!(lease.extend(1000).unwrap_err().is_lost());
    assert!(lease.release().unwrap_err().is_lost());
}

#[test]
fn detach_and_restore_hand_a_lease_to_another_owner() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let lease = a.lock(b"job", Some(10.0), 0.0).unwrap().expect("free");
    let fence = lease.fence();
    let token = text(lease.detach()).to_string();
    drop(lease); // detached: dropping it does not release
    assert_eq!(get(&server, "job"), Some(token.clone()));
    let restored = b.restore(b"job", token.as_bytes()).unwrap();
    assert_eq!(restored.fence(), fence);
    assert!(restored.remaining().unwrap() > 9.0);
    assert!(restored.release().unwrap());
    let err = b
        .restore(b"job", token.as_bytes())
        .err()
        .expect("not held any more");
    assert!(err.is_lost());
}

#[test]
fn dropping_a_lease_releases_it() {
    let server = RedisServer::start();
    let l = locker(&server);
    let lease = l.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    assert!(l.is_locked(b"k").unwrap());
    drop(lease);
    assert!(!l.is_locked(b"k").unwrap());
}

#[test]
fn the_watchdog_keeps_a_lease_held_for_many_ttls_then_stops_at_release() {
    let _turn = watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(&server, &[("leaseTtl", OptionValue::Float(0.3))]);
    let lease = l.lock(b"k", None, 0.0).unwrap().expect("free");
    let until = Instant::now() + Duration::from_millis(1200); // 4 TTLs
    while Instant::now() < until {
        assert_eq!(get(&server, "k").as_deref(), Some(text(lease.token())));
        sleep_ms(50);
    }
    assert!(lease.is_held().unwrap());
    assert!(lease.release().unwrap());
    assert_eq!(lease.status(), Status::Released);
}

#[test]
fn the_watchdog_marks_a_lease_lost_when_its_lock_is_gone() {
    let _turn = watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(&server, &[("leaseTtl", OptionValue::Float(0.3))]);
    let lease = l.lock(b"k", None, 0.0).unwrap().expect("free");
    let _: i64 = q(&mut server.client(), &["DEL", "k"]);
    sleep_ms(250); // one renewal period (100 ms) and margin
    assert_eq!(lease.status(), Status::Lost);
    assert!(!lease.extend(1000).unwrap());
}

#[test]
fn the_watchdog_stops_renewing_at_the_maximum_lifetime() {
    let _turn = watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(
        &server,
        &[
            ("leaseTtl", OptionValue::Float(0.3)),
            ("maxLifetime", OptionValue::Float(0.5)),
        ],
    );
    let lease = l.lock(b"k", None, 0.0).unwrap().expect("free");
    let start = Instant::now();
    while l.is_locked(b"k").unwrap() {
        assert!(start.elapsed() < Duration::from_secs(2), "still renewed");
        sleep_ms(20);
    }
    let freed = start.elapsed();
    assert!(
        freed >= Duration::from_millis(500) && freed < Duration::from_millis(1000),
        "{freed:?}"
    );
    assert!(!lease.is_held().unwrap());
}

#[test]
fn shutdown_joins_the_watchdog_thread_and_a_new_lease_starts_another() {
    let _turn = watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(&server, &[("leaseTtl", OptionValue::Float(0.3))]);
    let lease = l.lock(b"k", None, 0.0).unwrap().expect("free");
    assert_eq!(watchdog::active(), 1);
    assert_eq!(watchdog_threads(1), 1);
    watchdog::shutdown();
    assert_eq!(
        watchdog_threads(0),
        0,
        "joined: no thread left to run after unload"
    );
    watchdog::shutdown(); // idempotent
    assert_eq!(watchdog::active(), 0);
    // Without the watchdog the lease is no longer renewed: it expires at its TTL.
    sleep_ms(400);
    assert!(!lease.is_held().unwrap());
    let again = l.lock(b"k2", None, 0.0).unwrap().expect("free");
    assert_eq!(watchdog_threads(1), 1);
    sleep_ms(400);
    assert!(again.is_held().unwrap(), "renewed by the new thread");
    assert!(again.release().unwrap());
}

#[test]
fn queries_report_the_lock_state() {
    let server = RedisServer::start();
    let l = locker(&server);
    assert!(!l.is_locked(b"k").unwrap());
    assert_eq!(l.ttl(b"k").unwrap(), None);
    let lease = l.lock(b"k", Some(3.0), 0.0).unwrap().expect("free");
    assert!(l.is_locked(b"k").unwrap());
    let ttl = l.ttl(b"k").unwrap().unwrap();
    assert!(ttl > 2.5 && ttl <= 3.0);
    let _: () = q(&mut server.client(), &["SET", "forever", "x"]);
    assert_eq!(l.ttl(b"forever").unwrap(), Some(f64::INFINITY));
    assert!(l.force_release(b"k").unwrap());
    assert!(!l.force_release(b"k").unwrap());
    assert!(!lease.is_held().unwrap());
}

#[test]
fn force_release_wakes_the_first_waiter_at_once() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let held = a.lock(b"k", Some(30.0), 0.0).unwrap().expect("free");
    let waiter = std::thread::spawn(move || {
        let start = Instant::now();
        let got = b.lock(b"k", Some(5.0), 5.0).unwrap().is_some();
        (got, start.elapsed())
    });
    sleep_ms(100);
    assert!(a.force_release(b"k").unwrap());
    let (got, waited) = waiter.join().unwrap();
    assert!(got);
    assert!(
        waited < Duration::from_millis(300),
        "woken, not polled: {waited:?}"
    );
    assert!(!held.is_held().unwrap());
}

#[test]
fn request_end_releases_what_this_thread_still_holds() {
    let server = RedisServer::start();
    let l = locker(&server);
    let released = l.lock(b"done", Some(30.0), 0.0).unwrap().expect("free");
    assert!(released.release().unwrap());
    let detached = l.lock(b"detached", Some(30.0), 0.0).unwrap().expect("free");
    detached.detach();
    // Leaked: its destructor never runs (as for an object PHP has not freed yet).
    std::mem::forget(l.lock(b"leaked", Some(30.0), 0.0).unwrap().expect("free"));
    std::mem::forget(detached);
    assert_eq!(crate::lock::lease::request::release_request_leases(), 1);
    assert!(!l.is_locked(b"leaked").unwrap());
    assert!(l.is_locked(b"detached").unwrap());
    assert_eq!(
        crate::lock::lease::request::release_request_leases(),
        0,
        "nothing twice"
    );
}
