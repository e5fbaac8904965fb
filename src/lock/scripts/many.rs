//! Multi-key locks (`lockMany()`): several exclusive locks held by one token, taken all or
//! none.
//!
//! - Keys: the six keys of every lock ([`crate::lock::keys::LockKeys::all`]), one lock after the
//!   other: lock `i` (from 1) is `KEYS[6(i-1)+1]` to `KEYS[6(i-1)+6]`. Each lock is an ordinary lock
//!   of the lease API: a multi-key lease is one ordinary exclusive lease per key, all with the
//!   same token, so release, extension, the watchdog and request-end release work per key with
//!   the lease scripts ([`crate::lock::scripts::lease`]).
//! - One script call covers the locks the topology lets one script touch
//!   ([`crate::lock::topology::Topology::atomic_groups`]): all of them on a single server,
//!   behind Sentinel and on `memory://`; those of one hash slot on a Redis Cluster. It grants
//!   every lock of its group or none.
//! - A lock is free for it when `L` is missing (or the readers' marker with no live share:
//!   never while readers hold it, see [`crate::lock::scripts::shared`]) and nobody live is
//!   queued for it: a multi-key caller never barges past a single-key waiter. A semaphore's
//!   key is never free (its names are apart anyway).
//! - Fences: each lock gets its own, from its slot's counter, exactly as
//!   [`crate::lock::scripts::lease::LEASE_ACQUIRE`] hands them out.
//! - Order: the engine sorts the keys by (hash slot, name) before grouping, so every caller
//!   takes overlapping sets in the same global order. A group found busy is, when the caller
//!   waits, taken lock by lock in that order with the ordinary fair wait, holding what it has
//!   already taken; a caller only ever waits for a lock that sorts after every lock it holds,
//!   so no two callers (multi-key or single-key) can wait for each other in a cycle.
//!
//! The helpers of [`crate::lock::scripts::lease`] address `KEYS[1]` to `KEYS[6]`: this script
//! shadows `KEYS` with a local table the helpers close over, and points it at one lock's six
//! keys at a time.

use crate::lock::scripts::LuaScript;
use crate::lock::scripts::lease::lease_functions;

/// Takes every lock of the group for `ARGV[1]`, or none. A lock already `ARGV[1]`'s (a resent call
/// whose first reply was lost) is claimed: its TTL (and its fence's) becomes `ARGV[2]`.
///
/// KEYS: six per lock (see the module docs). `ARGV[1]` token, `ARGV[2]` TTL ms, `ARGV[2+i]` lock
/// i's tombstone prefix (a token that gave up after a fault is refused, as in
/// [`crate::lock::scripts::lease::LEASE_ACQUIRE`]).
/// Returns `{1, fence 1, ..., fence n}` if `ARGV[1]` holds every lock now, or `{0, i, PTTL ms}`
/// naming the first busy lock (nothing written but the cleanup of stale waiters and shares).
pub const LOCK_MANY: &str = concat!(
    "local ALL = KEYS\nlocal KEYS = {}\n",
    lease_functions!(),
    r#"
local function select_lock(i)
  for j = 1, 6 do
    KEYS[j] = ALL[(i - 1) * 6 + j]
  end
end
local n = #ALL / 6
local token = ARGV[1]
for i = 1, n do
  select_lock(i)
  if redis.call('EXISTS', ARGV[2 + i] .. token) == 1 then
    return {0, i, redis.call('PTTL', KEYS[1])}
  end
  local holder = redis.call('GET', KEYS[1])
  if holder ~= token then
    if holder ~= false and holder ~= MARKER then
      return {0, i, busy_pttl()}
    end
    if first_live_waiter() ~= nil or live_readers() > 0 then
      return {0, i, busy_pttl()}
    end
  end
end
local reply = {1}
for i = 1, n do
  select_lock(i)
  if redis.call('GET', KEYS[1]) == token then
    reply[i + 1] = claim(token, ARGV[2])
  else
    local fence = next_fence()
    set_fence(fence, token, ARGV[2])
    redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
    reply[i + 1] = fence
  end
end
return reply
"#
);

/// [`LOCK_MANY`], hashed once.
pub static LOCK_MANY_SCRIPT: LuaScript = LuaScript::fenced(LOCK_MANY);
