//! The documents' API: each problem the source documents raise, shown impossible. Every
//! scenario runs twice: with `SET ... NX GET` (Redis >= 7.0) and with the Lua fallback used on
//! older servers.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::{config, get, locker, pttl, sleep_ms};
use crate::lock::options::OptionValue;
use crate::lock::testing::{RedisServer, q};
use crate::lock::topology::Route;
use crate::lock::{Locker, token};

/// Runs `scenario` with a fresh server once per acquire mode.
fn both_modes(scenario: impl Fn(&RedisServer, &dyn Fn() -> Locker)) {
    for legacy in [false, true] {
        let server = RedisServer::start();
        let make = || {
            let l = locker(&server);
            if legacy {
                l.client().topology().set_legacy_set(Route::Slot(0));
            }
            l
        };
        scenario(&server, &make);
    }
}

#[test]
fn acquire_sets_the_value_with_a_millisecond_ttl() {
    both_modes(|server, make| {
        let l = make();
        assert!(l.acquire(b"k", b"v1", 2.5).unwrap());
        assert_eq!(get(server, "k").as_deref(), Some("v1"));
        let ttl = pttl(server, "k");
        assert!((2400..=2500).contains(&ttl), "pttl {ttl}");
    });
}

#[test]
fn a_contender_fails_and_never_refreshes_the_holders_ttl() {
    // Document 000's MULTI version refreshed the TTL on every failed attempt.
    both_modes(|server, make| {
        let (holder, contender) = (make(), make());
        assert!(holder.acquire(b"k", b"holder", 1.0).unwrap());
        sleep_ms(300);
        for _ in 0..5 {
            assert!(!contender.acquire(b"k", b"contender", 10.0).unwrap());
        }
        let ttl = pttl(server, "k");
        assert!(ttl <= 700, "the contender refreshed the TTL: {ttl} ms left");
        assert_eq!(get(server, "k").as_deref(), Some("holder"));
    });
}

#[test]
fn a_dead_holders_lock_expires_so_there_is_no_deadlock() {
    both_modes(|_server, make| {
        let (dead, next) = (make(), make());
        assert!(dead.acquire(b"k", b"dead", 0.2).unwrap());
        drop(dead); // never releases
        assert!(!next.acquire(b"k", b"next", 1.0).unwrap());
        sleep_ms(250);
        assert!(next.acquire(b"k", b"next", 1.0).unwrap());
    });
}

#[test]
fn a_stale_holder_cannot_delete_the_new_owners_lock() {
    both_modes(|server, make| {
        let (stale, owner) = (make(), make());
        assert!(stale.acquire(b"k", b"stale", 0.1).unwrap());
        sleep_ms(150); // the stale holder's work overran its TTL
        assert!(owner.acquire(b"k", b"owner", 5.0).unwrap());
        assert!(!stale.release(b"k", b"stale").unwrap());
        assert_eq!(get(server, "k").as_deref(), Some("owner"));
        assert!(pttl(server, "k") > 4000);
        assert!(owner.release(b"k", b"owner").unwrap());
        assert_eq!(get(server, "k"), None);
        assert!(!owner.release(b"k", b"owner").unwrap());
    });
}

#[test]
fn acquiring_again_with_the_holders_value_succeeds_and_resets_the_ttl() {
    // This is what makes a retry after a lost reply safe: the caller learns it holds the lock.
    both_modes(|server, make| {
        let l = make();
        assert!(l.acquire(b"k", b"me", 1.0).unwrap());
        sleep_ms(300);
        assert!(l.acquire(b"k", b"me", 5.0).unwrap());
        assert!(pttl(server, "k") > 4500);
    });
}

#[test]
fn racing_takeovers_of_an_expired_lock_have_exactly_one_winner() {
    // Document 003's GETSET scheme let two processes both believe they took over.
    both_modes(|_server, make| {
        for round in 0..20 {
            let key = format!("race{round}");
            assert!(make().acquire(key.as_bytes(), b"old", 0.05).unwrap());
            let contenders: Vec<Locker> = (0..8).map(|_| make()).collect();
            sleep_ms(60);
            let barrier = Arc::new(Barrier::new(contenders.len()));
            let handles: Vec<_> = contenders
                .into_iter()
                .enumerate()
                .map(|(i, l)| {
                    let (barrier, key) = (Arc::clone(&barrier), key.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        l.acquire(key.as_bytes(), format!("c{i}").as_bytes(), 5.0)
                            .unwrap()
                    })
                })
                .collect();
            let winners = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|won| *won)
                .count();
            assert_eq!(winners, 1, "round {round}");
        }
    });
}

#[test]
fn mutual_exclusion_with_threads_loses_no_update() {
    both_modes(|server, make| {
        let workers = 6;
        let per_worker = 50;
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (l, dsn) = (make(), server.dsn());
                std::thread::spawn(move || {
                    let mut counter = redis::Client::open(dsn).unwrap().get_connection().unwrap();
                    let me = token();
                    for _ in 0..per_worker {
                        while !l.acquire(b"mutex", me.as_bytes(), 5.0).unwrap() {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        // A read-modify-write that loses updates without mutual exclusion.
                        let n: i64 =
                            q::<Option<i64>>(&mut counter, &["GET", "counter"]).unwrap_or(0);
                        let _: () = q(&mut counter, &["SET", "counter", &(n + 1).to_string()]);
                        assert!(l.release(b"mutex", me.as_bytes()).unwrap());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(
            get(server, "counter"),
            Some((workers * per_worker).to_string())
        );
    });
}

#[test]
fn keys_and_values_are_binary_safe() {
    both_modes(|server, make| {
        let l = make();
        let key = b"k\0\r\n\xff";
        let value = b"\x00v\r\n$3\r\n";
        assert!(l.acquire(key, value, 5.0).unwrap());
        assert!(!l.acquire(key, b"\x00v\r\n$3\r", 5.0).unwrap());
        let stored: Vec<u8> = redis::cmd("GET")
            .arg(&key[..])
            .query(&mut server.client())
            .unwrap();
        assert_eq!(stored, value);
        assert!(!l.release(key, b"\x00v").unwrap());
        assert!(l.release(key, value).unwrap());
    });
}

#[test]
fn the_prefix_is_prepended_to_every_key() {
    let server = RedisServer::start();
    let l = super::unshared(config(
        &server.dsn(),
        &[("prefix", OptionValue::Str(b"app:".to_vec()))],
    ));
    assert!(l.acquire(b"orders", b"v", 5.0).unwrap());
    assert_eq!(get(&server, "app:orders").as_deref(), Some("v"));
    assert_eq!(get(&server, "orders"), None);
    assert!(l.release(b"orders", b"v").unwrap());
    assert_eq!(get(&server, "app:orders"), None);
}

#[test]
fn retry_acquire_makes_one_plus_max_retries_attempts_spaced_by_the_interval() {
    both_modes(|server, make| {
        let (holder, waiter) = (make(), make());
        assert!(holder.acquire(b"k", b"holder", 10.0).unwrap());
        let _: () = q(&mut server.client(), &["CONFIG", "RESETSTAT"]);
        let start = Instant::now();
        assert!(!waiter.retry_acquire(b"k", b"w", 1.0, 3, 0.1).unwrap());
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(
            elapsed < Duration::from_millis(450),
            "slept after the last attempt: {elapsed:?}"
        );
        let stats: String = q(&mut server.client(), &["INFO", "commandstats"]);
        let attempts = calls(&stats, "cmdstat_set:")
            + calls(&stats, "cmdstat_evalsha:")
            + calls(&stats, "cmdstat_eval:");
        assert_eq!(attempts, 4, "{stats}");
    });
}

fn calls(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|l| l.strip_prefix("calls="))
        .and_then(|l| l.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[test]
fn retry_acquire_succeeds_once_the_holder_releases() {
    both_modes(|_server, make| {
        let (holder, waiter) = (make(), make());
        assert!(holder.acquire(b"k", b"holder", 10.0).unwrap());
        let releaser = std::thread::spawn(move || {
            sleep_ms(120);
            assert!(holder.release(b"k", b"holder").unwrap());
        });
        let start = Instant::now();
        assert!(waiter.retry_acquire(b"k", b"w", 2.0, 10, 0.05).unwrap());
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(100) && elapsed < Duration::from_millis(300));
        releaser.join().unwrap();
    });
}

#[test]
fn retry_acquire_validates_before_any_io() {
    // Port 1 refuses connections: a validation error must come first.
    let l = super::locker_for("redis://127.0.0.1:1");
    type Case<'a> = (&'a [u8], &'a [u8], f64, i64, f64);
    let cases: [Case; 7] = [
        (b"k", b"v", 10.0, 4, 3.0), // 12 s of retries > 10 s TTL (document 001's rule)
        (b"k", b"v", 10.0, -1, 1.0),
        (b"k", b"v", 10.0, 1, -1.0),
        (b"k", b"v", 10.0, 1, f64::NAN),
        (b"", b"v", 10.0, 1, 1.0),
        (b"k", b"", 10.0, 1, 1.0),
        (b"k", b"v", 0.0, 0, 0.0),
    ];
    for (key, value, ttl, retries, interval) in cases {
        let err = l
            .retry_acquire(key, value, ttl, retries, interval)
            .unwrap_err();
        assert!(err.is_invalid_argument(), "{err:?}");
    }
    let err = l.retry_acquire(b"k", b"v", 10.0, 4, 3.0).unwrap_err();
    assert!(
        err.message().contains("must not exceed expireTime"),
        "{err}"
    );
    // Exactly at the limit is allowed (and then fails to connect, proving it passed checks).
    let err = l.retry_acquire(b"k", b"v", 10.0, 5, 2.0).unwrap_err();
    assert!(err.is_connection(), "{err:?}");
}

#[test]
fn bad_ttls_and_empty_keys_are_invalid_arguments() {
    let l = super::locker_for("redis://127.0.0.1:1");
    for ttl in [
        0.0,
        -1.0,
        0.0004,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e13,
    ] {
        assert!(
            l.acquire(b"k", b"v", ttl)
                .unwrap_err()
                .is_invalid_argument(),
            "{ttl}"
        );
    }
    assert!(l.acquire(b"", b"v", 1.0).unwrap_err().is_invalid_argument());
    assert!(l.acquire(b"k", b"", 1.0).unwrap_err().is_invalid_argument());
    assert!(l.release(b"", b"v").unwrap_err().is_invalid_argument());
    assert!(l.release(b"k", b"").unwrap_err().is_invalid_argument());
}

#[test]
fn ttl_is_kept_to_the_millisecond() {
    use crate::lock::locker::ttl_ms;
    assert_eq!(ttl_ms(0.001, "t").unwrap(), 1);
    assert_eq!(ttl_ms(1.0004, "t").unwrap(), 1000);
    assert_eq!(ttl_ms(2.5, "t").unwrap(), 2500);
    assert_eq!(ttl_ms(10.0, "t").unwrap(), 10_000);
}

#[test]
fn a_key_of_another_type_is_a_server_error_not_a_false() {
    let server = RedisServer::start();
    let _: () = q(&mut server.client(), &["HSET", "h", "f", "v"]);
    let err = locker(&server).acquire(b"h", b"v", 1.0).unwrap_err();
    assert!(err.is_server_code("WRONGTYPE"), "{err:?}");
    // The reply names the server it came from, after the reply's own text.
    let node = format!("127.0.0.1:{} db 0", server.port);
    assert_eq!(err.node(), Some(node.as_str()));
    assert_eq!(
        err.to_string(),
        format!(
            "acquire: WRONGTYPE Operation against a key holding the wrong kind of value \
             (from Redis at {node})"
        )
    );
    // From a script too (release runs EVALSHA), on a database other than 0.
    let mut db3 = server.client();
    let _: () = q(&mut db3, &["SELECT", "3"]);
    let _: () = q(&mut db3, &["HSET", "h3", "f", "v"]);
    let err = super::locker_for(&format!("{}/3", server.dsn()))
        .release(b"h3", b"v")
        .unwrap_err();
    assert!(err.is_server_code("WRONGTYPE"), "{err:?}");
    let node = format!("127.0.0.1:{} db 3", server.port);
    assert_eq!(err.node(), Some(node.as_str()), "{err}");
    assert!(
        err.to_string()
            .ends_with(&format!("(from Redis at {node})")),
        "{err}"
    );
}

#[test]
fn tokens_are_fresh_uuid_v4() {
    let a = token();
    let b = token();
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
    assert_eq!(a.as_bytes()[14], b'4');
}
