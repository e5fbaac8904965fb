//! The `ssl` option: certificates and verification for `rediss://`, under the names of PHP's
//! SSL stream context (the ones phpredis and `stream_context_create(['ssl' => ...])` take).
//!
//! Only the names are validated here (no file is read: the constructor does no I/O); the files
//! are read when a connection is opened ([`crate::lock::net::tls`]). Nothing here ever shows a
//! value: paths and the passphrase stay out of every message and dump.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::options::OptionValue;

/// The names accepted inside the `ssl` option, in the order the docs list them.
pub const SSL_OPTION_NAMES: [&str; 7] = [
    "cafile",
    "local_cert",
    "local_pk",
    "passphrase",
    "verify_peer",
    "verify_peer_name",
    "peer_name",
];

/// How a `rediss://` connection authenticates the server and itself. The default verifies the
/// server's certificate chain (against the system's trust store) and its name (the DSN's host),
/// and presents no client certificate. Its `Debug` output shows which settings are given, never
/// their values.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TlsOptions {
    /// PEM file of the certificate authorities to trust instead of the system's (`cafile`).
    pub cafile: Option<PathBuf>,
    /// PEM file of the client certificate, then its chain; may also hold the key (`local_cert`).
    pub local_cert: Option<PathBuf>,
    /// PEM file of the client's private key when it is not in `local_cert` (`local_pk`).
    pub local_pk: Option<PathBuf>,
    /// Decrypts an encrypted private key (`passphrase`). Never shown.
    pub passphrase: Option<Vec<u8>>,
    /// Verify the server's certificate chain (`verify_peer`, default true).
    pub verify_peer: bool,
    /// Verify that the server's certificate names `peer_name` (`verify_peer_name`, default true).
    pub verify_peer_name: bool,
    /// The name to verify and to send as SNI instead of the DSN's host (`peer_name`).
    pub peer_name: Option<String>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            cafile: None,
            local_cert: None,
            local_pk: None,
            passphrase: None,
            verify_peer: true,
            verify_peer_name: true,
            peer_name: None,
        }
    }
}

impl TlsOptions {
    /// The defaults with the `ssl` option's entries applied.
    ///
    /// Errors: [`ErrorKind::InvalidArgument`] for an unknown name or an empty value,
    /// [`ErrorKind::InvalidType`] for a value of the wrong PHP type. Messages name the entry,
    /// never its value.
    pub fn from_entries(entries: &[(String, OptionValue)]) -> Result<TlsOptions> {
        let mut tls = TlsOptions::default();
        for (name, value) in entries {
            tls.set(name, value)?;
        }
        if tls.local_pk.is_some() && tls.local_cert.is_none() {
            return Err(Error::invalid(
                "ssl option \"local_pk\" needs \"local_cert\" (the certificate of that key)",
            ));
        }
        Ok(tls)
    }

    fn set(&mut self, name: &str, value: &OptionValue) -> Result<()> {
        match name {
            "cafile" => self.cafile = Some(path(name, value)?),
            "local_cert" => self.local_cert = Some(path(name, value)?),
            "local_pk" => self.local_pk = Some(path(name, value)?),
            "passphrase" => match value {
                OptionValue::Str(bytes) => self.passphrase = Some(bytes.clone()),
                other => return Err(wrong_type(name, "string", other)),
            },
            "verify_peer" => self.verify_peer = flag(name, value)?,
            "verify_peer_name" => self.verify_peer_name = flag(name, value)?,
            "peer_name" => match value {
                OptionValue::Str(bytes) => {
                    let text = std::str::from_utf8(bytes).ok().filter(|t| {
                        !t.is_empty() && !t.contains(|c: char| c.is_control() || c == ' ')
                    });
                    let Some(text) = text else {
                        return Err(Error::invalid(
                            "ssl option \"peer_name\" must be a host name or IP address",
                        ));
                    };
                    self.peer_name = Some(text.to_owned());
                }
                other => return Err(wrong_type(name, "string", other)),
            },
            _ => {
                return Err(Error::invalid(format!(
                    "unknown ssl option \"{}\"; the ssl options are: {}",
                    name.escape_debug(),
                    SSL_OPTION_NAMES.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// What may be shown: the verification in force and which files are given, never a path
    /// or the passphrase (`verify_peer, verify_peer_name, cafile, local_cert`).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.verify_peer {
            parts.push("verify_peer");
        }
        if self.verify_peer_name {
            parts.push("verify_peer_name");
        }
        if self.peer_name.is_some() {
            parts.push("peer_name");
        }
        for (name, given) in [
            ("cafile", self.cafile.is_some()),
            ("local_cert", self.local_cert.is_some()),
            ("local_pk", self.local_pk.is_some()),
            ("passphrase", self.passphrase.is_some()),
        ] {
            if given {
                parts.push(name);
            }
        }
        if parts.is_empty() {
            "no verification".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TlsOptions").field(&self.summary()).finish()
    }
}

fn wrong_type(name: &str, expected: &str, given: &OptionValue) -> Error {
    Error::new(
        ErrorKind::InvalidType,
        format!(
            "ssl option \"{name}\" must be of type {expected}, {} given",
            given.type_name()
        ),
    )
}

fn flag(name: &str, value: &OptionValue) -> Result<bool> {
    match value {
        OptionValue::Bool(b) => Ok(*b),
        other => Err(wrong_type(name, "bool", other)),
    }
}

/// A file path: any bytes but NUL, not empty (binary-safe, as PHP's own paths).
fn path(name: &str, value: &OptionValue) -> Result<PathBuf> {
    match value {
        OptionValue::Str(bytes) if bytes.is_empty() || bytes.contains(&0) => Err(Error::invalid(
            format!("ssl option \"{name}\" must be a file path (not empty, no NUL byte)"),
        )),
        OptionValue::Str(bytes) => Ok(PathBuf::from(OsStr::from_bytes(bytes))),
        other => Err(wrong_type(name, "string", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> OptionValue {
        OptionValue::Str(text.as_bytes().to_vec())
    }

    fn entries(pairs: &[(&str, OptionValue)]) -> Vec<(String, OptionValue)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn verification_is_on_by_default_and_every_name_applies() {
        let d = TlsOptions::from_entries(&[]).unwrap();
        assert!(d.verify_peer && d.verify_peer_name);
        assert_eq!(d, TlsOptions::default());
        let t = TlsOptions::from_entries(&entries(&[
            ("cafile", s("/etc/ca.pem")),
            ("local_cert", s("/etc/client.pem")),
            ("local_pk", s("/etc/client.key")),
            ("passphrase", s("Sekrit")),
            ("verify_peer", OptionValue::Bool(false)),
            ("verify_peer_name", OptionValue::Bool(false)),
            ("peer_name", s("redis.internal")),
        ]))
        .unwrap();
        assert_eq!(t.cafile, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(t.local_cert, Some(PathBuf::from("/etc/client.pem")));
        assert_eq!(t.local_pk, Some(PathBuf::from("/etc/client.key")));
        assert_eq!(t.passphrase.as_deref(), Some(&b"Sekrit"[..]));
        assert!(!t.verify_peer && !t.verify_peer_name);
        assert_eq!(t.peer_name.as_deref(), Some("redis.internal"));
        let shown = format!("{t:?} {}", t.summary());
        for secret in ["/etc", "Sekrit", "redis.internal"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn unknown_names_are_value_errors_naming_the_name_only() {
        let err = TlsOptions::from_entries(&entries(&[("verify_host", s("Sekrit"))])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.message().contains("\"verify_host\""), "{err}");
        assert!(!err.message().contains("Sekrit"), "{err}");
        for name in SSL_OPTION_NAMES {
            assert!(err.message().contains(name), "{err}");
        }
    }

    #[test]
    fn wrong_types_are_type_errors_and_bad_values_value_errors() {
        for (name, value) in [
            ("cafile", OptionValue::Int(1)),
            ("local_cert", OptionValue::Bool(true)),
            ("passphrase", OptionValue::Other("array")),
            ("verify_peer", OptionValue::Int(0)),
            ("verify_peer_name", s("false")),
            ("peer_name", OptionValue::Other("null")),
        ] {
            let err = TlsOptions::from_entries(&entries(&[(name, value)])).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidType, "{name}");
            assert!(err.message().contains(name), "{err}");
        }
        for (name, value) in [
            ("cafile", s("")),
            ("local_cert", OptionValue::Str(b"/a\0b".to_vec())),
            ("peer_name", s("")),
            ("peer_name", s("a b")),
        ] {
            let err = TlsOptions::from_entries(&entries(&[(name, value)])).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name}");
        }
        let err = TlsOptions::from_entries(&entries(&[("local_pk", s("/k.pem"))])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(!err.message().contains("/k.pem"), "{err}");
    }
}
