//! Redis Sentinel: a master, two replicas and three sentinels on loopback, and the lock engine
//! finding, following and surviving the master through failovers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{config, get, unshared};
use crate::lock::Locker;
use crate::lock::options::OptionValue;
use crate::lock::testing::{SentinelSet, q};

fn locker(set: &SentinelSet, options: &[(&str, OptionValue)]) -> Locker {
    unshared(config(&set.dsn(""), options))
}

#[test]
fn a_lock_through_sentinel_lands_on_the_master() {
    let mut set = SentinelSet::start(2, 3);
    let l = locker(&set, &[]);
    let lease = l.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let master = set.master_port();
    assert_eq!(
        get(set.server(master), "k"),
        Some(String::from_utf8_lossy(lease.token()).into_owned())
    );
    assert!(l.acquire(b"doc", b"v", 10.0).unwrap());
    assert!(l.release(b"doc", b"v").unwrap());
    assert!(lease.release().unwrap());
    assert!(!l.is_locked(b"k").unwrap());
}

#[test]
fn a_failover_moves_the_locks_to_the_new_master_without_an_error() {
    let mut set = SentinelSet::start(2, 3);
    let l = locker(&set, &[("connectTimeout", OptionValue::Float(5.0))]);
    let before = l.lock(b"before", Some(60.0), 0.0).unwrap().expect("free");
    // Let the replicas have it before the failover (WAIT), as a careful deployment would.
    let old = set.master_port();
    assert_eq!(
        crate::lock::testing::wait_for_replicas(set.server(old), "replicated-probe", 2),
        2
    );
    let new = set.failover();
    assert_ne!(old, new);
    // The old master is still a master for a while (the sentinels demote it seconds later)
    // and would take writes, then lose them: the cached master is checked with a sentinel
    // once it is a second old, so writes go to the new master from then on.
    std::thread::sleep(Duration::from_millis(1100));
    let early = l.lock(b"early", Some(60.0), 0.0).unwrap().expect("free");
    assert!(
        get(set.server(new), "early").is_some(),
        "written on the new master before the old one was demoted"
    );
    // Once the old master is a replica, a connection to it answers READONLY: a new object
    // whose cached address is the old one rediscovers inside one call.
    set.await_role(old, "slave");
    let after = l.lock(b"after", Some(60.0), 0.0).unwrap().expect("free");
    assert!(
        get(set.server(new), "after").is_some(),
        "written on the new master"
    );
    assert!(
        l.is_locked(b"before").unwrap(),
        "replicated before the failover: still held"
    );
    assert!(after.fence() > before.fence());
    assert!(before.release().unwrap());
    assert!(after.release().unwrap());
    assert!(early.release().unwrap());
}

#[test]
fn after_kill_9_of_the_master_locks_resume_once_sentinel_has_failed_over() {
    let mut set = SentinelSet::start(2, 3);
    let l = locker(
        &set,
        &[
            ("connectTimeout", OptionValue::Float(0.5)),
            ("readTimeout", OptionValue::Float(0.5)),
        ],
    );
    assert!(l.acquire(b"warm", b"v", 5.0).unwrap());
    let old = set.master_port();
    let killed = Instant::now();
    set.server(old).kill();
    let mut errors = 0;
    let resumed = loop {
        match l.acquire(b"k", b"v", 30.0) {
            Ok(true) => break killed.elapsed(),
            Ok(false) => panic!("nobody else holds k"),
            Err(e) => {
                assert!(
                    e.is_connection() || e.is_timeout() || e.is_server(),
                    "{e:?}"
                );
                errors += 1;
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no failover within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let new = set.await_new_master(old);
    assert_ne!(new, old);
    eprintln!("locks unavailable for {resumed:?} after kill -9 of the master ({errors} errors)");
    // Detection takes down-after-milliseconds (1 s) plus an election: well under 10 s here.
    assert!(
        resumed < Duration::from_secs(10),
        "unavailable for {resumed:?}"
    );
    assert!(l.is_locked(b"k").unwrap());
}

#[test]
fn waiters_and_the_watchdog_ride_out_a_failover() {
    // Watchdog tests take turns: one counts the process's watchdog leases.
    let _turn = super::leases::watchdog_turn();
    let mut set = SentinelSet::start(2, 3);
    let options = [
        ("connectTimeout", OptionValue::Float(3.0)),
        ("leaseTtl", OptionValue::Float(3.0)),
    ];
    let holder = Arc::new(locker(&set, &options));
    let watchdog = holder.lock(b"renewed", None, 0.0).unwrap().expect("free");
    let held = holder.lock(b"k", Some(2.0), 0.0).unwrap().expect("free");
    let old = set.master_port();
    assert_eq!(
        crate::lock::testing::wait_for_replicas(set.server(old), "replicated-probe", 2),
        2
    );
    let dsn = set.dsn("");
    let waiter = std::thread::spawn(move || {
        let l = unshared(config(&dsn, &[("connectTimeout", OptionValue::Float(3.0))]));
        let started = Instant::now();
        let got = l.lock(b"k", Some(5.0), 20.0);
        (got.map(|lease| lease.map(|l| l.fence())), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let new = set.failover();
    let (got, waited) = waiter.join().unwrap();
    let fence = got
        .expect("no error inside the wait")
        .expect("got the lock");
    assert!(fence > held.fence());
    assert!(waited < Duration::from_secs(15), "waited {waited:?}");
    // The watchdog renews on the new master: the lease outlives its 3 s TTL there, checked on
    // the new master itself (not through the engine, which could be asking the old one).
    for _ in 0..3 {
        std::thread::sleep(Duration::from_secs(2));
        let ttl = pttl(&set, new, "renewed");
        assert!(ttl > 0, "the lease is alive on the new master (PTTL {ttl})");
    }
    set.await_role(old, "slave");
    assert!(
        watchdog.is_held().unwrap(),
        "the watchdog renewed through the failover"
    );
    drop(held);
}

fn pttl(set: &SentinelSet, port: u16, key: &str) -> i64 {
    let server = set.servers.iter().find(|s| s.port == port).expect("ours");
    q(&mut server.client(), &["PTTL", key])
}

#[test]
fn an_unknown_service_is_refused_at_once() {
    let set = SentinelSet::start(0, 1);
    let dsn = format!("redis+sentinel://127.0.0.1:{}/nope", set.sentinel_ports[0]);
    let l = unshared(config(&dsn, &[("connectTimeout", OptionValue::Float(2.0))]));
    let t = Instant::now();
    let e = l.acquire(b"k", b"v", 1.0).unwrap_err();
    assert!(e.is_refused(), "{e:?}");
    assert!(e.message().contains("\"nope\""), "{e}");
    assert!(t.elapsed() < Duration::from_millis(500));
}

#[test]
fn dead_sentinels_fail_within_the_connect_timeout_and_are_skipped_when_others_answer() {
    let mut set = SentinelSet::start(1, 3);
    // Two ports nobody listens on, then the live ones.
    let dead: Vec<u16> = (0..2)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let only_dead = format!(
        "redis+sentinel://127.0.0.1:{},127.0.0.1:{}/mymaster",
        dead[0], dead[1]
    );
    let l = unshared(config(
        &only_dead,
        &[("connectTimeout", OptionValue::Float(0.4))],
    ));
    let t = Instant::now();
    let e = l.acquire(b"k", b"v", 1.0).unwrap_err();
    assert!(e.is_connection(), "{e:?}");
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    for port in &dead {
        assert!(
            e.message().contains(&port.to_string()),
            "names every sentinel: {e}"
        );
    }
    let mixed = set.dsn("").replace(
        "redis+sentinel://",
        &format!("redis+sentinel://127.0.0.1:{},", dead[0]),
    );
    set.kill_sentinel(0);
    let l = unshared(config(&mixed, &[]));
    assert!(l.acquire(b"k", b"v", 1.0).unwrap());
}

#[test]
fn the_master_password_and_database_apply_and_never_show() {
    let set = SentinelSet::start(0, 1);
    let dsn = format!(
        "redis+sentinel://:s3cret@127.0.0.1:{}/mymaster/3?sentinelPassword=t0psecret",
        set.sentinel_ports[0]
    );
    let config = config(&dsn, &[]);
    assert!(!config.masked_dsn.contains("s3cret") && !config.masked_dsn.contains("t0psecret"));
    assert_eq!(config.endpoint.database, 3);
    // The sentinel has no password: AUTH is refused (no password is set), which must not leak.
    let l = unshared(config);
    let e = l.acquire(b"k", b"v", 1.0).unwrap_err();
    assert!(
        !e.to_string().contains("t0psecret") && !e.to_string().contains("s3cret"),
        "{e}"
    );
}

#[test]
fn a_sentinel_that_never_answers_costs_at_most_its_share_of_the_deadline() {
    let set = SentinelSet::start(0, 1);
    // Accepts connections and never replies.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let _holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let only = format!("redis+sentinel://127.0.0.1:{silent_port}/mymaster");
    let l = unshared(config(
        &only,
        &[("connectTimeout", OptionValue::Float(0.3))],
    ));
    let t = Instant::now();
    let e = l.acquire(b"k", b"v", 1.0).unwrap_err();
    assert!(e.is_connection() || e.is_timeout(), "{e:?}");
    assert!(
        t.elapsed() < Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    let first_silent = set.dsn("").replace(
        "redis+sentinel://",
        &format!("redis+sentinel://127.0.0.1:{silent_port},"),
    );
    let l = unshared(config(
        &first_silent,
        &[("connectTimeout", OptionValue::Float(2.0))],
    ));
    let t = Instant::now();
    assert!(l.acquire(b"k", b"v", 1.0).unwrap());
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "the silent sentinel cost {:?}",
        t.elapsed()
    );
}

/// The lost-write scenario, across hosts whose clocks differ: the lock is acknowledged by a
/// master whose replica (its clock 30 s behind) never gets it (paused), the master dies, the
/// replica is promoted without the lock, and a second client takes it: Sentinel cannot prevent
/// that (README), but the second holder's fence is above the first's, so a storage that checks
/// fences refuses the first holder's late writes.
#[test]
fn a_lock_lost_in_a_failover_is_retaken_with_a_higher_fence() {
    // The replica's clock runs 30 s behind the master's: the server time alone would hand out
    // a lower fence after the failover; the promoted master's higher configuration epoch (as
    // the sentinels report it) keeps fences going up.
    let mut set = SentinelSet::start_with_slow_replicas(1, 3, 30);
    let old = set.master_port();
    let replica = set
        .servers
        .iter()
        .map(|s| s.port)
        .find(|&p| p != old)
        .expect("a replica");
    let options = [("connectTimeout", OptionValue::Float(2.0))];
    let first = locker(&set, &options);
    // Paused, and cut off from the master (whose replication stream would otherwise wait in
    // the replica's socket buffer and reach it on resume).
    set.server(replica).signal("STOP");
    let _: i64 = q(
        &mut set.server(old).client(),
        &["CLIENT", "KILL", "TYPE", "replica"],
    );
    let lost = first.lock(b"k", Some(60.0), 0.0).unwrap().expect("free");
    let lost_fence = lost.fence();
    std::mem::forget(lost); // its process "died" with the master: no release
    set.server(old).kill();
    set.server(replica).signal("CONT");
    let new = set.await_new_master(old);
    assert_eq!(new, replica, "the paused replica was promoted");
    let second = locker(&set, &options);
    let retaken = super::retake_after_failover(&second, b"k");
    assert!(
        retaken.fence() > lost_fence,
        "fences never go back across a failover: {} after {lost_fence}",
        retaken.fence()
    );
}
