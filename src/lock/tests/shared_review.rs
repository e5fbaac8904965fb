//! Adversarial review of shared (read) leases: faults and interleavings the first tests did not
//! reach (lost replies of promote/demote, the watchdog during a demote, ...). Each test names the
//! interleaving it forces.

use std::time::Duration;

use super::leases::watchdog_turn;
use super::{config, get, sleep_ms};
use crate::lock::Locker;
use crate::lock::keys::LockKeys;
use crate::lock::lease::state::Status;
use crate::lock::options::OptionValue;
use crate::lock::scripts::shared::{DEMOTE_SCRIPT, PROMOTE_SCRIPT};
use crate::lock::scripts::{Keys, int_reply, ints_reply};
use crate::lock::testing::{Proxy, RedisServer, q};
use crate::lock::topology::Route;

const MARKER: &str = "!rl:shared";

fn locker_with(dsn: &str, extra: &[(&str, OptionValue)]) -> Locker {
    super::unshared(config(dsn, extra))
}

/// Live members of the readers set of `key`.
fn readers(server: &RedisServer, key: &[u8]) -> i64 {
    let keys = LockKeys::new(b"", key).unwrap();
    let readers = String::from_utf8(keys.readers).unwrap();
    let now: Vec<String> = q(&mut server.client(), &["TIME"]);
    let now_ms = now[0].parse::<i64>().unwrap() * 1000 + now[1].parse::<i64>().unwrap() / 1000;
    q(
        &mut server.client(),
        &["ZCOUNT", &readers, &format!("({now_ms}"), "+inf"],
    )
}

/// Loads every script through `l` (a lost reply to a NOSCRIPT is a command that did nothing,
/// which would hide what the tests below look at) and leaves its connection reused.
fn warm(l: &Locker) {
    let lease = l
        .lock_shared(b"warm", Some(5.0), 0.0)
        .unwrap()
        .expect("free");
    assert!(lease.promote(Duration::ZERO).unwrap());
    assert!(lease.demote().unwrap());
    assert!(lease.release().unwrap());
}

/// A demote whose reply is lost (the connection breaks after Redis ran it) is resent on a new
/// connection (`Resend::Safe`). The resend finds `L` no longer the lease's (it is a share now)
/// and answers 0, so `demote()` reports the lease lost: it is never renewed or released again,
/// and its share blocks every writer until its TTL.
#[test]
fn a_demote_whose_reply_was_lost_is_still_a_demote() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port);
    let l = locker_with(&proxy.dsn(), &[]);
    let other = locker_with(&server.dsn(), &[]);
    warm(&l);
    let lease = l.lock(b"k", Some(30.0), 0.0).unwrap().expect("free");
    proxy.lose_next_reply();
    let demoted = lease.demote();
    assert!(
        matches!(demoted, Ok(true)),
        "the demote took effect: {demoted:?}"
    );
    assert!(lease.is_shared() && lease.status() == Status::Held);
    assert_eq!(readers(&server, b"k"), 1);
    assert!(lease.release().unwrap(), "its share is released");
    assert_eq!(readers(&server, b"k"), 0);
    assert!(
        other.lock(b"k", Some(5.0), 0.0).unwrap().is_some(),
        "no share left behind to block writers for 30 s"
    );
}

/// A promote whose reply is lost is resent; the resend finds the share gone (the first promote
/// swapped it for `L`) and `L` its own, takes that for "my share expired and the lock was handed
/// to my place in line", releases `L` and reports the lease lost: the promotion that succeeded
/// is undone and the caller told it lost its read lease.
#[test]
fn a_promote_whose_reply_was_lost_is_still_a_promote() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port);
    let l = locker_with(&proxy.dsn(), &[]);
    warm(&l);
    let lease = l.lock_shared(b"k", Some(30.0), 0.0).unwrap().expect("free");
    proxy.lose_next_reply();
    let promoted = lease.promote(Duration::ZERO);
    assert!(
        matches!(promoted, Ok(true)),
        "the promote took effect: {promoted:?}"
    );
    assert!(!lease.is_shared() && lease.fence() > 0);
    assert_eq!(
        get(&server, "k").as_deref(),
        std::str::from_utf8(lease.token()).ok(),
        "the writer holds L"
    );
    assert!(lease.release().unwrap());
}

/// The watchdog reads a lease's change counter while a demote is in flight (odd), then its kind
/// (still exclusive: 3 keys). Redis runs the demote, then the renewal, which finds `L` a share's
/// marker and answers 0. If the watchdog handles that reply before `demote()` has handled its
/// own (the counter still reads the same odd value), it marks the lease lost. The test holds
/// the "in flight" state open (the demote run on Redis by another connection, the counter odd)
/// for more than a renewal period.
#[test]
fn a_renewal_during_a_demote_in_flight_is_not_a_loss() {
    let _turn = watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(&server.dsn(), &[("leaseTtl", OptionValue::Float(1.5))]);
    let lease = l.lock(b"k", None, 0.0).unwrap().expect("free");
    let keys = LockKeys::new(b"", b"k").unwrap();
    let all = keys.all();
    let claim = crate::lock::lease::CLAIM_WINDOW.as_millis().to_string();
    let status = lease.state().with_kind_change_in_flight(|| {
        // The demote's script has run on Redis; its reply is not yet handled.
        let done = l
            .client()
            .run(Route::Slot(keys.slot), |conn| {
                DEMOTE_SCRIPT.run(
                    conn,
                    Keys::List(&all),
                    &[lease.token(), &keys.wake_prefix, claim.as_bytes()],
                    int_reply,
                )
            })
            .unwrap();
        assert_eq!(done, Some(1));
        assert_eq!(get(&server, "k").as_deref(), Some(MARKER));
        sleep_ms(700); // more than a renewal period (500 ms), less than the TTL
        lease.status()
    });
    assert_eq!(status, Status::Held, "a renewal racing a demote is no loss");
}

/// The other history a resent promote must not be taken for: a promoter whose share expires
/// while it waits, and whose place at the head of the line is then handed `L` by the last reader
/// out (before its next poll). That is no promotion (its read lease lapsed; a writer could have
/// held `L` in between): the promote's next attempt answers -1 (lost) and passes `L` on. Driven
/// by the script itself, so the hand-over surely comes between two polls.
#[test]
fn a_promoter_whose_share_expired_is_lost_even_when_handed_the_lock() {
    let server = RedisServer::start();
    let (a, b, c) = (
        locker_with(&server.dsn(), &[]),
        locker_with(&server.dsn(), &[]),
        locker_with(&server.dsn(), &[]),
    );
    let r1 = a.lock_shared(b"k", Some(0.3), 0.0).unwrap().expect("free");
    let r2 = b
        .lock_shared(b"k", Some(10.0), 0.0)
        .unwrap()
        .expect("shared");
    let keys = LockKeys::new(b"", b"k").unwrap();
    let all = keys.all();
    let claim = crate::lock::lease::CLAIM_WINDOW.as_millis().to_string();
    let promote = |token: &[u8]| {
        a.client()
            .run(Route::Slot(keys.slot), |conn| {
                PROMOTE_SCRIPT.run(
                    conn,
                    Keys::List(&all),
                    &[token, b"2000", &keys.wake_prefix, claim.as_bytes()],
                    ints_reply,
                )
            })
            .unwrap()
            .unwrap()
    };
    assert_eq!(
        promote(r1.token()),
        vec![0],
        "r2 holds a share: r1 waits at the head"
    );
    sleep_ms(400); // r1's share has expired
    assert!(
        r2.release().unwrap(),
        "the last live reader out hands L to the head"
    );
    assert_eq!(
        get(&server, "k").as_deref(),
        std::str::from_utf8(r1.token()).ok(),
        "handed to r1's place in line"
    );
    assert_eq!(
        promote(r1.token()),
        vec![-1],
        "no promotion: its share lapsed"
    );
    assert!(
        c.lock(b"k", Some(5.0), 0.0).unwrap().is_some(),
        "L was passed on, not kept"
    );
}

/// `detach()` promises a token another process can `restore()`; for a share, `restore()` asks
/// only whether the token holds `L`, so the detached share can be neither taken over nor
/// released: it blocks writers until its TTL.
#[test]
fn a_detached_share_is_restored_as_a_share() {
    let server = RedisServer::start();
    let (a, b, w) = (
        locker_with(&server.dsn(), &[]),
        locker_with(&server.dsn(), &[]),
        locker_with(&server.dsn(), &[]),
    );
    let lease = a.lock_shared(b"k", Some(30.0), 0.0).unwrap().expect("free");
    let token = lease.detach().to_vec();
    drop(lease);
    let back = b.restore(b"k", &token);
    let back = back.expect("a detached share is restored");
    assert!(back.is_shared() && back.fence() == 0 && back.is_held().unwrap());
    assert!(back.remaining().unwrap() > 25.0, "its own TTL");
    assert!(
        w.lock(b"k", Some(5.0), 0.0).unwrap().is_none(),
        "still a reader"
    );
    assert!(back.release().unwrap());
    assert!(w.lock(b"k", Some(5.0), 0.0).unwrap().is_some());
}

/// As for a demote: a promote in flight (its script run on Redis, its reply not yet handled)
/// while the watchdog renews the lease as a share (the lock and the readers set only): the
/// renewal finds `L` the lease's own and answers 0, which is no loss.
#[test]
fn a_renewal_during_a_promote_in_flight_is_not_a_loss() {
    let _turn = watchdog_turn();
    let server = RedisServer::start();
    let l = locker_with(&server.dsn(), &[("leaseTtl", OptionValue::Float(1.5))]);
    let lease = l.lock_shared(b"k", None, 0.0).unwrap().expect("free");
    let keys = LockKeys::new(b"", b"k").unwrap();
    let all = keys.all();
    let claim = crate::lock::lease::CLAIM_WINDOW.as_millis().to_string();
    let status = lease.state().with_kind_change_in_flight(|| {
        let done = l
            .client()
            .run(Route::Slot(keys.slot), |conn| {
                PROMOTE_SCRIPT.run(
                    conn,
                    Keys::List(&all),
                    &[lease.token(), b"0", &keys.wake_prefix, claim.as_bytes()],
                    ints_reply,
                )
            })
            .unwrap()
            .unwrap();
        assert_eq!(done[0], 1, "promoted on Redis");
        sleep_ms(700); // more than a renewal period (500 ms), less than the TTL
        lease.status()
    });
    assert_eq!(
        status,
        Status::Held,
        "a renewal racing a promote is no loss"
    );
}

/// `memory://` refuses shared leases; its exclusive leases must refuse `demote()` the same way
/// (a clear `Unsupported`, the lease still held), not fail on a script the memory server lacks.
#[test]
fn memory_demotes_and_promotes_like_redis() {
    crate::lock::memory::reset("review-demote");
    let l = super::unshared(config("memory://review-demote", &[]));
    let lease = l.lock(b"k", Some(5.0), 0.0).unwrap().expect("free");
    assert!(lease.demote().unwrap());
    assert!(lease.is_held().unwrap() && lease.is_shared());
    let other = l
        .lock_shared(b"k", Some(5.0), 0.0)
        .unwrap()
        .expect("readers share");
    assert!(
        !lease.promote(Duration::ZERO).unwrap(),
        "another reader holds"
    );
    assert!(other.release().unwrap());
    assert!(lease.promote(Duration::ZERO).unwrap());
    assert!(lease.fence() > 0 && !lease.is_shared());
    assert!(lease.release().unwrap());
}

/// One raw attempt of waiter `token` (a reader if `shared`), queueing with a 2 s heartbeat
/// window (or not at all with `queue` false): `true` if it holds (or claimed) the lock / a share.
fn attempt(l: &Locker, keys: &LockKeys, token: &str, shared: bool, queue: bool) -> bool {
    use crate::lock::scripts::lease::LEASE_ACQUIRE_SCRIPT;
    use crate::lock::scripts::shared::SHARED_ACQUIRE_SCRIPT;
    let all = keys.all();
    let window: &[u8] = if queue { b"2000" } else { b"0" };
    let args: [&[u8]; 5] = [
        token.as_bytes(),
        b"30000",
        window,
        &keys.wake_prefix,
        &keys.gone_prefix,
    ];
    let script = if shared {
        &SHARED_ACQUIRE_SCRIPT
    } else {
        &LEASE_ACQUIRE_SCRIPT
    };
    let reply = l
        .client()
        .run(Route::Slot(keys.slot), |conn| {
            script.run(conn, Keys::List(&all), &args, ints_reply)
        })
        .unwrap()
        .unwrap();
    reply[0] == 1
}

/// Raw release of `token`'s lock or share: true if it held it.
fn release_raw(l: &Locker, keys: &LockKeys, token: &str, shared: bool) -> bool {
    use crate::lock::scripts::lease::LEASE_RELEASE_SCRIPT;
    let all = keys.all();
    let claim = crate::lock::lease::CLAIM_WINDOW.as_millis().to_string();
    let mut args: Vec<&[u8]> = vec![token.as_bytes(), &keys.wake_prefix, claim.as_bytes()];
    if shared {
        args.push(b"shared");
    }
    l.client()
        .run(Route::Slot(keys.slot), |conn| {
            LEASE_RELEASE_SCRIPT.run(conn, Keys::List(&all), &args, int_reply)
        })
        .unwrap()
        == Some(1)
}

/// Who holds `key` now: the writer's token, or the sorted live readers.
fn holders(server: &RedisServer, keys: &LockKeys) -> (Option<String>, Vec<String>) {
    let lock = String::from_utf8(keys.lock.clone()).unwrap();
    let readers = String::from_utf8(keys.readers.clone()).unwrap();
    let holder: Option<String> = q(&mut server.client(), &["GET", &lock]);
    let now: Vec<String> = q(&mut server.client(), &["TIME"]);
    let now_ms = now[0].parse::<i64>().unwrap() * 1000 + now[1].parse::<i64>().unwrap() / 1000;
    let mut live: Vec<String> = q(
        &mut server.client(),
        &["ZRANGEBYSCORE", &readers, &format!("({now_ms}"), "+inf"],
    );
    live.sort();
    (holder.filter(|h| h != MARKER), live)
}

/// FIFO across a long mixed line, step by step with the scripts themselves (no timing):
/// `w0` holds; then `r1 r2 w1 r3 r4 w2` queue in that order. Each release lets in exactly the
/// next group: the readers at the head together, up to the first writer; a writer alone; a
/// reader arriving while a writer is queued waits behind it.
#[test]
fn a_mixed_line_is_served_in_order_group_by_group() {
    let server = RedisServer::start();
    let l = locker_with(&server.dsn(), &[]);
    let keys = LockKeys::new(b"", b"k").unwrap();
    let none: Vec<String> = Vec::new();
    let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(attempt(&l, &keys, "w0", false, true));
    for (token, shared) in [
        ("r1", true),
        ("r2", true),
        ("w1", false),
        ("r3", true),
        ("r4", true),
        ("w2", false),
    ] {
        assert!(!attempt(&l, &keys, token, shared, true), "{token} queues");
    }
    assert!(release_raw(&l, &keys, "w0", false));
    assert_eq!(
        holders(&server, &keys),
        (None, v(&["r1", "r2"])),
        "r1 r2 together"
    );
    assert!(
        !attempt(&l, &keys, "r5", true, false),
        "r5 arrives after w1"
    );
    assert!(!attempt(&l, &keys, "r3", true, true), "r3 still behind w1");
    assert!(!attempt(&l, &keys, "w1", false, true), "w1 waits for r1 r2");
    assert!(attempt(&l, &keys, "r1", true, true) && attempt(&l, &keys, "r2", true, true));
    assert!(release_raw(&l, &keys, "r1", true));
    assert_eq!(holders(&server, &keys), (None, v(&["r2"])));
    assert!(release_raw(&l, &keys, "r2", true));
    assert_eq!(holders(&server, &keys), (Some("w1".into()), none.clone()));
    assert!(attempt(&l, &keys, "w1", false, true), "w1 claims");
    assert!(!attempt(&l, &keys, "r5", true, false));
    assert!(release_raw(&l, &keys, "w1", false));
    assert_eq!(
        holders(&server, &keys),
        (None, v(&["r3", "r4"])),
        "r3 r4 together"
    );
    assert!(
        !attempt(&l, &keys, "r5", true, false),
        "r5 still arrives after w2"
    );
    assert!(release_raw(&l, &keys, "r3", true) && release_raw(&l, &keys, "r4", true));
    assert_eq!(holders(&server, &keys), (Some("w2".into()), none.clone()));
    assert!(release_raw(&l, &keys, "w2", false));
    assert_eq!(holders(&server, &keys), (None, none));
    assert!(
        attempt(&l, &keys, "r5", true, false),
        "a free lock, nobody in line"
    );
}
