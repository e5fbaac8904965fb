//! Redis Cluster over TLS (`rediss+cluster://`): nodes with TLS ports that also use TLS for
//! the cluster bus, replication and `MIGRATE` (`tls-cluster`, `tls-replication`), so that
//! what they announce to TLS clients (`CLUSTER SHARDS` `tls-port`, `MOVED`) are TLS ports.
//! Every DSN here names TLS ports, which speak nothing but TLS: a lock taken went over TLS to
//! the seed and to every master it was routed to. The plain ports serve the test's own checks.

use std::time::{Duration, Instant};

use super::cluster::{get_on, key_on, migrate_slot, replicate};
use super::tls::{
    ca_entries as trusting_ca, first_error_hiding as first_error, s, tls_locker_with as locker,
};
use super::{config, unshared};
use crate::lock::error::ErrorKind;
use crate::lock::keys::slot;
use crate::lock::options::OptionValue;
use crate::lock::testing::{ClusterSet, q};

#[test]
fn every_masters_slots_take_locks_over_tls_and_after_kill_9_of_one() {
    // server.pem names localhost and 127.0.0.1: the seed is checked against "localhost", the
    // masters the seed announces against the IP address they are announced by.
    let mut set = ClusterSet::start_tls(3, 1, "server");
    let replica = set.replicas_of(0)[0];
    for seeds in [vec![0], vec![replica]] {
        let dsn = set.dsn_via("localhost", &seeds);
        assert!(dsn.starts_with("rediss+cluster://localhost:"), "{dsn}");
        let l = locker(&dsn, &trusting_ca(), &[]);
        for master in 0..3 {
            let key = key_on(&set, master, &format!("tls{}-", seeds[0]));
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
            assert!(lease.extend(20_000).unwrap());
            assert!(lease.release().unwrap());
            assert!(!l.is_locked(key.as_bytes()).unwrap());
        }
    }
    // An error reply names the master it came from by its TLS address, as announced.
    let key = key_on(&set, 2, "hash");
    let _: () = q(&mut set.nodes[2].client(), &["HSET", &key, "f", "v"]);
    let l = locker(&set.dsn(&[0]), &trusting_ca(), &[]);
    let e = l.acquire(key.as_bytes(), b"v", 5.0).unwrap_err();
    assert!(e.is_server_code("WRONGTYPE"), "{e:?}");
    let node = format!("tls://127.0.0.1:{} db 0", set.client_port(2));
    assert_eq!(e.node(), Some(node.as_str()), "{e}");
    // kill -9 of master 0 (replicated over TLS first): its replica takes over, announces its
    // TLS port, and the map learned again over TLS sends the slot's locks there.
    let l = locker(
        &set.dsn(&[1, 2]),
        &trusting_ca(),
        &[("connectTimeout", OptionValue::Float(1.0))],
    );
    let held_key = key_on(&set, 0, "held");
    let key = key_on(&set, 0, "after");
    let held = l
        .lock(held_key.as_bytes(), Some(60.0), 0.0)
        .unwrap()
        .expect("free");
    replicate(&set, 0);
    let killed = Instant::now();
    set.nodes[0].kill();
    loop {
        match l.acquire(key.as_bytes(), b"v", 30.0) {
            Ok(true) => break,
            Ok(false) => panic!("nobody else holds {key}"),
            Err(e) => {
                assert!(
                    e.is_connection() || e.is_timeout() || e.is_server(),
                    "{e:?}"
                );
                assert!(killed.elapsed() < Duration::from_secs(15), "no lock: {e}");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let new = set.await_new_master(slot(key.as_bytes()), 0);
    assert_eq!(new, replica);
    assert_eq!(get_on(&set, new, &key).as_deref(), Some("v"));
    assert!(
        l.is_locked(held_key.as_bytes()).unwrap(),
        "replicated over TLS"
    );
    assert!(held.release().unwrap());
}

#[test]
fn a_moved_slot_is_followed_over_tls() {
    let set = ClusterSet::start_tls(3, 0, "server");
    let l = locker(&set.dsn(&[0]), &trusting_ca(), &[]);
    let key = key_on(&set, 0, "m");
    let s = slot(key.as_bytes());
    let lease = l
        .lock(key.as_bytes(), Some(30.0), 0.0)
        .unwrap()
        .expect("free");
    let fence = lease.fence();
    // MIGRATE between the nodes runs over TLS too (tls-cluster).
    migrate_slot(&set, s, 0, 1);
    assert_eq!(set.master_of(s), 1);
    // The cached map still names node 0: its MOVED names node 1's TLS port, followed.
    assert!(l.is_locked(key.as_bytes()).unwrap());
    assert!(l.lock(key.as_bytes(), Some(5.0), 0.0).unwrap().is_none());
    assert!(lease.extend(30_000).unwrap());
    let pttl: i64 = q(&mut set.nodes[1].client(), &["PTTL", &key]);
    assert!(pttl > 25_000, "extended on node 1: {pttl}");
    assert!(lease.release().unwrap());
    let again = l
        .lock(key.as_bytes(), Some(5.0), 0.0)
        .unwrap()
        .expect("free");
    assert!(again.fence() > fence, "the slot's counter moved with it");
    assert_eq!(
        get_on(&set, 1, &key),
        Some(String::from_utf8_lossy(again.token()).into_owned())
    );
    assert!(again.release().unwrap());
}

#[test]
fn wrong_certificates_and_a_plain_dsn_fail_fast_naming_the_node_and_no_secret() {
    // The nodes present named.pem: DNS:redis.internal only.
    let set = ClusterSet::start_tls(3, 0, "named");
    let (a, b) = (set.client_port(0), set.client_port(1));
    let dsn = format!("rediss+cluster://:Clust3rPw@127.0.0.1:{a},127.0.0.1:{b}");
    let secrets = ["Clust3rPw"];
    let connect = [("connectTimeout", OptionValue::Float(2.0))];
    // Another CA, then the system's trust store (which does not know the test CA): refused at
    // once, not retried until the connect timeout, naming each seed.
    for (entries, trusted) in [
        (vec![("cafile", s("other-ca.pem"))], "ssl option \"cafile\""),
        (vec![], "the system's trust store"),
    ] {
        let l = locker(&dsn, &entries, &connect);
        let t = Instant::now();
        let e = first_error(&l, &secrets);
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "not retried until the connect timeout: {:?}",
            t.elapsed()
        );
        assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
        let m = e.message();
        for port in [a, b] {
            assert!(
                m.contains(&format!(
                    "127.0.0.1:{port}: cannot connect to Redis at tls://"
                )),
                "{m}"
            );
        }
        assert!(m.contains("certificate was not accepted"), "{m}");
        assert!(m.contains("unknown issuer") && m.contains(trusted), "{m}");
    }
    // The right CA, but the certificate does not name the address the node was reached by.
    let l = locker(&dsn, &trusting_ca(), &connect);
    let t = Instant::now();
    let e = first_error(&l, &secrets);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    let m = e.message();
    assert!(m.contains(&format!("127.0.0.1:{a}: ")), "{m}");
    assert!(
        m.contains("IP address mismatch: the name checked was \"127.0.0.1\""),
        "{m}"
    );
    // peer_name is the name checked on every node: the seed's and each master's.
    let mut named = trusting_ca();
    named.push(("peer_name", s("redis.internal")));
    let l = locker(&set.dsn(&[0]), &named, &[]);
    for master in 0..3 {
        let key = key_on(&set, master, "named");
        assert!(l.acquire(key.as_bytes(), b"v", 5.0).unwrap());
        assert_eq!(get_on(&set, master, &key).as_deref(), Some("v"));
        assert!(l.release(key.as_bytes(), b"v").unwrap());
    }
    // A plain DSN at the TLS ports: a connection error within the connect timeout.
    let plain = dsn.replace("rediss+cluster", "redis+cluster");
    let l = unshared(config(
        &plain,
        &[("connectTimeout", OptionValue::Float(0.5))],
    ));
    let t = Instant::now();
    let e = first_error(&l, &secrets);
    assert!(e.is_connection() || e.is_timeout(), "{e:?}");
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    for port in [a, b] {
        assert!(e.message().contains(&format!("127.0.0.1:{port}")), "{e}");
    }
}
