//! The data of one memory space: the few Redis types the engine's commands use (strings, lists,
//! sorted sets), each key with an optional expiry, on the space's clock.
//!
//! Expiry works as on Redis: an expired key is gone for every command (checked on access), and
//! expired keys are also removed actively (every command first drops the keys whose time has
//! come, in expiry order), so memory holds only live keys. The engine writes no key without a
//! TTL except the per-slot fence counters (at most 16,384), so a space holds at most that many
//! keys plus the live locks and their companions, however many distinct names were ever locked.

use std::collections::{BTreeSet, HashMap, VecDeque};

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
    entries: HashMap<Vec<u8>, Entry>,
    /// (expiry ms, key) of every key with an expiry.
    expiries: BTreeSet<(i64, Vec<u8>)>,
}

/// `WRONGTYPE`, as Redis words it.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

impl Store {
    /// Drops every key that has expired by `now_ms`.
    pub fn expire_due(&mut self, now_ms: i64) {
        while let Some((at, _)) = self.expiries.first() {
            if *at > now_ms {
                break;
            }
            let (_, key) = self.expiries.pop_first().expect("checked above");
            self.entries.remove(&key);
        }
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
        self.expiries.clear();
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
        match self.entries.remove(key) {
            Some(entry) => {
                if let Some(at) = entry.expires_at {
                    self.expiries.remove(&(at, key.to_vec()));
                }
                true
            }
            None => false,
        }
    }

    fn set_expiry(&mut self, key: &[u8], expires_at: Option<i64>) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if let Some(old) = entry.expires_at {
            self.expiries.remove(&(old, key.to_vec()));
        }
        entry.expires_at = expires_at;
        if let Some(at) = expires_at {
            self.expiries.insert((at, key.to_vec()));
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
        self.remove(key);
        self.entries.insert(
            key.to_vec(),
            Entry {
                value: Value::Str(value.to_vec()),
                expires_at: None,
            },
        );
        if let Some(ms) = px {
            self.set_expiry(key, Some(now_ms + ms));
        }
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
            self.set_expiry(key, Some(now_ms + ms));
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
        s.expire_due(150);
        assert_eq!(s.len(), 2);
        s.expire_due(10_000);
        assert_eq!(s.len(), 1);
        assert!(s.expiries.is_empty());
    }

    #[test]
    fn set_replaces_the_expiry_and_pexpire_zero_deletes() {
        let mut s = Store::default();
        s.set(b"a", b"1", Some(100), 0);
        s.set(b"a", b"2", None, 0);
        assert_eq!(s.pttl(b"a", 500), -1);
        assert!(s.expiries.is_empty());
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
