//! The Redis keys behind one lease lock, all in the lock key's Redis Cluster hash slot.
//!
//! A lock named `K` (prefix included) uses:
//! - `K`: the lock itself (value: the owner's token, with a TTL);
//! - `<base>:fence`: the fencing counter (no TTL: fences must never go backwards);
//! - `<base>:queue`: waiters in arrival order (sorted set, `<ttl>:<token>` → arrival in µs);
//! - `<base>:alive`: each waiter's heartbeat deadline (sorted set, `<ttl>:<token>` → ms);
//! - `<base>:wake:<token>`: one list per waiter; a release pushes the fence of the hand-over.
//!
//! `<base>` is `K` itself when `K` carries a hash tag (`{user:1}:lock`), else `{K}`: either way
//! Redis Cluster hashes every companion exactly like `K`. (A key with a `{` but no valid tag,
//! like `a{}b`, cannot have same-slot companions; that only matters on a Cluster.)

/// The full names of one lock's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockKeys {
    /// The lock key.
    pub lock: Vec<u8>,
    /// The fencing counter.
    pub fence: Vec<u8>,
    /// The waiter queue.
    pub queue: Vec<u8>,
    /// Waiter heartbeat deadlines.
    pub alive: Vec<u8>,
    /// The prefix of each waiter's wake list (append the token).
    pub wake_prefix: Vec<u8>,
}

impl LockKeys {
    /// The keys of the lock named `prefix` + `key`.
    pub fn new(prefix: &[u8], key: &[u8]) -> LockKeys {
        let mut lock = Vec::with_capacity(prefix.len() + key.len());
        lock.extend_from_slice(prefix);
        lock.extend_from_slice(key);
        let base = if hash_tag(&lock).is_some() {
            lock.clone()
        } else {
            let mut wrapped = Vec::with_capacity(lock.len() + 2);
            wrapped.push(b'{');
            wrapped.extend_from_slice(&lock);
            wrapped.push(b'}');
            wrapped
        };
        let with = |suffix: &[u8]| [base.as_slice(), suffix].concat();
        LockKeys {
            fence: with(b":fence"),
            queue: with(b":queue"),
            alive: with(b":alive"),
            wake_prefix: with(b":wake:"),
            lock,
        }
    }

    /// The wake list of the waiter with `token`.
    pub fn wake(&self, token: &[u8]) -> Vec<u8> {
        [self.wake_prefix.as_slice(), token].concat()
    }

    /// The lock, fence, queue and alive keys, in the order the lease scripts take them.
    pub fn all(&self) -> [&[u8]; 4] {
        [&self.lock, &self.fence, &self.queue, &self.alive]
    }
}

/// The part of `key` Redis Cluster hashes: the bytes between the first `{` and the next `}`
/// when there are any, else `None` (the whole key is hashed).
pub fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let len = key[open + 1..].iter().position(|&b| b == b'}')?;
    (len > 0).then(|| &key[open + 1..open + 1 + len])
}

/// The Redis Cluster hash slot of `key` (CRC16-XMODEM of its hash tag or whole name, mod 16384).
pub fn slot(key: &[u8]) -> u16 {
    let hashed = hash_tag(key).unwrap_or(key);
    let mut crc: u16 = 0;
    for &byte in hashed {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_redis_cluster_spec_examples() {
        // From the Redis Cluster specification: CRC16 of "123456789" is 0x31C3.
        assert_eq!(slot(b"123456789"), 0x31C3); // below 16384, so also the slot
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}")); // whole key hashed
        assert_ne!(hash_tag(b"foo{}{bar}"), Some(&b"bar"[..]));
        assert_eq!(hash_tag(b"foo{{bar}}zap"), Some(&b"{bar"[..]));
    }

    #[test]
    fn every_companion_key_shares_the_lock_keys_slot() {
        for (prefix, key) in [
            (&b""[..], &b"orders"[..]),
            (b"app:", b"orders:42"),
            (b"", b"{user:7}:profile"),
            (b"app:{tenant-3}:", b"report"),
            (b"", b"\x00\xff binary"),
        ] {
            let keys = LockKeys::new(prefix, key);
            let lock_slot = slot(&keys.lock);
            for companion in keys.all().into_iter().chain([keys.wake(b"t").as_slice()]) {
                assert_eq!(
                    slot(companion),
                    lock_slot,
                    "{:?}",
                    String::from_utf8_lossy(companion)
                );
            }
        }
    }

    #[test]
    fn names_are_readable() {
        let keys = LockKeys::new(b"app:", b"orders");
        assert_eq!(keys.lock, b"app:orders");
        assert_eq!(keys.fence, b"{app:orders}:fence");
        assert_eq!(keys.wake(b"abc"), b"{app:orders}:wake:abc");
        let tagged = LockKeys::new(b"", b"{u1}:lock");
        assert_eq!(tagged.fence, b"{u1}:lock:fence");
    }
}
