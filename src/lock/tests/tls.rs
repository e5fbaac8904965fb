//! TLS (`rediss://`) against real redis-servers with a TLS port, and certificates made by
//! `scripts/make-test-certs.sh`: verification on by default, client certificates, the `ssl`
//! option's checks, failures that name the entry but never a path or the passphrase, deadlines,
//! and the liveness check over TLS records.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{config, get, unshared};
use crate::lock::error::{Error, ErrorKind};
use crate::lock::net::connection::{Connection, Timeouts};
use crate::lock::net::tls;
use crate::lock::options::{Address, OptionValue, TlsOptions};
use crate::lock::testing::{TlsServer, cert, certs, q};
use crate::lock::{Config, Locker};

const PASSPHRASE: &str = "Pass phrase 1";

pub(super) fn s(text: &str) -> OptionValue {
    OptionValue::Str(text.as_bytes().to_vec())
}

/// `ssl` entries: file names of the test certificates are made full paths.
pub(super) fn ssl(entries: &[(&str, OptionValue)]) -> OptionValue {
    OptionValue::Array(
        entries
            .iter()
            .map(|(name, value)| {
                let value = match (name, value) {
                    (&("cafile" | "local_cert" | "local_pk"), OptionValue::Str(file)) => {
                        s(&cert(std::str::from_utf8(file).unwrap()))
                    }
                    _ => value.clone(),
                };
                ((*name).to_owned(), value)
            })
            .collect(),
    )
}

fn tls_config(dsn: &str, entries: &[(&str, OptionValue)]) -> Config {
    config(dsn, &[("ssl", ssl(entries))])
}

fn tls_locker(dsn: &str, entries: &[(&str, OptionValue)]) -> Locker {
    unshared(tls_config(dsn, entries))
}

/// A locker for `dsn` with the `ssl` option `entries` and the `extra` options.
pub(super) fn tls_locker_with(
    dsn: &str,
    entries: &[(&str, OptionValue)],
    extra: &[(&str, OptionValue)],
) -> Locker {
    let mut options = vec![("ssl", ssl(entries))];
    options.extend(extra.iter().cloned());
    unshared(config(dsn, &options))
}

/// The `ssl` entries that trust the test certificates' CA.
pub(super) fn ca_entries() -> Vec<(&'static str, OptionValue)> {
    vec![("cafile", s("ca.pem"))]
}

/// The CA of the test certificates and a client certificate.
fn trusted_client() -> Vec<(&'static str, OptionValue)> {
    vec![
        ("cafile", s("ca.pem")),
        ("local_cert", s("client.pem")),
        ("local_pk", s("client.key")),
    ]
}

/// A full cycle over the locker works, checked by a plain client on the same server.
fn cycle_works(l: &Locker, server: &TlsServer) {
    assert!(l.acquire(b"tls:k", b"v", 5.0).unwrap());
    assert_eq!(get(&server.server, "tls:k").as_deref(), Some("v"));
    assert!(l.release(b"tls:k", b"v").unwrap());
    assert_eq!(get(&server.server, "tls:k"), None);
}

/// The error of the first command, after checking that no secret or path is in it.
fn first_error(l: &Locker) -> Error {
    first_error_hiding(l, &[PASSPHRASE])
}

/// The error of the first command, after checking that it holds none of `secrets`, no
/// certificate path and no certificate file name.
pub(super) fn first_error_hiding(l: &Locker, secrets: &[&str]) -> Error {
    let err = l.acquire(b"tls:k", b"v", 5.0).unwrap_err();
    let text = format!("{err} {err:?}");
    for secret in secrets
        .iter()
        .copied()
        .chain([certs().to_str().unwrap(), ".pem", ".key"])
    {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
    err
}

#[test]
fn a_client_certificate_required_by_the_server_is_presented_and_verified() {
    let server = TlsServer::start("server", "yes");
    cycle_works(
        &tls_locker(&server.dsn("127.0.0.1"), &trusted_client()),
        &server,
    );
    cycle_works(
        &tls_locker(&server.dsn("localhost"), &trusted_client()),
        &server,
    );
    // The key inside local_cert, as PHP's local_cert allows.
    let combined = [
        ("cafile", s("ca.pem")),
        ("local_cert", s("client-combined.pem")),
    ];
    cycle_works(&tls_locker(&server.dsn("127.0.0.1"), &combined), &server);
}

#[test]
fn auth_and_select_run_over_tls_and_a_wrong_password_is_refused() {
    let server = TlsServer::start_with("server", "optional", &["--requirepass", "Sekrit"]);
    let ca = [("cafile", s("ca.pem"))];
    let dsn = format!("rediss://:Sekrit@127.0.0.1:{}/3", server.tls_port);
    let l = tls_locker(&dsn, &ca);
    assert!(l.acquire(b"tls:k", b"v", 5.0).unwrap());
    let mut check = server.server.client();
    let _: () = q(&mut check, &["SELECT", "3"]);
    assert_eq!(
        q::<Option<String>>(&mut check, &["GET", "tls:k"]).as_deref(),
        Some("v")
    );
    assert!(l.release(b"tls:k", b"v").unwrap());
    let wrong = format!("rediss://:Wrong@127.0.0.1:{}", server.tls_port);
    let err = tls_locker(&wrong, &ca)
        .acquire(b"tls:k", b"v", 5.0)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(!err.to_string().contains("Wrong"), "{err}");
}

#[test]
fn without_a_client_certificate_a_server_that_requires_one_refuses_at_connect() {
    let server = TlsServer::start("server", "yes");
    let l = tls_locker(&server.dsn("127.0.0.1"), &[("cafile", s("ca.pem"))]);
    let start = Instant::now();
    let err = first_error(&l);
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(err.message().contains("local_cert"), "{err}");
    assert!(start.elapsed() < Duration::from_millis(500));
    // A certificate of another CA is refused too.
    let other = [
        ("cafile", s("ca.pem")),
        ("local_cert", s("other-client.pem")),
        ("local_pk", s("other-client.key")),
    ];
    let err = first_error(&tls_locker(&server.dsn("127.0.0.1"), &other));
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
}

#[test]
fn a_client_certificate_is_optional_where_the_server_says_so() {
    let server = TlsServer::start("server", "optional");
    cycle_works(
        &tls_locker(&server.dsn("127.0.0.1"), &[("cafile", s("ca.pem"))]),
        &server,
    );
    cycle_works(
        &tls_locker(&server.dsn("127.0.0.1"), &trusted_client()),
        &server,
    );
}

#[test]
fn an_encrypted_key_needs_its_passphrase_which_never_shows() {
    let server = TlsServer::start("server", "yes");
    for key in ["client-enc.key", "client-legacy-enc.key"] {
        let mut entries = vec![
            ("cafile", s("ca.pem")),
            ("local_cert", s("client.pem")),
            ("local_pk", s(key)),
            ("passphrase", s(PASSPHRASE)),
        ];
        cycle_works(&tls_locker(&server.dsn("127.0.0.1"), &entries), &server);
        entries[3].1 = s("wrong passphrase");
        let err = first_error(&tls_locker(&server.dsn("127.0.0.1"), &entries));
        assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
        assert!(err.message().contains("\"local_pk\""), "{err}");
        assert!(err.message().contains("passphrase"), "{err}");
        assert!(!err.message().contains("wrong passphrase"), "{err}");
        entries.pop();
        let err = first_error(&tls_locker(&server.dsn("127.0.0.1"), &entries));
        assert!(err.message().contains("encrypted"), "{err}");
    }
}

#[test]
fn missing_or_unusable_files_name_the_entry_never_the_path() {
    let server = TlsServer::start("server", "optional");
    let dsn = server.dsn("127.0.0.1");
    for (entries, entry, why) in [
        (vec![("cafile", s("nope.pem"))], "cafile", "does not exist"),
        (
            vec![
                ("cafile", s("ca.pem")),
                ("local_cert", s("client.pem")),
                ("local_pk", s("missing.key")),
                ("passphrase", s(PASSPHRASE)),
            ],
            "local_pk",
            "does not exist",
        ),
        (
            vec![("cafile", s("ca.key"))],
            "cafile",
            "no PEM certificate",
        ),
        (
            vec![
                ("cafile", s("ca.pem")),
                ("local_cert", s("client.pem")),
                ("local_pk", s("server.key")),
            ],
            "local_pk",
            "does not match",
        ),
    ] {
        let start = Instant::now();
        let err = first_error(&tls_locker(&dsn, &entries));
        assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
        assert!(err.message().contains(&format!("\"{entry}\"")), "{err}");
        assert!(err.message().contains(why), "{err}");
        assert!(start.elapsed() < Duration::from_millis(300));
    }
}

#[test]
fn the_server_certificate_is_verified_by_default() {
    let server = TlsServer::start("server", "optional");
    // The system's trust store does not know the test CA.
    let err = first_error(&unshared(config(&server.dsn("127.0.0.1"), &[])));
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(err.message().contains("not accepted"), "{err}");
    assert!(err.message().contains("trust store"), "{err}");
    // Another CA.
    let err = first_error(&tls_locker(
        &server.dsn("127.0.0.1"),
        &[("cafile", s("other-ca.pem"))],
    ));
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(err.message().contains("not accepted"), "{err}");
    assert!(err.message().contains("\"cafile\""), "{err}");
    // verify_peer => false accepts it (the name still matches).
    let off = [("verify_peer", OptionValue::Bool(false))];
    cycle_works(&tls_locker(&server.dsn("127.0.0.1"), &off), &server);
}

#[test]
fn an_expired_certificate_is_refused_unless_verification_is_off() {
    let server = TlsServer::start("expired", "optional");
    let err = first_error(&tls_locker(
        &server.dsn("127.0.0.1"),
        &[("cafile", s("ca.pem"))],
    ));
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(err.message().contains("expired"), "{err}");
    let off = [("verify_peer", OptionValue::Bool(false))];
    cycle_works(&tls_locker(&server.dsn("127.0.0.1"), &off), &server);
}

#[test]
fn the_name_is_checked_and_peer_name_overrides_it() {
    let server = TlsServer::start("named", "optional"); // SAN DNS:redis.internal only
    let dsn = server.dsn("127.0.0.1");
    let ca = ("cafile", s("ca.pem"));
    let err = first_error(&tls_locker(&dsn, std::slice::from_ref(&ca)));
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(err.message().contains("IP address mismatch"), "{err}");
    assert!(err.message().contains("\"127.0.0.1\""), "{err}");
    let err = first_error(&tls_locker(
        &server.dsn("localhost"),
        std::slice::from_ref(&ca),
    ));
    assert!(err.message().contains("hostname mismatch"), "{err}");
    // peer_name: the name the certificate carries.
    cycle_works(
        &tls_locker(&dsn, &[ca.clone(), ("peer_name", s("redis.internal"))]),
        &server,
    );
    let err = first_error(&tls_locker(
        &dsn,
        &[ca.clone(), ("peer_name", s("other.internal"))],
    ));
    assert!(err.message().contains("\"other.internal\""), "{err}");
    // verify_peer_name => false: any name of a trusted chain.
    cycle_works(
        &tls_locker(
            &dsn,
            &[ca.clone(), ("verify_peer_name", OptionValue::Bool(false))],
        ),
        &server,
    );
    // As in PHP, verify_peer => false alone still checks the name...
    let err = first_error(&tls_locker(
        &dsn,
        &[("verify_peer", OptionValue::Bool(false))],
    ));
    assert!(err.message().contains("mismatch"), "{err}");
    // ... on an untrusted chain too, and accepts the right one.
    let unverified = [
        ("verify_peer", OptionValue::Bool(false)),
        ("peer_name", s("redis.internal")),
    ];
    cycle_works(&tls_locker(&dsn, &unverified), &server);
    let none = [
        ("verify_peer", OptionValue::Bool(false)),
        ("verify_peer_name", OptionValue::Bool(false)),
    ];
    cycle_works(&tls_locker(&dsn, &none), &server);
}

#[test]
fn tls_to_a_plain_port_and_plain_to_a_tls_port_fail_within_the_connect_timeout() {
    let server = TlsServer::start("server", "optional");
    let options = [
        ("connectTimeout", OptionValue::Float(0.3)),
        ("readTimeout", OptionValue::Float(0.3)),
        ("ssl", ssl(&[("cafile", s("ca.pem"))])),
    ];
    let tls_to_plain = unshared(config(
        &format!("rediss://127.0.0.1:{}", server.server.port),
        &options,
    ));
    let plain_to_tls = unshared(config(
        &format!("redis://127.0.0.1:{}", server.tls_port),
        &options[..2],
    ));
    for l in [tls_to_plain, plain_to_tls] {
        let start = Instant::now();
        let err = first_error(&l);
        assert!(err.is_connection(), "{err:?}");
        assert!(
            start.elapsed() < Duration::from_millis(800),
            "{:?}",
            start.elapsed()
        );
    }
}

#[test]
fn a_stopped_server_cannot_stall_the_handshake_past_the_connect_timeout() {
    let server = TlsServer::start("server", "optional");
    let options = [
        ("connectTimeout", OptionValue::Float(0.3)),
        ("ssl", ssl(&[("cafile", s("ca.pem"))])),
    ];
    let l = unshared(config(&server.dsn("127.0.0.1"), &options));
    server.server.signal("STOP");
    let start = Instant::now();
    let err = l.acquire(b"tls:k", b"v", 5.0).unwrap_err();
    server.server.signal("CONT");
    assert!(err.is_connection(), "{err:?}");
    assert!(err.message().contains("TLS handshake"), "{err}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_millis(600),
        "{took:?}"
    );
    cycle_works(&l, &server);
}

#[test]
fn reads_over_tls_honour_the_read_timeout() {
    let server = TlsServer::start("server", "optional");
    let l = tls_locker(&server.dsn("127.0.0.1"), &[("cafile", s("ca.pem"))]); // readTimeout 0.5
    assert!(l.acquire(b"tls:warm", b"v", 5.0).unwrap());
    let sleeper = std::thread::spawn({
        let mut c = server.server.client();
        move || q::<String>(&mut c, &["DEBUG", "SLEEP", "1"])
    });
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    let err = l.acquire(b"tls:k", b"v", 5.0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(800),
        "{took:?}"
    );
    sleeper.join().unwrap();
    cycle_works(&l, &server);
}

#[test]
fn a_connection_the_server_closed_is_replaced_before_the_command_is_sent() {
    let server = TlsServer::start("server", "optional");
    let l = tls_locker(&server.dsn("127.0.0.1"), &[("cafile", s("ca.pem"))]);
    for round in 0..3 {
        assert!(l.acquire(b"tls:k", b"v", 5.0).unwrap(), "round {round}");
        let killed: i64 = q(
            &mut server.server.client(),
            &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
        );
        assert!(killed >= 1);
        std::thread::sleep(Duration::from_millis(50));
        // A release never resent: it would throw "outcome unknown" if it had been sent on the
        // dead session first.
        assert!(l.release(b"tls:k", b"v").unwrap(), "round {round}");
    }
}

fn open(server: &TlsServer, tls: TlsOptions) -> Connection {
    let mut endpoint = crate::lock::options::parse_dsn(&server.dsn("127.0.0.1")).unwrap();
    let Address::Tls { tls: options, .. } = &mut endpoint.address else {
        unreachable!()
    };
    *options = std::sync::Arc::new(tls);
    let timeouts = Timeouts {
        connect: Duration::from_millis(500),
        read: Duration::from_millis(500),
    };
    Connection::open(&endpoint, timeouts).expect("TLS connection opens")
}

fn trusting_ca() -> TlsOptions {
    TlsOptions {
        cafile: Some(cert("ca.pem").into()),
        ..TlsOptions::default()
    }
}

#[test]
fn the_liveness_check_reads_tls_records_not_bytes() {
    let server = TlsServer::start("server", "optional");
    // Fresh and idle: reusable, again and again (session tickets were consumed, not mistaken
    // for a reply).
    let mut conn = open(&server, trusting_ca());
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(20));
        assert!(conn.is_reusable());
    }
    // A reply nobody read: application data waiting.
    crate::lock::protocol::resp::command(conn.command_buffer(), &[b"PING"]);
    conn.send().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(!conn.is_reusable());
    // Closed by the server.
    let conn2 = &mut open(&server, trusting_ca());
    assert!(conn2.is_reusable());
    let _: i64 = q(
        &mut server.server.client(),
        &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(!conn2.is_reusable());
}

#[test]
fn session_tickets_after_the_handshake_are_consumed_by_the_liveness_check() {
    let server = TlsServer::start("server", "optional");
    let tcp = TcpStream::connect(("127.0.0.1", server.tls_port)).unwrap();
    let peek = tcp.try_clone().unwrap();
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut stream = tls::connect(tcp, "127.0.0.1", &trusting_ca(), deadline).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // TLS 1.3 servers send tickets after the handshake: bytes are waiting, none is a reply.
    peek.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    assert!(
        peek.peek(&mut byte).is_ok_and(|n| n == 1),
        "tickets expected"
    );
    assert!(stream.is_reusable());
    assert!(
        (&peek).read(&mut byte).is_err(),
        "the liveness check consumed the tickets"
    );
    assert!(stream.is_reusable());
}
