//! Shared (read) leases: many readers or one writer per key, on the same keys and the same
//! queue as the exclusive lease of [`crate::lock::scripts::lease`] (whose scripts take the
//! readers set as KEYS[6] and respect it).
//!
//! # Data model
//!
//! - The writer holds `L` exactly as before (value: its token, with a TTL, and its fence
//!   record), so `lock('k')`, `isLocked('k')` and `ttl('k')` keep working.
//! - While shares are live and no writer holds `L`, `L` holds the readers' marker
//!   [`crate::lock::keys::SHARED_MARKER`] (`!rl:shared`) with a PX TTL reaching the latest
//!   live share's expiry (`mark_readers()`, called by every script that adds, extends or drops
//!   a share); when the last share goes, the marker is deleted (or replaced by the next
//!   writer). So the documents' `acquire()` (`SET L v NX GET`, or its script on Redis < 7)
//!   finds `L` taken and returns false, `isLocked()` is true and `ttl()` is the longest share's.
//!   No caller value or token can equal the marker (values starting with `!rl` are refused),
//!   so the documents' `release()` cannot delete it and no owner check mistakes it for a
//!   holder. Lease scripts read `L == marker` as "no writer" (`free_of_writer()`); a marker
//!   outliving its shares by a millisecond is overwritten by a writer that finds no live share.
//! - Readers hold *shares*: members of the sorted set `!rl{T}readers:L`
//!   ([`crate::lock::keys::LockKeys::readers`]), each a token scored by its own expiry (server
//!   ms). A share whose score has passed counts for nothing and is dropped by the next script
//!   that looks (`live_readers()`), so a crashed reader frees its share after its TTL. The set's
//!   own TTL follows its latest member's expiry, so an abandoned set disappears.
//! - Invariant: never a live share while a writer holds `L`. A writer takes `L` only when no
//!   share is live; a reader takes a share only when `L` is free (missing, or the marker).
//!
//! # Fair queue (FIFO, writers not starved)
//!
//! Writers and readers wait in the same queue (`queue:L` by arrival, `alive:L` heartbeats); a
//! reader's member is `r<ttl ms>:<token>`, a writer's `<ttl ms>:<token>`.
//!
//! - A reader enters at once only if `L` is free and no live *writer* is queued ahead of it
//!   (`writer_ahead()`): a reader arriving after a queued writer waits behind it, so a stream
//!   of readers cannot starve a writer.
//! - A writer enters only if `L` is free, no share is live and nobody live is queued ahead of it.
//!   While shares block it, its wait wakes when the earliest share expires (the attempt reports
//!   that as the PTTL), so a crashed reader delays it by that reader's TTL at most.
//! - Hand-over: when a writer releases (or the last live reader does, with `L` free), the head of
//!   the queue decides: a writer gets `L` for the claim window, with a fresh fence, as before;
//!   readers at the head get shares *together*: every consecutive reader at the head gets a
//!   share for the claim window and a push on its wake list (`admit_readers()`), up to the first
//!   writer, which then waits for them. Each woken reader claims its share (extends it to its
//!   TTL) by attempting again, exactly as a writer claims a handed-over `L`.
//!
//! # Fences
//!
//! Fences are for writers only: a share's `fence()` is 0. Readers write nothing a fence would
//! guard, and a share has no single authority to order (many hold at once). A writer taken after
//! readers gets a fence above every earlier one as before.
//!
//! # Promote and demote
//!
//! - Promote (read → write, [`PROMOTE`]) succeeds when the promoting reader's share is the only
//!   live one: its share becomes `L` (with a fresh fence, and the share's remaining TTL). While
//!   it waits for the other readers to leave, it stands at the very head of the queue as a
//!   writer (score 0), so no new reader enters meanwhile and a writer already queued stays
//!   behind it (it held the key before them). It keeps its share throughout: a promotion that
//!   gives up ([`PROMOTE_CANCEL`]) leaves a reader still holding its share. Two readers
//!   promoting at once block each other until one gives up (its wait ends): the other then
//!   still waits for that one's share, so a promotion with a wait can fail; release instead of
//!   promoting when in doubt. A reader whose share expired cannot promote (lost).
//! - Demote (write → read, [`DEMOTE`]) swaps `L` for a share with `L`'s remaining TTL, and lets
//!   in the readers queued at the head (a writer queued first still waits, for this share too).
//! - A lease's renewal and owner check ([`crate::lock::scripts::lease::EXTEND`],
//!   [`crate::lock::scripts::lease::OWNER_STATE`]) name only the keys its kind holds (a writer:
//!   `L` and its fences; a reader: `L` and the readers set, so a migrating Cluster slot serves
//!   them). A renewal that meets the lease changed meanwhile (promoted, demoted: its change
//!   counter was odd when read, or moved since) is retried with the new kind, never taken for
//!   a loss ([`crate::lock::lease::LeaseState::changed_since`]).
//! - Promote and demote are idempotent: one resent after its reply was lost (a broken
//!   connection) answers as the first did.
//!
//! # Not yet
//!
//! `memory://` refuses shared leases (its scripts are not mirrored).

use crate::lock::scripts::LuaScript;
use crate::lock::scripts::lease::lease_functions;

/// Takes (or claims) a share for ARGV[1]: if it already has a live share (handed over to it, or
/// taken by an earlier attempt whose reply was lost) its expiry becomes now + ARGV[2]; else it
/// takes one if `L` is free and no live writer is queued ahead of it; else (optionally) joins
/// the queue or refreshes its place and heartbeat there. A waiter that gave up after a fault
/// (tombstone) is refused, as in [`crate::lock::scripts::lease::LEASE_ACQUIRE`].
///
/// KEYS: all six. ARGV as [`crate::lock::scripts::lease::LEASE_ACQUIRE`]: token, TTL ms,
/// heartbeat window ms (0: do not queue), wake-list prefix, tombstone prefix.
/// Returns `{1, 0}` if ARGV[1] holds a share now, or `{0, lock PTTL ms, queue position or -1}`.
pub const SHARED_ACQUIRE: &str = concat!(
    lease_functions!(),
    r#"
if redis.call('EXISTS', ARGV[5] .. ARGV[1]) == 1 then
  return {0, writer_pttl(), -1}
end
local me = 'r' .. ARGV[2] .. ':' .. ARGV[1]
local share = redis.call('ZSCORE', KEYS[6], ARGV[1])
local mine = share and tonumber(share) > now_ms()
if mine or (free_of_writer() and not writer_ahead(me)) then
  redis.call('DEL', ARGV[4] .. ARGV[1])
  add_reader(ARGV[1], ARGV[2])
  leave_queue(me)
  return {1, 0}
end
local window = tonumber(ARGV[3])
if window > 0 then
  local rank = join_queue(me, window)
  return {0, writer_pttl(), rank}
end
return {0, writer_pttl(), -1}
"#
);

/// A waiting reader gives up: leaves the queue, and lets in whoever its leaving unblocks. If a
/// share was handed to it meanwhile, it claims it instead.
///
/// KEYS: all six. ARGV[1] token, ARGV[2] its TTL ms, ARGV[3] wake-list prefix, ARGV[4] how long
/// a nudge (or a handed-over share) waits for its waiter (ms).
/// Returns `{1, 0}` if ARGV[1] holds a share, `{0}` after leaving the queue.
pub const SHARED_CANCEL: &str = concat!(
    lease_functions!(),
    r#"
redis.call('DEL', ARGV[3] .. ARGV[1])
local me = 'r' .. ARGV[2] .. ':' .. ARGV[1]
leave_queue(me)
local share = redis.call('ZSCORE', KEYS[6], ARGV[1])
if share and tonumber(share) > now_ms() then
  add_reader(ARGV[1], ARGV[2])
  return {1, 0}
end
after_leave(ARGV[3], ARGV[4])
return {0}
"#
);

/// A reader asks to become the writer: takes `L` (fenced, for the share's remaining TTL) if its
/// share is the only live one and `L` is free; else, with a heartbeat window, stands at the head
/// of the queue (score 0) so that no reader enters meanwhile. A reader whose share is gone is
/// refused (and a lock handed to its queue member meanwhile is passed on).
///
/// KEYS: all six. ARGV[1] token, ARGV[2] heartbeat window ms (0: do not queue), ARGV[3]
/// wake-list prefix, ARGV[4] claim window ms.
/// Returns `{1, fence}` once ARGV[1] holds `L`, `{0}` while other readers hold shares, `{-1}` if
/// its share is gone.
///
/// A promote resent after its reply was lost finds its share gone and `L` its own, as does a
/// promoter whose share expired while it waited and whose place in line was then handed `L`
/// (which must not count as a promotion: a writer may have held `L` in between). The hand-over
/// left a push on its wake list, with `L`'s own expiry (the promoter polls, never pops it); a
/// promotion deleted that list, and nothing pushes to it later (its token has no place in line
/// any more). So: share gone, `L` its own, no wake list, its fence record → `{1, fence}`.
pub const PROMOTE: &str = concat!(
    lease_functions!(),
    r#"
local me = ARGV[4] .. ':' .. ARGV[1]
local share = redis.call('ZSCORE', KEYS[6], ARGV[1])
if not share or tonumber(share) <= now_ms() then
  if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('EXISTS', ARGV[3] .. ARGV[1]) == 0 then
    local fence = holder_fence(ARGV[1])
    if fence then
      return {1, fence}
    end
  end
  redis.call('ZREM', KEYS[6], ARGV[1])
  leave_queue(me)
  if redis.call('GET', KEYS[1]) == ARGV[1] then
    release_to_next(ARGV[3], ARGV[4])
  end
  return {-1}
end
if free_of_writer() and live_readers() == 1 then
  local ttl = int(math.max(1, tonumber(share) - now_ms()))
  redis.call('ZREM', KEYS[6], ARGV[1])
  leave_queue(me)
  redis.call('DEL', ARGV[3] .. ARGV[1])
  local fence = next_fence()
  set_fence(fence, ARGV[1], ttl)
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
  return {1, fence}
end
local window = tonumber(ARGV[2])
if window > 0 then
  redis.call('ZADD', KEYS[4], 0, me)
  redis.call('ZADD', KEYS[5], int(now_ms() + window), me)
  redis.call('PEXPIRE', KEYS[4], window * 2)
  redis.call('PEXPIRE', KEYS[5], window * 2)
end
return {0}
"#
);

/// A promotion gives up: its member leaves the head of the queue (the reader keeps its share),
/// and whoever that unblocks is let in.
///
/// KEYS: all six. ARGV[1] token, ARGV[2] wake-list prefix, ARGV[3] claim window ms (as given
/// to [`PROMOTE`]).
/// Returns 0.
pub const PROMOTE_CANCEL: &str = concat!(
    lease_functions!(),
    r#"
local me = ARGV[3] .. ':' .. ARGV[1]
leave_queue(me)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  release_to_next(ARGV[2], ARGV[3])
end
after_leave(ARGV[2], ARGV[3])
return 0
"#
);

/// The writer becomes a reader: `L` (and its fence record) is swapped for a share with `L`'s
/// remaining TTL, and the readers queued at the head are let in.
///
/// KEYS: all six. ARGV[1] token, ARGV[2] wake-list prefix, ARGV[3] claim window ms.
/// Returns 1 if ARGV[1] held `L` (now a share), or already holds a live share (a demote resent
/// after its reply was lost: only a demote gives an exclusive lease's token a share), else 0
/// (untouched).
pub const DEMOTE: &str = concat!(
    lease_functions!(),
    r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  local share = redis.call('ZSCORE', KEYS[6], ARGV[1])
  if share and tonumber(share) > now_ms() then
    return 1
  end
  return 0
end
local ttl = math.max(1, redis.call('PTTL', KEYS[1]))
redis.call('DEL', KEYS[1], KEYS[3])
add_reader(ARGV[1], ttl)
admit_readers(ARGV[2], ARGV[3])
return 1
"#
);

/// [`SHARED_ACQUIRE`], hashed once.
pub static SHARED_ACQUIRE_SCRIPT: LuaScript = LuaScript::new(SHARED_ACQUIRE);
/// [`SHARED_CANCEL`], hashed once.
pub static SHARED_CANCEL_SCRIPT: LuaScript = LuaScript::new(SHARED_CANCEL);
/// [`PROMOTE`], hashed once.
pub static PROMOTE_SCRIPT: LuaScript = LuaScript::fenced(PROMOTE);
/// [`PROMOTE_CANCEL`], hashed once.
pub static PROMOTE_CANCEL_SCRIPT: LuaScript = LuaScript::fenced(PROMOTE_CANCEL);
/// [`DEMOTE`], hashed once.
pub static DEMOTE_SCRIPT: LuaScript = LuaScript::new(DEMOTE);
