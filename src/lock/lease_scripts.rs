//! The Lua scripts of the lease API: fair (FIFO) acquisition with fencing, owner-checked
//! release with direct hand-over to the next waiter, extension, and queries.
//!
//! The four lease keys (see [`super::keys::LockKeys`]) are passed in this order:
//! KEYS[1] lock, KEYS[2] fence counter, KEYS[3] queue, KEYS[4] alive.
//! A waiter is the member `<ttl ms>:<token>` of both sorted sets: in the queue scored by arrival
//! (µs), in `alive` by its heartbeat deadline (ms). Its wake list is `<wake prefix><token>`,
//! in the same hash slot. The scripts avoid work on the uncontended path: with nobody queued,
//! acquiring is GET, ZRANGE, SET, INCR and releasing is GET, ZRANGE, DEL.

use super::scripts::LuaScript;

/// Lua defining `first_live_waiter()`: the queue's first member whose heartbeat deadline has
/// not passed, dropping stale ones on the way (they crashed, or gave up without cancelling);
/// and `server_now_ms()`, the server clock in ms. Spliced into scripts at compile time.
macro_rules! waiter_functions {
    () => {
        r#"
local now_ms = nil
local function server_now_ms()
  if now_ms == nil then
    local t = redis.call('TIME')
    now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now_ms
end
local function first_live_waiter()
  while true do
    local head = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
    if head == nil then
      return nil
    end
    local deadline = redis.call('ZSCORE', KEYS[4], head)
    if deadline and tonumber(deadline) > server_now_ms() then
      return head
    end
    redis.call('ZREM', KEYS[3], head)
    redis.call('ZREM', KEYS[4], head)
  end
end
local function nudge(wake_prefix, member)
  local wake = wake_prefix .. string.match(member, '^%d+:(.*)$')
  redis.call('RPUSH', wake, 0)
  redis.call('PEXPIRE', wake, 60000)
end
"#
    };
}

/// Takes the lock if it is free and nobody live is queued ahead, else (optionally) joins the
/// queue or refreshes its place there.
///
/// ARGV[1] token, ARGV[2] TTL ms, ARGV[3] heartbeat window ms (0: do not queue),
/// ARGV[4] wake-list prefix.
/// Returns `{1, fence}` if ARGV[1] holds the lock now (newly taken with a new fence, or already
/// handed over to it), or `{0, lock PTTL ms, queue position or -1}`.
pub const LEASE_ACQUIRE: &str = concat!(
    waiter_functions!(),
    r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('DEL', ARGV[4] .. ARGV[1])
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
local me = ARGV[2] .. ':' .. ARGV[1]
if holder == false then
  local head = first_live_waiter()
  if head == nil or head == me then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    local fence = redis.call('INCR', KEYS[2])
    if head then
      redis.call('ZREM', KEYS[3], me)
      redis.call('ZREM', KEYS[4], me)
    end
    return {1, fence}
  end
end
local window = tonumber(ARGV[3])
if window > 0 then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[3], 'NX', t[1] .. string.format('%06d', tonumber(t[2])), me)
  redis.call('ZADD', KEYS[4], string.format('%d', server_now_ms() + window), me)
  redis.call('PEXPIRE', KEYS[3], window * 2)
  redis.call('PEXPIRE', KEYS[4], window * 2)
  return {0, redis.call('PTTL', KEYS[1]), redis.call('ZRANK', KEYS[3], me)}
end
return {0, redis.call('PTTL', KEYS[1]), -1}
"#
);

/// Owner-checked release that hands the lock straight to the first live waiter (its TTL, a new
/// fence, and a push of that fence onto its wake list), or deletes it if nobody waits.
///
/// ARGV[1] token, ARGV[2] wake-list prefix.
/// Returns 1 if ARGV[1] held the lock (now released or handed over), 0 otherwise (untouched).
pub const LEASE_RELEASE: &str = concat!(
    waiter_functions!(),
    r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local head = first_live_waiter()
if head == nil then
  redis.call('DEL', KEYS[1])
  return 1
end
local ttl, next = string.match(head, '^(%d+):(.*)$')
redis.call('ZREM', KEYS[3], head)
redis.call('ZREM', KEYS[4], head)
redis.call('SET', KEYS[1], next, 'PX', ttl)
local fence = redis.call('INCR', KEYS[2])
local wake = ARGV[2] .. next
redis.call('RPUSH', wake, fence)
redis.call('PEXPIRE', wake, ttl)
return 1
"#
);

/// A waiter gives up: leaves the queue, and nudges the new head if the lock is free. If the lock
/// was handed to it meanwhile, it keeps it instead.
///
/// ARGV[1] token, ARGV[2] its TTL ms, ARGV[3] wake-list prefix.
/// Returns `{1, fence}` if ARGV[1] holds the lock, `{0}` after leaving the queue.
pub const LEASE_CANCEL: &str = concat!(
    waiter_functions!(),
    r#"
redis.call('DEL', ARGV[3] .. ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
local me = ARGV[2] .. ':' .. ARGV[1]
redis.call('ZREM', KEYS[3], me)
redis.call('ZREM', KEYS[4], me)
if redis.call('EXISTS', KEYS[1]) == 0 then
  local head = first_live_waiter()
  if head then
    nudge(ARGV[3], head)
  end
end
return {0}
"#
);

/// Deletes the lock whoever holds it (operators' tool), and nudges the first live waiter.
///
/// ARGV[1] wake-list prefix. Returns 1 if a lock was deleted, else 0.
pub const FORCE_RELEASE: &str = concat!(
    waiter_functions!(),
    r#"
local existed = redis.call('DEL', KEYS[1])
local head = first_live_waiter()
if head then
  nudge(ARGV[1], head)
end
return existed
"#
);

/// Owner-checked extension (compare-and-PEXPIRE).
///
/// KEYS[1] lock. ARGV[1] token, ARGV[2] TTL ms.
/// Returns 1 if ARGV[1] holds the lock and its TTL is now ARGV[2] ms, else 0 (untouched).
pub const EXTEND: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// The owner's view of the lock.
///
/// KEYS[1] lock, KEYS[2] fence counter. ARGV[1] token.
/// Returns `{PTTL ms, fence}` if ARGV[1] holds the lock, `{-2, 0}` otherwise.
pub const OWNER_STATE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return {redis.call('PTTL', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0')}
end
return {-2, 0}
"#;

/// [`LEASE_ACQUIRE`], hashed once.
pub static LEASE_ACQUIRE_SCRIPT: LuaScript = LuaScript::new(LEASE_ACQUIRE);
/// [`LEASE_RELEASE`], hashed once.
pub static LEASE_RELEASE_SCRIPT: LuaScript = LuaScript::new(LEASE_RELEASE);
/// [`LEASE_CANCEL`], hashed once.
pub static LEASE_CANCEL_SCRIPT: LuaScript = LuaScript::new(LEASE_CANCEL);
/// [`FORCE_RELEASE`], hashed once.
pub static FORCE_RELEASE_SCRIPT: LuaScript = LuaScript::new(FORCE_RELEASE);
/// [`EXTEND`], hashed once.
pub static EXTEND_SCRIPT: LuaScript = LuaScript::new(EXTEND);
/// [`OWNER_STATE`], hashed once.
pub static OWNER_STATE_SCRIPT: LuaScript = LuaScript::new(OWNER_STATE);
