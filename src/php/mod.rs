//! The PHP face of the extension: module registration, `phpinfo()`, and lifecycle hooks.

mod args;
mod errors;
mod lease;
mod memory;
mod multi_lease;
mod redis_lock;
mod tweaks;

use std::panic::catch_unwind;

use ext_php_rs::prelude::*;
use ext_php_rs::zend::ModuleEntry;
use ext_php_rs::{info_table_end, info_table_row, info_table_start};

use crate::lock::lease::request::release_request_leases;
use crate::lock::lease::watchdog;
use crate::lock::net::{registry, tls};
use crate::lock::options::{
    self, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DSN, DEFAULT_LEASE_TTL, DEFAULT_READ_TIMEOUT,
};

pub use redis_lock::RedisLock;

/// MINIT: registers the exception classes (the `RedisLock` class is registered by the module
/// builder right after).
extern "C" fn startup(_type: i32, _module: i32) -> i32 {
    match catch_unwind(errors::register) {
        Ok(Ok(())) => 0,
        _ => -1,
    }
}

/// RINIT: the first request of each process applies [`tweaks`] to the registered classes.
extern "C" fn request_startup(_type: i32, _module: i32) -> i32 {
    let _ = catch_unwind(tweaks::apply_once);
    0
}

/// RSHUTDOWN (also after uncaught exceptions, fatal errors and `exit()`): releases every lease
/// this process still holds. A forked child skips its parent's.
extern "C" fn request_shutdown(_type: i32, _module: i32) -> i32 {
    let _ = catch_unwind(release_request_leases);
    0
}

/// MSHUTDOWN: stops and joins the watchdog thread before the library can be unloaded, then
/// closes this process's connections and forgets its caches.
extern "C" fn shutdown(_type: i32, _module: i32) -> i32 {
    let _ = catch_unwind(|| {
        watchdog::shutdown();
        registry::shutdown();
        options::clear_dsn_cache();
        tls::clear_configs();
    });
    0
}

/// `phpinfo()` / `php -i`: version, defaults and this process's connections (no passwords).
extern "C" fn info(_module: *mut ModuleEntry) {
    let _ = catch_unwind(|| {
        info_table_start!();
        info_table_row!("redis_lock support", "enabled");
        info_table_row!("version", env!("CARGO_PKG_VERSION"));
        info_table_row!("default DSN", DEFAULT_DSN);
        info_table_row!(
            "default connectTimeout (s)",
            format!("{}", DEFAULT_CONNECT_TIMEOUT.as_secs_f64())
        );
        info_table_row!(
            "default readTimeout (s)",
            format!("{}", DEFAULT_READ_TIMEOUT.as_secs_f64())
        );
        info_table_row!(
            "default leaseTtl (s)",
            format!("{}", DEFAULT_LEASE_TTL.as_secs_f64())
        );
        info_table_row!(
            "leases renewed by the watchdog",
            watchdog::active().to_string()
        );
        let endpoints = registry::describe_all();
        info_table_row!("endpoints in this process", endpoints.len().to_string());
        for (name, connected) in endpoints {
            let state = if connected { "connected" } else { "idle" };
            info_table_row!(format!("endpoint {name}"), state);
        }
        info_table_end!();
    });
}

#[php_module]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    module
        .startup_function(startup)
        .request_startup_function(request_startup)
        .request_shutdown_function(request_shutdown)
        .shutdown_function(shutdown)
        .info_function(info)
        .class::<RedisLock>()
        .class::<lease::RedisLockLease>()
        .class::<multi_lease::RedisLockMultiLease>()
        .class::<memory::RedisLockMemory>()
}
