//! The data of one memory space: the few Redis types the engine's commands use (strings, lists,
//! sorted sets), each key with an optional expiry, on the space's clock.
//!
//! Expiry works as on Redis: an expired key is gone for every command (checked on access), and
//! expired keys are also removed actively: whenever the space has doubled since the last sweep
//! (and holds at least [`SWEEP_FLOOR`] keys), one pass drops every expired key. So a space holds
//! at most twice its live keys (plus [`SWEEP_FLOOR`]) at amortised O(1) per write. The engine
//! writes no key without a TTL except the per-slot fence counters (at most 16,384), so live keys
//! are those counters plus the live locks and their companions, however many distinct names were
//! ever locked.
//!
//! Keys are hashed with a fast multiplicative hash, not SipHash: a space is private to one
//! process and holds the keys of its own tests.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// The smallest space that is swept for expired keys.
pub const SWEEP_FLOOR: usize = 1024;

/// A multiply-rotate hash (the one rustc uses for its own tables), on 8 bytes at a time.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.0 =
            (self.0.rotate_left(5) ^ u64::from_le_bytes(tail) ^ rest.len() as u64).wrapping_mul(K);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string.
    Str(Vec<u8>),
    /// A list.
    List(VecDeque<Vec<u8>>),
    /// A sorted set: members by (score, member), as Redis orders them.
    ZSet(Vec<(f64, Vec<u8>)>),
}

struct Entry {
    value: Value,
    /// Expiry time in ms on the space's clock; `None`: no expiry.
    expires_at: Option<i64>,
}

/// The keys of a space.
#[derive(Default)]
pub struct Store {
    entries: HashMap<Vec<u8>, Entry, BuildHasherDefault<FastHasher>>,
    /// How many keys the last sweep left: the next one runs at twice that.
    swept_to: usize,
    /// Buffers of deleted keys and values, reused by the next insertions (at most
    /// [`SPARE_BUFFERS`]): a lock taken and released in a loop allocates nothing.
    spare: Vec<Vec<u8>>,
}

/// How many buffers a store keeps for reuse.
const SPARE_BUFFERS: usize = 32;

/// `WRONGTYPE`, as Redis words it.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

impl Store {
    /// Drops every expired key when the space has doubled since the last sweep (see the
    /// module docs); cheap otherwise.
    pub fn expire_due(&mut self, now_ms: i64) {
        if self.entries.len() < SWEEP_FLOOR.max(2 * self.swept_to) {
            return;
        }
        self.sweep(now_ms);
    }

    /// Drops every key that has expired by `now_ms`.
    pub fn sweep(&mut self, now_ms: i64) {
        self.entries
            .retain(|_, e| e.expires_at.is_none_or(|at| at > now_ms));
        self.swept_to = self.entries.len();
    }

    /// How many keys the space holds (live or not yet dropped).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the space is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every key's name (expired ones included until dropped).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.entries.keys().cloned().collect()
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.swept_to = 0;
        self.spare.clear();
    }

    fn live(&self, key: &[u8], now_ms: i64) -> Option<&Entry> {
        self.entries
            .get(key)
            .filter(|e| e.expires_at.is_none_or(|at| at > now_ms))
    }

    fn live_mut(&mut self, key: &[u8], now_ms: i64) -> Option<&mut Entry> {
        if self.live(key, now_ms).is_none() {
            self.remove(key);
            return None;
        }
        self.entries.get_mut(key)
    }

    fn remove(&mut self, key: &[u8]) -> bool {
        match self.entries.remove_entry(key) {
            Some((key, entry)) => {
                self.recycle(key);
                if let Value::Str(value) = entry.value {
                    self.recycle(value);
                }
                true
            }
            None => false,
        }
    }

    fn recycle(&mut self, mut buffer: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && buffer.capacity() <= 1024 {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    fn buffer(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.extend_from_slice(bytes);
        buffer
    }

    fn set_expiry(&mut self, key: &[u8], expires_at: Option<i64>) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.expires_at = expires_at;
        }
    }

    /// `EXISTS key`.
    pub fn exists(&self, key: &[u8], now_ms: i64) -> bool {
        self.live(key, now_ms).is_some()
    }

    /// `GET key`: `Ok(None)` when missing.
    pub fn get(&self, key: &[u8], now_ms: i64) -> Result<Option<&[u8]>, &'static str> {
        match self.live(key, now_ms).map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(WRONGTYPE),
        }
    }

    /// `SET key value [PX ms]`: replaces any value and any expiry.
    pub fn set(&mut self, key: &[u8], value: &[u8], px: Option<i64>, now_ms: i64) {
        let expires_at = px.map(|ms| now_ms.saturating_add(ms));
        if let Some(entry) = self.entries.get_mut(key) {
            match &mut entry.value {
                Value::Str(old) => {
                    old.clear();
                    old.extend_from_slice(value);
                }
                other => *other = Value::Str(value.to_vec()),
            }
            entry.expires_at = expires_at;
            return;
        }
        let (key, value) = (self.buffer(key), self.buffer(value));
        self.entries.insert(
            key,
            Entry {
                value: Value::Str(value),
                expires_at,
            },
        );
    }

    /// `DEL key`: true if it existed.
    pub fn del(&mut self, key: &[u8], now_ms: i64) -> bool {
        let live = self.exists(key, now_ms);
        self.remove(key);
        live
    }

    /// `PTTL key`: -2 missing, -1 no expiry, else ms left.
    pub fn pttl(&self, key: &[u8], now_ms: i64) -> i64 {
        match self.live(key, now_ms) {
            None => -2,
            Some(Entry {
                expires_at: None, ..
            }) => -1,
            Some(Entry {
                expires_at: Some(at),
                ..
            }) => at - now_ms,
        }
    }

    /// `PEXPIRE key ms`: true if the key exists. A TTL of 0 or less deletes it, as on Redis.
    pub fn pexpire(&mut self, key: &[u8], ms: i64, now_ms: i64) -> bool {
        if self.live_mut(key, now_ms).is_none() {
            return false;
        }
        if ms <= 0 {
            self.remove(key);
        } else {
            self.set_expiry(key, Some(now_ms.saturating_add(ms)));
        }
        true
    }

    /// `RPUSH key value`: the list's new length.
    pub fn rpush(&mut self, key: &[u8], value: &[u8], now_ms: i64) -> Result<i64, &'static str> {
        match self.live_mut(key, now_ms) {
            Some(Entry {
                value: Value::List(list),
                ..
            }) => {
                list.push_back(value.to_vec());
                Ok(list.len() as i64)
            }
            Some(_) => Err(WRONGTYPE),
            None => {
                self.entries.insert(
                    key.to_vec(),
                    Entry {
                        value: Value::List(VecDeque::from([value.to_vec()])),
                        expires_at: None,
                    },
                );
                Ok(1)
            }
        }
    }

    /// `LPOP key`: the first element; an emptied list is deleted.
    pub fn lpop(&mut self, key: &[u8], now_ms: i64) -> Result<Option<Vec<u8>>, &'static str> {
        let (popped, empty) = match self.live_mut(key, now_ms) {
            Some(Entry {
                value: Value::List(list),
                ..
            }) => (list.pop_front(), list.is_empty()),
            Some(_) => return Err(WRONGTYPE),
            None => return Ok(None),
        };
        if empty {
            self.remove(key);
        }
        Ok(popped)
    }

    fn zset(&self, key: &[u8], now_ms: i64) -> Result<&[(f64, Vec<u8>)], &'static str> {
        match self.live(key, now_ms).map(|e| &e.value) {
            None => Ok(&[]),
            Some(Value::ZSet(items)) => Ok(items),
            Some(_) => Err(WRONGTYPE),
        }
    }

    /// `ZADD key [NX] score member`: true if added. An existing member keeps its score with
    /// `nx`, else takes the new one.
    pub fn zadd(
        &mut self,
        key: &[u8],
        score: f64,
        member: &[u8],
        nx: bool,
        now_ms: i64,
    ) -> Result<bool, &'static str> {
        let items = match self.live_mut(key, now_ms) {
            Some(Entry {
                value: Value::ZSet(items),
                ..
            }) => items,
            Some(_) => return Err(WRONGTYPE),
            None => {
                self.entries.insert(
                    key.to_vec(),
                    Entry {
                        value: Value::ZSet(Vec::new()),
                        expires_at: None,
                    },
                );
                match &mut self.entries.get_mut(key).expect("just inserted").value {
                    Value::ZSet(items) => items,
                    _ => unreachable!("just inserted a sorted set"),
                }
            }
        };
        let existing = items.iter().position(|(_, m)| m == member);
        if let Some(i) = existing {
            if nx {
                return Ok(false);
            }
            items.remove(i);
        }
        let at = items.partition_point(|(s, m)| (*s, m.as_slice()) < (score, member));
        items.insert(at, (score, member.to_vec()));
        Ok(existing.is_none())
    }

    /// `ZREM key member`: true if it was there; an emptied set is deleted.
    pub fn zrem(&mut self, key: &[u8], member: &[u8], now_ms: i64) -> Result<bool, &'static str> {
        let (removed, empty) = match self.live_mut(key, now_ms) {
            Some(Entry {
                value: Value::ZSet(items),
                ..
            }) => match items.iter().position(|(_, m)| m == member) {
                Some(i) => {
                    items.remove(i);
                    (true, items.is_empty())
                }
                None => (false, false),
            },
            Some(_) => return Err(WRONGTYPE),
            None => return Ok(false),
        };
        if empty {
            self.remove(key);
        }
        Ok(removed)
    }

    /// `ZSCORE key member`.
    pub fn zscore(
        &self,
        key: &[u8],
        member: &[u8],
        now_ms: i64,
    ) -> Result<Option<f64>, &'static str> {
        Ok(self
            .zset(key, now_ms)?
            .iter()
            .find(|(_, m)| m == member)
            .map(|(s, _)| *s))
    }

    /// `ZRANGE key 0 0`: the first member.
    pub fn zfirst(&self, key: &[u8], now_ms: i64) -> Result<Option<Vec<u8>>, &'static str> {
        Ok(self.zset(key, now_ms)?.first().map(|(_, m)| m.clone()))
    }

    /// `ZRANK key member`.
    pub fn zrank(
        &self,
        key: &[u8],
        member: &[u8],
        now_ms: i64,
    ) -> Result<Option<i64>, &'static str> {
        Ok(self
            .zset(key, now_ms)?
            .iter()
            .position(|(_, m)| m == member)
            .map(|i| i as i64))
    }

    /// `ZCARD key`.
    pub fn zcard(&self, key: &[u8], now_ms: i64) -> Result<i64, &'static str> {
        Ok(self.zset(key, now_ms)?.len() as i64)
    }

    /// `ZRANGE key start stop`: the members (with their scores) from rank `start` to rank
    /// `stop`, both inclusive, negative ranks counting from the end, as Redis reads them.
    pub fn zrange(
        &self,
        key: &[u8],
        start: i64,
        stop: i64,
        now_ms: i64,
    ) -> Result<&[(f64, Vec<u8>)], &'static str> {
        let items = self.zset(key, now_ms)?;
        let len = items.len() as i64;
        let start = if start < 0 {
            (len + start).max(0)
        } else {
            start
        };
        let stop = if stop < 0 {
            len + stop
        } else {
            stop.min(len - 1)
        };
        if start > stop || start >= len {
            return Ok(&[]);
        }
        Ok(&items[start as usize..=stop as usize])
    }

    /// `ZCOUNT key min max` (both inclusive).
    pub fn zcount(&self, key: &[u8], min: f64, max: f64, now_ms: i64) -> Result<i64, &'static str> {
        Ok(self
            .zset(key, now_ms)?
            .iter()
            .filter(|(s, _)| *s >= min && *s <= max)
            .count() as i64)
    }

    /// `ZREMRANGEBYSCORE key min max` (both inclusive): how many members it removed; an
    /// emptied set is deleted.
    pub fn zremrangebyscore(
        &mut self,
        key: &[u8],
        min: f64,
        max: f64,
        now_ms: i64,
    ) -> Result<i64, &'static str> {
        let (removed, empty) = match self.live_mut(key, now_ms) {
            Some(Entry {
                value: Value::ZSet(items),
                ..
            }) => {
                let before = items.len();
                items.retain(|(s, _)| *s < min || *s > max);
                (before - items.len(), items.is_empty())
            }
            Some(_) => return Err(WRONGTYPE),
            None => return Ok(0),
        };
        if empty {
            self.remove(key);
        }
        Ok(removed as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_checked_on_access_and_dropped_in_order() {
        let mut s = Store::default();
        s.set(b"a", b"1", Some(100), 0);
        s.set(b"b", b"2", Some(200), 0);
        s.set(b"c", b"3", None, 0);
        assert_eq!(s.get(b"a", 99), Ok(Some(&b"1"[..])));
        assert_eq!(s.get(b"a", 100), Ok(None));
        assert_eq!(s.pttl(b"b", 150), 50);
        assert_eq!(s.pttl(b"c", 150), -1);
        assert_eq!(s.pttl(b"zz", 150), -2);
        s.sweep(150);
        assert_eq!(s.len(), 2);
        s.sweep(10_000);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn expired_keys_never_outnumber_live_ones_by_much() {
        let mut s = Store::default();
        for i in 0..100_000i64 {
            s.expire_due(i);
            s.set(format!("k{i}").as_bytes(), b"v", Some(1), i);
            assert!(s.len() <= 2 * SWEEP_FLOOR, "{} keys at {i}", s.len());
        }
    }

    #[test]
    fn set_replaces_the_expiry_and_pexpire_zero_deletes() {
        let mut s = Store::default();
        s.set(b"a", b"1", Some(100), 0);
        s.set(b"a", b"2", None, 0);
        assert_eq!(s.pttl(b"a", 500), -1);
        assert!(s.pexpire(b"a", 10, 500));
        assert_eq!(s.pttl(b"a", 500), 10);
        assert!(s.pexpire(b"a", 0, 500));
        assert!(!s.exists(b"a", 500));
        assert!(!s.pexpire(b"a", 10, 500));
    }

    #[test]
    fn sorted_sets_order_by_score_then_member() {
        let mut s = Store::default();
        assert_eq!(s.zadd(b"z", 2.0, b"b", true, 0), Ok(true));
        assert_eq!(s.zadd(b"z", 1.0, b"c", true, 0), Ok(true));
        assert_eq!(s.zadd(b"z", 2.0, b"a", true, 0), Ok(true));
        assert_eq!(s.zadd(b"z", 0.0, b"a", true, 0), Ok(false));
        assert_eq!(s.zadd(b"z", 3.0, b"c", false, 0), Ok(false));
        assert_eq!(s.zfirst(b"z", 0), Ok(Some(b"a".to_vec())));
        assert_eq!(s.zadd(b"z", 1.0, b"c", false, 0), Ok(false));
        assert_eq!(s.zfirst(b"z", 0), Ok(Some(b"c".to_vec())));
        assert_eq!(s.zrank(b"z", b"a", 0), Ok(Some(1)));
        assert_eq!(s.zrank(b"z", b"b", 0), Ok(Some(2)));
        assert_eq!(s.zscore(b"z", b"a", 0), Ok(Some(2.0)));
        for m in [b"a", b"b", b"c"] {
            assert_eq!(s.zrem(b"z", m, 0), Ok(true));
        }
        assert!(s.is_empty());
    }

    #[test]
    fn lists_and_wrong_types() {
        let mut s = Store::default();
        assert_eq!(s.rpush(b"l", b"1", 0), Ok(1));
        assert_eq!(s.rpush(b"l", b"2", 0), Ok(2));
        assert_eq!(s.get(b"l", 0), Err(WRONGTYPE));
        assert_eq!(s.zadd(b"l", 1.0, b"m", true, 0), Err(WRONGTYPE));
        assert_eq!(s.lpop(b"l", 0), Ok(Some(b"1".to_vec())));
        assert_eq!(s.lpop(b"l", 0), Ok(Some(b"2".to_vec())));
        assert!(s.is_empty());
        s.set(b"s", b"x", None, 0);
        assert_eq!(s.rpush(b"s", b"1", 0), Err(WRONGTYPE));
    }
}
