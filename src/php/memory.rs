//! `\RedisLockMemory`: the test controls of `memory://` spaces (static methods only). They reach
//! in-process memory spaces and nothing else: no connection to a Redis server can be affected.

// ext-php-rs exports Rust parameter names as written: PHP's convention is camelCase.
#![allow(non_snake_case)]

use std::time::Duration;

use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;

use super::args::{ArgDefault, FloatArg, StrArg};
use crate::lock::Error;
use crate::lock::memory;
use crate::lock::options::parse_dsn;

/// Test controls of `memory://` spaces.
#[php_class]
#[php(name = "RedisLockMemory")]
#[php(flags = ClassFlags::Final)]
pub struct RedisLockMemory;

/// The name of a space, validated as in a DSN (`''` is the default space, `memory://`).
fn space_name(space: StrArg, num: u32) -> PhpResult<String> {
    let bytes = space.bytes(num)?;
    let name = std::str::from_utf8(bytes)
        .map_err(|_| Error::invalid("space must be a memory space name (valid UTF-8)"))?;
    parse_dsn(&format!("memory://{name}"))
        .map_err(|_| {
            Error::invalid(
                "space must be a memory space name: at most 64 letters, digits, '_', '-' or '.'",
            )
        })
        .map(|_| name.to_owned())
        .map_err(PhpException::from)
}

#[php_impl]
impl RedisLockMemory {
    /// Moves the clock of a memory space forward (for tests).
    #[php(defaults(space = ArgDefault::Str("")))]
    pub fn advance_clock(seconds: FloatArg, space: StrArg) -> PhpResult<()> {
        let seconds = seconds.float(1)?;
        let name = space_name(space, 2)?;
        if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
            return Err(Error::invalid(format!(
                "seconds must be a finite number from 0 to 1e9 (the clock only moves forward), {} given",
                crate::lock::options::php_float(seconds)
            ))
            .into());
        }
        memory::advance(&name, Duration::from_secs_f64(seconds));
        Ok(())
    }

    /// Empties a memory space and gives it to this process (the clock is not set back).
    #[php(defaults(space = ArgDefault::Str("")))]
    pub fn reset(space: StrArg) -> PhpResult<()> {
        let name = space_name(space, 1)?;
        memory::reset(&name);
        Ok(())
    }
}
