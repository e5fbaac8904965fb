//! TLS for `rediss://`, with rustls and its `ring` crypto provider, passed explicitly to each
//! configuration: nothing process-wide is installed, so PHP's own TLS users (its `openssl`
//! extension, `ssl://` streams, phpredis) are untouched. The `ssl` option's files are read with
//! OpenSSL's PEM readers (the library PHP links), so they mean what they mean to PHP: a key
//! inside `local_cert`, an encrypted key in any PEM form PHP reads, with `passphrase`.
//!
//! Why rustls: it costs about 2.6 times fewer client instructions per acquire+release cycle
//! than OpenSSL 3.0 (whose per-record parameter lookups dominate small records) and its
//! handshake takes about a third of the time (README, "TLS").
//!
//! - Configurations (CA store, client certificate and key) are built from [`TlsOptions`] when
//!   a connection opens, and kept per process while the files are unchanged (a rotated
//!   certificate is picked up by the next connection).
//! - Every read and write of one call shares one deadline, however many `recv`s it needs, as
//!   the plain path does per reply; the TCP connect and the TLS handshake together take at most
//!   the connect timeout.
//! - A `pcntl_fork()` child never touches its parent's session: the registry opens a fresh
//!   connection in the child, and dropping the inherited one frees memory only (no
//!   `close_notify` is ever sent, which would end the parent's session on the server). Session
//!   resumption is off: no ticket is shared between processes either.
//! - The liveness check before reuse ([`TlsStream::is_reusable`]) reads what TLS records wait on
//!   the socket without blocking: session tickets the server sends after the handshake are
//!   consumed, a `close_notify` or application bytes nobody asked for mean "do not reuse".
//!
//! Errors never quote a path or the passphrase: they name the `ssl` entry and the reason.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

use crate::lock::options::TlsOptions;

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

/// The crypto provider of every configuration made here (never installed process-wide).
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// The TCP socket under rustls: every `recv` and `send` of one TLS call runs under that call's
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
    conn: ClientConnection,
    socket: Socket,
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
        self.socket.tcp.as_raw_fd()
    }

    /// Reads decrypted bytes within the read timeout; `Ok(0)` when the server ended the
    /// session (`close_notify`, or the connection closed).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.begin(self.read_timeout);
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.conn.read_tls(&mut self.socket)? == 0 {
                return Ok(0);
            }
            self.process()?;
        }
    }

    /// Reads decrypted bytes without blocking: what rustls holds already, else what the socket
    /// holds now; `WouldBlock` when neither has any, `Ok(0)` when the server ended the session.
    pub fn read_nonblocking(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.socket.nonblocking = true;
            let got = self.conn.read_tls(&mut self.socket);
            self.socket.nonblocking = false;
            if got? == 0 {
                return Ok(0);
            }
            self.socket.begin(self.write_timeout);
            self.process()?;
        }
    }

    /// Processes the records received; a TLS error (an alert from the server, a bad record)
    /// becomes an error `TLS: <reason>`, after our alert is sent.
    fn process(&mut self) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(_) if self.conn.wants_write() => self.flush(),
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = self.flush();
                Err(io::Error::other(format!("TLS: {}", describe(&e))))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.socket)?;
        }
        Ok(())
    }

    /// Writes (encrypts and sends) some of `buf` within the write timeout.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.begin(self.write_timeout);
        let n = self.conn.writer().write(buf)?;
        self.flush()?;
        Ok(n)
    }

    /// Reads and processes, without blocking, the records waiting on the socket. False when
    /// the socket is closed or in error.
    fn drain(&mut self) -> io::Result<()> {
        self.socket.nonblocking = true;
        let outcome = loop {
            match self.conn.read_tls(&mut self.socket) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.socket.nonblocking = false;
        outcome
    }

    /// The reason of an alert the server sent before closing, if one is waiting (read without
    /// blocking): what a failed first command over a new session should report.
    pub fn alert(&mut self) -> Option<String> {
        let _ = self.drain();
        match self.conn.process_new_packets() {
            Err(e @ rustls::Error::AlertReceived(_)) => Some(describe(&e)),
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
        if n == 0 || (n < 0 && !matches!(errno, Some(libc::EAGAIN | libc::EINTR))) {
            return false; // closed (FIN without close_notify) or in error
        }
        if n > 0 && self.drain().is_err() {
            return false;
        }
        // Nothing waiting (the hot path: nothing new to process), or only records that are not
        // replies: reusable while no application byte and no close_notify came in.
        match self.conn.process_new_packets() {
            Ok(state) => state.plaintext_bytes_to_read() == 0 && !state.peer_has_closed(),
            Err(_) => false,
        }
    }
}

/// A rustls error in words, with the names OpenSSL and PHP users know for the common
/// certificate failures.
fn describe(e: &rustls::Error) -> String {
    use CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::Expired | C::ExpiredContext { .. } => "certificate has expired".to_owned(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "certificate is not yet valid".to_owned()
            }
            C::UnknownIssuer => {
                "unable to get local issuer certificate (unknown issuer)".to_owned()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "certificate does not name the peer".to_owned()
            }
            C::Revoked => "certificate revoked".to_owned(),
            C::BadSignature => "certificate signature failure".to_owned(),
            other => format!("invalid certificate ({other:?})"),
        },
        rustls::Error::AlertReceived(alert) => format!("the server sent the alert {alert:?}"),
        other => other.to_string(),
    }
}

/// Runs the TLS handshake on `tcp` (connected to `host`) before `deadline`, verifying as
/// `options` say.
pub fn connect(
    tcp: TcpStream,
    host: &str,
    options: &TlsOptions,
    deadline: Instant,
) -> io::Result<TlsStream> {
    let config = config(options)?;
    let name = options.peer_name.as_deref().unwrap_or(host);
    let server_name = ServerName::try_from(name.to_owned()).map_err(|_| {
        refused(format!(
            "TLS: \"{name}\" is not a valid peer name (ssl option \"peer_name\")"
        ))
    })?;
    let conn = ClientConnection::new(config, server_name)
        .map_err(|e| refused(format!("cannot set up TLS ({})", describe(&e))))?;
    let mut stream = TlsStream {
        conn,
        socket: Socket {
            tcp,
            limit: Duration::ZERO,
            deadline,
            first: false,
            nonblocking: false,
            rcv: None,
            snd: None,
        },
        read_timeout: Duration::from_secs(1),
        write_timeout: Duration::from_secs(1),
    };
    // Every system call of the handshake gets what is left before the deadline.
    while stream.conn.is_handshaking() {
        if let Err(e) = stream.conn.complete_io(&mut stream.socket) {
            let _ = stream.flush();
            return Err(handshake_error(e, name, options));
        }
    }
    stream
        .flush()
        .map_err(|e| handshake_error(e, name, options))?;
    Ok(stream)
}

fn handshake_error(e: io::Error, name: &str, options: &TlsOptions) -> io::Error {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(cert)) => {
            let what = describe(tls.expect("matched"));
            let hint = match cert {
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    let kind = if name.parse::<std::net::IpAddr>().is_ok() {
                        "IP address mismatch"
                    } else {
                        "hostname mismatch"
                    };
                    format!(
                        " ({kind}: the name checked was \"{name}\"; ssl options \"peer_name\", \
                         \"verify_peer_name\")"
                    )
                }
                _ if options.cafile.is_none() => {
                    "; the system's trust store was used (ssl option \"cafile\")".to_owned()
                }
                _ => "; the CAs of ssl option \"cafile\" were used".to_owned(),
            };
            refused(format!(
                "TLS: the server's certificate was not accepted: {what}{hint}"
            ))
        }
        Some(other) => refused(format!("TLS handshake failed: {}", describe(other))),
        None if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) =>
        {
            io::Error::new(
                io::ErrorKind::TimedOut,
                "the TLS handshake did not finish within the connect timeout",
            )
        }
        None if e.kind() == io::ErrorKind::UnexpectedEof => io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the server closed the connection during the TLS handshake",
        ),
        None => e,
    }
}

/// Checks the server's certificate as the `ssl` option says. As with PHP's streams,
/// `verify_peer` and `verify_peer_name` are independent: a name can be checked on a certificate
/// whose chain is not. The handshake's signatures are always checked against the certificate
/// presented (the server holds its key).
#[derive(Debug)]
struct Verifier {
    /// The chain and name verifier, when `verify_peer`.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    verify_peer_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.webpki {
            // The chain first, then the name: a name error means the chain is good.
            Some(webpki) => {
                match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. },
                    )) if !self.verify_peer_name => Ok(ServerCertVerified::assertion()),
                    other => other,
                }
            }
            None if self.verify_peer_name => {
                let cert = ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&cert, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A file's identity for the configuration cache: modification time and size.
type Stamp = Option<(SystemTime, u64)>;

/// Configurations kept per process, with the stamps of the files they were built from.
type Configs = HashMap<TlsOptions, (Vec<Stamp>, Arc<ClientConfig>)>;

static CONFIGS: OnceLock<Mutex<Configs>> = OnceLock::new();

/// How many distinct `ssl` settings keep a built configuration.
const CONFIG_CACHE_LIMIT: usize = 16;

/// Forgets the built configurations (module shutdown).
pub fn clear_configs() {
    if let Some(cache) = CONFIGS.get() {
        drop(std::mem::take(
            &mut *cache.lock().unwrap_or_else(PoisonError::into_inner),
        ));
    }
}

fn stamps(options: &TlsOptions) -> Vec<Stamp> {
    let system = options.cafile.is_none().then(system_ca_file);
    [
        &options.cafile,
        &options.local_cert,
        &options.local_pk,
        &system.flatten(),
    ]
    .into_iter()
    .flatten()
    .map(|path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
    .collect()
}

/// The configuration for `options`: the cached one while its files are unchanged, else built
/// anew.
fn config(options: &TlsOptions) -> io::Result<Arc<ClientConfig>> {
    let cache = CONFIGS.get_or_init(Default::default);
    let now = stamps(options);
    if let Some((then, config)) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(options)
        && *then == now
    {
        return Ok(Arc::clone(config));
    }
    let config = Arc::new(build_config(options)?);
    let mut map = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if map.len() < CONFIG_CACHE_LIMIT || map.contains_key(options) {
        map.insert(options.clone(), (now, Arc::clone(&config)));
    }
    Ok(config)
}

/// The system's CA bundle, as OpenSSL (and so PHP) finds it: `SSL_CERT_FILE`, else OpenSSL's
/// default file (Debian: /usr/lib/ssl/cert.pem, the ca-certificates bundle).
fn system_ca_file() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        return Some(PathBuf::from(file));
    }
    // SAFETY: returns a pointer to a static, NUL-terminated string inside libcrypto.
    let default = unsafe { std::ffi::CStr::from_ptr(openssl_sys::X509_get_default_cert_file()) };
    default.to_str().ok().map(PathBuf::from)
}

fn roots(options: &TlsOptions) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &options.cafile {
        Some(path) => {
            for ca in pem_certificates(path, "cafile")? {
                roots.add(ca).map_err(|e| {
                    bad_file(
                        "cafile",
                        &format!("not a usable CA certificate ({})", describe(&e)),
                    )
                })?;
            }
        }
        None => {
            // Certificates of the bundle that webpki cannot use are skipped, as OpenSSL would
            // never pick them for a chain either.
            let pem = system_ca_file().and_then(|path| std::fs::read(path).ok());
            let certs = pem
                .and_then(|pem| X509::stack_from_pem(&pem).ok())
                .unwrap_or_default();
            let der = certs
                .iter()
                .filter_map(|c| c.to_der().ok())
                .map(CertificateDer::from);
            roots.add_parsable_certificates(der);
        }
    }
    Ok(roots)
}

fn build_config(options: &TlsOptions) -> io::Result<ClientConfig> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let webpki = if options.verify_peer {
        let roots = Arc::new(roots(options)?);
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|_| {
                let what = match options.cafile {
                    Some(_) => "ssl option \"cafile\": no usable CA certificate",
                    None => {
                        "TLS: the system's trust store has no usable CA certificate \
                             (ssl option \"cafile\")"
                    }
                };
                refused(what.to_owned())
            })?;
        Some(verifier)
    } else {
        None
    };
    let verifier = Arc::new(Verifier {
        webpki,
        verify_peer_name: options.verify_peer_name,
        algorithms,
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| refused(format!("cannot set up TLS ({})", describe(&e))))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &options.local_cert {
        None => builder.with_no_client_auth(),
        Some(cert_path) => {
            let chain = pem_certificates(cert_path, "local_cert")?;
            let (key_path, key_option) = match &options.local_pk {
                Some(path) => (path, "local_pk"),
                None => (cert_path, "local_cert"),
            };
            let key = private_key(key_path, key_option, options.passphrase.as_deref())?;
            let mismatch = || {
                refused(format!(
                    "ssl option \"{key_option}\": the private key does not match the certificate \
                     of \"local_cert\""
                ))
            };
            let leaf = X509::from_der(&chain[0]).map_err(|_| mismatch())?;
            let matches = leaf.public_key().is_ok_and(|public| public.public_eq(&key));
            if !matches {
                return Err(mismatch());
            }
            let der = key
                .private_key_to_pkcs8()
                .map_err(|_| bad_file(key_option, "the private key cannot be used"))?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der));
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                bad_file(
                    key_option,
                    &format!("the key cannot be used ({})", describe(&e)),
                )
            })?
        }
    };
    // No session tickets kept: nothing of a session outlives its connection (or crosses fork).
    config.resumption = Resumption::disabled();
    Ok(config)
}

fn bad_file(option: &str, why: &str) -> io::Error {
    refused(format!("ssl option \"{option}\": {why}"))
}

/// The file of an `ssl` option, read by us (not by OpenSSL's file functions, whose errors name
/// the path).
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

fn pem_certificates(path: &Path, option: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let pem = read_file(path, option)?;
    let certs = X509::stack_from_pem(&pem).unwrap_or_default();
    let der: Vec<CertificateDer<'static>> = certs
        .iter()
        .filter_map(|cert| cert.to_der().ok())
        .map(CertificateDer::from)
        .collect();
    if der.is_empty() || der.len() != certs.len() {
        return Err(bad_file(option, "no PEM certificate in the file"));
    }
    Ok(der)
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
