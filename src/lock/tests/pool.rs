//! Connection sharing, handshake (AUTH, SELECT), unix sockets.

use std::time::Duration;

use super::{config, get};
use crate::lock::net::registry as pool;
use crate::lock::options::OptionValue;
use crate::lock::testing::{RedisServer, q};
use crate::lock::topology::Route;
use crate::lock::{Config, Locker};

fn connected_clients(server: &RedisServer) -> i64 {
    let info: String = q(&mut server.client(), &["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients in INFO")
}

#[test]
fn a_thousand_lockers_with_one_dsn_share_one_connection() {
    let server = RedisServer::start();
    let lockers: Vec<Locker> = (0..1000)
        .map(|_| super::shared(config(&server.dsn(), &[])))
        .collect();
    for (i, l) in lockers.iter().enumerate() {
        let key = format!("k{i}");
        assert!(l.acquire(key.as_bytes(), b"v", 5.0).unwrap());
    }
    // Ours plus the independent client that asks.
    assert_eq!(connected_clients(&server), 2);
    assert!(
        pool::describe_all()
            .iter()
            .any(|(name, connected)| *connected && name.contains(&server.port.to_string()))
    );
}

#[test]
fn building_a_locker_does_no_io() {
    // Port 1 refuses connections: building still succeeds, the first command fails.
    let l = super::shared(config("redis://127.0.0.1:1", &[]));
    let err = l.acquire(b"k", b"v", 1.0).unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert!(err.message().contains("127.0.0.1:1"), "{err}");
}

#[test]
fn different_databases_are_different_connections_and_keys_land_in_the_right_one() {
    let server = RedisServer::start();
    let db3 = super::unshared(config(&format!("{}/3", server.dsn()), &[]));
    let db5 = super::unshared(config(
        &format!("{}/3", server.dsn()),
        &[("database", OptionValue::Int(5))],
    ));
    assert!(db3.acquire(b"k", b"three", 5.0).unwrap());
    assert!(db5.acquire(b"k", b"five", 5.0).unwrap());
    let mut c = server.client();
    let _: () = q(&mut c, &["SELECT", "3"]);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "three");
    let _: () = q(&mut c, &["SELECT", "5"]);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "five");
    assert_eq!(get(&server, "k"), None);
}

#[test]
fn unix_sockets_work() {
    let server = RedisServer::start();
    let dsn = format!("unix://{}?db=2", server.socket().display());
    let l = super::unshared(config(&dsn, &[]));
    assert!(l.acquire(b"k", b"v", 5.0).unwrap());
    let mut c = server.client();
    let _: () = q(&mut c, &["SELECT", "2"]);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    assert!(l.release(b"k", b"v").unwrap());
}

#[test]
fn password_and_acl_user_authenticate() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let with_pw = super::unshared(config(
        &format!("redis://:s3cret@127.0.0.1:{}", server.port),
        &[],
    ));
    assert!(with_pw.acquire(b"k", b"v", 5.0).unwrap());
    let _: () = q(
        &mut server.client(),
        &["ACL", "SETUSER", "locker", "on", ">p@ss/w", "~*", "+@all"],
    );
    let user = super::unshared(config(
        &format!("redis://locker:p%40ss%2Fw@127.0.0.1:{}", server.port),
        &[],
    ));
    assert!(user.acquire(b"k2", b"v", 5.0).unwrap());
}

#[test]
fn a_wrong_password_is_a_connection_error_that_does_not_show_it() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let l = super::unshared(config(
        &format!("redis://:hunter2@127.0.0.1:{}", server.port),
        &[],
    ));
    let err = l.acquire(b"k", b"v", 5.0).unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert!(err.message().contains("WRONGPASS"), "{err}");
    assert!(!err.message().contains("hunter2"), "{err}");
    let no_pw = super::unshared(config(&server.dsn(), &[]));
    let err = no_pw.acquire(b"k", b"v", 5.0).unwrap_err();
    assert!(err.is_server_code("NOAUTH"), "{err:?}");
}

#[test]
fn an_out_of_range_database_is_a_connection_error() {
    let server = RedisServer::start();
    let l = super::unshared(config(&format!("{}/99", server.dsn()), &[]));
    let err = l.acquire(b"k", b"v", 5.0).unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert!(err.message().contains("DB index is out of range"), "{err}");
}

#[test]
fn equal_servers_share_state_whatever_their_timeouts() {
    let a = super::shared(Config::parse("redis://127.0.0.1:2", []).unwrap());
    let b = super::shared(Config::parse("redis://127.0.0.1:2", []).unwrap());
    let c = super::shared(
        Config::parse(
            "redis://127.0.0.1:2",
            [("readTimeout", OptionValue::Float(0.3))],
        )
        .unwrap(),
    );
    let id = |l: &Locker| l.client().connection_id(Route::Slot(0));
    assert_eq!(id(&a), id(&b));
    assert_eq!(id(&a), id(&c));
    assert_eq!(c.client().timeouts().read, Duration::from_millis(300));
}

#[test]
fn host_names_resolve_and_ip_addresses_need_no_lookup() {
    let server = RedisServer::start();
    let by_name = super::unshared(config(&format!("redis://localhost:{}", server.port), &[]));
    assert!(by_name.acquire(b"k", b"v", 5.0).unwrap());
    let unknown = super::unshared(config("redis://no-such-host.invalid:6379", &[]));
    let err = unknown.acquire(b"k", b"v", 5.0).unwrap_err();
    assert!(err.is_connection(), "{err:?}");
}
