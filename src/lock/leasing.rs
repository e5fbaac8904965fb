//! Taking leases: fair blocking acquisition, `restore`, and the operators' queries.
//!
//! Fair waiting (see [`super::lease_scripts`]): a waiter joins a per-key queue in arrival order
//! and blocks on its own wake list (BLPOP). A release hands the lock straight to the first
//! live waiter and pushes the new fence onto its wake list, so the lock passes in arrival
//! order with one round trip on each side and no sleeping. Waiters refresh a heartbeat every
//! [`HEARTBEAT`]; one that stops (killed, or gave up without cancelling) is skipped after
//! [`ALIVE_WINDOW`]. A waiter also wakes when the holder's TTL runs out, so a holder that dies
//! without releasing strands nobody.

use std::time::{Duration, Instant};

use super::error::{Error, ErrorKind, Result, quote_key};
use super::keys::LockKeys;
use super::lease::{Grant, Lease, unexpected};
use super::lease_scripts::{
    FORCE_RELEASE_SCRIPT, LEASE_ACQUIRE_SCRIPT, LEASE_CANCEL_SCRIPT, OWNER_STATE_SCRIPT,
};
use super::locker::{Locker, check_nonempty, ttl_ms, wait_duration};
use super::resp::{self, Reply};
use super::scripts::{Keys, LuaScript, int_reply, ints_reply};

/// How often a waiter refreshes its place in the queue.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long a waiter keeps its place without a heartbeat.
pub const ALIVE_WINDOW: Duration = Duration::from_millis(2000);

/// The outcome of one acquisition attempt.
enum Attempt {
    /// Held, with this fence.
    Held(i64),
    /// Busy; the holder's lock has this PTTL (ms; -1 none, -2 free but not our turn).
    Busy(i64),
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
        check_nonempty(key, "key")?;
        let (ttl, watchdog) = match ttl_seconds {
            Some(seconds) => (Duration::from_millis(ttl_ms(seconds, "ttl")?), false),
            None => (self.lease_config().lease_ttl, true),
        };
        let wait = wait_duration(wait_seconds, "wait")?;
        let keys = LockKeys::new(self.prefix(), key);
        let token = super::token();
        let Some(fence) = self.acquire_fairly(&keys, &token, ttl, wait)? else {
            return Ok(None);
        };
        Ok(Some(Lease::new(Grant {
            key: key.to_vec(),
            keys,
            token,
            fence,
            ttl,
            watchdog,
            shared: self.shared().clone(),
            config: self.lease_config(),
        })?))
    }

    fn acquire_fairly(
        &self,
        keys: &LockKeys,
        token: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<i64>> {
        let deadline = Instant::now() + wait;
        let wake = keys.wake(token.as_bytes());
        loop {
            let queue = !wait.is_zero();
            let pttl = match self.attempt(keys, token, ttl, queue)? {
                Attempt::Held(fence) => return Ok(Some(fence)),
                Attempt::Busy(pttl) => pttl,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if !queue {
                return Ok(None);
            }
            if left.is_zero() {
                return self.cancel(keys, token, ttl);
            }
            // Sleep until handed the lock, nudged, due for a heartbeat, or the holder's TTL
            // runs out (it may have died), whichever comes first.
            let mut block = left.min(HEARTBEAT);
            if pttl >= 0 {
                block = block.min(Duration::from_millis(pttl as u64 + 1));
            }
            if let Some(fence) = self.wait_for_wake(&wake, block)? {
                return Ok(Some(fence));
            }
        }
    }

    fn attempt(&self, keys: &LockKeys, token: &str, ttl: Duration, queue: bool) -> Result<Attempt> {
        let (mut ttl_digits, mut window_digits) = ([0u8; 20], [0u8; 20]);
        let ttl_ms = resp::decimal(&mut ttl_digits, ttl.as_millis() as u64);
        let window = if queue {
            ALIVE_WINDOW.as_millis() as u64
        } else {
            0
        };
        let window = resp::decimal(&mut window_digits, window);
        let args: [&[u8]; 4] = [token.as_bytes(), ttl_ms, window, &keys.wake_prefix];
        match self
            .run_on_lock(&LEASE_ACQUIRE_SCRIPT, keys, &args)?
            .as_slice()
        {
            [1, fence] => Ok(Attempt::Held(*fence)),
            [0, pttl, _position] => Ok(Attempt::Busy(*pttl)),
            _ => Err(unexpected("lock")),
        }
    }

    /// Runs a lease script on the lock's four keys; its reply as integers.
    fn run_on_lock(&self, script: &LuaScript, keys: &LockKeys, args: &[&[u8]]) -> Result<Vec<i64>> {
        let all = keys.all();
        self.shared()
            .run(|conn| script.run(conn, Keys::List(&all), args, ints_reply))
            .map_err(|e| e.context("lock"))?
            .ok_or_else(|| unexpected("lock"))
    }

    /// BLPOP on our wake list for up to `block`: `Some(fence)` when a release handed us the
    /// lock, `None` on a nudge or timeout (then try again).
    fn wait_for_wake(&self, wake: &[u8], block: Duration) -> Result<Option<i64>> {
        let seconds = format!("{:.3}", block.as_secs_f64().max(0.001));
        let limit = block + self.shared().endpoint().read_timeout;
        let fence = self
            .shared()
            .run(|conn| {
                resp::command(conn.command_buffer(), &[b"BLPOP", wake, seconds.as_bytes()]);
                conn.send()?;
                conn.read_reply_within(Some(limit), |reply| match reply {
                    Reply::Array(items) => match items.as_slice() {
                        [_, Reply::Bulk(value)] => std::str::from_utf8(value)
                            .ok()
                            .and_then(|v| v.parse::<i64>().ok()),
                        _ => None,
                    },
                    _ => None,
                })
            })
            .map_err(|e| e.context("lock"))?;
        Ok(fence.filter(|&fence| fence > 0))
    }

    /// Leaves the queue; `Some(fence)` if the lock was handed over meanwhile.
    fn cancel(&self, keys: &LockKeys, token: &str, ttl: Duration) -> Result<Option<i64>> {
        let mut digits = [0u8; 20];
        let ttl_ms = resp::decimal(&mut digits, ttl.as_millis() as u64);
        let args: [&[u8]; 3] = [token.as_bytes(), ttl_ms, &keys.wake_prefix];
        match self
            .run_on_lock(&LEASE_CANCEL_SCRIPT, keys, &args)?
            .as_slice()
        {
            [1, fence] => Ok(Some(*fence)),
            [0] => Ok(None),
            _ => Err(unexpected("lock")),
        }
    }

    /// A lease on `key` held by `token`, taken over from another process (which called
    /// `detach()`, or stopped caring). Manual mode: it keeps the lock's remaining TTL.
    /// `Err(Lost)` if `token` does not hold the lock.
    pub fn restore(&self, key: &[u8], token: &[u8]) -> Result<Lease> {
        check_nonempty(key, "key")?;
        check_nonempty(token, "token")?;
        let keys = LockKeys::new(self.prefix(), key);
        let reply = self
            .shared()
            .run(|conn| {
                OWNER_STATE_SCRIPT.run(
                    conn,
                    Keys::List(&[&keys.lock, &keys.fence]),
                    &[token],
                    ints_reply,
                )
            })
            .map_err(|e| e.context("restore"))?;
        let (pttl, fence) = match reply.as_deref() {
            Some([pttl, fence]) if *pttl != -2 => (*pttl, *fence),
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
            key: key.to_vec(),
            keys,
            token: String::from_utf8_lossy(token).into_owned(),
            fence,
            ttl: Duration::from_millis(pttl.max(0) as u64),
            watchdog: false,
            shared: self.shared().clone(),
            config: self.lease_config(),
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
        check_nonempty(key, "key")?;
        self.shared()
            .run(|conn| {
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
        check_nonempty(key, "key")?;
        let keys = LockKeys::new(self.prefix(), key);
        let all = keys.all();
        self.shared()
            .run(|conn| {
                FORCE_RELEASE_SCRIPT.run(conn, Keys::List(&all), &[&keys.wake_prefix], int_reply)
            })
            .map_err(|e| e.context("forceRelease"))?
            .map(|n| n == 1)
            .ok_or_else(|| unexpected("forceRelease"))
    }
}
