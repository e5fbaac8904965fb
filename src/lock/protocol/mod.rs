//! The wire protocol: RESP2, encoded and parsed without allocating per reply ([`resp`]).

pub mod resp;
