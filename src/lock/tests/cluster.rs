//! Redis Cluster: three masters with a replica each on loopback, and the lock engine routing
//! every slot to its master through redirects, migrations and failovers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{config, unshared};
use crate::lock::Locker;
use crate::lock::keys::slot;
use crate::lock::options::OptionValue;
use crate::lock::testing::{ClusterSet, q};

fn locker(set: &ClusterSet, seeds: &[usize], options: &[(&str, OptionValue)]) -> Locker {
    unshared(config(&set.dsn(seeds), options))
}

/// A key (`prefix` + n) whose slot the node `master` serves.
fn key_on(set: &ClusterSet, master: usize, prefix: &str) -> String {
    (0..10_000)
        .map(|n| format!("{prefix}{n}"))
        .find(|k| set.master_of(slot(k.as_bytes())) == master)
        .expect("some key hashes there")
}

fn get_on(set: &ClusterSet, node: usize, key: &str) -> Option<String> {
    q(&mut set.nodes[node].client(), &["GET", key])
}

/// Moves `slot` from node `from` to node `to` the way `redis-cli --cluster reshard` does:
/// IMPORTING / MIGRATING, MIGRATE of each key, then the new owner announced to every master.
fn migrate_slot(set: &ClusterSet, slot: u16, from: usize, to: usize) {
    start_migration(set, slot, from, to);
    migrate_keys(set, slot, from, to, usize::MAX);
    finish_migration(set, slot, to);
}

fn start_migration(set: &ClusterSet, slot: u16, from: usize, to: usize) {
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
fn migrate_keys(set: &ClusterSet, slot: u16, from: usize, to: usize, limit: usize) -> usize {
    let s = slot.to_string();
    let keys: Vec<String> = q(
        &mut set.nodes[from].client(),
        &["CLUSTER", "GETKEYSINSLOT", &s, "1000"],
    );
    let port = set.nodes[to].port.to_string();
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

fn finish_migration(set: &ClusterSet, slot: u16, to: usize) {
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
