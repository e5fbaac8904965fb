//! The network layer: one connection ([`connection`]) and the per-process registry that shares
//! connections between objects, across requests, and never across a fork ([`registry`]).

pub mod connection;
pub mod pid;
pub mod registry;
pub mod tls;
