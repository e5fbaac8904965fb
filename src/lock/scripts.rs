//! The Lua scripts, each a named constant wrapped once in `redis::Script` (which hashes it once),
//! plus the EVALSHA-then-EVAL call that runs them over the lean connection.

use std::sync::LazyLock;

use super::conn::Connection;
use super::error::Result;
use super::resp::{self, Reply};

/// Compare-and-delete.
///
/// KEYS[1]: the lock key. ARGV[1]: the owner's value.
/// Returns 1 if the key held ARGV[1] and was deleted, 0 otherwise (missing, or another owner's
/// value, which is left untouched).
pub const RELEASE: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
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

/// A script body, its SHA1 and the encoded `EVALSHA <sha1> 1` prefix, computed once.
pub struct LuaScript {
    body: &'static str,
    script: LazyLock<redis::Script>,
    /// `EVALSHA`, the hash and the key count, RESP-encoded.
    evalsha_head: LazyLock<Vec<u8>>,
}

impl LuaScript {
    const fn new(body: &'static str, make: fn() -> redis::Script, head: fn() -> Vec<u8>) -> Self {
        LuaScript {
            body,
            script: LazyLock::new(make),
            evalsha_head: LazyLock::new(head),
        }
    }

    /// The script source.
    pub fn body(&self) -> &'static str {
        self.body
    }

    /// The SHA1 hex digest EVALSHA uses.
    pub fn sha1(&self) -> &str {
        self.script.get_hash()
    }

    /// Runs the script with one key (`prefix` + `key`) and `args`, by EVALSHA, falling back to
    /// EVAL (which also caches it on the server) when the server answers NOSCRIPT.
    pub fn run<R>(
        &self,
        conn: &mut Connection,
        prefix: &[u8],
        key: &[u8],
        args: &[&[u8]],
        f: impl Fn(Reply<'_>) -> R,
    ) -> Result<R> {
        Self::encode(conn.command_buffer(), &self.evalsha_head, prefix, key, args);
        conn.send()?;
        match conn.read_reply(&f) {
            Err(e) if e.is_server_code("NOSCRIPT") => {
                let head = resp::encode_args(&[b"EVAL", self.body.as_bytes(), b"1"]);
                Self::encode(conn.command_buffer(), &head, prefix, key, args);
                conn.send()?;
                conn.read_reply(&f)
            }
            other => other,
        }
    }

    /// `head` is the verb, the script (body or hash) and the key count, already encoded.
    fn encode(buf: &mut Vec<u8>, head: &[u8], prefix: &[u8], key: &[u8], args: &[&[u8]]) {
        resp::begin(buf, 4 + args.len());
        resp::raw(buf, head);
        resp::arg2(buf, prefix, key);
        for a in args {
            resp::arg(buf, a);
        }
    }
}

/// The encoded `EVALSHA <sha1> 1` of `body`.
fn evalsha_head(body: &str) -> Vec<u8> {
    let sha = redis::Script::new(body).get_hash().to_owned();
    resp::encode_args(&[b"EVALSHA", sha.as_bytes(), b"1"])
}

/// [`RELEASE`], hashed once.
pub static RELEASE_SCRIPT: LuaScript = LuaScript::new(
    RELEASE,
    || redis::Script::new(RELEASE),
    || evalsha_head(RELEASE),
);
/// [`ACQUIRE`], hashed once.
pub static ACQUIRE_SCRIPT: LuaScript = LuaScript::new(
    ACQUIRE,
    || redis::Script::new(ACQUIRE),
    || evalsha_head(ACQUIRE),
);

/// Every script, for tests that load each into a real server.
pub fn all() -> [&'static LuaScript; 2] {
    [&RELEASE_SCRIPT, &ACQUIRE_SCRIPT]
}
