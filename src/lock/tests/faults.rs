//! Faults: server down, restarted, stopped, slow, killing our connection, garbage replies.
//! The engine must fail fast with the right kind of error, never hang, and recover by itself.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::{config, get, locker, sleep_ms};
use crate::lock::options::OptionValue;
use crate::lock::testing::{RedisServer, q};

#[test]
fn an_unreachable_server_fails_fast_with_a_connection_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens
    let l = super::locker_for(&format!("redis://127.0.0.1:{port}"));
    let start = Instant::now();
    let err = l.acquire(b"k", b"v", 1.0).unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert!(start.elapsed() < Duration::from_millis(600));
}

#[test]
fn after_a_restart_the_next_call_reconnects_by_itself() {
    let mut server = RedisServer::start();
    let l = locker(&server);
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    server.restart(); // data is gone (no persistence), our socket is dead
    assert!(
        l.acquire(b"k", b"v2", 5.0).unwrap(),
        "first call after restart"
    );
    assert_eq!(get(&server, "k").as_deref(), Some("v2"));
    assert!(l.release(b"k", b"v2").unwrap());
}

#[test]
fn while_the_server_is_down_calls_fail_then_recover_when_it_is_back() {
    let mut server = RedisServer::start();
    let l = locker(&server);
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    server.kill();
    let err = l.acquire(b"k", b"v", 5.0).unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    let err = l.release(b"k", b"v").unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    server.restart();
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
}

#[test]
fn a_stopped_server_gives_a_timeout_within_the_read_timeout_then_recovery() {
    let server = RedisServer::start();
    let l = locker(&server); // readTimeout 0.5 s
    assert!(l.acquire(b"warm", b"v", 5.0).unwrap());
    server.signal("STOP");
    let start = Instant::now();
    let err = l.acquire(b"k", b"v", 5.0).unwrap_err();
    let waited = start.elapsed();
    server.signal("CONT");
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.message().contains("may or may not"), "{err}");
    assert!(waited >= Duration::from_millis(450) && waited < Duration::from_millis(900));
    // The stopped server did process the SET after SIGCONT, or not; either way a retry with
    // the same value tells the truth, and the late reply is not mistaken for a new one.
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    assert!(!l.acquire(b"k", b"other", 5.0).unwrap());
    assert!(l.release(b"k", b"v").unwrap());
}

#[test]
fn a_lost_reply_never_leaves_the_lock_held_behind_a_false() {
    // DEBUG SLEEP blocks the server; our SET waits in its socket, we time out and close. When the
    // server wakes it runs the SET anyway: the lock is ours although the call failed.
    let server = RedisServer::start();
    let l = super::unshared(config(
        &server.dsn(),
        &[("readTimeout", OptionValue::Float(0.2))],
    ));
    assert!(l.acquire(b"warm", b"v", 5.0).unwrap());
    let dsn = server.dsn();
    let sleeper = std::thread::spawn(move || {
        let mut c = redis::Client::open(dsn).unwrap().get_connection().unwrap();
        let _: () = q(&mut c, &["DEBUG", "SLEEP", "0.6"]);
    });
    sleep_ms(50);
    let err = l.acquire(b"k", b"mine", 30.0).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    sleeper.join().unwrap();
    // Whatever the server did, nobody else can hold it and a retry with our value says true.
    assert!(l.acquire(b"k", b"mine", 30.0).unwrap());
    assert_eq!(get(&server, "k").as_deref(), Some("mine"));
    assert!(!locker(&server).acquire(b"k", b"intruder", 30.0).unwrap());
}

#[test]
fn a_killed_connection_is_replaced_transparently() {
    let server = RedisServer::start();
    let l = locker(&server);
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    let _: i64 = q(
        &mut server.client(),
        &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
    );
    assert!(l.release(b"k", b"v").unwrap());
}

#[test]
fn a_killed_unix_socket_connection_is_replaced_without_sigpipe() {
    // Rust programs (this test harness too) start with SIGPIPE ignored; a PHP SAPI need not.
    // Restore the default action, so a write that raised SIGPIPE would kill the process.
    // SAFETY: setting a signal disposition; socket writes in this process use MSG_NOSIGNAL.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let server = RedisServer::start();
    let l = super::locker_for(&format!("unix://{}", server.socket().display()));
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    let _: i64 = q(
        &mut server.client(),
        &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
    );
    sleep_ms(50);
    assert!(l.release(b"k", b"v").unwrap());
}

#[test]
fn an_idle_connection_closed_by_the_server_is_replaced_transparently() {
    let server = RedisServer::start();
    let _: () = q(&mut server.client(), &["CONFIG", "SET", "timeout", "1"]);
    let l = locker(&server);
    assert!(l.acquire(b"k", b"v", 10.0).unwrap());
    sleep_ms(2500); // the server closes idle clients after 1 s (checked in its cron)
    assert!(l.release(b"k", b"v").unwrap());
}

/// A fake server that answers every read with `reply`, byte by byte every `gap`.
fn fake_server(reply: &'static [u8], gap: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            for b in reply {
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(gap);
            }
            std::thread::sleep(Duration::from_secs(3));
        }
    });
    port
}

#[test]
fn garbage_from_the_server_is_a_connection_error_not_a_panic() {
    for garbage in [
        &b"HTTP/1.1 400 Bad Request\r\n"[..],
        b":notanumber\r\n",
        b"$-7\r\n",
    ] {
        let port = fake_server(garbage, Duration::ZERO);
        let l = super::locker_for(&format!("redis://127.0.0.1:{port}"));
        let err = l.acquire(b"k", b"v", 1.0).unwrap_err();
        assert!(err.is_connection(), "{err:?}");
    }
}

#[test]
fn a_trickling_server_cannot_stretch_a_call_past_the_read_timeout() {
    // One byte every 100 ms of a long bulk reply: each read succeeds, the whole must not.
    let port = fake_server(
        b"$40\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
        Duration::from_millis(100),
    );
    let l = super::locker_for(&format!("redis://127.0.0.1:{port}"));
    let start = Instant::now();
    let err = l.acquire(b"k", b"v", 1.0).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_millis(800),
        "{:?}",
        start.elapsed()
    );
}
