//! A model-based property test of the quorum: random interleavings of acquire, release (by the
//! holder or a stranger), lock, a lease's extend and release, isLocked, ttl and forceRelease
//! from three clients, mixed with faults on single members: a key deleted behind our back, a
//! stray value written, a member killed and restarted empty (no persistence). Three real
//! redis-servers; after every step each running member must hold exactly what the model says,
//! and every call must have answered as the majority rules predict from the members' states:
//! true/false where the members that answered decide it, an error (naming the dead members)
//! where the failures decide it. `QUORUM_MODEL_CASES` sets the number of cases (default 40).
//!
//! A second test adds stopped members (SIGSTOP): a call finds its command unanswered at the
//! deadline (an unknown outcome, then the member is left out for a while), which must count as
//! a failure, never as a grant; on resumption the member runs what it had buffered (late
//! writes) and is then emptied, as a revived one. `QUORUM_STOP_CASES` (default 25).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

use crate::lock::lease::{Lease, Status};
use crate::lock::options::OptionValue;
use crate::lock::quorum::CONNECT_BACKOFF;
use crate::lock::testing::{RedisServer, q};
use crate::lock::{Config, Locker};

const MEMBERS: usize = 3;
const NAMES: [&str; 2] = ["a", "b{x}:c"];

#[derive(Clone, Debug)]
enum Op {
    Acquire {
        client: usize,
        name: usize,
    },
    Release {
        client: usize,
        name: usize,
        stranger: bool,
    },
    Lock {
        client: usize,
        name: usize,
    },
    Extend {
        lease: usize,
    },
    LeaseRelease {
        lease: usize,
    },
    IsLocked {
        client: usize,
        name: usize,
    },
    Ttl {
        client: usize,
        name: usize,
    },
    ForceRelease {
        client: usize,
        name: usize,
    },
    /// A member loses the key (eviction, a stray DEL).
    Lose {
        member: usize,
        name: usize,
    },
    /// A member gets a value nobody holds.
    Stray {
        member: usize,
        name: usize,
    },
    /// A member dies (kill -9).
    Kill {
        member: usize,
    },
    /// A dead member comes back empty.
    Revive {
        member: usize,
    },
    /// A member stops (SIGSTOP): it accepts connections and commands but answers nothing.
    Stop {
        member: usize,
    },
    /// A stopped member resumes, runs what it had buffered, and is emptied.
    Resume {
        member: usize,
    },
}

/// The operations and member faults; with `stops`, members are also stopped and resumed.
fn op(stops: bool) -> impl Strategy<Value = Op> {
    let m = 0..MEMBERS;
    let stop_weight = if stops { 2 } else { 0 };
    prop_oneof![
        26 => plain_op(),
        stop_weight => m.clone().prop_map(|member| Op::Stop { member }),
        stop_weight => m.prop_map(|member| Op::Resume { member }),
    ]
}

fn plain_op() -> impl Strategy<Value = Op> {
    let c = 0..3usize;
    let n = 0..NAMES.len();
    let m = 0..MEMBERS;
    prop_oneof![
        4 => (c.clone(), n.clone()).prop_map(|(client, name)| Op::Acquire { client, name }),
        3 => (c.clone(), n.clone(), any::<bool>())
            .prop_map(|(client, name, stranger)| Op::Release { client, name, stranger }),
        3 => (c.clone(), n.clone()).prop_map(|(client, name)| Op::Lock { client, name }),
        2 => (0..6usize).prop_map(|lease| Op::Extend { lease }),
        2 => (0..6usize).prop_map(|lease| Op::LeaseRelease { lease }),
        1 => (c.clone(), n.clone()).prop_map(|(client, name)| Op::IsLocked { client, name }),
        1 => (c.clone(), n.clone()).prop_map(|(client, name)| Op::Ttl { client, name }),
        1 => (c.clone(), n.clone()).prop_map(|(client, name)| Op::ForceRelease { client, name }),
        2 => (m.clone(), n.clone()).prop_map(|(member, name)| Op::Lose { member, name }),
        1 => (m.clone(), n.clone()).prop_map(|(member, name)| Op::Stray { member, name }),
        1 => m.clone().prop_map(|member| Op::Kill { member }),
        2 => m.prop_map(|member| Op::Revive { member }),
    ]
}

struct Run<'a> {
    servers: &'a mut [RedisServer],
    lockers: &'a [Locker],
    /// What each member holds per name (`None`: nothing); meaningless for a dead member.
    state: Vec<HashMap<usize, String>>,
    alive: [bool; MEMBERS],
    /// Stopped members (not `alive` either: they answer nothing).
    stopped: [bool; MEMBERS],
    /// When each member last stopped being stopped (resumed or killed): clients may leave it
    /// out until [`CONNECT_BACKOFF`] after that, so it counts as alive again only then.
    unstopped: [Option<Instant>; MEMBERS],
    /// The value each client last got `true` for, per name.
    values: HashMap<(usize, usize), String>,
    leases: Vec<(Lease, usize)>,
    counter: u64,
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

/// What the majority rules predict from `yes` members agreeing and `failed` dead ones.
#[derive(Debug, PartialEq)]
enum Said {
    Yes,
    No,
    Error,
}

fn predict(yes: usize, failed: usize) -> Said {
    let majority = MEMBERS / 2 + 1;
    if yes >= majority {
        Said::Yes
    } else if yes + failed < majority {
        Said::No
    } else {
        Said::Error
    }
}

fn said(result: &crate::lock::Result<bool>) -> Said {
    match result {
        Ok(true) => Said::Yes,
        Ok(false) => Said::No,
        Err(_) => Said::Error,
    }
}

impl Run<'_> {
    fn dead(&self) -> usize {
        self.alive.iter().filter(|a| !**a).count()
    }

    fn alive_members(&self) -> Vec<usize> {
        (0..MEMBERS).filter(|&m| self.alive[m]).collect()
    }

    fn holding(&self, name: usize, value: &str) -> Vec<usize> {
        self.alive_members()
            .into_iter()
            .filter(|&m| self.state[m].get(&name).is_some_and(|v| v == value))
            .collect()
    }

    fn free(&self, name: usize) -> Vec<usize> {
        self.alive_members()
            .into_iter()
            .filter(|&m| !self.state[m].contains_key(&name))
            .collect()
    }

    fn expect(
        &self,
        what: &str,
        got: &crate::lock::Result<bool>,
        want: Said,
    ) -> Result<(), TestCaseError> {
        if said(got) != want {
            return Err(fail(format!("{what}: {got:?}, the model says {want:?}")));
        }
        if let Err(e) = got {
            // An error names every dead member.
            for m in 0..MEMBERS {
                if !self.alive[m]
                    && !e
                        .to_string()
                        .contains(&format!("127.0.0.1:{}", self.servers[m].port))
                {
                    return Err(fail(format!(
                        "{what}: the error does not name dead member {m}: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// A take (acquire or lock) of `name` for `value`: taken where it is free when those are a
    /// majority; left nowhere otherwise.
    fn take(
        &mut self,
        name: usize,
        value: &str,
        got: &crate::lock::Result<bool>,
        what: &str,
    ) -> Result<(), TestCaseError> {
        let free = self.free(name);
        self.expect(what, got, predict(free.len(), self.dead()))?;
        if matches!(got, Ok(true)) {
            for m in free {
                self.state[m].insert(name, value.to_owned());
            }
        }
        Ok(())
    }

    /// A release of `name` by `value`: deleted wherever `value` holds it.
    fn give_back(
        &mut self,
        name: usize,
        value: &str,
        got: &crate::lock::Result<bool>,
        what: &str,
    ) -> Result<(), TestCaseError> {
        let holding = self.holding(name, value);
        self.expect(what, got, predict(holding.len(), self.dead()))?;
        for m in holding {
            self.state[m].remove(&name);
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Acquire { client, name } => {
                self.counter += 1;
                let value = format!("v{}", self.counter);
                let got =
                    self.lockers[client].acquire(NAMES[name].as_bytes(), value.as_bytes(), 10.0);
                self.take(name, &value, &got, "acquire")?;
                if got == Ok(true) {
                    self.values.insert((client, name), value);
                }
            }
            Op::Release {
                client,
                name,
                stranger,
            } => {
                let value = match self.values.get(&(client, name)) {
                    Some(v) if !stranger => v.clone(),
                    _ => "stranger".to_owned(),
                };
                let got = self.lockers[client].release(NAMES[name].as_bytes(), value.as_bytes());
                self.give_back(name, &value, &got, "release")?;
            }
            Op::Lock { client, name } => {
                let got = self.lockers[client].lock(NAMES[name].as_bytes(), Some(10.0), 0.0);
                let free = self.free(name);
                let (result, lease) = match got {
                    Ok(Some(lease)) => (Ok(true), Some(lease)),
                    Ok(None) => (Ok(false), None),
                    Err(e) => (Err(e), None),
                };
                let want = predict(free.len(), self.dead());
                self.expect("lock", &result, want)?;
                if let Some(lease) = lease {
                    let token = String::from_utf8(lease.token().to_vec()).unwrap();
                    for m in free {
                        self.state[m].insert(name, token.clone());
                    }
                    self.leases.push((lease, name));
                }
            }
            Op::Extend { lease } => {
                let Some((lease, name)) = self.leases.get(lease) else {
                    return Ok(());
                };
                let name = *name;
                let token = String::from_utf8(lease.token().to_vec()).unwrap();
                let before = lease.status();
                let got = lease.extend(10_000);
                if before != Status::Held {
                    if got != Ok(false) {
                        return Err(fail(format!("extend of a {before:?} lease: {got:?}")));
                    }
                    return Ok(());
                }
                let holding = self.holding(name, &token);
                self.expect("extend", &got, predict(holding.len(), self.dead()))?;
                if got == Ok(false) && lease.status() != Status::Lost {
                    return Err(fail(
                        "extend found no majority but the lease is not lost".into(),
                    ));
                }
            }
            Op::LeaseRelease { lease } => {
                let Some((lease, name)) = self.leases.get(lease) else {
                    return Ok(());
                };
                let name = *name;
                let token = String::from_utf8(lease.token().to_vec()).unwrap();
                let before = lease.status();
                let got = lease.release();
                if before != Status::Held {
                    if got != Ok(false) {
                        return Err(fail(format!("release of a {before:?} lease: {got:?}")));
                    }
                    return Ok(());
                }
                self.give_back(name, &token, &got, "lease release")?;
            }
            Op::IsLocked { client, name } => {
                let locked = self
                    .alive_members()
                    .into_iter()
                    .filter(|&m| self.state[m].contains_key(&name))
                    .count();
                let got = self.lockers[client].is_locked(NAMES[name].as_bytes());
                self.expect("isLocked", &got, predict(locked, self.dead()))?;
            }
            Op::Ttl { client, name } => {
                let locked = self
                    .alive_members()
                    .into_iter()
                    .filter(|&m| self.state[m].contains_key(&name))
                    .count();
                let got = self.lockers[client].ttl(NAMES[name].as_bytes());
                let as_bool = got.as_ref().map(Option::is_some).map_err(Clone::clone);
                self.expect("ttl", &as_bool, predict(locked, self.dead()))?;
                if let Ok(Some(ttl)) = got
                    && !(ttl > 0.0 && ttl <= 10.0)
                {
                    return Err(fail(format!("ttl {ttl}")));
                }
            }
            Op::ForceRelease { client, name } => {
                let got = self.lockers[client].force_release(NAMES[name].as_bytes());
                let any = self
                    .alive_members()
                    .into_iter()
                    .any(|m| self.state[m].contains_key(&name));
                let want = if self.dead() > 0 {
                    Said::Error
                } else if any {
                    Said::Yes
                } else {
                    Said::No
                };
                self.expect("forceRelease", &got, want)?;
                for m in self.alive_members() {
                    self.state[m].remove(&name);
                }
            }
            Op::Lose { member, name } => {
                if self.alive[member] {
                    let _: i64 = q(&mut self.servers[member].client(), &["DEL", NAMES[name]]);
                    self.state[member].remove(&name);
                }
            }
            Op::Stray { member, name } => {
                if self.alive[member] {
                    let _: () = q(
                        &mut self.servers[member].client(),
                        &["SET", NAMES[name], "stray", "PX", "10000"],
                    );
                    self.state[member].insert(name, "stray".to_owned());
                }
            }
            Op::Kill { member } => {
                if self.alive[member] || self.stopped[member] {
                    if self.stopped[member] {
                        self.unstopped[member] = Some(Instant::now());
                    }
                    self.servers[member].kill();
                    self.alive[member] = false;
                    self.stopped[member] = false;
                    self.state[member].clear();
                }
            }
            Op::Revive { member } => {
                if !self.alive[member] && !self.stopped[member] {
                    self.servers[member].restart();
                    wait_out_backoff(self.unstopped[member].take());
                    self.alive[member] = true;
                }
            }
            Op::Stop { member } => {
                if self.alive[member] {
                    self.servers[member].signal("STOP");
                    self.alive[member] = false;
                    self.stopped[member] = true;
                }
            }
            Op::Resume { member } => {
                if self.stopped[member] {
                    resume(&self.servers[member]);
                    self.unstopped[member] = Some(Instant::now());
                    wait_out_backoff(self.unstopped[member].take());
                    self.stopped[member] = false;
                    self.alive[member] = true;
                    self.state[member].clear();
                }
            }
        }
        Ok(())
    }

    /// Every running member holds what the model says.
    fn check(&self) -> Result<(), TestCaseError> {
        for m in self.alive_members() {
            let mut c = self.servers[m].client();
            for (n, name) in NAMES.iter().enumerate() {
                let got: Option<String> = q(&mut c, &["GET", name]);
                if got.as_ref() != self.state[m].get(&n) {
                    return Err(fail(format!(
                        "member {m} holds {got:?} for {name}, the model says {:?}",
                        self.state[m].get(&n)
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Resumes a stopped member: it runs the commands it had buffered (late writes of calls that
/// gave up on it), then it is emptied.
fn resume(server: &RedisServer) {
    server.signal("CONT");
    // The connections that queued while it was stopped are served in no set order with a new
    // one: flush until the buffered commands are all run (the count stops moving) and nothing
    // is left.
    let mut c = server.client();
    let mut last = 0;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(50));
        let _: () = q(&mut c, &["FLUSHALL"]);
        let info: String = q(&mut c, &["INFO", "stats"]);
        let done = info
            .lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let size: i64 = q(&mut c, &["DBSIZE"]);
        // Our own FLUSHALL and INFO (and DBSIZE) are the only commands since the last look.
        if size == 0 && last > 0 && done <= last + 3 {
            return;
        }
        last = done;
    }
    panic!("a resumed member kept running commands");
}

/// Waits until no client leaves out a member that stopped being stopped at `since` (a member
/// that missed a deadline while stopped is left out for [`CONNECT_BACKOFF`] after it).
fn wait_out_backoff(since: Option<Instant>) {
    if let Some(since) = since {
        let until = since + CONNECT_BACKOFF + Duration::from_millis(50);
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
    }
}

#[test]
fn random_interleavings_with_member_faults_answer_as_the_majority_rules_say() {
    let cases = std::env::var("QUORUM_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    run_cases(cases, false);
}

#[test]
fn random_interleavings_with_stopped_members_answer_as_the_majority_rules_say() {
    let cases = std::env::var("QUORUM_STOP_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(25);
    run_cases(cases, true);
}

fn run_cases(cases: u32, stops: bool) {
    let servers: Vec<RedisServer> = (0..MEMBERS).map(|_| RedisServer::start()).collect();
    let dsns: Vec<String> = servers.iter().map(RedisServer::dsn).collect();
    let _ = &servers;
    let dsns: Vec<&str> = dsns.iter().map(String::as_str).collect();
    let options = vec![
        ("connectTimeout", OptionValue::Float(0.5)),
        ("readTimeout", OptionValue::Float(0.5)),
    ];
    let lockers: Vec<Locker> = (0..3)
        .map(|_| Locker::unshared(Config::parse_quorum(&dsns, &options).unwrap()).unwrap())
        .collect();
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let servers = std::cell::RefCell::new(servers);
    // Members a case left stopped (it failed, or ended before resuming them), and when members
    // it left stopped being stopped.
    let left_stopped = std::cell::Cell::new([false; MEMBERS]);
    let left_unstopped = std::cell::Cell::new([None; MEMBERS]);
    let result = runner.run(&prop::collection::vec(op(stops), 1..30), |ops| {
        let mut servers = servers.borrow_mut();
        for (m, s) in servers.iter_mut().enumerate() {
            if s.pid_if_running().is_none() {
                s.restart();
            } else if left_stopped.get()[m] {
                resume(s);
                wait_out_backoff(Some(Instant::now()));
            }
            wait_out_backoff(left_unstopped.get()[m]);
            let _: () = q(&mut s.client(), &["FLUSHALL"]);
        }
        left_stopped.set([false; MEMBERS]);
        left_unstopped.set([None; MEMBERS]);
        let mut run = Run {
            servers: &mut servers,
            lockers: &lockers,
            state: vec![HashMap::new(); MEMBERS],
            alive: [true; MEMBERS],
            stopped: [false; MEMBERS],
            unstopped: [None; MEMBERS],
            values: HashMap::new(),
            leases: Vec::new(),
            counter: 0,
        };
        for (n, op) in ops.iter().enumerate() {
            let step = run.step(op).and_then(|()| run.check());
            left_stopped.set(run.stopped);
            left_unstopped.set(run.unstopped);
            step.map_err(|e| fail(format!("step {n} {op:?}: {e}")))?;
        }
        // Leases are released when dropped; quietly, whatever the members' state.
        for (lease, _) in run.leases.drain(..) {
            lease.detach();
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
