//! A Redlock quorum over 5 real redis-servers: majority with servers down, a stopped server
//! mid-acquire, validity time, contention without lost updates, leases, the watchdog.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::leases::watchdog_turn;
use super::sleep_ms;
use crate::lock::lease::Status;
use crate::lock::options::OptionValue;
use crate::lock::quorum::drift;
use crate::lock::testing::{Proxy, RedisServer, q};
use crate::lock::{Config, ErrorKind, Locker};

fn servers(n: usize) -> Vec<RedisServer> {
    (0..n).map(|_| RedisServer::start()).collect()
}

fn quorum_config(servers: &[RedisServer], extra: &[(&str, OptionValue)]) -> Config {
    let dsns: Vec<String> = servers.iter().map(RedisServer::dsn).collect();
    let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
    let mut options = vec![
        ("connectTimeout", OptionValue::Float(0.5)),
        ("readTimeout", OptionValue::Float(0.5)),
    ];
    options.extend(extra.iter().cloned());
    Config::parse_quorum(&dsns, &options).expect("valid quorum")
}

/// A quorum locker with connections of its own.
fn quorum(servers: &[RedisServer]) -> Locker {
    Locker::unshared(quorum_config(servers, &[])).unwrap()
}

fn quorum_with(servers: &[RedisServer], extra: &[(&str, OptionValue)]) -> Locker {
    Locker::unshared(quorum_config(servers, extra)).unwrap()
}

fn get(server: &RedisServer, key: &str) -> Option<String> {
    q(&mut server.client(), &["GET", key])
}

/// How many of the running `servers` hold `key` with `value`.
fn holders(servers: &[RedisServer], key: &str, value: &str) -> usize {
    servers
        .iter()
        .filter(|s| get(s, key).as_deref() == Some(value))
        .count()
}

#[test]
fn drift_is_one_percent_plus_two_ms() {
    assert_eq!(drift(1000), Duration::from_millis(12));
    assert_eq!(drift(10_000), Duration::from_millis(102));
    assert_eq!(drift(1), Duration::from_micros(2010));
}

#[test]
fn a_quorum_config_refuses_empty_memory_duplicates_and_replicas() {
    let no: &[(&str, OptionValue)] = &[];
    let err = Config::parse_quorum(&[], no).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("empty array"), "{err}");
    let err = Config::parse_quorum(&["redis://127.0.0.1:7001", "memory://q"], no).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("member #2"), "{err}");
    assert!(err.message().contains("memory://"), "{err}");
    let err = Config::parse_quorum(
        &[
            "redis://127.0.0.1:7001",
            "redis://127.0.0.1:7002",
            "redis://127.0.0.1:7001/0",
        ],
        no,
    )
    .unwrap_err();
    assert!(
        err.message()
            .contains("member #3 is the same server as member #1"),
        "{err}"
    );
    let err = Config::parse_quorum(
        &["redis://127.0.0.1:7001", "redis://127.0.0.1:7002"],
        &[("replicas", OptionValue::Int(1))],
    )
    .unwrap_err();
    assert!(err.message().contains("replicas"), "{err}");
    // At most 64 members.
    let many: Vec<String> = (0..65)
        .map(|i| format!("redis://127.0.0.1:{}", 7000 + i))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let err = Config::parse_quorum(&many, no).unwrap_err();
    assert!(
        err.message().contains("at most 64 members, 65 given"),
        "{err}"
    );
    assert_eq!(
        Config::parse_quorum(&many[..64], no).unwrap().members.len(),
        64
    );
    // A malformed member is named by its position.
    let err = Config::parse_quorum(&["redis://127.0.0.1:7001", "nope://x"], no).unwrap_err();
    assert!(err.message().starts_with("quorum member #2: "), "{err}");
    // Same host and port, another database: another server as far as locks go.
    let ok = Config::parse_quorum(
        &["redis://127.0.0.1:7001/1", "redis://127.0.0.1:7001/2"],
        no,
    );
    assert_eq!(ok.unwrap().members.len(), 2);
    // No password in the masked form.
    let c = Config::parse_quorum(
        &["redis://:secret@127.0.0.1:7001", "redis://127.0.0.1:7002"],
        no,
    )
    .unwrap();
    assert!(!c.masked_dsn.contains("secret"), "{}", c.masked_dsn);
}

#[test]
fn acquire_and_release_on_five_servers() {
    let servers = servers(5);
    let l = quorum(&servers);
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    assert_eq!(holders(&servers, "k", "v"), 5);
    assert!(!l.acquire(b"k", b"other", 5.0).unwrap(), "held by v");
    assert!(l.acquire(b"k", b"v", 5.0).unwrap(), "v's own: refreshed");
    assert!(l.is_locked(b"k").unwrap());
    let ttl = l.ttl(b"k").unwrap().unwrap();
    assert!(ttl > 4.5 && ttl <= 5.0, "{ttl}");
    assert!(!l.release(b"k", b"other").unwrap());
    assert!(l.release(b"k", b"v").unwrap());
    assert_eq!(holders(&servers, "k", "v"), 0);
    assert!(!l.is_locked(b"k").unwrap());
    assert_eq!(l.ttl(b"k").unwrap(), None);
    assert!(!l.release(b"k", b"v").unwrap());
}

#[test]
fn a_majority_is_reached_with_two_servers_down() {
    let mut servers = servers(5);
    let l = quorum(&servers);
    assert!(l.acquire(b"warm", b"v", 5.0).unwrap());
    servers[1].kill();
    servers[3].kill();
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    assert!(
        !l.acquire(b"k", b"w", 5.0).unwrap(),
        "3 of 3 answering hold it"
    );
    assert!(l.is_locked(b"k").unwrap());
    assert!(l.release(b"k", b"v").unwrap());
    assert!(!l.is_locked(b"k").unwrap());
}

#[test]
fn three_servers_down_is_an_error_naming_them_and_leaves_nothing_held() {
    let mut servers = servers(5);
    let l = quorum(&servers);
    let dead: Vec<u16> = [0, 2, 4].iter().map(|&i| servers[i].port).collect();
    for &i in &[0, 2, 4] {
        servers[i].kill();
    }
    let err = l.acquire(b"k", b"v", 5.0).unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("no majority of the quorum: 2 of 5"), "{text}");
    for port in dead {
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    }
    // Undone on the two that granted it.
    assert_eq!(get(&servers[1], "k"), None);
    assert_eq!(get(&servers[3], "k"), None);
    // Queries and leases say so too, never a silent false.
    assert!(l.is_locked(b"k").unwrap_err().is_connection());
    assert!(l.lock(b"k", Some(5.0), 0.0).is_err());
    // Back up: works again.
    servers[0].restart();
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    assert!(l.release(b"k", b"v").unwrap());
}

#[test]
fn lock_held_by_others_on_a_majority_is_false_even_with_a_server_down() {
    let mut servers = servers(5);
    let l = quorum(&servers);
    for s in &servers[..3] {
        let _: () = q(&mut s.client(), &["SET", "k", "someone", "PX", "5000"]);
    }
    servers[4].kill();
    assert!(!l.acquire(b"k", b"v", 5.0).unwrap());
    assert_eq!(get(&servers[3], "k"), None, "undone where granted");
}

#[test]
fn a_stopped_server_mid_acquire_costs_at_most_the_deadline_and_its_late_reply_is_never_read() {
    let servers = servers(5);
    let l = quorum(&servers); // readTimeout 0.5 s
    assert!(l.acquire(b"warm", b"v", 5.0).unwrap());
    servers[2].signal("STOP");
    let start = Instant::now();
    let held = l.acquire(b"k", b"v", 5.0);
    let took = start.elapsed();
    assert!(held.unwrap(), "4 of 5 answered");
    assert!(
        took >= Duration::from_millis(450),
        "{took:?}: waited for the stopped one"
    );
    assert!(took < Duration::from_millis(900), "{took:?}");
    // Still a majority while it is stopped.
    assert!(l.is_locked(b"k").unwrap());
    assert!(!l.acquire(b"k", b"w", 5.0).unwrap());
    // It missed a deadline: left out for a second, so further calls do not wait for it.
    let start = Instant::now();
    assert!(l.is_locked(b"k").unwrap());
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    servers[2].signal("CONT");
    sleep_ms(1100);
    // Back in: the stopped server ran the late SET (or not); its late replies were dropped
    // with the connection: the next answers are each command's own.
    assert!(!l.acquire(b"k", b"w", 5.0).unwrap());
    assert!(l.release(b"k", b"v").unwrap());
    assert_eq!(holders(&servers, "k", "v"), 0);
    assert!(l.acquire(b"k", b"w", 5.0).unwrap());
    assert_eq!(holders(&servers, "k", "w"), 5);
}

#[test]
fn three_stopped_servers_give_a_timeout_within_the_deadline() {
    let servers = servers(5);
    let l = quorum(&servers);
    assert!(l.acquire(b"warm", b"v", 5.0).unwrap());
    for s in &servers[..3] {
        s.signal("STOP");
    }
    let start = Instant::now();
    let err = l.acquire(b"k", b"v", 5.0).unwrap_err();
    let took = start.elapsed();
    for s in &servers[..3] {
        s.signal("CONT");
    }
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    for s in &servers[..3] {
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{}", s.port)),
            "{err}"
        );
    }
    // The acquire's deadline, then the undo's (it also waits on the stopped ones).
    assert!(took < Duration::from_millis(1300), "{took:?}");
    sleep_ms(50);
    assert_eq!(get(&servers[3], "k"), None, "undone");
    assert_eq!(get(&servers[4], "k"), None, "undone");
}

#[test]
fn a_ttl_within_the_drift_allowance_is_refused_before_any_io() {
    let servers = servers(3);
    let l = quorum(&servers);
    let err = l.acquire(b"k", b"v", 0.002).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("drift"), "{err}");
    assert!(l.lock(b"k", Some(0.002), 0.0).is_err());
    assert_eq!(holders(&servers, "k", "v"), 0);
}

#[test]
fn members_slower_than_the_validity_time_are_reported_and_the_lock_is_not_granted() {
    // A 100 ms TTL leaves 100 - 3 = 97 ms to get a majority; three members busy for 300 ms
    // (DEBUG SLEEP) cannot answer in time.
    let servers = servers(5);
    let l = quorum(&servers);
    assert!(l.acquire(b"warm", b"v", 5.0).unwrap());
    let sleepers: Vec<_> = servers[..3]
        .iter()
        .map(|s| {
            let mut c = s.client();
            std::thread::spawn(move || {
                let _: () = q(&mut c, &["DEBUG", "SLEEP", "0.3"]);
            })
        })
        .collect();
    sleep_ms(30);
    let start = Instant::now();
    let err = l.acquire(b"k", b"v", 0.1).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(took < Duration::from_millis(150 + 500), "{took:?}");
    for t in sleepers {
        t.join().unwrap();
    }
    sleep_ms(150); // past the TTL, wherever it was set
    assert_eq!(holders(&servers, "k", "v"), 0);
}

#[test]
fn queries_take_the_majority() {
    let servers = servers(5);
    let l = quorum(&servers);
    for (s, ms) in servers[..2].iter().zip(["9000", "8000"]) {
        let _: () = q(&mut s.client(), &["SET", "k", "x", "PX", ms]);
    }
    assert!(!l.is_locked(b"k").unwrap(), "2 of 5");
    assert_eq!(l.ttl(b"k").unwrap(), None);
    let _: () = q(&mut servers[2].client(), &["SET", "k", "y", "PX", "3000"]);
    assert!(l.is_locked(b"k").unwrap(), "3 of 5");
    let ttl = l.ttl(b"k").unwrap().unwrap();
    assert!(ttl > 2.5 && ttl <= 3.0, "the third largest: {ttl}");
    assert!(l.force_release(b"k").unwrap());
    assert_eq!(holders(&servers, "k", "x") + holders(&servers, "k", "y"), 0);
    assert!(!l.force_release(b"k").unwrap());
}

#[test]
fn force_release_with_a_member_down_deletes_on_the_others_and_names_it() {
    let mut servers = servers(3);
    let l = quorum(&servers);
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    let port = servers[1].port;
    servers[1].kill();
    let err = l.force_release(b"k").unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert_eq!(get(&servers[0], "k"), None);
    assert_eq!(get(&servers[2], "k"), None);
}

#[test]
fn contending_threads_never_lose_an_update() {
    // Each thread has its own quorum connections; the counter lives on member 0 and is
    // read and written in two round trips: a second holder would lose increments.
    let servers = Arc::new(servers(5));
    let threads = 4;
    let rounds = 40;
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let servers = Arc::clone(&servers);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let l = quorum(&servers);
                let mut counter = servers[0].client();
                for _ in 0..rounds {
                    let lease = l
                        .lock(b"counter-lock", Some(5.0), 10.0)
                        .unwrap()
                        .expect("within 10 s");
                    let n: i64 = q::<Option<i64>>(&mut counter, &["GET", "counter"]).unwrap_or(0);
                    std::thread::yield_now();
                    let _: () = q(&mut counter, &["SET", "counter", &(n + 1).to_string()]);
                    assert!(lease.release().unwrap());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(done.load(Ordering::Relaxed), threads * rounds);
    let n: i64 = q(&mut servers[0].client(), &["GET", "counter"]);
    assert_eq!(n, (threads * rounds) as i64);
}

#[test]
fn a_lease_extends_releases_and_reports_a_lost_majority() {
    let servers = servers(5);
    let l = quorum(&servers);
    let lease = l.lock(b"k", Some(2.0), 0.0).unwrap().expect("free");
    assert_eq!(lease.fence(), 0);
    assert!(lease.quorum().is_some());
    let token = String::from_utf8(lease.token().to_vec()).unwrap();
    assert_eq!(holders(&servers, "k", &token), 5);
    assert!(l.lock(b"k", Some(2.0), 0.0).unwrap().is_none(), "held");
    assert!(lease.extend(10_000).unwrap());
    let remaining = lease.remaining().unwrap();
    assert!(remaining > 9.5, "{remaining}");
    // Two members lose it: still a majority.
    for s in &servers[..2] {
        let _: i64 = q(&mut s.client(), &["DEL", "k"]);
    }
    assert!(lease.is_held().unwrap());
    assert!(lease.extend(10_000).unwrap());
    // A third: the majority is gone.
    let _: i64 = q(&mut servers[2].client(), &["DEL", "k"]);
    assert!(!lease.extend(10_000).unwrap());
    assert_eq!(lease.status(), Status::Lost);
    assert!(!lease.release().unwrap());

    let lease = l.lock(b"k2", Some(5.0), 0.0).unwrap().expect("free");
    let token = String::from_utf8(lease.token().to_vec()).unwrap();
    assert!(lease.release().unwrap());
    assert_eq!(holders(&servers, "k2", &token), 0);
    assert_eq!(lease.status(), Status::Released);
}

#[test]
fn a_wait_retries_until_the_holder_releases() {
    let servers = servers(5);
    let l = quorum(&servers);
    let lease = l.lock(b"k", Some(5.0), 0.0).unwrap().expect("free");
    let start = Instant::now();
    assert!(l.lock(b"k", Some(5.0), 0.3).unwrap().is_none());
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_millis(900));
    let releaser = std::thread::spawn(move || {
        sleep_ms(200);
        assert!(lease.release().unwrap());
    });
    let start = Instant::now();
    let second = l
        .lock(b"k", Some(5.0), 3.0)
        .unwrap()
        .expect("after the release");
    assert!(start.elapsed() < Duration::from_secs(1));
    releaser.join().unwrap();
    assert!(second.release().unwrap());
}

#[test]
fn shared_leases_demote_semaphores_and_multi_key_locks_are_refused_on_a_quorum() {
    let servers = servers(3);
    let l = quorum(&servers);
    let err = l.lock_shared(b"k", Some(5.0), 0.0).err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let lease = l.lock(b"k", Some(5.0), 0.0).unwrap().unwrap();
    assert_eq!(lease.demote().unwrap_err().kind(), ErrorKind::Unsupported);
    assert!(
        lease.promote(Duration::ZERO).unwrap(),
        "already exclusive: still held"
    );
    let err = l.permit(b"s", 2, Some(5.0), 0.0).err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.message().contains("semaphores"), "{}", err.message());
    let err = l.permits_held(b"s").expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let err = l
        .lock_many(&[b"m1", b"m2"], Some(5.0), 0.0)
        .err()
        .expect("refused");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.message().contains("multi-key"), "{}", err.message());
    assert!(
        l.lock_many(&[b"m1", b"m1"], Some(5.0), 0.0)
            .err()
            .expect("refused")
            .is_invalid_argument(),
        "bad arguments first"
    );
    for server in &servers {
        let keys: Vec<String> = crate::lock::testing::q(&mut server.client(), &["KEYS", "*sem*"]);
        assert!(keys.is_empty(), "nothing of a semaphore written: {keys:?}");
    }
}

#[test]
fn restore_takes_over_a_lease_held_on_a_majority() {
    let servers = servers(3);
    let l = quorum(&servers);
    let lease = l.lock(b"k", Some(5.0), 0.0).unwrap().unwrap();
    let token = lease.detach().to_vec();
    let other = quorum(&servers);
    let restored = other.restore(b"k", &token).unwrap();
    assert!(restored.grant.ttl > Duration::from_millis(4000));
    assert!(restored.release().unwrap());
    assert_eq!(
        other.restore(b"k", &token).err().unwrap().kind(),
        ErrorKind::Lost
    );
}

#[test]
fn the_watchdog_renews_on_a_majority_and_reports_a_lost_one() {
    let _turn = watchdog_turn();
    let mut servers = servers(5);
    let l = quorum_with(&servers, &[("leaseTtl", OptionValue::Float(0.3))]);
    let lease = l.lock(b"k", None, 0.0).unwrap().expect("free");
    let token = String::from_utf8(lease.token().to_vec()).unwrap();
    servers[0].kill();
    servers[1].kill();
    let until = Instant::now() + Duration::from_millis(1200); // 4 TTLs
    while Instant::now() < until {
        assert_eq!(holders(&servers[2..], "k", &token), 3);
        sleep_ms(50);
    }
    assert!(lease.is_held().unwrap());
    assert_eq!(lease.status(), Status::Held);
    // A third member loses it: with two members down, no renewal can prove it either way
    // (the failures decide), so the lease is given up as lost once a whole TTL has passed
    // without a renewal on a majority.
    let _: i64 = q(&mut servers[2].client(), &["DEL", "k"]);
    sleep_ms(150);
    assert_eq!(lease.status(), Status::Held, "not proven lost yet");
    sleep_ms(450);
    assert_eq!(lease.status(), Status::Lost);
}

#[test]
fn the_watchdog_finds_a_majority_lost_at_its_next_renewal() {
    let _turn = watchdog_turn();
    let servers = servers(5);
    let l = quorum_with(&servers, &[("leaseTtl", OptionValue::Float(0.3))]);
    let lease = l.lock(b"k", None, 0.0).unwrap().expect("free");
    sleep_ms(250);
    assert_eq!(lease.status(), Status::Held);
    for s in &servers[..3] {
        let _: i64 = q(&mut s.client(), &["DEL", "k"]);
    }
    sleep_ms(200); // one renewal period (100 ms) and margin
    assert_eq!(lease.status(), Status::Lost);
    assert!(!lease.extend(1000).unwrap());
}

#[test]
fn a_shared_registry_connection_serves_both_a_quorum_and_a_single_locker() {
    // The quorum's members use the process registry's connections (Locker::new): a single
    // locker of member 0 shares that connection, and each sees the other's locks.
    let servers = servers(3);
    let dsns: Vec<String> = servers.iter().map(RedisServer::dsn).collect();
    let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
    let l = Locker::new(Config::parse_quorum(&dsns, &[]).unwrap()).unwrap();
    let one = Locker::new(Config::parse(dsns[0], []).unwrap()).unwrap();
    assert!(l.acquire(b"shared-k", b"v", 5.0).unwrap());
    assert!(!one.acquire(b"shared-k", b"w", 5.0).unwrap());
    assert!(l.release(b"shared-k", b"v").unwrap());
    assert!(one.acquire(b"shared-k", b"w", 5.0).unwrap());
    assert!(
        l.acquire(b"shared-k", b"v", 5.0).unwrap(),
        "2 of 3 are free: a majority"
    );
    assert!(l.release(b"shared-k", b"v").unwrap());
    assert!(one.release(b"shared-k", b"w").unwrap());
}

#[test]
fn tls_members_answer_through_the_poll_path_and_a_stopped_one_is_dropped() {
    use crate::lock::testing::TlsServer;
    let tls: Vec<TlsServer> = (0..3).map(|_| TlsServer::start("server", "yes")).collect();
    let dsns: Vec<String> = tls.iter().map(|t| t.dsn("127.0.0.1")).collect();
    let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
    let options = vec![
        ("connectTimeout", OptionValue::Float(0.5)),
        ("readTimeout", OptionValue::Float(0.5)),
        (
            "ssl",
            super::tls::ssl(&[
                ("cafile", super::tls::s("ca.pem")),
                ("local_cert", super::tls::s("client.pem")),
                ("local_pk", super::tls::s("client.key")),
            ]),
        ),
    ];
    let l = Locker::unshared(Config::parse_quorum(&dsns, &options).unwrap()).unwrap();
    for i in 0..20 {
        let key = format!("t{i}");
        assert!(l.acquire(key.as_bytes(), b"v", 5.0).unwrap());
        assert!(l.is_locked(key.as_bytes()).unwrap());
        assert!(l.release(key.as_bytes(), b"v").unwrap());
    }
    tls[0].server.signal("STOP");
    let start = Instant::now();
    assert!(l.acquire(b"k", b"v", 5.0).unwrap(), "2 of 3");
    assert!(start.elapsed() < Duration::from_millis(900));
    tls[0].server.signal("CONT");
    sleep_ms(50);
    assert!(!l.acquire(b"k", b"w", 5.0).unwrap());
    assert!(l.release(b"k", b"v").unwrap());
    assert!(!l.is_locked(b"k").unwrap());
}

#[test]
fn sentinel_and_cluster_members_join_a_quorum() {
    use crate::lock::testing::{ClusterSet, SentinelSet};
    let sentinel = SentinelSet::start(1, 1);
    let cluster = ClusterSet::start(3, 0);
    let plain = RedisServer::start();
    let dsns = [sentinel.dsn(""), cluster.dsn(&[0]), plain.dsn()];
    let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
    let options = vec![
        ("connectTimeout", OptionValue::Float(2.0)),
        ("readTimeout", OptionValue::Float(1.0)),
    ];
    let l = Locker::unshared(Config::parse_quorum(&dsns, &options).unwrap()).unwrap();
    // The first call serves the Sentinel and cluster members on their cold path (discovery,
    // the slot map); later ones fan out to the known masters directly.
    for i in 0..20 {
        let key = format!("k{i}");
        assert!(l.acquire(key.as_bytes(), b"v", 5.0).unwrap(), "{key}");
        assert!(!l.acquire(key.as_bytes(), b"w", 5.0).unwrap(), "{key}");
        let lease = l
            .lock(format!("lease{i}").as_bytes(), Some(5.0), 0.0)
            .unwrap()
            .unwrap();
        assert!(lease.extend(6000).unwrap());
        assert!(lease.release().unwrap());
        assert!(l.release(key.as_bytes(), b"v").unwrap(), "{key}");
    }
    assert_eq!(get(&plain, "k3"), None);
}

#[test]
fn two_stopped_servers_are_waited_on_together_not_one_after_the_other() {
    let servers = servers(5);
    let l = quorum(&servers); // readTimeout 0.5 s
    assert!(l.acquire(b"warm", b"v", 5.0).unwrap());
    servers[1].signal("STOP");
    servers[3].signal("STOP");
    let start = Instant::now();
    let held = l.acquire(b"k", b"v", 5.0);
    let took = start.elapsed();
    servers[1].signal("CONT");
    servers[3].signal("CONT");
    assert!(held.unwrap(), "3 of 5");
    // One deadline for both: in turn they would take two read timeouts (1 s).
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(800),
        "{took:?}"
    );
}

/// A port whose listener never accepts and whose backlog is full: a connect there hangs (its
/// SYNs are dropped) until the connect timeout, as with a host that black-holes packets. The
/// returned streams and descriptor keep it so.
fn black_hole() -> (u16, libc::c_int, Vec<std::net::TcpStream>) {
    // SAFETY: plain socket calls on a descriptor this function owns; the address structure is
    // fully initialised for AF_INET.
    let (fd, port) = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd, (&raw const addr).cast(), len), 0);
        assert_eq!(libc::listen(fd, 0), 0);
        let mut bound: libc::sockaddr_in = std::mem::zeroed();
        let mut blen = len;
        libc::getsockname(fd, (&raw mut bound).cast(), &mut blen);
        (fd, u16::from_be(bound.sin_port))
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..16 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => held.push(s),
            Err(_) => return (port, fd, held), // full: connects hang now
        }
    }
    panic!("the backlog never filled");
}

#[test]
fn a_member_that_cannot_be_connected_does_not_hold_back_the_others() {
    let servers = servers(4);
    let (port, fd, _held) = black_hole();
    let options = vec![
        ("connectTimeout", OptionValue::Float(0.3)),
        ("readTimeout", OptionValue::Float(0.3)),
    ];
    // The unreachable member first, then last: members that must connect are connected
    // together, each with half the time left, so wherever it stands it costs half of it
    // (150 ms), not all of it (in turn, last, it would have had all that was left).
    for last in [false, true] {
        let mut dsns: Vec<String> = servers.iter().map(RedisServer::dsn).collect();
        let unreachable = format!("redis://127.0.0.1:{port}");
        if last {
            dsns.push(unreachable);
        } else {
            dsns.insert(0, unreachable);
        }
        let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
        let l = Locker::unshared(Config::parse_quorum(&dsns, &options).unwrap()).unwrap();
        let start = Instant::now();
        assert!(l.acquire(b"k", b"v", 5.0).unwrap(), "4 of 5");
        let first = start.elapsed();
        eprintln!(
            "unreachable member {}: first call {first:?}",
            if last { "last" } else { "first" }
        );
        assert!(
            first < Duration::from_millis(200),
            "last: {last}, {first:?}"
        );
        // It timed out: not tried again for a second, so the next calls cost no connect at all.
        for i in 0..5 {
            let start = Instant::now();
            assert!(l.release(b"k", b"v").unwrap() || i > 0);
            assert!(l.acquire(b"k", b"v", 5.0).unwrap(), "4 of 5");
            assert!(
                start.elapsed() < Duration::from_millis(50),
                "{:?}",
                start.elapsed()
            );
        }
        let err = l.is_locked(b"nothing").map(|_| ()).err();
        assert!(err.is_none(), "4 members answer: {err:?}");
        assert!(l.release(b"k", b"v").unwrap());
    }
    // SAFETY: the listener's descriptor, owned here.
    unsafe { libc::close(fd) };
}

/// `n` servers, each `rtt` away behind a proxy that holds every reply that long (keep both).
fn distant_servers(n: usize, rtt: Duration) -> (Vec<RedisServer>, Vec<Proxy>) {
    let servers = servers(n);
    let proxies = servers
        .iter()
        .map(|s| Proxy::start_delayed(s.port, rtt))
        .collect();
    (servers, proxies)
}

/// The fan-out overlaps the members' round trips: with every server 20 ms away (a proxy holds
/// each reply), an acquire+release cycle on a quorum of 5 costs about what it costs on one
/// server (two round trips), not five times that as when the members are asked one after the
/// other. The target: at most 1.3x one server's cycle.
#[test]
fn a_quorum_of_five_distant_servers_costs_the_round_trips_of_one() {
    let rtt = Duration::from_millis(20);
    let (_servers, proxies) = distant_servers(5, rtt);
    let dsns: Vec<String> = proxies.iter().map(Proxy::dsn).collect();
    let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
    let options = [
        ("connectTimeout", OptionValue::Float(1.0)),
        ("readTimeout", OptionValue::Float(1.0)),
    ];
    let quorum = Locker::unshared(Config::parse_quorum(&dsns, &options).unwrap()).unwrap();
    let single =
        Locker::unshared(crate::lock::Config::parse(dsns[0], options.iter().cloned()).unwrap())
            .unwrap();
    let cycle = |l: &Locker| {
        let t = Instant::now();
        assert!(l.acquire(b"far", b"v", 10.0).unwrap());
        assert!(l.release(b"far", b"v").unwrap());
        t.elapsed()
    };
    cycle(&single); // connections open, scripts loaded
    cycle(&quorum);
    let mut ones = Vec::new();
    let mut fives = Vec::new();
    for _ in 0..7 {
        ones.push(cycle(&single));
        fives.push(cycle(&quorum));
    }
    ones.sort();
    fives.sort();
    let (one, five) = (ones[3], fives[3]);
    eprintln!(
        "cycle with a 20 ms round trip: one server {one:?}, quorum(5) {five:?} ({:.2}x)",
        five.as_secs_f64() / one.as_secs_f64()
    );
    assert!(one >= rtt * 2, "one server: two round trips, {one:?}");
    assert!(
        five.as_secs_f64() <= one.as_secs_f64() * 1.3,
        "quorum(5) {five:?} against one server {one:?}"
    );
}

/// A member that must be connected during the fan-out (the first call of a process, or after
/// its connection was dropped) and whose connection setup needs a round trip (a database other
/// than 0: `SELECT`; a password: `AUTH`) must not hold the call past its deadline when it
/// does not answer: the handshake's read is bounded by what is left, as the replies' poll is.
#[test]
fn a_stopped_member_whose_handshake_needs_a_round_trip_does_not_overrun_the_deadline() {
    let servers = servers(3);
    let dsns: Vec<String> = servers.iter().map(|s| format!("{}/1", s.dsn())).collect();
    let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
    let options = vec![
        ("connectTimeout", OptionValue::Float(0.5)),
        ("readTimeout", OptionValue::Float(3.0)),
    ];
    let l = Locker::unshared(Config::parse_quorum(&dsns, &options).unwrap()).unwrap();
    // Stopped before the first call: the kernel still accepts its TCP connect, but nobody
    // answers the SELECT.
    servers[0].signal("STOP");
    let start = Instant::now();
    // 300 ms TTL: the acquire's deadline is 300 - 5 = 295 ms, not the 3 s readTimeout.
    let held = l.acquire(b"k", b"v", 0.3);
    let took = start.elapsed();
    servers[0].signal("CONT");
    assert!(
        took < Duration::from_millis(800),
        "{took:?}: a handshake read past the deadline ({held:?})"
    );
    assert!(held.unwrap(), "2 of 3 answered within the validity time");
}

/// A Sentinel member whose master is another member's server is one server, not two: its
/// grant must never count twice, on the first call (the Sentinel member served on its cold
/// path, then its `value already held` redo) as on later ones (refused as "the same server").
#[test]
fn a_sentinel_member_naming_another_members_server_never_counts_twice() {
    use crate::lock::testing::SentinelSet;
    let sentinel = SentinelSet::start(0, 1);
    let other = RedisServer::start();
    // The third member is held by someone else: only the shared server can grant.
    let _: () = q(
        &mut other.client(),
        &["SET", "k", "someone-else", "PX", "10000"],
    );
    let dsns = [
        sentinel.dsn(""),
        format!("redis://127.0.0.1:{}", sentinel.master_port()),
        other.dsn(),
    ];
    let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
    let options = vec![
        ("connectTimeout", OptionValue::Float(2.0)),
        ("readTimeout", OptionValue::Float(1.0)),
    ];
    let l = Locker::unshared(Config::parse_quorum(&dsns, &options).unwrap()).unwrap();
    for i in 0..3 {
        let r = l.acquire(b"k", b"v", 5.0);
        assert!(
            !matches!(r, Ok(true)),
            "call {i}: one server counted as a majority of 3: {r:?}"
        );
    }
}

/// A member with an open connection that does not answer must not take the whole deadline from
/// a member that must connect first (its connection was dropped: here after it missed a
/// deadline while stopped): the connect and the command go out at once, and the two members up
/// are a majority.
#[test]
fn a_hung_connected_member_leaves_time_for_a_member_that_must_reconnect() {
    let servers = servers(3);
    let options = [
        ("connectTimeout", OptionValue::Float(0.5)),
        ("readTimeout", OptionValue::Float(0.5)),
    ];
    let l = quorum_with(&servers, &options);
    assert!(
        l.acquire(b"warm", b"v", 10.0).unwrap(),
        "all three connected"
    );
    // Member 0 misses a deadline: its connection is dropped and it is left out for a while.
    servers[0].signal("STOP");
    assert!(
        l.acquire(b"k0", b"v", 10.0).unwrap(),
        "members 1 and 2 grant it"
    );
    servers[0].signal("CONT");
    std::thread::sleep(crate::lock::quorum::CONNECT_BACKOFF + Duration::from_millis(100));
    // Now member 1 hangs on its open connection while member 0 must be connected again.
    servers[1].signal("STOP");
    let start = Instant::now();
    let held = l.acquire(b"k1", b"v", 10.0);
    let took = start.elapsed();
    servers[1].signal("CONT");
    assert!(
        held.as_ref().is_ok_and(|h| *h),
        "members 0 and 2 are up and should grant it: {held:?}"
    );
    assert!(took < Duration::from_millis(900), "{took:?}");
}

/// The first call of a process (no connection open) connects its members concurrently: with
/// every server 20 ms away and a setup round trip on each connect (database 1: a `SELECT`
/// through the delaying proxy), a quorum of 5's first acquire costs about what one server's
/// does (connect, `SELECT`, the command), not five `SELECT`s one after the other. Each
/// measurement uses fresh lockers with connections of their own, so nothing is open.
#[test]
fn a_quorum_of_five_distant_servers_connects_its_members_together_on_the_first_call() {
    let rtt = Duration::from_millis(20);
    let (_servers, proxies) = distant_servers(5, rtt);
    let dsns: Vec<String> = proxies.iter().map(|p| format!("{}/1", p.dsn())).collect();
    let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
    let options = [
        ("connectTimeout", OptionValue::Float(1.0)),
        ("readTimeout", OptionValue::Float(1.0)),
    ];
    let quorum = || Locker::unshared(Config::parse_quorum(&dsns, &options).unwrap()).unwrap();
    let single = || {
        Locker::unshared(crate::lock::Config::parse(dsns[0], options.iter().cloned()).unwrap())
            .unwrap()
    };
    // The first acquire of a fresh locker, then its release (not timed).
    let first = |l: Locker| {
        let t = Instant::now();
        assert!(l.acquire(b"cold", b"v", 10.0).unwrap());
        let took = t.elapsed();
        assert!(l.release(b"cold", b"v").unwrap());
        took
    };
    // Scripts loaded on every server: each measurement then costs the same round trips.
    first(quorum());
    let mut ones = Vec::new();
    let mut fives = Vec::new();
    for _ in 0..5 {
        ones.push(first(single()));
        fives.push(first(quorum()));
    }
    ones.sort();
    fives.sort();
    let (one, five) = (ones[2], fives[2]);
    eprintln!(
        "first call with a 20 ms round trip and a SELECT: one server {one:?}, quorum(5) \
         {five:?} ({:.2}x)",
        five.as_secs_f64() / one.as_secs_f64()
    );
    assert!(
        one >= rtt * 2,
        "one server: SELECT, then the command: {one:?}"
    );
    assert!(
        five.as_secs_f64() <= one.as_secs_f64() * 1.5,
        "quorum(5) {five:?} against one server {one:?}"
    );
}

/// Members connecting at the same time each get time for their own round trips: 2 members
/// nearby and 3 that are 210 ms away, whose setup needs a round trip (`SELECT`), with a 1 s
/// deadline. Connect, `SELECT` and the command take about 420 ms on a distant member: the first
/// call must succeed on all 5 (with the time left divided among the 3 connecting members, each
/// had 0.33 s and the distant ones failed, then were left out).
#[test]
fn distant_members_connecting_together_each_get_time_for_their_round_trips() {
    let near = servers(2);
    let (far, proxies) = distant_servers(3, Duration::from_millis(210));
    let mut dsns: Vec<String> = near.iter().map(|s| format!("{}/1", s.dsn())).collect();
    dsns.extend(proxies.iter().map(|p| format!("{}/1", p.dsn())));
    let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
    let options = [
        ("connectTimeout", OptionValue::Float(1.0)),
        ("readTimeout", OptionValue::Float(1.0)),
    ];
    let l = Locker::unshared(Config::parse_quorum(&dsns, &options).unwrap()).unwrap();
    let start = Instant::now();
    let held = l.acquire(b"far", b"v", 10.0);
    let took = start.elapsed();
    assert!(
        held.as_ref().is_ok_and(|h| *h),
        "first call ({took:?}): {held:?}"
    );
    let granted = near
        .iter()
        .chain(&far)
        .filter(|s| {
            let mut c = s.client();
            let _: () = q(&mut c, &["SELECT", "1"]);
            q::<Option<String>>(&mut c, &["GET", "far"]).as_deref() == Some("v")
        })
        .count();
    assert_eq!(
        granted, 5,
        "every member granted it on the first call ({took:?})"
    );
}
