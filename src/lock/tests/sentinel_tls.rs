//! Redis Sentinel over TLS (`rediss+sentinel://`): servers and sentinels with TLS ports (and
//! TLS replication and sentinel links), certificates made by `scripts/make-test-certs.sh`.
//! The sentinels name the masters' TLS ports, so a master reached over plain TCP would fail:
//! every lock below went over TLS to the sentinels, the `ROLE` check and the master.

use std::time::{Duration, Instant};

use super::tls::{
    ca_entries as trusting_ca, first_error_hiding as first_error, s, tls_locker_with as locker,
};
use super::{config, get, unshared};
use crate::lock::error::ErrorKind;
use crate::lock::options::OptionValue;
use crate::lock::testing::{SentinelSet, SentinelTls, q};

/// Every server and sentinel presents `server.pem` (127.0.0.1, ::1, localhost).
const TLS: SentinelTls = SentinelTls {
    servers: "server",
    sentinels: "server",
};

#[test]
fn locks_reach_the_master_over_tls_and_follow_a_failover() {
    let mut set = SentinelSet::start_tls(2, 3, TLS);
    // The sentinels by host name (their certificates are checked against "localhost"), the
    // master by the IP address the sentinels announce (checked against "127.0.0.1").
    let dsn = set.dsn_via("localhost", "");
    let l = locker(
        &dsn,
        &trusting_ca(),
        &[("connectTimeout", OptionValue::Float(5.0))],
    );
    let before = l.lock(b"before", Some(60.0), 0.0).unwrap().expect("free");
    let old = set.master_port();
    assert_eq!(set.server(old).tls_port, Some(old), "the TLS port is named");
    assert_eq!(
        get(set.server(old), "before"),
        Some(String::from_utf8_lossy(before.token()).into_owned())
    );
    assert!(l.acquire(b"doc", b"v", 10.0).unwrap());
    assert!(l.release(b"doc", b"v").unwrap());
    assert_eq!(
        crate::lock::testing::wait_for_replicas(set.server(old), "replicated-probe", 2),
        2
    );
    let new = set.failover();
    assert_ne!(old, new);
    assert_eq!(set.server(new).tls_port, Some(new), "replicas announce TLS");
    // Once the old master is a replica it answers READONLY: the engine rediscovers (over TLS)
    // inside the call.
    set.await_role(old, "slave");
    let after = l.lock(b"after", Some(60.0), 0.0).unwrap().expect("free");
    assert!(
        get(set.server(new), "after").is_some(),
        "written on the new master"
    );
    assert!(l.is_locked(b"before").unwrap(), "replicated: still held");
    assert!(after.fence() > before.fence());
    assert!(before.release().unwrap());
    assert!(after.release().unwrap());
}

#[test]
fn a_certificate_not_accepted_is_refused_at_once_naming_the_sentinel() {
    let set = SentinelSet::start_tls(0, 1, TLS);
    let port = set.sentinel_ports[0];
    let dsn = format!(
        "rediss+sentinel://:Mast3rPw@127.0.0.1:{port}/mymaster?sentinelPassword=Sent1nelPw"
    );
    let secrets = ["Mast3rPw", "Sent1nelPw"];
    // Another CA, then the system's trust store (which does not know the test CA).
    for (entries, trusted) in [
        (vec![("cafile", s("other-ca.pem"))], "ssl option \"cafile\""),
        (vec![], "the system's trust store"),
    ] {
        let l = locker(
            &dsn,
            &entries,
            &[("connectTimeout", OptionValue::Float(2.0))],
        );
        let t = Instant::now();
        let e = first_error(&l, &secrets);
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "not retried until the connect timeout: {:?}",
            t.elapsed()
        );
        assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
        let m = e.message();
        assert!(m.contains(&format!("127.0.0.1:{port}: ")), "{m}");
        assert!(m.contains("certificate was not accepted"), "{m}");
        assert!(m.contains("unknown issuer") && m.contains(trusted), "{m}");
    }
    // A plain DSN to the TLS ports: a connection error within the connect timeout.
    let plain = dsn.replace("rediss+sentinel", "redis+sentinel");
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
}

#[test]
fn the_master_is_checked_against_the_announced_host_unless_peer_name_is_given() {
    // The sentinels present server.pem (127.0.0.1), the servers named.pem (redis.internal
    // only).
    let mut set = SentinelSet::start_tls(
        0,
        1,
        SentinelTls {
            servers: "named",
            sentinels: "server",
        },
    );
    let dsn = set.dsn("");
    let master = set.master_port();
    let e = first_error(&locker(&dsn, &trusting_ca(), &[]), &[]);
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    let m = e.message();
    assert!(
        m.contains(&format!("named 127.0.0.1:{master} as master")),
        "{m}"
    );
    assert!(
        m.contains("IP address mismatch: the name checked was \"127.0.0.1\""),
        "{m}"
    );
    // Without the name check the chain is still checked, and the lock is taken.
    let mut unnamed = trusting_ca();
    unnamed.push(("verify_peer_name", OptionValue::Bool(false)));
    let l = locker(&dsn, &unnamed, &[]);
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    assert_eq!(get(set.server(master), "k").as_deref(), Some("v"));
    // peer_name is the name checked on every connection: the sentinels' too.
    let mut named = trusting_ca();
    named.push(("peer_name", s("redis.internal")));
    let e = first_error(&locker(&dsn, &named, &[]), &[]);
    let m = e.message();
    assert!(
        m.contains(&format!("127.0.0.1:{}: ", set.sentinel_ports[0]))
            && m.contains("hostname mismatch: the name checked was \"redis.internal\""),
        "{m}"
    );
}

#[test]
fn peer_name_verifies_sentinels_and_masters_that_share_a_name() {
    let mut set = SentinelSet::start_tls(
        0,
        1,
        SentinelTls {
            servers: "named",
            sentinels: "named",
        },
    );
    let mut named = trusting_ca();
    named.push(("peer_name", s("redis.internal")));
    let l = locker(&set.dsn(""), &named, &[]);
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    let master = set.master_port();
    assert_eq!(get(set.server(master), "k").as_deref(), Some("v"));
    assert!(l.release(b"k", b"v").unwrap());
    // An error reply names the master it came from (its TLS address, as discovered).
    let _: () = q(&mut set.server(master).client(), &["HSET", "h", "f", "v"]);
    let e = l.acquire(b"h", b"v", 5.0).unwrap_err();
    assert!(e.is_server_code("WRONGTYPE"), "{e:?}");
    let node = format!("tls://127.0.0.1:{master} db 0");
    assert_eq!(e.node(), Some(node.as_str()));
    assert!(
        e.to_string().ends_with(&format!("(from Redis at {node})")),
        "{e}"
    );
}
