//! `\RedisLock`: argument conversion and delegation to [`crate::lock::Locker`]. No protocol here.

// ext-php-rs exports Rust parameter names as written; PHP's convention (and the documents') is
// camelCase (`$expireTime`), which named arguments and error messages show.
#![allow(non_snake_case)]

use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::ZendHashTable;

use std::sync::Arc;

use ext_php_rs::convert::IntoZval;
use ext_php_rs::ffi::zend_object;
use ext_php_rs::types::{ZendCallable, ZendClassObject, Zval};
use ext_php_rs::zend::{BailoutGuard, ClassEntry, ExecutorGlobals};

use super::args::{
    ArgDefault, ArrayArg, Dsn, DsnArg, FloatArg, IntArg, NullableFloatArg, NullableStrArg, StrArg,
};
use super::errors;
use super::lease::RedisLockLease;
use super::multi_lease::RedisLockMultiLease;
use crate::lock::error::quote_key;
use crate::lock::options::{Address, DEFAULT_DSN, SentinelAddress, php_float};
use crate::lock::{self, Config, Error, ErrorKind, Locker};

/// A distributed lock on one Redis server. See `stubs/RedisLock.php` for the PHP docs.
#[php_class]
#[php(name = "RedisLock")]
pub struct RedisLock {
    /// `None` until the constructor runs: objects start uninitialised ([`create_object`]), and
    /// one made by `newInstanceWithoutConstructor()`, or by a subclass whose `__construct()`
    /// does not call `parent::__construct()`, stays so.
    locker: Option<Locker>,
}

impl RedisLock {
    /// The locker, or the `\Error` for an object whose constructor never ran. Every method
    /// but `__debugInfo` starts here; the check is one compare of a pointer with null.
    #[inline]
    fn locker(&self) -> PhpResult<&Locker> {
        match &self.locker {
            Some(locker) => Ok(locker),
            None => Err(not_initialised()),
        }
    }
}

#[cold]
#[inline(never)]
fn not_initialised() -> PhpException {
    errors::not_initialised(&this_class())
}

/// The class of `$this` in the method being run, as `get_class()` names it (up to the NUL of
/// an anonymous class's name, as PHP's own messages show it).
fn this_class() -> String {
    let globals = ExecutorGlobals::get();
    // SAFETY: while a method of ours runs, the engine's current frame is that method's (the VM
    // and `zend_call_function` both set it before calling an internal function), and it lives
    // until the method returns.
    let frame = unsafe { globals.current_execute_data.as_ref() };
    let name = frame
        .and_then(|frame| frame.This.object())
        .and_then(|object| object.get_class_name().ok());
    match name {
        Some(mut name) => {
            name.truncate(name.find('\0').unwrap_or(name.len()));
            name
        }
        None => "RedisLock".to_owned(),
    }
}

/// `create_object` of `RedisLock` and its subclasses, installed by [`super::tweaks`]: every
/// object starts with a Rust value (`locker: None`), so a method of an object whose constructor
/// never ran reaches [`RedisLock::locker`] and its `\Error`, instead of ext-php-rs refusing the
/// call with a bare "Failed to retrieve reference to `$this`" `\Exception`.
///
/// Not `#[derive(Default)]`, which ext-php-rs 0.16.4 also uses to initialise new objects: its
/// `create_object` then builds the object with `RedisLock`'s class entry instead of the one it
/// is given, so `new Sub()` of a subclass would be a plain `RedisLock`.
pub(super) extern "C" fn create_object(ce: *mut ClassEntry) -> *mut zend_object {
    // SAFETY: the engine passes the class being instantiated, `RedisLock` or a subclass, whose
    // entry lives at least as long as its objects. The object is initialised right away, and
    // it has the handlers of `RedisLock`, so the engine frees it through them.
    let mut object = unsafe { ZendClassObject::<RedisLock>::new_uninit(ce.as_ref()) };
    object.initialize(RedisLock { locker: None });
    let object = object.into_raw();
    // SAFETY: `into_raw` yields a valid object the engine takes over.
    unsafe { (*object).get_mut_zend_obj() }
}

#[php_impl]
impl RedisLock {
    /// The extension's version.
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// Validates the DSN and options; does no network I/O.
    #[php(defaults(dsn = ArgDefault::Str(DEFAULT_DSN), options = ArgDefault::EmptyArray))]
    pub fn __construct(dsn: DsnArg, options: ArrayArg) -> PhpResult<Self> {
        let dsn = dsn.dsn(1)?;
        let options = options.options(2)?;
        let config = match dsn {
            Dsn::One(dsn) => {
                let dsn = std::str::from_utf8(dsn)
                    .map_err(|_| Error::invalid("invalid DSN: it is not valid UTF-8"))?;
                Config::parse(
                    dsn,
                    options
                        .iter()
                        .map(|(name, value)| (name.as_str(), value.clone())),
                )?
            }
            Dsn::Quorum(dsns) => {
                let dsns = dsns
                    .iter()
                    .enumerate()
                    .map(|(i, dsn)| {
                        std::str::from_utf8(dsn).map_err(|_| {
                            Error::invalid(format!(
                                "quorum member #{}: invalid DSN: it is not valid UTF-8",
                                i + 1
                            ))
                        })
                    })
                    .collect::<Result<Vec<&str>, Error>>()?;
                let options: Vec<(&str, crate::lock::OptionValue)> = options
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.clone()))
                    .collect();
                Config::parse_quorum(&dsns, &options)?
            }
        };
        Ok(RedisLock {
            locker: Some(Locker::new(config)?),
        })
    }

    /// `SET key value NX GET PX ms`: true if `value` holds the lock afterwards.
    pub fn acquire(&self, key: StrArg, value: StrArg, expireTime: FloatArg) -> PhpResult<bool> {
        let locker = self.locker()?;
        let (key, value, ttl) = (key.bytes(1)?, value.bytes(2)?, expireTime.float(3)?);
        Ok(locker.acquire(key, value, ttl)?)
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
        let locker = self.locker()?;
        let (key, value, ttl) = (key.bytes(1)?, value.bytes(2)?, expireTime.float(3)?);
        let (retries, interval) = (maxRetries.int(4)?, retryInterval.float(5)?);
        Ok(locker.retry_acquire(key, value, ttl, retries, interval)?)
    }

    /// Atomic compare-and-delete: true only if `value` held the lock.
    pub fn release(&self, key: StrArg, value: StrArg) -> PhpResult<bool> {
        let locker = self.locker()?;
        Ok(locker.release(key.bytes(1)?, value.bytes(2)?)?)
    }

    /// A lease on `key`: `ttl` seconds, or `null` for a watchdog lease; waits up to `wait`
    /// seconds in arrival order; held with `token` if given, else with a fresh UUID. `null` if
    /// still held by someone else when the wait ends.
    #[php(defaults(ttl = ArgDefault::Null, wait = ArgDefault::Float(0.0), token = ArgDefault::Null))]
    pub fn lock(
        &self,
        key: StrArg,
        ttl: NullableFloatArg,
        wait: FloatArg,
        token: NullableStrArg,
    ) -> PhpResult<Option<RedisLockLease>> {
        let locker = self.locker()?;
        let (key, ttl, wait) = (key.bytes(1)?, ttl.float(2)?, wait.float(3)?);
        let token = token.bytes(4)?;
        Ok(locker
            .lock_as(key, token, ttl, wait)?
            .map(RedisLockLease::new))
    }

    /// Exclusive leases on every key of `keys` (1 to 64 distinct names), all or none, held by
    /// one token: `ttl` seconds, or `null` for watchdog leases; waits up to `wait` seconds.
    /// `null` if they were not all taken when the wait ended (then none is held).
    #[php(defaults(ttl = ArgDefault::Null, wait = ArgDefault::Float(0.0)))]
    pub fn lock_many(
        &self,
        keys: ArrayArg,
        ttl: NullableFloatArg,
        wait: FloatArg,
    ) -> PhpResult<Option<RedisLockMultiLease>> {
        let locker = self.locker()?;
        let keys = keys.strings(1)?;
        let (ttl, wait) = (ttl.float(2)?, wait.float(3)?);
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        Ok(locker
            .lock_many(&keys, ttl, wait)?
            .map(RedisLockMultiLease::new))
    }

    /// A shared (read) lease on `key`: held together with other readers, never while a writer
    /// (`lock()`) holds `key`; FIFO with writers (a reader arriving after a queued writer waits
    /// behind it). `ttl`, `wait` and `token` as for `lock()`; `null` if a writer still held or
    /// was ahead in line when the wait ended.
    #[php(defaults(ttl = ArgDefault::Null, wait = ArgDefault::Float(0.0), token = ArgDefault::Null))]
    pub fn lock_shared(
        &self,
        key: StrArg,
        ttl: NullableFloatArg,
        wait: FloatArg,
        token: NullableStrArg,
    ) -> PhpResult<Option<RedisLockLease>> {
        let locker = self.locker()?;
        let (key, ttl, wait) = (key.bytes(1)?, ttl.float(2)?, wait.float(3)?);
        let token = token.bytes(4)?;
        Ok(locker
            .lock_shared_as(key, token, ttl, wait)?
            .map(RedisLockLease::new))
    }

    /// One of the `permits` permits of the semaphore `name` (apart from locks): at most
    /// `permits` holders at once, each with its own lease (`ttl` seconds, or `null` for a
    /// watchdog lease); waits up to `wait` seconds in arrival order. `null` if all permits were
    /// still held when the wait ended; a `RedisLockConflictException` if the semaphore's live
    /// permits were taken with another count.
    #[php(defaults(ttl = ArgDefault::Null, wait = ArgDefault::Float(0.0)))]
    pub fn permit(
        &self,
        name: StrArg,
        permits: IntArg,
        ttl: NullableFloatArg,
        wait: FloatArg,
    ) -> PhpResult<Option<RedisLockLease>> {
        let locker = self.locker()?;
        let (name, permits) = (name.bytes(1)?, permits.int(2)?);
        let (ttl, wait) = (ttl.float(3)?, wait.float(4)?);
        Ok(locker
            .permit(name, permits, ttl, wait)?
            .map(RedisLockLease::new))
    }

    /// The number of live permits of the semaphore `name`.
    pub fn permits_held(&self, name: StrArg) -> PhpResult<i64> {
        let locker = self.locker()?;
        Ok(i64::from(locker.permits_held(name.bytes(1)?)?.0))
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
        let locker = self.locker()?;
        let (key, ttl, wait) = (key.bytes(1)?, ttl.float(3)?, wait.float(4)?);
        let Some(lease) = locker.lock(key, ttl, wait)? else {
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
        let locker = self.locker()?;
        let lease = locker.restore(key.bytes(1)?, token.bytes(2)?)?;
        Ok(RedisLockLease::new(lease))
    }

    /// Whether someone holds the lock `key`.
    pub fn is_locked(&self, key: StrArg) -> PhpResult<bool> {
        let locker = self.locker()?;
        Ok(locker.is_locked(key.bytes(1)?)?)
    }

    /// Seconds the lock `key` has left; null when free, INF when it has no TTL.
    pub fn ttl(&self, key: StrArg) -> PhpResult<Option<f64>> {
        let locker = self.locker()?;
        Ok(locker.ttl(key.bytes(1)?)?)
    }

    /// Deletes the lock `key` whoever holds it, and wakes the first waiter.
    pub fn force_release(&self, key: StrArg) -> PhpResult<bool> {
        let locker = self.locker()?;
        Ok(locker.force_release(key.bytes(1)?)?)
    }

    /// A fresh UUID v4 to use as a lock value.
    pub fn token() -> String {
        lock::token()
    }

    /// What `var_dump()` and `print_r()` show: never the password. Never throws: PHP makes a
    /// `__debugInfo()` that throws a fatal error in `var_dump()`.
    #[php(name = "__debugInfo")]
    pub fn debug_info(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let mut info = ZendHashTable::new();
        let Some(locker) = &self.locker else {
            info.insert("state", errors::NOT_INITIALISED)?;
            return Ok(info);
        };
        let endpoint = locker.client().topology().endpoint();
        let timeouts = locker.client().timeouts();
        info.insert("dsn", locker.masked_dsn())?;
        if let Some(quorum) = locker.quorum() {
            info.insert("quorum", quorum.members().len() as i64)?;
            info.insert("majority", quorum.majority() as i64)?;
        } else {
            info.insert("endpoint", endpoint.describe())?;
        }
        if let Address::Tls { tls, .. }
        | Address::Sentinel(SentinelAddress { tls: Some(tls), .. }) = &endpoint.address
        {
            // Which checks and files are in force, never a path or the passphrase.
            info.insert("ssl", tls.summary())?;
        }
        info.insert(
            "prefix",
            String::from_utf8_lossy(locker.prefix()).into_owned(),
        )?;
        info.insert("database", endpoint.database)?;
        info.insert("connectTimeout", timeouts.connect.as_secs_f64())?;
        info.insert("readTimeout", timeouts.read.as_secs_f64())?;
        if let Some(ack) = locker.replica_ack() {
            info.insert("replicas", i64::from(ack.replicas))?;
            info.insert("replicaTimeout", ack.timeout.as_secs_f64())?;
        }
        Ok(info)
    }
}
