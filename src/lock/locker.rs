//! The documents' API: `acquire`, `retry_acquire`, `release`, on a shared connection.
//!
//! Why each problem the source documents raise cannot happen here:
//! - Deadlock when a holder dies: every lock is set with a TTL in the same command that takes
//!   it (`SET ... NX PX`), so there is no moment where a key exists without an expiry.
//! - Contenders refreshing the holder's TTL (document 000's MULTI version): a failed `SET NX`
//!   changes nothing; the refresh in [`crate::lock::scripts::documents::ACQUIRE`] runs only for the holder's own value.
//! - Deleting someone else's lock: release is an atomic compare-and-delete in Lua.
//! - The GETSET takeover race (document 003): expiry is Redis's TTL, not a timestamp clients
//!   compare, so a takeover is just `SET NX` on a missing key, which exactly one client wins.
//! - A lost reply: `SET key value NX GET` returns the current value when the key exists, so
//!   repeating an acquire with the same value recognises the caller's own lock and reports true.

use std::sync::Arc;
use std::time::Duration;

use crate::lock::error::{Error, Result};
use crate::lock::keys::{
    check_lock_name, check_prefix, check_value, fence_key_parts, slot_of, slot_tag,
};
use crate::lock::memory::with_joined;
use crate::lock::net::connection::Timeouts;
use crate::lock::net::registry::Resend;
use crate::lock::options::{Config, LeaseConfig, php_float};
use crate::lock::protocol::resp::{self, Reply};
use crate::lock::quorum::Quorum;
use crate::lock::quorum::lease::jitter as quorum_jitter;
use crate::lock::replicas::{self, Acked, ReplicaAck};
use crate::lock::scripts::documents::{ACQUIRE_SCRIPT, RELEASE_SCRIPT};
use crate::lock::scripts::{Keys, int_reply};
use crate::lock::topology::{Client, Route, Topology};

/// Largest TTL accepted, in milliseconds (about 31.7 years): beyond this Redis's own expiry
/// arithmetic is at risk and the value is certainly a unit mistake.
pub const MAX_TTL_MS: u64 = 1_000_000_000_000;

/// A lock client: a shared connection plus a key prefix.
#[derive(Clone)]
pub struct Locker {
    client: Client,
    prefix: Vec<u8>,
    masked_dsn: String,
    lease: LeaseConfig,
    replicas: Option<ReplicaAck>,
}

/// Converts a TTL in seconds (fractions allowed) to whole milliseconds.
///
/// Errors when the TTL is not finite, not positive, under 1 ms, or over [`MAX_TTL_MS`].
pub fn ttl_ms(seconds: f64, name: &str) -> Result<u64> {
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(Error::invalid(format!(
            "{name} must be a finite number of seconds greater than 0, {} given",
            php_float(seconds)
        )));
    }
    let ms = (seconds * 1000.0).round();
    if seconds * 1000.0 < 1.0 {
        return Err(Error::invalid(format!(
            "{name} must be at least 0.001 seconds (1 ms), {seconds} given"
        )));
    }
    if ms > MAX_TTL_MS as f64 {
        return Err(Error::invalid(format!(
            "{name} must be at most {} seconds, {seconds} given",
            MAX_TTL_MS / 1000
        )));
    }
    Ok(ms as u64)
}

/// Converts a wait in seconds (0 allowed) to a `Duration`.
pub fn wait_duration(seconds: f64, name: &str) -> Result<Duration> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(Error::invalid(format!(
            "{name} must be a finite number of seconds, 0 or greater, {} given",
            php_float(seconds)
        )));
    }
    if seconds > (MAX_TTL_MS / 1000) as f64 {
        return Err(Error::invalid(format!(
            "{name} must be at most {} seconds, {seconds} given",
            MAX_TTL_MS / 1000
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `Err(InvalidArgument)` when `bytes` is empty.
pub fn check_nonempty(bytes: &[u8], name: &str) -> Result<()> {
    if bytes.is_empty() {
        Err(Error::invalid(format!("{name} must not be empty")))
    } else {
        Ok(())
    }
}

impl Locker {
    /// A locker for `config`. Shares the connection of every other locker of the same server
    /// (address, credentials, database); does no I/O. Errors if the prefix is reserved.
    pub fn new(config: Config) -> Result<Locker> {
        Locker::with_topology(Locker::topology(&config, false), config)
    }

    /// A locker with a connection of its own (not shared with other lockers). No I/O.
    pub fn unshared(config: Config) -> Result<Locker> {
        Locker::with_topology(Locker::topology(&config, true), config)
    }

    /// The deployment `config` describes: a quorum of its members, or its one endpoint.
    fn topology(config: &Config, private: bool) -> Topology {
        if config.members.is_empty() {
            Topology::for_endpoint(&config.endpoint, private)
        } else {
            Topology::quorum(&config.members, private)
        }
    }

    /// The quorum this locker runs on, if it is one ([`crate::lock::quorum`]).
    pub fn quorum(&self) -> Option<&Quorum> {
        self.client.topology().as_quorum()
    }

    fn with_topology(topology: Topology, config: Config) -> Result<Locker> {
        check_prefix(&config.prefix)?;
        Ok(Locker {
            client: Client::new(Arc::new(topology), Timeouts::of(&config.endpoint)),
            prefix: config.prefix,
            masked_dsn: config.masked_dsn,
            lease: config.lease,
            replicas: config.replicas,
        })
    }

    /// The connection and this locker's timeouts.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The DSN it was built from, user name and password masked.
    pub fn masked_dsn(&self) -> &str {
        &self.masked_dsn
    }

    /// The lease options.
    pub fn lease_config(&self) -> LeaseConfig {
        self.lease
    }

    /// How many replicas must acknowledge each write that grants or extends a lock (`None`:
    /// none need to).
    pub fn replica_ack(&self) -> Option<&ReplicaAck> {
        self.replicas.as_ref()
    }

    /// The key prefix.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// Takes the lock `key` for `value` with a TTL of `ttl_seconds`, in one round trip.
    ///
    /// Returns true if `value` holds the lock afterwards: newly taken, or already held by
    /// `value` (then its TTL is reset to `ttl_seconds`). Returns false if another value holds
    /// it; that lock and its TTL are left untouched.
    pub fn acquire(&self, key: &[u8], value: &[u8], ttl_seconds: f64) -> Result<bool> {
        check_lock_name(&self.prefix, key)?;
        check_value(value, "value")?;
        let ms = ttl_ms(ttl_seconds, "expireTime")?;
        self.acquire_ms(key, value, ms)
    }

    fn acquire_ms(&self, key: &[u8], value: &[u8], ms: u64) -> Result<bool> {
        let topology = self.client.topology();
        if let Some(quorum) = topology.as_quorum() {
            return quorum.acquire(
                self.client.timeouts(),
                &self.prefix,
                key,
                value,
                ms,
                "acquire",
            );
        }
        if topology.has_direct()
            && let Some(direct) = with_joined(&[&self.prefix, key], |full| {
                topology.direct_acquire(full, value, ms)
            })
        {
            return direct.map_err(|e| e.context("acquire"));
        }
        let mut ms_buf = [0u8; 20];
        let ms_text = resp::decimal(&mut ms_buf, ms);
        let route = Route::Key(&self.prefix, key);
        let ack = self.replicas.as_ref();
        // WAIT's outcome, kept beside the reply (a smaller reply keeps the hot path lean).
        let mut acked: Acked = None;
        let held = self
            .client
            .run(route, |conn| {
                acked = None;
                if !topology.legacy_set(route) {
                    let buf = conn.command_buffer();
                    resp::raw(buf, b"*7\r\n$3\r\nSET\r\n");
                    resp::arg2(buf, &self.prefix, key);
                    resp::arg(buf, value);
                    resp::raw(buf, b"$2\r\nNX\r\n$3\r\nGET\r\n$2\r\nPX\r\n");
                    resp::arg(buf, ms_text);
                    if let Some(ack) = ack {
                        ack.pipelined(conn);
                    }
                    conn.send()?;
                    let outcome = conn.read_reply(|reply| match reply {
                        Reply::Nil => SetOutcome::Taken,
                        Reply::Bulk(current) if current == value => SetOutcome::Ours,
                        Reply::Bulk(_) => SetOutcome::Busy,
                        _ => SetOutcome::Unexpected,
                    });
                    // WAIT's reply follows whatever SET's says, unless the connection failed.
                    let wait = match &outcome {
                        Err(e) if !e.is_server() => None,
                        _ => replicas::read_if(ack, conn)?,
                    };
                    match outcome {
                        Ok(SetOutcome::Taken) => {
                            acked = wait;
                            return Ok(true);
                        }
                        Ok(SetOutcome::Busy) => return Ok(false),
                        // SET wrote nothing: the script below refreshes the TTL (and WAITs).
                        Ok(SetOutcome::Ours) => {}
                        Ok(SetOutcome::Unexpected) => return Err(unexpected("SET")),
                        Err(e) if e.is_server_code("ERR") && e.message().contains("syntax") => {
                            // Redis < 7.0 cannot combine NX and GET: use the script from now on.
                            topology.set_legacy_set(route);
                        }
                        Err(e) => return Err(e),
                    }
                }
                let (reply, wait) = ACQUIRE_SCRIPT.run_acked(
                    conn,
                    Keys::One(&self.prefix, key),
                    &[value, ms_text],
                    ack,
                    int_reply,
                )?;
                acked = wait;
                reply
                    .map(|n| n == 1)
                    .ok_or_else(|| unexpected("the acquire script"))
            })
            .map_err(|e| e.context("acquire"))?;
        if let (true, Some(ack)) = (held, ack) {
            ack.settle_grant(acked.unwrap_or(Ok(0)), key, || self.release(key, value))
                .map_err(|e| e.context("acquire"))?;
        }
        Ok(held)
    }

    /// Tries [`Locker::acquire`] up to `1 + max_retries` times, sleeping `retry_interval`
    /// seconds between attempts (never after the last).
    ///
    /// Errors (before any I/O) when `retry_interval * max_retries` exceeds `ttl_seconds`, as the
    /// source document requires.
    pub fn retry_acquire(
        &self,
        key: &[u8],
        value: &[u8],
        ttl_seconds: f64,
        max_retries: i64,
        retry_interval: f64,
    ) -> Result<bool> {
        check_lock_name(&self.prefix, key)?;
        check_value(value, "value")?;
        let ms = ttl_ms(ttl_seconds, "expireTime")?;
        if max_retries < 0 {
            return Err(Error::invalid(format!(
                "maxRetries must be 0 or greater, {max_retries} given"
            )));
        }
        let interval = wait_duration(retry_interval, "retryInterval")?;
        // Compared in whole milliseconds, as Redis counts: 0.1 × 3 is not more than 0.3.
        let interval_ms = (retry_interval * 1000.0).round() as u128;
        let total_ms = interval_ms * max_retries as u128;
        if total_ms > u128::from(ms) {
            return Err(Error::invalid(format!(
                "retryInterval × maxRetries ({} s) must not exceed expireTime ({} s)",
                total_ms as f64 / 1000.0,
                ms as f64 / 1000.0
            )));
        }
        let mut attempt = 0;
        loop {
            if self.acquire_ms(key, value, ms)? {
                return Ok(true);
            }
            if attempt == max_retries {
                return Ok(false);
            }
            attempt += 1;
            // On a quorum, a random part of the interval (up to half) is left out, so that
            // contenders that split the members apart do not collide again in step.
            let pause = match self.quorum() {
                Some(_) => {
                    interval.mul_f64(1.0 - (quorum_jitter().as_millis() % 51) as f64 / 100.0)
                }
                None => interval,
            };
            std::thread::sleep(pause);
        }
    }

    /// Deletes the lock `key` if and only if `value` holds it (atomic compare-and-delete).
    ///
    /// Returns true if `value` held the lock and it is now deleted; false if the lock had
    /// expired or belongs to another value (which stays untouched).
    pub fn release(&self, key: &[u8], value: &[u8]) -> Result<bool> {
        check_lock_name(&self.prefix, key)?;
        check_value(value, "value")?;
        if let Some(quorum) = self.quorum() {
            return quorum.release(self.client.timeouts(), &self.prefix, key, value);
        }
        let slot = slot_of(&self.prefix, key);
        let tag = slot_tag(slot);
        let topology = self.client.topology();
        if topology.has_direct()
            && let Some(direct) = with_joined(&[&self.prefix, key], |full| {
                with_joined(&fence_key_parts(&self.prefix, key, &tag), |fence| {
                    topology.direct_release(full, fence, value)
                })
            })
        {
            return direct.map_err(|e| e.context("release"));
        }
        self.client
            .run_once(
                Route::Slot(slot),
                Resend::ProvesOnly(|&released| released, "release"),
                |conn| {
                    let keys = Keys::LockAndFence(&self.prefix, key, &tag);
                    RELEASE_SCRIPT
                        .run(conn, keys, &[value], int_reply)?
                        .map(|n| n == 1)
                        .ok_or_else(|| unexpected("the release script"))
                },
            )
            .map_err(|e| e.context("release"))
    }
}

enum SetOutcome {
    Taken,
    Ours,
    Busy,
    Unexpected,
}

fn unexpected(what: &str) -> Error {
    Error::new(
        crate::lock::error::ErrorKind::Protocol,
        format!("unexpected reply type from {what}"),
    )
}

/// A fresh random token (UUID v4, 36 characters) to use as a lock value.
pub fn token() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}
