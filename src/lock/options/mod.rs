//! DSN and option parsing: everything a `RedisLock` needs to know before the first command.
//!
//! The DSN is parsed in [`crate::lock::options::dsn`] (re-exported here). Options come from the PHP array and
//! are validated here so that `cargo test` covers them.

use std::fmt;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub mod dsn;
pub mod tls;

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::options::dsn::parse_dsn_cached;
pub use crate::lock::options::dsn::{clear_dsn_cache, mask_dsn, parse_dsn};
pub use crate::lock::options::tls::TlsOptions;
use crate::lock::replicas::ReplicaAck;

/// The DSN used when none is given.
pub const DEFAULT_DSN: &str = "redis://127.0.0.1:6379";
/// How long to wait for a TCP connection to be established, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long to wait for a reply (and for a write to be accepted), by default.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest timeout accepted for either option (one hour): anything longer is a mistake.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// The lease time of a watchdog lease (one taken without a TTL), as Redisson's default.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);
/// How long `WAIT` waits for replicas to acknowledge a lock write, by default (option
/// `replicaTimeout`): replicas on the same network acknowledge within a millisecond or two.
pub const DEFAULT_REPLICA_TIMEOUT: Duration = Duration::from_millis(100);
/// The most replicas the `replicas` option may ask for.
pub const MAX_REPLICAS: i64 = 1000;
/// The option names accepted in the `$options` array, in the order the docs list them.
pub const OPTION_NAMES: [&str; 10] = [
    "connectTimeout",
    "readTimeout",
    "prefix",
    "database",
    "leaseTtl",
    "maxLifetime",
    "strict",
    "replicas",
    "replicaTimeout",
    "ssl",
];

/// Where the server listens.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A host name or IP address and a port.
    Tcp { host: String, port: u16 },
    /// A unix domain socket path.
    Unix(PathBuf),
    /// A host name or IP address and a port, over TLS (`rediss://`), with the `ssl` option.
    Tls {
        host: String,
        port: u16,
        tls: Arc<TlsOptions>,
    },
    /// An in-process memory space (`memory://NAME`; the empty name is the default space).
    Memory(String),
    /// A master found through Redis Sentinel.
    Sentinel(SentinelAddress),
    /// A Redis Cluster, found from seed nodes.
    Cluster(ClusterAddress),
}

/// Where a Redis Cluster is found: seed nodes (any node, in the order given) whose slot map
/// names the masters, and whether every node is reached over TLS (with the `ssl` option).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClusterAddress {
    /// The seeds' host names or IP addresses and ports.
    pub seeds: Vec<(String, u16)>,
    /// TLS settings for every node (`rediss+cluster://`), or `None` for plain TCP.
    pub tls: Option<Arc<TlsOptions>>,
}

impl ClusterAddress {
    /// `h1:p1,h2:p2` (IPv6 in brackets).
    pub fn describe_seeds(&self) -> String {
        self.seeds
            .iter()
            .map(|(host, port)| host_port(host, *port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address of the node at `host:port`: TLS when the cluster's is.
    pub fn node(&self, host: &str, port: u16) -> Address {
        match &self.tls {
            Some(tls) => Address::Tls {
                host: host.to_owned(),
                port,
                tls: Arc::clone(tls),
            },
            None => Address::Tcp {
                host: host.to_owned(),
                port,
            },
        }
    }
}

/// Where Redis Sentinel is asked for a master: the sentinels (in the order given), the service
/// name, the sentinels' own credentials (the endpoint's user and password are the
/// master's), and TLS for both the sentinels and the master (`rediss+sentinel://`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SentinelAddress {
    /// The sentinels' host names or IP addresses and ports.
    pub sentinels: Vec<(String, u16)>,
    /// The monitored master's name (`SENTINEL get-master-addr-by-name <service>`).
    pub service: String,
    /// ACL user for the sentinels, if any.
    pub username: Option<String>,
    /// Password for the sentinels, if any. Never printed.
    pub password: Option<String>,
    /// TLS (the `ssl` option) for every connection, to the sentinels and to the master they
    /// name (`rediss+sentinel://`); `None`: plain TCP. Without `peer_name`, a sentinel's
    /// certificate is checked against its host in the DSN, the master's against the host the
    /// sentinels announce for it.
    pub tls: Option<Arc<TlsOptions>>,
}

impl SentinelAddress {
    /// `h1:p1,h2:p2` (IPv6 in brackets).
    pub fn describe_sentinels(&self) -> String {
        self.sentinels
            .iter()
            .map(|(host, port)| host_port(host, *port))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The host of a TCP or TLS address (empty for other kinds).
pub fn host_of(address: &Address) -> String {
    match address {
        Address::Tcp { host, .. } | Address::Tls { host, .. } => host.clone(),
        _ => String::new(),
    }
}

/// `host:port`, with an IPv6 address in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Everything that identifies one native connection: two `RedisLock` objects with equal
/// endpoints share a connection. Its `Debug` output hides the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Where to connect.
    pub address: Address,
    /// ACL user name sent with `AUTH`, if any.
    pub username: Option<String>,
    /// Password sent with `AUTH`, if any. Never printed.
    pub password: Option<String>,
    /// Database selected with `SELECT` after connecting (0: no `SELECT`).
    pub database: i64,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Read and write timeout.
    pub read_timeout: Duration,
}

impl Endpoint {
    /// A description safe to show anywhere: `127.0.0.1:6379 db 0`, `unix:/run/redis.sock db 2`.
    /// Never includes the user name or password.
    pub fn describe(&self) -> String {
        match &self.address {
            Address::Tcp { host, port } if host.contains(':') => {
                format!("[{host}]:{port} db {}", self.database)
            }
            Address::Tcp { host, port } => format!("{host}:{port} db {}", self.database),
            Address::Unix(path) => format!("unix:{} db {}", path.display(), self.database),
            Address::Memory(name) => format!("memory://{name}"),
            Address::Sentinel(s) => format!(
                "sentinel service {} via {}{} db {}",
                s.service,
                if s.tls.is_some() { "tls://" } else { "" },
                s.describe_sentinels(),
                self.database
            ),
            Address::Tls { host, port, .. } if host.contains(':') => {
                format!("tls://[{host}]:{port} db {}", self.database)
            }
            Address::Tls { host, port, .. } => format!("tls://{host}:{port} db {}", self.database),
            Address::Cluster(c) => format!(
                "{}cluster via {}",
                if c.tls.is_some() { "tls " } else { "" },
                c.describe_seeds()
            ),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &self.describe())
            .field("username", &self.username.as_ref().map(|_| "***"))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// A value from the PHP `$options` array, typed just enough to validate it.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    /// A PHP int.
    Int(i64),
    /// A PHP float.
    Float(f64),
    /// A PHP string (binary-safe).
    Str(Vec<u8>),
    /// A PHP bool.
    Bool(bool),
    /// A PHP array given as an option's value (`ssl`): its entries as (key, value), keys of
    /// integer entries by their number. Only one level deep: arrays inside it are `Other`.
    Array(Vec<(String, OptionValue)>),
    /// Anything else; the string names its PHP type for the error message.
    Other(&'static str),
}

impl OptionValue {
    fn type_name(&self) -> &'static str {
        match self {
            OptionValue::Int(_) => "int",
            OptionValue::Float(_) => "float",
            OptionValue::Str(_) => "string",
            OptionValue::Bool(_) => "bool",
            OptionValue::Array(_) => "array",
            OptionValue::Other(name) => name,
        }
    }
}

/// Validated settings of one `RedisLock`: its endpoint and its key prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The connection this lock uses.
    pub endpoint: Endpoint,
    /// Prepended to every key (`"app:"` turns `orders` into `app:orders`).
    pub prefix: Vec<u8>,
    /// What may be shown of the DSN: its parsed parts with the user name, the password and every
    /// query pair but `db`/`protocol` replaced by `***` (see [`mask_dsn`]).
    pub masked_dsn: String,
    /// The lease options.
    pub lease: LeaseConfig,
    /// How many replicas must acknowledge each write that grants or extends a lock (options
    /// `replicas`, `replicaTimeout`); `None`: none (`replicas` 0, the default).
    pub replicas: Option<ReplicaAck>,
    /// A Redlock quorum's members (see [`crate::lock::quorum`]), each with its masked DSN;
    /// empty for one deployment. `endpoint` is then the first member's.
    pub members: Vec<(Endpoint, String)>,
}

/// How leases behave (options `leaseTtl`, `maxLifetime`, `strict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// TTL of a watchdog lease; the watchdog renews it every third of this.
    pub lease_ttl: Duration,
    /// A watchdog lease older than this is no longer renewed (`None`: no limit).
    pub max_lifetime: Option<Duration>,
    /// Lost leases throw instead of returning false.
    pub strict: bool,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            lease_ttl: DEFAULT_LEASE_TTL,
            max_lifetime: None,
            strict: false,
        }
    }
}

impl Config {
    /// Parses `dsn` and applies `options` (name, value) in order.
    ///
    /// Errors: [`ErrorKind::InvalidArgument`] for a malformed DSN or an out-of-range option,
    /// [`ErrorKind::InvalidType`] for an option of the wrong PHP type.
    pub fn parse<'a, I>(dsn: &str, options: I) -> Result<Config>
    where
        I: IntoIterator<Item = (&'a str, OptionValue)>,
    {
        let (endpoint, masked_dsn) = parse_dsn_cached(dsn)?;
        let mut config = Config {
            endpoint,
            prefix: Vec::new(),
            masked_dsn,
            lease: LeaseConfig::default(),
            replicas: None,
            members: Vec::new(),
        };
        let mut replicas = 0;
        let mut replica_timeout = DEFAULT_REPLICA_TIMEOUT;
        for (name, value) in options {
            match name {
                "replicas" => replicas = replicas_option(&value)?,
                "replicaTimeout" => replica_timeout = timeout_option(name, &value)?,
                _ => config.set_option(name, value)?,
            }
        }
        config.replicas = config.replica_ack(replicas, replica_timeout)?;
        Ok(config)
    }

    /// A Redlock quorum of the independent deployments `dsns` (see [`crate::lock::quorum`]),
    /// each parsed with the same `options`.
    ///
    /// Errors ([`ErrorKind::InvalidArgument`]): no DSN; a `memory://` member (an in-process
    /// space is no independent server, and its replies are not read from a socket); the same
    /// server, credentials and database twice (two votes of one server would make a minority
    /// look like a majority); `replicas` above 0 (replica acknowledgement is the single-authority
    /// alternative to a quorum; see the README). A member's own DSN errors name its position.
    pub fn parse_quorum(dsns: &[&str], options: &[(&str, OptionValue)]) -> Result<Config> {
        if dsns.is_empty() {
            return Err(Error::invalid(
                "a quorum needs at least one DSN (an array of 3 or 5 independent servers), \
                 an empty array given",
            ));
        }
        if dsns.len() > crate::lock::quorum::MAX_MEMBERS {
            return Err(Error::invalid(format!(
                "a quorum has at most {} members, {} given",
                crate::lock::quorum::MAX_MEMBERS,
                dsns.len()
            )));
        }
        let mut members: Vec<(Endpoint, String)> = Vec::with_capacity(dsns.len());
        let mut first: Option<Config> = None;
        for (i, dsn) in dsns.iter().enumerate() {
            let config = Config::parse(dsn, options.iter().cloned()).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!("quorum member #{}: {}", i + 1, e.message()),
                )
            })?;
            if let Address::Memory(_) = config.endpoint.address {
                return Err(Error::invalid(format!(
                    "quorum member #{}: memory:// cannot be a quorum member: a quorum needs \
                     independent Redis servers",
                    i + 1
                )));
            }
            if config.replicas.is_some() {
                return Err(Error::invalid(
                    "option \"replicas\" is not available on a quorum: each member is an \
                     independent server whose majority is the safety; replica acknowledgement is \
                     for a single master with replicas",
                ));
            }
            let key = crate::lock::net::registry::ServerKey::of(&config.endpoint);
            if let Some(j) = members
                .iter()
                .position(|(e, _)| crate::lock::net::registry::ServerKey::of(e) == key)
            {
                return Err(Error::invalid(format!(
                    "quorum member #{} is the same server as member #{} ({}): each member must \
                     be an independent server",
                    i + 1,
                    j + 1,
                    config.masked_dsn
                )));
            }
            members.push((config.endpoint.clone(), config.masked_dsn.clone()));
            first.get_or_insert(config);
        }
        let mut config = first.expect("at least one member");
        config.masked_dsn = format!(
            "[{}]",
            members
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        config.members = members;
        Ok(config)
    }

    /// The `replicas` / `replicaTimeout` pair, checked against the other options (whatever
    /// order they came in): `WAIT`'s reply comes up to `replicaTimeout` after the lock
    /// command's, and must come within `readTimeout`; an in-process space has no replicas.
    fn replica_ack(&self, replicas: u32, timeout: Duration) -> Result<Option<ReplicaAck>> {
        if replicas == 0 {
            return Ok(None);
        }
        if let Address::Memory(_) = self.endpoint.address {
            return Err(Error::invalid(
                "option \"replicas\": memory:// has no replicas, so no lock could ever be \
                 acknowledged; set \"replicas\" to 0 for memory://",
            ));
        }
        let read = self.endpoint.read_timeout;
        if timeout > read / 2 {
            return Err(Error::invalid(format!(
                "option \"replicaTimeout\" ({} s) must be at most half of \"readTimeout\" \
                 ({} s): the reply to WAIT comes up to replicaTimeout after the lock command's, \
                 and both must arrive within readTimeout",
                php_float(timeout.as_secs_f64()),
                php_float(read.as_secs_f64())
            )));
        }
        Ok(Some(ReplicaAck { replicas, timeout }))
    }

    fn set_option(&mut self, name: &str, value: OptionValue) -> Result<()> {
        match name {
            "connectTimeout" => self.endpoint.connect_timeout = timeout_option(name, &value)?,
            "readTimeout" => self.endpoint.read_timeout = timeout_option(name, &value)?,
            "prefix" => match value {
                OptionValue::Str(prefix) => self.prefix = prefix,
                other => return Err(wrong_type(name, "string", &other)),
            },
            "leaseTtl" => self.lease.lease_ttl = seconds_option(name, &value, 0.001)?,
            "maxLifetime" => {
                let limit = seconds_option(name, &value, 0.0)?;
                self.lease.max_lifetime = (!limit.is_zero()).then_some(limit);
            }
            "strict" => match value {
                OptionValue::Bool(strict) => self.lease.strict = strict,
                other => return Err(wrong_type(name, "bool", &other)),
            },
            "ssl" => {
                let OptionValue::Array(entries) = value else {
                    return Err(wrong_type(name, "array", &value));
                };
                let tls = match &mut self.endpoint.address {
                    Address::Tls { tls, .. }
                    | Address::Sentinel(SentinelAddress { tls: Some(tls), .. })
                    | Address::Cluster(ClusterAddress { tls: Some(tls), .. }) => tls,
                    _ => {
                        return Err(Error::invalid(
                            "option \"ssl\" applies to TLS connections only: use a rediss://, \
                             rediss+sentinel:// or rediss+cluster:// DSN",
                        ));
                    }
                };
                *tls = Arc::new(TlsOptions::from_entries(&entries)?);
            }
            "database" => match value {
                OptionValue::Int(db)
                    if db != 0 && matches!(self.endpoint.address, Address::Cluster(_)) =>
                {
                    return Err(Error::invalid(format!(
                        "option \"database\" must be 0 for Redis Cluster, which has only database 0; {db} given"
                    )));
                }
                OptionValue::Int(db) if db >= 0 => self.endpoint.database = db,
                OptionValue::Int(db) => {
                    return Err(Error::invalid(format!(
                        "option \"database\" must be 0 or greater, {db} given"
                    )));
                }
                other => return Err(wrong_type(name, "int", &other)),
            },
            _ => {
                return Err(Error::invalid(format!(
                    "unknown option \"{}\"; the options are: {}",
                    name.escape_debug(),
                    OPTION_NAMES.join(", ")
                )));
            }
        }
        Ok(())
    }
}

fn wrong_type(name: &str, expected: &str, given: &OptionValue) -> Error {
    Error::new(
        ErrorKind::InvalidType,
        format!(
            "option \"{name}\" must be of type {expected}, {} given",
            given.type_name()
        ),
    )
}

/// An int|float option as seconds (unchecked).
fn number_option(name: &str, value: &OptionValue) -> Result<f64> {
    match *value {
        OptionValue::Int(i) => Ok(i as f64),
        OptionValue::Float(f) => Ok(f),
        ref other => Err(wrong_type(name, "int|float", other)),
    }
}

/// A duration in seconds of at least `min` (0 allowed when `min` is 0), at most a year.
fn seconds_option(name: &str, value: &OptionValue, min: f64) -> Result<Duration> {
    const YEAR: f64 = 365.0 * 86400.0;
    let seconds = number_option(name, value)?;
    if !seconds.is_finite() || seconds < min || seconds > YEAR || (min > 0.0 && seconds == 0.0) {
        return Err(Error::invalid(format!(
            "option \"{name}\" must be a number of seconds from {min} to {YEAR}, {} given",
            php_float(seconds)
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The `replicas` option: an int from 0 to [`MAX_REPLICAS`].
fn replicas_option(value: &OptionValue) -> Result<u32> {
    match *value {
        OptionValue::Int(n) if (0..=MAX_REPLICAS).contains(&n) => Ok(n as u32),
        OptionValue::Int(n) => Err(Error::invalid(format!(
            "option \"replicas\" must be from 0 to {MAX_REPLICAS}, {n} given"
        ))),
        ref other => Err(wrong_type("replicas", "int", other)),
    }
}

fn timeout_option(name: &str, value: &OptionValue) -> Result<Duration> {
    let seconds = number_option(name, value)?;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(Error::invalid(format!(
            "option \"{name}\" must be a finite number of seconds greater than 0, {} given",
            php_float(seconds)
        )));
    }
    // Range first: Duration::from_secs_f64 panics on values it cannot hold.
    if !(0.001..=MAX_TIMEOUT.as_secs_f64()).contains(&seconds) {
        return Err(Error::invalid(format!(
            "option \"{name}\" must be between 0.001 and {} seconds, {} given",
            MAX_TIMEOUT.as_secs(),
            php_float(seconds)
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Formats seconds for messages the way PHP prints floats (`NAN`, `INF`, `1.5`).
pub fn php_float(f: f64) -> String {
    if f.is_nan() {
        "NAN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "INF".into() } else { "-INF".into() }
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_apply_and_validate() {
        let c = Config::parse(
            "redis://h/1",
            [
                ("connectTimeout", OptionValue::Float(0.25)),
                ("readTimeout", OptionValue::Int(2)),
                ("prefix", OptionValue::Str(b"app:".to_vec())),
                ("database", OptionValue::Int(4)),
            ],
        )
        .unwrap();
        assert_eq!(c.endpoint.connect_timeout, Duration::from_millis(250));
        assert_eq!(c.endpoint.read_timeout, Duration::from_secs(2));
        assert_eq!(c.prefix, b"app:");
        assert_eq!(c.endpoint.database, 4);
    }

    #[test]
    fn lease_options_apply_and_validate() {
        let c = Config::parse(
            "redis://h",
            [
                ("leaseTtl", OptionValue::Float(0.6)),
                ("maxLifetime", OptionValue::Int(5)),
                ("strict", OptionValue::Bool(true)),
            ],
        )
        .unwrap();
        assert_eq!(c.lease.lease_ttl, Duration::from_millis(600));
        assert_eq!(c.lease.max_lifetime, Some(Duration::from_secs(5)));
        assert!(c.lease.strict);
        let unlimited = Config::parse("redis://h", [("maxLifetime", OptionValue::Int(0))]).unwrap();
        assert_eq!(unlimited.lease.max_lifetime, None);
        assert_eq!(
            Config::parse("redis://h", []).unwrap().lease,
            LeaseConfig::default()
        );
        for (name, value) in [
            ("leaseTtl", OptionValue::Int(0)),
            ("leaseTtl", OptionValue::Float(f64::NAN)),
            ("maxLifetime", OptionValue::Int(-1)),
        ] {
            let err = Config::parse("redis://h", [(name, value)]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name}");
        }
        let err = Config::parse("redis://h", [("strict", OptionValue::Int(1))]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidType);
    }

    #[test]
    fn bad_options_are_value_or_type_errors() {
        let value_errors = [
            ("connectTimeout", OptionValue::Float(0.0)),
            ("connectTimeout", OptionValue::Float(f64::NAN)),
            ("readTimeout", OptionValue::Float(f64::INFINITY)),
            ("readTimeout", OptionValue::Int(-1)),
            ("readTimeout", OptionValue::Int(1_000_000)),
            ("readTimeout", OptionValue::Float(0.0001)),
            ("database", OptionValue::Int(-2)),
            ("nope", OptionValue::Int(1)),
        ];
        for (name, value) in value_errors {
            let err = Config::parse("redis://h", [(name, value.clone())]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name} {value:?}");
        }
        let type_errors = [
            ("connectTimeout", OptionValue::Str(b"1".to_vec())),
            ("prefix", OptionValue::Int(1)),
            ("database", OptionValue::Float(1.0)),
            ("database", OptionValue::Other("array")),
        ];
        for (name, value) in type_errors {
            let err = Config::parse("redis://h", [(name, value.clone())]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidType, "{name} {value:?}");
        }
    }

    #[test]
    fn replica_options_apply_and_validate() {
        let off = Config::parse("redis://h", []).unwrap();
        assert_eq!(off.replicas, None, "off by default");
        let zero = Config::parse("redis://h", [("replicas", OptionValue::Int(0))]).unwrap();
        assert_eq!(zero.replicas, None);
        let on = Config::parse("redis://h", [("replicas", OptionValue::Int(2))]).unwrap();
        assert_eq!(
            on.replicas,
            Some(ReplicaAck {
                replicas: 2,
                timeout: DEFAULT_REPLICA_TIMEOUT
            })
        );
        // Either order: the timeout is checked against readTimeout once all are applied.
        for options in [
            vec![
                ("replicaTimeout", OptionValue::Float(1.5)),
                ("replicas", OptionValue::Int(1)),
                ("readTimeout", OptionValue::Int(3)),
            ],
            vec![
                ("readTimeout", OptionValue::Int(3)),
                ("replicas", OptionValue::Int(1)),
                ("replicaTimeout", OptionValue::Float(1.5)),
            ],
        ] {
            let c = Config::parse("redis://h", options).unwrap();
            assert_eq!(c.replicas.unwrap().timeout, Duration::from_millis(1500));
        }
        // Unused without replicas: a short readTimeout alone stays valid.
        Config::parse("redis://h", [("readTimeout", OptionValue::Float(0.05))]).unwrap();

        let value_errors = [
            vec![("replicas", OptionValue::Int(-1))],
            vec![("replicas", OptionValue::Int(MAX_REPLICAS + 1))],
            vec![("replicaTimeout", OptionValue::Int(0))],
            vec![("replicaTimeout", OptionValue::Float(f64::NAN))],
            vec![("replicaTimeout", OptionValue::Float(-0.1))],
            vec![("replicaTimeout", OptionValue::Float(0.0001))],
            vec![("replicaTimeout", OptionValue::Float(1e300))],
            // More than half of readTimeout (1 s by default).
            vec![
                ("replicas", OptionValue::Int(1)),
                ("replicaTimeout", OptionValue::Float(0.6)),
            ],
            vec![
                ("replicas", OptionValue::Int(1)),
                ("readTimeout", OptionValue::Float(0.15)),
            ],
        ];
        for options in value_errors {
            let err = Config::parse("redis://h", options.clone()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{options:?}");
        }
        let err = Config::parse(
            "redis://h",
            [
                ("replicas", OptionValue::Int(1)),
                ("replicaTimeout", OptionValue::Int(1)),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err.message(),
            "option \"replicaTimeout\" (1 s) must be at most half of \"readTimeout\" (1 s): \
             the reply to WAIT comes up to replicaTimeout after the lock command's, and both \
             must arrive within readTimeout"
        );
        let type_errors = [
            ("replicas", OptionValue::Float(1.0)),
            ("replicas", OptionValue::Bool(true)),
            ("replicas", OptionValue::Str(b"1".to_vec())),
            ("replicaTimeout", OptionValue::Str(b"0.1".to_vec())),
            ("replicaTimeout", OptionValue::Bool(true)),
        ];
        for (name, value) in type_errors {
            let err = Config::parse("redis://h", [(name, value.clone())]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidType, "{name} {value:?}");
        }
    }

    #[test]
    fn memory_has_no_replicas() {
        let err = Config::parse("memory://", [("replicas", OptionValue::Int(1))]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.message().contains("memory:// has no replicas"), "{err}");
        let c = Config::parse("memory://t", [("replicas", OptionValue::Int(0))]).unwrap();
        assert_eq!(c.replicas, None);
    }

    #[test]
    fn the_ssl_option_applies_to_tls_dsns_only() {
        let entries = vec![
            ("verify_peer".to_owned(), OptionValue::Bool(false)),
            (
                "peer_name".to_owned(),
                OptionValue::Str(b"redis.internal".to_vec()),
            ),
        ];
        let c =
            Config::parse("rediss://h", [("ssl", OptionValue::Array(entries.clone()))]).unwrap();
        let Address::Tls { tls, .. } = &c.endpoint.address else {
            panic!("not TLS");
        };
        assert!(!tls.verify_peer && tls.verify_peer_name);
        assert_eq!(tls.peer_name.as_deref(), Some("redis.internal"));
        // Different settings, different connections.
        assert!(c.endpoint != Config::parse("rediss://h", []).unwrap().endpoint);
        // rediss+sentinel://: one setting for the sentinels and the master.
        let c = Config::parse(
            "rediss+sentinel://h/svc",
            [("ssl", OptionValue::Array(entries.clone()))],
        )
        .unwrap();
        let Address::Sentinel(SentinelAddress { tls: Some(tls), .. }) = &c.endpoint.address else {
            panic!("not TLS sentinel");
        };
        assert_eq!(tls.peer_name.as_deref(), Some("redis.internal"));
        for plain in ["redis://h", "redis+sentinel://h/svc"] {
            let err =
                Config::parse(plain, [("ssl", OptionValue::Array(entries.clone()))]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert!(err.message().contains("rediss://"), "{err}");
            assert!(err.message().contains("rediss+sentinel://"), "{err}");
        }
        for value in [OptionValue::Bool(true), OptionValue::Str(b"x".to_vec())] {
            let err = Config::parse("rediss://h", [("ssl", value)]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidType);
        }
        let nested = vec![("cafile".to_owned(), OptionValue::Other("array"))];
        let err = Config::parse("rediss://h", [("ssl", OptionValue::Array(nested))]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidType);
        assert!(err.message().contains("\"cafile\""), "{err}");
    }

    #[test]
    fn unknown_option_error_lists_the_valid_names() {
        let err = Config::parse("redis://h", [("timeout", OptionValue::Int(1))]).unwrap_err();
        for name in OPTION_NAMES {
            assert!(err.message().contains(name), "{}", err.message());
        }
    }
}

#[cfg(test)]
mod fuzz {
    //! Property tests: any input to the options parser gives a value or a clean error, never a
    //! panic.

    use proptest::prelude::*;

    use super::*;

    fn option_value() -> impl Strategy<Value = OptionValue> {
        prop_oneof![
            any::<i64>().prop_map(OptionValue::Int),
            any::<f64>().prop_map(OptionValue::Float),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(OptionValue::Str),
            any::<bool>().prop_map(OptionValue::Bool),
            Just(OptionValue::Other("array")),
            proptest::collection::vec(
                (
                    proptest::sample::select(tls::SSL_OPTION_NAMES.to_vec())
                        .prop_map(str::to_owned),
                    prop_oneof![
                        any::<bool>().prop_map(OptionValue::Bool),
                        proptest::collection::vec(any::<u8>(), 0..20).prop_map(OptionValue::Str),
                        any::<i64>().prop_map(OptionValue::Int),
                    ],
                ),
                0..4,
            )
            .prop_map(OptionValue::Array),
        ]
    }

    fn option_name() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(OPTION_NAMES.to_vec()).prop_map(str::to_owned),
            ".{0,20}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_options_apply_or_fail_cleanly(
            options in proptest::collection::vec((option_name(), option_value()), 0..6)
        ) {
            let result = Config::parse(
                if options.len() % 2 == 0 { "redis://127.0.0.1:6379" } else { "rediss://127.0.0.1" },
                options.iter().map(|(n, v)| (n.as_str(), v.clone())),
            );
            match result {
                Ok(c) => {
                    prop_assert!(c.endpoint.connect_timeout >= Duration::from_millis(1));
                    prop_assert!(c.endpoint.read_timeout <= MAX_TIMEOUT);
                    prop_assert!(c.endpoint.database >= 0);
                    prop_assert!(c.lease.lease_ttl > Duration::ZERO);
                    if let Some(ack) = c.replicas {
                        prop_assert!(ack.replicas >= 1);
                        prop_assert!(ack.timeout * 2 <= c.endpoint.read_timeout);
                    }
                }
                Err(e) => prop_assert!(e.is_invalid_argument(), "{e:?}"),
            }
        }
    }
}
