//! Replica acknowledgement (`replicas` / `replicaTimeout`): a master with real replicas on
//! loopback, one of them stopped with SIGSTOP so that it never acknowledges.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::leases::watchdog_turn;
use super::{config, get, pttl, sleep_ms, unshared};
use crate::lock::Locker;
use crate::lock::error::ErrorKind;
use crate::lock::lease::state::Status;
use crate::lock::options::OptionValue;
use crate::lock::testing::{RedisServer, q};

/// A master and its replicas, in sync.
struct Replicated {
    master: RedisServer,
    replicas: Vec<RedisServer>,
}

impl Replicated {
    fn start(replicas: usize) -> Replicated {
        let master = RedisServer::start_with(&["--repl-diskless-sync-delay", "0"]);
        let port = master.port.to_string();
        let replicas = (0..replicas)
            .map(|_| {
                RedisServer::start_with(&[
                    "--replicaof",
                    "127.0.0.1",
                    &port,
                    "--repl-diskless-sync-delay",
                    "0",
                ])
            })
            .collect::<Vec<_>>();
        let set = Replicated { master, replicas };
        // Ready when a write made after every replica is online is acknowledged. (A write
        // made before counts for nothing: without replicas the master's offset does not
        // move. And for about a second after a sync Redis 7.0 does not count a replica that
        // is online: it streams to it from its first periodic ACK.)
        let wanted = set.replicas.len();
        let mut client = set.master.client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info: String = q(&mut client, &["INFO", "replication"]);
            let online = info.matches("state=online").count();
            if online == wanted {
                q::<i64>(&mut client, &["INCR", "ready"]);
                if q::<usize>(&mut client, &["WAIT", &wanted.to_string(), "100"]) == wanted {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the replicas did not sync");
            sleep_ms(50);
        }
        set
    }

    /// A locker on the master with `replicas` and the given extra options.
    fn locker(&self, replicas: i64, extra: &[(&str, OptionValue)]) -> Locker {
        let mut options = vec![("replicas", OptionValue::Int(replicas))];
        options.extend(extra.iter().cloned());
        unshared(config(&self.master.dsn(), &options))
    }
}

/// A server stopped with SIGSTOP until this guard is dropped (also when a test fails), so no
/// test leaves a stopped process behind.
struct Stopped(u32);

impl Stopped {
    fn new(server: &RedisServer) -> Stopped {
        server.signal("STOP");
        Stopped(server.pid())
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // Never panics (it may run while a failed test unwinds).
        let _ = Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// How many times the master ran `WAIT` since its stats were reset.
fn waits(server: &RedisServer) -> u64 {
    let info: String = q(&mut server.client(), &["INFO", "commandstats"]);
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_wait:calls="))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

fn text(token: &[u8]) -> String {
    String::from_utf8_lossy(token).into_owned()
}

#[test]
fn a_lock_its_replica_acknowledged_is_granted_and_on_the_replica_already() {
    let set = Replicated::start(1);
    let l = set.locker(1, &[]);
    assert!(l.acquire(b"doc", b"v1", 10.0).unwrap());
    // WAIT returned: the replica has it at once, nobody polled for it.
    assert_eq!(get(&set.replicas[0], "doc").as_deref(), Some("v1"));
    assert!(
        l.acquire(b"doc", b"v1", 10.0).unwrap(),
        "the holder's retry"
    );
    assert!(!l.acquire(b"doc", b"v2", 10.0).unwrap(), "busy stays false");
    assert!(l.release(b"doc", b"v1").unwrap());

    let lease = l.lock(b"lease", Some(10.0), 0.0).unwrap().expect("free");
    assert_eq!(
        get(&set.replicas[0], "lease"),
        Some(text(lease.token())),
        "the lease is on the replica"
    );
    assert!(!lease.is_at_risk());
    assert!(lease.extend(20_000).unwrap());
    assert!(!lease.is_at_risk());
    assert!(
        pttl(&set.replicas[0], "lease") > 10_000,
        "the extension too"
    );
    assert!(lease.release().unwrap());
}

#[test]
fn a_lock_a_stopped_replica_never_acknowledged_is_released_and_refused() {
    let set = Replicated::start(1);
    let plain = set.locker(0, &[]);
    let before = plain.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let fence_before = before.fence();
    assert!(before.release().unwrap());

    let l = set.locker(1, &[]);
    let _stopped = Stopped::new(&set.replicas[0]);
    let started = Instant::now();
    let err = l.acquire(b"doc", b"v1", 10.0).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Replication, "{err}");
    assert_eq!(
        err.to_string(),
        "acquire: 0 of 1 replica acknowledged the lock \"doc\" within replicaTimeout 0.1 s \
         (WAIT): it was released, as a failover could have lost it"
    );
    assert!(took >= Duration::from_millis(100), "WAIT waited: {took:?}");
    assert!(
        took < Duration::from_millis(500),
        "within readTimeout: {took:?}"
    );
    assert_eq!(get(&set.master, "doc"), None, "released on the master");
    assert!(
        plain.acquire(b"doc", b"other", 10.0).unwrap(),
        "free for others"
    );

    let err = l.lock(b"k", Some(10.0), 0.0).err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::Replication, "{err}");
    assert!(err.to_string().starts_with("lock: 0 of 1 replica"), "{err}");
    assert_eq!(get(&set.master, "k"), None, "released on the master");
    let after = plain.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    assert!(after.fence() > fence_before, "fences still increase");

    // retryAcquire stops at the first refusal (the lock was granted, then given back).
    let started = Instant::now();
    let err = l.retry_acquire(b"retry", b"v", 10.0, 3, 1.0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Replication);
    assert!(started.elapsed() < Duration::from_millis(900), "no retry");
    assert_eq!(get(&set.master, "retry"), None);
}

/// The master's replication offset, and the offset its first replica last acknowledged.
fn offsets(master: &RedisServer) -> (u64, u64) {
    let info: String = q(&mut master.client(), &["INFO", "replication"]);
    let field = |line: &str, name: &str| -> Option<u64> {
        line.split([',', ':'])
            .find_map(|kv| kv.strip_prefix(name)?.parse().ok())
    };
    let master_offset = info
        .lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:")?.trim().parse().ok())
        .expect("master_repl_offset");
    let acked = info
        .lines()
        .find(|l| l.starts_with("slave0:"))
        .and_then(|l| field(l, "offset="))
        .expect("slave0 offset");
    (master_offset, acked)
}

#[test]
fn the_same_writes_without_replicas_are_granted_before_the_replica_has_them() {
    // The contrast: with replicas 0 the master's word is taken while the replica (stopped) has
    // not acknowledged the write: a failover to it now would lose the locks.
    let set = Replicated::start(1);
    let plain = set.locker(0, &[]);
    let stopped = Stopped::new(&set.replicas[0]);
    assert!(plain.acquire(b"doc", b"v1", 10.0).unwrap());
    let lease = plain.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let (written, acknowledged) = offsets(&set.master);
    assert!(
        acknowledged < written,
        "the replica has not acknowledged the locks: {acknowledged} < {written}"
    );
    drop(stopped);
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&set.replicas[0], "doc").is_none() {
        assert!(Instant::now() < deadline, "the replica caught up");
        sleep_ms(10);
    }
    assert!(lease.release().unwrap());
}

#[test]
fn two_replicas_asked_of_a_master_with_one_is_refused() {
    let set = Replicated::start(1);
    let l = set.locker(2, &[]);
    let err = l.acquire(b"doc", b"v1", 10.0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Replication);
    assert!(
        err.message()
            .starts_with("1 of 2 replicas acknowledged the lock \"doc\""),
        "{err}"
    );
    assert_eq!(get(&set.master, "doc"), None);
    let err = l.lock(b"k", None, 0.0).err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::Replication);
    assert_eq!(get(&set.master, "k"), None);
    // With both replicas there, both acknowledge.
    let two = Replicated::start(2);
    let l = two.locker(2, &[]);
    assert!(l.acquire(b"doc", b"v1", 10.0).unwrap());
    for replica in &two.replicas {
        assert_eq!(get(replica, "doc").as_deref(), Some("v1"));
    }
}

#[test]
fn an_under_acknowledged_extension_keeps_the_lease_but_marks_it_at_risk() {
    let set = Replicated::start(1);
    let l = set.locker(1, &[]);
    let lease = l.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    {
        let _stopped = Stopped::new(&set.replicas[0]);
        let err = lease.extend(30_000).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Replication);
        assert!(
            err.to_string().starts_with(
                "extend: 0 of 1 replica acknowledged the lock \"k\" within replicaTimeout 0.1 s"
            ),
            "{err}"
        );
        assert!(err.message().contains("still held"), "{err}");
        assert!(lease.is_at_risk());
        assert_eq!(lease.status(), Status::Held);
        assert!(pttl(&set.master, "k") > 20_000, "extended on the master");
        assert!(lease.is_held().unwrap());
    }
    // Once the replica is back, the next extension is acknowledged and clears the flag.
    assert!(lease.extend(30_000).unwrap());
    assert!(!lease.is_at_risk());
    assert!(lease.release().unwrap());
}

#[test]
fn an_under_acknowledged_watchdog_renewal_marks_the_lease_at_risk_and_keeps_renewing() {
    let _turn = watchdog_turn();
    let set = Replicated::start(1);
    // Renewed every 0.3 s; WAIT 0.1 s each time.
    let l = set.locker(1, &[("leaseTtl", OptionValue::Float(0.9))]);
    let lease = l.lock(b"wd", None, 0.0).unwrap().expect("free");
    sleep_ms(700);
    assert!(!lease.is_at_risk(), "renewals acknowledged");
    {
        let _stopped = Stopped::new(&set.replicas[0]);
        let deadline = Instant::now() + Duration::from_secs(3);
        while !lease.is_at_risk() {
            assert!(
                Instant::now() < deadline,
                "a renewal found the replica silent"
            );
            sleep_ms(20);
        }
        // Past two lease TTLs with the replica silent: still held, so still renewed.
        sleep_ms(1800);
        assert_eq!(lease.status(), Status::Held);
        assert_eq!(get(&set.master, "wd"), Some(text(lease.token())));
        assert!(lease.is_at_risk());
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while lease.is_at_risk() {
        assert!(
            Instant::now() < deadline,
            "a renewal was acknowledged again"
        );
        sleep_ms(20);
    }
    assert!(lease.release().unwrap());
}

#[test]
fn a_wait_that_ends_in_a_hand_over_is_acknowledged_or_given_back() {
    let set = Replicated::start(1);
    let plain = set.locker(0, &[]);
    let waiter = Arc::new(set.locker(1, &[]));

    // Acknowledged: the waiter's claim is on the replica when lock() returns.
    let holder = plain.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    let w = Arc::clone(&waiter);
    let thread = std::thread::spawn(move || {
        w.lock(b"k", Some(10.0), 5.0)
            .map(|lease| lease.map(|l| (text(l.token()), l.detach().to_vec())))
    });
    sleep_ms(200);
    assert!(holder.release().unwrap());
    let (token, _) = thread.join().unwrap().unwrap().expect("handed over");
    assert_eq!(get(&set.replicas[0], "k"), Some(token));
    q::<i64>(&mut set.master.client(), &["DEL", "k"]);

    // Not acknowledged: the hand-over is claimed, then given back; the lock is free.
    let holder = plain.lock(b"k2", Some(10.0), 0.0).unwrap().expect("free");
    let w = Arc::clone(&waiter);
    let thread = std::thread::spawn(move || w.lock(b"k2", Some(10.0), 5.0).map(|l| l.is_some()));
    sleep_ms(200);
    let stopped = Stopped::new(&set.replicas[0]);
    assert!(holder.release().unwrap());
    let err = thread.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Replication, "{err}");
    assert_eq!(get(&set.master, "k2"), None, "given back");
    drop(stopped);
    assert!(plain.lock(b"k2", Some(1.0), 0.0).unwrap().is_some());
}

#[test]
fn after_noscript_the_script_and_its_wait_are_sent_again() {
    let set = Replicated::start(1);
    let l = set.locker(1, &[]);
    assert!(l.acquire(b"doc", b"v1", 10.0).unwrap());
    q::<String>(&mut set.master.client(), &["SCRIPT", "FLUSH"]);
    // The holder's second acquire runs the refresh script: EVALSHA, NOSCRIPT, EVAL + WAIT.
    assert!(l.acquire(b"doc", b"v1", 20.0).unwrap());
    assert!(
        pttl(&set.replicas[0], "doc") > 10_000,
        "the refresh reached the replica"
    );
    q::<String>(&mut set.master.client(), &["SCRIPT", "FLUSH"]);
    let lease = l.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    assert_eq!(get(&set.replicas[0], "k"), Some(text(lease.token())));

    let _stopped = Stopped::new(&set.replicas[0]);
    q::<String>(&mut set.master.client(), &["SCRIPT", "FLUSH"]);
    let err = l.lock(b"k3", Some(10.0), 0.0).err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::Replication, "{err}");
    assert_eq!(get(&set.master, "k3"), None);
    q::<String>(&mut set.master.client(), &["SCRIPT", "FLUSH"]);
    let err = l.acquire(b"doc", b"v1", 10.0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Replication, "{err}");
    assert_eq!(
        get(&set.master, "doc"),
        None,
        "the holder's refresh given back too"
    );
}

#[test]
fn lock_writes_carry_one_wait_each_and_releases_none() {
    let set = Replicated::start(1);
    let l = set.locker(1, &[]);
    // Load the scripts first: on a fresh server each answers NOSCRIPT once, and is sent
    // again by EVAL with a WAIT of its own.
    let lease = l.lock(b"warm", Some(10.0), 0.0).unwrap().expect("free");
    assert!(lease.extend(10_000).unwrap());
    assert!(lease.release().unwrap());
    assert!(l.acquire(b"warm", b"v", 10.0).unwrap());
    assert!(
        l.acquire(b"warm", b"v", 10.0).unwrap(),
        "the refresh script"
    );
    assert!(l.release(b"warm", b"v").unwrap());
    q::<String>(&mut set.master.client(), &["CONFIG", "RESETSTAT"]);
    assert!(l.acquire(b"doc", b"v1", 10.0).unwrap());
    assert!(l.release(b"doc", b"v1").unwrap());
    let lease = l.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    assert!(lease.extend(10_000).unwrap());
    assert!(lease.release().unwrap());
    assert!(l.is_locked(b"k").is_ok_and(|held| !held));
    // A busy acquire carries its WAIT too (it is in the same write), and ignores it.
    assert!(l.acquire(b"k", b"v", 10.0).unwrap());
    assert!(!l.acquire(b"k", b"w", 10.0).unwrap());
    assert!(l.release(b"k", b"v").unwrap());
    assert_eq!(
        waits(&set.master),
        5,
        "acquire, lock, extend, acquire, busy acquire: one WAIT each; releases none"
    );

    let plain = set.locker(0, &[]);
    q::<String>(&mut set.master.client(), &["CONFIG", "RESETSTAT"]);
    assert!(plain.acquire(b"doc", b"v1", 10.0).unwrap());
    assert!(plain.release(b"doc", b"v1").unwrap());
    let lease = plain.lock(b"k", Some(10.0), 0.0).unwrap().expect("free");
    assert!(lease.extend(10_000).unwrap());
    assert!(lease.release().unwrap());
    assert_eq!(waits(&set.master), 0, "replicas 0 sends no WAIT");
}
