//! Taking leases: fair blocking acquisition, `restore`, and the operators' queries.
//!
//! Fair waiting (see [`crate::lock::scripts::lease`]): a waiter joins a per-key queue in arrival order
//! and blocks on its own wake list (BLPOP). A release hands the lock straight to the first live
//! waiter for a [`crate::lock::lease::CLAIM_WINDOW`] and pushes the new fence onto its wake list; the waiter wakes
//! and claims it (extends it to its own TTL), so the lock passes in arrival order without
//! sleeping or polling, and a waiter that died just before its turn holds the others up for the
//! claim window only. Waiters refresh a heartbeat every [`HEARTBEAT`]; one that stops is
//! skipped after [`ALIVE_WINDOW`]. A waiter also wakes when the holder's TTL runs out, so a
//! holder that dies without releasing strands nobody.
//!
//! Inside a wait, a lost connection, a timeout or a server that is loading or busy is retried
//! until the deadline (the place in the queue is kept while heartbeats reach the server); the
//! error is returned only if the deadline passes without an answer. On every way out without the
//! lock, the waiter leaves the queue (best effort: if Redis is unreachable its place expires
//! with its heartbeat).

use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result, quote_key};
use crate::lock::keys::{LockKeys, check_lock_name, check_value};
use crate::lock::lease::state::{Grant, Kind, LeaseState, abandon, release, unexpected};
use crate::lock::lease::{ALIVE_WINDOW, CLAIM_WINDOW, HEARTBEAT, Lease};
use crate::lock::locker::{Locker, ttl_ms, wait_duration};
use crate::lock::net::registry::Resend;
use crate::lock::protocol::resp;
use crate::lock::replicas::Acked;
use crate::lock::scripts::lease::{
    FORCE_RELEASE_SCRIPT, LEASE_ACQUIRE_SCRIPT, LEASE_CANCEL_SCRIPT, OWNER_STATE_SCRIPT,
};
use crate::lock::scripts::semaphore::{
    PERMIT_ACQUIRE_SCRIPT, PERMIT_CANCEL_SCRIPT, PERMITS_HELD_SCRIPT,
};
use crate::lock::scripts::shared::{SHARED_ACQUIRE_SCRIPT, SHARED_CANCEL_SCRIPT};
use crate::lock::scripts::{Keys, LuaScript, int_reply, ints_reply};
use crate::lock::topology::Route;

/// The pause before retrying after a transient failure inside a wait.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// The outcome of one acquisition attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Held, with this fence.
    Held(i64),
    /// Busy; the holder's lock has this PTTL (ms; -1 none, -2 free but not our turn).
    Busy(i64),
}

/// The semaphore's live permits were taken with another permit count than the waiter's.
fn permits_mismatch(keys_name: &[u8], ours: u32, theirs: i64) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "permit: the semaphore \"{}\" is held with {theirs} permits, not {ours}: every call \
             on one semaphore must pass the same number of permits while any of its permits \
             is held",
            quote_key(keys_name)
        ),
    )
}

/// One `lock()` call's place in line for one lock: its token, TTL and wake list. `lock()` drives
/// it; tests drive its steps one by one.
pub struct Waiter<'a> {
    locker: &'a Locker,
    /// The lock's keys.
    pub keys: LockKeys,
    /// The token this waiter will hold the lock with.
    pub token: Vec<u8>,
    /// Waiting for the lock itself, for a share of it, or for a semaphore permit.
    pub kind: Kind,
    /// For a permit: the semaphore's permit count (as given, and as text); else 0.
    pub permits: u32,
    permits_text: String,
    /// The name as the caller gave it, for messages.
    name: Vec<u8>,
    ttl: Duration,
    wake: Vec<u8>,
    /// Set when a command of this waiter failed without an answer: it may still run later (a
    /// stalled server runs what its sockets hold when it resumes).
    unsure: std::cell::Cell<bool>,
    /// With the `replicas` option: WAIT's outcome after the last command that could take the
    /// lock (see [`crate::lock::replicas`]).
    acked: std::cell::Cell<Acked>,
}

impl<'a> Waiter<'a> {
    /// A waiter for the lock named by `keys`, holding it with `token` for `ttl` once it gets it.
    pub fn new(locker: &'a Locker, keys: LockKeys, token: Vec<u8>, ttl: Duration) -> Self {
        let wake = keys.wake(&token);
        Waiter {
            locker,
            keys,
            token,
            kind: Kind::Exclusive,
            permits: 0,
            permits_text: String::new(),
            name: Vec::new(),
            ttl,
            wake,
            unsure: std::cell::Cell::new(false),
            acked: std::cell::Cell::new(None),
        }
    }

    /// This waiter, waiting for a lease of `kind` instead (a share, for [`Kind::Shared`]).
    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// This waiter, waiting for one of the `permits` permits of the semaphore `name` (its keys
    /// are the semaphore's, [`LockKeys::semaphore`]).
    pub fn for_permit(mut self, name: &[u8], permits: u32) -> Self {
        self.kind = Kind::Permit;
        self.permits = permits;
        self.permits_text = permits.to_string();
        self.name = name.to_vec();
        self
    }

    /// The acquisition script for this waiter's kind.
    fn acquire_script(&self) -> &'static LuaScript {
        match self.kind {
            Kind::Exclusive => &LEASE_ACQUIRE_SCRIPT,
            Kind::Shared => &SHARED_ACQUIRE_SCRIPT,
            Kind::Permit => &PERMIT_ACQUIRE_SCRIPT,
        }
    }

    /// A reply of the acquisition script as an attempt's outcome.
    fn attempt_reply(&self, reply: Option<Vec<i64>>) -> Result<Attempt> {
        match reply.as_deref() {
            Some([-1, theirs]) if self.kind == Kind::Permit => {
                Err(permits_mismatch(&self.name, self.permits, *theirs))
            }
            _ => attempt_reply(reply),
        }
    }

    /// One attempt: takes (or claims) the lock, or, with `queue`, joins or refreshes its place
    /// in the queue.
    pub fn attempt(&self, queue: bool) -> Result<Attempt> {
        self.with_attempt_args(queue, |args| {
            self.attempt_reply(Some(self.run(self.acquire_script(), args)?))
        })
    }

    /// Calls `f` with the arguments of [`LEASE_ACQUIRE_SCRIPT`] for this waiter (`queue`:
    /// join or keep its place in line).
    /// A permit's waiter also passes its permit count and the claim window.
    fn with_attempt_args<R>(&self, queue: bool, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        let (mut ttl_digits, mut window_digits) = ([0u8; 20], [0u8; 20]);
        let ttl_ms = resp::decimal(&mut ttl_digits, self.ttl.as_millis() as u64);
        let window = if queue {
            ALIVE_WINDOW.as_millis() as u64
        } else {
            0
        };
        let window = resp::decimal(&mut window_digits, window);
        let mut claim_digits = [0u8; 20];
        let claim = resp::decimal(&mut claim_digits, CLAIM_WINDOW.as_millis() as u64);
        let args: [&[u8]; 7] = [
            &self.token,
            ttl_ms,
            window,
            &self.keys.wake_prefix,
            &self.keys.gone_prefix,
            self.permits_text.as_bytes(),
            claim,
        ];
        if self.kind == Kind::Permit {
            f(&args)
        } else {
            f(&args[..5])
        }
    }

    /// Blocks on the wake list for up to `block` (BLPOP), then attempts again in the same
    /// round trip (the attempt is pipelined behind the BLPOP, so the server runs it the moment
    /// the BLPOP returns): it claims the lock if a release handed it over, else it refreshes the
    /// heartbeat and tells the lock's PTTL.
    pub fn wait_then_attempt(&self, block: Duration) -> Result<Attempt> {
        let seconds = format!("{:.3}", block.as_secs_f64().max(0.001));
        self.with_attempt_args(true, |args| self.blpop_then(&seconds, block, args))
    }

    fn blpop_then(&self, seconds: &str, block: Duration, args: &[&[u8]]) -> Result<Attempt> {
        let all = self.keys.all();
        let script = self.acquire_script();
        let client = self.locker.client();
        let ack = self.locker.replica_ack();
        let limit = block + client.timeouts().read;
        self.acked.set(None);
        let (reply, acked) = client
            .run(Route::Slot(self.keys.slot), |conn| {
                resp::command(
                    conn.command_buffer(),
                    &[b"BLPOP", &self.wake, seconds.as_bytes()],
                );
                script.pipelined(conn, Keys::List(&all), args);
                if let Some(ack) = ack {
                    ack.pipelined(conn);
                }
                conn.send()?;
                // Every reply is read whatever the first says, so none is left on the socket.
                let woken = conn.read_reply_within(Some(limit), |_| ());
                if woken.as_ref().is_err_and(|e| !e.is_server()) {
                    return woken.map(|()| (None, None));
                }
                let attempt = script.read_acked(conn, Keys::List(&all), args, ack, ints_reply);
                woken.and(attempt)
            })
            .map_err(|e| e.context("lock"))?;
        self.acked.set(acked);
        self.attempt_reply(reply)
    }

    /// Leaves the queue; `Some(fence)` if the lock was handed over meanwhile (then it is claimed
    /// and held).
    pub fn cancel(&self) -> Result<Option<i64>> {
        let (mut ttl_digits, mut nudge_digits) = ([0u8; 20], [0u8; 20]);
        let ttl_ms = resp::decimal(&mut ttl_digits, self.ttl.as_millis() as u64);
        let nudge = resp::decimal(&mut nudge_digits, ALIVE_WINDOW.as_millis() as u64);
        let args: [&[u8]; 5] = [
            &self.token,
            ttl_ms,
            &self.keys.wake_prefix,
            nudge,
            self.permits_text.as_bytes(),
        ];
        let (script, args) = match self.kind {
            Kind::Exclusive => (&LEASE_CANCEL_SCRIPT, &args[..4]),
            Kind::Shared => (&SHARED_CANCEL_SCRIPT, &args[..4]),
            Kind::Permit => (&PERMIT_CANCEL_SCRIPT, &args[..]),
        };
        match self.run(script, args)?.as_slice() {
            [1, fence] => Ok(Some(*fence)),
            [0] => Ok(None),
            _ => Err(unexpected("lock")),
        }
    }

    /// Gives up after a fault (see [`LEASE_ABANDON`](crate::lock::scripts::lease::LEASE_ABANDON)):
    /// leaves a tombstone so that its commands still stuck in a stalled server take nothing when
    /// they run, leaves the queue, and passes the lock on if it was made its own.
    pub fn abandon(&self) -> Result<()> {
        // Idempotent for a waiter: it did not get the lock whatever a resend finds.
        let resend = Resend::Safe;
        abandon(
            self.locker.client(),
            &self.keys,
            &self.token,
            self.ttl,
            self.kind,
            self.permits,
            resend,
        )
        .map(|_| ())
    }

    /// Runs a lease script on the lock's five keys, with a `WAIT` behind it when the locker
    /// asks for replicas (its outcome is kept in `acked`); its reply as integers.
    fn run(&self, script: &LuaScript, args: &[&[u8]]) -> Result<Vec<i64>> {
        let all = self.keys.all();
        let ack = self.locker.replica_ack();
        self.acked.set(None);
        let (reply, acked) = self
            .locker
            .client()
            .run(Route::Slot(self.keys.slot), |conn| {
                script.run_acked(conn, Keys::List(&all), args, ack, ints_reply)
            })
            .map_err(|e| e.context("lock"))?;
        self.acked.set(acked);
        reply.ok_or_else(|| unexpected("lock"))
    }

    /// Waits in line until the lock is ours (`Some(fence)`) or `deadline` passes (`None`).
    /// `wait` false: one attempt, no queueing.
    pub fn acquire_by(&self, deadline: Instant, wait: bool) -> Result<Option<i64>> {
        if !wait {
            return match self.attempt(false) {
                Ok(Attempt::Held(fence)) => Ok(Some(fence)),
                Ok(Attempt::Busy(_)) => Ok(None),
                Err(e) => {
                    // Unanswered: the attempt may still take the lock when a stalled server
                    // resumes; make sure it takes nothing (best effort).
                    if e.is_timeout() || e.is_connection() {
                        let _ = self.abandon();
                    }
                    Err(e)
                }
            };
        }
        match self.wait_in_line(deadline) {
            Ok(Some(fence)) => Ok(Some(fence)),
            Ok(None) => self.leave(None),
            Err(e) => self.leave(Some(e)),
        }
    }

    /// The wait is over without the lock (`error`: it failed). Leaves the queue: by a cancel,
    /// which keeps the lock if it was handed over at the last moment, when every command so far
    /// was answered; else (or when the cancel itself goes unanswered) by abandoning, which makes
    /// sure no command still in flight takes the lock for nobody. If Redis does not answer, the
    /// place in line expires with its heartbeat and the error says the outcome is unknown.
    fn leave(&self, error: Option<Error>) -> Result<Option<i64>> {
        if !self.unsure.get() {
            match self.cancel() {
                Ok(Some(fence)) => return Ok(Some(fence)),
                Ok(None) => return error.map_or(Ok(None), Err),
                Err(_) => {}
            }
        }
        match self.abandon() {
            Ok(()) => error.map_or(Ok(None), Err),
            Err(e) => Err(error.unwrap_or(e)),
        }
    }

    fn wait_in_line(&self, deadline: Instant) -> Result<Option<i64>> {
        let mut pttl = loop {
            match self.attempt(true) {
                Ok(Attempt::Held(fence)) => return Ok(Some(fence)),
                Ok(Attempt::Busy(pttl)) => break pttl,
                Err(e) => self.pause_after(e, deadline)?,
            }
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            // Sleep until handed the lock, nudged, due for a heartbeat, or the holder's TTL
            // runs out (it may have died), whichever comes first; then attempt again.
            let mut block = left.min(HEARTBEAT);
            if pttl >= 0 {
                block = block.min(Duration::from_millis(pttl as u64 + 1));
            }
            match self.wait_then_attempt(block) {
                Ok(Attempt::Held(fence)) => return Ok(Some(fence)),
                Ok(Attempt::Busy(now)) => pttl = now,
                Err(e) => {
                    self.pause_after(e, deadline)?;
                    pttl = -2;
                }
            }
        }
    }

    /// After a failed command inside a wait: `Ok` (after a short pause) to try again if the
    /// failure is transient and the deadline has not passed, else the error.
    fn pause_after(&self, e: Error, deadline: Instant) -> Result<()> {
        if e.is_timeout() || e.is_connection() {
            self.unsure.set(true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if !is_transient(&e) || left.is_zero() {
            return Err(e);
        }
        std::thread::sleep(left.min(RETRY_PAUSE));
        Ok(())
    }
}

fn attempt_reply(reply: Option<Vec<i64>>) -> Result<Attempt> {
    match reply.as_deref() {
        Some([1, fence]) => Ok(Attempt::Held(*fence)),
        Some([0, pttl, _position]) => Ok(Attempt::Busy(*pttl)),
        _ => Err(unexpected("lock")),
    }
}

/// Failures a wait rides out: the connection (but not a refused setup: a wrong password stays
/// wrong), a timeout, or a server that is restarting, loading, running a long script, or
/// failing over (a former master answering READONLY).
pub fn is_transient(e: &Error) -> bool {
    (e.is_connection() && !e.is_refused())
        || e.is_timeout()
        || [
            "LOADING",
            "BUSY",
            "TRYAGAIN",
            "MASTERDOWN",
            "CLUSTERDOWN",
            "READONLY",
            "UNBLOCKED",
            "NOREPLICAS",
            // A Redis Cluster slot map that kept changing for the call's redirects.
            "MOVED",
            "ASK",
        ]
        .iter()
        .any(|code| e.is_server_code(code))
}

impl Locker {
    /// Takes a lease on `key`, waiting up to `wait_seconds` (0: one attempt) in arrival order.
    ///
    /// `ttl_seconds`: the lock's TTL; `None` for a watchdog lease (TTL `leaseTtl`, renewed by
    /// the watchdog while held). Returns `None` if the lock was still held by someone else when
    /// the wait ended.
    pub fn lock(
        &self,
        key: &[u8],
        ttl_seconds: Option<f64>,
        wait_seconds: f64,
    ) -> Result<Option<Lease>> {
        self.lock_as(key, None, ttl_seconds, wait_seconds)
    }

    /// [`Locker::lock`], holding the lock with `token` (binary-safe, not empty) instead of a
    /// fresh UUID when one is given: a caller-chosen owner (Laravel's `$owner`, a Symfony key's
    /// state). A lock that `token` already holds is kept and its TTL reset (as `acquire()`
    /// does); two waiters with the same token are one place in line.
    pub fn lock_as(
        &self,
        key: &[u8],
        token: Option<&[u8]>,
        ttl_seconds: Option<f64>,
        wait_seconds: f64,
    ) -> Result<Option<Lease>> {
        self.lock_kind(Kind::Exclusive, key, token, ttl_seconds, wait_seconds, 0)
    }

    /// Takes a shared (read) lease on `key`: many readers hold one together, never while a
    /// writer ([`Locker::lock`]) holds `key`; a reader arriving after a queued writer waits
    /// behind it (see [`crate::lock::scripts::shared`]). Arguments and result as
    /// [`Locker::lock`]; the lease's fence is 0.
    pub fn lock_shared(
        &self,
        key: &[u8],
        ttl_seconds: Option<f64>,
        wait_seconds: f64,
    ) -> Result<Option<Lease>> {
        self.lock_kind(Kind::Shared, key, None, ttl_seconds, wait_seconds, 0)
    }

    /// Takes one of the `permits` permits of the semaphore `name` (see
    /// [`crate::lock::scripts::semaphore`]): at most `permits` holders at once, each a lease
    /// with its own TTL (or watchdog), waiting up to `wait_seconds` in arrival order. Semaphore
    /// names are apart from lock names. `permits` must be the count the semaphore's live permits
    /// were taken with (`Err(Conflict)` naming both otherwise). Arguments and result otherwise
    /// as [`Locker::lock`]; the lease's fence is 0.
    pub fn permit(
        &self,
        name: &[u8],
        permits: i64,
        ttl_seconds: Option<f64>,
        wait_seconds: f64,
    ) -> Result<Option<Lease>> {
        let permits = check_permits(permits)?;
        self.lock_kind(Kind::Permit, name, None, ttl_seconds, wait_seconds, permits)
    }

    /// The number of live permits of the semaphore `name`, and the permit count they were taken
    /// with (`(0, 0)` when none is live). `permits - held` are available to a caller that
    /// passes `permits`.
    pub fn permits_held(&self, name: &[u8]) -> Result<(u32, u32)> {
        let keys = LockKeys::semaphore(self.prefix(), name)?;
        let list: [&[u8]; 2] = [&keys.lock, &keys.readers];
        let reply = self
            .client()
            .run(Route::Slot(keys.slot), |conn| {
                PERMITS_HELD_SCRIPT.run(conn, Keys::List(&list), &[], ints_reply)
            })
            .map_err(|e| e.context("permitsHeld"))?;
        match reply.as_deref() {
            Some(&[held, permits]) => Ok((
                u32::try_from(held).unwrap_or(u32::MAX),
                u32::try_from(permits).unwrap_or(0),
            )),
            _ => Err(unexpected("permitsHeld")),
        }
    }

    /// [`Locker::lock_shared`], holding the share with `token` instead of a fresh UUID when one
    /// is given (see [`Locker::lock_as`]): a share `token` already holds is kept and its TTL
    /// reset. A share is only ever the token's own: the exclusive lease the same token may hold
    /// is not turned into a share (that is [`crate::lock::lease::Lease::demote`]).
    pub fn lock_shared_as(
        &self,
        key: &[u8],
        token: Option<&[u8]>,
        ttl_seconds: Option<f64>,
        wait_seconds: f64,
    ) -> Result<Option<Lease>> {
        self.lock_kind(Kind::Shared, key, token, ttl_seconds, wait_seconds, 0)
    }

    fn lock_kind(
        &self,
        kind: Kind,
        key: &[u8],
        token: Option<&[u8]>,
        ttl_seconds: Option<f64>,
        wait_seconds: f64,
        permits: u32,
    ) -> Result<Option<Lease>> {
        check_lock_name(self.prefix(), key)?;
        let token = match token {
            Some(token) => {
                check_value(token, "token")?;
                token.to_vec()
            }
            None => crate::lock::token().into_bytes(),
        };
        let (ttl, watchdog) = match ttl_seconds {
            Some(seconds) => (Duration::from_millis(ttl_ms(seconds, "ttl")?), false),
            None => (self.lease_config().lease_ttl, true),
        };
        let wait = wait_duration(wait_seconds, "wait")?;
        if let Some(quorum) = self.quorum() {
            match kind {
                Kind::Shared => {
                    return Err(crate::lock::quorum::unsupported(
                        "lockShared: shared leases are not available on a quorum: readers and \
                         writers share one queue and one readers set, which need a single server",
                    ));
                }
                Kind::Permit => {
                    return Err(crate::lock::quorum::unsupported(
                        "permit: semaphores are not available on a quorum: the permits and their \
                         queue need a single server",
                    ));
                }
                Kind::Exclusive => return quorum.lock(self, key, token, ttl, watchdog, wait),
            }
        }
        let waiter = if kind == Kind::Permit {
            let keys = LockKeys::semaphore(self.prefix(), key)?;
            Waiter::new(self, keys, token, ttl).for_permit(key, permits)
        } else {
            let keys = LockKeys::new(self.prefix(), key)?;
            Waiter::new(self, keys, token, ttl).with_kind(kind)
        };
        let Some(fence) = waiter.acquire_by(Instant::now() + wait, !wait.is_zero())? else {
            return Ok(None);
        };
        let unsure = waiter.unsure.get();
        let acked = waiter.acked.take();
        let state = LeaseState::new(Grant {
            kind,
            key: key.to_vec(),
            keys: waiter.keys,
            token: waiter.token,
            fence,
            ttl,
            watchdog,
            unsure,
            client: self.client().clone(),
            config: self.lease_config(),
            replicas: self.replica_ack().copied(),
            permits,
        });
        if let Some(ack) = self.replica_ack() {
            // Not registered anywhere yet: released here, or adopted below. (No WAIT outcome
            // cannot happen; it would count as no replica.)
            ack.settle_grant(acked.unwrap_or(Ok(0)), key, || release(&state))
                .map_err(|e| e.context("lock"))?;
        }
        Ok(Some(Lease::adopt(state)?))
    }

    /// A lease on `key` held by `token`, taken over from another process (which called
    /// `detach()`, or stopped caring). Manual mode: it keeps the lock's remaining TTL. A lock
    /// taken without a fence (with `acquire()`) gets a fresh one. A shared lease's token (from
    /// `detach()`) gives back a shared lease. `Err(Lost)` if `token` holds neither the lock nor
    /// a share of it.
    pub fn restore(&self, key: &[u8], token: &[u8]) -> Result<Lease> {
        if let Some(quorum) = self.quorum() {
            return quorum.restore(self, key, token);
        }
        check_value(token, "token")?;
        let keys = LockKeys::new(self.prefix(), key)?;
        let all = keys.all();
        // The lock's keys first (all present when the token holds it, so a Redis Cluster slot
        // being migrated does not answer TRYAGAIN); only if the token does not hold it, its
        // share (the readers set, absent unless someone reads).
        let ask = |names: &[&[u8]]| {
            self.client()
                .run(Route::Slot(keys.slot), |conn| {
                    OWNER_STATE_SCRIPT.run(conn, Keys::List(names), &[token, b"1"], ints_reply)
                })
                .map_err(|e| e.context("restore"))
        };
        let mut reply = ask(&all[..3])?;
        if matches!(reply.as_deref(), Some([-2, ..])) {
            reply = ask(&[all[0], all[1], all[2], all[5]])?;
        }
        let kind = match reply.as_deref() {
            Some([_, _, 1]) => Kind::Shared,
            _ => Kind::Exclusive,
        };
        let (pttl, fence) = match reply.as_deref() {
            Some([-1, _]) => {
                return Err(Error::invalid(format!(
                    "restore: the lock \"{}\" has no TTL, so this library did not take it; \
                     restore() takes over leases and locks taken with acquire()",
                    quote_key(key)
                )));
            }
            Some([pttl, fence, ..]) if *pttl != -2 => (*pttl, *fence),
            Some(_) => {
                return Err(Error::new(
                    ErrorKind::Lost,
                    format!(
                        "restore: the lock \"{}\" is not held by this token",
                        quote_key(key)
                    ),
                ));
            }
            None => return Err(unexpected("restore")),
        };
        Lease::new(Grant {
            kind,
            key: key.to_vec(),
            keys,
            token: token.to_vec(),
            fence,
            ttl: Duration::from_millis(pttl.max(0) as u64),
            watchdog: false,
            unsure: false,
            client: self.client().clone(),
            config: self.lease_config(),
            replicas: self.replica_ack().copied(),
            permits: 0,
        })
    }

    /// True if someone holds the lock `key`.
    pub fn is_locked(&self, key: &[u8]) -> Result<bool> {
        Ok(self.pttl(key, "isLocked")? != -2)
    }

    /// Seconds the lock `key` has left: `None` if free, `Some(INFINITY)` if it has no TTL.
    pub fn ttl(&self, key: &[u8]) -> Result<Option<f64>> {
        Ok(match self.pttl(key, "ttl")? {
            -2 => None,
            -1 => Some(f64::INFINITY),
            ms => Some(ms as f64 / 1000.0),
        })
    }

    fn pttl(&self, key: &[u8], what: &'static str) -> Result<i64> {
        check_lock_name(self.prefix(), key)?;
        if let Some(quorum) = self.quorum() {
            return quorum.majority_pttl(self.client().timeouts(), self.prefix(), key, what);
        }
        self.client()
            .run(Route::Key(self.prefix(), key), |conn| {
                let buf = conn.command_buffer();
                resp::begin(buf, 2);
                resp::arg(buf, b"PTTL");
                resp::arg2(buf, self.prefix(), key);
                conn.send()?;
                conn.read_reply(int_reply)
            })
            .map_err(|e| e.context(what))?
            .ok_or_else(|| unexpected(what))
    }

    /// Deletes the lock `key` whoever holds it, and wakes the first waiter. True if a lock was
    /// deleted. For operators: the holder's lease reports lost on its next call.
    pub fn force_release(&self, key: &[u8]) -> Result<bool> {
        let keys = LockKeys::new(self.prefix(), key)?;
        if let Some(quorum) = self.quorum() {
            return quorum.force_release(self.client().timeouts(), &keys);
        }
        let all = keys.all();
        let mut digits = [0u8; 20];
        let nudge = resp::decimal(&mut digits, ALIVE_WINDOW.as_millis() as u64);
        self.client()
            .run_once(
                Route::Slot(keys.slot),
                Resend::ProvesOnly(|&deleted| deleted, "forceRelease"),
                |conn| {
                    FORCE_RELEASE_SCRIPT
                        .run(
                            conn,
                            Keys::List(&all),
                            &[&keys.wake_prefix, nudge],
                            int_reply,
                        )?
                        .map(|n| n == 1)
                        .ok_or_else(|| unexpected("forceRelease"))
                },
            )
            .map_err(|e| e.context("forceRelease"))
    }
}

/// The largest permit count a semaphore may have.
pub const MAX_PERMITS: i64 = 1_000_000;

/// `permits` as a semaphore's permit count: `Err(InvalidArgument)` unless 1 to [`MAX_PERMITS`].
fn check_permits(permits: i64) -> Result<u32> {
    if !(1..=MAX_PERMITS).contains(&permits) {
        return Err(Error::invalid(format!(
            "permits must be between 1 and {MAX_PERMITS}, {permits} given"
        )));
    }
    Ok(permits as u32)
}
