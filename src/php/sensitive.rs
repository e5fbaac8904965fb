//! Marks `RedisLock::__construct`'s `$dsn` parameter `#[\SensitiveParameter]` (PHP 8.2), so a
//! stack trace through the constructor shows `Object(SensitiveParameterValue)` instead of a DSN
//! that may hold a password.
//!
//! ext-php-rs has no way to attach attributes to a method's parameters, and its class
//! registration runs after our own startup hook, so this is done once per process at the first
//! request start, through the engine's `zend_add_attribute`.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use ext_php_rs::class::RegisteredClass;
use ext_php_rs::ffi::{HashTable, zend_string};
use ext_php_rs::types::ZendStr;

use super::RedisLock;

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

/// Adds the attribute once per process. Safe to call at every request start.
pub fn mark_once() {
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    let ce = RedisLock::get_metadata().ce();
    let ctor = ce.constructor;
    if ctor.is_null() {
        return;
    }
    let name = ZendStr::new_interned("SensitiveParameter", true).into_raw();
    // SAFETY: `ctor` is the constructor of our own internal class, alive until module shutdown;
    // the engine allocates the persistent attribute table on first use. Parameter offsets
    // start at 1 (`zend_add_parameter_attribute` adds 1 to the 0-based position).
    unsafe {
        zend_add_attribute(
            &raw mut (*ctor).common.attributes,
            name,
            0,
            ZEND_ATTRIBUTE_PERSISTENT,
            1,
            0,
        );
    }
}
