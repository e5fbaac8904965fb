//! Multi-key locks: [`Locker::lock_many`] takes several exclusive locks for one token, all or
//! none, and [`MultiLease`] holds them (one ordinary [`Lease`] per key).
//!
//! How (see [`crate::lock::scripts::many`] for the script and the deadlock argument):
//! - The keys are sorted by (hash slot, name): one global order for every caller.
//! - The topology cuts them into runs one script may touch
//!   ([`crate::lock::topology::Topology::atomic_groups`]); each run is taken by one call of
//!   [`LOCK_MANY_SCRIPT`], all or none, in one round trip. On a single server (Sentinel,
//!   `memory://`) that is every key at once.
//! - A run found busy: without a wait, everything taken so far is released and the caller gets
//!   `None` (all or nothing). With a wait, the run's keys are taken one by one, in order, with
//!   the ordinary fair wait ([`Locker::lock_as`], the same token), holding what is already
//!   taken; if the deadline passes first, everything is released and the caller gets `None`.
//!   A run whose script a server refused without running it (loading, busy, failing over, a
//!   Redis Cluster slot being migrated) is waited for the same way, which rides such failures
//!   out until the deadline.
//! - After such a wait, every lease is extended to the full TTL (a key taken early may have
//!   run down meanwhile, or expired: then everything is released and the whole acquisition
//!   starts again while the deadline allows), so all keys are held, each with its full TTL,
//!   when the caller gets the lease.
//! - Each key's lease is registered with the request registry and, without a TTL, with the
//!   watchdog, exactly like `lock()`'s; [`MultiLease::release`] releases them in one pipeline
//!   per connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result, quote_key};
use crate::lock::keys::{LockKeys, check_lock_name};
use crate::lock::lease::Lease;
use crate::lock::lease::state::{
    Grant, Kind, LeaseState, Status, abandon, by_connection, claim_window_arg, extend, unexpected,
};
use crate::lock::lease::waiting::is_transient;
use crate::lock::locker::{Locker, ttl_ms, wait_duration};
use crate::lock::net::registry::Resend;
use crate::lock::protocol::resp;
use crate::lock::replicas::Acked;
use crate::lock::scripts::lease::LEASE_RELEASE_SCRIPT;
use crate::lock::scripts::many::LOCK_MANY_SCRIPT;
use crate::lock::scripts::{Keys, int_reply, ints_reply};
use crate::lock::topology::Route;

/// The most keys one `lock_many` call takes.
pub const MAX_KEYS: usize = 64;

/// Several exclusive leases held by one token, taken together by [`Locker::lock_many`]. Each
/// key's lease is an ordinary [`Lease`] (its own fence, renewal, request-end release);
/// dropping this releases those still held (in the owning process only).
pub struct MultiLease {
    /// In the order the caller gave the keys.
    leases: Vec<Lease>,
}

/// One key of a `lock_many` call.
struct Entry<'k> {
    key: &'k [u8],
    keys: LockKeys,
    /// Its place in the caller's list.
    given: usize,
}

impl Locker {
    /// Takes the exclusive locks `keys` (1 to [`MAX_KEYS`] distinct names), all for one token,
    /// all or none, waiting up to `wait_seconds` (0: one attempt). `ttl_seconds` as in
    /// [`Locker::lock`] (`None`: watchdog leases). `None` if they were not all taken by the end
    /// of the wait; then none of them is held. See the module docs.
    pub fn lock_many(
        &self,
        keys: &[&[u8]],
        ttl_seconds: Option<f64>,
        wait_seconds: f64,
    ) -> Result<Option<MultiLease>> {
        if keys.is_empty() {
            return Err(Error::invalid("keys must not be empty"));
        }
        if keys.len() > MAX_KEYS {
            return Err(Error::invalid(format!(
                "keys must hold at most {MAX_KEYS} names, {} given",
                keys.len()
            )));
        }
        let mut entries = Vec::with_capacity(keys.len());
        for (given, key) in keys.iter().enumerate() {
            check_lock_name(self.prefix(), key)?;
            entries.push(Entry {
                key,
                keys: LockKeys::new(self.prefix(), key)?,
                given,
            });
        }
        entries.sort_by(|a, b| (a.keys.slot, a.key).cmp(&(b.keys.slot, b.key)));
        if let Some(pair) = entries.windows(2).find(|w| w[0].key == w[1].key) {
            return Err(Error::invalid(format!(
                "keys must be distinct: \"{}\" is given more than once",
                quote_key(pair[0].key)
            )));
        }
        let (ttl, watchdog) = match ttl_seconds {
            Some(seconds) => (Duration::from_millis(ttl_ms(seconds, "ttl")?), false),
            None => (self.lease_config().lease_ttl, true),
        };
        let wait = wait_duration(wait_seconds, "wait")?;
        if self.quorum().is_some() {
            return Err(crate::lock::quorum::unsupported(
                "lockMany: multi-key locks are not available on a quorum: taking several keys \
                 all or none in one script, with a fence per key, needs a single authority per \
                 key (a server, Sentinel's master or a Redis Cluster); lock the keys one by one \
                 with lock() in a fixed order instead",
            ));
        }
        let deadline = Instant::now() + wait;
        let token = crate::lock::token().into_bytes();
        let many = Many {
            locker: self,
            entries: &entries,
            token: &token,
            ttl,
            ttl_seconds,
            watchdog,
            deadline,
            wait: !wait.is_zero(),
        };
        loop {
            match many.attempt()? {
                Outcome::Held(mut held) => {
                    let mut ordered: Vec<Option<Lease>> =
                        (0..entries.len()).map(|_| None).collect();
                    for (entry, lease) in entries.iter().zip(held.drain(..)) {
                        ordered[entry.given] = Some(lease);
                    }
                    return Ok(Some(MultiLease {
                        leases: ordered.into_iter().flatten().collect(),
                    }));
                }
                Outcome::Busy => return Ok(None),
                Outcome::Again if Instant::now() < deadline => continue,
                Outcome::Again => return Ok(None),
            }
        }
    }
}

enum Outcome {
    /// Every key, in sorted order.
    Held(Vec<Lease>),
    /// Not all free by the deadline; nothing held.
    Busy,
    /// A key taken early was lost while waiting for a later one; nothing held.
    Again,
}

/// One `lock_many` call.
struct Many<'a> {
    locker: &'a Locker,
    entries: &'a [Entry<'a>],
    token: &'a [u8],
    ttl: Duration,
    ttl_seconds: Option<f64>,
    watchdog: bool,
    deadline: Instant,
    wait: bool,
}

impl Many<'_> {
    fn attempt(&self) -> Result<Outcome> {
        let slots: Vec<u16> = self.entries.iter().map(|e| e.keys.slot).collect();
        let groups = self.locker.client().topology().atomic_groups(&slots);
        let mut held: Vec<Lease> = Vec::with_capacity(self.entries.len());
        let mut waited = false;
        for group in groups {
            let entries = &self.entries[group];
            match self.grab(entries) {
                Ok((Some(fences), acked)) => {
                    let first = held.len();
                    for (entry, fence) in entries.iter().zip(fences) {
                        match self.adopt(entry, fence) {
                            Ok(lease) => held.push(lease),
                            Err(e) => {
                                give_up(&held);
                                return Err(e);
                            }
                        }
                    }
                    if let Some(ack) = self.locker.replica_ack()
                        && let Err(e) =
                            ack.settle_grant(acked.unwrap_or(Ok(0)), entries[0].key, || {
                                release_leases(&held[first..])
                            })
                    {
                        give_up(&held);
                        return Err(e.context("lockMany"));
                    }
                }
                Ok((None, _)) if !self.wait => {
                    give_up(&held);
                    return Ok(Outcome::Busy);
                }
                Ok((None, _)) => {
                    waited = true;
                    if let Err(outcome) = self.one_by_one(entries, &mut held)? {
                        return Ok(outcome);
                    }
                }
                Err(e)
                    if self.wait && !(e.is_timeout() || e.is_connection()) && is_transient(&e) =>
                {
                    // The script did not run (a server loading, busy, failing over, a slot
                    // being migrated): the ordinary wait below rides such failures out.
                    waited = true;
                    if let Err(e) = self.one_by_one(entries, &mut held)? {
                        return Ok(e);
                    }
                }
                Err(e) => {
                    if e.is_timeout() || e.is_connection() {
                        // The call may still run (a stalled server): make sure it takes nothing.
                        for entry in entries {
                            let _ = abandon(
                                self.locker.client(),
                                &entry.keys,
                                self.token,
                                self.ttl,
                                Kind::Exclusive,
                                0,
                                Resend::Safe,
                            );
                        }
                    }
                    give_up(&held);
                    return Err(e.context("lockMany"));
                }
            }
        }
        if waited && held.len() > 1 {
            // Keys taken early ran down while later ones were waited for: every key gets its
            // full TTL now, or, if one was lost meanwhile, the whole acquisition starts again.
            let ms = self.ttl.as_millis() as u64;
            for lease in &held {
                let still = extend(&lease.grant.client, lease, ms).map(|(held, _)| held);
                match still {
                    Ok(true) => {}
                    Ok(false) => {
                        lease.leave_held(Status::Lost);
                        give_up(&held);
                        return Ok(Outcome::Again);
                    }
                    Err(e) => {
                        give_up(&held);
                        return Err(e);
                    }
                }
            }
        }
        Ok(Outcome::Held(held))
    }

    /// Takes `entries` one by one, in order, with the ordinary fair wait, adding them to
    /// `held`. `Ok(Err(Busy))` (and `Err`) after releasing everything held, when one was not
    /// taken by the deadline (or the wait failed).
    fn one_by_one(
        &self,
        entries: &[Entry<'_>],
        held: &mut Vec<Lease>,
    ) -> Result<std::result::Result<(), Outcome>> {
        for entry in entries {
            let left = self.deadline.saturating_duration_since(Instant::now());
            let got = self.locker.lock_as(
                entry.key,
                Some(self.token),
                self.ttl_seconds,
                left.as_secs_f64(),
            );
            match got {
                Ok(Some(lease)) => held.push(lease),
                Ok(None) => {
                    give_up(held);
                    return Ok(Err(Outcome::Busy));
                }
                Err(e) => {
                    give_up(held);
                    return Err(e);
                }
            }
        }
        Ok(Ok(()))
    }

    /// One call of the script for `entries` (one run of the same connection, and on a Redis
    /// Cluster of the same slot): their fences if all are taken now, `None` if one is busy.
    fn grab(&self, entries: &[Entry<'_>]) -> Result<(Option<Vec<i64>>, Acked)> {
        let mut keys: Vec<&[u8]> = Vec::with_capacity(entries.len() * 6);
        for entry in entries {
            keys.extend(entry.keys.all());
        }
        let mut digits = [0u8; 20];
        let ttl_ms = resp::decimal(&mut digits, self.ttl.as_millis() as u64);
        let mut args: Vec<&[u8]> = Vec::with_capacity(entries.len() + 2);
        args.push(self.token);
        args.push(ttl_ms);
        args.extend(entries.iter().map(|e| e.keys.gone_prefix.as_slice()));
        let ack = self.locker.replica_ack();
        let (reply, acked) = self
            .locker
            .client()
            .run(Route::Slot(entries[0].keys.slot), |conn| {
                LOCK_MANY_SCRIPT.run_acked(conn, Keys::List(&keys), &args, ack, ints_reply)
            })?;
        match reply.as_deref() {
            Some([1, fences @ ..]) if fences.len() == entries.len() => {
                Ok((Some(fences.to_vec()), acked))
            }
            Some([0, _, _]) => Ok((None, acked)),
            _ => Err(unexpected("lockMany")),
        }
    }

    /// The lease on `entry`, just granted with `fence`, registered like `lock()`'s.
    fn adopt(&self, entry: &Entry<'_>, fence: i64) -> Result<Lease> {
        Lease::adopt(LeaseState::new(Grant {
            kind: Kind::Exclusive,
            key: entry.key.to_vec(),
            keys: entry.keys.clone(),
            token: self.token.to_vec(),
            fence,
            ttl: self.ttl,
            watchdog: self.watchdog,
            unsure: false,
            client: self.locker.client().clone(),
            config: self.locker.lease_config(),
            replicas: self.locker.replica_ack().copied(),
            permits: 0,
        }))
    }
}

/// Releases `held` on a way out without the multi-key lease; what a failure leaves held is
/// released one by one as the leases drop (or left to their TTL).
fn give_up(held: &[Lease]) {
    let _ = release_leases(held);
}

/// Releases those of `leases` this process holds, in one pipeline per connection (a lease
/// whose wait met a fault, or one a Redis Cluster redirect sends elsewhere, on its own).
/// Returns whether each was held (now released); `Err` if a connection failed (those leases
/// stay held, to be released on drop, at request end, or by their TTL).
fn release_leases(leases: &[Lease]) -> Result<bool> {
    let mut all = true;
    let mut sure: Vec<&Arc<LeaseState>> = Vec::with_capacity(leases.len());
    for lease in leases {
        let state = lease.state();
        if !state.is_owner_process() || state.status() != Status::Held {
            all = false;
            continue;
        }
        if state.grant.unsure {
            all &= state.release()?;
            continue;
        }
        sure.push(state);
    }
    let claim = claim_window_arg();
    let mut failure = None;
    for (client, states) in by_connection(sure) {
        let calls: Vec<_> = states
            .iter()
            .map(|s| s.release_call(claim.as_bytes(), b""))
            .collect();
        let deadline = Instant::now() + client.timeouts().read;
        let all_released = |results: &Vec<Result<bool>>| results.iter().all(|r| *r == Ok(true));
        let outcome = client.run_once(
            Route::Slot(states[0].grant.keys.slot),
            Resend::ProvesOnly(all_released, "release"),
            |conn| {
                let replies = LEASE_RELEASE_SCRIPT.run_many(conn, &calls, deadline, int_reply)?;
                Ok(replies
                    .into_iter()
                    .map(|reply| match reply {
                        Ok(Some(n)) => Ok(n == 1),
                        Ok(None) => Err(unexpected("release")),
                        Err(e) => Err(e),
                    })
                    .collect::<Vec<_>>())
            },
        );
        match outcome {
            Ok(results) => {
                for (state, result) in states.iter().zip(results) {
                    match result {
                        Ok(true) => {
                            state.leave_held(Status::Released);
                        }
                        Ok(false) => {
                            state.leave_held(Status::Lost);
                            all = false;
                        }
                        // A redirect (the slot moved): released on its own, which follows it.
                        Err(_) => all &= state.release()?,
                    }
                }
            }
            Err(e) => {
                failure.get_or_insert(e.context("release"));
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(all),
    }
}

impl MultiLease {
    /// The leases, one per key, in the order the keys were given.
    pub fn leases(&self) -> &[Lease] {
        &self.leases
    }

    /// The leases, one per key, in the order the keys were given, each on its own from now on
    /// (released when it is dropped, as any [`Lease`]).
    pub fn into_leases(mut self) -> Vec<Lease> {
        std::mem::take(&mut self.leases)
    }

    /// The keys, in the order they were given.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.leases.iter().map(|l| l.grant.key.as_slice())
    }

    /// The token every key is held with.
    pub fn token(&self) -> &[u8] {
        self.leases[0].token()
    }

    /// Each key with its fence, in the order the keys were given.
    pub fn fences(&self) -> impl Iterator<Item = (&[u8], i64)> {
        self.leases
            .iter()
            .map(|l| (l.grant.key.as_slice(), l.fence()))
    }

    /// True if a strict-mode lease reports a loss as an error.
    fn strict(&self) -> bool {
        self.leases[0].grant.config.strict
    }

    fn lost(&self, what: &str) -> Result<bool> {
        if self.strict() {
            let lost: Vec<String> = self
                .leases
                .iter()
                .filter(|l| l.status() == Status::Lost)
                .map(|l| format!("\"{}\"", quote_key(&l.grant.key)))
                .collect();
            Err(Error::new(
                ErrorKind::Lost,
                format!(
                    "{what}: the multi-key lease lost {} (expired or taken over)",
                    lost.join(", ")
                ),
            ))
        } else {
            Ok(false)
        }
    }

    /// Releases every key this lease still holds, in one pipeline per connection, each handed
    /// straight to its next waiter. True if it held all of them; false (strict mode:
    /// `Err(Lost)`) if one was lost; the others are released all the same.
    pub fn release(&self) -> Result<bool> {
        if self.leases.iter().all(|l| l.status() != Status::Held) {
            if self.leases.iter().any(|l| l.status() == Status::Lost) {
                return self.lost("release");
            }
            return Ok(false);
        }
        if release_leases(&self.leases)? {
            Ok(true)
        } else if self.leases.iter().any(|l| l.status() == Status::Lost) {
            self.lost("release")
        } else {
            Ok(false)
        }
    }

    /// Sets every key's TTL to `ttl_ms` (owner-checked). True if all are still held; false
    /// (strict mode: `Err(Lost)`) if one was lost (the others are extended all the same).
    /// With the `replicas` option, an extension acknowledged by too few replicas is an
    /// `Err(Replication)` (after every key was extended), as for a single lease.
    pub fn extend(&self, ttl_ms: u64) -> Result<bool> {
        let mut all = true;
        let mut replication = None;
        for lease in &self.leases {
            match lease.status() {
                Status::Held => {}
                Status::Lost => {
                    all = false;
                    continue;
                }
                _ => return Ok(false),
            }
            let (held, acked) = extend(&lease.grant.client, lease, ttl_ms)?;
            if !held {
                lease.leave_held(Status::Lost);
                all = false;
            } else if let Some(ack) = &lease.grant.replicas {
                // As `Lease::extend`: acknowledged by too few replicas, the key is at risk.
                let checked = ack.check(
                    acked.unwrap_or(Ok(0)),
                    &lease.grant.key,
                    "the lease is still held with its new TTL, but at risk: a failover now \
                     could lose the extension",
                );
                lease.set_at_risk(checked.is_err());
                if let Err(e) = checked {
                    replication.get_or_insert(e.context("extend"));
                }
            }
        }
        if let Some(e) = replication {
            return Err(e);
        }
        if all { Ok(true) } else { self.lost("extend") }
    }

    /// True if this lease still holds every key (asks Redis, key by key, stopping at the first
    /// that is not held).
    pub fn is_held(&self) -> Result<bool> {
        for lease in &self.leases {
            if !lease.is_held()? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Drop for MultiLease {
    fn drop(&mut self) {
        // One pipeline; whatever it leaves held is released one by one as the leases drop.
        let _ = release_leases(&self.leases);
    }
}
