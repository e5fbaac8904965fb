//! The documents' API and the queries on a quorum: acquire, release, isLocked, ttl,
//! forceRelease (see the module docs of [`crate::lock::quorum`] for their majority rules).

use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::keys::{LockKeys, slot_of, slot_tag};
use crate::lock::lease::ALIVE_WINDOW;
use crate::lock::net::connection::Timeouts;
use crate::lock::net::registry::Resend;
use crate::lock::protocol::resp::{self, Reply};
use crate::lock::quorum::fanout::{Command, Outcome, all_or_error, describe_failure};
use crate::lock::quorum::{Quorum, drift};
use crate::lock::scripts::documents::{ACQUIRE_SCRIPT, RELEASE_SCRIPT};
use crate::lock::scripts::lease::FORCE_RELEASE_SCRIPT;
use crate::lock::scripts::{Keys, int_reply};
use crate::lock::topology::Route;

/// What a majority said, when the members that answered settle it.
pub(crate) enum Verdict {
    /// A majority said yes.
    Yes,
    /// Too few said yes, and the members that failed could not have changed that.
    No,
}

impl Quorum {
    /// `Verdict::Yes` when `yes` is a majority; `Verdict::No` when `yes` plus every member that
    /// failed (or whose outcome is unknown) is still short of one; otherwise the failures
    /// decide, and the error names each failed member.
    pub(crate) fn verdict<T>(
        &self,
        outcomes: &[Outcome<T>],
        yes: usize,
        said: &str,
        what: &'static str,
    ) -> Result<Verdict> {
        let majority = self.majority();
        if yes >= majority {
            return Ok(Verdict::Yes);
        }
        let failed: Vec<String> = outcomes
            .iter()
            .zip(self.members())
            .filter_map(|(o, m)| o.error().map(|e| describe_failure(&m.name, e)))
            .collect();
        if yes + failed.len() < majority {
            return Ok(Verdict::No);
        }
        let kind = outcomes
            .iter()
            .find_map(|o| o.error().map(Error::kind))
            .map(|kind| match kind {
                // Server errors here are members' error replies, named in the message.
                ErrorKind::Timeout => ErrorKind::Timeout,
                ErrorKind::Server => ErrorKind::Server,
                _ => ErrorKind::Connection,
            })
            .unwrap_or(ErrorKind::Connection);
        Err(Error::new(
            kind,
            format!(
                "no majority of the quorum: {yes} of {} members {said}, {majority} needed; {} \
                 failed: {}",
                self.members().len(),
                failed.len(),
                failed.join("; ")
            ),
        )
        .context(what))
    }

    /// Redlock's acquire of `prefix + key` for `value` with a TTL of `ms` (the documents'
    /// semantics on each member: taken, or already `value`'s and refreshed). True when a
    /// majority granted it within the validity time; otherwise it is released wherever it may
    /// have been taken and the answer is false (held by others on enough members), or an error
    /// (failures decided, or the validity was used up: a `Timeout`).
    pub fn acquire(
        &self,
        timeouts: Timeouts,
        prefix: &[u8],
        key: &[u8],
        value: &[u8],
        ms: u64,
        what: &'static str,
    ) -> Result<bool> {
        let ttl = Duration::from_millis(ms);
        let drift = drift(ms);
        if ttl <= drift {
            return Err(Error::invalid(format!(
                "on a quorum the TTL must be longer than Redlock's clock drift allowance (1 % \
                 of it plus 2 ms): {ms} ms leaves no validity time"
            )))
            .map_err(|e| e.context(what));
        }
        let start = Instant::now();
        let deadline = start + timeouts.read.min(ttl - drift);
        let mut digits = [0u8; 20];
        let ms_text = resp::decimal(&mut digits, ms);
        // `SET key value NX GET PX ms`, as on one server: nil when taken (1), the current value
        // otherwise: `value`'s own (2: refreshed below by the script), or another's (0).
        let set = |buf: &mut Vec<u8>, _by_body: bool| {
            resp::raw(buf, b"*7\r\n$3\r\nSET\r\n");
            resp::arg2(buf, prefix, key);
            resp::arg(buf, value);
            resp::raw(buf, b"$2\r\nNX\r\n$3\r\nGET\r\n$2\r\nPX\r\n");
            resp::arg(buf, ms_text);
        };
        let set_reply = |reply: Reply<'_>| match reply {
            Reply::Nil => Some(1),
            Reply::Bulk(current) if current == value => Some(2),
            Reply::Bulk(_) => Some(0),
            _ => None,
        };
        let script = |buf: &mut Vec<u8>, by_body: bool| {
            ACQUIRE_SCRIPT.encode_into(buf, Keys::One(prefix, key), &[value, ms_text], by_body);
        };
        let route = Route::Key(prefix, key);
        let legacy = self.members().iter().any(|m| m.topology.legacy_set(route));
        let cmd = Command {
            encode: if legacy { &script } else { &set },
            parse: if legacy { &int_reply } else { &set_reply },
            resend: Resend::Safe,
            what,
        };
        let mut outcomes = self.fan_out(route, timeouts, deadline, &cmd, None);
        // Members where `value` held it already (its TTL is refreshed by the acquire script, as
        // on one server), and servers older than Redis 7.0 (no `SET ... NX GET`: a syntax error,
        // remembered), get the script.
        let redo = |o: &Outcome<i64>| match o {
            Outcome::Done(2) => true,
            Outcome::Failed(e) => e.is_server_code("ERR") && e.message().contains("syntax"),
            _ => false,
        };
        if outcomes.iter().any(redo) {
            let again: Vec<bool> = outcomes
                .iter()
                .zip(self.members())
                .map(|(o, m)| {
                    if matches!(o, Outcome::Failed(_)) && redo(o) {
                        m.topology.set_legacy_set(route);
                    }
                    redo(o)
                })
                .collect();
            let cmd = Command {
                encode: &script,
                parse: &int_reply,
                resend: Resend::Safe,
                what,
            };
            let second = self.fan_out(route, timeouts, deadline, &cmd, Some(&again));
            for (o, s) in outcomes.iter_mut().zip(second) {
                if !matches!(s, Outcome::Skipped) {
                    *o = s;
                }
            }
        }
        let granted = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Done(1)))
            .count();
        let elapsed = start.elapsed();
        let valid = ttl > elapsed + drift;
        if granted >= self.majority() && valid {
            return Ok(true);
        }
        // Not ours: undone wherever it may have been taken (granted, or no answer).
        let undo: Vec<bool> = outcomes
            .iter()
            .map(|o| matches!(o, Outcome::Done(1) | Outcome::Unknown(_)))
            .collect();
        if undo.contains(&true) {
            let _ = self.release_on(timeouts, prefix, key, value, Some(&undo));
        }
        if granted >= self.majority() {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "a majority granted the lock after {:.1} ms, leaving no validity time of its \
                     {ms} ms TTL (clock drift allowance {:.1} ms): it was released everywhere; \
                     use a longer TTL or a shorter readTimeout",
                    elapsed.as_secs_f64() * 1000.0,
                    drift.as_secs_f64() * 1000.0
                ),
            )
            .context(what));
        }
        match self.verdict(&outcomes, granted, "granted the lock", what)? {
            Verdict::Yes => unreachable!("fewer than a majority granted it"),
            Verdict::No => Ok(false),
        }
    }

    /// Compare-and-delete of `prefix + key` for `value` on the members in `send` (all when
    /// `None`), by one read timeout. Returns the outcomes.
    fn release_on(
        &self,
        timeouts: Timeouts,
        prefix: &[u8],
        key: &[u8],
        value: &[u8],
        send: Option<&[bool]>,
    ) -> Vec<Outcome<i64>> {
        let tag = slot_tag(slot_of(prefix, key));
        let encode = |buf: &mut Vec<u8>, by_body: bool| {
            RELEASE_SCRIPT.encode_into(
                buf,
                Keys::LockAndFence(prefix, key, &tag),
                &[value],
                by_body,
            );
        };
        let cmd = Command {
            encode: &encode,
            parse: &int_reply,
            resend: Resend::ProvesOnly(|&n| n == 1, "release"),
            what: "release",
        };
        let deadline = Instant::now() + timeouts.read;
        self.fan_out(Route::Key(prefix, key), timeouts, deadline, &cmd, send)
    }

    /// The documents' release on every member. True when a majority held it for `value` and
    /// deleted it; false when too few held it; an error when failures decide.
    pub fn release(
        &self,
        timeouts: Timeouts,
        prefix: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<bool> {
        let outcomes = self.release_on(timeouts, prefix, key, value, None);
        let released = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Done(1)))
            .count();
        Ok(matches!(
            self.verdict(&outcomes, released, "released the lock", "release")?,
            Verdict::Yes
        ))
    }

    /// Each member's PTTL of `prefix + key`.
    fn pttls(
        &self,
        timeouts: Timeouts,
        prefix: &[u8],
        key: &[u8],
        what: &'static str,
    ) -> Vec<Outcome<i64>> {
        let encode = |buf: &mut Vec<u8>, _by_body: bool| {
            resp::begin(buf, 2);
            resp::arg(buf, b"PTTL");
            resp::arg2(buf, prefix, key);
        };
        let cmd = Command {
            encode: &encode,
            parse: &int_reply,
            resend: Resend::Safe,
            what,
        };
        let deadline = Instant::now() + timeouts.read;
        self.fan_out(Route::Key(prefix, key), timeouts, deadline, &cmd, None)
    }

    /// The lock's TTL on a quorum: `None` when fewer than a majority hold it; else the
    /// majority-th largest of the members' TTLs (`Duration::MAX` for no TTL), the time until
    /// fewer than a majority hold it. An error when failures decide.
    pub(crate) fn majority_ttl(
        &self,
        outcomes: &[Outcome<i64>],
        what: &'static str,
    ) -> Result<Option<Duration>> {
        let mut held: Vec<Duration> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Done(-1) => Some(Duration::MAX),
                Outcome::Done(ms) if *ms >= 0 => Some(Duration::from_millis(*ms as u64)),
                _ => None,
            })
            .collect();
        match self.verdict(outcomes, held.len(), "hold the lock", what)? {
            Verdict::No => Ok(None),
            Verdict::Yes => {
                held.sort_unstable_by(|a, b| b.cmp(a));
                Ok(Some(held[self.majority() - 1]))
            }
        }
    }

    /// The lock's TTL on a majority in PTTL's terms (see [`Quorum::majority_ttl`]): -2 when
    /// fewer than a majority hold it (whoever holds it on each), -1 for no TTL, else
    /// milliseconds. What `isLocked()` and `ttl()` answer on a quorum.
    pub fn majority_pttl(
        &self,
        timeouts: Timeouts,
        prefix: &[u8],
        key: &[u8],
        what: &'static str,
    ) -> Result<i64> {
        let outcomes = self.pttls(timeouts, prefix, key, what);
        Ok(match self.majority_ttl(&outcomes, what)? {
            None => -2,
            Some(Duration::MAX) => -1,
            Some(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        })
    }

    /// Deletes the lock on every member, whoever holds it. True if it was deleted on any; an
    /// error naming every member that could not be reached (it is deleted on the others).
    pub fn force_release(&self, timeouts: Timeouts, keys: &LockKeys) -> Result<bool> {
        let all = keys.all();
        let mut digits = [0u8; 20];
        let nudge = resp::decimal(&mut digits, ALIVE_WINDOW.as_millis() as u64);
        let encode = |buf: &mut Vec<u8>, by_body: bool| {
            FORCE_RELEASE_SCRIPT.encode_into(
                buf,
                Keys::List(&all),
                &[&keys.wake_prefix, nudge],
                by_body,
            );
        };
        let cmd = Command {
            encode: &encode,
            parse: &int_reply,
            resend: Resend::ProvesOnly(|&n| n == 1, "forceRelease"),
            what: "forceRelease",
        };
        let deadline = Instant::now() + timeouts.read;
        let outcomes = self.fan_out(Route::Slot(keys.slot), timeouts, deadline, &cmd, None);
        all_or_error(
            self,
            &outcomes,
            "forceRelease",
            "the lock is deleted on every member that answered, but not on: ",
        )?;
        Ok(outcomes.iter().any(|o| matches!(o, Outcome::Done(1))))
    }
}
