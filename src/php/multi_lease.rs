//! `\RedisLockMultiLease`: several locks held together, from `RedisLock::lockMany()`; never
//! created by `new`. See `stubs/RedisLockMultiLease.php` for the PHP docs.

// ext-php-rs exports Rust parameter names as written: PHP's convention is camelCase.
#![allow(non_snake_case)]

use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendHashTable, ZendStr};

use super::args::FloatArg;
use crate::lock::error::quote_key;
use crate::lock::lease::{MultiLease, Status};
use crate::lock::locker::ttl_ms;

/// Several exclusive locks held by one token, each with its own fence.
#[php_class]
#[php(name = "RedisLockMultiLease")]
#[php(flags = ClassFlags::Final)]
pub struct RedisLockMultiLease {
    lease: MultiLease,
}

impl RedisLockMultiLease {
    /// Wraps an engine multi-key lease.
    pub fn new(lease: MultiLease) -> Self {
        RedisLockMultiLease { lease }
    }
}

/// Inserts `value` under the key `key` (bytes) as PHP's `$array[$key] = $value` would: a key
/// that is a canonical decimal integer becomes an integer key.
fn insert_keyed(table: &mut ZendHashTable, key: &[u8], value: i64) -> PhpResult<()> {
    if let Some(n) = std::str::from_utf8(key)
        .ok()
        .and_then(|s| s.parse::<i64>().ok().filter(|n| n.to_string() == s))
    {
        table.insert(n, value)?;
    } else {
        let key = ZendStr::new(key, false);
        table.insert(&key, value)?;
    }
    Ok(())
}

#[php_impl]
impl RedisLockMultiLease {
    /// The keys, as given to `lockMany()` (without the prefix), in that order.
    pub fn keys(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let mut keys = ZendHashTable::new();
        for key in self.lease.keys() {
            keys.push(Binary::from(key.to_vec()))?;
        }
        Ok(keys)
    }

    /// Each key's fencing token: `[key => fence]`, in the order the keys were given.
    pub fn fences(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let mut fences = ZendHashTable::new();
        for (key, fence) in self.lease.fences() {
            insert_keyed(&mut fences, key, fence)?;
        }
        Ok(fences)
    }

    /// The owner's token, the same for every key.
    pub fn token(&self) -> Binary<u8> {
        Binary::from(self.lease.token().to_vec())
    }

    /// Owner-checked TTL reset of every key; true only if all are still held.
    pub fn extend(&self, ttl: FloatArg) -> PhpResult<bool> {
        let ms = ttl_ms(ttl.float(1)?, "ttl")?;
        Ok(self.lease.extend(ms)?)
    }

    /// Whether this lease still holds every key (asks Redis).
    pub fn is_held(&self) -> PhpResult<bool> {
        Ok(self.lease.is_held()?)
    }

    /// Releases every key (each handed to its next waiter); true if all were still held.
    pub fn release(&self) -> PhpResult<bool> {
        Ok(self.lease.release()?)
    }

    /// What `var_dump()` shows: keys, fences, and only the first 8 characters of the token (a
    /// capability).
    #[php(name = "__debugInfo")]
    pub fn debug_info(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let mut info = ZendHashTable::new();
        let mut fences = ZendHashTable::new();
        for (key, fence) in self.lease.fences() {
            insert_keyed(&mut fences, key, fence)?;
        }
        info.insert("fences", fences)?;
        let token = self.lease.token();
        info.insert(
            "token",
            format!("{}…", quote_key(&token[..token.len().min(8)])),
        )?;
        let leases = self.lease.leases();
        info.insert("watchdog", leases[0].grant.watchdog)?;
        let statuses: Vec<Status> = leases.iter().map(|l| l.status()).collect();
        let status = if statuses.iter().all(|s| *s == Status::Held) {
            "held"
        } else if statuses.iter().all(|s| *s == Status::Released) {
            "released"
        } else if statuses.contains(&Status::Lost) {
            "lost"
        } else if statuses.contains(&Status::Abandoned) {
            "abandoned"
        } else {
            "partly released"
        };
        info.insert("status", status)?;
        Ok(info)
    }
}
