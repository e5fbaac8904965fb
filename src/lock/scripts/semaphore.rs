//! Semaphores with expiring permits: at most N holders of a name at once, each holding a
//! *permit*, a lease with its own token and expiry (so a crashed holder's permit comes back
//! after its TTL), fair (FIFO) waits with direct hand-over, on the machinery of shared leases
//! ([`crate::lock::scripts::shared`]): a semaphore is "at most N shares, and no writer".
//!
//! # Data model
//!
//! A semaphore `S` (prefix + name) is the lock `K` = `!rl{T}sem:S` of
//! [`crate::lock::keys::LockKeys::semaphore`], in its own key space (no lock name can be `K`)
//! and in `S`'s hash slot:
//!
//! - Permits are the shares of `K`: members of `!rl{T}readers:K`, each a token scored by its
//!   own expiry (server ms). A permit whose score has passed counts for nothing and is dropped
//!   by the next script that looks, so a holder that crashed frees its permit after its TTL.
//!   The set's own TTL follows its latest member's expiry.
//! - `K` holds `!rl:permits=<N>`, the permit count the live permits were taken with, with a PX
//!   TTL reaching the latest permit's expiry (`mark_readers()` with `mark` set by
//!   `use_permits(N)`; [`crate::lock::scripts::lease::EXTEND`] keeps it when the watchdog or
//!   `extend()` renews a permit). When the last permit goes, `K` goes too, and with it the
//!   count: the next call may use another one.
//! - N is passed with every call. A call whose N differs from `K`'s while permits are live is
//!   refused (`{-1, stored N}`: the caller names both numbers). Invariant: never more live
//!   permits than `K`'s N.
//!
//! # Fair queue
//!
//! Waiters queue as readers do (`queue:K` by arrival, `alive:K` heartbeats; member
//! `r<ttl ms>:<token>`). A caller takes a permit at once only if fewer than N are live and
//! nobody live waits (arrivals never overtake the queue). Every script that runs on the
//! semaphore first lets in the live waiters at the head that the free permits allow
//! (`admit_permits()`): each gets a permit for the claim window and a push on its wake list, and
//! claims it (extends it to its TTL) when it wakes and attempts again, exactly as a reader
//! claims a handed-over share. So a release hands its permit straight to the first waiter, and
//! a permit that expired (its holder crashed) is handed over by the next attempt of any waiter:
//! waiters block until the earliest permit's expiry at most (the attempt reports it as the
//! PTTL), never polling.
//!
//! # Fences
//!
//! A permit's fence is 0, as a share's: N holders at once have no single order a fence could
//! enforce.
//!
//! # `memory://`
//!
//! `memory://` runs these scripts themselves in its embedded Lua ([`crate::lock::memory`]; it
//! answers the `ZCOUNT` of [`PERMITS_HELD`] too), so semaphores work there as on Redis.

use crate::lock::scripts::LuaScript;
use crate::lock::scripts::lease::lease_functions;

/// Takes (or claims) a permit for ARGV[1]: first lets in the waiters the free permits allow;
/// then, if ARGV[1] has a live permit (handed over to it, or taken by an earlier attempt whose
/// reply was lost), its expiry becomes now + ARGV[2]; else it takes one if fewer than ARGV[6]
/// are live (then nobody live waits); else (optionally) joins the queue or refreshes its place
/// and heartbeat there. A waiter that gave up after a fault (tombstone) is refused. A permit
/// count other than the live permits' is refused (a permit handed to ARGV[1] meanwhile is
/// given back).
///
/// KEYS: all six of the semaphore's [`crate::lock::keys::LockKeys`]. ARGV[1] token, ARGV[2] TTL
/// ms, ARGV[3] heartbeat window ms (0: do not queue), ARGV[4] wake-list prefix, ARGV[5]
/// tombstone prefix, ARGV[6] permit count, ARGV[7] claim window ms.
/// Returns `{1, 0}` if ARGV[1] holds a permit now, `{0, ms until the earliest permit expires
/// (-2: none), queue position or -1}`, or `{-1, the live permits' count}`.
pub const PERMIT_ACQUIRE: &str = concat!(
    lease_functions!(),
    r#"
local n = tonumber(ARGV[6])
local function earliest()
  local first = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
  if first[2] then
    return math.max(0, tonumber(first[2]) - now_ms())
  end
  return -2
end
local me = 'r' .. ARGV[2] .. ':' .. ARGV[1]
local stored = stored_permits()
if stored and stored ~= n and live_readers() > 0 then
  leave_queue(me)
  if redis.call('ZSCORE', KEYS[6], ARGV[1]) then
    release_permit(ARGV[1], ARGV[4], ARGV[7], stored)
  end
  return {-1, stored}
end
if redis.call('EXISTS', ARGV[5] .. ARGV[1]) == 1 then
  return {0, earliest(), -1}
end
use_permits(n)
admit_permits(n, ARGV[4], ARGV[7])
local share = redis.call('ZSCORE', KEYS[6], ARGV[1])
if (share and tonumber(share) > now_ms()) or live_readers() < n then
  redis.call('DEL', ARGV[4] .. ARGV[1])
  add_reader(ARGV[1], ARGV[2])
  leave_queue(me)
  return {1, 0}
end
local window = tonumber(ARGV[3])
if window > 0 then
  local rank = join_queue(me, window)
  return {0, earliest(), rank}
end
return {0, earliest(), -1}
"#
);

/// A waiter gives up: leaves the queue, and lets in whoever the free permits allow. If a permit
/// was handed to it meanwhile (with the same permit count), it claims it instead, and still lets
/// in whoever permits freed meanwhile (expired) allow.
///
/// KEYS: all six. ARGV[1] token, ARGV[2] its TTL ms, ARGV[3] wake-list prefix, ARGV[4] claim
/// window ms, ARGV[5] permit count.
/// Returns `{1, 0}` if ARGV[1] holds a permit, `{0}` after leaving the queue.
pub const PERMIT_CANCEL: &str = concat!(
    lease_functions!(),
    r#"
redis.call('DEL', ARGV[3] .. ARGV[1])
local me = 'r' .. ARGV[2] .. ':' .. ARGV[1]
leave_queue(me)
local n = tonumber(ARGV[5])
local stored = stored_permits()
local share = redis.call('ZSCORE', KEYS[6], ARGV[1])
if share and tonumber(share) > now_ms() and (stored == nil or stored == n) then
  use_permits(n)
  add_reader(ARGV[1], ARGV[2])
  admit_permits(n, ARGV[3], ARGV[4])
  return {1, 0}
end
release_permit(ARGV[1], ARGV[3], ARGV[4], n)
return {0}
"#
);

/// The number of live permits of a semaphore, and the count they were taken with (0: none
/// live). Read-only.
///
/// KEYS: the semaphore's key `K` and its permits set (KEYS[1] and KEYS[6] of the others).
/// Returns `{live permits, their count}`.
pub const PERMITS_HELD: &str = r#"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local live = redis.call('ZCOUNT', KEYS[2], '(' .. string.format('%.0f', now), '+inf')
if live == 0 then
  return {0, 0}
end
local v = redis.call('GET', KEYS[1])
return {live, (v and tonumber(string.match(v, '^!rl:permits=(%d+)$'))) or 0}
"#;

/// [`PERMIT_ACQUIRE`], hashed once.
pub static PERMIT_ACQUIRE_SCRIPT: LuaScript = LuaScript::new(PERMIT_ACQUIRE);
/// [`PERMIT_CANCEL`], hashed once.
pub static PERMIT_CANCEL_SCRIPT: LuaScript = LuaScript::new(PERMIT_CANCEL);
/// [`PERMITS_HELD`], hashed once.
pub static PERMITS_HELD_SCRIPT: LuaScript = LuaScript::new(PERMITS_HELD);
