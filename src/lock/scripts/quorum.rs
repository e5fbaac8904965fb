//! The scripts of a Redlock quorum's leases ([`crate::lock::quorum`]). Each member is an
//! independent server holding the plain lock key `L` = prefix + name with the owner's token as
//! its value and a TTL (as `acquire()` and Redlock set it): no fence, no queue, no readers. The
//! documents' scripts ([`crate::lock::scripts::documents`]) take and release it; these check
//! the owner before they touch it.

use crate::lock::scripts::LuaScript;

/// Owner-checked TTL reset.
///
/// KEYS[1]: the lock key. ARGV[1]: the owner's token. ARGV[2]: the new TTL in milliseconds.
/// Returns 1 if ARGV[1] holds the lock (its TTL is now ARGV[2] ms), 0 otherwise (untouched).
pub const EXTEND: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0"#;

/// The owner's remaining TTL.
///
/// KEYS[1]: the lock key. ARGV[1]: the owner's token.
/// Returns the lock's PTTL in milliseconds (-1: no TTL) if ARGV[1] holds it, -2 otherwise.
pub const OWNER: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PTTL', KEYS[1])
end
return -2"#;

/// Owner-checked delete.
///
/// KEYS[1]: the lock key. ARGV[1]: the owner's token.
/// Returns 1 if ARGV[1] held the lock and it is deleted, 0 otherwise (untouched).
pub const RELEASE: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0"#;

/// [`EXTEND`].
pub static QUORUM_EXTEND_SCRIPT: LuaScript = LuaScript::new(EXTEND);
/// [`OWNER`].
pub static QUORUM_OWNER_SCRIPT: LuaScript = LuaScript::new(OWNER);
/// [`RELEASE`].
pub static QUORUM_RELEASE_SCRIPT: LuaScript = LuaScript::new(RELEASE);
