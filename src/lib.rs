//! `redis_lock`: a distributed lock on Redis for PHP.
//!
//! [`lock`] is the engine (pure Rust, tested by `cargo test`); `php` is the thin PHP face
//! (ext-php-rs), compiled only into the extension.

pub mod lock;

#[cfg(not(test))]
mod php;
