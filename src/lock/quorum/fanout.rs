//! The fan-out: one command to every member of a quorum, in parallel, without threads (but
//! for connecting several members at once, on threads that end within the call).
//!
//! 1. The command is encoded once. For each member whose serving node is known without I/O
//!    ([`crate::lock::topology::Topology::known_node`]), its connection is checked out (locked, opened if needed,
//!    within what is left of the deadline) and the command written to it. Nothing is read yet.
//!    Members with a connection open go first (their replies wait in the kernel); then the
//!    members that must connect (the first call of a process, or after a connection was
//!    dropped) are connected at the same time, two or more on scoped threads (one each, the
//!    calling thread taking one) all joined before their commands go out, each with half the
//!    time left ([`Quorum::connect_together`]): connects and their setup round trips (TLS,
//!    AUTH, SELECT) overlap as replies do. No connect thread outlives the call (a host name's
//!    lookup runs on a resolver thread of its own, which may: see `connection::resolve`).
//! 2. Replies are collected as they arrive: whatever a connection already holds (its buffer,
//!    the TLS layer's plaintext) is parsed first, then `poll(2)` waits on the sockets still
//!    pending until the deadline. A NOSCRIPT answer is followed at once by the script's body
//!    on that connection, still in parallel with the others.
//! 3. A member still silent at the deadline has its connection dropped (its late reply must
//!    never be read as the answer to a later command): its outcome is [`Outcome::Unknown`], and
//!    it is left out of the calls of the next [`CONNECT_BACKOFF`].
//! 4. Members whose node was not known (a Sentinel master to discover, a cluster map to load),
//!    and members that answered with a redirect (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`) or
//!    a not-master error, are then served one by one by their own topology's rules (discovery,
//!    redirects, resend), within what is left of the deadline: the cold path.
//!
//! Nothing is resent on the parallel path: a connection that broke after the command went
//! out is an unknown outcome, which the operations above treat as "may have run" (an acquire
//! releases there too; it never counts towards a majority).

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::net::connection::Timeouts;
use crate::lock::net::registry::{Checkout, Resend, Shared};
use crate::lock::protocol::resp::Reply;
use crate::lock::quorum::{CONNECT_BACKOFF, MAX_MEMBERS, Member, Quorum};
use crate::lock::topology::Route;

/// What one member did with a command.
#[derive(Debug)]
pub enum Outcome<T> {
    /// It answered.
    Done(T),
    /// It did not run the command: unreachable before anything was sent, or an error reply.
    Failed(Error),
    /// The command went out but no answer came (deadline, broken connection): it may have run.
    Unknown(Error),
    /// Not sent to this member (the caller left it out).
    Skipped,
}

impl<T> Outcome<T> {
    /// The error of a member that failed or whose outcome is unknown.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Outcome::Failed(e) | Outcome::Unknown(e) => Some(e),
            _ => None,
        }
    }
}

/// One command, as each member gets it.
pub struct Command<'a, T> {
    /// Encodes the command into a connection's buffer; `true`: a script by its whole body
    /// (after NOSCRIPT).
    pub encode: &'a dyn Fn(&mut Vec<u8>, bool),
    /// Reads its reply (`None`: an unexpected reply type).
    pub parse: &'a dyn Fn(Reply<'_>) -> Option<T>,
    /// What a reply resent by a member's topology on the cold path proves.
    pub resend: Resend<T>,
    /// The operation, for messages.
    pub what: &'static str,
}

/// Error replies after which the member's own topology must serve the command (the cold
/// path): a Redis Cluster redirect, or a Sentinel master that is one no more.
fn needs_topology(e: &Error) -> bool {
    [
        "MOVED",
        "ASK",
        "TRYAGAIN",
        "CLUSTERDOWN",
        "READONLY",
        "MASTERDOWN",
        "NOREPLICAS",
        "UNBLOCKED",
    ]
    .iter()
    .any(|code| e.is_server_code(code))
}

struct Pending<'a> {
    member: usize,
    checkout: Checkout<'a>,
    resent_by_body: bool,
    ready: bool,
}

impl Quorum {
    /// Sends `cmd` to every member (those with `send[i]` false are skipped, when `send` is
    /// given; those named are tried even while left out after a timeout) and collects their
    /// outcomes by `deadline` (see the module docs). `timeouts`: the connect timeout caps each
    /// connect (which also ends by the deadline).
    pub fn fan_out<T>(
        &self,
        route: Route<'_>,
        timeouts: Timeouts,
        deadline: Instant,
        cmd: &Command<'_, T>,
        send: Option<&[bool]>,
    ) -> Vec<Outcome<T>> {
        let started = Instant::now();
        let n = self.members.len();
        let mut outcomes: Vec<Option<Outcome<T>>> = (0..n).map(|_| None).collect();
        let nodes: Vec<Option<Arc<Shared>>> = (0..n)
            .map(|i| {
                if send.is_some_and(|s| !s[i]) {
                    None
                } else {
                    self.members[i].topology.known_node(route)
                }
            })
            .collect();
        let mut cold: Vec<usize> = Vec::new();
        let mut pending: Vec<Pending<'_>> = Vec::with_capacity(n);
        // Encoded once, written to every member.
        let mut template = Vec::with_capacity(256);
        (cmd.encode)(&mut template, false);
        // Members with a connection open first: their commands go out before any member that
        // must connect (the first call, or after its connection was dropped) is connected,
        // which may take its share of the deadline. Their replies wait in the kernel meanwhile
        // and are collected with the others' below: collecting them first would let one
        // connected member that does not answer (stopped, stalled) use up the whole deadline
        // before the members to connect got their command, and a majority that was there
        // would be reported missing.
        let mut connected: u64 = 0;
        for (i, node) in nodes.iter().enumerate() {
            if node.as_ref().is_some_and(|s| s.has_connection()) {
                connected |= 1 << i;
            }
        }
        let mut sent_later = false;
        for i in 0..n {
            if connected & (1 << i) != 0 {
                self.start(
                    i,
                    &nodes,
                    &mut pending,
                    &mut outcomes,
                    &mut cold,
                    timeouts,
                    deadline,
                    &template,
                    send,
                );
            } else {
                sent_later = true;
            }
        }
        if sent_later {
            // The members that must connect are connected at the same time, each on a thread
            // of its own joined here, each with half the time left (at most the connect
            // timeout): they run side by side, so all of them together cost the slowest one's
            // connect, and one that cannot be reached (a host that drops packets) costs half
            // the deadline once (then it is left out), leaving the other half for the replies.
            // (Not the time left divided by their number: that would only starve distant
            // members, whose connect and setup take several round trips.) Below, `start`
            // finds their connections open.
            let together = self.to_connect_together(&nodes, connected, send, deadline);
            if together.len() >= 2 {
                let left = deadline.saturating_duration_since(Instant::now());
                let share = Timeouts {
                    connect: timeouts.connect.min(left / 2),
                    read: timeouts.read,
                };
                for (i, result) in self.connect_together(&together, &nodes, share, deadline) {
                    if let Some(Err(e)) = result {
                        outcomes[i] = Some(Outcome::Failed(e));
                    }
                }
            }
            // Then the commands go out, and members not connected above (one alone, a thread
            // that could not be started) connect now, one after the other: each gets an equal
            // share of the time left (at most the connect timeout), so that one unreachable
            // member cannot use it all.
            let mut to_connect = n as u32 - connected.count_ones();
            for i in 0..n {
                if connected & (1 << i) == 0 {
                    if outcomes[i].is_some() {
                        to_connect -= 1;
                        continue;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    let share = Timeouts {
                        connect: timeouts.connect.min(left / to_connect.max(1)),
                        read: timeouts.read,
                    };
                    to_connect -= 1;
                    self.start(
                        i,
                        &nodes,
                        &mut pending,
                        &mut outcomes,
                        &mut cold,
                        share,
                        deadline,
                        &template,
                        send,
                    );
                }
            }
        }
        collect(
            self,
            &mut pending,
            &mut outcomes,
            &mut cold,
            started,
            deadline,
            cmd,
        );
        drop(pending);
        drop(nodes);
        // The cold path, one member at a time, after every checkout is released (a member's
        // topology may lock a connection the fan-out held).
        for &i in &cold {
            outcomes[i] = Some(self.run_one(i, route, timeouts, deadline, cmd));
        }
        if !cold.is_empty() {
            self.refuse_doubles(route, &cold, &mut outcomes);
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Skipped))
            .collect()
    }

    /// Step 1 of the module docs for member `i`: checks its connection out and writes `cmd`
    /// (into `pending`), or records why it could not, or leaves it to the cold path.
    #[allow(clippy::too_many_arguments)]
    fn start<'n, T>(
        &self,
        i: usize,
        nodes: &'n [Option<Arc<Shared>>],
        pending: &mut Vec<Pending<'n>>,
        outcomes: &mut [Option<Outcome<T>>],
        cold: &mut Vec<usize>,
        timeouts: Timeouts,
        deadline: Instant,
        template: &[u8],
        send: Option<&[bool]>,
    ) {
        if send.is_some_and(|s| !s[i]) {
            outcomes[i] = Some(Outcome::Skipped);
            return;
        }
        let Some(node) = &nodes[i] else {
            cold.push(i);
            return;
        };
        // One connection checked out twice would deadlock: two members resolved to one
        // server (a Sentinel's master that another member names directly).
        if let Some(p) = pending.iter().find(|p| {
            nodes[p.member]
                .as_ref()
                .is_some_and(|s| same_server(s, node))
        }) {
            outcomes[i] = Some(Outcome::Failed(Error::invalid(format!(
                "quorum member {} reached the same server as member {}: each member must be \
                 an independent server",
                self.members[i].name, self.members[p.member].name
            ))));
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            outcomes[i] = Some(Outcome::Failed(no_time(&self.members[i].name)));
            return;
        }
        // A connect's setup round trip (AUTH, SELECT, a TLS PING) is bounded as the connect
        // is: a stopped member that accepts the TCP connect but never answers must not hold
        // the call past its deadline (or past its share of it). Once checked out, the
        // connection keeps the call's read timeout (a write blocks at most that long, and an
        // unchanged timeout costs no system call); the deadline is poll's.
        let bounded = bounded(timeouts, left);
        let member = &self.members[i];
        let connecting = !node.has_connection();
        // Members the caller names one by one (`send`: an acquire's undo, sent also where the
        // outcome was unknown) are tried even while left out.
        if connecting
            && send.is_none()
            && let Some(e) = left_out(member)
        {
            outcomes[i] = Some(Outcome::Failed(e));
            return;
        }
        let t0 = Instant::now();
        match node.checkout(bounded) {
            Err(e) => {
                if connecting {
                    note_connect_failure(member, t0, bounded, &e);
                }
                outcomes[i] = Some(Outcome::Failed(e));
            }
            Ok(mut checkout) => {
                let conn = checkout.conn();
                conn.set_read_timeout(timeouts.read);
                conn.command_buffer().extend_from_slice(template);
                match conn.send() {
                    Ok(()) => pending.push(Pending {
                        member: i,
                        checkout,
                        resent_by_body: false,
                        ready: true,
                    }),
                    Err(e) => {
                        checkout.discard();
                        outcomes[i] = Some(Outcome::Unknown(e));
                    }
                }
            }
        }
    }

    /// The members to connect together before the commands go out (see [`Quorum::fan_out`]):
    /// those sent to whose server is known without I/O and has no connection open (`connected`,
    /// worked out before any checkout: asking a node now could wait on a connection this call
    /// holds), and which are
    /// not left out after a failure (when `send` does not name them). A member that reaches
    /// the same server as another member is left to [`Quorum::start`], which refuses it as
    /// today without connecting it. No I/O.
    fn to_connect_together(
        &self,
        nodes: &[Option<Arc<Shared>>],
        connected: u64,
        send: Option<&[bool]>,
        deadline: Instant,
    ) -> Vec<usize> {
        if deadline.saturating_duration_since(Instant::now()) < Duration::from_millis(1) {
            return Vec::new();
        }
        (0..nodes.len())
            .filter(|&i| {
                let Some(node) = &nodes[i] else { return false };
                connected & (1 << i) == 0
                    && send.is_none_or(|s| s[i])
                    && (send.is_some() || left_out(&self.members[i]).is_none())
                    && !nodes.iter().enumerate().any(|(j, other)| {
                        j != i && other.as_ref().is_some_and(|o| same_server(o, node))
                    })
            })
            .collect()
    }

    /// Connects the members `together` (at least two) at the same time: one scoped thread each
    /// but the first, which this thread connects; every thread is joined before this returns,
    /// so none outlives the call (nor reaches a `pcntl_fork()`). Each connect is bounded by
    /// `share.connect` and the deadline, and a failure is recorded as [`Quorum::start`] does
    /// (left out after a connect that used up its time). For each member: its result, or
    /// `None` when its thread could not be started (it connects in turn later). A thread that
    /// panicked is an error, never a panic of the caller.
    fn connect_together(
        &self,
        together: &[usize],
        nodes: &[Option<Arc<Shared>>],
        share: Timeouts,
        deadline: Instant,
    ) -> Vec<(usize, Option<Result<()>>)> {
        let job = |i: usize| {
            let member = &self.members[i];
            let node = nodes[i].as_deref();
            move || match node {
                Some(node) => connect_member(member, node, share, deadline),
                None => Ok(()),
            }
        };
        std::thread::scope(|scope| {
            let threads: Vec<_> = together[1..]
                .iter()
                .map(|&i| {
                    let thread = std::thread::Builder::new()
                        .name("redis-lock-connect".into())
                        .spawn_scoped(scope, job(i));
                    (i, thread.ok())
                })
                .collect();
            let panicked = |i: usize| {
                Err(Error::new(
                    ErrorKind::Connection,
                    format!(
                        "cannot connect to quorum member {}: the connect failed (panicked)",
                        self.members[i].name
                    ),
                ))
            };
            let mut results = Vec::with_capacity(together.len());
            let first = together[0];
            let own = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job(first)));
            results.push((first, Some(own.unwrap_or_else(|_| panicked(first)))));
            for (i, thread) in threads {
                let result = thread.map(|t| t.join().unwrap_or_else(|_| panicked(i)));
                results.push((i, result));
            }
            results
        })
    }

    /// A member served on the cold path (a Sentinel master or a cluster node it discovered)
    /// that reached the same server as another member is that member's server, not another
    /// vote: its outcome becomes a failure, as on the parallel path ([`Quorum::start`]). Of two
    /// cold members on one server, the later one. No I/O (the nodes are cached now).
    fn refuse_doubles<T>(
        &self,
        route: Route<'_>,
        cold: &[usize],
        outcomes: &mut [Option<Outcome<T>>],
    ) {
        let nodes: Vec<Option<Arc<Shared>>> = self
            .members
            .iter()
            .map(|m| m.topology.known_node(route))
            .collect();
        for &i in cold {
            let Some(node) = &nodes[i] else { continue };
            let twin = (0..nodes.len()).find(|&j| {
                j != i
                    && (j < i || !cold.contains(&j))
                    && nodes[j].as_ref().is_some_and(|s| same_server(s, node))
            });
            if let Some(j) = twin {
                outcomes[i] = Some(Outcome::Failed(Error::invalid(format!(
                    "quorum member {} reached the same server as member {}: each member must \
                     be an independent server",
                    self.members[i].name, self.members[j].name
                ))));
            }
        }
    }

    /// Member `i` serves `cmd` by its own topology's rules, within what is left.
    fn run_one<T>(
        &self,
        i: usize,
        route: Route<'_>,
        timeouts: Timeouts,
        deadline: Instant,
        cmd: &Command<'_, T>,
    ) -> Outcome<T> {
        let member = &self.members[i];
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Outcome::Failed(no_time(&member.name));
        }
        let bounded = Timeouts {
            connect: timeouts.connect.min(left),
            read: left,
        };
        let mut sent = false;
        let result = member.topology.run(route, bounded, cmd.resend, |conn| {
            sent = true;
            (cmd.encode)(conn.command_buffer(), false);
            conn.send()?;
            let reply = match conn.read_reply(|r| (cmd.parse)(r)) {
                Err(e) if e.is_server_code("NOSCRIPT") => {
                    (cmd.encode)(conn.command_buffer(), true);
                    conn.send()?;
                    conn.read_reply(|r| (cmd.parse)(r))
                }
                other => other,
            }?;
            reply.ok_or_else(|| unexpected(cmd.what))
        });
        match result {
            Ok(v) => Outcome::Done(v),
            Err(e) if e.is_server() || !sent || e.is_refused() => Outcome::Failed(e),
            Err(e) if e.kind() == ErrorKind::InvalidArgument => Outcome::Failed(e),
            Err(e) => Outcome::Unknown(e),
        }
    }
}

/// Step 2 and 3 of the module docs: reads the replies of `pending` as they come, by
/// `deadline`; members to serve on the cold path are added to `cold`.
fn collect<T>(
    quorum: &Quorum,
    pending: &mut Vec<Pending<'_>>,
    outcomes: &mut [Option<Outcome<T>>],
    cold: &mut Vec<usize>,
    started: Instant,
    deadline: Instant,
    cmd: &Command<'_, T>,
) {
    // At most MAX_MEMBERS: on the stack.
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX_MEMBERS];
    let mut count;
    loop {
        let mut k = 0;
        while k < pending.len() {
            if !pending[k].ready {
                k += 1;
                continue;
            }
            let p = &mut pending[k];
            let conn = p.checkout.conn();
            let outcome = match conn.poll_reply(|r| (cmd.parse)(r)) {
                Ok(None) => None,
                Ok(Some(Some(v))) => Some(Outcome::Done(v)),
                Ok(Some(None)) => {
                    p.checkout.discard();
                    Some(Outcome::Unknown(unexpected(cmd.what)))
                }
                Err(e) if e.is_server_code("NOSCRIPT") && !p.resent_by_body => {
                    // The script did not run: its body goes out now on this connection.
                    p.resent_by_body = true;
                    (cmd.encode)(conn.command_buffer(), true);
                    match conn.send() {
                        Ok(()) => {
                            // Its reply may be there at once: look again before polling.
                            continue;
                        }
                        Err(e) => {
                            p.checkout.discard();
                            Some(Outcome::Unknown(e))
                        }
                    }
                }
                Err(e) if e.is_server() && needs_topology(&e) => {
                    cold.push(p.member);
                    pending.swap_remove(k);
                    continue;
                }
                Err(e) if e.is_server() => Some(Outcome::Failed(e)),
                Err(e) => {
                    p.checkout.discard();
                    Some(Outcome::Unknown(e))
                }
            };
            match outcome {
                Some(outcome) => {
                    outcomes[pending[k].member] = Some(outcome);
                    pending.swap_remove(k);
                }
                None => {
                    pending[k].ready = false;
                    k += 1;
                }
            }
        }
        if pending.is_empty() {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let waited = deadline.saturating_duration_since(started);
            for p in pending.drain(..) {
                let mut p = p;
                let error = p.checkout.conn().deadline_error(waited);
                p.checkout.discard();
                // A member this slow (stopped, overloaded) is left out for a while, as one
                // whose connect timed out: each call would otherwise wait the whole deadline.
                *quorum.members[p.member]
                    .backoff
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some((Instant::now() + CONNECT_BACKOFF, error.clone()));
                outcomes[p.member] = Some(Outcome::Unknown(error));
            }
            return;
        }
        count = 0;
        for p in pending.iter_mut() {
            match p.checkout.conn().raw_fd() {
                Some(fd) => {
                    fds[count] = libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    count += 1;
                }
                None => {
                    // No socket (an in-process link): read it as it is.
                    p.ready = true;
                    fds[count] = libc::pollfd {
                        fd: -1,
                        events: 0,
                        revents: 0,
                    };
                    count += 1;
                }
            }
        }
        if pending.iter().any(|p| p.ready) {
            continue;
        }
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: `fds` holds `count` (at most its length) valid pollfd structures, alive for
        // the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), count as libc::nfds_t, ms) };
        if n < 0 {
            // EINTR (a signal): go round, the deadline still holds. Other errors cannot
            // happen with valid descriptors; a timeout is handled at the top.
            continue;
        }
        for (p, fd) in pending.iter_mut().zip(&fds[..count]) {
            p.ready = fd.revents != 0;
        }
    }
}

/// Whether two nodes are one server: one connection, or one address (a Sentinel's master
/// has a connection of its own, with its own options, even when another member names the same
/// host and port).
fn same_server(a: &Arc<Shared>, b: &Arc<Shared>) -> bool {
    use crate::lock::options::Address;
    if Arc::ptr_eq(a, b) {
        return true;
    }
    match (&a.endpoint().address, &b.endpoint().address) {
        (
            Address::Tcp { host: h1, port: p1 }
            | Address::Tls {
                host: h1, port: p1, ..
            },
            Address::Tcp { host: h2, port: p2 }
            | Address::Tls {
                host: h2, port: p2, ..
            },
        ) => p1 == p2 && h1.eq_ignore_ascii_case(h2),
        (Address::Unix(x), Address::Unix(y)) => x == y,
        _ => false,
    }
}

/// The timeouts of a connect made with `timeouts` when `left` remains before the deadline:
/// its setup round trip (AUTH, SELECT, a TLS PING) is bounded as the connect is, so that a
/// stopped member that accepts the TCP connect but never answers cannot hold the call past
/// its deadline.
fn bounded(timeouts: Timeouts, left: Duration) -> Timeouts {
    let connect = timeouts.connect.min(left);
    Timeouts {
        connect,
        read: timeouts.read.min(connect),
    }
}

/// The error to report for `member` while it is left out after a failed connect or a missed
/// deadline (see [`CONNECT_BACKOFF`]), if it is.
fn left_out(member: &Member) -> Option<Error> {
    let backoff = member
        .backoff
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    match backoff.as_ref() {
        Some((until, e)) if Instant::now() < *until => Some(Error::new(
            e.kind(),
            format!(
                "{} (left out for {} s after it did not connect or answer in time)",
                e.message(),
                CONNECT_BACKOFF.as_secs_f64()
            ),
        )),
        _ => None,
    }
}

/// A connect of `member` begun at `t0` with `bounded` failed with `e`: when it used up its
/// time (a host that drops packets), the member is left out for [`CONNECT_BACKOFF`].
fn note_connect_failure(member: &Member, t0: Instant, bounded: Timeouts, e: &Error) {
    if t0.elapsed() + Duration::from_millis(1) >= bounded.connect {
        *member
            .backoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now() + CONNECT_BACKOFF, e.clone()));
    }
}

/// Opens `member`'s connection on `node` (no command sent) with `share` of the time, within
/// the deadline: what [`Quorum::start`] does before it writes, for a member connected together
/// with others ([`Quorum::connect_together`]).
fn connect_member(
    member: &Member,
    node: &Shared,
    share: Timeouts,
    deadline: Instant,
) -> Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        return Err(no_time(&member.name));
    }
    let bounded = bounded(share, left);
    let t0 = Instant::now();
    node.connect(bounded)
        .inspect_err(|e| note_connect_failure(member, t0, bounded, e))
}

fn no_time(member: &str) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("no time was left to send the command to {member} within the deadline"),
    )
}

fn unexpected(what: &'static str) -> Error {
    Error::new(ErrorKind::Protocol, "unexpected reply type").context(what)
}

/// A failure in an aggregated message: its member, then what happened.
pub(crate) fn describe_failure(member: &str, e: &Error) -> String {
    format!("{member}: {}", e.detail())
}

/// The members' outcomes that failed (or are unknown), as a `Result` error when there are
/// any, for operations that must reach every member (forceRelease).
pub(crate) fn all_or_error<T>(
    quorum: &Quorum,
    outcomes: &[Outcome<T>],
    what: &'static str,
    prefix: &str,
) -> Result<()> {
    let failures: Vec<String> = outcomes
        .iter()
        .zip(quorum.members())
        .filter_map(|(o, m)| o.error().map(|e| describe_failure(&m.name, e)))
        .collect();
    if failures.is_empty() {
        return Ok(());
    }
    let kind = outcomes
        .iter()
        .find_map(|o| o.error().map(Error::kind))
        .unwrap_or(ErrorKind::Connection);
    Err(Error::new(kind, format!("{prefix}{}", failures.join("; "))).context(what))
}
