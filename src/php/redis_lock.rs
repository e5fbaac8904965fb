//! `\RedisLock`: argument conversion and delegation to [`crate::lock::Locker`]. No protocol here.

// ext-php-rs exports Rust parameter names as written; PHP's convention (and the documents') is
// camelCase (`$expireTime`), which named arguments and error messages show.
#![allow(non_snake_case)]

use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::ZendHashTable;

use super::args::{ArgDefault, ArrayArg, FloatArg, IntArg, StrArg};
use crate::lock::config::DEFAULT_DSN;
use crate::lock::{self, Config, Error, Locker};

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
            locker: Locker::new(config),
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

    /// A fresh UUID v4 to use as a lock value.
    pub fn token() -> String {
        lock::token()
    }

    /// What `var_dump()` and `print_r()` show: never the password.
    #[php(name = "__debugInfo")]
    pub fn debug_info(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let endpoint = self.locker.shared().endpoint();
        let mut info = ZendHashTable::new();
        info.insert("dsn", self.locker.masked_dsn())?;
        info.insert("endpoint", endpoint.describe())?;
        info.insert(
            "prefix",
            String::from_utf8_lossy(self.locker.prefix()).into_owned(),
        )?;
        info.insert("database", endpoint.database)?;
        info.insert("connectTimeout", endpoint.connect_timeout.as_secs_f64())?;
        info.insert("readTimeout", endpoint.read_timeout.as_secs_f64())?;
        Ok(info)
    }
}
