//! The lock engine, in pure Rust: no Zend types, so `cargo test` runs all of it against real
//! redis-server processes.
//!
//! - [`config`]: option parsing, defaults; [`dsn`]: DSN parsing and masking.
//! - [`resp`]: the lean RESP2 encoder and reply parser.
//! - [`conn`]: one socket, its handshake and timeouts.
//! - [`pool`]: one connection per endpoint per process; fork safety; reconnects.
//! - [`scripts`]: the Lua scripts.
//! - [`locker`]: the documents' API: acquire, retry_acquire, release.
//! - [`keys`], [`lease_scripts`], [`leasing`], [`lease`], [`watchdog`], [`request`]: leases
//!   with fencing, fair blocking waits, renewal, and release at request end.

pub mod config;
pub mod conn;
pub mod dsn;
pub mod error;
pub mod keys;
pub mod lease;
pub mod lease_scripts;
pub mod leasing;
pub mod locker;
pub mod pool;
pub mod request;
pub mod resp;
pub mod scripts;
pub mod watchdog;

#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod tests;

pub use config::{Config, OptionValue};
pub use error::{Error, ErrorKind, Result};
pub use locker::{Locker, token};
