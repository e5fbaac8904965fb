//! The lock engine, in pure Rust: no Zend types, so `cargo test` runs all of it against real
//! redis-server processes. Each folder is one concept:
//!
//! - [`options`]: the options a `RedisLock` is built with, their defaults, and DSN parsing
//!   and masking ([`options::dsn`]).
//! - [`protocol`]: the lean RESP2 encoder and reply parser.
//! - [`net`]: one socket with its handshake and timeouts ([`net::connection`]), and the
//!   per-process registry of connections with its fork safety and resend rules
//!   ([`net::registry`]).
//! - [`topology`]: where commands go. [`topology::Topology`] is the one seam every deployment
//!   shape plugs into; operations hand it a hash slot and a closure and never ask which shape
//!   it is. [`topology::Client`] is what operations run on.
//! - [`keys`]: the names of every key a lock uses, and hash slots.
//! - [`replicas`]: replica acknowledgement (`WAIT`) of the writes that grant or extend locks.
//! - [`scripts`]: the Lua scripts and how they are sent (EVALSHA, pipelines, NOSCRIPT).
//! - [`locker`]: [`Locker`], the documents' API: acquire, retry_acquire, release.
//! - [`lease`]: leases with fencing ([`lease::state`]), fair blocking waits
//!   ([`lease::waiting`]), renewal ([`lease::watchdog`]) and release at request end
//!   ([`lease::request`]).
//! - [`memory`]: `memory://`, an in-process server for tests that runs the engine's scripts in
//!   Rust behind the same RESP interface as a socket.
//! - [`quorum`]: a Redlock quorum over independent deployments: parallel fan-out, majority,
//!   validity time.
//! - [`error`]: the engine's errors.

pub mod error;
pub mod keys;
pub mod lease;
pub mod locker;
pub mod memory;
pub mod net;
pub mod options;
pub mod protocol;
pub mod quorum;
pub mod replicas;
pub mod scripts;
pub mod topology;

#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod tests;

pub use error::{Error, ErrorKind, Result};
pub use locker::{Locker, token};
pub use options::{Config, OptionValue};
