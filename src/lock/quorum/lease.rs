//! Leases on a quorum: `lock()` (waits retry with a random pause until their deadline),
//! `restore()`, and the three operations the lease machinery asks of a lease's lock (extend,
//! owner state, release), each by fan-out and majority. The lease's [`LeaseState`] is the
//! ordinary one: its `Client` is the quorum's, so the watchdog renews it (on a detached copy of
//! every member's connection) and request end releases it, through the same calls.

use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result, quote_key};
use crate::lock::keys::{LockKeys, check_value};
use crate::lock::lease::{Grant, Kind, Lease, LeaseState};
use crate::lock::locker::Locker;
use crate::lock::net::connection::Timeouts;
use crate::lock::net::registry::Resend;
use crate::lock::protocol::resp;
use crate::lock::quorum::fanout::{Command, Outcome};
use crate::lock::quorum::ops::Verdict;
use crate::lock::quorum::{Quorum, drift};
use crate::lock::scripts::quorum::{
    QUORUM_EXTEND_SCRIPT, QUORUM_OWNER_SCRIPT, QUORUM_RELEASE_SCRIPT,
};
use crate::lock::scripts::{Keys, int_reply};
use crate::lock::topology::Route;

/// The shortest and longest pause between two attempts of a wait.
const PAUSE_MIN_MS: u64 = 20;
const PAUSE_MAX_MS: u64 = 80;

/// A random pause in `PAUSE_MIN_MS..=PAUSE_MAX_MS` (so contenders that collided spread out).
pub fn jitter() -> Duration {
    let r = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_millis(PAUSE_MIN_MS + r % (PAUSE_MAX_MS - PAUSE_MIN_MS + 1))
}

/// Errors that another attempt cannot cure.
fn is_final(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::InvalidArgument
            | ErrorKind::InvalidType
            | ErrorKind::Refused
            | ErrorKind::Unsupported
    )
}

impl Quorum {
    /// `lock()` on a quorum: attempts until one gets a majority or `wait` has passed, a random
    /// pause apart (see [`jitter`]). An attempt that failed is retried too while time is left;
    /// the last attempt's error is returned when the wait ends on one.
    #[allow(clippy::too_many_arguments)]
    pub fn lock(
        &self,
        locker: &Locker,
        key: &[u8],
        token: Vec<u8>,
        ttl: Duration,
        watchdog: bool,
        wait: Duration,
    ) -> Result<Option<Lease>> {
        let keys = LockKeys::new(locker.prefix(), key)?;
        let timeouts = locker.client().timeouts();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let deadline = Instant::now() + wait;
        loop {
            let attempt = self.acquire(timeouts, locker.prefix(), key, &token, ms, "lock");
            match attempt {
                Ok(true) => break,
                Err(e) if is_final(&e) => return Err(e),
                outcome => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return outcome.map(|_| None);
                    }
                    std::thread::sleep(jitter().min(left));
                }
            }
        }
        Lease::new(Grant {
            kind: Kind::Exclusive,
            key: key.to_vec(),
            keys,
            token,
            fence: 0,
            ttl,
            watchdog,
            unsure: false,
            client: locker.client().clone(),
            config: locker.lease_config(),
            replicas: None,
            permits: 0,
        })
        .map(Some)
    }

    /// `restore()` on a quorum: a lease for `token` if a majority hold the lock for it, with
    /// the majority's remaining TTL; `Err(Lost)` otherwise.
    pub fn restore(&self, locker: &Locker, key: &[u8], token: &[u8]) -> Result<Lease> {
        check_value(token, "token")?;
        let keys = LockKeys::new(locker.prefix(), key)?;
        let timeouts = locker.client().timeouts();
        let remaining = self.owner_ttl(timeouts, &keys, token, "restore")?;
        let ttl = match remaining {
            Some(Duration::MAX) => {
                return Err(Error::invalid(format!(
                    "restore: the lock \"{}\" has no TTL, so this library did not take it",
                    quote_key(key)
                )));
            }
            Some(ttl) => ttl,
            None => {
                return Err(Error::new(
                    ErrorKind::Lost,
                    format!(
                        "restore: the lock \"{}\" is not held by this token on a majority of the \
                         quorum",
                        quote_key(key)
                    ),
                ));
            }
        };
        Lease::new(Grant {
            kind: Kind::Exclusive,
            key: key.to_vec(),
            keys,
            token: token.to_vec(),
            fence: 0,
            ttl,
            watchdog: false,
            unsure: false,
            client: locker.client().clone(),
            config: locker.lease_config(),
            replicas: None,
            permits: 0,
        })
    }

    /// The owner's TTL on a majority (see [`Quorum::majority_ttl`]): `None` when fewer than a
    /// majority hold the lock for `token`.
    fn owner_ttl(
        &self,
        timeouts: Timeouts,
        keys: &LockKeys,
        token: &[u8],
        what: &'static str,
    ) -> Result<Option<Duration>> {
        let lock = [keys.lock.as_slice()];
        let encode = |buf: &mut Vec<u8>, by_body: bool| {
            QUORUM_OWNER_SCRIPT.encode_into(buf, Keys::List(&lock), &[token], by_body);
        };
        let cmd = Command {
            encode: &encode,
            parse: &int_reply,
            resend: Resend::Safe,
            what,
        };
        let deadline = Instant::now() + timeouts.read;
        let outcomes = self.fan_out(Route::Slot(keys.slot), timeouts, deadline, &cmd, None);
        self.majority_ttl(&outcomes, what)
    }

    /// Whether `state`'s lease still holds its lock on a majority: `Some(remaining TTL)` if so.
    pub fn lease_owner_state(
        &self,
        timeouts: Timeouts,
        state: &LeaseState,
    ) -> Result<Option<Duration>> {
        self.owner_ttl(timeouts, &state.grant.keys, state.token(), "isHeld")
    }

    /// Owner-checked TTL reset to `ttl_ms` on every member. True when a majority extended it
    /// within the validity time (TTL − elapsed − drift); false when too few still hold it (the
    /// lease is lost); an error when failures decide, or when the majority came too late.
    pub fn lease_extend(
        &self,
        timeouts: Timeouts,
        state: &LeaseState,
        ttl_ms: u64,
    ) -> Result<bool> {
        let ttl = Duration::from_millis(ttl_ms);
        let drift = drift(ttl_ms);
        if ttl <= drift {
            return Err(Error::invalid(format!(
                "on a quorum the TTL must be longer than Redlock's clock drift allowance (1 % \
                 of it plus 2 ms): {ttl_ms} ms leaves no validity time"
            ))
            .context("extend"));
        }
        let start = Instant::now();
        let deadline = start + timeouts.read.min(ttl - drift);
        let lock = [state.grant.keys.lock.as_slice()];
        let mut digits = [0u8; 20];
        let ttl_text = resp::decimal(&mut digits, ttl_ms);
        let token = state.token();
        let encode = |buf: &mut Vec<u8>, by_body: bool| {
            QUORUM_EXTEND_SCRIPT.encode_into(buf, Keys::List(&lock), &[token, ttl_text], by_body);
        };
        let cmd = Command {
            encode: &encode,
            parse: &int_reply,
            resend: Resend::Safe,
            what: "extend",
        };
        let route = Route::Slot(state.grant.keys.slot);
        let outcomes = self.fan_out(route, timeouts, deadline, &cmd, None);
        let extended = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Done(1)))
            .count();
        match self.verdict(&outcomes, extended, "extended the lease", "extend")? {
            Verdict::No => Ok(false),
            Verdict::Yes if ttl > start.elapsed() + drift => Ok(true),
            Verdict::Yes => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "a majority extended the lease after {:.1} ms, leaving no validity time of \
                     its {ttl_ms} ms TTL",
                    start.elapsed().as_secs_f64() * 1000.0
                ),
            )
            .context("extend")),
        }
    }

    /// Owner-checked delete on every member. True when a majority held it for this lease and
    /// deleted it; false when too few did (the lease was lost); an error when failures decide.
    pub fn lease_release(&self, timeouts: Timeouts, state: &LeaseState) -> Result<bool> {
        let lock = [state.grant.keys.lock.as_slice()];
        let token = state.token();
        let encode = |buf: &mut Vec<u8>, by_body: bool| {
            QUORUM_RELEASE_SCRIPT.encode_into(buf, Keys::List(&lock), &[token], by_body);
        };
        let cmd = Command {
            encode: &encode,
            parse: &int_reply,
            resend: Resend::ProvesOnly(|&n| n == 1, "release"),
            what: "release",
        };
        let deadline = Instant::now() + timeouts.read;
        let route = Route::Slot(state.grant.keys.slot);
        let outcomes = self.fan_out(route, timeouts, deadline, &cmd, None);
        let released = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Done(1)))
            .count();
        Ok(matches!(
            self.verdict(&outcomes, released, "released the lease", "release")?,
            Verdict::Yes
        ))
    }
}
