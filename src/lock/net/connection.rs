//! One native connection to one Redis server: socket, handshake, timeouts, and the
//! write-command / read-reply cycle over the lean RESP path in [`crate::lock::protocol::resp`].

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::memory::Link;
use crate::lock::net::tls::{self, TlsFailure, TlsStream};
use crate::lock::options::{Address, Endpoint};
use crate::lock::protocol::resp::{self, Reply};

/// The configuration epoch a fenced script folds into its fences (see [`Connection::epoch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epoch {
    /// Known to the client (Sentinel's `config-epoch`; 0 for a single server).
    Known(u64),
    /// The node's own, read by the script (`CLUSTER INFO`: `cluster_my_epoch`).
    AskNode,
}

/// `ASKING`, RESP-encoded.
const ASKING: &[u8] = b"*1\r\n$6\r\nASKING\r\n";

/// Initial size of the read buffer; it grows (and is zero-filled) only when a reply is larger.
const READ_BUFFER: usize = 4096;

/// How long a call may take: to connect (when it must), and for each reply (and each write).
/// Connections are shared by every `RedisLock` of a server, whatever their timeouts: these
/// travel with each call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Connect timeout.
    pub connect: Duration,
    /// Read and write timeout.
    pub read: Duration,
}

impl Timeouts {
    /// The timeouts an endpoint was configured with.
    pub fn of(endpoint: &Endpoint) -> Timeouts {
        Timeouts {
            connect: endpoint.connect_timeout,
            read: endpoint.read_timeout,
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// An in-process memory space ([`crate::lock::memory`]).
    Memory(Box<Link>),
    Tls(Box<TlsStream>),
}

impl Stream {
    fn set_read_timeout(&mut self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
            Stream::Memory(link) => {
                link.set_read_timeout(t);
                Ok(())
            }
            Stream::Tls(s) => s.set_read_timeout(t),
        }
    }

    fn set_write_timeout(&mut self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(Some(t)),
            Stream::Unix(s) => s.set_write_timeout(Some(t)),
            Stream::Memory(_) => Ok(()),
            Stream::Tls(s) => s.set_write_timeout(t),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Memory(link) => link.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    /// The socket's descriptor, for `poll(2)` (`None` for an in-process memory link).
    fn fd(&self) -> Option<RawFd> {
        match self {
            Stream::Tcp(s) => Some(s.as_raw_fd()),
            Stream::Unix(s) => Some(s.as_raw_fd()),
            Stream::Tls(s) => Some(s.fd()),
            Stream::Memory(_) => None,
        }
    }

    /// Reads what has arrived without blocking: `WouldBlock` when nothing has. Over TLS,
    /// plaintext rustls already holds comes first. A memory link reads as usual (it answers
    /// within the call that sent the command).
    fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => return s.read_nonblocking(buf),
            Stream::Memory(link) => return link.read(buf),
        };
        // SAFETY: a valid, open descriptor owned by `self`; `buf` is writable for its length;
        // MSG_DONTWAIT makes this one call non-blocking without changing the socket.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// False when the peer is known to have closed the connection (or sent bytes nobody asked
    /// for): one non-blocking `recv(MSG_PEEK)` on a socket.
    fn peer_is_quiet(&self) -> bool {
        let fd: RawFd = match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.fd(),
            Stream::Memory(_) => return true,
        };
        let mut byte = 0u8;
        // SAFETY: a valid, open descriptor owned by `self`; one byte of writable buffer;
        // MSG_PEEK | MSG_DONTWAIT neither consumes data nor blocks.
        let n = unsafe {
            libc::recv(
                fd,
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        // SAFETY: reads this thread's errno, just set by `recv`.
        n < 0 && {
            let errno = unsafe { *libc::__errno_location() };
            errno == libc::EAGAIN || errno == libc::EWOULDBLOCK || errno == libc::EINTR
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            // std sends with MSG_NOSIGNAL on both (unix sockets since rust-lang/rust#140005): a server
            // that has gone away is an EPIPE error, never a SIGPIPE that kills PHP.
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Memory(link) => link.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
}

/// An open, authenticated connection.
///
/// Every method that fails with a connection, timeout or protocol error leaves the connection in
/// an unknown state: the owner must drop it (see [`crate::lock::net::registry::Shared::run`]).
pub struct Connection {
    stream: Stream,
    /// The process that opened the socket; a forked child must not use it.
    pid: u32,
    /// Pending command bytes, reused across commands.
    wbuf: Vec<u8>,
    /// Read buffer; bytes `rstart..rend` are received but not yet parsed.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// The read (and write) timeout of the current call.
    read_timeout: Duration,
    /// The read and write timeouts set on the socket now (changed only when they differ from
    /// what a call needs: a system call each).
    socket_read_timeout: Duration,
    socket_write_timeout: Duration,
    /// `host:port db N`, for messages.
    name: String,
    /// Set while the commands sent must each be preceded by `ASKING` (a Redis Cluster `ASK`
    /// redirect: the slot is being imported by this node).
    asking: bool,
    /// Replies to `ASKING` still to be read (and dropped) before the next command's reply.
    asking_replies: usize,
    /// The configuration epoch of the node (see [`Connection::epoch`]).
    epoch: u64,
    /// A Redis Cluster node: fenced scripts read its epoch themselves.
    cluster_node: bool,
    /// Set when an error reply was a Redis Cluster redirect (`MOVED`, `ASK`, `TRYAGAIN`,
    /// `CLUSTERDOWN`), also one a pipeline kept as a per-command result.
    redirected: bool,
}

impl Connection {
    /// Connects to `endpoint` within `timeouts.connect`, applies `timeouts.read`, then sends
    /// `AUTH` and `SELECT` (pipelined) when the endpoint needs them. (The endpoint's own timeouts
    /// are not used.)
    pub fn open(endpoint: &Endpoint, timeouts: Timeouts) -> Result<Connection> {
        let name = endpoint.describe();
        let mut stream = connect(endpoint, timeouts.connect).map_err(|e| {
            if let Some(tls) = e.get_ref().and_then(|e| e.downcast_ref::<TlsFailure>()) {
                let kind = if tls.refused {
                    ErrorKind::Refused
                } else {
                    ErrorKind::Connection
                };
                return Error::new(kind, format!("cannot connect to Redis at {name}: {tls}"));
            }
            if e.kind() == io::ErrorKind::PermissionDenied && e.get_ref().is_some() {
                // Refused for good (a memory space of another process): not worth retrying.
                return Error::new(ErrorKind::Refused, e.to_string());
            }
            let kind = if is_timeout(&e) {
                "timed out"
            } else {
                "failed"
            };
            Error::new(
                ErrorKind::Connection,
                format!(
                    "cannot connect to Redis at {name}: connection {kind} ({})",
                    io_reason(&e)
                ),
            )
        })?;
        let setup = |e: io::Error| {
            Error::new(
                ErrorKind::Connection,
                format!("cannot set up the connection to {name}: {e}"),
            )
        };
        stream.set_read_timeout(timeouts.read).map_err(setup)?;
        stream.set_write_timeout(timeouts.read).map_err(setup)?;
        let mut conn = Connection {
            stream,
            pid: crate::lock::net::pid::current(),
            wbuf: Vec::with_capacity(256),
            rbuf: vec![0; READ_BUFFER],
            rstart: 0,
            rend: 0,
            read_timeout: timeouts.read,
            socket_read_timeout: timeouts.read,
            socket_write_timeout: timeouts.read,
            name,
            asking: false,
            asking_replies: 0,
            redirected: false,
            epoch: 0,
            cluster_node: false,
        };
        conn.handshake(endpoint)?;
        Ok(conn)
    }

    fn handshake(&mut self, endpoint: &Endpoint) -> Result<()> {
        let mut replies = 0;
        if let Some(password) = &endpoint.password {
            match &endpoint.username {
                Some(user) => resp::command(
                    &mut self.wbuf,
                    &[b"AUTH", user.as_bytes(), password.as_bytes()],
                ),
                None => resp::command(&mut self.wbuf, &[b"AUTH", password.as_bytes()]),
            }
            replies += 1;
        }
        if endpoint.database != 0 {
            let db = endpoint.database.to_string();
            resp::command(&mut self.wbuf, &[b"SELECT", db.as_bytes()]);
            replies += 1;
        }
        if replies == 0 && matches!(self.stream, Stream::Tls(_)) {
            // TLS 1.3 finishes the client's handshake before the server has checked the client
            // certificate: one round trip proves the server accepted the session.
            resp::command(&mut self.wbuf, &[b"PING"]);
            replies += 1;
        }
        if replies == 0 {
            return Ok(());
        }
        if let Err(e) = self.send() {
            return Err(self.tls_refusal(e));
        }
        let mut first_error = None;
        for _ in 0..replies {
            // Read every reply even after an error, so that none is left in the buffer.
            if let Err(e) = self.read_reply(|_| ()) {
                if !e.is_server() {
                    return Err(self.tls_refusal(e));
                }
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => {
                // A server still loading its data or busy answers so for a while: that passes.
                let passing = ["LOADING", "BUSY", "MASTERDOWN"]
                    .iter()
                    .any(|code| e.is_server_code(code));
                let kind = if passing {
                    ErrorKind::Connection
                } else {
                    ErrorKind::Refused
                };
                // The message only: the node is named already.
                Err(Error::new(
                    kind,
                    format!(
                        "Redis at {} refused the connection setup: {}",
                        self.name,
                        e.message()
                    ),
                ))
            }
        }
    }

    /// A connection error during the setup of a TLS session that the server ended with an alert
    /// (it refused our certificate, or has none it accepts) is a refusal: retrying will not
    /// help. Other errors are returned as they are.
    fn tls_refusal(&mut self, e: Error) -> Error {
        let Stream::Tls(tls) = &mut self.stream else {
            return e;
        };
        if e.kind() != ErrorKind::Connection {
            return e;
        }
        // The alert may have come before the reset that failed the write or the read.
        let alert = match tls.alert() {
            Some(alert) => format!("{} (TLS: {alert})", e.message()),
            None if e.message().contains("(TLS: ") => e.message().to_owned(),
            None => {
                return Error::new(
                    ErrorKind::Connection,
                    format!(
                        "{}; the server ended the TLS session right after the handshake: it \
                         may require a client certificate (ssl options \"local_cert\", \
                         \"local_pk\") or refuse ours",
                        e.message()
                    ),
                );
            }
        };
        Error::new(
            ErrorKind::Refused,
            format!(
                "Redis at {} refused the TLS session (ssl options \"local_cert\", \
                 \"local_pk\"): {alert}",
                self.name
            ),
        )
    }

    /// The id of the process that opened this connection.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `host:port db N`, safe for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the read (and write) timeout for the commands that follow.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.read_timeout = timeout;
    }

    /// False when the connection is known to be unusable before anything is sent on it: the
    /// server closed it (restart, idle timeout, `CLIENT KILL`) or it holds bytes nobody asked
    /// for. One non-blocking `recv(MSG_PEEK)`; a command sent on a connection that passed this
    /// check reached a server that had not closed it. Over TLS, what waits is read as TLS
    /// records without blocking ([`TlsStream::is_reusable`]).
    pub fn is_reusable(&mut self) -> bool {
        if self.rstart != self.rend {
            return false;
        }
        if let Stream::Tls(tls) = &mut self.stream {
            return tls.is_reusable();
        }
        self.stream.peer_is_quiet()
    }

    /// The buffer the next command is encoded into (see [`resp::begin`] and friends).
    pub fn command_buffer(&mut self) -> &mut Vec<u8> {
        &mut self.wbuf
    }

    /// Makes every command sent from now on (until called with `false`) go out preceded by
    /// `ASKING`, in the same write, as a Redis Cluster `ASK` redirect requires; the `ASKING`
    /// replies are read and dropped before each command's own.
    pub fn set_asking(&mut self, asking: bool) {
        self.asking = asking;
    }

    /// The configuration epoch of the node this connection reaches, which a failover raises on
    /// the promoted replica, for fenced scripts: a Redis Cluster node's own (`AskNode`: the
    /// script reads `cluster_my_epoch` when it hands out a fence, so a connection that outlived
    /// a demotion and a later promotion of its node still gets the node's current epoch);
    /// Sentinel's `config-epoch` of the master as the sentinels reported it; 0 for a single
    /// server.
    pub fn epoch(&self) -> Epoch {
        if self.cluster_node {
            Epoch::AskNode
        } else {
            Epoch::Known(self.epoch)
        }
    }

    /// Raises the known epoch to `epoch` (never lowers it).
    pub fn raise_epoch(&mut self, epoch: u64) {
        self.epoch = self.epoch.max(epoch);
    }

    /// Marks the connection as one to a Redis Cluster node (see [`Connection::epoch`]).
    pub fn set_cluster_node(&mut self) {
        self.cluster_node = true;
    }

    /// Whether a reply since the last call was a Redis Cluster redirect; clears it.
    pub fn take_redirected(&mut self) -> bool {
        std::mem::take(&mut self.redirected)
    }

    /// Puts `ASKING` before each command in the buffer.
    #[cold]
    fn prefix_asking(&mut self) -> Result<()> {
        let ends = resp::request_ends(&self.wbuf).ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                "internal error: a command to send is not a RESP request",
            )
        })?;
        let mut out = Vec::with_capacity(self.wbuf.len() + ends.len() * ASKING.len());
        let mut start = 0;
        for end in &ends {
            out.extend_from_slice(ASKING);
            out.extend_from_slice(&self.wbuf[start..*end]);
            start = *end;
        }
        self.asking_replies += ends.len();
        self.wbuf = out;
        Ok(())
    }

    /// Writes the encoded command(s) and clears the buffer.
    pub fn send(&mut self) -> Result<()> {
        if self.asking {
            self.prefix_asking()?;
        }
        if self.socket_write_timeout != self.read_timeout {
            self.stream
                .set_write_timeout(self.read_timeout)
                .map_err(|e| self.io_error(e, "sending", self.read_timeout))?;
            self.socket_write_timeout = self.read_timeout;
        }
        let mut written = 0;
        while written < self.wbuf.len() {
            match self.stream.write(&self.wbuf[written..]) {
                Ok(0) => {
                    let e = io::Error::from(io::ErrorKind::WriteZero);
                    return Err(self.io_error(e, "sending", self.read_timeout));
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e, "sending", self.read_timeout)),
            }
        }
        self.wbuf.clear();
        Ok(())
    }

    /// The socket's descriptor, to wait for a reply with `poll(2)` beside other connections'
    /// (`None` for a memory link). Mind [`Connection::poll_reply`]: bytes may already wait in
    /// this connection's buffer (or in the TLS layer), where `poll` does not see them.
    pub fn raw_fd(&self) -> Option<RawFd> {
        self.stream.fd()
    }

    /// One reply if a whole one has arrived, without blocking: `Ok(None)` when it has not yet.
    /// Parses what is buffered first, then reads what the socket (and the TLS layer) holds,
    /// until the reply is whole or nothing more is there. Errors as [`Connection::read_reply`]
    /// (an error reply is an [`ErrorKind::Server`] error and the connection stays usable).
    pub fn poll_reply<R>(&mut self, f: impl FnOnce(Reply<'_>) -> R) -> Result<Option<R>> {
        loop {
            match resp::parse(&self.rbuf[self.rstart..self.rend]) {
                Ok(Some((reply, used))) => {
                    if self.asking_replies > 0 {
                        // The reply to an `ASKING` sent before the command: dropped.
                        self.asking_replies -= 1;
                        self.consume(used);
                        continue;
                    }
                    let result = match reply {
                        Reply::Error(message) => {
                            self.redirected |= is_redirect(message);
                            Err(Error::server(
                                String::from_utf8_lossy(message),
                                self.name.as_str(),
                            ))
                        }
                        other => Ok(f(other)),
                    };
                    self.consume(used);
                    return result.map(Some);
                }
                Ok(None) => {}
                Err(resp::ProtocolError(why)) => {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("Redis at {} sent an invalid reply: {why}", self.name),
                    ));
                }
            }
            if self.rend == self.rbuf.len() {
                if self.rstart > 0 {
                    self.rbuf.copy_within(self.rstart..self.rend, 0);
                    self.rend -= self.rstart;
                    self.rstart = 0;
                } else {
                    let bigger = self.rbuf.len() * 2;
                    self.rbuf.resize(bigger, 0);
                }
            }
            match self.stream.read_nonblocking(&mut self.rbuf[self.rend..]) {
                Ok(0) => {
                    return Err(Error::new(
                        ErrorKind::Connection,
                        format!(
                            "connection to Redis at {} was closed by the server",
                            self.name
                        ),
                    ));
                }
                Ok(n) => self.rend += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e, "waiting for a reply", self.read_timeout)),
            }
        }
    }

    fn consume(&mut self, used: usize) {
        self.rstart += used;
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
    }

    /// The error of a reply that did not come by a caller's own deadline (`waited`): the
    /// command may or may not have taken effect, and the connection must be dropped.
    pub fn deadline_error(&self, waited: Duration) -> Error {
        self.io_error(
            io::Error::from(io::ErrorKind::TimedOut),
            "waiting for a reply",
            waited,
        )
    }

    /// Reads one reply and hands it to `f`. An error reply becomes an [`ErrorKind::Server`]
    /// error (the connection stays usable); a timeout, a closed socket or bytes that are not RESP
    /// become errors after which the connection must be dropped.
    pub fn read_reply<R>(&mut self, f: impl FnOnce(Reply<'_>) -> R) -> Result<R> {
        self.read_reply_within(None, f)
    }

    /// [`Connection::read_reply`] with an absolute deadline (for the replies of a pipeline that
    /// share one): a timeout error once it has passed.
    pub fn read_reply_until<R>(
        &mut self,
        deadline: Instant,
        f: impl FnOnce(Reply<'_>) -> R,
    ) -> Result<R> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            let e = io::Error::from(io::ErrorKind::TimedOut);
            return Err(self.io_error(e, "waiting for a reply", left));
        }
        self.read_reply_within(Some(left), f)
    }

    /// [`Connection::read_reply`] for a command that blocks on the server (BLPOP): the whole
    /// reply may take `limit` instead of the read timeout.
    pub fn read_reply_within<R>(
        &mut self,
        limit: Option<Duration>,
        f: impl FnOnce(Reply<'_>) -> R,
    ) -> Result<R> {
        if self.asking_replies > 0 {
            // One budget for both replies: the ASKING's and the command's.
            let started = Instant::now();
            self.skip_asking_reply(limit)?;
            let left = limit
                .unwrap_or(self.read_timeout)
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(1));
            return self.read_one_within(Some(left), f);
        }
        self.read_one_within(limit, f)
    }

    /// Reads the reply to the `ASKING` sent before the next command (its `OK`, or an error the
    /// command's own reply will explain).
    #[cold]
    fn skip_asking_reply(&mut self, limit: Option<Duration>) -> Result<()> {
        self.asking_replies -= 1;
        match self.read_one_within(limit, |_| ()) {
            Err(e) if !e.is_server() => Err(e),
            _ => Ok(()),
        }
    }

    fn read_one_within<R>(
        &mut self,
        limit: Option<Duration>,
        f: impl FnOnce(Reply<'_>) -> R,
    ) -> Result<R> {
        let limit = limit.unwrap_or(self.read_timeout);
        let mut started: Option<Instant> = None;
        loop {
            match resp::parse(&self.rbuf[self.rstart..self.rend]) {
                Ok(Some((reply, used))) => {
                    let result = match reply {
                        // The node's name is copied only here, when an error came.
                        Reply::Error(message) => {
                            self.redirected |= is_redirect(message);
                            Err(Error::server(
                                String::from_utf8_lossy(message),
                                self.name.as_str(),
                            ))
                        }
                        other => Ok(f(other)),
                    };
                    self.rstart += used;
                    if self.rstart == self.rend {
                        self.rstart = 0;
                        self.rend = 0;
                    }
                    return result;
                }
                Ok(None) => {}
                Err(resp::ProtocolError(why)) => {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("Redis at {} sent an invalid reply: {why}", self.name),
                    ));
                }
            }
            // A reply spread over several reads must still finish within the limit.
            let wait = match started {
                None => {
                    started = Some(Instant::now());
                    limit
                }
                Some(t0) => {
                    let left = limit.saturating_sub(t0.elapsed());
                    if left.is_zero() {
                        let e = io::Error::from(io::ErrorKind::TimedOut);
                        return Err(self.io_error(e, "waiting for a reply", limit));
                    }
                    left
                }
            };
            if self.socket_read_timeout != wait {
                self.stream
                    .set_read_timeout(wait)
                    .map_err(|e| self.io_error(e, "waiting for a reply", limit))?;
                self.socket_read_timeout = wait;
            }
            self.fill(limit)?;
        }
    }

    /// Reads more bytes into the buffer, compacting or growing it when full.
    fn fill(&mut self, limit: Duration) -> Result<()> {
        if self.rend == self.rbuf.len() {
            if self.rstart > 0 {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            } else {
                let bigger = self.rbuf.len() * 2;
                self.rbuf.resize(bigger, 0);
            }
        }
        loop {
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => {
                    return Err(Error::new(
                        ErrorKind::Connection,
                        format!(
                            "connection to Redis at {} was closed by the server",
                            self.name
                        ),
                    ));
                }
                Ok(n) => {
                    self.rend += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e, "waiting for a reply", limit)),
            }
        }
    }

    fn io_error(&self, e: io::Error, doing: &str, limit: Duration) -> Error {
        if is_timeout(&e) {
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "Redis at {} did not answer within {:.3} s while {doing}; the command may \
                     or may not have taken effect",
                    self.name,
                    limit.as_secs_f64()
                ),
            )
        } else {
            Error::new(
                ErrorKind::Connection,
                format!(
                    "connection to Redis at {} lost while {doing} ({})",
                    self.name,
                    io_reason(&e)
                ),
            )
        }
    }
}

/// Whether an error reply is a Redis Cluster redirect (the slot map has changed or is
/// changing).
fn is_redirect(message: &[u8]) -> bool {
    [&b"MOVED "[..], b"ASK ", b"TRYAGAIN", b"CLUSTERDOWN"]
        .iter()
        .any(|code| message.starts_with(code))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The OS reason without Rust's "(os error N)" suffix.
fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn connect(endpoint: &Endpoint, timeout: Duration) -> io::Result<Stream> {
    match &endpoint.address {
        Address::Sentinel(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a Sentinel DSN names no server of its own: its topology connects to the master",
        )),
        Address::Cluster(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a cluster DSN names no server of its own: its topology connects to each node",
        )),
        Address::Memory(name) => Link::open(name)
            .map(|link| Stream::Memory(Box::new(link)))
            .map_err(|why| io::Error::new(io::ErrorKind::PermissionDenied, why)),
        Address::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path)?)),
        Address::Tcp { host, port } => {
            connect_tcp(host, *port, Instant::now() + timeout).map(Stream::Tcp)
        }
        Address::Tls { host, port, tls } => {
            // One deadline for the TCP connect and the TLS handshake.
            let deadline = Instant::now() + timeout;
            let tcp = connect_tcp(host, *port, deadline)?;
            let stream = tls::connect(tcp, host, tls, deadline)?;
            Ok(Stream::Tls(Box::new(stream)))
        }
    }
}

fn connect_tcp(host: &str, port: u16, deadline: Instant) -> io::Result<TcpStream> {
    let timeout = deadline.saturating_duration_since(Instant::now());
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host name did not resolve");
    for addr in resolve(host, port, timeout)? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Resolves `host` within `timeout`. An IP address needs no lookup; a name is looked up on a
/// helper thread, because the system resolver has no timeout of its own (a dead DNS server
/// would otherwise stall PHP for tens of seconds). A lookup that outlives the timeout finishes
/// in the background and is ignored.
fn resolve(host: &str, port: u16, timeout: Duration) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("redis-lock-dns".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        })?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("resolving {host} took longer than the connect timeout"),
        )),
    }
}
