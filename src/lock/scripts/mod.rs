//! Lua scripts: each a named constant, wrapped once in a [`LuaScript`] that hashes it with
//! `redis::Script` on first use and runs it by EVALSHA, falling back to EVAL on NOSCRIPT.
//!
//! The scripts themselves: the documents' API in [`documents`], leases in [`lease`], shared
//! (read) leases in [`shared`], semaphores in [`semaphore`], multi-key locks in [`many`].

use std::sync::OnceLock;
use std::time::Instant;

use crate::lock::error::Result;
use crate::lock::net::connection::{Connection, Epoch};
use crate::lock::protocol::resp::{self, Reply};
use crate::lock::replicas::{self, Acked, ReplicaAck};

pub mod documents;
pub mod lease;
pub mod many;
pub mod quorum;
pub mod semaphore;
pub mod shared;

/// One call of a script in a pipeline: its keys and its arguments.
pub type Call<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>);

/// The keys a script call passes.
#[derive(Clone, Copy)]
pub enum Keys<'a> {
    /// One key, `prefix` + `name`, encoded without joining them first (the hot path).
    One(&'a [u8], &'a [u8]),
    /// `prefix` + `name` as above, then that lock's holder-fence key, whose slot tag is given
    /// (see [`crate::lock::keys::fence_key_parts`]), encoded from its parts.
    LockAndFence(&'a [u8], &'a [u8], &'a [u8; 4]),
    /// Full key names.
    List(&'a [&'a [u8]]),
}

impl Keys<'_> {
    fn len(&self) -> usize {
        match self {
            Keys::One(..) => 1,
            Keys::LockAndFence(..) => 2,
            Keys::List(keys) => keys.len(),
        }
    }
}

/// A script body; its SHA1 and its encoded `EVALSHA <sha1> <numkeys>` head are computed once.
pub struct LuaScript {
    body: &'static str,
    /// Hands out fences: every call appends the connection's configuration epoch
    /// ([`Connection::epoch`]) as its last argument (see `next_fence()` in [`lease`]).
    fenced: bool,
    sha1: OnceLock<String>,
    /// `EVALSHA` and the hash, RESP-encoded (the key count follows per call).
    evalsha_head: OnceLock<Vec<u8>>,
}

impl LuaScript {
    /// Wraps `body`. Nothing is computed until first use.
    pub const fn new(body: &'static str) -> Self {
        LuaScript {
            body,
            fenced: false,
            sha1: OnceLock::new(),
            evalsha_head: OnceLock::new(),
        }
    }

    /// Wraps `body`, a script that hands out fences: each call gets the configuration epoch
    /// of the node it runs on as an extra, last argument.
    pub const fn fenced(body: &'static str) -> Self {
        LuaScript {
            body,
            fenced: true,
            sha1: OnceLock::new(),
            evalsha_head: OnceLock::new(),
        }
    }

    /// The extra argument of a fenced script on `conn`.
    #[inline]
    fn epoch(&self, conn: &Connection) -> Option<Epoch> {
        self.fenced.then(|| conn.epoch())
    }

    /// The script source.
    pub fn body(&self) -> &'static str {
        self.body
    }

    /// The SHA1 hex digest EVALSHA uses (computed by `redis::Script`).
    pub fn sha1(&self) -> &str {
        self.sha1
            .get_or_init(|| redis::Script::new(self.body).get_hash().to_owned())
    }

    /// `EVAL` and the whole body, RESP-encoded (rare: after NOSCRIPT, or for a command that must
    /// not depend on the script cache).
    fn eval_head(&self) -> Vec<u8> {
        resp::encode_args(&[b"EVAL", self.body.as_bytes()])
    }

    fn evalsha_head(&self) -> &[u8] {
        self.evalsha_head
            .get_or_init(|| resp::encode_args(&[b"EVALSHA", self.sha1().as_bytes()]))
    }

    /// Runs the script with `keys` and `args` by EVALSHA, falling back to EVAL (which also
    /// caches it on the server) when the server answers NOSCRIPT; `f` reads the reply.
    pub fn run<R>(
        &self,
        conn: &mut Connection,
        keys: Keys<'_>,
        args: &[&[u8]],
        f: impl Fn(Reply<'_>) -> R,
    ) -> Result<R> {
        self.pipelined(conn, keys, args);
        conn.send()?;
        self.read_pipelined(conn, keys, args, f)
    }

    /// Runs the script by EVAL (its whole body): for a command that may sit in a stalled
    /// server's socket and run long after its sender gave up on the reply, where a NOSCRIPT
    /// answer would be read by nobody and the script would never run.
    pub fn run_by_body<R>(
        &self,
        conn: &mut Connection,
        keys: Keys<'_>,
        args: &[&[u8]],
        f: impl Fn(Reply<'_>) -> R,
    ) -> Result<R> {
        let epoch = self.epoch(conn);
        Self::encode(conn.command_buffer(), &self.eval_head(), keys, args, epoch);
        conn.send()?;
        conn.read_reply(f)
    }

    /// Encodes an EVALSHA of the script after whatever the command buffer already holds (send it
    /// with the rest, then read its reply with [`LuaScript::read_pipelined`]).
    pub fn pipelined(&self, conn: &mut Connection, keys: Keys<'_>, args: &[&[u8]]) {
        let epoch = self.epoch(conn);
        Self::encode(
            conn.command_buffer(),
            self.evalsha_head(),
            keys,
            args,
            epoch,
        );
    }

    /// Encodes a call of the script into `buf`: by EVALSHA, or by EVAL with the whole body when
    /// `by_body` (after the server answered NOSCRIPT). For a fan-out that encodes a command once
    /// and writes it to several connections before reading any reply. Not for fenced scripts
    /// (their last argument depends on the connection).
    pub fn encode_into(&self, buf: &mut Vec<u8>, keys: Keys<'_>, args: &[&[u8]], by_body: bool) {
        debug_assert!(
            !self.fenced,
            "a fenced script's call depends on its connection"
        );
        if by_body {
            Self::encode(buf, &self.eval_head(), keys, args, None);
        } else {
            Self::encode(buf, self.evalsha_head(), keys, args, None);
        }
    }

    /// Reads the reply of a [`LuaScript::pipelined`] call; on NOSCRIPT, runs it again by EVAL.
    pub fn read_pipelined<R>(
        &self,
        conn: &mut Connection,
        keys: Keys<'_>,
        args: &[&[u8]],
        f: impl Fn(Reply<'_>) -> R,
    ) -> Result<R> {
        match conn.read_reply(&f) {
            Err(e) if e.is_server_code("NOSCRIPT") => self.run_by_body(conn, keys, args, f),
            other => other,
        }
    }

    /// [`LuaScript::run`] followed, in the same write, by `WAIT` when `ack` is given (see
    /// [`crate::lock::replicas`]). Returns the script's reply and, with `ack`, WAIT's outcome
    /// ([`ReplicaAck::read`]).
    pub fn run_acked<R>(
        &self,
        conn: &mut Connection,
        keys: Keys<'_>,
        args: &[&[u8]],
        ack: Option<&ReplicaAck>,
        f: impl Fn(Reply<'_>) -> R,
    ) -> Result<(R, Acked)> {
        self.pipelined(conn, keys, args);
        if let Some(ack) = ack {
            ack.pipelined(conn);
        }
        conn.send()?;
        self.read_acked(conn, keys, args, ack, f)
    }

    /// Reads the replies of a [`LuaScript::pipelined`] call followed by a `WAIT` when `ack` is
    /// given. Both replies are read whatever the first says, so none is left on the socket.
    /// On NOSCRIPT the script did not run and the `WAIT` after it counted nothing of it: the
    /// script is sent again by EVAL, with a `WAIT` after it.
    pub fn read_acked<R>(
        &self,
        conn: &mut Connection,
        keys: Keys<'_>,
        args: &[&[u8]],
        ack: Option<&ReplicaAck>,
        f: impl Fn(Reply<'_>) -> R,
    ) -> Result<(R, Acked)> {
        let Some(wait) = ack else {
            return self.read_pipelined(conn, keys, args, f).map(|r| (r, None));
        };
        let mut reply = conn.read_reply(&f);
        if reply.as_ref().is_err_and(|e| e.is_server_code("NOSCRIPT")) {
            // That WAIT counted nothing of the script, which did not run.
            let _dropped = ReplicaAck::read(conn)?;
            let epoch = self.epoch(conn);
            Self::encode(conn.command_buffer(), &self.eval_head(), keys, args, epoch);
            wait.pipelined(conn);
            conn.send()?;
            reply = conn.read_reply(&f);
        }
        match reply {
            Ok(r) => Ok((r, replicas::read_if(ack, conn)?)),
            Err(e) if e.is_server() => {
                // The script failed: WAIT's reply only keeps the connection in step.
                let _dropped = ReplicaAck::read(conn)?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs the script once per call in `calls` (keys, args) in one pipeline: one write, then
    /// the replies in order, all read by `deadline`. A server error fails only its own call;
    /// after NOSCRIPT the failed calls are sent again (the first by EVAL, which loads the
    /// script). The outer error is a connection, timeout or protocol failure: then which calls
    /// took effect is unknown.
    pub fn run_many<R>(
        &self,
        conn: &mut Connection,
        calls: &[Call<'_>],
        deadline: Instant,
        f: impl Fn(Reply<'_>) -> R,
    ) -> Result<Vec<Result<R>>> {
        self.run_many_acked(conn, calls, deadline, None, f)
            .map(|(results, _)| results)
    }

    /// [`LuaScript::run_many`], with a `WAIT` at the end of each write when `ack` is given (one
    /// `WAIT` covers every write before it on the connection): also returns the outcome of
    /// the last one, which counts the replicas that have every call.
    pub fn run_many_acked<R>(
        &self,
        conn: &mut Connection,
        calls: &[Call<'_>],
        deadline: Instant,
        ack: Option<&ReplicaAck>,
        f: impl Fn(Reply<'_>) -> R,
    ) -> Result<(Vec<Result<R>>, Acked)> {
        for (keys, args) in calls {
            self.pipelined(conn, Keys::List(keys), args);
        }
        if let Some(ack) = ack {
            ack.pipelined(conn);
        }
        conn.send()?;
        let mut results = Vec::with_capacity(calls.len());
        for _ in calls {
            results.push(read_one(conn, deadline, &f)?);
        }
        let acked = read_wait(conn, deadline, ack)?;
        let missing: Vec<usize> = (0..calls.len())
            .filter(|&i| matches!(&results[i], Err(e) if e.is_server_code("NOSCRIPT")))
            .collect();
        if missing.is_empty() {
            return Ok((results, acked));
        }
        let eval_head = self.eval_head();
        for (n, &i) in missing.iter().enumerate() {
            let head = if n == 0 {
                &eval_head
            } else {
                self.evalsha_head()
            };
            let (keys, args) = &calls[i];
            let epoch = self.epoch(conn);
            Self::encode(conn.command_buffer(), head, Keys::List(keys), args, epoch);
        }
        if let Some(ack) = ack {
            ack.pipelined(conn);
        }
        conn.send()?;
        for &i in &missing {
            results[i] = read_one(conn, deadline, &f)?;
        }
        // The last WAIT counts the replicas that have every call.
        Ok((results, read_wait(conn, deadline, ack)?))
    }

    /// `head` is the verb and the script (body or hash), already encoded; `epoch`, if any,
    /// goes after `args`.
    fn encode(
        buf: &mut Vec<u8>,
        head: &[u8],
        keys: Keys<'_>,
        args: &[&[u8]],
        epoch: Option<Epoch>,
    ) {
        resp::begin(
            buf,
            3 + keys.len() + args.len() + usize::from(epoch.is_some()),
        );
        resp::raw(buf, head);
        resp::arg_u64(buf, keys.len() as u64);
        match keys {
            Keys::One(prefix, name) => resp::arg2(buf, prefix, name),
            Keys::LockAndFence(prefix, name, tag) => {
                resp::arg2(buf, prefix, name);
                resp::arg_parts(buf, &crate::lock::keys::fence_key_parts(prefix, name, tag));
            }
            Keys::List(names) => {
                for name in names {
                    resp::arg(buf, name);
                }
            }
        }
        for a in args {
            resp::arg(buf, a);
        }
        match epoch {
            None => {}
            Some(Epoch::Known(epoch)) => resp::arg_u64(buf, epoch),
            Some(Epoch::AskNode) => resp::arg(buf, b"c"),
        }
    }
}

/// Reads one reply of a pipeline: `Ok(Err(_))` for a server error reply, `Err(_)` when the
/// connection failed.
fn read_one<R>(
    conn: &mut Connection,
    deadline: Instant,
    f: &impl Fn(Reply<'_>) -> R,
) -> Result<Result<R>> {
    match conn.read_reply_until(deadline, f) {
        Ok(r) => Ok(Ok(r)),
        Err(e) if e.is_server() => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

/// Reads the reply of a pipeline's closing `WAIT` when `ack` sent one, by `deadline`.
fn read_wait(conn: &mut Connection, deadline: Instant, ack: Option<&ReplicaAck>) -> Result<Acked> {
    if ack.is_none() {
        return Ok(None);
    }
    Ok(Some(
        read_one(conn, deadline, &|reply| match reply {
            Reply::Int(n) => Ok(n),
            _ => Err(crate::lock::error::Error::new(
                crate::lock::error::ErrorKind::Protocol,
                "unexpected reply type from WAIT",
            )),
        })?
        .and_then(|r| r),
    ))
}

/// Every script, for tests that load each into a real server.
pub fn all() -> [&'static LuaScript; 18] {
    use documents::*;
    use lease::*;
    use many::*;
    use semaphore::*;
    use shared::*;
    [
        &RELEASE_SCRIPT,
        &ACQUIRE_SCRIPT,
        &LEASE_ACQUIRE_SCRIPT,
        &LEASE_RELEASE_SCRIPT,
        &LEASE_CANCEL_SCRIPT,
        &LEASE_ABANDON_SCRIPT,
        &FORCE_RELEASE_SCRIPT,
        &EXTEND_SCRIPT,
        &OWNER_STATE_SCRIPT,
        &SHARED_ACQUIRE_SCRIPT,
        &SHARED_CANCEL_SCRIPT,
        &PROMOTE_SCRIPT,
        &PROMOTE_CANCEL_SCRIPT,
        &DEMOTE_SCRIPT,
        &PERMIT_ACQUIRE_SCRIPT,
        &PERMIT_CANCEL_SCRIPT,
        &PERMITS_HELD_SCRIPT,
        &LOCK_MANY_SCRIPT,
    ]
}

/// A script reply that is an integer.
pub fn int_reply(reply: Reply<'_>) -> Option<i64> {
    match reply {
        Reply::Int(n) => Some(n),
        _ => None,
    }
}

/// A script reply that is an array of integers.
pub fn ints_reply(reply: Reply<'_>) -> Option<Vec<i64>> {
    match reply {
        Reply::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Reply::Int(n) => Some(n),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}
