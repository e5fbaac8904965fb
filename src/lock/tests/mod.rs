//! Scenario tests of the engine against real redis-server processes.

mod cluster;
mod cluster_tls;
mod faults;
mod leases;
mod locker;
mod many;
mod memory;
mod model;
mod pool;
mod quorum;
mod quorum_model;
mod replicas;
mod scripts;
mod semaphore;
mod sentinel;
mod sentinel_tls;
mod shared;
mod shared_review;
mod tls;
mod trust;

use std::time::Duration;

use super::{Config, Locker};
use crate::lock::options::OptionValue;
use crate::lock::testing::RedisServer;

/// A locker with its own connection to `server`, with short timeouts.
fn locker(server: &RedisServer) -> Locker {
    locker_for(&server.dsn())
}

fn locker_for(dsn: &str) -> Locker {
    unshared(config(dsn, &[]))
}

/// A locker with a connection of its own.
fn unshared(config: Config) -> Locker {
    Locker::unshared(config).expect("valid prefix")
}

/// A locker on the process's shared connection to its server.
fn shared(config: Config) -> Locker {
    Locker::new(config).expect("valid prefix")
}

fn config(dsn: &str, extra: &[(&str, OptionValue)]) -> Config {
    let mut options = vec![
        ("connectTimeout", OptionValue::Float(0.5)),
        ("readTimeout", OptionValue::Float(0.5)),
    ];
    options.extend(extra.iter().cloned());
    Config::parse(dsn, options).expect("valid config")
}

/// Remaining TTL of `key` in ms, by an independent client.
fn pttl(server: &RedisServer, key: &str) -> i64 {
    crate::lock::testing::q(&mut server.client(), &["PTTL", key])
}

fn get(server: &RedisServer, key: &str) -> Option<String> {
    crate::lock::testing::q(&mut server.client(), &["GET", key])
}

/// Takes `key` (TTL 60 s) with `l` once a failover lets it, retrying errors for up to 20 s.
/// Panics if the lock is still held: it survived the failover (it was replicated after all).
fn retake_after_failover(l: &Locker, key: &[u8]) -> crate::lock::lease::Lease {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match l.lock(key, Some(60.0), 0.0) {
            Ok(Some(lease)) => return lease,
            Ok(None) => panic!("the new master has the lock: it was replicated after all"),
            Err(e) => assert!(
                std::time::Instant::now() < deadline,
                "no lock after the failover: {e:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
