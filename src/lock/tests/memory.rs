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

/// A reply, as both backends can be compared: errors by their code only (the wording differs).
#[derive(Debug, PartialEq)]
enum Seen {
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Ok,
    Array(Vec<Seen>),
    Error(String),
}

fn seen_memory(answer: memory::Answer) -> Seen {
    use memory::Answer;
    match answer {
        Answer::Int(n) => Seen::Int(n),
        Answer::Bulk(b) => Seen::Bulk(b),
        Answer::Nil | Answer::NilArray => Seen::Nil,
        Answer::Ok | Answer::Pong => Seen::Ok,
        Answer::Pair(a, b) => Seen::Array(vec![Seen::Bulk(a), Seen::Bulk(b)]),
        Answer::Array(items) => Seen::Array(items.into_iter().map(seen_memory).collect()),
        Answer::Error(e) => Seen::Error(e.split(' ').next().unwrap_or("").to_owned()),
    }
}

fn seen_redis(reply: redis::RedisResult<redis::Value>) -> Seen {
    use redis::Value;
    fn value(v: Value) -> Seen {
        match v {
            Value::Int(n) => Seen::Int(n),
            Value::BulkString(b) => Seen::Bulk(b),
            Value::Nil => Seen::Nil,
            Value::Okay | Value::SimpleString(_) => Seen::Ok,
            Value::Array(items) => Seen::Array(items.into_iter().map(value).collect()),
            Value::ServerError(e) => Seen::Error(e.code().to_owned()),
            other => panic!("unexpected reply {other:?}"),
        }
    }
    match reply {
        Ok(v) => value(v),
        Err(e) => Seen::Error(e.code().unwrap_or("?").to_owned()),
    }
}

/// The plain commands the engine's scripts call through `redis.call` (`memory://` runs the
/// scripts themselves, so it must answer these as Redis does): random sequences of them on a
/// few keys, run by a real redis-server and by a memory store, answer alike step by step.
#[test]
fn the_commands_scripts_call_answer_as_redis_does() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};
    let server = crate::lock::testing::RedisServer::start();
    let conn = std::cell::RefCell::new(server.client());
    let keys = ["a", "b"];
    let members = ["m1", "m2", "m3", "r9:x"];
    let scores = ["1", "2", "2", "3", "-inf", "+inf", "(2", "(1", "1e3", "x"];
    let key = proptest::sample::select(keys.to_vec());
    let member = proptest::sample::select(members.to_vec());
    let score = proptest::sample::select(scores.to_vec());
    let rank = -4i64..4;
    let command = prop_oneof![
        (key.clone(), member.clone()).prop_map(|(k, m)| vec!["SET".into(), k.into(), m.into()]),
        (key.clone(), member.clone()).prop_map(|(k, m)| vec![
            "SET".into(),
            k.into(),
            m.into(),
            "PX".into(),
            "100000".into()
        ]),
        key.clone().prop_map(|k| vec!["GET".into(), k.into()]),
        (key.clone(), key.clone()).prop_map(|(a, b)| vec!["DEL".into(), a.into(), b.into()]),
        (key.clone(), key.clone()).prop_map(|(a, b)| vec!["EXISTS".into(), a.into(), b.into()]),
        (
            key.clone(),
            prop_oneof![Just("100000"), Just("0"), Just("-5")]
        )
            .prop_map(|(k, ms)| vec!["PEXPIRE".into(), k.into(), ms.into()]),
        (key.clone(), member.clone()).prop_map(|(k, m)| vec!["RPUSH".into(), k.into(), m.into()]),
        (key.clone(), any::<bool>(), score.clone(), member.clone()).prop_map(|(k, nx, s, m)| {
            let mut c: Vec<String> = vec!["ZADD".into(), k.into()];
            if nx {
                c.push("NX".into());
            }
            c.extend([s.to_string(), m.to_string()]);
            c
        }),
        (key.clone(), member.clone(), member.clone()).prop_map(|(k, a, b)| vec![
            "ZREM".into(),
            k.into(),
            a.into(),
            b.into()
        ]),
        (key.clone(), member.clone()).prop_map(|(k, m)| vec!["ZSCORE".into(), k.into(), m.into()]),
        (key.clone(), member.clone()).prop_map(|(k, m)| vec!["ZRANK".into(), k.into(), m.into()]),
        key.clone().prop_map(|k| vec!["ZCARD".into(), k.into()]),
        (key.clone(), rank.clone(), rank, any::<bool>()).prop_map(|(k, a, b, w)| {
            let mut c = vec!["ZRANGE".into(), k.into(), a.to_string(), b.to_string()];
            if w {
                c.push("WITHSCORES".into());
            }
            c
        }),
        (key.clone(), score.clone(), score.clone()).prop_map(|(k, a, b)| vec![
            "ZCOUNT".into(),
            k.into(),
            a.into(),
            b.into()
        ]),
        (key, score.clone(), score).prop_map(|(k, a, b)| vec![
            "ZREMRANGEBYSCORE".into(),
            k.into(),
            a.into(),
            b.into()
        ]),
    ];
    let mut runner = TestRunner::new(RunnerConfig {
        cases: 300,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let result = runner.run(&proptest::collection::vec(command, 1..30), |commands| {
        let mut conn = conn.borrow_mut();
        let _: () = redis::cmd("FLUSHALL").query(&mut *conn).unwrap();
        let mut store = memory::store::Store::default();
        let now_us = 1_700_000_000_000_000;
        for c in &commands {
            let args: Vec<&[u8]> = c.iter().map(|a| a.as_bytes()).collect();
            let mine = seen_memory(memory::command(&mut store, now_us, &args));
            let mut cmd = redis::cmd(&c[0]);
            for a in &c[1..] {
                cmd.arg(a);
            }
            let theirs = seen_redis(cmd.query::<redis::Value>(&mut *conn));
            prop_assert_eq!(mine, theirs, "after {:?}", c);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
