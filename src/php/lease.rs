//! `\RedisLockLease`: a held lock. Created by `RedisLock::lock()`, `synchronized()` and
//! `restore()`; never by `new`. See `stubs/RedisLockLease.php` for the PHP docs.

// ext-php-rs exports Rust parameter names as written: PHP's convention is camelCase.
#![allow(non_snake_case)]

use ext_php_rs::binary::Binary;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::ZendHashTable;

use super::args::{ArgDefault, FloatArg};
use crate::lock::error::quote_key;
use crate::lock::lease::{Lease, Status};
use crate::lock::locker::{ttl_ms, wait_duration};

/// A held lock with its token and fencing token.
#[php_class]
#[php(name = "RedisLockLease")]
#[php(flags = ClassFlags::Final)]
pub struct RedisLockLease {
    lease: Lease,
}

impl RedisLockLease {
    /// Wraps an engine lease.
    pub fn new(lease: Lease) -> Self {
        RedisLockLease { lease }
    }
}

#[php_impl]
impl RedisLockLease {
    /// The key, as given to `lock()` (without the prefix).
    pub fn key(&self) -> Binary<u8> {
        Binary::from(self.lease.grant.key.clone())
    }

    /// The owner's token (bytes: `restore()` accepts any string).
    pub fn token(&self) -> Binary<u8> {
        Binary::from(self.lease.token().to_vec())
    }

    /// The fencing token. A quorum lease has none: a `RedisLockException` says why.
    pub fn fence(&self) -> PhpResult<i64> {
        if self.lease.quorum().is_some() {
            return Err(crate::lock::quorum::unsupported(
                "fence(): a lease on a Redlock quorum has no fencing token: independent \
                 servers cannot hand out one strictly increasing number (a fence needs a single \
                 authority that orders every holder; see Kleppmann's critique of Redlock). Use \
                 one Redis deployment (with the replicas option) where fences matter",
            )
            .into());
        }
        Ok(self.lease.fence())
    }

    /// True for a shared (read) lease, from `lockShared()`.
    pub fn is_shared(&self) -> bool {
        self.lease.is_shared()
    }

    /// True for a semaphore permit, from `permit()`.
    pub fn is_permit(&self) -> bool {
        self.lease.is_permit()
    }

    /// Read → write: becomes the exclusive lease once it is the only reader, waiting up to
    /// `wait` seconds for the others to leave; false if they had not.
    #[php(defaults(wait = ArgDefault::Float(0.0)))]
    pub fn promote(&self, wait: FloatArg) -> PhpResult<bool> {
        let wait = wait_duration(wait.float(1)?, "wait")?;
        Ok(self.lease.promote(wait)?)
    }

    /// Write → read: becomes a shared lease, letting in the readers queued first.
    pub fn demote(&self) -> PhpResult<bool> {
        Ok(self.lease.demote()?)
    }

    /// Owner-checked TTL reset.
    pub fn extend(&self, ttl: FloatArg) -> PhpResult<bool> {
        let ms = ttl_ms(ttl.float(1)?, "ttl")?;
        Ok(self.lease.extend(ms)?)
    }

    /// Whether this lease still holds its lock (asks Redis).
    pub fn is_held(&self) -> PhpResult<bool> {
        Ok(self.lease.is_held()?)
    }

    /// Seconds left on the lock (asks Redis); 0.0 when no longer held.
    pub fn remaining(&self) -> PhpResult<f64> {
        Ok(self.lease.remaining()?)
    }

    /// Whether the last renewal (watchdog or `extend`) reached fewer replicas than the
    /// `replicas` option asks for. No I/O.
    pub fn is_at_risk(&self) -> bool {
        self.lease.is_at_risk()
    }

    /// Releases it (handing it to the next waiter).
    pub fn release(&self) -> PhpResult<bool> {
        Ok(self.lease.release()?)
    }

    /// Stops renewing and auto-releasing it here; returns the token for `restore()`.
    pub fn detach(&self) -> Binary<u8> {
        Binary::from(self.lease.detach().to_vec())
    }

    /// What `var_dump()` shows. The token is a capability (whoever has it can release the
    /// lock), so only its first 8 characters are shown.
    #[php(name = "__debugInfo")]
    pub fn debug_info(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let mut info = ZendHashTable::new();
        info.insert(
            "key",
            String::from_utf8_lossy(&self.lease.grant.key).into_owned(),
        )?;
        let token = self.lease.token();
        info.insert(
            "token",
            format!("{}…", quote_key(&token[..token.len().min(8)])),
        )?;
        if self.lease.quorum().is_some() {
            info.insert("fence", ())?;
            info.insert("quorum", true)?;
        } else {
            info.insert("fence", self.lease.fence())?;
        }
        info.insert("shared", self.lease.is_shared())?;
        if self.lease.is_permit() {
            info.insert("permits", i64::from(self.lease.grant.permits))?;
        }
        info.insert("watchdog", self.lease.grant.watchdog)?;
        let status = match self.lease.status() {
            Status::Held => "held",
            Status::Released => "released",
            Status::Lost => "lost",
            Status::Detached => "detached",
            Status::Abandoned => "abandoned",
        };
        info.insert("status", status)?;
        info.insert("atRisk", self.lease.is_at_risk())?;
        Ok(info)
    }
}
