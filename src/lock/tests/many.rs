//! Multi-key locks (`lock_many`): all or nothing, fences per key, no barging past single-key
//! waiters or readers, ordered waits that hand over FIFO and never deadlock, the full TTL on
//! every key at the end of a wait, the watchdog, Redis Cluster (one script per slot), and
//! random overlapping sets from threads against a per-key holder check and lost-update
//! counters, on a real server and on `memory://`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::leases::watchdog_turn;
use super::{config, sleep_ms, unshared};
use crate::lock::Locker;
use crate::lock::keys::{LockKeys, slot};
use crate::lock::lease::waiting::{Attempt, Waiter};
use crate::lock::options::OptionValue;
use crate::lock::testing::{ClusterSet, RedisServer, q};

fn locker_with(dsn: &str, extra: &[(&str, OptionValue)]) -> Locker {
    unshared(config(dsn, extra))
}

fn locker(server: &RedisServer) -> Locker {
    locker_with(&server.dsn(), &[])
}

fn keys_left(server: &RedisServer) -> Vec<String> {
    let mut keys: Vec<String> = q(&mut server.client(), &["KEYS", "*"]);
    keys.sort();
    keys
}

fn get(server: &RedisServer, key: &str) -> Option<String> {
    q(&mut server.client(), &["GET", key])
}

#[test]
fn one_busy_key_takes_nothing_and_leaves_nothing() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let busy = a.lock(b"b", Some(10.0), 0.0).unwrap().expect("free");
    let before = keys_left(&server);
    assert!(
        b.lock_many(&[b"a", b"b", b"c"], Some(10.0), 0.0)
            .unwrap()
            .is_none()
    );
    assert_eq!(keys_left(&server), before, "nothing taken, nothing written");
    assert!(!b.is_locked(b"a").unwrap() && !b.is_locked(b"c").unwrap());
    assert!(busy.release().unwrap());
    let many = b
        .lock_many(&[b"a", b"b", b"c"], Some(10.0), 0.0)
        .unwrap()
        .expect("all free now");
    let token = String::from_utf8(many.token().to_vec()).unwrap();
    for key in ["a", "b", "c"] {
        assert_eq!(get(&server, key).as_deref(), Some(token.as_str()));
    }
    assert!(many.is_held().unwrap());
    assert!(many.release().unwrap());
    assert!(!many.release().unwrap(), "released once");
    assert!(!many.is_held().unwrap());
    let left: Vec<String> = keys_left(&server)
        .into_iter()
        .filter(|k| !k.ends_with("}fences"))
        .collect();
    assert!(left.is_empty(), "only fence counters remain: {left:?}");
}

#[test]
fn every_key_gets_its_own_increasing_fence_in_the_given_order() {
    let server = RedisServer::start();
    let l = locker(&server);
    let keys: [&[u8]; 3] = [b"z", b"{x}a", b"m"];
    let first = l.lock_many(&keys, Some(10.0), 0.0).unwrap().expect("free");
    assert_eq!(first.keys().collect::<Vec<_>>(), keys.to_vec());
    let f1: Vec<(Vec<u8>, i64)> = first.fences().map(|(k, f)| (k.to_vec(), f)).collect();
    assert!(f1.iter().all(|(_, f)| *f > 0));
    assert!(first.release().unwrap());
    let single = l.lock(b"m", Some(10.0), 0.0).unwrap().expect("free");
    assert!(single.fence() > f1[2].1, "a later lock() fences above");
    drop(single);
    let second = l.lock_many(&keys, Some(10.0), 0.0).unwrap().expect("free");
    for ((key, before), (key2, after)) in f1.iter().zip(second.fences()) {
        assert_eq!(key.as_slice(), key2);
        assert!(after > *before, "fence of {key:?} increases");
    }
}

#[test]
fn bad_key_lists_are_refused() {
    let server = RedisServer::start();
    let l = locker(&server);
    let refused = |keys: &[&[u8]]| {
        let e = l.lock_many(keys, Some(1.0), 0.0).err().expect("refused");
        assert!(e.is_invalid_argument(), "{e:?}");
        e.message().to_owned()
    };
    assert!(refused(&[]).contains("empty"));
    let many: Vec<Vec<u8>> = (0..65).map(|i| format!("k{i}").into_bytes()).collect();
    let many: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    assert!(refused(&many).contains("at most 64"));
    assert!(refused(&[b"a", b"b\0", b"a"]).contains("\"a\""));
    assert!(refused(&[b"a", b"!rl:shared"]).contains("reserved"));
    assert!(refused(&[b"a", b""]).contains("empty"));
    assert!(l.lock_many(&many[..64], Some(1.0), 0.0).unwrap().is_some());
    assert!(
        keys_left(&server).iter().all(|k| !k.starts_with('k')),
        "released on drop"
    );
}

#[test]
fn a_live_single_key_waiter_is_not_barged_past() {
    let server = RedisServer::start();
    let (a, b) = (locker(&server), locker(&server));
    let short = a.lock(b"a", Some(0.2), 0.0).unwrap().expect("free");
    let keys = LockKeys::new(b"", b"a").unwrap();
    let waiter = Waiter::new(&b, keys, b"w".to_vec(), Duration::from_secs(10));
    assert!(matches!(waiter.attempt(true).unwrap(), Attempt::Busy(_)));
    sleep_ms(300);
    drop(short);
    assert!(
        !a.is_locked(b"a").unwrap(),
        "expired: free, but a waiter is queued"
    );
    assert!(
        a.lock_many(&[b"a", b"b"], Some(10.0), 0.0)
            .unwrap()
            .is_none()
    );
    assert!(!a.is_locked(b"b").unwrap(), "nothing taken");
    assert!(matches!(waiter.attempt(true).unwrap(), Attempt::Held(_)));
}

#[test]
fn readers_and_semaphores_keep_a_multi_key_lock_out() {
    let server = RedisServer::start();
    let l = locker(&server);
    let share = l.lock_shared(b"r", Some(10.0), 0.0).unwrap().expect("free");
    assert!(
        l.lock_many(&[b"q", b"r"], Some(10.0), 0.0)
            .unwrap()
            .is_none()
    );
    assert!(share.release().unwrap());
    let many = l
        .lock_many(&[b"q", b"r"], Some(10.0), 0.0)
        .unwrap()
        .expect("free");
    assert!(l.lock_shared(b"r", Some(10.0), 0.0).unwrap().is_none());
    drop(many);
    // A semaphore of the same name lives elsewhere: no conflict either way.
    let permit = l.permit(b"q", 1, Some(10.0), 0.0).unwrap().expect("free");
    assert!(l.lock_many(&[b"q"], Some(10.0), 0.0).unwrap().is_some());
    drop(permit);
}

#[test]
fn a_wait_takes_keys_in_order_and_hands_over_fifo() {
    let server = RedisServer::start();
    let (x, w, m) = (locker(&server), locker(&server), locker(&server));
    // The engine's order is by hash slot, then name: `first` is taken before `last`.
    let (first, last): (&'static [u8], &'static [u8]) = if slot(b"a") < slot(b"b") {
        (b"a", b"b")
    } else {
        (b"b", b"a")
    };
    let held = x.lock(last, Some(10.0), 0.0).unwrap().expect("free");
    let log = Arc::new(Mutex::new(Vec::new()));
    let single = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let lease = w
                .lock(last, Some(10.0), 5.0)
                .unwrap()
                .expect("first in line");
            log.lock().unwrap().push("single");
            sleep_ms(200);
            drop(lease);
        })
    };
    sleep_ms(150);
    let multi = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let many = m
                .lock_many(&[b"a", b"b"], Some(10.0), 5.0)
                .unwrap()
                .expect("second in line");
            log.lock().unwrap().push("multi");
            assert!(many.is_held().unwrap());
            many.release().unwrap()
        })
    };
    sleep_ms(200);
    assert!(
        x.is_locked(first).unwrap(),
        "the waiter holds the first key while it waits for the last"
    );
    drop(held);
    single.join().unwrap();
    assert!(multi.join().unwrap());
    assert_eq!(*log.lock().unwrap(), ["single", "multi"]);
    assert!(!x.is_locked(b"a").unwrap() && !x.is_locked(b"b").unwrap());
}

#[test]
fn a_deadline_releases_everything_taken() {
    let server = RedisServer::start();
    let (x, m) = (locker(&server), locker(&server));
    let _held = x.lock(b"c", Some(10.0), 0.0).unwrap().expect("free");
    let start = Instant::now();
    assert!(
        m.lock_many(&[b"a", b"b", b"c"], Some(10.0), 0.3)
            .unwrap()
            .is_none()
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(!x.is_locked(b"a").unwrap() && !x.is_locked(b"b").unwrap());
    assert!(
        x.lock_many(&[b"a", b"b"], Some(10.0), 0.0)
            .unwrap()
            .is_some()
    );
}

#[test]
fn keys_taken_early_have_the_full_ttl_when_the_wait_ends() {
    let server = RedisServer::start();
    let (x, m) = (locker(&server), locker(&server));
    // b runs out after 0.8 s; a, taken at once with a TTL of 0.5 s, expires meanwhile.
    let _held = x.lock(b"b", Some(0.8), 0.0).unwrap().expect("free");
    let many = m
        .lock_many(&[b"a", b"b"], Some(2.0), 3.0)
        .unwrap()
        .expect("both, after b expires");
    assert!(many.is_held().unwrap());
    for key in ["a", "b"] {
        let pttl: i64 = q(&mut server.client(), &["PTTL", key]);
        assert!(pttl > 1_500, "{key} has its full TTL: {pttl}");
    }
    let many = {
        drop(many);
        let _b = x.lock(b"b", Some(0.8), 0.0).unwrap().expect("free");
        m.lock_many(&[b"a", b"b"], Some(0.5), 3.0)
            .unwrap()
            .expect("a lost meanwhile: taken again")
    };
    assert!(many.is_held().unwrap());
}

#[test]
fn the_watchdog_renews_every_key() {
    let _turn = watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(&server.dsn(), &[("leaseTtl", OptionValue::Float(0.3))]);
    let many = l
        .lock_many(&[b"a", b"b", b"c"], None, 0.0)
        .unwrap()
        .expect("free");
    sleep_ms(1_000);
    assert!(many.is_held().unwrap(), "renewed past three TTLs");
    assert!(many.extend(5_000).unwrap());
    assert!(many.release().unwrap());
}

#[test]
fn on_redis_cluster_each_slot_is_one_script_and_all_or_nothing_holds() {
    let set = ClusterSet::start(3, 0);
    let l = locker_with(&set.dsn(&[0]), &[]);
    let other = locker_with(&set.dsn(&[1]), &[]);
    let on = |master: usize, prefix: &str| super::cluster::key_on(&set, master, prefix);
    let keys: Vec<String> = vec![
        on(0, "k"),
        on(1, "k"),
        on(2, "k"),
        "{t}one".into(),
        "{t}two".into(),
        "x{t}".into(),
    ];
    let topology = l.client().topology();
    let mut slots: Vec<u16> = keys.iter().map(|k| slot(k.as_bytes())).collect();
    slots.sort();
    assert!(
        topology.atomic_groups(&slots).len() >= 4,
        "one group per slot"
    );
    let list: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    let busy = other
        .lock(keys[2].as_bytes(), Some(10.0), 0.0)
        .unwrap()
        .unwrap();
    assert!(l.lock_many(&list, Some(10.0), 0.0).unwrap().is_none());
    for key in &keys[..2] {
        assert!(
            !l.is_locked(key.as_bytes()).unwrap(),
            "{key} released again"
        );
    }
    drop(busy);
    let many = l.lock_many(&list, Some(10.0), 0.0).unwrap().expect("free");
    for key in &keys {
        let master = set.master_of(slot(key.as_bytes()));
        assert_eq!(
            super::cluster::get_on(&set, master, key)
                .as_deref()
                .map(str::as_bytes),
            Some(many.token()),
            "{key} on its master"
        );
    }
    assert!(
        other
            .lock_many(&list[3..], Some(10.0), 0.0)
            .unwrap()
            .is_none()
    );
    let owned = keys.clone();
    let waiter = std::thread::spawn(move || {
        other
            .lock_many(&list_owned(&owned), Some(10.0), 5.0)
            .unwrap()
            .map(|m| m.release().unwrap())
    });
    sleep_ms(300);
    assert!(many.release().unwrap());
    assert_eq!(waiter.join().unwrap(), Some(true));
}

fn list_owned(keys: &[String]) -> Vec<&[u8]> {
    keys.iter().map(|k| k.as_bytes()).collect()
}

/// Threads lock random overlapping subsets of five keys (`lock_many`, and single-key `lock()`
/// now and then), with waits: no key ever has two holders (a flag per key, set and cleared
/// under the lock), no update of a per-key counter is lost (read, pause, write under the
/// lock), and no thread is stuck (every call ends within its wait).
fn overlapping_sets(dsn: &str) {
    const KEYS: [&[u8]; 5] = [b"k0", b"k1", b"{k}2", b"k3", b"k4"];
    const THREADS: usize = 6;
    const ROUNDS: usize = 25;
    let flags: Arc<Vec<AtomicBool>> = Arc::new((0..5).map(|_| AtomicBool::new(false)).collect());
    let counters: Arc<Vec<AtomicU64>> = Arc::new((0..5).map(|_| AtomicU64::new(0)).collect());
    let done: Arc<Mutex<HashMap<usize, u64>>> = Arc::default();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (flags, counters, done) = (flags.clone(), counters.clone(), done.clone());
            let l = locker_with(dsn, &[("readTimeout", OptionValue::Float(2.0))]);
            std::thread::spawn(move || {
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                let mut next = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed
                };
                let mut mine = HashMap::new();
                for _ in 0..ROUNDS {
                    let mask = (next() % 31 + 1) as usize;
                    let mut set: Vec<usize> = (0..5).filter(|i| mask & (1 << i) != 0).collect();
                    // Random order of the given keys: the engine sorts them.
                    let turn = next() as usize % set.len();
                    set.rotate_left(turn);
                    let start = Instant::now();
                    let held: Option<Box<dyn std::any::Any>> = if set.len() == 1 && next() % 2 == 0
                    {
                        l.lock(KEYS[set[0]], Some(10.0), 10.0)
                            .unwrap()
                            .map(|l| Box::new(l) as Box<dyn std::any::Any>)
                    } else {
                        let keys: Vec<&[u8]> = set.iter().map(|&i| KEYS[i]).collect();
                        l.lock_many(&keys, Some(10.0), 10.0)
                            .unwrap()
                            .map(|l| Box::new(l) as Box<dyn std::any::Any>)
                    };
                    assert!(start.elapsed() < Duration::from_secs(11));
                    let held = held.expect("every call gets its keys within the wait");
                    for &i in &set {
                        assert!(
                            !flags[i].swap(true, Ordering::SeqCst),
                            "two holders of k{i}"
                        );
                    }
                    for &i in &set {
                        let v = counters[i].load(Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                        counters[i].store(v + 1, Ordering::SeqCst);
                        *mine.entry(i).or_insert(0u64) += 1;
                    }
                    for &i in &set {
                        flags[i].store(false, Ordering::SeqCst);
                    }
                    drop(held);
                }
                let mut done = done.lock().unwrap();
                for (i, n) in mine {
                    *done.entry(i).or_insert(0) += n;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread failed");
    }
    let done = done.lock().unwrap();
    for i in 0..5 {
        assert_eq!(
            counters[i].load(Ordering::SeqCst),
            done.get(&i).copied().unwrap_or(0),
            "no lost update on k{i}"
        );
    }
}

#[test]
fn overlapping_sets_from_threads_never_deadlock_or_double_hold() {
    let server = RedisServer::start();
    overlapping_sets(&server.dsn());
}

#[test]
fn overlapping_sets_on_memory_never_deadlock_or_double_hold() {
    overlapping_sets("memory://many-threads");
}

/// A slot kept in migration longer than the cluster's own retries of `TRYAGAIN` (bounded by
/// the connect timeout): a waiting `lock_many` rides it out key by key and gets every key once
/// the migration ends; without a wait it reports the error.
#[test]
fn a_wait_rides_out_a_long_slot_migration() {
    use super::cluster::{finish_migration, key_on, migrate_keys, start_migration};
    let set = ClusterSet::start(3, 0);
    let l = Arc::new(locker_with(
        &set.dsn(&[0]),
        &[("connectTimeout", OptionValue::Float(0.3))],
    ));
    let key = key_on(&set, 0, "mig");
    let s = slot(key.as_bytes());
    let lease = l
        .lock(key.as_bytes(), Some(30.0), 0.0)
        .unwrap()
        .expect("free");
    start_migration(&set, s, 0, 1);
    assert!(migrate_keys(&set, s, 0, 1, usize::MAX) >= 3);
    let (a, b) = (format!("{{{key}}}a"), format!("{{{key}}}b"));
    let e = l
        .lock_many(&[a.as_bytes(), b.as_bytes()], Some(10.0), 0.0)
        .err()
        .expect("TRYAGAIN past the retries");
    assert!(e.message().contains("TRYAGAIN"), "{e:?}");
    let started = Instant::now();
    let waiter = {
        let l = Arc::clone(&l);
        std::thread::spawn(move || {
            l.lock_many(&[a.as_bytes(), b.as_bytes()], Some(10.0), 5.0)
                .map(|m| m.map(|m| m.fences().map(|(_, f)| f).collect::<Vec<_>>()))
        })
    };
    sleep_ms(1_000);
    finish_migration(&set, s, 1);
    let fences = waiter
        .join()
        .unwrap()
        .expect("waited out the migration")
        .expect("free");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(fences.iter().all(|&f| f > lease.fence()));
    assert!(lease.release().unwrap());
}

/// With `replicas` and no replica to acknowledge: the keys taken are released again and the
/// caller gets the replication error, as `lock()` does.
#[test]
fn unacknowledged_keys_are_released_with_the_replication_error() {
    let server = RedisServer::start();
    let l = locker_with(
        &server.dsn(),
        &[
            ("replicas", OptionValue::Int(1)),
            ("replicaTimeout", OptionValue::Float(0.1)),
        ],
    );
    let e = l
        .lock_many(&[b"a", b"b", b"c"], Some(10.0), 0.0)
        .err()
        .expect("no replica acknowledged");
    assert!(e.is_replication(), "{e:?}");
    let plain = locker(&server);
    for key in [&b"a"[..], b"b", b"c"] {
        assert!(!plain.is_locked(key).unwrap(), "released again");
    }
}
