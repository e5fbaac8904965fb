//! The Redis keys behind one lock, and the rule that keeps lock names and the engine's own
//! keys apart.
//!
//! A lock is named by its full key `L` = prefix + name. Besides `L` itself (value: the holder's
//! token, with a TTL), the engine writes *companion keys*, all of them starting with the
//! reserved marker [`RESERVED`] followed by a hash tag `{T}` where `T` is four characters chosen
//! so that the tag hashes to `L`'s Redis Cluster slot ([`slot_tag`]):
//!
//! | key | what | lifetime |
//! |---|---|---|
//! | `!rl{T}fences` | the last fence handed out in this hash slot (one counter per slot) | kept |
//! | `!rl{T}fence:L` | the fence of `L`'s current holder | the lock's TTL |
//! | `!rl{T}queue:L` | waiters in arrival order (sorted set) | while anyone waits |
//! | `!rl{T}alive:L` | each waiter's heartbeat deadline (sorted set) | while anyone waits |
//! | `!rl{T}readers:L` | the tokens holding a shared (read) lease, scored by expiry (ms) | while anyone reads |
//! | `!rl{T}wake:<len of L>:L<token>` | one waiter's wake-up list | seconds |
//! | `!rl{T}gone:<len of L>:L<token>` | a waiter that gave up after a fault: stale attempts of it still in flight must not take the lock | 30 s |
//!
//! Why this is one-to-one: `T` is a function of `L`; the word after `}` says which companion it
//! is (no word is a prefix of another, and every word but `fences` ends in `:`), and what follows
//! is `L` verbatim (or, for a wake list, `L`'s length, `:`, `L`, then the token). So no two locks
//! share a companion key, and a lock name can never be a companion key, because a full lock
//! name that starts with [`RESERVED`] is refused ([`check_lock_name`]). Redis memory is bounded:
//! per lock only while it is held or waited for, plus at most 16,384 fence counters.

use crate::lock::error::{Error, Result, quote_key};

/// Full lock names (prefix + name) may not start with these bytes: the engine's own keys do.
pub const RESERVED: &[u8] = b"!rl";

/// Number of Redis Cluster hash slots.
pub const SLOTS: u16 = 16384;

/// The full names of one lock's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockKeys {
    /// The lock key, `L` = prefix + name.
    pub lock: Vec<u8>,
    /// The fence counter of `L`'s hash slot.
    pub fences: Vec<u8>,
    /// The current holder's fence.
    pub fence: Vec<u8>,
    /// The waiter queue.
    pub queue: Vec<u8>,
    /// Waiter heartbeat deadlines.
    pub alive: Vec<u8>,
    /// Shared (read) lease holders, scored by expiry (ms).
    pub readers: Vec<u8>,
    /// The prefix of each waiter's wake list (append the token).
    pub wake_prefix: Vec<u8>,
    /// The prefix of each abandoned waiter's tombstone (append the token).
    pub gone_prefix: Vec<u8>,
    /// The hash slot of every one of these keys.
    pub slot: u16,
}

impl LockKeys {
    /// The keys of the lock named `prefix` + `key`; `Err(InvalidArgument)` if that name is empty
    /// or reserved (see [`check_lock_name`]).
    pub fn new(prefix: &[u8], key: &[u8]) -> Result<LockKeys> {
        check_lock_name(prefix, key)?;
        let lock = [prefix, key].concat();
        let slot = slot(&lock);
        let tag = slot_tag(slot);
        let head = |word: &[u8], extra: usize| {
            let mut k = Vec::with_capacity(RESERVED.len() + 6 + word.len() + extra);
            k.extend_from_slice(RESERVED);
            k.push(b'{');
            k.extend_from_slice(&tag);
            k.push(b'}');
            k.extend_from_slice(word);
            k
        };
        let with_lock = |word: &[u8]| {
            let mut k = head(word, lock.len());
            k.extend_from_slice(&lock);
            k
        };
        let per_token = |word: &[u8]| {
            let mut k = head(word, lock.len() + 24);
            k.extend_from_slice(lock.len().to_string().as_bytes());
            k.push(b':');
            k.extend_from_slice(&lock);
            k
        };
        let wake_prefix = per_token(b"wake:");
        let gone_prefix = per_token(b"gone:");
        Ok(LockKeys {
            fences: head(b"fences", 0),
            fence: with_lock(b"fence:"),
            queue: with_lock(b"queue:"),
            alive: with_lock(b"alive:"),
            readers: with_lock(b"readers:"),
            wake_prefix,
            gone_prefix,
            lock,
            slot,
        })
    }

    /// The wake list of the waiter with `token`.
    pub fn wake(&self, token: &[u8]) -> Vec<u8> {
        [self.wake_prefix.as_slice(), token].concat()
    }

    /// The lock, slot fence counter, holder fence, queue, alive and readers keys, in the order
    /// the lease scripts take them (KEYS[1] to KEYS[6]).
    pub fn all(&self) -> [&[u8]; 6] {
        [
            &self.lock,
            &self.fences,
            &self.fence,
            &self.queue,
            &self.alive,
            &self.readers,
        ]
    }
}

/// `Err(InvalidArgument)` unless `prefix` + `key` is a name a lock may have: `key` not empty, and
/// the full name not starting with [`RESERVED`]. Checks without joining the two.
pub fn check_lock_name(prefix: &[u8], key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("key must not be empty"));
    }
    // The first bytes of prefix + key against the marker, byte by byte (no joining, no call).
    let reserved = RESERVED.iter().enumerate().all(|(i, &m)| {
        let b = if i < prefix.len() {
            Some(prefix[i])
        } else {
            key.get(i - prefix.len()).copied()
        };
        b == Some(m)
    });
    if reserved {
        return Err(Error::invalid(format!(
            "key \"{}\" (with the prefix) starts with \"{}\", which is reserved for the lock's \
             own bookkeeping keys; choose another key or prefix",
            quote_key(&[prefix, key].concat()),
            quote_key(RESERVED)
        )));
    }
    Ok(())
}

/// The value `L` holds while shared (read) leases hold the lock and no writer does (see
/// [`crate::lock::scripts::shared`]): it starts with [`RESERVED`], so no value or token a caller
/// may use equals it ([`check_value`]).
pub const SHARED_MARKER: &[u8] = b"!rl:shared";

/// `Err(InvalidArgument)` unless `value` is a lock value (or lease token) a caller may use: not
/// empty, and not starting with [`RESERVED`] (the lock key's value [`SHARED_MARKER`] stands for
/// its readers, and must not be mistaken for, or released as, a holder's value).
#[inline]
pub fn check_value(value: &[u8], name: &str) -> Result<()> {
    // Byte patterns, not `starts_with` (a memcmp call): this is on acquire()'s hot path.
    if matches!(value, [] | [b'!', b'r', b'l', ..]) {
        return Err(refused_value(value, name));
    }
    Ok(())
}

#[cold]
fn refused_value(value: &[u8], name: &str) -> Error {
    if value.is_empty() {
        return Error::invalid(format!("{name} must not be empty"));
    }
    Error::invalid(format!(
        "{name} \"{}\" starts with \"{}\", which is reserved for the lock's own bookkeeping \
         (shared leases); choose another {name}",
        quote_key(value),
        quote_key(RESERVED)
    ))
}

/// `Err(InvalidArgument)` if a prefix makes every lock name reserved.
pub fn check_prefix(prefix: &[u8]) -> Result<()> {
    if prefix.starts_with(RESERVED) {
        return Err(Error::invalid(format!(
            "option \"prefix\" must not start with \"{}\": keys starting so are reserved for the \
             lock's own bookkeeping keys",
            quote_key(RESERVED)
        )));
    }
    Ok(())
}

/// The part of `key` Redis Cluster hashes: the bytes between the first `{` and the next `}`
/// when there are any, else `None` (the whole key is hashed).
pub fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let len = key[open + 1..].iter().position(|&b| b == b'}')?;
    (len > 0).then(|| &key[open + 1..open + 1 + len])
}

/// CRC16-XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes with.
const fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    let mut i = 0;
    while i < bytes.len() {
        crc ^= (bytes[i] as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        i += 1;
    }
    crc
}

/// CRC16-XMODEM by table, one step per byte (the hot path: the documents' `release()` names
/// the lock's fence record).
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = crc16(&[i as u8]);
        i += 1;
    }
    table
};

fn crc16_fast(bytes: &[u8]) -> u16 {
    crc16_continue(0, bytes)
}

fn crc16_continue(crc: u16, bytes: &[u8]) -> u16 {
    bytes.iter().fold(crc, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// The Redis Cluster hash slot of `key` (CRC16 of its hash tag or whole name, mod 16384).
pub fn slot(key: &[u8]) -> u16 {
    crc16_fast(hash_tag(key).unwrap_or(key)) % SLOTS
}

/// The Redis Cluster hash slot of the key `prefix` + `key`, without joining them.
#[inline]
pub fn slot_of(prefix: &[u8], key: &[u8]) -> u16 {
    // The common case in one pass: no `{` anywhere, so the whole name is hashed.
    let mut crc = 0u16;
    for &b in prefix.iter().chain(key) {
        if b == b'{' {
            return slot_of_tagged(prefix, key);
        }
        crc = (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)];
    }
    crc % SLOTS
}

/// [`slot_of`] for a name with a `{`: its hash tag, if it has one, is hashed.
#[cold]
fn slot_of_tagged(prefix: &[u8], key: &[u8]) -> u16 {
    // The hash tag: from the first `{` to the next `}`, either may be in either part.
    let open = match prefix.iter().position(|&b| b == b'{') {
        Some(i) => Some(i),
        None => key
            .iter()
            .position(|&b| b == b'{')
            .map(|i| prefix.len() + i),
    };
    let tagged = open.and_then(|o| {
        let close = if o + 1 < prefix.len() {
            match prefix[o + 1..].iter().position(|&b| b == b'}') {
                Some(i) => Some(o + 1 + i),
                None => key
                    .iter()
                    .position(|&b| b == b'}')
                    .map(|i| prefix.len() + i),
            }
        } else {
            let from = o + 1 - prefix.len();
            key[from..]
                .iter()
                .position(|&b| b == b'}')
                .map(|i| prefix.len() + from + i)
        };
        close.filter(|&c| c > o + 1).map(|c| (o + 1, c))
    });
    let (from, to) = tagged.unwrap_or((0, prefix.len() + key.len()));
    let crc = crc16_continue(
        crc16_fast(part(prefix, 0, from, to)),
        part(key, prefix.len(), from, to),
    );
    crc % SLOTS
}

/// The bytes of `bytes` (which start at `start` in a joined key) within `from..to` of the join.
fn part(bytes: &[u8], start: usize, from: usize, to: usize) -> &[u8] {
    let lo = from.saturating_sub(start).min(bytes.len());
    let hi = to.saturating_sub(start).min(bytes.len());
    &bytes[lo..hi]
}

/// The parts of the holder-fence key of the lock `prefix` + `key` (see [`LockKeys::fence`]),
/// to be written one after the other: for the hot path, which encodes the key straight into a
/// command without building it.
pub fn fence_key_parts<'a>(prefix: &'a [u8], key: &'a [u8], tag: &'a [u8; 4]) -> [&'a [u8]; 6] {
    [RESERVED, b"{", tag, b"}fence:", prefix, key]
}

/// Slot tags are four bytes `0x40 | n` (`@` to `O`), one nibble `n` each: printable, never a
/// brace, and enough to reach every slot.
const TAG_BASE: [u8; 4] = [0x40; 4];

/// For each of the 14 bits of a slot number, the 16 nibble bits to flip in [`TAG_BASE`] to flip
/// that bit of the slot and no other. CRC16 with initial value 0 is linear over equal-length
/// inputs (crc(a ^ b) = crc(a) ^ crc(b)), so any slot is reached by flipping the XOR of these:
/// found once, at compile time, by Gaussian elimination over GF(2).
const SLOT_BIT_FLIPS: [u16; 14] = slot_bit_flips();

const fn nibble_bytes(flips: u16) -> [u8; 4] {
    [
        (flips >> 12) as u8 & 0xF,
        (flips >> 8) as u8 & 0xF,
        (flips >> 4) as u8 & 0xF,
        flips as u8 & 0xF,
    ]
}

const fn slot_bit_flips() -> [u16; 14] {
    // Row j: flipping nibble bit j (the combination `combos[j]`) flips slot bits `values[j]`.
    let mut values = [0u16; 16];
    let mut combos = [0u16; 16];
    let mut j = 0;
    while j < 16 {
        combos[j] = 1 << j;
        values[j] = crc16(&nibble_bytes(1 << j)) % SLOTS;
        j += 1;
    }
    // Reduce to one row per slot bit, each with only that bit set.
    let mut out = [0u16; 14];
    let mut used = [false; 16];
    let mut bit = 0;
    while bit < 14 {
        let mut pivot = 16;
        let mut r = 0;
        while r < 16 {
            if !used[r] && values[r] & (1 << bit) != 0 {
                pivot = r;
                break;
            }
            r += 1;
        }
        assert!(pivot < 16, "slot tags cannot reach every slot");
        used[pivot] = true;
        let mut r = 0;
        while r < 16 {
            if r != pivot && values[r] & (1 << bit) != 0 {
                values[r] ^= values[pivot];
                combos[r] ^= combos[pivot];
            }
            r += 1;
        }
        bit += 1;
    }
    let mut r = 0;
    while r < 16 {
        if used[r] {
            let mut bit = 0;
            while bit < 14 {
                if values[r] == 1 << bit {
                    out[bit] = combos[r];
                }
                bit += 1;
            }
        }
        r += 1;
    }
    out
}

/// The nibble flips for each value of the low and of the high 7 bits of a slot (the XOR of
/// [`SLOT_BIT_FLIPS`] over the bits set), so a tag costs two lookups.
const FLIPS_BY_HALF: [[u16; 128]; 2] = {
    let mut tables = [[0u16; 128]; 2];
    let mut half = 0;
    while half < 2 {
        let mut v = 0;
        while v < 128 {
            let mut flips = 0u16;
            let mut bit = 0;
            while bit < 7 {
                if v & (1 << bit) != 0 {
                    flips ^= SLOT_BIT_FLIPS[half * 7 + bit];
                }
                bit += 1;
            }
            tables[half][v] = flips;
            v += 1;
        }
        half += 1;
    }
    tables
};

/// A four-byte hash tag (printable, `@` to `O`) whose Redis Cluster slot is `slot`.
pub fn slot_tag(slot: u16) -> [u8; 4] {
    let target = usize::from((slot % SLOTS) ^ (crc16(&TAG_BASE) % SLOTS));
    let flips = FLIPS_BY_HALF[0][target & 0x7F] ^ FLIPS_BY_HALF[1][target >> 7];
    let nibbles = nibble_bytes(flips);
    std::array::from_fn(|i| TAG_BASE[i] | nibbles[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_redis_cluster_spec_examples() {
        // From the Redis Cluster specification: CRC16 of "123456789" is 0x31C3.
        assert_eq!(slot(b"123456789"), 0x31C3); // below 16384, so also the slot
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS); // whole key hashed
        assert_eq!(hash_tag(b"foo{}{bar}"), None);
        assert_eq!(hash_tag(b"foo{{bar}}zap"), Some(&b"{bar"[..]));
    }

    #[test]
    fn the_table_crc_matches_the_bitwise_one() {
        for key in [&b""[..], b"a", b"123456789", b"\x00\xff{x}", b"orders:42"] {
            assert_eq!(crc16_fast(key), crc16(key));
        }
        for (prefix, key) in [
            (&b"app:"[..], &b"{t}x"[..]),
            (b"a{", b"b}c"),
            (b"{", b"}"),
            (b"", b"x{}y"),
        ] {
            let keys = LockKeys::new(prefix, key).unwrap();
            assert_eq!(slot_of(prefix, key), slot(&keys.lock));
            let tag = slot_tag(slot_of(prefix, key));
            assert_eq!(fence_key_parts(prefix, key, &tag).concat(), keys.fence);
        }
    }

    #[test]
    fn every_slot_has_a_printable_tag_that_hashes_to_it() {
        let mut seen = std::collections::HashSet::new();
        for s in 0..SLOTS {
            let tag = slot_tag(s);
            assert!(tag.iter().all(|b| (b'@'..=b'O').contains(b)), "{tag:?}");
            let key = [b"{".as_slice(), &tag, b"}x"].concat();
            assert_eq!(slot(&key), s);
            assert!(seen.insert(tag));
        }
    }

    #[test]
    fn every_companion_key_shares_the_lock_keys_slot() {
        for (prefix, key) in [
            (&b""[..], &b"orders"[..]),
            (b"app:", b"orders:42"),
            (b"", b"{user:7}:profile"),
            (b"app:{tenant-3}:", b"report"),
            (b"", b"\x00\xff binary"),
            (b"", b"{}"),
            (b"{", b"}"),
        ] {
            let keys = LockKeys::new(prefix, key).unwrap();
            let lock_slot = slot(&keys.lock);
            let gone = [keys.gone_prefix.as_slice(), b"t"].concat();
            for companion in keys
                .all()
                .into_iter()
                .chain([keys.wake(b"t").as_slice(), &gone])
            {
                assert_eq!(slot(companion), lock_slot, "{}", quote_key(companion));
            }
        }
    }

    #[test]
    fn a_name_and_its_braced_form_share_no_key() {
        let plain = LockKeys::new(b"", b"x").unwrap();
        let braced = LockKeys::new(b"", b"{x}").unwrap();
        let a: Vec<&[u8]> = plain.all().into();
        let b: Vec<&[u8]> = braced.all().into();
        for k in &a {
            // Only the per-slot fence counter may be shared: "x" and "{x}" hash alike.
            if *k != plain.fences.as_slice() {
                assert!(!b.contains(k), "{}", quote_key(k));
            }
        }
        assert_ne!(plain.wake(b"t"), braced.wake(b"t"));
    }

    #[test]
    fn reserved_values_match_the_marker_and_the_scripts() {
        assert_eq!(
            RESERVED, b"!rl",
            "check_value spells the prefix out byte by byte"
        );
        assert!(SHARED_MARKER.starts_with(RESERVED));
        let marker = std::str::from_utf8(SHARED_MARKER).unwrap();
        let lua = format!("'{marker}'");
        for script in [
            crate::lock::scripts::lease::LEASE_ACQUIRE,
            crate::lock::scripts::lease::EXTEND,
        ] {
            assert!(script.contains(&lua), "the scripts' marker is {marker}");
        }
        for value in [&b""[..], b"!rl", b"!rl:shared", b"!rlx"] {
            assert!(check_value(value, "value").is_err(), "{value:?}");
        }
        for value in [&b"!r"[..], b"rl", b"x!rl", b"!RL"] {
            assert!(check_value(value, "value").is_ok(), "{value:?}");
        }
    }

    #[test]
    fn reserved_names_and_prefixes_are_refused() {
        for (prefix, key) in [
            (&b""[..], &b"!rl"[..]),
            (b"", b"!rl{ABCD}fences"),
            (b"!", b"rl:x"),
            (b"!r", b"l"),
            (b"!rl", b"x"),
        ] {
            let err = check_lock_name(prefix, key).unwrap_err();
            assert!(err.is_invalid_argument());
            assert!(err.message().contains("reserved"), "{}", err.message());
            assert!(LockKeys::new(prefix, key).is_err());
        }
        for (prefix, key) in [
            (&b""[..], &b"!r"[..]),
            (b"!", b"r"),
            (b"x!rl", b""),
            (b"", b"a!rl"),
        ] {
            if !key.is_empty() {
                assert!(check_lock_name(prefix, key).is_ok(), "{prefix:?} {key:?}");
            }
        }
        assert!(check_lock_name(b"app:", b"").is_err());
        assert!(check_prefix(b"!rlapp:").is_err());
        assert!(check_prefix(b"!r").is_ok());
    }

    #[test]
    fn names_are_readable() {
        let keys = LockKeys::new(b"app:", b"orders").unwrap();
        let tag = String::from_utf8(slot_tag(slot(b"app:orders")).to_vec()).unwrap();
        assert_eq!(keys.lock, b"app:orders");
        assert_eq!(
            keys.fence,
            format!("!rl{{{tag}}}fence:app:orders").as_bytes()
        );
        assert_eq!(keys.fences, format!("!rl{{{tag}}}fences").as_bytes());
        assert_eq!(
            keys.wake(b"abc"),
            format!("!rl{{{tag}}}wake:10:app:ordersabc").as_bytes()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// The hot path's shortcuts agree with the plain definitions on names full of braces and
        /// pieces of the marker.
        #[test]
        fn shortcuts_agree_with_the_definitions(
            prefix in proptest::collection::vec(proptest::sample::select(b"{}!rlx".to_vec()), 0..6),
            key in proptest::collection::vec(proptest::sample::select(b"{}!rlx".to_vec()), 0..6),
        ) {
            let joined = [prefix.as_slice(), &key].concat();
            proptest::prop_assert_eq!(slot_of(&prefix, &key), slot(&joined));
            proptest::prop_assert_eq!(slot(&joined), crc16(hash_tag(&joined).unwrap_or(&joined)) % SLOTS);
            let refused = key.is_empty() || joined.starts_with(RESERVED);
            proptest::prop_assert_eq!(check_lock_name(&prefix, &key).is_err(), refused);
            if let Ok(keys) = LockKeys::new(&prefix, &key) {
                let tag = slot_tag(slot_of(&prefix, &key));
                proptest::prop_assert_eq!(fence_key_parts(&prefix, &key, &tag).concat(), keys.fence);
            }
        }
    }
}
