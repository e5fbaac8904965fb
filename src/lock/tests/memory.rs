//! `memory://` beyond the shared model: its bounds, its clock, its spaces.

use std::time::Duration;

use super::{config, unshared};
use crate::lock::memory;

#[test]
fn distinct_names_leave_only_per_slot_counters() {
    memory::reset("bounds");
    let locker = unshared(config("memory://bounds", &[]));
    for i in 0..60_000 {
        let name = format!("job:{i}");
        let lease = locker
            .lock(name.as_bytes(), Some(30.0), 0.0)
            .unwrap()
            .expect("free");
        assert!(lease.release().unwrap());
        assert!(locker.acquire(name.as_bytes(), b"v", 30.0).unwrap());
        assert!(locker.release(name.as_bytes(), b"v").unwrap());
    }
    let keys = memory::keys_in("bounds");
    assert!(keys <= 16_384, "{keys} keys left after 60,000 names");
}

#[test]
fn expired_locks_do_not_pile_up() {
    memory::reset("expiry");
    let locker = unshared(config("memory://expiry", &[]));
    for i in 0..20_000 {
        assert!(
            locker
                .acquire(format!("k{i}").as_bytes(), b"v", 0.001)
                .unwrap()
        );
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    memory::advance("expiry", Duration::from_secs(1));
    assert!(locker.acquire(b"last", b"v", 1.0).unwrap());
    let keys = memory::keys_in("expiry");
    assert!(keys <= 2 * 1024 + 2, "{keys} keys held for 1 live lock");
}

#[test]
fn fences_keep_increasing_across_an_advanced_clock_and_a_reset() {
    memory::reset("clock");
    let locker = unshared(config("memory://clock", &[]));
    let first = locker.lock(b"k", Some(10.0), 0.0).unwrap().unwrap();
    memory::advance("clock", Duration::from_secs(3600));
    assert!(
        !first.is_held().unwrap(),
        "an hour later the 10 s lease is gone"
    );
    let second = locker.lock(b"k", Some(10.0), 0.0).unwrap().unwrap();
    assert!(second.fence() > first.fence() + 3_599_000_000);
    memory::reset("clock");
    assert!(!locker.is_locked(b"k").unwrap());
    let third = locker.lock(b"k", Some(10.0), 0.0).unwrap().unwrap();
    assert!(
        third.fence() > second.fence(),
        "a reset does not set the clock back"
    );
}

#[test]
fn spaces_are_separate() {
    memory::reset("left");
    memory::reset("right");
    let left = unshared(config("memory://left", &[]));
    let right = unshared(config("memory://right", &[]));
    assert!(left.acquire(b"k", b"a", 10.0).unwrap());
    assert!(right.acquire(b"k", b"b", 10.0).unwrap());
    memory::advance("left", Duration::from_secs(11));
    assert!(!left.is_locked(b"k").unwrap());
    assert!(right.is_locked(b"k").unwrap());
}
