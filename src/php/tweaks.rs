//! Adjustments to the registered classes that ext-php-rs cannot express:
//!
//! - `RedisLock::__construct`'s `$dsn` is `string|array` (an array of DSNs is a quorum).
//! - `RedisLock::__construct`'s `$dsn` and `$options` parameters are `#[\SensitiveParameter]`
//!   (PHP 8.2), so a stack trace through the constructor shows
//!   `Object(SensitiveParameterValue)` instead of a DSN that may hold a password or options
//!   that may hold the `ssl` passphrase.
//! - `RedisLockLease::__construct` is private: leases come from `RedisLock::lock()` and
//!   `restore()`, and `new RedisLockLease()` fails as for any class with a private
//!   constructor (ext-php-rs registers a public one that throws). So are
//!   `RedisLockMultiLease::__construct` (from `RedisLock::lockMany()`) and
//!   `RedisLockMemory::__construct` (static methods only).
//! - New `RedisLock` objects (and subclasses') are made by [`redis_lock::create_object`], so
//!   that one whose constructor never ran throws our `\Error` instead of ext-php-rs's bare
//!   `\Exception`, and `var_dump()`s it instead of a fatal error. Subclasses copy the parent's
//!   `create_object` when they are linked, which is after the first request start.
//!
//! ext-php-rs registers classes after our own startup hook, so this is done once per process
//! at the first request start.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use ext_php_rs::class::RegisteredClass;
use ext_php_rs::ffi::{HashTable, zend_lookup_class_ex, zend_string};
use ext_php_rs::types::ZendStr;

use super::RedisLock;
use super::lease::RedisLockLease;
use super::memory::RedisLockMemory;
use super::multi_lease::RedisLockMultiLease;
use super::redis_lock;

/// `ZEND_ATTRIBUTE_PERSISTENT`: the attribute lives as long as the internal function.
const ZEND_ATTRIBUTE_PERSISTENT: u32 = 1;

unsafe extern "C" {
    fn zend_add_attribute(
        attributes: *mut *mut HashTable,
        name: *mut zend_string,
        argc: u32,
        flags: u32,
        offset: u32,
        lineno: u32,
    ) -> *mut c_void;
}

static DONE: AtomicBool = AtomicBool::new(false);

/// `ZEND_ACC_PUBLIC | ZEND_ACC_PROTECTED | ZEND_ACC_PRIVATE`, and `ZEND_ACC_PRIVATE`.
const ZEND_ACC_PPP_MASK: u32 = 0b111;
const ZEND_ACC_PRIVATE: u32 = 0b100;

/// Applies the adjustments once per process. Safe to call at every request start.
pub fn apply_once() {
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    mark_dsn_sensitive();
    accept_dsn_arrays();
    make_lease_constructor_private();
    initialise_new_objects();
}

/// `ZEND_FETCH_CLASS_NO_AUTOLOAD`.
const ZEND_FETCH_CLASS_NO_AUTOLOAD: u32 = 0x80;

fn initialise_new_objects() {
    let mut name = ZendStr::new(RedisLock::CLASS_NAME, false);
    // SAFETY: a lookup in the class table, which holds our internal class from module startup;
    // the name is a valid string for the call. The engine's own pointer is used to write (not
    // one made from a shared reference).
    let ce = unsafe {
        zend_lookup_class_ex(
            &raw mut *name,
            ptr::null_mut(),
            ZEND_FETCH_CLASS_NO_AUTOLOAD,
        )
    };
    // SAFETY: the entry of our own internal class, alive until module shutdown; no object of
    // it exists before the first request, and `create_object` keeps its layout and handlers.
    if let Some(ce) = unsafe { ce.as_mut() } {
        ce.__bindgen_anon_2.create_object = Some(redis_lock::create_object);
    }
}

fn make_lease_constructor_private() {
    for ctor in [
        RedisLockLease::get_metadata().ce().constructor,
        RedisLockMultiLease::get_metadata().ce().constructor,
        RedisLockMemory::get_metadata().ce().constructor,
    ] {
        if ctor.is_null() {
            continue;
        }
        // SAFETY: the constructor of our own internal class, alive until module shutdown;
        // only its visibility bits change.
        unsafe {
            let flags = &mut (*ctor).common.fn_flags;
            *flags = (*flags & !ZEND_ACC_PPP_MASK) | ZEND_ACC_PRIVATE;
        }
    }
}

/// `MAY_BE_ARRAY` (`1 << IS_ARRAY`).
const MAY_BE_ARRAY: u32 = 1 << 7;

/// `RedisLock::__construct(string|array $dsn, ...)`: an array of DSNs is a quorum.
/// ext-php-rs declares one type per parameter; the second is added to the arginfo here.
fn accept_dsn_arrays() {
    let ctor = RedisLock::get_metadata().ce().constructor;
    if ctor.is_null() {
        return;
    }
    // SAFETY: the constructor of our own internal class, alive until module shutdown; its
    // `arg_info` points at its first parameter (`$dsn`), whose type mask gains one bit.
    unsafe {
        let info = (*ctor).internal_function.arg_info;
        if !info.is_null() && (*ctor).internal_function.num_args >= 1 {
            (*info).type_.type_mask |= MAY_BE_ARRAY;
        }
    }
}

fn mark_dsn_sensitive() {
    let ce = RedisLock::get_metadata().ce();
    let ctor = ce.constructor;
    if ctor.is_null() {
        return;
    }
    let name = ZendStr::new_interned("SensitiveParameter", true).into_raw();
    // `$dsn` (1) may hold a password, `$options` (2) the `ssl` passphrase and key paths.
    for offset in [1, 2] {
        // SAFETY: `ctor` is the constructor of our own internal class, alive until module
        // shutdown; the engine allocates the persistent attribute table on first use and copies
        // the (interned) name. Parameter offsets start at 1 (`zend_add_parameter_attribute`
        // adds 1 to the 0-based position).
        unsafe {
            zend_add_attribute(
                &raw mut (*ctor).common.attributes,
                name,
                0,
                ZEND_ATTRIBUTE_PERSISTENT,
                offset,
                0,
            );
        }
    }
}
