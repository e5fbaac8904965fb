//! Redis Cluster: three masters with a replica each on loopback, and the lock engine routing
//! every slot to its master through redirects, migrations and failovers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{config, unshared};
use crate::lock::Locker;
use crate::lock::keys::slot;
use crate::lock::options::OptionValue;
use crate::lock::testing::{ClusterSet, clock_behind, q, wait_for_replicas};

fn locker(set: &ClusterSet, seeds: &[usize], options: &[(&str, OptionValue)]) -> Locker {
    unshared(config(&set.dsn(seeds), options))
}

/// A key (`prefix` + n) whose slot the node `master` serves.
pub(super) fn key_on(set: &ClusterSet, master: usize, prefix: &str) -> String {
    (0..10_000)
        .map(|n| format!("{prefix}{n}"))
        .find(|k| set.master_of(slot(k.as_bytes())) == master)
        .expect("some key hashes there")
}

pub(super) fn get_on(set: &ClusterSet, node: usize, key: &str) -> Option<String> {
    q(&mut set.nodes[node].client(), &["GET", key])
}

/// Moves `slot` from node `from` to node `to` the way `redis-cli --cluster reshard` does:
/// IMPORTING / MIGRATING, MIGRATE of each key, then the new owner announced to every master.
pub(super) fn migrate_slot(set: &ClusterSet, slot: u16, from: usize, to: usize) {
    start_migration(set, slot, from, to);
    migrate_keys(set, slot, from, to, usize::MAX);
    finish_migration(set, slot, to);
}

pub(super) fn start_migration(set: &ClusterSet, slot: u16, from: usize, to: usize) {
    let s = slot.to_string();
    let (from_id, to_id) = (set.id(from), set.id(to));
    let _: () = q(
        &mut set.nodes[to].client(),
        &["CLUSTER", "SETSLOT", &s, "IMPORTING", &from_id],
    );
    let _: () = q(
        &mut set.nodes[from].client(),
        &["CLUSTER", "SETSLOT", &s, "MIGRATING", &to_id],
    );
}

/// MIGRATEs up to `limit` keys of `slot`; returns how many moved.
pub(super) fn migrate_keys(
    set: &ClusterSet,
    slot: u16,
    from: usize,
    to: usize,
    limit: usize,
) -> usize {
    let s = slot.to_string();
    let keys: Vec<String> = q(
        &mut set.nodes[from].client(),
        &["CLUSTER", "GETKEYSINSLOT", &s, "1000"],
    );
    // In a TLS set the nodes MIGRATE over TLS (tls-cluster): to the target's TLS port.
    let port = set.client_port(to).to_string();
    let mut moved = 0;
    for key in keys.iter().take(limit) {
        let _: String = q(
            &mut set.nodes[from].client(),
            &["MIGRATE", "127.0.0.1", &port, key, "0", "5000"],
        );
        moved += 1;
    }
    moved
}

pub(super) fn finish_migration(set: &ClusterSet, slot: u16, to: usize) {
    let s = slot.to_string();
    let to_id = set.id(to);
    for i in 0..set.nodes.len() {
        let _: redis::RedisResult<()> = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(&s)
            .arg("NODE")
            .arg(&to_id)
            .query(&mut set.nodes[i].client());
    }
}

#[test]
fn every_masters_slots_take_locks_on_that_master() {
    let set = ClusterSet::start(3, 1);
    let l = locker(&set, &[0], &[]);
    for master in 0..3 {
        let key = key_on(&set, master, "k");
        let lease = l
            .lock(key.as_bytes(), Some(10.0), 0.0)
            .unwrap()
            .expect("free");
        assert_eq!(
            get_on(&set, master, &key),
            Some(String::from_utf8_lossy(lease.token()).into_owned()),
            "{key} is on its slot's master"
        );
        assert!(l.lock(key.as_bytes(), Some(10.0), 0.0).unwrap().is_none());
        let doc = key_on(&set, master, "doc");
        assert!(l.acquire(doc.as_bytes(), b"v", 10.0).unwrap());
        assert_eq!(get_on(&set, master, &doc).as_deref(), Some("v"));
        assert!(!l.acquire(doc.as_bytes(), b"w", 10.0).unwrap());
        assert!(l.release(doc.as_bytes(), b"v").unwrap());
        assert!(lease.fence() > 0);
        assert!(lease.release().unwrap());
        assert!(!l.is_locked(key.as_bytes()).unwrap());
    }
}

#[test]
fn a_replica_or_a_dead_seed_still_leads_to_the_masters() {
    let set = ClusterSet::start(3, 1);
    let replica = set.replicas_of(0)[0];
    // Only a replica as seed, and a seed nobody listens on before it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dsn = format!(
        "redis+cluster://127.0.0.1:{dead},127.0.0.1:{}",
        set.nodes[replica].port
    );
    let l = unshared(config(&dsn, &[]));
    for master in 0..3 {
        let key = key_on(&set, master, "r");
        assert!(l.acquire(key.as_bytes(), b"v", 10.0).unwrap());
        assert_eq!(get_on(&set, master, &key).as_deref(), Some("v"));
    }
}

#[test]
fn a_moved_slot_is_followed_and_its_locks_keep_their_owner() {
    let set = ClusterSet::start(3, 0);
    let l = locker(&set, &[0], &[]);
    let key = key_on(&set, 0, "m");
    let s = slot(key.as_bytes());
    let lease = l
        .lock(key.as_bytes(), Some(30.0), 0.0)
        .unwrap()
        .expect("free");
    let fence = lease.fence();
    migrate_slot(&set, s, 0, 1);
    assert_eq!(set.master_of(s), 1);
    // The cached map still names node 0: MOVED, then node 1.
    assert!(l.is_locked(key.as_bytes()).unwrap());
    assert!(l.lock(key.as_bytes(), Some(5.0), 0.0).unwrap().is_none());
    assert!(lease.extend(30_000).unwrap());
    assert!(lease.release().unwrap());
    let again = l
        .lock(key.as_bytes(), Some(5.0), 0.0)
        .unwrap()
        .expect("free");
    assert!(again.fence() > fence, "the slot's counter moved with it");
    assert!(get_on(&set, 1, &key).is_some());
    assert!(again.release().unwrap());
}

#[test]
fn a_slot_being_migrated_is_reached_by_ask_and_waits_out_tryagain() {
    let set = ClusterSet::start(3, 0);
    let l = Arc::new(locker(
        &set,
        &[0],
        &[("connectTimeout", OptionValue::Float(3.0))],
    ));
    let key = key_on(&set, 0, "ask");
    let s = slot(key.as_bytes());
    let lease = l
        .lock(key.as_bytes(), Some(30.0), 0.0)
        .unwrap()
        .expect("free");
    start_migration(&set, s, 0, 1);
    // The importing node has never seen our scripts: EVALSHA there answers NOSCRIPT, and the
    // EVAL that follows must carry ASKING too.
    let _: () = q(&mut set.nodes[1].client(), &["SCRIPT", "FLUSH"]);
    assert!(migrate_keys(&set, s, 0, 1, usize::MAX) >= 3);
    // The source has none of the lease's keys: ASK; the importing node has them all.
    assert!(lease.extend(20_000).unwrap());
    let (_, pttl): ((), i64) = redis::pipe()
        .cmd("ASKING")
        .cmd("PTTL")
        .arg(&key)
        .query(&mut set.nodes[1].client())
        .unwrap();
    assert!(pttl > 15_000, "extended on the importing node: {pttl}");
    // One key, new: ASK, created on the importing node.
    let doc = format!("{{{key}}}doc");
    assert!(l.acquire(doc.as_bytes(), b"v", 10.0).unwrap());
    let (_, on_target): ((), Option<String>) = redis::pipe()
        .cmd("ASKING")
        .cmd("GET")
        .arg(&doc)
        .query(&mut set.nodes[1].client())
        .unwrap();
    assert_eq!(
        on_target.as_deref(),
        Some("v"),
        "created on the importing node"
    );
    // A new lease's keys do not all exist on either node until the migration ends: TRYAGAIN,
    // retried within the call's connect timeout.
    let started = Instant::now();
    let waiter = {
        let l = Arc::clone(&l);
        let other = format!("{{{key}}}other");
        std::thread::spawn(move || {
            l.lock(other.as_bytes(), Some(10.0), 0.0)
                .map(|lease| lease.map(|lease| lease.fence()))
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    finish_migration(&set, s, 1);
    let fence = waiter
        .join()
        .unwrap()
        .expect("retried until the migration ended")
        .expect("free");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(fence > lease.fence());
    // After the migration: MOVED for the cached map, then the new master.
    assert!(lease.release().unwrap());
    assert!(l.release(doc.as_bytes(), b"v").unwrap());
}

/// Lets the replicas of `master` have everything written so far (as a careful deployment
/// would with `WAIT`), so that a failover loses nothing.
pub(super) fn replicate(set: &ClusterSet, master: usize) {
    let replicas = set.replicas_of(master);
    assert!(!replicas.is_empty(), "node {master} has replicas");
    let count = replicas.len().to_string();
    let probe = key_on(set, master, "replicated-probe");
    let acked = wait_for_replicas(&set.nodes[master], &probe, replicas.len());
    assert_eq!(
        acked.to_string(),
        count,
        "every replica of {master} acknowledged"
    );
}

#[test]
fn after_kill_9_of_a_master_its_slots_take_locks_again_once_a_replica_took_over() {
    let mut set = ClusterSet::start(3, 1);
    let (connect, read) = (0.5, 0.5);
    let l = locker(
        &set,
        &[0, 1, 2],
        &[
            ("connectTimeout", OptionValue::Float(connect)),
            ("readTimeout", OptionValue::Float(read)),
        ],
    );
    let held_key = key_on(&set, 0, "held");
    let key = key_on(&set, 0, "after");
    let other = key_on(&set, 1, "other");
    let held = l
        .lock(held_key.as_bytes(), Some(60.0), 0.0)
        .unwrap()
        .expect("free");
    replicate(&set, 0);
    let replica = set.replicas_of(0)[0];
    let (_, on_replica): ((), Option<String>) = redis::pipe()
        .cmd("READONLY")
        .cmd("GET")
        .arg(&held_key)
        .query(&mut set.nodes[replica].client())
        .unwrap();
    assert!(
        on_replica.is_some(),
        "the lease is on the replica before the kill"
    );
    let killed = Instant::now();
    set.nodes[0].kill();
    let mut errors = 0;
    let mut longest = Duration::ZERO;
    let resumed = loop {
        let call = Instant::now();
        let result = l.acquire(key.as_bytes(), b"v", 30.0);
        longest = longest.max(call.elapsed());
        match result {
            Ok(true) => break killed.elapsed(),
            Ok(false) => panic!("nobody else holds {key}"),
            Err(e) => {
                assert!(
                    e.is_connection() || e.is_timeout() || e.is_server(),
                    "{e:?}"
                );
                errors += 1;
            }
        }
        // The other masters' slots: served, or refused while the cluster is down (a cluster
        // that requires full coverage stops serving every slot until the failover ends).
        match l.acquire(other.as_bytes(), b"v", 1.0) {
            Ok(_) => {}
            Err(e) => assert!(e.is_server_code("CLUSTERDOWN") || e.is_timeout(), "{e:?}"),
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no failover in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "cluster: locks of the killed master's slots back {resumed:?} after kill -9 \
         ({errors} errors, longest call {longest:?})"
    );
    // Detection takes the node timeout (1 s) plus an election.
    assert!(
        resumed < Duration::from_secs(10),
        "unavailable for {resumed:?}"
    );
    // No call overran its budget: connect timeout (retries) + read timeout, plus scheduling.
    let budget = Duration::from_secs_f64(connect + read) + Duration::from_millis(300);
    assert!(longest <= budget, "a call took {longest:?}");
    let new = set.await_new_master(slot(key.as_bytes()), 0);
    assert_eq!(new, replica, "the replica took over");
    assert_eq!(get_on(&set, new, &key).as_deref(), Some("v"));
    // The lease replicated before the kill is still held, by its owner, on the new master.
    assert!(
        get_on(&set, new, &held_key).is_some(),
        "the replicated lease is on the new master"
    );
    assert!(l.is_locked(held_key.as_bytes()).unwrap());
    let retaken_after = l.lock(key.as_bytes(), Some(5.0), 0.0).unwrap();
    assert!(retaken_after.is_none(), "the documents' lock is still held");
    assert!(held.release().unwrap());
    let again = l
        .lock(held_key.as_bytes(), Some(5.0), 0.0)
        .unwrap()
        .expect("free");
    assert!(again.fence() > held.fence());
    // The killed node comes back (same port, same node id) and rejoins as a replica of the
    // new master: a client whose only seed is that node finds the masters through it.
    set.nodes[0].restart();
    set.await_ok();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !redis::cmd("ROLE")
        .query::<Vec<redis::Value>>(&mut set.nodes[0].client())
        .is_ok_and(
            |role| matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"slave"),
        )
    {
        assert!(
            Instant::now() < deadline,
            "the old master did not rejoin as a replica"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let through_old = locker(&set, &[0], &[]);
    let rejoined = key_on(&set, new, "rejoined");
    assert!(through_old.acquire(rejoined.as_bytes(), b"v", 5.0).unwrap());
    assert_eq!(get_on(&set, new, &rejoined).as_deref(), Some("v"));
    assert!(
        !through_old.acquire(key.as_bytes(), b"w", 5.0).unwrap(),
        "still held"
    );
    assert!(again.release().unwrap());
}

#[test]
fn waiters_and_the_watchdog_ride_out_a_manual_failover() {
    // Watchdog tests take turns: one counts the process's watchdog leases.
    let _turn = super::leases::watchdog_turn();
    let set = ClusterSet::start(3, 1);
    let options = [
        ("connectTimeout", OptionValue::Float(3.0)),
        ("leaseTtl", OptionValue::Float(3.0)),
    ];
    let holder = Arc::new(locker(&set, &[0], &options));
    let renewed_key = key_on(&set, 0, "renewed");
    let key = key_on(&set, 0, "waited");
    let watchdog = holder
        .lock(renewed_key.as_bytes(), None, 0.0)
        .unwrap()
        .expect("free");
    let held = holder
        .lock(key.as_bytes(), Some(2.0), 0.0)
        .unwrap()
        .expect("free");
    replicate(&set, 0);
    let dsn = set.dsn(&[1]);
    let waiter = {
        let key = key.clone();
        std::thread::spawn(move || {
            let l = unshared(super::config(
                &dsn,
                &[("connectTimeout", OptionValue::Float(3.0))],
            ));
            let started = Instant::now();
            let got = l.lock(key.as_bytes(), Some(5.0), 20.0);
            (got.map(|lease| lease.map(|l| l.fence())), started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let replica = set.replicas_of(0)[0];
    let new = set.manual_failover(replica, slot(key.as_bytes()), 0);
    assert_eq!(new, replica);
    let (got, waited) = waiter.join().unwrap();
    let fence = got
        .expect("no error inside the wait")
        .expect("got the lock");
    assert!(fence > held.fence());
    assert!(waited < Duration::from_secs(15), "waited {waited:?}");
    // The watchdog renews on the new master: the lease outlives its 3 s TTL there.
    std::thread::sleep(Duration::from_secs(4));
    assert!(watchdog.is_held().unwrap());
    let pttl: i64 = q(&mut set.nodes[new].client(), &["PTTL", &renewed_key]);
    assert!(pttl > 0, "renewed on the new master: {pttl}");
    assert!(watchdog.release().unwrap());
}

#[test]
fn wrong_targets_fail_fast_with_a_clear_message_and_no_password() {
    // A cluster DSN pointed at a plain server.
    let plain = crate::lock::testing::RedisServer::start();
    let l = unshared(super::config(
        &format!("redis+cluster://127.0.0.1:{}", plain.port),
        &[],
    ));
    let e = l.acquire(b"k", b"v", 1.0).unwrap_err();
    assert!(e.is_refused(), "{e:?}");
    assert!(e.to_string().contains("not a Redis Cluster node"), "{e}");
    // A plain DSN pointed at a cluster node, for a key another master serves.
    let set = ClusterSet::start(3, 0);
    let key = key_on(&set, 1, "elsewhere");
    let l = unshared(super::config(&set.nodes[0].dsn(), &[]));
    let e = l.acquire(key.as_bytes(), b"v", 1.0).unwrap_err();
    assert!(e.is_server_code("MOVED"), "{e:?}");
    assert!(e.to_string().contains("redis+cluster://"), "{e}");
    // No seed reachable: an error naming each, within the connect timeout.
    let dead: Vec<u16> = (0..2)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let l = unshared(super::config(
        &format!(
            "redis+cluster://u:hunter2@127.0.0.1:{},127.0.0.1:{}",
            dead[0], dead[1]
        ),
        &[("connectTimeout", OptionValue::Float(0.3))],
    ));
    let started = Instant::now();
    let e = l.acquire(b"k", b"v", 1.0).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(e.is_connection(), "{e:?}");
    for port in &dead {
        assert!(e.to_string().contains(&port.to_string()), "{e}");
    }
    assert!(!e.to_string().contains("hunter2"), "{e}");
    // A password the cluster does not take: refused, and not shown.
    let l = unshared(super::config(
        &format!("redis+cluster://:hunter2@127.0.0.1:{}", set.nodes[0].port),
        &[],
    ));
    let e = l.acquire(b"k", b"v", 1.0).unwrap_err();
    assert!(e.is_refused(), "{e:?}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn the_watchdog_follows_a_slot_that_moved_without_a_broken_connection() {
    // Watchdog tests take turns: one counts the process's watchdog leases.
    let _turn = super::leases::watchdog_turn();
    let set = ClusterSet::start(3, 0);
    let l = locker(&set, &[0], &[("leaseTtl", OptionValue::Float(1.5))]);
    let key = key_on(&set, 0, "wd");
    let lease = l.lock(key.as_bytes(), None, 0.0).unwrap().expect("free");
    // Renewed once on node 0 (its batch connection is open), then the slot moves: the next
    // renewal batch gets MOVED as a per-lease result, and must learn the new map from it.
    std::thread::sleep(Duration::from_millis(700));
    migrate_slot(&set, slot(key.as_bytes()), 0, 1);
    std::thread::sleep(Duration::from_secs(3));
    let pttl: i64 = q(&mut set.nodes[1].client(), &["PTTL", &key]);
    assert!(pttl > 0, "renewed on the slot's new master: {pttl}");
    assert!(lease.is_held().unwrap());
    assert!(lease.release().unwrap());
}

/// The lost-write scenario across hosts whose clocks differ: a lock acknowledged by a master
/// whose replica never gets it (paused, its link cut), the master killed, the replica promoted
/// without the lock, a second client taking it. The replica's clock runs 30 s behind the
/// master's (an LD_PRELOAD shim), so the server time alone would hand out a lower fence; the promoted
/// replica's higher configuration epoch keeps fences going up.
#[test]
fn a_lock_lost_in_a_failover_to_a_replica_with_a_slower_clock_is_retaken_with_a_higher_fence() {
    let mut set = ClusterSet::start(3, 0);
    let wrapper = clock_behind(30);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let replica = set.add_replica(0, &wrapper);
    let key = key_on(&set, 0, "lost");
    let options = [("connectTimeout", OptionValue::Float(2.0))];
    let first = locker(&set, &[1], &options);
    let now_master: Vec<String> = q(&mut set.nodes[0].client(), &["TIME"]);
    let now_replica: Vec<String> = q(&mut set.nodes[replica].client(), &["TIME"]);
    let skew = now_master[0].parse::<i64>().unwrap() - now_replica[0].parse::<i64>().unwrap();
    assert!(
        (29..=31).contains(&skew),
        "the replica's clock is 30 s behind: {skew}"
    );
    set.nodes[replica].signal("STOP");
    let _: i64 = q(
        &mut set.nodes[0].client(),
        &["CLIENT", "KILL", "TYPE", "replica"],
    );
    let lost = first
        .lock(key.as_bytes(), Some(60.0), 0.0)
        .unwrap()
        .expect("free");
    let lost_fence = lost.fence();
    std::mem::forget(lost); // its process "died" with the master: no release
    set.nodes[0].kill();
    set.nodes[replica].signal("CONT");
    let new = set.await_new_master(slot(key.as_bytes()), 0);
    assert_eq!(new, replica, "the paused replica was promoted");
    let second = locker(&set, &[1], &options);
    let retaken = super::retake_after_failover(&second, key.as_bytes());
    assert!(
        retaken.fence() > lost_fence,
        "fences never go back across a failover: {} after {lost_fence}",
        retaken.fence()
    );
    assert!(retaken.release().unwrap());
}

/// A process keeps its connection to a master while that master is demoted and later
/// promoted again with a higher epoch (a failback). A lock acknowledged by the interim master
/// and lost when it died must still be retaken with a higher fence through that old
/// connection: the script reads the node's epoch when it hands out a fence (found by review:
/// an epoch learned when the connection opened let this fence go back).
#[test]
fn a_connection_kept_across_a_failback_hands_out_fences_with_the_masters_new_epoch() {
    let mut set = ClusterSet::start(3, 1);
    let key = key_on(&set, 0, "failback");
    let slot_k = slot(key.as_bytes());
    let options = [("connectTimeout", OptionValue::Float(2.0))];
    // `old` talks to node 0 while it is master: its connection learns node 0's epoch now.
    let old = locker(&set, &[0], &options);
    let first = old
        .lock(key.as_bytes(), Some(60.0), 0.0)
        .unwrap()
        .expect("free");
    let first_fence = first.fence();
    assert!(first.release().unwrap());
    replicate(&set, 0);
    let epoch_before: String = q(&mut set.nodes[0].client(), &["CLUSTER", "INFO"]);
    // Node 0's replica takes over; node 0 becomes its replica (connections stay open).
    let replica = set.replicas_of(0)[0];
    assert_eq!(set.manual_failover(replica, slot_k, 0), replica);
    // A lock on the interim master that node 0 never gets.
    set.nodes[0].signal("STOP");
    let _: i64 = q(
        &mut set.nodes[replica].client(),
        &["CLIENT", "KILL", "TYPE", "replica"],
    );
    let interim = locker(&set, &[1], &options);
    let lost = interim
        .lock(key.as_bytes(), Some(60.0), 0.0)
        .unwrap()
        .expect("free");
    let lost_fence = lost.fence();
    assert!(lost_fence > first_fence);
    std::mem::forget(lost);
    set.nodes[replica].kill();
    set.nodes[0].signal("CONT");
    assert_eq!(
        set.await_new_master(slot_k, replica),
        0,
        "node 0 is master again"
    );
    let epoch_after: String = q(&mut set.nodes[0].client(), &["CLUSTER", "INFO"]);
    let my_epoch = |info: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix("cluster_my_epoch:"))
            .map(|s| s.trim().to_owned())
    };
    eprintln!(
        "node 0 epoch before {:?} after {:?}; first fence {first_fence}, lost fence {lost_fence}",
        my_epoch(&epoch_before),
        my_epoch(&epoch_after)
    );
    let retaken = super::retake_after_failover(&old, key.as_bytes());
    eprintln!("retaken fence {}", retaken.fence());
    assert!(
        retaken.fence() > lost_fence,
        "fences never go back across a failover: {} after {lost_fence}",
        retaken.fence()
    );
    assert!(retaken.release().unwrap());
}

#[test]
fn the_watchdog_renews_through_a_stalled_migration_by_ask() {
    // Watchdog tests take turns: one counts the process's watchdog leases.
    let _turn = super::leases::watchdog_turn();
    let set = ClusterSet::start(3, 0);
    let l = locker(&set, &[0], &[("leaseTtl", OptionValue::Float(1.5))]);
    let key = key_on(&set, 0, "stalled");
    let s = slot(key.as_bytes());
    let lease = l.lock(key.as_bytes(), None, 0.0).unwrap().expect("free");
    std::thread::sleep(Duration::from_millis(600));
    // The lease's keys move to node 1 and the migration stays open: node 0 answers ASK for
    // them, the map does not change, and a renewal batch cannot follow ASK.
    start_migration(&set, s, 0, 1);
    assert!(migrate_keys(&set, s, 0, 1, usize::MAX) >= 3);
    std::thread::sleep(Duration::from_secs(3));
    let (_, pttl): ((), i64) = redis::pipe()
        .cmd("ASKING")
        .cmd("PTTL")
        .arg(&key)
        .query(&mut set.nodes[1].client())
        .unwrap();
    assert!(
        pttl > 0,
        "renewed on the importing node past its TTL: {pttl}"
    );
    assert!(lease.is_held().unwrap());
    finish_migration(&set, s, 1);
    assert!(lease.release().unwrap());
}

#[test]
fn request_end_releases_a_lease_whose_slot_moved() {
    let set = ClusterSet::start(3, 0);
    let l = locker(&set, &[0], &[]);
    let key = key_on(&set, 0, "request-end");
    // Leaked: its destructor never runs (as for an object PHP has not freed at request end).
    std::mem::forget(
        l.lock(key.as_bytes(), Some(30.0), 0.0)
            .unwrap()
            .expect("free"),
    );
    migrate_slot(&set, slot(key.as_bytes()), 0, 1);
    // The batch meets MOVED (this process's map still names node 0): the lease is released on
    // its own, on node 1, instead of being abandoned to its TTL.
    assert_eq!(crate::lock::lease::request::release_request_leases(), 1);
    assert_eq!(
        get_on(&set, 1, &key),
        None,
        "released on the slot's new master"
    );
}

/// Read-write locks on a cluster: readers and writers of names on every master (braces in
/// names too) exclude each other there, the readers' marker sits on the lock's master, and
/// readers, their marker and a queued writer's hand-over follow a slot migrated to another
/// master.
#[test]
fn read_write_locks_work_on_every_master_and_follow_a_moved_slot() {
    let set = ClusterSet::start(3, 0);
    let l = locker(&set, &[0], &[]);
    for master in 0..3 {
        for prefix in ["rw", "{", "a}{b"] {
            let key = key_on(&set, master, prefix);
            let a = l.lock_shared(key.as_bytes(), Some(10.0), 0.0).unwrap();
            let b = l.lock_shared(key.as_bytes(), Some(10.0), 0.0).unwrap();
            let (a, b) = (a.expect("free"), b.expect("readers share"));
            assert_eq!(get_on(&set, master, &key).as_deref(), Some("!rl:shared"));
            assert!(l.lock(key.as_bytes(), Some(10.0), 0.0).unwrap().is_none());
            assert!(!l.acquire(key.as_bytes(), b"doc", 10.0).unwrap());
            assert!(!a.promote(Duration::ZERO).unwrap(), "b still reads");
            assert!(b.release().unwrap());
            assert!(a.promote(Duration::ZERO).unwrap());
            assert!(a.fence() > 0);
            assert_eq!(
                get_on(&set, master, &key),
                Some(String::from_utf8_lossy(a.token()).into_owned())
            );
            assert!(a.release().unwrap());
            assert!(!l.is_locked(key.as_bytes()).unwrap());
        }
    }
    // Readers hold a key whose slot then moves: the shares and the marker move with it.
    let key = key_on(&set, 0, "moving");
    let reader = l
        .lock_shared(key.as_bytes(), Some(20.0), 0.0)
        .unwrap()
        .expect("free");
    let s = slot(key.as_bytes());
    migrate_slot(&set, s, 0, 1);
    assert_eq!(get_on(&set, 1, &key).as_deref(), Some("!rl:shared"));
    assert!(reader.is_held().unwrap(), "the share moved with its slot");
    assert!(l.lock(key.as_bytes(), Some(10.0), 0.0).unwrap().is_none());
    let second = l
        .lock_shared(key.as_bytes(), Some(20.0), 0.0)
        .unwrap()
        .expect("readers still share after the move");
    // A writer queued behind them gets the key when the last reader leaves.
    let waiter = {
        // A locker of its own: one shared with this thread would hold its connection while
        // blocked in line, and this thread's releases would queue behind that.
        let w = locker(&set, &[0], &[]);
        let key = key.clone();
        std::thread::spawn(move || w.lock(key.as_bytes(), Some(10.0), 5.0).unwrap())
    };
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert!(reader.release().unwrap());
    assert!(second.release().unwrap());
    let writer = waiter.join().unwrap().expect("handed over");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(writer.fence() > 0);
    assert_eq!(
        get_on(&set, 1, &key),
        Some(String::from_utf8_lossy(writer.token()).into_owned())
    );
    assert!(writer.release().unwrap());
}

/// A shared lease's renewal names `L`, the fence counter, the (absent while readers hold) fence
/// record and the readers set: on a node whose slot is MIGRATING, a script whose keys partly
/// exist gets `TRYAGAIN`, even before any key moved. An exclusive lease's renewal (`L`, counter,
/// record: all present) is served all along. So a migration that stays open longer than a
/// share's TTL (a big slot, a stalled reshard) loses every share in that slot.
#[test]
fn a_shares_renewal_rides_out_an_open_migration_like_an_exclusive_ones() {
    let _turn = super::leases::watchdog_turn();
    let set = ClusterSet::start(3, 0);
    let l = locker(&set, &[0], &[("leaseTtl", OptionValue::Float(1.5))]);
    let key = key_on(&set, 0, "open-migration");
    let writer_key = format!("{{{key}}}w");
    let s = slot(key.as_bytes());
    assert_eq!(slot(writer_key.as_bytes()), s);
    let writer = l
        .lock(writer_key.as_bytes(), None, 0.0)
        .unwrap()
        .expect("free");
    let reader = l
        .lock_shared(key.as_bytes(), None, 0.0)
        .unwrap()
        .expect("free");
    std::thread::sleep(Duration::from_millis(600));
    start_migration(&set, s, 0, 1);
    std::thread::sleep(Duration::from_secs(3)); // two TTLs, no key moved yet
    assert!(writer.is_held().unwrap(), "the exclusive lease is renewed");
    assert_eq!(
        reader.status(),
        crate::lock::lease::Status::Held,
        "the share is renewed as well"
    );
    assert!(reader.is_held().unwrap(), "and its owner check is served");
    assert!(reader.remaining().unwrap() > 0.5);
}
