//! Replica acknowledgement (options `replicas`, `replicaTimeout`): `WAIT numreplicas timeout`
//! sent in the same write as every command that grants or extends a lock, on the same
//! connection, so that a lock a master acknowledged is known to be on `replicas` replicas too
//! before the caller is told it holds it.
//!
//! - `WAIT` counts the replicas that have acknowledged every write this connection made
//!   before it (the replication stream is ordered, so a lock handed over by another client's
//!   release and then claimed here is covered by the claim's own write). It cannot run inside
//!   a script, so it follows the `EVALSHA` as a command of its own in the pipeline; after a
//!   `NOSCRIPT` the script is sent again by `EVAL`, with a `WAIT` after it.
//! - A grant acknowledged by fewer replicas is released (owner-checked: nothing else is
//!   touched) and reported as an [`ErrorKind::Replication`] error. A renewal so acknowledged
//!   keeps the lease (it was held already) and marks it *at risk*.
//! - Releases do not wait: a release lost in a failover leaves the lock held on the promoted
//!   replica until its TTL, which delays the next holder but never lets two hold it.
//! - `WAITAOF` (Redis 7.2+, which also counts fsyncs) is not used: Redis 7.0 lacks it.

use std::time::Duration;

use crate::lock::error::{Error, ErrorKind, Result, quote_key};
use crate::lock::net::connection::Connection;
use crate::lock::options::php_float;
use crate::lock::protocol::resp::{self, Reply};

/// What a `WAIT` sent behind a lock command said, when one was sent (`None`: no replicas asked
/// for): the number of replicas that acknowledged, or WAIT's own error reply.
pub type Acked = Option<Result<i64>>;

/// How many replicas must acknowledge a lock write, and how long `WAIT` waits for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplicaAck {
    /// Replicas that must acknowledge (at least 1).
    pub replicas: u32,
    /// How long `WAIT` waits for them (at least 1 ms).
    pub timeout: Duration,
}

impl ReplicaAck {
    /// Encodes `WAIT <replicas> <timeout ms>` after whatever the command buffer holds.
    pub fn pipelined(&self, conn: &mut Connection) {
        let buf = conn.command_buffer();
        resp::raw(buf, b"*3\r\n$4\r\nWAIT\r\n");
        resp::arg_u64(buf, u64::from(self.replicas));
        // At least 1 ms: `WAIT n 0` would block forever.
        resp::arg_u64(buf, (self.timeout.as_millis() as u64).max(1));
    }

    /// Reads the reply of a [`ReplicaAck::pipelined`] `WAIT`: `Ok(Ok(n))` replicas
    /// acknowledged, `Ok(Err(_))` an error reply (the connection is still in step), `Err(_)`
    /// the connection failed.
    pub fn read(conn: &mut Connection) -> Result<Result<i64>> {
        match conn.read_reply(|reply| match reply {
            Reply::Int(n) => Some(n),
            _ => None,
        }) {
            Ok(Some(n)) => Ok(Ok(n)),
            Ok(None) => Err(Error::new(
                ErrorKind::Protocol,
                "unexpected reply type from WAIT",
            )),
            Err(e) if e.is_server() => Ok(Err(e)),
            Err(e) => Err(e),
        }
    }

    /// `Ok` when `acked` (a [`ReplicaAck::read`] outcome) reaches [`ReplicaAck::replicas`];
    /// else the error to report: WAIT's own error reply, or a [`ErrorKind::Replication`] error
    /// that says how many replicas acknowledged the write to the lock `key` of how many, within
    /// what timeout, and then `aftermath` (what became of the lock).
    pub fn check(&self, acked: Result<i64>, key: &[u8], aftermath: &str) -> Result<()> {
        let n = acked?;
        if n >= i64::from(self.replicas) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Replication,
            format!(
                "{n} of {} replica{} acknowledged the lock \"{}\" within replicaTimeout {} s \
                 (WAIT): {aftermath}",
                self.replicas,
                if self.replicas == 1 { "" } else { "s" },
                quote_key(key),
                php_float(self.timeout.as_secs_f64())
            ),
        ))
    }
}

impl ReplicaAck {
    /// For a write that granted a lock: `Ok` when `acked` reaches [`ReplicaAck::replicas`];
    /// else the lock is released by `release` (owner-checked, so nothing else is touched) and
    /// the error to report is returned: WAIT's own error reply, or a
    /// [`ErrorKind::Replication`] error that says what became of the lock.
    pub fn settle_grant(
        &self,
        acked: Result<i64>,
        key: &[u8],
        release: impl FnOnce() -> Result<bool>,
    ) -> Result<()> {
        match &acked {
            Ok(n) if *n >= i64::from(self.replicas) => Ok(()),
            Ok(_) => {
                let aftermath = match release() {
                    Ok(_) => "it was released, as a failover could have lost it".to_owned(),
                    Err(e) => format!(
                        "releasing it failed ({e}), so it stays held until its TTL, and a \
                         failover could lose it"
                    ),
                };
                self.check(acked, key, &aftermath)
            }
            Err(_) => {
                let _ = release();
                acked.map(|_| ())
            }
        }
    }
}

/// Reads a `WAIT` reply when `ack` sent one (see [`ReplicaAck::read`]).
pub fn read_if(ack: Option<&ReplicaAck>, conn: &mut Connection) -> Result<Acked> {
    match ack {
        Some(_) => ReplicaAck::read(conn).map(Some),
        None => Ok(None),
    }
}
