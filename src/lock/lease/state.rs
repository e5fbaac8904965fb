//! A lease's state: what its acquisition granted ([`Grant`]), where it stands ([`Status`]),
//! and the operations that need only that: owner-checked release (also the quiet release of a
//! dropped lease, with its per-connection breaker), extend, and the owner check.
//!
//! A lease is released explicitly, when its handle ([`crate::lock::lease::Lease`]) is dropped
//! (the PHP object is destroyed), or at the end of the request
//! ([`crate::lock::lease::request`]), but only by the process that acquired it: a
//! `pcntl_fork()` child never releases its parent's leases. A lease taken without a TTL is
//! renewed by the [`crate::lock::lease::watchdog`] thread until then. This module depends on
//! neither of those two.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result, quote_key};
use crate::lock::keys::LockKeys;
use crate::lock::lease::{ALIVE_WINDOW, CLAIM_WINDOW, TOMBSTONE};
use crate::lock::net::registry::Resend;
use crate::lock::options::LeaseConfig;
use crate::lock::protocol::resp;
use crate::lock::quorum::Quorum;
use crate::lock::replicas::{Acked, ReplicaAck};
use crate::lock::scripts::lease::{
    EXTEND_SCRIPT, LEASE_ABANDON_SCRIPT, LEASE_RELEASE_SCRIPT, OWNER_STATE_SCRIPT,
};
use crate::lock::scripts::shared::{DEMOTE_SCRIPT, PROMOTE_CANCEL_SCRIPT, PROMOTE_SCRIPT};
use crate::lock::scripts::{Call, Keys, int_reply, ints_reply};
use crate::lock::topology::{Client, Route};

/// Where a lease stands, as far as this process knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Held (as of the last check).
    Held = 0,
    /// Released by this process.
    Released = 1,
    /// Found gone: expired, or taken over after expiring.
    Lost = 2,
    /// Handed to another process with [`LeaseState::detach`]: this one no longer touches it.
    Detached = 3,
    /// Left to its TTL: releasing it at request end failed (Redis unreachable), and it is not
    /// tried again.
    Abandoned = 4,
}

/// Which kind of lease: the writer's (the lock key itself) or a reader's (a share in the
/// readers set, see [`crate::lock::scripts::shared`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One holder at a time (`lock()`): fenced.
    Exclusive,
    /// Many holders together, never with an exclusive one (`lockShared()`): fence 0.
    Shared,
    /// One of at most N permits of a semaphore (`permit()`, see
    /// [`crate::lock::scripts::semaphore`]): a share of the semaphore's own key, fence 0.
    Permit,
}

/// What an acquisition granted: which lock, to which token, with which fence and TTL.
pub struct Grant {
    /// Exclusive (the lock key) or shared (a share in the readers set), as granted; a lease
    /// promoted or demoted since has its current kind in [`LeaseState::kind`].
    pub kind: Kind,
    /// The key as the caller gave it (without the prefix).
    pub key: Vec<u8>,
    /// The lock's Redis keys.
    pub keys: LockKeys,
    /// The owner's token (a UUID v4, or the bytes given to `restore`).
    pub token: Vec<u8>,
    /// The fencing token: strictly increasing per key, assigned with the acquisition; 0 for a
    /// shared lease. (As granted: see [`LeaseState::fence`].)
    pub fence: i64,
    /// The TTL the lock was taken with; for a watchdog lease, the renewal TTL.
    pub ttl: Duration,
    /// True when the watchdog renews this lease.
    pub watchdog: bool,
    /// True when the wait that got it had unanswered commands (a stalled server may run them
    /// later): its release then also leaves a tombstone, so that none of them can take the lock
    /// again for a token nobody holds.
    pub unsure: bool,
    /// The connection (shared with the `RedisLock`) and its timeouts.
    pub client: Client,
    /// Lease options (strict mode, maximum lifetime).
    pub config: LeaseConfig,
    /// Replicas that must acknowledge each renewal (option `replicas`); `None`: none.
    pub replicas: Option<ReplicaAck>,
    /// For a permit: the semaphore's permit count; else 0.
    pub permits: u32,
}

/// The state of one lease, shared by its [`crate::lock::lease::Lease`] handle, the watchdog and the request
/// registry. Only atomics change: a forked child may inherit it mid-update.
pub struct LeaseState {
    /// What the acquisition granted.
    pub grant: Grant,
    /// When this process acquired (or restored) it.
    pub acquired_at: Instant,
    /// The process that holds it; others never release or renew it.
    pub owner_pid: u32,
    status: AtomicU8,
    /// The current [`Kind`] (0 exclusive, 1 shared, 2 permit): promote and demote change it.
    kind: AtomicU8,
    /// The current fence (0 while shared).
    fence: AtomicI64,
    /// Counts the kind changes begun and finished (odd: one in flight), so the watchdog can tell
    /// a renewal that found nothing because the lease changed kind under it from a lost lease.
    changes: AtomicU64,
    /// Set when the last renewal (watchdog or `extend`) was acknowledged by fewer replicas than
    /// the `replicas` option asks for; cleared by one that was.
    at_risk: AtomicBool,
}

impl Grant {
    /// The keys of the owner-checked scripts that touch only the lease itself (extend, owner
    /// state) for a lease of `kind`: the lock, fence counter and fence record; for a share the
    /// lock and the readers set. Each kind names only keys that exist while it holds: during a
    /// Redis Cluster slot migration a script whose keys are partly missing on a node gets
    /// `TRYAGAIN` (the readers set rarely exists; the fence record does not while readers
    /// hold). A share's call that meets the lease promoted meanwhile answers "not held": the
    /// watchdog tells that from a loss by the change counter ([`LeaseState::changed_since`]).
    pub fn own_keys(&self, kind: Kind) -> Vec<&[u8]> {
        let keys = self.keys.all();
        match kind {
            Kind::Exclusive => keys[..3].to_vec(),
            Kind::Shared | Kind::Permit => vec![keys[0], keys[5]],
        }
    }

    /// The permit count as text, the argument a permit's scripts take.
    pub fn permits_arg(&self) -> String {
        self.permits.to_string()
    }
}

impl LeaseState {
    /// The state of a lease this process has just acquired (or restored): held.
    pub fn new(grant: Grant) -> LeaseState {
        LeaseState {
            kind: AtomicU8::new(kind_code(grant.kind)),
            fence: AtomicI64::new(grant.fence),
            changes: AtomicU64::new(0),
            grant,
            acquired_at: Instant::now(),
            owner_pid: crate::lock::net::pid::current(),
            status: AtomicU8::new(Status::Held as u8),
            at_risk: AtomicBool::new(false),
        }
    }

    /// True when the last renewal of this lease (by the watchdog or `extend`) reached fewer
    /// replicas than the `replicas` option asks for: the master holds the lock with its new
    /// TTL, but a replica promoted by a failover now may have only the older, shorter one.
    /// Cleared by the next renewal that is acknowledged. Always false without `replicas`.
    pub fn is_at_risk(&self) -> bool {
        self.at_risk.load(Ordering::Acquire)
    }

    /// Records whether the last renewal was acknowledged by enough replicas.
    pub fn set_at_risk(&self, at_risk: bool) {
        self.at_risk.store(at_risk, Ordering::Release);
    }

    /// The current status.
    pub fn status(&self) -> Status {
        match self.status.load(Ordering::Acquire) {
            0 => Status::Held,
            1 => Status::Released,
            2 => Status::Lost,
            3 => Status::Detached,
            _ => Status::Abandoned,
        }
    }

    /// Moves from `Held` to `to`; false if the lease was no longer `Held`.
    pub fn leave_held(&self, to: Status) -> bool {
        self.status
            .compare_exchange(
                Status::Held as u8,
                to as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// True in the process that acquired the lease.
    pub fn is_owner_process(&self) -> bool {
        crate::lock::net::pid::current() == self.owner_pid
    }

    /// The owner's token.
    pub fn token(&self) -> &[u8] {
        &self.grant.token
    }

    /// The fencing token (0 while shared).
    pub fn fence(&self) -> i64 {
        self.fence.load(Ordering::Acquire)
    }

    /// The lease's current kind.
    pub fn kind(&self) -> Kind {
        match self.kind.load(Ordering::Acquire) {
            1 => Kind::Shared,
            2 => Kind::Permit,
            _ => Kind::Exclusive,
        }
    }

    /// The arguments of [`EXTEND_SCRIPT`] for this lease: token, TTL (ms, as text), and for a
    /// permit its count (`permits`, [`Grant::permits_arg`]), which the semaphore's key keeps.
    pub fn extend_args<'a>(&'a self, ttl: &'a [u8], permits: &'a [u8]) -> Vec<&'a [u8]> {
        let mut args = vec![self.token(), ttl];
        if self.is_permit() {
            args.push(permits);
        }
        args
    }

    /// True for a semaphore permit.
    pub fn is_permit(&self) -> bool {
        self.kind() == Kind::Permit
    }

    /// `Err(Unsupported)` for a permit: it has no write or read side to change to.
    fn not_a_permit(&self, what: &str) -> Result<()> {
        if self.is_permit() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{what}: a semaphore permit (\"{}\") is neither a read nor a write lease; \
                     only lockShared() and lock() leases can {what}",
                    quote_key(&self.grant.key)
                ),
            ));
        }
        Ok(())
    }

    /// The quorum this lease's lock is held on, if it is one ([`crate::lock::quorum`]): its
    /// extend, owner state and release then go to a majority.
    pub fn quorum(&self) -> Option<&Quorum> {
        self.grant.client.topology().as_quorum()
    }

    /// True while this is a shared (read) lease.
    pub fn is_shared(&self) -> bool {
        self.kind() == Kind::Shared
    }

    /// The kind-change counter (see [`LeaseState::changes`]): a renewal built when it read `c`
    /// that finds the lease gone is not proof of loss unless `c` was even (no change in flight)
    /// and it still reads `c` afterwards ([`LeaseState::changed_since`]).
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Tests: runs `during` as if a kind change (promote, demote) were in flight, its script run
    /// on Redis but its reply not yet handled: the change counter is odd meanwhile.
    #[cfg(test)]
    pub(crate) fn with_kind_change_in_flight<T>(&self, during: impl FnOnce() -> T) -> T {
        self.changes.fetch_add(1, Ordering::AcqRel);
        let out = during();
        self.changes.fetch_add(1, Ordering::AcqRel);
        out
    }

    /// True if a renewal built when [`LeaseState::changes`] read `seen` may have met the lease
    /// in another kind: a change was in flight then (`seen` odd: its script may have run before
    /// the renewal, its reply not yet handled), or one began since.
    pub fn changed_since(&self, seen: u64) -> bool {
        seen % 2 == 1 || self.changes() != seen
    }

    fn become_kind(&self, kind: Kind, fence: i64) {
        self.fence.store(fence, Ordering::Release);
        self.kind.store(kind_code(kind), Ordering::Release);
    }

    /// Read → write: turns this shared lease into the exclusive one (with a fresh fence and
    /// its remaining TTL) once its share is the only one, waiting up to `wait` for the other
    /// readers to leave (no reader enters meanwhile; see [`crate::lock::scripts::shared`]).
    /// False if other readers still held shares when the wait ended (it is still a shared
    /// lease then). For a lease that is already exclusive: whether it is still held. False
    /// (strict mode: `Err(Lost)`) if the lease was lost.
    pub fn promote(&self, wait: Duration) -> Result<bool> {
        self.not_a_permit("promote")?;
        match self.status() {
            Status::Held => {}
            Status::Lost => return self.lost("promote"),
            _ => return Ok(false),
        }
        if !self.is_shared() {
            return self.still_held("promote");
        }
        let deadline = Instant::now() + wait;
        let grant = &self.grant;
        let all = grant.keys.all();
        let window = if wait.is_zero() {
            "0".to_owned()
        } else {
            ALIVE_WINDOW.as_millis().to_string()
        };
        let claim = claim_window_arg();
        let args: [&[u8]; 4] = [
            self.token(),
            window.as_bytes(),
            &grant.keys.wake_prefix,
            claim.as_bytes(),
        ];
        let attempt = || {
            grant
                .client
                .run(Route::Slot(grant.keys.slot), |conn| {
                    PROMOTE_SCRIPT.run(conn, Keys::List(&all), &args, ints_reply)
                })
                .map_err(|e| e.context("promote"))
        };
        self.changes.fetch_add(1, Ordering::AcqRel);
        let outcome = loop {
            match attempt() {
                Ok(Some(reply)) => match reply.as_slice() {
                    [1, fence] => break Ok(Some(*fence)),
                    [-1] => break Ok(None),
                    [0] if Instant::now() < deadline => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        std::thread::sleep(left.min(Duration::from_millis(20)));
                    }
                    [0] => break Ok(Some(0)),
                    _ => break Err(unexpected("promote")),
                },
                Ok(None) => break Err(unexpected("promote")),
                Err(e) => break Err(e),
            }
        };
        let leave = || {
            if !wait.is_zero() {
                let args: [&[u8]; 3] = [self.token(), &grant.keys.wake_prefix, claim.as_bytes()];
                let _ = grant.client.run(Route::Slot(grant.keys.slot), |conn| {
                    PROMOTE_CANCEL_SCRIPT.run(conn, Keys::List(&all), &args, int_reply)
                });
            }
        };
        if let Ok(Some(fence)) = outcome
            && fence != 0
        {
            self.become_kind(Kind::Exclusive, fence);
        }
        self.changes.fetch_add(1, Ordering::AcqRel);
        match outcome {
            Ok(Some(0)) => {
                leave();
                Ok(false)
            }
            Ok(Some(_)) => Ok(true),
            Ok(None) => {
                self.leave_held(Status::Lost);
                self.lost("promote")
            }
            Err(e) => {
                leave();
                Err(e)
            }
        }
    }

    /// Write → read: turns this exclusive lease into a shared one (with the lock's remaining
    /// TTL), letting in the readers queued at the head. For a lease that is already shared:
    /// whether it is still held. False (strict mode: `Err(Lost)`) if the lease was lost.
    pub fn demote(&self) -> Result<bool> {
        self.not_a_permit("demote")?;
        match self.status() {
            Status::Held => {}
            Status::Lost => return self.lost("demote"),
            _ => return Ok(false),
        }
        if self.is_shared() {
            return self.still_held("demote");
        }
        if self.quorum().is_some() {
            return Err(crate::lock::quorum::unsupported(
                "demote: shared leases are not available on a quorum",
            ));
        }
        let grant = &self.grant;
        let all = grant.keys.all();
        let claim = claim_window_arg();
        let args: [&[u8]; 3] = [self.token(), &grant.keys.wake_prefix, claim.as_bytes()];
        self.changes.fetch_add(1, Ordering::AcqRel);
        let demoted = grant
            .client
            .run(Route::Slot(grant.keys.slot), |conn| {
                DEMOTE_SCRIPT.run(conn, Keys::List(&all), &args, int_reply)
            })
            .map_err(|e| e.context("demote"))
            .and_then(|r| r.ok_or_else(|| unexpected("demote")));
        // On an error the outcome is unknown: the lease stays exclusive here; a renewal that
        // then finds nothing marks it lost, and its TTL bounds either way.
        if demoted.as_ref().is_ok_and(|&n| n == 1) {
            self.become_kind(Kind::Shared, 0);
        }
        self.changes.fetch_add(1, Ordering::AcqRel);
        if demoted? == 1 {
            Ok(true)
        } else {
            self.leave_held(Status::Lost);
            self.lost("demote")
        }
    }

    /// False for a lease known to be gone; `Err(Lost)` instead in strict mode.
    fn lost(&self, what: &str) -> Result<bool> {
        if self.grant.config.strict {
            Err(Error::new(
                ErrorKind::Lost,
                format!(
                    "{what}: the lease on \"{}\" was lost (its lock expired or was taken over)",
                    quote_key(&self.grant.key)
                ),
            ))
        } else {
            Ok(false)
        }
    }

    /// Sets the lock's TTL to `ttl_ms` if this lease still holds it (owner-checked, atomic).
    /// Returns false (strict mode: `Err(Lost)`) if the lease was lost; someone else's lock is
    /// never touched. With the `replicas` option, an extension acknowledged by fewer replicas
    /// is an `Err(Replication)`: the lease is still held (with its new TTL on the master) and
    /// now [at risk](LeaseState::is_at_risk).
    pub fn extend(&self, ttl_ms: u64) -> Result<bool> {
        match self.status() {
            Status::Held => {}
            Status::Lost => return self.lost("extend"),
            _ => return Ok(false),
        }
        let (held, acked) = extend(&self.grant.client, self, ttl_ms)?;
        if !held && self.leave_held(Status::Lost) {
            return self.lost("extend");
        }
        if let (true, Some(ack)) = (held, &self.grant.replicas) {
            let checked = ack.check(
                acked.unwrap_or(Ok(0)),
                &self.grant.key,
                "the lease is still held with its new TTL, but at risk: a failover now could \
                 lose the extension",
            );
            self.set_at_risk(checked.is_err());
            checked.map_err(|e| e.context("extend"))?;
        }
        Ok(held)
    }

    /// Asks Redis whether this lease still holds its lock: `Some(remaining TTL)` if so.
    fn owner_state(&self) -> Result<Option<Duration>> {
        if self.status() != Status::Held {
            return Ok(None);
        }
        if let Some(quorum) = self.quorum() {
            let state = quorum
                .lease_owner_state(self.grant.client.timeouts(), self)
                .map_err(|e| e.context("isHeld"))?;
            if state.is_none() {
                self.leave_held(Status::Lost);
            }
            return Ok(state);
        }
        let keys = self.grant.own_keys(self.kind());
        let reply = self
            .grant
            .client
            .run(Route::Slot(self.grant.keys.slot), |conn| {
                OWNER_STATE_SCRIPT.run(conn, Keys::List(&keys), &[self.token(), b"0"], ints_reply)
            })
            .map_err(|e| e.context("isHeld"))?;
        match reply.as_deref() {
            Some([pttl, _, ..]) if *pttl >= 0 => Ok(Some(Duration::from_millis(*pttl as u64))),
            Some([-1, _, ..]) => Ok(Some(Duration::MAX)),
            Some(_) => {
                self.leave_held(Status::Lost);
                Ok(None)
            }
            None => Err(unexpected("isHeld")),
        }
    }

    /// [`LeaseState::is_held`], as the answer of an operation that had nothing to change: false
    /// (strict mode: `Err(Lost)`) if the lease is gone.
    fn still_held(&self, what: &str) -> Result<bool> {
        if self.is_held()? {
            Ok(true)
        } else if self.status() == Status::Lost {
            self.lost(what)
        } else {
            Ok(false)
        }
    }

    /// True if this lease still holds its lock (asks Redis).
    pub fn is_held(&self) -> Result<bool> {
        Ok(self.owner_state()?.is_some())
    }

    /// Seconds the lock has left (asks Redis); 0 when no longer held.
    pub fn remaining(&self) -> Result<f64> {
        Ok(self.owner_state()?.map_or(0.0, |d| d.as_secs_f64()))
    }

    /// Releases the lock if this lease still holds it, handing it straight to the next waiter.
    /// Returns false (strict mode: `Err(Lost)`) if the lease was already lost.
    pub fn release(&self) -> Result<bool> {
        match self.status() {
            Status::Held => {}
            Status::Lost => return self.lost("release"),
            _ => return Ok(false),
        }
        let released = release(self)?;
        if released {
            self.leave_held(Status::Released);
            Ok(true)
        } else if self.leave_held(Status::Lost) {
            self.lost("release")
        } else {
            Ok(false)
        }
    }

    /// Stops this process from renewing or releasing the lease (it stays held until its TTL),
    /// so that another process can take it over with `restore(key, token)`. Returns the token.
    pub fn detach(&self) -> &[u8] {
        self.leave_held(Status::Detached);
        &self.grant.token
    }

    /// The keys and arguments of the release script for this lease, with the claim window
    /// (ms, as text) it hands over with.
    /// (`permits`: [`Grant::permits_arg`], used by a permit's call only.)
    pub(super) fn release_call<'a>(&'a self, claim: &'a [u8], permits: &'a [u8]) -> Call<'a> {
        let mut args = vec![self.token(), &self.grant.keys.wake_prefix, claim];
        match self.kind() {
            Kind::Exclusive => {}
            Kind::Shared => args.push(b"shared"),
            Kind::Permit => args.extend([&b"permit"[..], permits]),
        }
        (self.grant.keys.all().to_vec(), args)
    }
}

/// The code of `kind` in [`LeaseState::kind`].
fn kind_code(kind: Kind) -> u8 {
    match kind {
        Kind::Exclusive => 0,
        Kind::Shared => 1,
        Kind::Permit => 2,
    }
}

/// Releases `state` if this process owns it and it is still held; errors are ignored (the TTL
/// is the safety net) and the lease is then not tried again. Used when a lease is dropped.
///
/// When such a release fails for want of an answer (timeout, lost connection), the connection's
/// *breaker* opens for one read timeout: further quiet releases on it give up at once (their
/// leases are abandoned to their TTLs) instead of each waiting a whole timeout. PHP frees the
/// leases of a request one by one (globals before the request-end hook, locals as an uncaught
/// exception unwinds), so without it a stalled Redis would cost a timeout per lease.
pub fn release_quietly(state: &LeaseState) {
    if !state.is_owner_process() || state.status() != Status::Held {
        return;
    }
    let client = &state.grant.client;
    if breaker_is_open(client, Route::Slot(state.grant.keys.slot)) {
        state.leave_held(Status::Abandoned);
        return;
    }
    let to = match release(state) {
        Ok(true) => Status::Released,
        Ok(false) => Status::Lost,
        Err(e) => {
            if e.is_timeout() || e.is_connection() {
                open_breaker(client, Route::Slot(state.grant.keys.slot));
            }
            Status::Abandoned
        }
    };
    state.leave_held(to);
}

thread_local! {
    /// The connection whose quiet releases fail fast, and until when.
    static BREAKER: std::cell::Cell<Option<(*const (), Instant)>> = const { std::cell::Cell::new(None) };
}

/// True while quiet releases on `client`'s connection give up at once (see
/// [`release_quietly`]).
pub fn breaker_is_open(client: &Client, route: Route<'_>) -> bool {
    BREAKER
        .get()
        .is_some_and(|(id, until)| id == client.connection_id(route) && Instant::now() < until)
}

/// Opens the breaker of `client`'s connection for one read timeout.
pub fn open_breaker(client: &Client, route: Route<'_>) {
    BREAKER.set(Some((
        client.connection_id(route),
        Instant::now() + client.timeouts().read,
    )));
}

/// The release script for `state`'s lock. A release resent after a broken connection proves
/// only a success (a `false` then may mean the first one released it). Never waits for
/// replicas (see [`crate::lock::replicas`]).
pub(super) fn release(state: &LeaseState) -> Result<bool> {
    let grant = &state.grant;
    if let Some(quorum) = state.quorum() {
        return quorum.lease_release(grant.client.timeouts(), state);
    }
    if grant.unsure {
        let resend = Resend::ProvesOnly(|&released| released, "release");
        return abandon(
            &grant.client,
            &grant.keys,
            &grant.token,
            grant.ttl,
            state.kind(),
            grant.permits,
            resend,
        )
        .map_err(|e| e.context("release"));
    }
    let claim = claim_window_arg();
    let permits = grant.permits_arg();
    let (keys, args) = state.release_call(claim.as_bytes(), permits.as_bytes());
    grant
        .client
        .run_once(
            Route::Slot(grant.keys.slot),
            Resend::ProvesOnly(|&released| released, "release"),
            |conn| {
                LEASE_RELEASE_SCRIPT
                    .run(conn, Keys::List(&keys), &args, int_reply)?
                    .map(|n| n == 1)
                    .ok_or_else(|| unexpected("release"))
            },
        )
        .map_err(|e| e.context("release"))
}

/// `states` grouped by the connection that serves each one's slot, each group with its client:
/// what one pipeline can release together.
pub(super) fn by_connection<S: AsRef<LeaseState>>(
    states: impl IntoIterator<Item = S>,
) -> Vec<(Client, Vec<S>)> {
    let mut groups: HashMap<*const (), (Client, Vec<S>)> = HashMap::new();
    for state in states {
        let grant = &state.as_ref().grant;
        groups
            .entry(grant.client.connection_id(Route::Slot(grant.keys.slot)))
            .or_insert_with(|| (grant.client.clone(), Vec::new()))
            .1
            .push(state);
    }
    groups.into_values().collect()
}

/// The claim window argument of the release script, as text.
pub(super) fn claim_window_arg() -> String {
    CLAIM_WINDOW.as_millis().to_string()
}

/// Owner-checked PEXPIRE of `state`'s lock (and its fence) to `ttl_ms`, over `client`, with
/// a `WAIT` in the same write when the lease asks for replicas. Returns whether it still held
/// the lock, and WAIT's outcome (see [`ReplicaAck::read`]).
pub fn extend(client: &Client, state: &LeaseState, ttl_ms: u64) -> Result<(bool, Acked)> {
    if let Some(quorum) = client.topology().as_quorum() {
        return quorum
            .lease_extend(client.timeouts(), state, ttl_ms)
            .map(|held| (held, None));
    }
    let mut digits = [0u8; 20];
    let ttl = resp::decimal(&mut digits, ttl_ms);
    let keys = state.grant.own_keys(state.kind());
    let permits = state.grant.permits_arg();
    let args = state.extend_args(ttl, permits.as_bytes());
    let (reply, acked) = client
        .run(Route::Slot(state.grant.keys.slot), |conn| {
            EXTEND_SCRIPT.run_acked(
                conn,
                Keys::List(&keys),
                &args,
                state.grant.replicas.as_ref(),
                int_reply,
            )
        })
        .map_err(|e| e.context("extend"))?;
    let held = reply.map(|n| n == 1).ok_or_else(|| unexpected("extend"))?;
    Ok((held, acked))
}

pub(super) fn unexpected(what: &'static str) -> Error {
    Error::new(ErrorKind::Protocol, "unexpected reply type from a script").context(what)
}

/// Runs [`LEASE_ABANDON`](crate::lock::scripts::lease::LEASE_ABANDON) for `token` (by EVAL: it may sit
/// in a stalled server's socket): a tombstone, out of the queue, and the lock passed on if it is
/// `token`'s. True if it was. Also the release of a lease whose wait had unanswered commands
/// (then a resend after a broken connection proves only a `true`: `resend`).
pub fn abandon(
    client: &Client,
    keys: &LockKeys,
    token: &[u8],
    ttl: Duration,
    kind: Kind,
    permits: u32,
    resend: Resend<bool>,
) -> Result<bool> {
    let (mut ttl_digits, mut gone_digits, mut claim_digits) = ([0u8; 20], [0u8; 20], [0u8; 20]);
    let ttl_ms = resp::decimal(&mut ttl_digits, ttl.as_millis() as u64);
    let gone_ms = resp::decimal(&mut gone_digits, TOMBSTONE.as_millis() as u64);
    let claim_ms = resp::decimal(&mut claim_digits, CLAIM_WINDOW.as_millis() as u64);
    let all = keys.all();
    let mut args: Vec<&[u8]> = vec![
        token,
        ttl_ms,
        &keys.wake_prefix,
        &keys.gone_prefix,
        gone_ms,
        claim_ms,
    ];
    let permits = permits.to_string();
    match kind {
        Kind::Exclusive => {}
        Kind::Shared => args.push(b"shared"),
        Kind::Permit => args.extend([&b"permit"[..], permits.as_bytes()]),
    }
    client
        .run_once(Route::Slot(keys.slot), resend, |conn| {
            LEASE_ABANDON_SCRIPT
                .run_by_body(conn, Keys::List(&all), &args, int_reply)?
                .map(|n| n == 1)
                .ok_or_else(|| unexpected("lock"))
        })
        .map_err(|e| e.context("lock"))
}
