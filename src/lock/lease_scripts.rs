//! The Lua scripts of the lease API: fair (FIFO) acquisition with fencing, owner-checked
//! release with direct hand-over to the next waiter, extension, and queries.
//!
//! The five lease keys (see [`super::keys::LockKeys`]) are passed in this order:
//! KEYS[1] lock, KEYS[2] fence counter, KEYS[3] queue, KEYS[4] alive, KEYS[5] ttls.
//! A waiter's wake list is `ARGV[wake prefix] .. token`, in the same hash slot.

use super::scripts::LuaScript;

/// Lua that removes waiters whose heartbeat deadline passed (they crashed, or gave up without
/// cancelling). Expects `now_ms`; uses KEYS[3..5]. Spliced into scripts at compile time.
macro_rules! prune_stale_waiters {
    () => {
        r#"
local stale = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now_ms, 'LIMIT', 0, 100)
for _, w in ipairs(stale) do
  redis.call('ZREM', KEYS[3], w)
  redis.call('ZREM', KEYS[4], w)
  redis.call('HDEL', KEYS[5], w)
end
"#
    };
}

/// Lua computing `now_ms` (server clock, integer milliseconds) and `now_us_text` (exact
/// microseconds as a string: Lua numbers print with 14 digits).
macro_rules! server_now {
    () => {
        r#"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us_text = t[1] .. string.format('%06d', tonumber(t[2]))
"#
    };
}

/// Takes the lock if it is free and nobody is queued ahead, else (optionally) joins the queue.
///
/// ARGV[1] token, ARGV[2] TTL ms, ARGV[3] heartbeat window ms (0: do not queue),
/// ARGV[4] wake-list prefix.
/// Returns `{1, fence}` if ARGV[1] holds the lock now (newly taken with a new fence, or already
/// handed over to it), or `{0, lock PTTL ms, queue position or -1}`.
pub const LEASE_ACQUIRE: &str = concat!(
    server_now!(),
    prune_stale_waiters!(),
    r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('DEL', ARGV[4] .. ARGV[1])
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
if holder == false then
  local head = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
  if head == nil or head == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    local fence = redis.call('INCR', KEYS[2])
    redis.call('ZREM', KEYS[3], ARGV[1])
    redis.call('ZREM', KEYS[4], ARGV[1])
    redis.call('HDEL', KEYS[5], ARGV[1])
    return {1, fence}
  end
end
local window = tonumber(ARGV[3])
if window > 0 then
  redis.call('ZADD', KEYS[3], 'NX', now_us_text, ARGV[1])
  redis.call('ZADD', KEYS[4], string.format('%d', now_ms + window), ARGV[1])
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
  for i = 3, 5 do
    redis.call('PEXPIRE', KEYS[i], window * 2)
  end
  return {0, redis.call('PTTL', KEYS[1]), redis.call('ZRANK', KEYS[3], ARGV[1])}
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
    r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
"#,
    server_now!(),
    prune_stale_waiters!(),
    r#"
while true do
  local next = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
  if next == nil then
    redis.call('DEL', KEYS[1])
    return 1
  end
  redis.call('ZREM', KEYS[3], next)
  redis.call('ZREM', KEYS[4], next)
  local ttl = redis.call('HGET', KEYS[5], next)
  redis.call('HDEL', KEYS[5], next)
  if ttl then
    redis.call('SET', KEYS[1], next, 'PX', ttl)
    local fence = redis.call('INCR', KEYS[2])
    local wake = ARGV[2] .. next
    redis.call('RPUSH', wake, fence)
    redis.call('PEXPIRE', wake, ttl)
    return 1
  end
end
"#
);

/// A waiter gives up: leaves the queue, and nudges the new head if the lock is free. If the lock
/// was handed to it meanwhile, it keeps it instead.
///
/// ARGV[1] token, ARGV[2] wake-list prefix.
/// Returns `{1, fence}` if ARGV[1] holds the lock, `{0}` after leaving the queue.
pub const LEASE_CANCEL: &str = r#"
redis.call('DEL', ARGV[2] .. ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  local head = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
  if head then
    redis.call('RPUSH', ARGV[2] .. head, 0)
    redis.call('PEXPIRE', ARGV[2] .. head, 60000)
  end
end
return {0}
"#;

/// Deletes the lock whoever holds it (operators' tool), and nudges the first waiter.
///
/// ARGV[1] wake-list prefix. Returns 1 if a lock was deleted, else 0.
pub const FORCE_RELEASE: &str = r#"
local existed = redis.call('DEL', KEYS[1])
local head = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
if head then
  redis.call('RPUSH', ARGV[1] .. head, 0)
  redis.call('PEXPIRE', ARGV[1] .. head, 60000)
end
return existed
"#;

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
