//! The engine's Lua scripts, in Rust, over a [`Store`]: line for line the same calls in the
//! same order as the bodies in [`crate::lock::scripts::documents`],
//! [`crate::lock::scripts::lease`] and [`crate::lock::scripts::semaphore`] (read those for what
//! each one means). Shared (read) leases are not mirrored: their branches of the lease scripts
//! are left out (the engine refuses `lockShared()` on `memory://`); the permit branches are in. Like a script on Redis,
//! one that fails part-way keeps the writes it made before the failing call; the scripts are
//! written so that this never leaves a lock taken.

use std::sync::OnceLock;

use crate::lock::memory::store::Store;
use crate::lock::scripts::LuaScript;
use crate::lock::scripts::documents::{ACQUIRE_SCRIPT, RELEASE_SCRIPT};
use crate::lock::scripts::lease::{
    EXTEND_SCRIPT, FORCE_RELEASE_SCRIPT, LEASE_ABANDON_SCRIPT, LEASE_ACQUIRE_SCRIPT,
    LEASE_CANCEL_SCRIPT, LEASE_RELEASE_SCRIPT, OWNER_STATE_SCRIPT,
};
use crate::lock::scripts::semaphore::{
    PERMIT_ACQUIRE_SCRIPT, PERMIT_CANCEL_SCRIPT, PERMITS_HELD_SCRIPT,
};

/// The readers' marker (`MARKER` in the scripts).
const MARKER: &[u8] = b"!rl:shared";
/// A semaphore's key holds this followed by its permit count.
const PERMITS_MARK: &[u8] = b"!rl:permits=";

/// A script's reply.
#[derive(Debug, PartialEq)]
pub enum Out {
    /// An integer.
    Int(i64),
    /// An array of integers.
    Ints(Vec<i64>),
}

/// Why a script stopped: an error reply's text.
pub type Fail = String;

/// The scripts the memory server knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    Release,
    Acquire,
    LeaseAcquire,
    LeaseRelease,
    LeaseCancel,
    LeaseAbandon,
    ForceRelease,
    Extend,
    OwnerState,
    PermitAcquire,
    PermitCancel,
    PermitsHeld,
}

const SCRIPTS: [(Script, &LuaScript); 12] = [
    (Script::Release, &RELEASE_SCRIPT),
    (Script::Acquire, &ACQUIRE_SCRIPT),
    (Script::LeaseAcquire, &LEASE_ACQUIRE_SCRIPT),
    (Script::LeaseRelease, &LEASE_RELEASE_SCRIPT),
    (Script::LeaseCancel, &LEASE_CANCEL_SCRIPT),
    (Script::LeaseAbandon, &LEASE_ABANDON_SCRIPT),
    (Script::ForceRelease, &FORCE_RELEASE_SCRIPT),
    (Script::Extend, &EXTEND_SCRIPT),
    (Script::OwnerState, &OWNER_STATE_SCRIPT),
    (Script::PermitAcquire, &PERMIT_ACQUIRE_SCRIPT),
    (Script::PermitCancel, &PERMIT_CANCEL_SCRIPT),
    (Script::PermitsHeld, &PERMITS_HELD_SCRIPT),
];

fn by_sha() -> &'static [([u8; 40], Script); 12] {
    static TABLE: OnceLock<[([u8; 40], Script); 12]> = OnceLock::new();
    TABLE.get_or_init(|| {
        SCRIPTS.map(|(id, script)| {
            let mut sha = [0u8; 40];
            sha.copy_from_slice(script.sha1().as_bytes());
            (sha, id)
        })
    })
}

impl Script {
    /// The script whose SHA1 (hex, any case) is `sha`.
    pub fn by_sha(sha: &[u8]) -> Option<Script> {
        by_sha()
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(sha))
            .map(|(_, id)| *id)
    }

    /// The script whose body is `body`.
    pub fn by_body(body: &[u8]) -> Option<Script> {
        SCRIPTS
            .iter()
            .find(|(_, script)| script.body().as_bytes() == body)
            .map(|(id, _)| *id)
    }

    /// How many keys the script reads (a call must pass at least these).
    fn keys_needed(self) -> usize {
        match self {
            Script::Release | Script::PermitsHeld => 2,
            Script::Acquire => 1,
            Script::Extend | Script::OwnerState => 3,
            Script::PermitAcquire | Script::PermitCancel => 6,
            _ => 5,
        }
    }

    /// How many arguments the script reads.
    fn args_needed(self) -> usize {
        match self {
            Script::PermitsHeld => 0,
            Script::Release => 1,
            Script::Acquire | Script::Extend | Script::OwnerState | Script::ForceRelease => 2,
            Script::LeaseRelease => 3,
            Script::LeaseCancel => 4,
            Script::LeaseAcquire | Script::PermitCancel => 5,
            Script::LeaseAbandon => 6,
            Script::PermitAcquire => 7,
        }
    }

    /// Runs the script at `now_us` (the server clock, read once per script like `TIME`).
    pub fn run(
        self,
        store: &mut Store,
        now_us: i64,
        keys: &[&[u8]],
        argv: &[&[u8]],
    ) -> Result<Out, Fail> {
        if keys.len() < self.keys_needed() || argv.len() < self.args_needed() {
            return Err("ERR Error running script: missing keys or arguments".into());
        }
        let mut cx = Cx {
            s: store,
            now_us,
            now_ms: now_us.div_euclid(1000),
            keys,
            mark: MARKER.to_vec(),
        };
        match self {
            Script::Release => cx.release(argv),
            Script::Acquire => cx.acquire(argv),
            Script::LeaseAcquire => cx.lease_acquire(argv),
            Script::LeaseRelease => cx.lease_release(argv),
            Script::LeaseCancel => cx.lease_cancel(argv),
            Script::LeaseAbandon => cx.lease_abandon(argv),
            Script::ForceRelease => cx.force_release(argv),
            Script::Extend => cx.extend(argv),
            Script::OwnerState => cx.owner_state(argv),
            Script::PermitAcquire => cx.permit_acquire(argv),
            Script::PermitCancel => cx.permit_cancel(argv),
            Script::PermitsHeld => cx.permits_held(),
        }
    }
}

/// A number argument, as Redis parses one for `PEXPIRE`.
fn int_arg(arg: &[u8]) -> Result<i64, Fail> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "ERR value is not an integer or out of range".into())
}

/// A `SET … PX <ms>` argument: Redis refuses one below 1.
fn px_arg(arg: &[u8]) -> Result<i64, Fail> {
    match int_arg(arg)? {
        ms if ms > 0 => Ok(ms),
        _ => Err("ERR invalid expire time in 'set' command".into()),
    }
}

/// Lua's `string.match(s, '^(%d+):(.*)$')`.
fn split_record(record: &[u8]) -> Option<(&[u8], &[u8])> {
    let digits = record.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || record.get(digits) != Some(&b':') {
        return None;
    }
    Some((&record[..digits], &record[digits + 1..]))
}

/// Lua's `tonumber()` of a digit string (as a whole number; the engine's numbers are integers
/// below 2^53).
fn number(digits: &[u8]) -> Option<i64> {
    std::str::from_utf8(digits).ok()?.trim().parse().ok()
}

struct Cx<'a> {
    s: &'a mut Store,
    now_us: i64,
    now_ms: i64,
    keys: &'a [&'a [u8]],
    /// The scripts' `mark`: the value `L` holds while only shares hold it.
    mark: Vec<u8>,
}

fn wrong(e: &'static str) -> Fail {
    e.to_owned()
}

impl<'a> Cx<'a> {
    fn k(&self, i: usize) -> &'a [u8] {
        self.keys[i - 1]
    }

    fn get(&self, i: usize) -> Result<Option<Vec<u8>>, Fail> {
        Ok(self
            .s
            .get(self.k(i), self.now_ms)
            .map_err(wrong)?
            .map(<[u8]>::to_vec))
    }

    fn holds(&self, token: &[u8]) -> Result<bool, Fail> {
        Ok(self.s.get(self.k(1), self.now_ms).map_err(wrong)? == Some(token))
    }

    fn next_fence(&mut self) -> Result<i64, Fail> {
        let last = self
            .s
            .get(self.k(2), self.now_ms)
            .map_err(wrong)?
            .and_then(number)
            .unwrap_or(0);
        let fence = (last + 1).max(self.now_us);
        let mut digits = [0u8; 20];
        let text = crate::lock::protocol::resp::decimal(&mut digits, fence.max(0) as u64);
        self.s.set(self.k(2), text, None, self.now_ms);
        Ok(fence)
    }

    fn holder_fence(&self, token: &[u8]) -> Result<Option<i64>, Fail> {
        let record = self.s.get(self.k(3), self.now_ms).map_err(wrong)?;
        Ok(record
            .and_then(split_record)
            .filter(|(_, owner)| *owner == token)
            .and_then(|(fence, _)| number(fence)))
    }

    fn set_fence(&mut self, fence: i64, token: &[u8], ttl: i64) -> Result<(), Fail> {
        if ttl <= 0 {
            return Err("ERR invalid expire time in 'set' command".into());
        }
        let record = [fence.to_string().as_bytes(), b":", token].concat();
        self.s.set(self.k(3), &record, Some(ttl), self.now_ms);
        Ok(())
    }

    fn pexpire(&mut self, i: usize, ttl: i64) -> bool {
        self.s.pexpire(self.k(i), ttl, self.now_ms)
    }

    fn claim(&mut self, token: &[u8], ttl: i64) -> Result<i64, Fail> {
        let fence = match self.holder_fence(token)? {
            None => {
                let fence = self.next_fence()?;
                self.set_fence(fence, token, ttl)?;
                fence
            }
            Some(fence) => {
                self.pexpire(3, ttl);
                fence
            }
        };
        self.pexpire(1, ttl);
        Ok(fence)
    }

    fn zrem_both(&mut self, member: &[u8]) -> Result<(), Fail> {
        self.s.zrem(self.k(4), member, self.now_ms).map_err(wrong)?;
        self.s.zrem(self.k(5), member, self.now_ms).map_err(wrong)?;
        Ok(())
    }

    fn first_live_waiter(&mut self) -> Result<Option<Vec<u8>>, Fail> {
        loop {
            let Some(head) = self.s.zfirst(self.k(4), self.now_ms).map_err(wrong)? else {
                return Ok(None);
            };
            let deadline = self
                .s
                .zscore(self.k(5), &head, self.now_ms)
                .map_err(wrong)?;
            if deadline.is_some_and(|d| d > self.now_ms as f64) {
                return Ok(Some(head));
            }
            self.zrem_both(&head)?;
        }
    }

    fn release_to_next(&mut self, wake_prefix: &[u8], claim_ms: &[u8]) -> Result<(), Fail> {
        let Some(head) = self.first_live_waiter()? else {
            self.s.del(self.k(1), self.now_ms);
            self.s.del(self.k(3), self.now_ms);
            return Ok(());
        };
        let parsed = split_record(&head).map(|(ttl, next)| (number(ttl), next.to_vec()));
        self.zrem_both(&head)?;
        let (ttl, next) =
            parsed.ok_or_else(|| "ERR Error running script: malformed queue member".to_owned())?;
        let window = ttl
            .zip(number(claim_ms))
            .map(|(a, b)| a.min(b))
            .ok_or_else(|| "ERR Error running script: not a number".to_owned())?;
        let fence = self.next_fence()?;
        self.set_fence(fence, &next, window)?;
        self.s.set(self.k(1), &next, Some(window), self.now_ms);
        let wake = [wake_prefix, &next].concat();
        self.s
            .rpush(&wake, fence.to_string().as_bytes(), self.now_ms)
            .map_err(wrong)?;
        self.s.pexpire(&wake, window, self.now_ms);
        Ok(())
    }

    fn nudge(&mut self, wake_prefix: &[u8], member: &[u8], ms: i64) -> Result<(), Fail> {
        let token = split_record(member)
            .map(|(_, t)| t)
            .ok_or_else(|| "ERR Error running script: malformed queue member".to_owned())?;
        let wake = [wake_prefix, token].concat();
        self.s.rpush(&wake, b"0", self.now_ms).map_err(wrong)?;
        self.s.pexpire(&wake, ms, self.now_ms);
        Ok(())
    }

    // ---- the documents' scripts ----

    fn release(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        if self.holds(argv[0])? {
            let a = self.s.del(self.k(1), self.now_ms);
            let b = self.s.del(self.k(2), self.now_ms);
            return Ok(Out::Int(i64::from(a || b)));
        }
        Ok(Out::Int(0))
    }

    fn acquire(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        let ttl = int_arg(argv[1])?;
        match self.get(1)? {
            None => {
                let ttl = px_arg(argv[1])?;
                self.s.set(self.k(1), argv[0], Some(ttl), self.now_ms);
                Ok(Out::Int(1))
            }
            Some(current) if current == argv[0] => {
                self.pexpire(1, ttl);
                Ok(Out::Int(1))
            }
            Some(_) => Ok(Out::Int(0)),
        }
    }

    // ---- the lease scripts ----

    fn lease_acquire(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        let (token, ttl_arg, wake_prefix, gone_prefix) = (argv[0], argv[1], argv[3], argv[4]);
        if self.s.exists(&[gone_prefix, token].concat(), self.now_ms) {
            return Ok(Out::Ints(vec![0, self.s.pttl(self.k(1), self.now_ms), -1]));
        }
        let ttl = int_arg(ttl_arg)?;
        let holder = self.get(1)?;
        if holder.as_deref() == Some(token) {
            self.s.del(&[wake_prefix, token].concat(), self.now_ms);
            return Ok(Out::Ints(vec![1, self.claim(token, ttl)?]));
        }
        let me = [ttl_arg, b":", token].concat();
        if holder.is_none() {
            let head = self.first_live_waiter()?;
            if head.is_none() || head.as_deref() == Some(&me[..]) {
                let fence = self.next_fence()?;
                self.set_fence(fence, token, ttl)?;
                self.s
                    .set(self.k(1), token, Some(px_arg(ttl_arg)?), self.now_ms);
                if head.is_some() {
                    self.zrem_both(&me)?;
                }
                return Ok(Out::Ints(vec![1, fence]));
            }
        }
        let window = number(argv[2]).ok_or_else(|| {
            "ERR Error running script: attempt to compare nil with number".to_owned()
        })?;
        if window > 0 {
            let (k4, k5) = (self.k(4), self.k(5));
            self.s
                .zadd(k4, self.now_us as f64, &me, true, self.now_ms)
                .map_err(wrong)?;
            self.s
                .zadd(k5, (self.now_ms + window) as f64, &me, false, self.now_ms)
                .map_err(wrong)?;
            self.pexpire(4, window * 2);
            self.pexpire(5, window * 2);
            let rank = self.s.zrank(k4, &me, self.now_ms).map_err(wrong)?;
            return Ok(Out::Ints(vec![
                0,
                self.s.pttl(self.k(1), self.now_ms),
                rank.unwrap_or(-1),
            ]));
        }
        Ok(Out::Ints(vec![0, self.s.pttl(self.k(1), self.now_ms), -1]))
    }

    fn lease_release(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        if argv.get(3) == Some(&&b"permit"[..]) {
            let n = argv.get(4).copied().and_then(number);
            return self
                .release_permit(argv[0], argv[1], argv[2], n)
                .map(Out::Int);
        }
        if !self.holds(argv[0])? {
            return Ok(Out::Int(0));
        }
        self.release_to_next(argv[1], argv[2])?;
        Ok(Out::Int(1))
    }

    fn lease_cancel(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        let (token, ttl_arg, wake_prefix) = (argv[0], argv[1], argv[2]);
        self.s.del(&[wake_prefix, token].concat(), self.now_ms);
        if self.holds(token)? {
            let ttl = int_arg(ttl_arg)?;
            return Ok(Out::Ints(vec![1, self.claim(token, ttl)?]));
        }
        let me = [ttl_arg, b":", token].concat();
        self.zrem_both(&me)?;
        if !self.s.exists(self.k(1), self.now_ms)
            && let Some(head) = self.first_live_waiter()?
        {
            self.nudge(wake_prefix, &head, int_arg(argv[3])?)?;
        }
        Ok(Out::Ints(vec![0]))
    }

    fn lease_abandon(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        let (token, ttl_arg, wake_prefix, gone_prefix) = (argv[0], argv[1], argv[2], argv[3]);
        let gone_ms = px_arg(argv[4])?;
        self.s.set(
            &[gone_prefix, token].concat(),
            b"1",
            Some(gone_ms),
            self.now_ms,
        );
        self.s.del(&[wake_prefix, token].concat(), self.now_ms);
        if argv.get(6) == Some(&&b"permit"[..]) {
            self.zrem_both(&[b"r", ttl_arg, b":", token].concat())?;
            let n = argv.get(7).copied().and_then(number);
            return self
                .release_permit(token, wake_prefix, argv[5], n)
                .map(Out::Int);
        }
        let me = [ttl_arg, b":", token].concat();
        self.zrem_both(&me)?;
        if self.holds(token)? {
            self.release_to_next(wake_prefix, argv[5])?;
            return Ok(Out::Int(1));
        }
        Ok(Out::Int(0))
    }

    fn force_release(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        let existed = self.s.del(self.k(1), self.now_ms);
        self.s.del(self.k(3), self.now_ms);
        if let Some(head) = self.first_live_waiter()? {
            self.nudge(argv[0], &head, int_arg(argv[1])?)?;
        }
        Ok(Out::Int(i64::from(existed)))
    }

    fn extend(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        if self.holds(argv[0])? {
            let ttl = int_arg(argv[1])?;
            self.pexpire(3, ttl);
            return Ok(Out::Int(i64::from(self.pexpire(1, ttl))));
        }
        if self.keys.len() >= 4 {
            let token = argv[0];
            let share = self
                .s
                .zscore(self.k(4), token, self.now_ms)
                .map_err(wrong)?;
            if !share.is_some_and(|s| s > self.now_ms as f64) {
                self.s.zrem(self.k(4), token, self.now_ms).map_err(wrong)?;
                return Ok(Out::Int(0));
            }
            let ttl = int_arg(argv[1])?;
            let k4 = self.k(4);
            self.s
                .zadd(k4, (self.now_ms + ttl) as f64, token, false, self.now_ms)
                .map_err(wrong)?;
            let last = self.zlast(4)?.unwrap_or(0.0) as i64;
            let ms = (last - self.now_ms + 1).max(1);
            self.pexpire(4, ms);
            let holder = self.get(1)?;
            if let Some(permits) = argv.get(2) {
                if holder.is_none()
                    || holder
                        .as_deref()
                        .is_some_and(|h| h.starts_with(PERMITS_MARK))
                {
                    let value = [PERMITS_MARK, permits].concat();
                    self.s.set(self.k(1), &value, Some(ms), self.now_ms);
                }
            } else if holder.is_none() || holder.as_deref() == Some(MARKER) {
                self.s.set(self.k(1), MARKER, Some(ms), self.now_ms);
            }
            return Ok(Out::Int(1));
        }
        Ok(Out::Int(0))
    }

    fn owner_state(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        let token = argv[0];
        if token == MARKER || !self.holds(token)? {
            if token != MARKER && self.keys.len() >= 4 {
                let share = self
                    .s
                    .zscore(self.k(4), token, self.now_ms)
                    .map_err(wrong)?;
                if let Some(share) = share.filter(|&s| s > self.now_ms as f64) {
                    return Ok(Out::Ints(vec![share as i64 - self.now_ms, 0]));
                }
            }
            return Ok(Out::Ints(vec![-2, 0]));
        }
        let pttl = self.s.pttl(self.k(1), self.now_ms);
        let fence = match self.holder_fence(token)? {
            Some(fence) => fence,
            None => {
                if argv[1] != b"1" || pttl <= 0 {
                    return Ok(Out::Ints(vec![pttl, 0]));
                }
                let fence = self.next_fence()?;
                self.set_fence(fence, token, pttl)?;
                fence
            }
        };
        Ok(Out::Ints(vec![pttl, fence]))
    }

    // ---- shares and semaphores ----

    /// The highest score of the sorted set KEYS[i] (`ZRANGE -1 -1 WITHSCORES`).
    fn zlast(&self, i: usize) -> Result<Option<f64>, Fail> {
        Ok(self
            .s
            .zscore_range(self.k(i), self.now_ms)
            .map_err(wrong)?
            .map(|(_, last)| last))
    }

    fn live_readers(&mut self) -> Result<usize, Fail> {
        let k6 = self.k(6);
        self.s
            .zrem_upto(k6, self.now_ms as f64, self.now_ms)
            .map_err(wrong)?;
        self.s.zcard(k6, self.now_ms).map_err(wrong)
    }

    fn mark_readers(&mut self) -> Result<(), Fail> {
        let v = self.get(1)?;
        if v.as_ref().is_some_and(|v| *v != self.mark) {
            return Ok(());
        }
        if self.live_readers()? == 0 {
            if v.is_some() {
                self.s.del(self.k(1), self.now_ms);
            }
            return Ok(());
        }
        let last = self.zlast(6)?.unwrap_or(0.0) as i64;
        let ms = (last - self.now_ms + 1).max(1);
        let mark = self.mark.clone();
        self.s.set(self.k(1), &mark, Some(ms), self.now_ms);
        self.pexpire(6, ms);
        Ok(())
    }

    fn add_reader(&mut self, token: &[u8], ms: i64) -> Result<(), Fail> {
        let k6 = self.k(6);
        self.s
            .zadd(k6, (self.now_ms + ms) as f64, token, false, self.now_ms)
            .map_err(wrong)?;
        let last = self.zlast(6)?.unwrap_or(0.0) as i64;
        self.pexpire(6, (last - self.now_ms + 1).max(1));
        self.mark_readers()
    }

    fn stored_permits(&self) -> Result<Option<i64>, Fail> {
        Ok(self
            .get(1)?
            .and_then(|v| v.strip_prefix(PERMITS_MARK).and_then(number)))
    }

    fn use_permits(&mut self, n: i64) -> Result<(), Fail> {
        self.mark = [PERMITS_MARK, n.to_string().as_bytes()].concat();
        if self.get(1)?.as_ref() != Some(&self.mark) {
            self.s.del(self.k(1), self.now_ms);
        }
        Ok(())
    }

    fn admit_permits(&mut self, n: i64, wake_prefix: &[u8], claim_ms: &[u8]) -> Result<(), Fail> {
        while (self.live_readers()? as i64) < n {
            let Some(head) = self.first_live_waiter()? else {
                break;
            };
            self.zrem_both(&head)?;
            let parsed = head
                .strip_prefix(b"r")
                .and_then(split_record)
                .map(|(ttl, next)| (number(ttl), next.to_vec()));
            if let Some((ttl, next)) = parsed {
                let window = ttl
                    .zip(number(claim_ms))
                    .map(|(a, b)| a.min(b))
                    .ok_or_else(|| "ERR Error running script: not a number".to_owned())?;
                self.add_reader(&next, window)?;
                let wake = [wake_prefix, &next].concat();
                self.s.rpush(&wake, b"0", self.now_ms).map_err(wrong)?;
                self.s.pexpire(&wake, window, self.now_ms);
            }
        }
        self.mark_readers()
    }

    fn release_permit(
        &mut self,
        token: &[u8],
        wake_prefix: &[u8],
        claim_ms: &[u8],
        n: Option<i64>,
    ) -> Result<i64, Fail> {
        let share = self
            .s
            .zscore(self.k(6), token, self.now_ms)
            .map_err(wrong)?;
        self.s.zrem(self.k(6), token, self.now_ms).map_err(wrong)?;
        let permits = self
            .stored_permits()?
            .or(n)
            .ok_or_else(|| "ERR Error running script: not a number".to_owned())?;
        self.use_permits(permits)?;
        self.admit_permits(permits, wake_prefix, claim_ms)?;
        Ok(i64::from(share.is_some_and(|s| s > self.now_ms as f64)))
    }

    fn earliest(&self) -> Result<i64, Fail> {
        Ok(
            match self.s.zscore_range(self.k(6), self.now_ms).map_err(wrong)? {
                Some((first, _)) => (first as i64 - self.now_ms).max(0),
                None => -2,
            },
        )
    }

    fn permit_acquire(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        let (token, ttl_arg, wake_prefix, gone_prefix, claim) =
            (argv[0], argv[1], argv[3], argv[4], argv[6]);
        let n =
            number(argv[5]).ok_or_else(|| "ERR Error running script: not a number".to_owned())?;
        let me = [b"r", ttl_arg, b":", token].concat();
        let stored = self.stored_permits()?;
        if let Some(stored) = stored
            && stored != n
            && self.live_readers()? > 0
        {
            self.zrem_both(&me)?;
            if self
                .s
                .zscore(self.k(6), token, self.now_ms)
                .map_err(wrong)?
                .is_some()
            {
                self.release_permit(token, wake_prefix, claim, Some(stored))?;
            }
            return Ok(Out::Ints(vec![-1, stored]));
        }
        if self.s.exists(&[gone_prefix, token].concat(), self.now_ms) {
            return Ok(Out::Ints(vec![0, self.earliest()?, -1]));
        }
        self.use_permits(n)?;
        self.admit_permits(n, wake_prefix, claim)?;
        let share = self
            .s
            .zscore(self.k(6), token, self.now_ms)
            .map_err(wrong)?;
        if share.is_some_and(|s| s > self.now_ms as f64) || (self.live_readers()? as i64) < n {
            self.s.del(&[wake_prefix, token].concat(), self.now_ms);
            self.add_reader(token, int_arg(ttl_arg)?)?;
            self.zrem_both(&me)?;
            return Ok(Out::Ints(vec![1, 0]));
        }
        let window = number(argv[2]).ok_or_else(|| {
            "ERR Error running script: attempt to compare nil with number".to_owned()
        })?;
        if window > 0 {
            let (k4, k5) = (self.k(4), self.k(5));
            self.s
                .zadd(k4, self.now_us as f64, &me, true, self.now_ms)
                .map_err(wrong)?;
            self.s
                .zadd(k5, (self.now_ms + window) as f64, &me, false, self.now_ms)
                .map_err(wrong)?;
            self.pexpire(4, window * 2);
            self.pexpire(5, window * 2);
            let rank = self.s.zrank(k4, &me, self.now_ms).map_err(wrong)?;
            return Ok(Out::Ints(vec![0, self.earliest()?, rank.unwrap_or(-1)]));
        }
        Ok(Out::Ints(vec![0, self.earliest()?, -1]))
    }

    fn permit_cancel(&mut self, argv: &[&[u8]]) -> Result<Out, Fail> {
        let (token, ttl_arg, wake_prefix, claim) = (argv[0], argv[1], argv[2], argv[3]);
        self.s.del(&[wake_prefix, token].concat(), self.now_ms);
        self.zrem_both(&[b"r", ttl_arg, b":", token].concat())?;
        let n =
            number(argv[4]).ok_or_else(|| "ERR Error running script: not a number".to_owned())?;
        let stored = self.stored_permits()?;
        let share = self
            .s
            .zscore(self.k(6), token, self.now_ms)
            .map_err(wrong)?;
        if share.is_some_and(|s| s > self.now_ms as f64) && stored.is_none_or(|s| s == n) {
            self.use_permits(n)?;
            self.add_reader(token, int_arg(ttl_arg)?)?;
            return Ok(Out::Ints(vec![1, 0]));
        }
        self.release_permit(token, wake_prefix, claim, Some(n))?;
        Ok(Out::Ints(vec![0]))
    }

    fn permits_held(&mut self) -> Result<Out, Fail> {
        let live = self
            .s
            .zcount_above(self.k(2), self.now_ms as f64, self.now_ms)
            .map_err(wrong)?;
        if live == 0 {
            return Ok(Out::Ints(vec![0, 0]));
        }
        let count = self
            .get(1)?
            .and_then(|v| v.strip_prefix(PERMITS_MARK).and_then(number))
            .unwrap_or(0);
        Ok(Out::Ints(vec![live as i64, count]))
    }
}
