//! The Lua scripts of the lease API: fair (FIFO) acquisition with fencing, owner-checked
//! release with direct hand-over to the next waiter, extension, and queries.
//!
//! Every lease script takes the lock's keys (see [`crate::lock::keys::LockKeys`]) in this order, or a
//! leading part of it: KEYS[1] lock, KEYS[2] the slot's fence counter, KEYS[3] the holder's
//! fence, KEYS[4] queue, KEYS[5] alive, KEYS[6] readers (shared leases: see
//! [`crate::lock::scripts::shared`], which also describes how writers and readers share the
//! queue).
//!
//! - A waiter is the member `<ttl ms>:<token>` (a reader: `r<ttl ms>:<token>`) of both sorted sets: in the queue scored by
//!   arrival (µs), in `alive` by its heartbeat deadline (ms). Its wake list is
//!   `<wake prefix><token>`, in the same hash slot.
//! - The holder's fence is kept as `<fence>:<token>` and counts only for that token: a record
//!   left behind (the lock deleted by the documents' `release()`, or expired) is never taken for
//!   a later holder's.
//! - A fence is `max(last fence of the slot + 1, server time in µs + epoch × 10^11)`: strictly
//!   increasing per slot (so per lock) while the counter lives, and, if the counter is lost
//!   (evicted, a restart without persistence, a failover to a replica that never got it), still
//!   above every fence handed out before, as long as the server clock does not step back by
//!   more than 10^11 µs (27.7 hours) times the number of failovers since. The epoch is the
//!   configuration epoch of the node, which every failover raises on the promoted replica:
//!   fenced scripts get it as their last argument (see
//!   [`crate::lock::scripts::LuaScript::fenced`]): a number (Sentinel's `config-epoch`; 0 for
//!   a single server), or `c` on a Redis Cluster node, where the script reads the node's own
//!   `cluster_my_epoch` from `CLUSTER INFO` when it hands out a fence. It counts up to
//!   50,000 (so fences stay below 2^53, exact in Lua and in doubles, until about 2095).
//! - A hand-over sets the lock to the next waiter for a short claim window only; the waiter
//!   extends it to its own TTL when it wakes ([`LEASE_ACQUIRE`] finds the lock already its own).
//!   A waiter that died just before its turn therefore blocks the others for the claim window,
//!   not for its whole TTL.
//! - Scripts check before they write, and write the lock key last, so a script that fails part
//!   way never leaves a lock taken.

use crate::lock::scripts::LuaScript;

/// Lua helpers spliced into the scripts at compile time:
/// `int(n)` (a number as an exact decimal string; Lua's own conversion keeps 14 digits only),
/// `now_ms()` / `now_us()` (the server clock), `next_fence()`, `claim(token, ttl)` (keep a lock
/// that is already `token`'s, extending it and its fence to `ttl` ms; returns the fence),
/// `leave_queue(member)` (out of the line and its heartbeats), `join_queue(me, window)` (into
/// the line, or keep its place, with a heartbeat deadline `window` ms away; returns its rank),
/// `first_live_waiter()` (the queue's first member whose heartbeat deadline has not passed,
/// dropping stale ones on the way), `release_to_next(wake_prefix, claim_ms)` (hand the lock to
/// the first live waiter for the claim window, or delete it) and `nudge(wake_prefix, member,
/// ms)` (wake a waiter so it tries again). For shared leases: `MARKER` (the value `L` holds
/// while only readers hold it, [`crate::lock::keys::SHARED_MARKER`]), `free_of_writer()` (`L`
/// missing or the marker), `mark_readers()` (set `mark`, the marker unless a semaphore script
/// changed it, to the latest live share's expiry, or delete it when no share is live; leaves a
/// writer's `L` alone), `live_readers()`, `add_reader()`, `admit_readers()`, `release_share()`,
/// `after_leave()`. For semaphores ([`crate::lock::scripts::semaphore`]): `stored_permits()`,
/// `use_permits(n)`, `admit_permits()`, `release_permit()`.
macro_rules! lease_functions {
    () => {
        r#"
local function int(n)
  return string.format('%.0f', n)
end
local time = nil
local function now_ms()
  time = time or redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local function now_us()
  time = time or redis.call('TIME')
  return tonumber(time[1]) * 1000000 + tonumber(time[2])
end
local function node_epoch()
  local given = ARGV[#ARGV]
  if given == 'c' then
    local info = redis.pcall('CLUSTER', 'INFO')
    if type(info) ~= 'string' then
      return 0
    end
    return tonumber(string.match(info, 'cluster_my_epoch:(%d+)')) or 0
  end
  return tonumber(given) or 0
end
local function next_fence()
  local last = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
  local epoch = math.min(node_epoch(), 50000)
  local fence = math.max(last + 1, now_us() + epoch * 100000000000)
  redis.call('SET', KEYS[2], int(fence))
  return fence
end
local function holder_fence(token)
  local record = redis.call('GET', KEYS[3])
  if record then
    local fence, owner = string.match(record, '^(%d+):(.*)$')
    if owner == token then
      return tonumber(fence)
    end
  end
  return nil
end
local function set_fence(fence, token, ttl)
  redis.call('SET', KEYS[3], int(fence) .. ':' .. token, 'PX', ttl)
end
local function claim(token, ttl)
  local fence = holder_fence(token)
  if fence == nil then
    fence = next_fence()
    set_fence(fence, token, ttl)
  else
    redis.call('PEXPIRE', KEYS[3], ttl)
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
  return fence
end
local function is_reader(member)
  return string.byte(member, 1) == 114
end
local function live_readers()
  if KEYS[6] == nil or redis.call('EXISTS', KEYS[6]) == 0 then
    return 0
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now_ms())
  return redis.call('ZCARD', KEYS[6])
end
local MARKER = '!rl:shared'
local mark = MARKER
local function free_of_writer()
  local v = redis.call('GET', KEYS[1])
  return v == false or v == MARKER
end
local function mark_readers()
  if KEYS[6] == nil then
    return
  end
  local v = redis.call('GET', KEYS[1])
  if v ~= false and v ~= mark then
    return
  end
  if live_readers() == 0 then
    if v then
      redis.call('DEL', KEYS[1])
    end
    return
  end
  local last = redis.call('ZRANGE', KEYS[6], -1, -1, 'WITHSCORES')
  local ms = int(math.max(1, tonumber(last[2]) - now_ms() + 1))
  redis.call('SET', KEYS[1], mark, 'PX', ms)
  redis.call('PEXPIRE', KEYS[6], ms)
end
local function writer_pttl()
  if redis.call('GET', KEYS[1]) == MARKER then
    return -2
  end
  return redis.call('PTTL', KEYS[1])
end
local function busy_pttl()
  if KEYS[6] and free_of_writer() then
    local first = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
    if first[2] then
      return math.max(0, tonumber(first[2]) - now_ms())
    end
  end
  return redis.call('PTTL', KEYS[1])
end
local function add_reader(token, ms)
  redis.call('ZADD', KEYS[6], int(now_ms() + tonumber(ms)), token)
  local last = redis.call('ZRANGE', KEYS[6], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[6], int(math.max(1, tonumber(last[2]) - now_ms() + 1)))
  mark_readers()
end
local function leave_queue(member)
  redis.call('ZREM', KEYS[4], member)
  redis.call('ZREM', KEYS[5], member)
end
local function join_queue(me, window)
  time = time or redis.call('TIME')
  redis.call('ZADD', KEYS[4], 'NX', time[1] .. string.format('%06d', tonumber(time[2])), me)
  redis.call('ZADD', KEYS[5], int(now_ms() + window), me)
  redis.call('PEXPIRE', KEYS[4], window * 2)
  redis.call('PEXPIRE', KEYS[5], window * 2)
  return redis.call('ZRANK', KEYS[4], me)
end
local function first_live_waiter()
  while true do
    local head = redis.call('ZRANGE', KEYS[4], 0, 0)[1]
    if head == nil then
      return nil
    end
    local deadline = redis.call('ZSCORE', KEYS[5], head)
    if deadline and tonumber(deadline) > now_ms() then
      return head
    end
    leave_queue(head)
  end
end
local function admit_readers(wake_prefix, claim_ms)
  while true do
    local head = first_live_waiter()
    if head == nil or not is_reader(head) then
      return
    end
    local ttl, next = string.match(head, '^r(%d+):(.*)$')
    leave_queue(head)
    local window = int(math.min(tonumber(ttl), tonumber(claim_ms)))
    add_reader(next, window)
    local wake = wake_prefix .. next
    redis.call('RPUSH', wake, 0)
    redis.call('PEXPIRE', wake, window)
  end
end
local function release_to_next(wake_prefix, claim_ms)
  local head = first_live_waiter()
  if head == nil or is_reader(head) or live_readers() > 0 then
    redis.call('DEL', KEYS[1], KEYS[3])
    mark_readers()
    if head and is_reader(head) then
      admit_readers(wake_prefix, claim_ms)
    end
    return
  end
  local ttl, next = string.match(head, '^(%d+):(.*)$')
  leave_queue(head)
  local window = int(math.min(tonumber(ttl), tonumber(claim_ms)))
  local fence = next_fence()
  set_fence(fence, next, window)
  redis.call('SET', KEYS[1], next, 'PX', window)
  local wake = wake_prefix .. next
  redis.call('RPUSH', wake, int(fence))
  redis.call('PEXPIRE', wake, window)
end
local function nudge(wake_prefix, member, ms)
  local wake = wake_prefix .. string.match(member, '^r?%d+:(.*)$')
  redis.call('RPUSH', wake, 0)
  redis.call('PEXPIRE', wake, ms)
end
local function after_leave(wake_prefix, ms)
  if free_of_writer() then
    local head = first_live_waiter()
    if head and is_reader(head) then
      admit_readers(wake_prefix, ms)
    elseif head then
      nudge(wake_prefix, head, ms)
    end
  end
end
local function writer_ahead(me)
  local rank = redis.call('ZRANK', KEYS[4], me)
  if rank == 0 then
    return false
  end
  local stop = -1
  if rank then
    stop = rank - 1
  end
  for _, member in ipairs(redis.call('ZRANGE', KEYS[4], 0, stop)) do
    if not is_reader(member) then
      local deadline = redis.call('ZSCORE', KEYS[5], member)
      if deadline and tonumber(deadline) > now_ms() then
        return true
      end
    end
  end
  return false
end
local function release_share(token, wake_prefix, claim_ms)
  local share = redis.call('ZSCORE', KEYS[6], token)
  redis.call('ZREM', KEYS[6], token)
  if not share or tonumber(share) <= now_ms() then
    return 0
  end
  if live_readers() == 0 and free_of_writer() then
    release_to_next(wake_prefix, claim_ms)
  else
    mark_readers()
  end
  return 1
end
local function stored_permits()
  local v = redis.call('GET', KEYS[1])
  return v and tonumber(string.match(v, '^!rl:permits=(%d+)$'))
end
local function use_permits(n)
  mark = '!rl:permits=' .. int(n)
  if redis.call('GET', KEYS[1]) ~= mark then
    redis.call('DEL', KEYS[1])
  end
end
local function admit_permits(n, wake_prefix, claim_ms)
  while live_readers() < n do
    local head = first_live_waiter()
    if head == nil then
      break
    end
    local ttl, next = string.match(head, '^r(%d+):(.*)$')
    leave_queue(head)
    if next then
      local window = int(math.min(tonumber(ttl), tonumber(claim_ms)))
      add_reader(next, window)
      local wake = wake_prefix .. next
      redis.call('RPUSH', wake, 0)
      redis.call('PEXPIRE', wake, window)
    end
  end
  mark_readers()
end
local function release_permit(token, wake_prefix, claim_ms, n)
  local share = redis.call('ZSCORE', KEYS[6], token)
  redis.call('ZREM', KEYS[6], token)
  local permits = stored_permits() or tonumber(n)
  use_permits(permits)
  admit_permits(permits, wake_prefix, claim_ms)
  if share and tonumber(share) > now_ms() then
    return 1
  end
  return 0
end
"#
    };
}

/// Takes the lock if it is free and nobody live is queued ahead, else (optionally) joins the
/// queue or refreshes its place and heartbeat there. If the lock is already ARGV[1]'s (handed
/// over to it, or taken by an earlier attempt whose reply was lost), claims it: its TTL (and its
/// fence's) becomes ARGV[2].
///
/// A waiter that gave up after a fault ([`LEASE_ABANDON`]) is refused: an attempt of it that
/// was stuck in a stalled server's socket must not take the lock for nobody.
///
/// KEYS: all six. ARGV[1] token, ARGV[2] TTL ms, ARGV[3] heartbeat window ms (0: do not queue),
/// ARGV[4] wake-list prefix, ARGV[5] tombstone prefix.
/// Returns `{1, fence}` if ARGV[1] holds the lock now, or `{0, lock PTTL ms, queue position or
/// -1}`.
pub const LEASE_ACQUIRE: &str = concat!(
    lease_functions!(),
    r#"
if redis.call('EXISTS', ARGV[5] .. ARGV[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1]), -1}
end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('DEL', ARGV[4] .. ARGV[1])
  return {1, claim(ARGV[1], ARGV[2])}
end
local me = ARGV[2] .. ':' .. ARGV[1]
if holder == false or holder == MARKER then
  local head = first_live_waiter()
  if (head == nil or head == me) and live_readers() == 0 then
    local fence = next_fence()
    set_fence(fence, ARGV[1], ARGV[2])
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    if head then
      leave_queue(me)
    end
    return {1, fence}
  end
end
local window = tonumber(ARGV[3])
if window > 0 then
  local rank = join_queue(me, window)
  return {0, busy_pttl(), rank}
end
return {0, busy_pttl(), -1}
"#
);

/// Owner-checked release that hands the lock straight to the first live waiter (a new fence,
/// the lock set to that waiter for `min(its TTL, claim window)`, and a push of the fence onto
/// its wake list), or deletes it if nobody waits.
///
/// With ARGV[4] `shared`, releases ARGV[1]'s shared lease instead (its member of the readers
/// set); the last live reader out hands the lock on the same way. With ARGV[4] `permit` (and
/// ARGV[5] the permit count), releases ARGV[1]'s semaphore permit and lets in the waiters at
/// the head that the freed permits allow (see [`crate::lock::scripts::semaphore`]).
///
/// KEYS: all six. ARGV[1] token, ARGV[2] wake-list prefix, ARGV[3] claim window ms, ARGV[4]
/// `shared` for a shared lease, `permit` for a permit (else absent), ARGV[5] a permit's count.
/// Returns 1 if ARGV[1] held the lock (now released or handed over), 0 otherwise (untouched).
pub const LEASE_RELEASE: &str = concat!(
    lease_functions!(),
    r#"
if ARGV[4] == 'shared' then
  return release_share(ARGV[1], ARGV[2], ARGV[3])
end
if ARGV[4] == 'permit' then
  return release_permit(ARGV[1], ARGV[2], ARGV[3], ARGV[5])
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
release_to_next(ARGV[2], ARGV[3])
return 1
"#
);

/// A waiter gives up: leaves the queue, and nudges the new head if the lock is free. If the lock
/// was handed to it meanwhile, it claims it instead.
///
/// KEYS: all six. ARGV[1] token, ARGV[2] its TTL ms, ARGV[3] wake-list prefix, ARGV[4] how
/// long a nudge waits for its waiter (ms).
/// Returns `{1, fence}` if ARGV[1] holds the lock, `{0}` after leaving the queue.
pub const LEASE_CANCEL: &str = concat!(
    lease_functions!(),
    r#"
redis.call('DEL', ARGV[3] .. ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return {1, claim(ARGV[1], ARGV[2])}
end
local me = ARGV[2] .. ':' .. ARGV[1]
leave_queue(me)
after_leave(ARGV[3], ARGV[4])
return {0}
"#
);

/// A waiter gives up after a fault, when some of its commands may still be stuck in a stalled
/// server's sockets: it leaves a tombstone (so such a command, when it finally runs, takes
/// nothing), leaves the queue, and if the lock is (or was meanwhile made) its own, releases it
/// to the next waiter instead of keeping it: the caller is told it did not get the lock.
///
/// With ARGV[7] `shared`, the waiter is a reader: its share, if it has one, is released. With
/// ARGV[7] `permit` (and ARGV[8] the permit count), it waits for a semaphore permit: its
/// permit, if it has one, is released.
///
/// KEYS: all six. ARGV[1] token, ARGV[2] its TTL ms, ARGV[3] wake-list prefix, ARGV[4] tombstone
/// prefix, ARGV[5] tombstone lifetime ms, ARGV[6] claim window ms, ARGV[7] `shared` for a
/// reader, `permit` for a permit (else absent), ARGV[8] a permit's count.
/// Returns 1 if it held the lock (now passed on), else 0.
pub const LEASE_ABANDON: &str = concat!(
    lease_functions!(),
    r#"
redis.call('SET', ARGV[4] .. ARGV[1], 1, 'PX', ARGV[5])
redis.call('DEL', ARGV[3] .. ARGV[1])
if ARGV[7] == 'shared' then
  local me = 'r' .. ARGV[2] .. ':' .. ARGV[1]
  leave_queue(me)
  local held = release_share(ARGV[1], ARGV[3], ARGV[6])
  after_leave(ARGV[3], ARGV[6])
  return held
end
if ARGV[7] == 'permit' then
  local me = 'r' .. ARGV[2] .. ':' .. ARGV[1]
  leave_queue(me)
  return release_permit(ARGV[1], ARGV[3], ARGV[6], ARGV[8])
end
local me = ARGV[2] .. ':' .. ARGV[1]
leave_queue(me)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  release_to_next(ARGV[3], ARGV[6])
  return 1
end
return 0
"#
);

/// Deletes the lock whoever holds it, writer or readers (operators' tool), and nudges the first
/// live waiter (readers at the head of the queue are let in).
///
/// KEYS: all six. ARGV[1] wake-list prefix, ARGV[2] how long a nudge waits (ms).
/// Returns 1 if a lock (or a share) was deleted, else 0.
pub const FORCE_RELEASE: &str = concat!(
    lease_functions!(),
    r#"
local existed = redis.call('DEL', KEYS[1])
if KEYS[6] and live_readers() > 0 then
  existed = 1
end
if KEYS[6] then
  redis.call('DEL', KEYS[6])
end
redis.call('DEL', KEYS[3])
local head = first_live_waiter()
if head and is_reader(head) then
  admit_readers(ARGV[1], ARGV[2])
elseif head then
  nudge(ARGV[1], head, ARGV[2])
end
return existed
"#
);

/// Owner-checked extension (compare-and-PEXPIRE of the lock and its fence). Given the readers
/// set as KEYS[4], extends ARGV[1]'s share instead when it does not hold the lock itself (its
/// expiry becomes now + ARGV[2] ms, if it has not passed; an expired share is dropped): a
/// lease's renewal works whichever kind it is now, even if it was promoted or demoted while
/// the renewal was on its way.
///
/// A share's own renewal passes only the lock and the readers set (KEYS[1], KEYS[2]): both
/// exist while it reads, so a Redis Cluster slot being migrated serves it instead of answering
/// `TRYAGAIN` for the absent fence record. If ARGV[1] holds the lock itself then (promoted
/// meanwhile) it answers 0 and touches nothing: the caller's change counter tells that from a
/// loss ([`crate::lock::lease::LeaseState::changed_since`]).
///
/// A semaphore permit (renewed as a share of the semaphore's key) passes its permit count as
/// ARGV[3]: the semaphore's key then keeps that count (see [`crate::lock::scripts::semaphore`])
/// with the new latest expiry.
///
/// KEYS: the first three, optionally the readers set; or the lock and the readers set. ARGV[1]
/// token, ARGV[2] TTL ms, ARGV[3] a permit's count (else absent).
/// Returns 1 if ARGV[1] holds the lock (or a share) and its TTL is now ARGV[2] ms, else 0
/// (untouched).
pub const EXTEND: &str = r#"
local readers = KEYS[4]
if #KEYS == 2 then
  readers = KEYS[2]
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if #KEYS == 2 then
    return 0
  end
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if readers then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local share = redis.call('ZSCORE', readers, ARGV[1])
  if not share or tonumber(share) <= now then
    redis.call('ZREM', readers, ARGV[1])
    return 0
  end
  redis.call('ZADD', readers, string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
  local last = redis.call('ZRANGE', readers, -1, -1, 'WITHSCORES')
  local ms = string.format('%.0f', math.max(1, tonumber(last[2]) - now + 1))
  redis.call('PEXPIRE', readers, ms)
  local holder = redis.call('GET', KEYS[1])
  if ARGV[3] then
    if holder == false or string.sub(holder, 1, 12) == '!rl:permits=' then
      redis.call('SET', KEYS[1], '!rl:permits=' .. ARGV[3], 'PX', ms)
    end
  elseif holder == false or holder == '!rl:shared' then
    redis.call('SET', KEYS[1], '!rl:shared', 'PX', ms)
  end
  return 1
end
return 0
"#;

/// The owner's view of the lock: its PTTL and the holder's fence. A lock held by ARGV[1]
/// without a fence (taken with `acquire()`, or its fence key evicted) gets a fresh one when
/// ARGV[2] is `1`.
///
/// Given the readers set as KEYS[4], and ARGV[1] does not hold the lock itself: its share,
/// `{ms left, 0, 1}` (shares have no fence; the third element tells a share). A share asks
/// with the lock and the readers set only (see [`EXTEND`]): then a lock held by ARGV[1] itself
/// answers `{-2, 0}`.
///
/// KEYS: the first three, optionally the readers set; or the lock and the readers set.
/// ARGV[1] token, ARGV[2] `1` to assign a missing fence, else `0`.
/// Returns `{PTTL ms, fence (0: none)}` if ARGV[1] holds the lock, `{-2, 0}` otherwise. A lock
/// without a TTL (not set by this library) gets no fence record: every record has a TTL.
pub const OWNER_STATE: &str = concat!(
    lease_functions!(),
    r#"
local readers = KEYS[4]
if #KEYS == 2 then
  readers = KEYS[2]
end
if ARGV[1] == MARKER or redis.call('GET', KEYS[1]) ~= ARGV[1] then
  local share = ARGV[1] ~= MARKER and readers and redis.call('ZSCORE', readers, ARGV[1])
  if share and tonumber(share) > now_ms() then
    return {tonumber(share) - now_ms(), 0, 1}
  end
  return {-2, 0}
end
if #KEYS == 2 then
  return {-2, 0}
end
local pttl = redis.call('PTTL', KEYS[1])
local fence = holder_fence(ARGV[1])
if fence == nil then
  if ARGV[2] ~= '1' or pttl <= 0 then
    return {pttl, 0}
  end
  fence = next_fence()
  set_fence(fence, ARGV[1], pttl)
end
return {pttl, fence}
"#
);

pub(crate) use lease_functions;

/// [`LEASE_ACQUIRE`], hashed once.
pub static LEASE_ACQUIRE_SCRIPT: LuaScript = LuaScript::fenced(LEASE_ACQUIRE);
/// [`LEASE_RELEASE`], hashed once.
pub static LEASE_RELEASE_SCRIPT: LuaScript = LuaScript::fenced(LEASE_RELEASE);
/// [`LEASE_CANCEL`], hashed once.
pub static LEASE_CANCEL_SCRIPT: LuaScript = LuaScript::fenced(LEASE_CANCEL);
/// [`LEASE_ABANDON`], hashed once.
pub static LEASE_ABANDON_SCRIPT: LuaScript = LuaScript::fenced(LEASE_ABANDON);
/// [`FORCE_RELEASE`], hashed once.
pub static FORCE_RELEASE_SCRIPT: LuaScript = LuaScript::new(FORCE_RELEASE);
/// [`EXTEND`], hashed once.
pub static EXTEND_SCRIPT: LuaScript = LuaScript::new(EXTEND);
/// [`OWNER_STATE`], hashed once.
pub static OWNER_STATE_SCRIPT: LuaScript = LuaScript::fenced(OWNER_STATE);
