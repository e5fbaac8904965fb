//! TLS for `rediss://`, with OpenSSL: the library PHP itself links (its `openssl` extension,
//! its `ssl://` streams and phpredis use the same `libssl.so.3`), so TLS adds no second crypto
//! library to the process and the `ssl` option's files mean what they mean to PHP (a key inside
//! `local_cert`, an encrypted key in any PEM form PHP reads, with `passphrase`).
//!
//! - Contexts (CA store, client certificate and key) are built from [`TlsOptions`] when a
//!   connection opens, and kept per process while the files are unchanged (a rotated
//!   certificate is picked up by the next connection). Nothing process-wide is configured.
//! - Every read and write of one call shares one deadline, however many `recv`s OpenSSL needs
//!   for it, as the plain path does per reply; the TCP connect and the TLS handshake together
//!   take at most the connect timeout.
//! - A `pcntl_fork()` child never touches its parent's session: the registry opens a fresh
//!   connection in the child, and dropping the inherited one frees memory only (no
//!   `close_notify` is ever sent, which would end the parent's session on the server).
//! - The liveness check before reuse ([`TlsStream::is_reusable`]) reads what TLS records wait on
//!   the socket without blocking: session tickets the server sends after the handshake are
//!   consumed, a `close_notify` or application bytes nobody asked for mean "do not reuse".
//!
//! Errors never quote a path, the passphrase or OpenSSL's error queue (which names files): they
//! name the `ssl` entry and the reason.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslStream,
    SslVerifyMode, SslVersion,
};
use openssl::x509::{X509, X509VerifyResult};

use crate::lock::options::TlsOptions;

unsafe extern "C" {
    /// libssl (1.1.0 and later): 1 if the session holds bytes not yet returned by `SSL_read`,
    /// decrypted or not (openssl-sys does not bind it).
    fn SSL_has_pending(ssl: *const openssl_sys::SSL) -> libc::c_int;
}

/// Why a TLS connection could not be set up, as carried inside the `io::Error` of a failed
/// connect (see [`crate::lock::net::connection`]). Its text never holds a path or a secret.
#[derive(Debug)]
pub struct TlsFailure {
    /// Retrying will not help: a certificate, key or verification problem, or the server
    /// refused our certificate (not a timeout or a lost connection).
    pub refused: bool,
    message: String,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsFailure {}

fn refused(message: String) -> io::Error {
    io::Error::other(TlsFailure {
        refused: true,
        message,
    })
}

/// The TCP socket under OpenSSL: every `recv` and `send` of one TLS call runs under that call's
/// deadline (the first with the whole limit, already set on the socket in the common case; any
/// further one with what is left).
struct Socket {
    tcp: TcpStream,
    /// The limit and deadline of the call in progress.
    limit: Duration,
    deadline: Instant,
    /// No `recv` or `send` yet in this call.
    first: bool,
    /// `recv` without blocking (the liveness check).
    nonblocking: bool,
    /// `SO_RCVTIMEO` and `SO_SNDTIMEO` as set on the socket now.
    rcv: Option<Duration>,
    snd: Option<Duration>,
}

impl Socket {
    fn begin(&mut self, limit: Duration) {
        self.limit = limit;
        self.deadline = Instant::now() + limit;
        self.first = true;
    }

    /// The timeout for the next system call of this call, or a timeout error once the
    /// deadline has passed.
    fn next_timeout(&mut self) -> io::Result<Duration> {
        if std::mem::take(&mut self.first) {
            return Ok(self.limit);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        Ok(left)
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.nonblocking {
            // SAFETY: a valid, open descriptor owned by `self.tcp`; `buf` is writable for its
            // length; MSG_DONTWAIT makes this one call non-blocking without changing the socket.
            let n = unsafe {
                libc::recv(
                    self.tcp.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            return if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            };
        }
        let timeout = self.next_timeout()?;
        if self.rcv != Some(timeout) {
            self.tcp.set_read_timeout(Some(timeout))?;
            self.rcv = Some(timeout);
        }
        self.tcp.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let timeout = self.next_timeout()?;
        if self.snd != Some(timeout) {
            self.tcp.set_write_timeout(Some(timeout))?;
            self.snd = Some(timeout);
        }
        // std sends with MSG_NOSIGNAL: a closed peer is EPIPE, never SIGPIPE.
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An established TLS session over TCP.
pub struct TlsStream {
    inner: SslStream<Socket>,
    read_timeout: Duration,
    write_timeout: Duration,
}

impl TlsStream {
    /// Sets the limit of each following read call (no system call: applied on the next read).
    pub fn set_read_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.read_timeout = t;
        Ok(())
    }

    /// Sets the limit of each following write call.
    pub fn set_write_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.write_timeout = t;
        Ok(())
    }

    /// The socket's descriptor.
    pub fn fd(&self) -> RawFd {
        self.inner.get_ref().tcp.as_raw_fd()
    }

    /// Reads decrypted bytes within the read timeout; `Ok(0)` when the server ended the
    /// session (`close_notify`, or the connection closed).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let limit = self.read_timeout;
        self.inner.get_mut().begin(limit);
        match self.inner.ssl_read(buf) {
            Ok(n) => Ok(n),
            Err(e) => closed_or_error(e),
        }
    }

    /// Writes (encrypts and sends) some of `buf` within the write timeout.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let limit = self.write_timeout;
        self.inner.get_mut().begin(limit);
        self.inner.ssl_write(buf).map_err(io_error)
    }

    /// The reason of an alert the server sent before closing, if one is waiting (read without
    /// blocking): what a failed first command over a new session should report.
    pub fn alert(&mut self) -> Option<String> {
        self.inner.get_mut().nonblocking = true;
        let mut byte = 0u8;
        let outcome = self.inner.ssl_read(std::slice::from_mut(&mut byte));
        self.inner.get_mut().nonblocking = false;
        match outcome {
            Err(e) if e.ssl_error().is_some() && !e.ssl_error().is_some_and(is_unexpected_eof) => {
                Some(reason(&e))
            }
            _ => None,
        }
    }

    /// False when the session cannot carry a command: the server closed it or sent bytes nobody
    /// asked for. What waits on the socket is read without blocking, because it may be TLS
    /// records that are not replies (session tickets after the handshake: consumed, fine) or a
    /// `close_notify`.
    pub fn is_reusable(&mut self) -> bool {
        let mut byte = 0u8;
        // SAFETY: a valid, open descriptor; one byte of writable buffer; MSG_PEEK |
        // MSG_DONTWAIT neither consumes data nor blocks.
        let n = unsafe {
            libc::recv(
                self.fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        let errno = io::Error::last_os_error().raw_os_error();
        // SAFETY: the session is alive for `self`'s lifetime; SSL_has_pending only looks at its
        // buffers (decrypted bytes, or read-ahead bytes of records not yet processed).
        let buffered = unsafe { SSL_has_pending(self.inner.ssl().as_ptr()) } == 1;
        if n < 0 && !buffered {
            // Nothing waiting (the hot path): reusable unless the socket is in error.
            return matches!(errno, Some(libc::EAGAIN | libc::EINTR));
        }
        if n == 0 {
            return false; // FIN without close_notify
        }
        self.inner.get_mut().nonblocking = true;
        let outcome = self.inner.ssl_read(std::slice::from_mut(&mut byte));
        self.inner.get_mut().nonblocking = false;
        match outcome {
            // Only records that are not application data were waiting.
            Err(e) if e.code() == ErrorCode::WANT_READ => true,
            // Application bytes nobody asked for, close_notify, or a broken session.
            _ => false,
        }
    }
}

/// What a failed TLS read means: the end of the session (`Ok(0)`, as a plain socket's EOF) or
/// an error whose text is OpenSSL's reason only.
fn closed_or_error(e: openssl::ssl::Error) -> io::Result<usize> {
    if e.code() == ErrorCode::ZERO_RETURN {
        return Ok(0);
    }
    if e.code() == ErrorCode::SYSCALL && e.io_error().is_none() && e.ssl_error().is_none() {
        return Ok(0);
    }
    if e.ssl_error().is_some_and(is_unexpected_eof) {
        return Ok(0);
    }
    Err(io_error(e))
}

fn is_unexpected_eof(stack: &ErrorStack) -> bool {
    stack
        .errors()
        .iter()
        .any(|e| e.reason() == Some("unexpected eof while reading"))
}

/// An `io::Error` for a failed TLS call: the socket's own error (a timeout keeps its kind), or
/// `TLS: <reason>`.
fn io_error(e: openssl::ssl::Error) -> io::Error {
    match e.into_io_error() {
        Ok(io) => io,
        Err(e) => io::Error::other(format!("TLS: {}", reason(&e))),
    }
}

/// OpenSSL's reason for a failure ("tlsv13 alert certificate required"), without its error
/// queue's codes, source files and data (which may name a file).
fn reason(e: &openssl::ssl::Error) -> String {
    let from_stack = e.ssl_error().and_then(|stack| {
        stack
            .errors()
            .iter()
            .find_map(|err| err.reason().map(str::to_owned))
    });
    from_stack.unwrap_or_else(|| match e.code() {
        ErrorCode::ZERO_RETURN => "the server closed the session".to_owned(),
        ErrorCode::SYSCALL => "the connection was closed".to_owned(),
        _ => "protocol error".to_owned(),
    })
}

/// Runs the TLS handshake on `tcp` (connected to `host`) before `deadline`, verifying as
/// `options` say.
pub fn connect(
    tcp: TcpStream,
    host: &str,
    options: &TlsOptions,
    deadline: Instant,
) -> io::Result<TlsStream> {
    let context = context(options)?;
    let name = options.peer_name.as_deref().unwrap_or(host);
    let ssl = session(&context, name, options).map_err(|e| {
        refused(format!(
            "cannot set up TLS for peer name \"{name}\" ({})",
            first_reason(&e)
        ))
    })?;
    let socket = Socket {
        tcp,
        limit: Duration::ZERO,
        deadline,
        first: false,
        nonblocking: false,
        rcv: None,
        snd: None,
    };
    let mut inner = SslStream::new(ssl, socket)
        .map_err(|e| refused(format!("cannot set up TLS ({})", first_reason(&e))))?;
    // Every system call of the handshake gets what is left before the deadline.
    inner.get_mut().deadline = deadline;
    match inner.connect() {
        Ok(()) => {}
        Err(e) => {
            let verify = inner.ssl().verify_result();
            return Err(handshake_error(e, verify, name, options));
        }
    }
    Ok(TlsStream {
        inner,
        read_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(1),
    })
}

fn handshake_error(
    e: openssl::ssl::Error,
    verify: X509VerifyResult,
    name: &str,
    options: &TlsOptions,
) -> io::Error {
    if verify != X509VerifyResult::OK && e.ssl_error().is_some() {
        let hint = match verify.as_raw() {
            openssl_sys::X509_V_ERR_HOSTNAME_MISMATCH
            | openssl_sys::X509_V_ERR_IP_ADDRESS_MISMATCH => {
                format!(
                    "; the name checked was \"{name}\" (ssl options \"peer_name\", \
                     \"verify_peer_name\")"
                )
            }
            _ if options.cafile.is_none() => {
                "; the system's trust store was used (ssl option \"cafile\")".to_owned()
            }
            _ => "; the CAs of ssl option \"cafile\" were used".to_owned(),
        };
        return refused(format!(
            "TLS: the server's certificate was not accepted: {}{hint}",
            verify.error_string()
        ));
    }
    if e.ssl_error().is_some() && !e.ssl_error().is_some_and(is_unexpected_eof) {
        return refused(format!("TLS handshake failed: {}", reason(&e)));
    }
    match e.into_io_error() {
        Ok(io)
            if matches!(
                io.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            io::Error::new(
                io::ErrorKind::TimedOut,
                "the TLS handshake did not finish within the connect timeout",
            )
        }
        Ok(io) => io,
        Err(_) => io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the server closed the connection during the TLS handshake",
        ),
    }
}

/// One session of `context` for `name`: SNI (for a host name), and the checks `options` ask
/// for. As with PHP's streams, `verify_peer` and `verify_peer_name` are independent: a name can
/// be checked on a certificate whose chain is not.
fn session(context: &SslContext, name: &str, options: &TlsOptions) -> Result<Ssl, ErrorStack> {
    let mut ssl = Ssl::new(context)?;
    let ip = name.parse::<IpAddr>().ok();
    if ip.is_none() {
        ssl.set_hostname(name)?;
    }
    if options.verify_peer_name {
        let param = ssl.param_mut();
        param.set_hostflags(openssl::x509::verify::X509CheckFlags::NO_PARTIAL_WILDCARDS);
        match ip {
            Some(ip) => param.set_ip(ip)?,
            None => param.set_host(name)?,
        }
    }
    match (options.verify_peer, options.verify_peer_name) {
        (true, _) => ssl.set_verify(SslVerifyMode::PEER),
        (false, true) => ssl.set_verify_callback(SslVerifyMode::PEER, |ok, ctx| {
            // Accept any chain; refuse a certificate that does not name the peer.
            ok || !matches!(
                ctx.error().as_raw(),
                openssl_sys::X509_V_ERR_HOSTNAME_MISMATCH
                    | openssl_sys::X509_V_ERR_IP_ADDRESS_MISMATCH
            )
        }),
        (false, false) => ssl.set_verify(SslVerifyMode::NONE),
    }
    Ok(ssl)
}

fn first_reason(e: &ErrorStack) -> String {
    e.errors()
        .iter()
        .find_map(|err| err.reason().map(str::to_owned))
        .unwrap_or_else(|| "unknown reason".to_owned())
}

/// A file's identity for the context cache: modification time and size.
type Stamp = Option<(SystemTime, u64)>;

/// Contexts kept per process, with the stamps of the files they were built from.
type Contexts = HashMap<TlsOptions, (Vec<Stamp>, SslContext)>;

static CONTEXTS: OnceLock<Mutex<Contexts>> = OnceLock::new();

/// How many distinct `ssl` settings keep a built context.
const CONTEXT_CACHE_LIMIT: usize = 16;

/// Forgets the built contexts (module shutdown).
pub fn clear_contexts() {
    if let Some(cache) = CONTEXTS.get() {
        drop(std::mem::take(
            &mut *cache.lock().unwrap_or_else(PoisonError::into_inner),
        ));
    }
}

fn stamps(options: &TlsOptions) -> Vec<Stamp> {
    [&options.cafile, &options.local_cert, &options.local_pk]
        .into_iter()
        .flatten()
        .map(|path| {
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

/// The context for `options`: the cached one while its files are unchanged, else built anew.
fn context(options: &TlsOptions) -> io::Result<SslContext> {
    let cache = CONTEXTS.get_or_init(Default::default);
    let now = stamps(options);
    if let Some((then, context)) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(options)
        && *then == now
    {
        return Ok(context.clone());
    }
    let context = build_context(options)?;
    let mut map = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if map.len() < CONTEXT_CACHE_LIMIT || map.contains_key(options) {
        map.insert(options.clone(), (now, context.clone()));
    }
    Ok(context)
}

fn build_context(options: &TlsOptions) -> io::Result<SslContext> {
    let setup = |e: ErrorStack| refused(format!("cannot set up TLS ({})", first_reason(&e)));
    let mut builder = SslContextBuilder::new(SslMethod::tls_client()).map_err(setup)?;
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(setup)?;
    builder.set_options(SslOptions::NO_COMPRESSION | SslOptions::NO_RENEGOTIATION);
    // No RELEASE_BUFFERS (an allocation per record); one `recv` per record (read-ahead).
    builder.set_mode(
        SslMode::AUTO_RETRY | SslMode::ENABLE_PARTIAL_WRITE | SslMode::ACCEPT_MOVING_WRITE_BUFFER,
    );
    builder.set_read_ahead(true);
    match &options.cafile {
        Some(path) => {
            let cas = pem_certificates(path, "cafile")?;
            for ca in cas {
                builder
                    .cert_store_mut()
                    .add_cert(ca)
                    .map_err(|e| bad_file("cafile", &first_reason(&e)))?;
            }
        }
        None => builder.set_default_verify_paths().map_err(setup)?,
    }
    if let Some(cert_path) = &options.local_cert {
        let mut chain = pem_certificates(cert_path, "local_cert")?.into_iter();
        let leaf = chain.next().expect("pem_certificates returns at least one");
        builder
            .set_certificate(&leaf)
            .map_err(|e| bad_file("local_cert", &first_reason(&e)))?;
        for extra in chain {
            builder
                .add_extra_chain_cert(extra)
                .map_err(|e| bad_file("local_cert", &first_reason(&e)))?;
        }
        let (key_path, key_option) = match &options.local_pk {
            Some(path) => (path, "local_pk"),
            None => (cert_path, "local_cert"),
        };
        let key = private_key(key_path, key_option, options.passphrase.as_deref())?;
        let mismatch = |_| {
            refused(format!(
                "ssl option \"{key_option}\": the private key does not match the certificate \
                 of \"local_cert\""
            ))
        };
        builder.set_private_key(&key).map_err(mismatch)?;
        builder.check_private_key().map_err(mismatch)?;
    }
    Ok(builder.build())
}

fn bad_file(option: &str, why: &str) -> io::Error {
    refused(format!("ssl option \"{option}\": {why}"))
}

/// The file of an `ssl` option, read by us (not by OpenSSL, whose errors name the path).
fn read_file(path: &Path, option: &str) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            io::ErrorKind::NotFound => "the file does not exist".to_owned(),
            io::ErrorKind::PermissionDenied => {
                "the file cannot be read (permission denied)".to_owned()
            }
            _ => format!("the file cannot be read ({})", e.kind()),
        };
        bad_file(option, &why)
    })
}

fn pem_certificates(path: &Path, option: &str) -> io::Result<Vec<X509>> {
    let pem = read_file(path, option)?;
    match X509::stack_from_pem(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(bad_file(option, "no PEM certificate in the file")),
    }
}

fn private_key(path: &Path, option: &str, passphrase: Option<&[u8]>) -> io::Result<PKey<Private>> {
    let pem = read_file(path, option)?;
    // Without a passphrase, an encrypted key fails at once (OpenSSL would prompt on the
    // terminal if no passphrase were passed).
    let key = PKey::private_key_from_pem_passphrase(&pem, passphrase.unwrap_or_default());
    key.map_err(|_| {
        let why = if passphrase.is_some() {
            "no PEM private key in the file, or the passphrase does not decrypt it"
        } else {
            "no PEM private key in the file, or it is encrypted and no \"passphrase\" was given"
        };
        bad_file(option, why)
    })
}
