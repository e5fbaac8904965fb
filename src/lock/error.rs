//! One error type for the whole engine: a kind the caller can act on plus a message.
//!
//! Messages never contain a password: they name an endpoint by host, port and database only
//! (see [`crate::lock::options::Endpoint::describe`]).

use std::fmt;

/// What went wrong, as far as a caller can act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// An argument or option is out of range or malformed (PHP: `\ValueError`).
    InvalidArgument,
    /// An option has the wrong PHP type (PHP: `\TypeError`).
    InvalidType,
    /// No connection could be made, the handshake (AUTH, SELECT) was refused, or an established
    /// connection was lost (PHP: `\RedisLockConnectionException`).
    Connection,
    /// The server refused the connection setup (`AUTH`, `SELECT`): a wrong password, a missing
    /// database. Retrying will not help (PHP: `\RedisLockConnectionException`).
    Refused,
    /// Redis did not answer within the read timeout after the command was sent. The outcome is
    /// unknown (PHP: `\RedisLockTimeoutException`).
    Timeout,
    /// Redis answered with an error reply (PHP: `\RedisLockServerException`).
    Server,
    /// A lease was lost (its lock expired or was taken over) and the caller asked to be told
    /// by an exception (strict mode) (PHP: `\RedisLockLostException`).
    Lost,
    /// The lock was still held by someone else when the wait ended, where the caller cannot be
    /// given a `false` (`synchronized`) (PHP: `\RedisLockConflictException`).
    Conflict,
    /// Fewer replicas than the `replicas` option asks for acknowledged a write that grants or
    /// extends a lock within `replicaTimeout`: a failover could lose it. A grant so acknowledged
    /// has been released; a renewal keeps the lease, marked at risk (PHP:
    /// `\RedisLockReplicationException`).
    Replication,
    /// The bytes Redis sent are not valid RESP (PHP: `\RedisLockConnectionException`; the
    /// connection is dropped).
    Protocol,
    /// The operation is not available on this deployment (for now: shared leases on
    /// `memory://`) (PHP: `\RedisLockException`).
    Unsupported,
}

/// An engine error: a [`ErrorKind`] and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The operation that failed (`"acquire"`), shown before the message.
    context: Option<&'static str>,
    /// For an error reply: the server that sent it (`127.0.0.1:7001 db 0`, as
    /// [`crate::lock::options::Endpoint::describe`] names it; never a password), shown after
    /// the message. Kept apart from the message, whose first word stays the reply's code.
    node: Option<String>,
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            context: None,
            node: None,
        }
    }

    /// An error reply (`WRONGTYPE …`, [`ErrorKind::Server`]) from the server named `node`
    /// (a connection's `host:port db N`).
    pub fn server(message: impl Into<String>, node: impl Into<String>) -> Self {
        Self {
            node: Some(node.into()),
            ..Self::new(ErrorKind::Server, message)
        }
    }

    /// Shorthand for an [`ErrorKind::InvalidArgument`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the operation's name or the node (see `Display` for all three).
    /// Never a password.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The server an error reply came from (`127.0.0.1:7001 db 0`), if known.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The message and, for an error reply, the server it came from:
    /// `WRONGTYPE … (from Redis at 127.0.0.1:7001 db 0)` (`Display` without the operation).
    pub fn detail(&self) -> String {
        match &self.node {
            Some(node) => format!("{} (from Redis at {node})", self.message),
            None => self.message.clone(),
        }
    }

    /// True for a bad argument or option (a value out of range or of the wrong type).
    pub fn is_invalid_argument(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::InvalidArgument | ErrorKind::InvalidType
        )
    }

    /// True when the read timeout expired after sending: the command's outcome is unknown.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// True when no connection could be made (also when its setup was refused) or it was lost.
    pub fn is_connection(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Connection | ErrorKind::Protocol | ErrorKind::Refused
        )
    }

    /// True when the server refused the connection setup (wrong password, bad database).
    pub fn is_refused(&self) -> bool {
        self.kind == ErrorKind::Refused
    }

    /// True when a lease turned out to be lost.
    pub fn is_lost(&self) -> bool {
        self.kind == ErrorKind::Lost
    }

    /// True when too few replicas acknowledged a lock write (see [`ErrorKind::Replication`]).
    pub fn is_replication(&self) -> bool {
        self.kind == ErrorKind::Replication
    }

    /// True when Redis answered with an error reply.
    pub fn is_server(&self) -> bool {
        self.kind == ErrorKind::Server
    }

    /// True for a server error reply whose first word is `code` (`NOSCRIPT`, `WRONGTYPE`, ...).
    pub fn is_server_code(&self, code: &str) -> bool {
        self.kind == ErrorKind::Server
            && self
                .message
                .strip_prefix(code)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    }

    /// Names the operation that failed (`"acquire"`); `Display` shows it before the message.
    pub fn context(mut self, operation: &'static str) -> Self {
        self.context = Some(operation);
        self
    }
}

/// A key as it may appear in a message: printable ASCII as is, other bytes escaped (`\x00`), so a
/// message never carries a NUL byte or invalid UTF-8.
pub fn quote_key(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(operation) = self.context {
            write!(f, "{operation}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(node) = &self.node {
            write!(f, " (from Redis at {node})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_code_matches_whole_first_word_only() {
        let e = Error::new(ErrorKind::Server, "NOSCRIPT No matching script");
        assert!(e.is_server_code("NOSCRIPT"));
        assert!(!e.is_server_code("NOSCRIPTX"));
        assert!(!e.is_server_code("NO"));
        assert!(!Error::new(ErrorKind::Timeout, "NOSCRIPT").is_server_code("NOSCRIPT"));
    }

    #[test]
    fn context_shows_in_display_but_not_in_the_message() {
        let e = Error::new(ErrorKind::Server, "WRONGTYPE x").context("acquire");
        assert_eq!(e.to_string(), "acquire: WRONGTYPE x");
        assert!(e.is_server_code("WRONGTYPE"));
    }

    #[test]
    fn an_error_reply_names_its_node_after_the_message() {
        let e = Error::server("WRONGTYPE Operation against a key", "127.0.0.1:7001 db 0")
            .context("acquire");
        assert_eq!(
            e.to_string(),
            "acquire: WRONGTYPE Operation against a key (from Redis at 127.0.0.1:7001 db 0)"
        );
        assert_eq!(e.message(), "WRONGTYPE Operation against a key");
        assert_eq!(e.node(), Some("127.0.0.1:7001 db 0"));
        assert_eq!(
            e.detail(),
            "WRONGTYPE Operation against a key (from Redis at 127.0.0.1:7001 db 0)"
        );
        assert!(e.is_server() && e.is_server_code("WRONGTYPE"));
        assert_eq!(Error::new(ErrorKind::Timeout, "t").detail(), "t");
    }

    #[test]
    fn quoted_keys_are_printable() {
        assert_eq!(quote_key(b"k\0ey\xff\"x"), "k\\x00ey\\xff\\\"x");
        assert_eq!(quote_key(b"orders:42"), "orders:42");
    }

    #[test]
    fn protocol_errors_count_as_connection_errors() {
        assert!(Error::new(ErrorKind::Protocol, "bad").is_connection());
        assert!(!Error::new(ErrorKind::Server, "ERR").is_connection());
    }
}
