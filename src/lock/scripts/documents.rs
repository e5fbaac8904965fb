//! The scripts of the documents' API (`acquire` / `release`), with the documents' semantics:
//! the owner's value is the lock key's value, compared before any change.

use crate::lock::scripts::LuaScript;

/// Compare-and-delete, of the lock and of its holder's fence record (which a lease taken with the
/// same value may have left: a later `restore()` must not find it).
///
/// KEYS[1]: the lock key, KEYS[2]: its holder-fence key. ARGV[1]: the owner's value.
/// Returns 1 if the key held ARGV[1] and was deleted, 0 otherwise (missing, or another owner's
/// value, which is left untouched).
pub const RELEASE: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1], KEYS[2]) > 0 and 1 or 0
end
return 0"#;

/// Acquire-or-refresh, used when `SET ... NX GET` found the caller's own value (an earlier call
/// whose reply was lost), and in place of `SET ... NX GET` on servers older than Redis 7.0.
///
/// KEYS[1]: the lock key. ARGV[1]: the owner's value. ARGV[2]: the TTL in milliseconds.
/// Returns 1 if ARGV[1] holds the lock afterwards with a TTL of ARGV[2] ms (newly set, or
/// already held by ARGV[1] and refreshed), 0 if another value holds it (its TTL is untouched).
pub const ACQUIRE: &str = r#"local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0"#;

/// [`RELEASE`].
pub static RELEASE_SCRIPT: LuaScript = LuaScript::new(RELEASE);
/// [`ACQUIRE`].
pub static ACQUIRE_SCRIPT: LuaScript = LuaScript::new(ACQUIRE);
