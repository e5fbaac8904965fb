//! Regression tests for "leases you can trust": each defect an adversarial user found, shown
//! gone, against real redis-server processes.

use std::time::{Duration, Instant};

use super::{config, get, pttl, shared, sleep_ms, unshared};
use crate::lock::Locker;
use crate::lock::keys::{LockKeys, RESERVED, slot};
use crate::lock::lease::state::Status;
use crate::lock::lease::waiting::{Attempt, Waiter};
use crate::lock::options::OptionValue;
use crate::lock::testing::{Proxy, RedisServer, connected_clients, q};

fn locker(server: &RedisServer) -> Locker {
    unshared(config(&server.dsn(), &[]))
}

fn locker_with(server: &RedisServer, extra: &[(&str, OptionValue)]) -> Locker {
    unshared(config(&server.dsn(), extra))
}

fn text(token: &[u8]) -> String {
    String::from_utf8_lossy(token).into_owned()
}

fn keys_in(server: &RedisServer) -> Vec<Vec<u8>> {
    q(&mut server.client(), &["KEYS", "*"])
}

fn str_of(key: &[u8]) -> &str {
    std::str::from_utf8(key).expect("ascii key")
}

/// Item 1: with A holding `x`, C holding `{x}` and B waiting on `x`, C's release must not hand
/// `x` to B.
#[test]
fn a_name_and_its_braced_form_are_different_locks() {
    let server = RedisServer::start();
    let (a, b, c) = (locker(&server), locker(&server), locker(&server));
    let held_x = a.lock(b"x", Some(10.0), 0.0).unwrap().expect("free");
    let held_braced = c
        .lock(b"{x}", Some(10.0), 0.0)
        .unwrap()
        .expect("another lock");
    let waiter = std::thread::spawn(move || b.lock(b"x", Some(10.0), 1.0).unwrap());
    sleep_ms(200);
    assert!(held_braced.release().unwrap());
    assert!(waiter.join().unwrap().is_none(), "x is still A's");
    assert_eq!(get(&server, "x"), Some(text(held_x.token())));
    assert!(held_x.is_held().unwrap());
}

/// Item 2: a lock name can never be a companion key, and reserved names are refused.
#[test]
fn lock_names_cannot_reach_the_engines_own_keys() {
    let server = RedisServer::start();
    let l = locker_with(&server, &[("prefix", OptionValue::Str(b"{app}:".to_vec()))]);
    // Names that were companion keys under the old scheme are ordinary locks now.
    let q_lease = l
        .lock(b"jobs:queue", Some(10.0), 0.0)
        .unwrap()
        .expect("free");
    let f_lease = l.lock(b"a:fence", Some(10.0), 0.0).unwrap().expect("free");
    let jobs = l
        .lock(b"jobs", Some(10.0), 0.0)
        .unwrap()
        .expect("no WRONGTYPE");
    let a = l
        .lock(b"a", Some(10.0), 0.0)
        .unwrap()
        .expect("no counter clash");
    assert!(a.fence() > f_lease.fence());
    assert!(!l.force_release(b"b:fence").unwrap());
    assert_eq!(l.ttl(b"b:fence").unwrap(), None);
    for key in keys_in(&server) {
        let is_lock = [
            &b"{app}:jobs:queue"[..],
            b"{app}:a:fence",
            b"{app}:jobs",
            b"{app}:a",
        ]
        .contains(&key.as_slice());
        assert!(is_lock || key.starts_with(RESERVED), "{}", text(&key));
    }
    drop((q_lease, jobs, a, f_lease));
    // The reserved marker is refused wherever a name goes in, with a ValueError saying why.
    let bare = locker(&server);
    let reserved = [&b"!rl"[..], b"!rl{AAAA}fences", b"!rlx"];
    for name in reserved {
        let errors = [
            bare.lock(name, Some(1.0), 0.0).err(),
            bare.acquire(name, b"v", 1.0).err(),
            bare.release(name, b"v").err(),
            bare.retry_acquire(name, b"v", 1.0, 1, 0.1).err(),
            bare.restore(name, b"v").err(),
            bare.is_locked(name).err(),
            bare.ttl(name).err(),
            bare.force_release(name).err(),
        ];
        for err in errors {
            let err = err.expect("refused");
            assert!(err.is_invalid_argument(), "{err:?}");
            assert!(err.message().contains("reserved"), "{err}");
        }
    }
    let err = Locker::new(config(
        &server.dsn(),
        &[("prefix", OptionValue::Str(b"!rlapp:".to_vec()))],
    ))
    .err()
    .expect("reserved prefix");
    assert!(err.is_invalid_argument());
}

/// Item 2: a script that fails part way leaves no lock taken. The fence counter is written
/// before the lock: a counter of the wrong type (written behind our back) fails the script
/// before the lock key is touched.
#[test]
fn a_script_that_fails_part_way_leaves_no_lock() {
    let server = RedisServer::start();
    let l = locker(&server);
    let keys = LockKeys::new(b"", b"k").unwrap();
    let _: i64 = q(
        &mut server.client(),
        &["LPUSH", str_of(&keys.fences), "junk"],
    );
    let err = l.lock(b"k", Some(5.0), 0.0).err().expect("WRONGTYPE");
    assert!(err.is_server_code("WRONGTYPE"), "{err:?}");
    assert_eq!(get(&server, "k"), None, "no lock left behind");
    let _: i64 = q(&mut server.client(), &["DEL", str_of(&keys.fences)]);
    assert!(l.lock(b"k", Some(5.0), 0.0).unwrap().is_some());
}

/// Item 3: a waiter that died just before its turn is handed the lock for the claim window only;
/// the next live waiter holds it within about 3 s of the release, not after the dead one's TTL.
#[test]
fn a_dead_waiter_holds_the_others_up_for_the_claim_window_only() {
    let server = RedisServer::start();
    let (holder, ghost_client, live) = (locker(&server), locker(&server), locker(&server));
    let held = holder.lock(b"k", Some(30.0), 0.0).unwrap().expect("free");
    // The ghost queues with a 30 s TTL, then dies (never heartbeats or claims again).
    let ghost = Waiter::new(
        &ghost_client,
        LockKeys::new(b"", b"k").unwrap(),
        b"ghost".to_vec(),
        Duration::from_secs(30),
    );
    assert!(matches!(ghost.attempt(true).unwrap(), Attempt::Busy(_)));
    let waiter = std::thread::spawn(move || {
        let lease = live
            .lock(b"k", Some(30.0), 10.0)
            .unwrap()
            .expect("its turn");
        (Instant::now(), lease)
    });
    sleep_ms(300);
    let released_at = Instant::now();
    assert!(held.release().unwrap());
    assert_eq!(
        get(&server, "k").as_deref(),
        Some("ghost"),
        "handed to the ghost"
    );
    assert!(pttl(&server, "k") <= 2000, "for the claim window only");
    let (got_at, lease) = waiter.join().unwrap();
    let after = got_at - released_at;
    assert!(after < Duration::from_secs(3), "{after:?}");
    assert!(lease.fence() > held.fence());
    assert_eq!(get(&server, "k"), Some(text(lease.token())));
    assert!(pttl(&server, "k") > 25_000, "claimed to its own TTL");
}

/// Item 3: `lock()` leaves the queue when it fails (here: its wake list was made the wrong type
/// behind its back, so its BLPOP fails with WRONGTYPE, an error no wait rides out).
#[test]
fn a_waiter_that_fails_leaves_the_queue() {
    let server = RedisServer::start();
    let (holder, waiter) = (locker(&server), locker(&server));
    let _held = holder.lock(b"k", Some(30.0), 0.0).unwrap().expect("free");
    let keys = LockKeys::new(b"", b"k").unwrap();
    let queue = str_of(&keys.queue).to_string();
    let wake_prefix = keys.wake_prefix.clone();
    let sabotage = std::thread::spawn({
        let server_dsn = server.dsn();
        move || {
            let mut c = redis::Client::open(server_dsn)
                .unwrap()
                .get_connection()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                let members: Vec<String> = q(&mut c, &["ZRANGE", &queue, "0", "-1"]);
                if let Some(member) = members.first() {
                    let token = member.split_once(':').unwrap().1;
                    let wake = [wake_prefix.as_slice(), token.as_bytes()].concat();
                    let _: () = redis::cmd("SET").arg(wake).arg("x").query(&mut c).unwrap();
                    return;
                }
                assert!(Instant::now() < deadline, "the waiter never queued");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let err = waiter.lock(b"k", Some(5.0), 5.0).err().expect("WRONGTYPE");
    sabotage.join().unwrap();
    assert!(err.is_server_code("WRONGTYPE"), "{err:?}");
    let queued: i64 = q(&mut server.client(), &["ZCARD", str_of(&keys.queue)]);
    assert_eq!(queued, 0, "it left the queue");
}

/// Item 5: Redis memory does not grow with the number of distinct keys ever locked: after
/// 20,000 distinct locks (with waits), what remains is one fence counter per hash slot used.
#[test]
fn distinct_keys_leave_only_per_slot_counters() {
    let server = RedisServer::start();
    let l = locker(&server);
    let mut slots = std::collections::HashSet::new();
    for i in 0..20_000 {
        let key = format!("order:{i}");
        slots.insert(slot(key.as_bytes()));
        let lease = l
            .lock(key.as_bytes(), Some(10.0), 0.1)
            .unwrap()
            .expect("free");
        assert!(lease.release().unwrap());
    }
    let size: usize = q(&mut server.client(), &["DBSIZE"]);
    assert_eq!(
        size,
        slots.len(),
        "one counter per slot used, nothing per key"
    );
    assert!(size <= 16_384);
    for key in keys_in(&server) {
        assert!(
            key.starts_with(RESERVED) && key.ends_with(b"}fences"),
            "{}",
            text(&key)
        );
    }
}

/// Item 6: fences never go back, even when the counter is evicted or the server restarts
/// without persistence: the server clock (µs) is a floor.
#[test]
fn fences_stay_above_every_earlier_fence_when_the_counter_is_lost() {
    let mut server = RedisServer::start();
    let l = locker(&server);
    let mut last = 0;
    for round in 0..3 {
        for _ in 0..5 {
            let lease = l.lock(b"k", Some(5.0), 0.0).unwrap().expect("free");
            assert!(lease.fence() > last, "round {round}");
            last = lease.fence();
            assert!(lease.release().unwrap());
        }
        match round {
            0 => {
                let _: () = q(&mut server.client(), &["FLUSHALL"]);
            }
            _ => server.restart(),
        }
    }
    let lease = l.lock(b"k", Some(5.0), 0.0).unwrap().expect("free");
    assert!(lease.fence() > last);
}

/// Item 7: objects with different timeouts share one socket, and the registry closes
/// connections no object uses once it holds more servers than its limit.
#[test]
fn two_thousand_lockers_with_distinct_timeouts_share_one_socket() {
    let server = RedisServer::start();
    let lockers: Vec<Locker> = (0..2000)
        .map(|i| {
            shared(config(
                &server.dsn(),
                &[("readTimeout", OptionValue::Float(1.0 + i as f64 / 1000.0))],
            ))
        })
        .collect();
    for (i, l) in lockers.iter().enumerate() {
        assert!(l.acquire(format!("k{i}").as_bytes(), b"v", 5.0).unwrap());
    }
    assert_eq!(connected_clients(&server), 2, "ours and the one asking");
}

#[test]
fn the_registry_closes_connections_no_object_uses() {
    let server = RedisServer::start();
    // 40 distinct servers (databases 0-15 over TCP and the unix socket, with and without a
    // user name): more than the registry keeps idle.
    let mut dsns = Vec::new();
    for db in 0..16 {
        dsns.push(format!("{}/{db}", server.dsn()));
        dsns.push(format!("unix://{}?db={db}", server.socket().display()));
    }
    for db in 0..8 {
        dsns.push(format!("redis://default@127.0.0.1:{}/{db}", server.port));
    }
    let before = connected_clients(&server);
    for dsn in &dsns {
        let l = shared(config(dsn, &[]));
        assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    }
    let open = connected_clients(&server) - before;
    assert!(
        open <= crate::lock::net::registry::IDLE_LIMIT as i64 + 1,
        "{open} sockets for {} servers, none in use",
        dsns.len()
    );
}

/// Item 8: a release whose reply is lost after the server ran it never reports a wrong false:
/// the resend finds nothing to release, so the outcome is reported unknown.
#[test]
fn a_release_whose_reply_was_lost_is_not_a_wrong_false() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port);
    let l = unshared(config(&proxy.dsn(), &[]));
    // Warm up (the script is loaded, the connection is reused).
    assert!(l.acquire(b"warm", b"v", 5.0).unwrap());
    assert!(l.release(b"warm", b"v").unwrap());
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    proxy.lose_next_reply();
    let err = l.release(b"k", b"v").expect_err("not a false");
    assert!(err.is_connection(), "{err:?}");
    assert!(err.message().contains("unknown"), "{err}");
    assert_eq!(get(&server, "k"), None, "the first send did release it");
    // The same for a lease and for forceRelease (their scripts loaded first: a NOSCRIPT reply
    // lost is a command that did nothing, and the resend rightly reports success).
    let warm = l.lock(b"lease", Some(5.0), 0.0).unwrap().expect("free");
    assert!(warm.release().unwrap());
    assert!(!l.force_release(b"lease").unwrap());
    let lease = l.lock(b"lease", Some(5.0), 0.0).unwrap().expect("free");
    proxy.lose_next_reply();
    let err = lease.release().expect_err("not a false");
    assert!(err.message().contains("unknown"), "{err}");
    assert!(l.acquire(b"forced", b"v", 5.0).unwrap());
    proxy.lose_next_reply();
    let err = l.force_release(b"forced").expect_err("not a false");
    assert!(err.message().contains("unknown"), "{err}");
    // An idempotent command whose reply is lost is simply sent again.
    proxy.lose_next_reply();
    assert!(l.acquire(b"again", b"v", 5.0).unwrap());
}

/// Item 8: a connection the server closed while idle is noticed before sending, so the release
/// goes out once, on a fresh connection, and reports the truth.
#[test]
fn a_connection_closed_while_idle_is_replaced_before_sending() {
    let server = RedisServer::start();
    let l = locker(&server);
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    let _: i64 = q(
        &mut server.client(),
        &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
    );
    sleep_ms(50);
    assert!(l.release(b"k", b"v").unwrap());
    let lease = l.lock(b"lease", Some(5.0), 0.0).unwrap().expect("free");
    let _: i64 = q(
        &mut server.client(),
        &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
    );
    sleep_ms(50);
    assert!(lease.release().unwrap());
}

/// Item 10: retryAcquire compares in whole milliseconds; tokens are bytes; `restore()` of a
/// lock taken with `acquire()` gets a fresh fence above every earlier one.
#[test]
fn edge_cases_of_the_documents_api_meet_leases() {
    let server = RedisServer::start();
    let l = locker(&server);
    assert!(l.retry_acquire(b"r", b"v", 0.3, 3, 0.1).unwrap());
    assert!(
        l.retry_acquire(b"r2", b"v", 0.3, 4, 0.1)
            .unwrap_err()
            .is_invalid_argument()
    );
    let earlier = l.lock(b"bin", Some(5.0), 0.0).unwrap().expect("free");
    let stale_fence = earlier.fence();
    assert!(earlier.release().unwrap());
    let token = b"\xff\xfe\x00binary";
    assert!(l.acquire(b"bin", token, 10.0).unwrap());
    let restored = l.restore(b"bin", token).unwrap();
    assert_eq!(restored.token(), token);
    assert!(restored.fence() > stale_fence);
    let again = l.restore(b"bin", token).unwrap();
    assert_eq!(
        again.fence(),
        restored.fence(),
        "the fence it was given stays"
    );
    std::mem::forget(again);
    assert!(restored.release().unwrap());
    assert_eq!(get(&server, "bin"), None);
}

/// Item 4: at request end, releases share one deadline: a stalled server costs about one read
/// timeout in all, leases left are abandoned (never tried again, not renewed).
#[test]
fn request_end_with_a_stalled_server_waits_one_timeout_in_all() {
    let server = RedisServer::start();
    let l = locker_with(&server, &[("readTimeout", OptionValue::Float(0.3))]);
    let leases: Vec<_> = (0..20)
        .map(|i| {
            l.lock(format!("k{i}").as_bytes(), Some(30.0), 0.0)
                .unwrap()
                .expect("free")
        })
        .collect();
    server.signal("STOP");
    let start = Instant::now();
    let released = crate::lock::lease::request::release_request_leases();
    let took = start.elapsed();
    let start_drop = Instant::now();
    let states: Vec<_> = leases
        .iter()
        .map(|l| std::sync::Arc::clone(l.state()))
        .collect();
    drop(leases);
    let drop_took = start_drop.elapsed();
    server.signal("CONT");
    assert_eq!(released, 0);
    assert!(took < Duration::from_millis(600), "{took:?}");
    assert!(drop_took < Duration::from_millis(50), "{drop_took:?}");
    assert!(states.iter().all(|s| s.status() == Status::Abandoned));
    assert!(l.is_locked(b"k0").unwrap(), "left to its TTL");
}

#[test]
fn request_end_releases_many_leases_in_one_pipeline() {
    let server = RedisServer::start();
    let l = locker(&server);
    let leases: Vec<_> = (0..500)
        .map(|i| {
            l.lock(format!("k{i}").as_bytes(), Some(30.0), 0.0)
                .unwrap()
                .expect("free")
        })
        .collect();
    let _: () = q(&mut server.client(), &["SCRIPT", "FLUSH"]); // NOSCRIPT inside the pipeline
    assert_eq!(crate::lock::lease::request::release_request_leases(), 500);
    assert!(leases.iter().all(|l| l.status() == Status::Released));
    let size: usize = q(&mut server.client(), &["DBSIZE"]);
    let left = keys_in(&server);
    assert!(left.iter().all(|k| k.ends_with(b"}fences")), "{size} keys");
}

/// Item 11: taking many leases costs the same per lease whatever is already held.
#[test]
fn holding_many_leases_keeps_lock_constant_time() {
    let server = RedisServer::start();
    let l = locker(&server);
    let mut leases = Vec::with_capacity(20_000);
    let time_batch = |leases: &mut Vec<_>, from: usize| {
        let start = Instant::now();
        for i in from..from + 1000 {
            leases.push(
                l.lock(format!("k{i}").as_bytes(), Some(60.0), 0.0)
                    .unwrap()
                    .unwrap(),
            );
        }
        start.elapsed()
    };
    let first = time_batch(&mut leases, 0);
    for chunk in 1..19 {
        time_batch(&mut leases, chunk * 1000);
    }
    let last = time_batch(&mut leases, 19_000);
    assert!(
        last < first * 3,
        "first 1000: {first:?}, last 1000: {last:?}"
    );
    assert!(crate::lock::lease::request::tracked() <= 2 * leases.len() + 64);
    std::mem::forget(leases); // released by the test server's death
}

/// Item 12: a wait rides out a server stall and killed connections, and still gets the lock.
#[test]
fn a_wait_rides_out_a_stall_and_killed_connections() {
    let server = RedisServer::start();
    let holder = locker(&server);
    let waiter = locker_with(&server, &[("readTimeout", OptionValue::Float(0.3))]);
    let held = holder.lock(b"k", Some(30.0), 0.0).unwrap().expect("free");
    let handle = std::thread::spawn(move || waiter.lock(b"k", Some(10.0), 10.0));
    sleep_ms(300);
    let dsn = server.dsn();
    let mut c = redis::Client::open(dsn).unwrap().get_connection().unwrap();
    let _: () = q(&mut c, &["DEBUG", "SLEEP", "1"]);
    for _ in 0..2 {
        let _: i64 = q(
            &mut c,
            &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
        );
        sleep_ms(300);
    }
    let holder_again = locker(&server);
    let released = holder_again.force_release(b"k").unwrap();
    assert!(released);
    drop(held);
    let lease = handle.join().unwrap().expect("no error").expect("its turn");
    assert!(lease.is_held().unwrap());
}

/// An ACL user allowed only its own key pattern and the engine's `~!rl*` can use every kind of
/// lock (the README's advice for ACLs).
#[test]
fn an_acl_user_needs_only_its_keys_and_the_reserved_pattern() {
    let server = RedisServer::start();
    let _: () = q(
        &mut server.client(),
        &[
            "ACL", "SETUSER", "app", "on", ">pw", "~app:*", "~!rl*", "+@all",
        ],
    );
    let dsn = format!("redis://app:pw@127.0.0.1:{}", server.port);
    let l = unshared(config(
        &dsn,
        &[("prefix", OptionValue::Str(b"app:".to_vec()))],
    ));
    let held = l.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let other = unshared(config(
        &dsn,
        &[("prefix", OptionValue::Str(b"app:".to_vec()))],
    ));
    let waiter = std::thread::spawn(move || other.lock(b"k", Some(10.0), 3.0).unwrap().is_some());
    sleep_ms(200);
    assert!(held.release().unwrap());
    assert!(waiter.join().unwrap(), "handed over");
    assert!(l.acquire(b"doc", b"v", 5.0).unwrap());
    assert!(l.restore(b"doc", b"v").unwrap().release().unwrap());
    let outside = unshared(config(&dsn, &[]));
    let err = outside
        .lock(b"k", Some(10.0), 0.0)
        .err()
        .expect("no permission");
    assert!(err.is_server_code("NOPERM"), "{err:?}");
}

/// Item 11: the watchdog renews thousands of leases in pipelined batches, each in time.
#[test]
fn the_watchdog_renews_thousands_of_leases_in_batches() {
    let _turn = super::leases::watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(&server, &[("leaseTtl", OptionValue::Float(0.9))]);
    let leases: Vec<_> = (0..3000)
        .map(|i| {
            l.lock(format!("k{i}").as_bytes(), None, 0.0)
                .unwrap()
                .expect("free")
        })
        .collect();
    let _: () = q(&mut server.client(), &["CONFIG", "RESETSTAT"]);
    sleep_ms(2000); // more than two TTLs
    for lease in leases.iter().step_by(97) {
        assert!(lease.is_held().unwrap(), "renewed");
    }
    let renewals = leases.iter().filter(|l| l.status() == Status::Held).count();
    assert_eq!(renewals, 3000);
    let info: String = q(&mut server.client(), &["INFO", "commandstats"]);
    let calls = |name: &str| -> i64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().unwrap())
    };
    // Every lease renewed every 0.3 s: about 6 renewals each in 2 s.
    assert!(calls("evalsha") + calls("eval") >= 3000 * 5, "{info}");
    drop(leases);
}

/// Review finding: leases PHP frees one by one (globals before the request-end hook, locals of
/// frames an uncaught exception unwinds) also cost one timeout in all when Redis stalls.
#[test]
fn dropping_leases_one_by_one_against_a_stalled_server_costs_one_timeout() {
    let server = RedisServer::start();
    let l = locker_with(&server, &[("readTimeout", OptionValue::Float(0.3))]);
    let mut leases: Vec<_> = (0..20)
        .map(|i| {
            l.lock(format!("k{i}").as_bytes(), Some(30.0), 0.0)
                .unwrap()
                .expect("free")
        })
        .collect();
    let states: Vec<_> = leases
        .iter()
        .map(|l| std::sync::Arc::clone(l.state()))
        .collect();
    server.signal("STOP");
    let start = Instant::now();
    while let Some(lease) = leases.pop() {
        drop(lease);
    }
    let freed = crate::lock::lease::request::release_request_leases();
    let took = start.elapsed();
    server.signal("CONT");
    assert_eq!(freed, 0);
    assert!(took < Duration::from_millis(700), "{took:?}");
    assert!(states.iter().all(|s| s.status() == Status::Abandoned));
}

/// Review finding: a wait that ends while the server is stalled must not leave the lock taken
/// (for its whole TTL) by the commands still stuck in the server's sockets.
#[test]
fn a_wait_given_up_during_a_stall_strands_no_lock() {
    let server = RedisServer::start();
    let l = locker_with(&server, &[("readTimeout", OptionValue::Float(0.2))]);
    // Scripts loaded, as in any process that has locked before (a stuck EVALSHA of a script the
    // server does not know would do nothing).
    assert!(l.lock(b"warm", Some(1.0), 0.0).unwrap().is_some());
    for wait in [0.3, 0.0] {
        server.signal("STOP");
        let err = l.lock(b"s", Some(30.0), wait).err().expect("no answer");
        assert!(err.is_timeout() || err.is_connection(), "{err:?}");
        server.signal("CONT");
        sleep_ms(300); // the server runs what its sockets held
        assert_eq!(get(&server, "s"), None, "wait {wait}: no lock for nobody");
        let queue: i64 = q(
            &mut server.client(),
            &["ZCARD", str_of(&LockKeys::new(b"", b"s").unwrap().queue)],
        );
        assert_eq!(queue, 0, "wait {wait}: nobody left in line");
        // The lock works for everyone else right away.
        let lease = locker(&server)
            .lock(b"s", Some(5.0), 0.0)
            .unwrap()
            .expect("free");
        assert!(lease.release().unwrap());
    }
}

/// Review finding: a refused connection setup (wrong password) is not retried for a whole wait.
#[test]
fn a_wrong_password_ends_a_wait_at_once() {
    let server = RedisServer::start_with(&["--requirepass", "right"]);
    let l = unshared(config(
        &format!("redis://:wrong@127.0.0.1:{}", server.port),
        &[],
    ));
    let start = Instant::now();
    let err = l.lock(b"k", Some(5.0), 2.0).err().expect("refused");
    assert!(err.is_refused() && err.is_connection(), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

/// Review finding: `restore()` of a lock without a TTL is refused and writes nothing that would
/// outlive it.
#[test]
fn restore_of_a_lock_without_a_ttl_is_refused() {
    let server = RedisServer::start();
    let l = locker(&server);
    let _: () = q(&mut server.client(), &["SET", "nottl", "v"]);
    let err = l.restore(b"nottl", b"v").err().expect("refused");
    assert!(err.is_invalid_argument(), "{err:?}");
    let keys: Vec<String> = q(&mut server.client(), &["KEYS", "!rl*fence:*"]);
    assert!(keys.is_empty(), "{keys:?}");
}

/// Review finding: the documents' `release()` of a lock held under a lease's token removes the
/// lease's fence record, so a later holding with the same token gets a new, higher fence.
#[test]
fn a_reused_token_never_gets_an_earlier_fence_back() {
    let server = RedisServer::start();
    let l = locker(&server);
    let lease = l.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let token = lease.token().to_vec();
    let first = lease.fence();
    lease.detach();
    assert!(l.release(b"k", &token).unwrap());
    assert!(l.acquire(b"k", &token, 10.0).unwrap());
    let again = l.restore(b"k", &token).unwrap();
    assert!(again.fence() > first, "{} after {first}", again.fence());
}

/// A lease whose wait had unanswered commands is released with a tombstone, so that a command
/// of that wait still stuck in the server cannot take the lock again after the release.
#[test]
fn a_lease_won_after_a_fault_leaves_a_tombstone_when_released() {
    let server = RedisServer::start();
    let holder = locker(&server);
    let waiter = locker_with(&server, &[("readTimeout", OptionValue::Float(0.2))]);
    let held = holder.lock(b"k", Some(30.0), 0.0).unwrap().expect("free");
    let handle = std::thread::spawn(move || waiter.lock(b"k", Some(10.0), 5.0));
    sleep_ms(200);
    let mut c = server.client();
    let _: () = q(&mut c, &["DEBUG", "SLEEP", "0.6"]);
    sleep_ms(100);
    assert!(held.release().unwrap());
    let lease = handle.join().unwrap().expect("no error").expect("its turn");
    assert!(lease.grant.unsure, "its wait met timeouts");
    assert!(lease.release().unwrap());
    let tombstones: Vec<String> = q(&mut c, &["KEYS", "!rl*gone:*"]);
    assert_eq!(tombstones.len(), 1, "{tombstones:?}");
    assert_eq!(get(&server, "k"), None);
}
