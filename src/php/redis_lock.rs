//! `\RedisLock`: argument conversion and delegation to [`crate::lock::Locker`]. No protocol here.

// ext-php-rs exports Rust parameter names as written; PHP's convention (and the documents') is
// camelCase (`$expireTime`), which named arguments and error messages show.
#![allow(non_snake_case)]

use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::ZendHashTable;

use std::sync::Arc;

use ext_php_rs::convert::IntoZval;
use ext_php_rs::types::{ZendCallable, ZendClassObject, Zval};
use ext_php_rs::zend::BailoutGuard;

use super::args::{ArgDefault, ArrayArg, FloatArg, IntArg, NullableFloatArg, StrArg};
use super::lease::RedisLockLease;
use crate::lock::config::{DEFAULT_DSN, php_float};
use crate::lock::error::quote_key;
use crate::lock::{self, Config, Error, ErrorKind, Locker};

/// A distributed lock on one Redis server. See `stubs/RedisLock.php` for the PHP docs.
#[php_class]
#[php(name = "RedisLock")]
pub struct RedisLock {
    locker: Locker,
}

#[php_impl]
impl RedisLock {
    /// The extension's version.
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// Validates the DSN and options; does no network I/O.
    #[php(defaults(dsn = ArgDefault::Str(DEFAULT_DSN), options = ArgDefault::EmptyArray))]
    pub fn __construct(dsn: StrArg, options: ArrayArg) -> PhpResult<Self> {
        let dsn = dsn.bytes(1)?;
        let options = options.options(2)?;
        let dsn = std::str::from_utf8(dsn)
            .map_err(|_| Error::invalid("invalid DSN: it is not valid UTF-8"))?;
        let config = Config::parse(
            dsn,
            options
                .iter()
                .map(|(name, value)| (name.as_str(), value.clone())),
        )?;
        Ok(RedisLock {
            locker: Locker::new(config)?,
        })
    }

    /// `SET key value NX GET PX ms`: true if `value` holds the lock afterwards.
    pub fn acquire(&self, key: StrArg, value: StrArg, expireTime: FloatArg) -> PhpResult<bool> {
        let (key, value, ttl) = (key.bytes(1)?, value.bytes(2)?, expireTime.float(3)?);
        Ok(self.locker.acquire(key, value, ttl)?)
    }

    /// Up to `1 + maxRetries` attempts, `retryInterval` seconds apart.
    pub fn retry_acquire(
        &self,
        key: StrArg,
        value: StrArg,
        expireTime: FloatArg,
        maxRetries: IntArg,
        retryInterval: FloatArg,
    ) -> PhpResult<bool> {
        let (key, value, ttl) = (key.bytes(1)?, value.bytes(2)?, expireTime.float(3)?);
        let (retries, interval) = (maxRetries.int(4)?, retryInterval.float(5)?);
        Ok(self
            .locker
            .retry_acquire(key, value, ttl, retries, interval)?)
    }

    /// Atomic compare-and-delete: true only if `value` held the lock.
    pub fn release(&self, key: StrArg, value: StrArg) -> PhpResult<bool> {
        Ok(self.locker.release(key.bytes(1)?, value.bytes(2)?)?)
    }

    /// A lease on `key`: `ttl` seconds, or `null` for a watchdog lease; waits up to `wait`
    /// seconds in arrival order. `null` if still held by someone else when the wait ends.
    #[php(defaults(ttl = ArgDefault::Null, wait = ArgDefault::Float(0.0)))]
    pub fn lock(
        &self,
        key: StrArg,
        ttl: NullableFloatArg,
        wait: FloatArg,
    ) -> PhpResult<Option<RedisLockLease>> {
        let (key, ttl, wait) = (key.bytes(1)?, ttl.float(2)?, wait.float(3)?);
        Ok(self.locker.lock(key, ttl, wait)?.map(RedisLockLease::new))
    }

    /// Runs `fn($lease)` under a lease on `key`, releasing it in every case; returns what `fn`
    /// returns and lets its exceptions through unchanged.
    #[php(defaults(ttl = ArgDefault::Null, wait = ArgDefault::Float(10.0)))]
    pub fn synchronized(
        &self,
        key: StrArg,
        callback: ZendCallable,
        ttl: NullableFloatArg,
        wait: FloatArg,
    ) -> PhpResult<Zval> {
        let (key, ttl, wait) = (key.bytes(1)?, ttl.float(3)?, wait.float(4)?);
        let Some(lease) = self.locker.lock(key, ttl, wait)? else {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "synchronized: \"{}\" was still locked after waiting {} s",
                    quote_key(key),
                    php_float(wait)
                ),
            )
            .into());
        };
        // Kept beside the PHP object so the lease is released here whatever the callback
        // does with it; a fatal error in the callback skips this frame, and request shutdown
        // releases the lease instead.
        let state = BailoutGuard::new(Arc::clone(lease.state()));
        let mut object = Zval::new();
        ZendClassObject::new(RedisLockLease::new(lease)).set_zval(&mut object, false)?;
        let outcome = callback.try_call(vec![&object]);
        match outcome {
            Ok(value) => {
                state.release()?;
                Ok(value)
            }
            Err(e) => {
                // The callback's exception is pending and reaches the caller unchanged; a
                // failure to release now must not replace it (the TTL is the safety net).
                let _ = state.release();
                Err(PhpException::from(e))
            }
        }
    }

    /// A lease on `key` held by `token`, taken over from another process.
    pub fn restore(&self, key: StrArg, token: StrArg) -> PhpResult<RedisLockLease> {
        let lease = self.locker.restore(key.bytes(1)?, token.bytes(2)?)?;
        Ok(RedisLockLease::new(lease))
    }

    /// Whether someone holds the lock `key`.
    pub fn is_locked(&self, key: StrArg) -> PhpResult<bool> {
        Ok(self.locker.is_locked(key.bytes(1)?)?)
    }

    /// Seconds the lock `key` has left; null when free, INF when it has no TTL.
    pub fn ttl(&self, key: StrArg) -> PhpResult<Option<f64>> {
        Ok(self.locker.ttl(key.bytes(1)?)?)
    }

    /// Deletes the lock `key` whoever holds it, and wakes the first waiter.
    pub fn force_release(&self, key: StrArg) -> PhpResult<bool> {
        Ok(self.locker.force_release(key.bytes(1)?)?)
    }

    /// A fresh UUID v4 to use as a lock value.
    pub fn token() -> String {
        lock::token()
    }

    /// What `var_dump()` and `print_r()` show: never the password.
    #[php(name = "__debugInfo")]
    pub fn debug_info(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let endpoint = self.locker.client().shared().endpoint();
        let timeouts = self.locker.client().timeouts();
        let mut info = ZendHashTable::new();
        info.insert("dsn", self.locker.masked_dsn())?;
        info.insert("endpoint", endpoint.describe())?;
        info.insert(
            "prefix",
            String::from_utf8_lossy(self.locker.prefix()).into_owned(),
        )?;
        info.insert("database", endpoint.database)?;
        info.insert("connectTimeout", timeouts.connect.as_secs_f64())?;
        info.insert("readTimeout", timeouts.read.as_secs_f64())?;
        Ok(info)
    }
}
