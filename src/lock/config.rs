//! DSN and option parsing: everything a `RedisLock` needs to know before the first command.
//!
//! The DSN is parsed by the `redis` crate (`redis::IntoConnectionInfo`), so the URL forms are the
//! ones redis-rs documents: `redis://[user][:password@]host[:port][/db]` and
//! `unix:///path/to/socket?db=N&user=U&pass=P` (also `redis+unix://`). Options come from the PHP
//! array and are validated here so that `cargo test` covers them.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use redis::{ConnectionAddr, IntoConnectionInfo, ProtocolVersion};

use super::error::{Error, ErrorKind, Result};

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
/// The option names accepted in the `$options` array, in the order the docs list them.
pub const OPTION_NAMES: [&str; 7] = [
    "connectTimeout",
    "readTimeout",
    "prefix",
    "database",
    "leaseTtl",
    "maxLifetime",
    "strict",
];

/// Where the server listens.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A host name or IP address and a port.
    Tcp { host: String, port: u16 },
    /// A unix domain socket path.
    Unix(PathBuf),
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
    /// The DSN as given, with user name and password replaced by `***` (see [`mask_dsn`]).
    pub masked_dsn: String,
    /// The lease options.
    pub lease: LeaseConfig,
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
        };
        for (name, value) in options {
            config.set_option(name, value)?;
        }
        Ok(config)
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
            "database" => match value {
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

/// Replaces everything between `://` and the last `@` with `***`, so a DSN can be quoted in an
/// error message without its user name or password.
pub fn mask_dsn(dsn: &str) -> String {
    let (Some(scheme_end), Some(at)) = (dsn.find("://"), dsn.rfind('@')) else {
        return mask_query_password(dsn);
    };
    if at < scheme_end + 3 {
        return mask_query_password(dsn);
    }
    mask_query_password(&format!("{}***{}", &dsn[..scheme_end + 3], &dsn[at..]))
}

/// `unix:///sock?pass=secret` carries the password in the query: hide it too.
fn mask_query_password(dsn: &str) -> String {
    let Some(q) = dsn.find('?') else {
        return dsn.to_string();
    };
    let masked: Vec<String> = dsn[q + 1..]
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k == "pass" || k == "password" || k == "user" => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{}?{}", &dsn[..q], masked.join("&"))
}

static DSN_CACHE: OnceLock<Mutex<HashMap<String, (Endpoint, String)>>> = OnceLock::new();

/// Forgets the parsed DSNs (module shutdown).
pub fn clear_dsn_cache() {
    if let Some(cache) = DSN_CACHE.get() {
        drop(std::mem::take(
            &mut *cache.lock().unwrap_or_else(PoisonError::into_inner),
        ));
    }
}

/// How many distinct DSNs [`parse_dsn_cached`] remembers per process.
const DSN_CACHE_LIMIT: usize = 64;

/// [`parse_dsn`] plus [`mask_dsn`], remembered per DSN text: an application that builds a
/// `RedisLock` per request parses its DSN once per process, not once per request. Errors are
/// not cached; past [`DSN_CACHE_LIMIT`] distinct DSNs new ones are parsed every time.
fn parse_dsn_cached(dsn: &str) -> Result<(Endpoint, String)> {
    let cache = DSN_CACHE.get_or_init(Default::default);
    if let Some(hit) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(dsn)
    {
        return Ok(hit.clone());
    }
    let parsed = (parse_dsn(dsn)?, mask_dsn(dsn));
    let mut map = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if map.len() < DSN_CACHE_LIMIT {
        map.insert(dsn.to_owned(), parsed.clone());
    }
    Ok(parsed)
}

/// Parses a DSN into an [`Endpoint`] with default timeouts.
pub fn parse_dsn(dsn: &str) -> Result<Endpoint> {
    let invalid = |why: &str| {
        Error::invalid(format!(
            "invalid DSN \"{}\": {why}",
            mask_dsn(dsn).escape_debug()
        ))
    };
    if dsn.is_empty() {
        return Err(Error::invalid(
            "the DSN must not be empty; expected e.g. redis://127.0.0.1:6379",
        ));
    }
    let lower = dsn.to_ascii_lowercase();
    if lower.starts_with("rediss://") || lower.starts_with("valkeys://") {
        return Err(invalid("TLS (rediss://) is not supported by this build"));
    }
    if ![
        "redis://",
        "valkey://",
        "unix://",
        "redis+unix://",
        "valkey+unix://",
    ]
    .iter()
    .any(|scheme| lower.starts_with(scheme))
    {
        return Err(invalid(
            "expected redis://[user:password@]host[:port][/db] or unix:///path/to/socket",
        ));
    }
    let info = dsn
        .into_connection_info()
        .map_err(|e| invalid(&redis_reason(&e)))?;
    let settings = info.redis_settings();
    if settings.protocol() != ProtocolVersion::RESP2 {
        return Err(invalid(
            "only RESP2 is supported; remove the protocol parameter",
        ));
    }
    let address = match info.addr() {
        ConnectionAddr::Tcp(host, port) => {
            if host.is_empty() {
                return Err(invalid("missing host name"));
            }
            Address::Tcp {
                host: host.clone(),
                port: *port,
            }
        }
        ConnectionAddr::Unix(path) => Address::Unix(path.clone()),
        _ => return Err(invalid("unsupported address type")),
    };
    if settings.db() < 0 {
        return Err(invalid("the database number must be 0 or greater"));
    }
    Ok(Endpoint {
        address,
        username: settings.username().map(str::to_owned),
        password: settings.password().map(str::to_owned),
        database: settings.db(),
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        read_timeout: DEFAULT_READ_TIMEOUT,
    })
}

/// The reason a redis-rs parse error gives ("Invalid database number"), without its kind
/// suffix. redis-rs messages never quote the URL.
fn redis_reason(e: &redis::RedisError) -> String {
    let text = e.to_string();
    let reason = text.split(" - ").next().unwrap_or(&text);
    if reason == "Redis URL did not parse" {
        "not a valid URL".to_string()
    } else {
        reason.to_string()
    }
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

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_host_port_db_user_password() {
        let e = parse_dsn("redis://alice:s3cret@10.0.0.5:6380/3").unwrap();
        assert!(e.address == tcp("10.0.0.5", 6380));
        assert_eq!(e.username.as_deref(), Some("alice"));
        assert_eq!(e.password.as_deref(), Some("s3cret"));
        assert_eq!(e.database, 3);
        assert_eq!(e.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    }

    #[test]
    fn parses_password_only_default_port_and_ipv6() {
        let e = parse_dsn("redis://:pw@localhost").unwrap();
        assert!(e.address == tcp("localhost", 6379));
        assert_eq!(e.username, None);
        assert_eq!(e.password.as_deref(), Some("pw"));
        let v6 = parse_dsn("redis://[::1]:7000").unwrap();
        assert!(v6.address == tcp("::1", 7000));
        assert_eq!(v6.describe(), "[::1]:7000 db 0");
    }

    #[test]
    fn percent_encoded_password_is_decoded() {
        let e = parse_dsn("redis://:p%40ss%2Fw@h:1").unwrap();
        assert_eq!(e.password.as_deref(), Some("p@ss/w"));
    }

    #[test]
    fn parses_unix_sockets() {
        let e = parse_dsn("unix:///tmp/redis.sock?db=2&pass=pw").unwrap();
        assert!(e.address == Address::Unix("/tmp/redis.sock".into()));
        assert_eq!(e.database, 2);
        assert_eq!(e.password.as_deref(), Some("pw"));
        assert!(parse_dsn("redis+unix:///tmp/r.sock").is_ok());
    }

    #[test]
    fn rejects_malformed_dsns_with_value_errors() {
        for bad in [
            "",
            "127.0.0.1:6379",
            "http://localhost",
            "redis://",
            "redis://h:notaport",
            "redis://h/notadb",
            "rediss://h",
            "redis://0.0.0.0",
            "redis://h?protocol=resp3",
            "redis://h/-1",
        ] {
            let err = parse_dsn(bad).expect_err(bad);
            assert!(err.is_invalid_argument(), "{bad}: {err:?}");
        }
    }

    #[test]
    fn error_messages_and_debug_never_show_the_password() {
        for dsn in [
            "redis://u:hunter2@h:notaport",
            "redis://:hunter2@h/x",
            "rediss://:hunter2@h",
            "unix:///s?pass=hunter2&protocol=9",
        ] {
            let err = parse_dsn(dsn).unwrap_err();
            assert!(!err.message().contains("hunter2"), "{}", err.message());
        }
        let e = parse_dsn("redis://u:hunter2@h").unwrap();
        assert!(!format!("{e:?}").contains("hunter2"));
        assert!(!e.describe().contains("hunter2"));
    }

    #[test]
    fn mask_dsn_hides_userinfo_and_query_passwords() {
        assert_eq!(mask_dsn("redis://u:p@h:1/2"), "redis://***@h:1/2");
        assert_eq!(mask_dsn("redis://h:1"), "redis://h:1");
        assert_eq!(mask_dsn("unix:///s?db=1&pass=x"), "unix:///s?db=1&pass=***");
        assert_eq!(mask_dsn("redis://a@b@h"), "redis://***@h");
    }

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
    fn unknown_option_error_lists_the_valid_names() {
        let err = Config::parse("redis://h", [("timeout", OptionValue::Int(1))]).unwrap_err();
        for name in OPTION_NAMES {
            assert!(err.message().contains(name), "{}", err.message());
        }
    }
}

#[cfg(test)]
mod fuzz {
    //! Property tests: any input to the DSN and options parser gives a value or a clean error,
    //! never a panic, and errors never echo a password.

    use proptest::prelude::*;

    use super::*;

    fn option_value() -> impl Strategy<Value = OptionValue> {
        prop_oneof![
            any::<i64>().prop_map(OptionValue::Int),
            any::<f64>().prop_map(OptionValue::Float),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(OptionValue::Str),
            any::<bool>().prop_map(OptionValue::Bool),
            Just(OptionValue::Other("array")),
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
        fn arbitrary_dsns_parse_or_fail_cleanly(dsn in ".{0,80}") {
            match parse_dsn(&dsn) {
                Ok(endpoint) => prop_assert!(!endpoint.describe().is_empty()),
                Err(e) => prop_assert!(e.is_invalid_argument(), "{e:?}"),
            }
        }

        #[test]
        fn dsn_shaped_inputs_parse_or_fail_cleanly(
            scheme in proptest::sample::select(vec!["redis", "rediss", "unix", "redis+unix", "valkey", "http", ""]),
            user in "[a-z%@:/]{0,8}",
            password in "[A-Za-z0-9%@:/?#]{0,12}",
            host in "[a-z0-9.:\\[\\]-]{0,20}",
            port in "[0-9a-z]{0,7}",
            path in "[/0-9a-z?=&#]{0,12}",
        ) {
            let dsn = format!("{scheme}://{user}:{password}@{host}:{port}{path}");
            match parse_dsn(&dsn) {
                Ok(endpoint) => {
                    prop_assert!(endpoint.database >= 0);
                    if let Some(secret) = endpoint.password.as_deref().filter(|p| p.len() >= 3) {
                        let debug = format!("{endpoint:?}");
                        prop_assert!(!debug.contains(secret));
                        prop_assert!(!endpoint.describe().contains(secret));
                    }
                }
                Err(e) => prop_assert!(e.is_invalid_argument()),
            }
        }

        #[test]
        fn passwords_never_reach_error_messages(
            password in "[A-Za-z0-9]{6,12}",
            tail in proptest::sample::select(vec![":notaport", "/x", ":99999", "?protocol=9", "/-1"]),
        ) {
            let secret = format!("Pw{password}");
            for dsn in [
                format!("redis://user:{secret}@host{tail}"),
                format!("rediss://:{secret}@host{tail}"),
                format!("unix:///s?pass={secret}&db=x{tail}"),
            ] {
                if let Err(e) = parse_dsn(&dsn) {
                    prop_assert!(!e.to_string().contains(&secret), "{}", e);
                }
            }
        }

        #[test]
        fn arbitrary_options_apply_or_fail_cleanly(
            options in proptest::collection::vec((option_name(), option_value()), 0..6)
        ) {
            let result = Config::parse(
                "redis://127.0.0.1:6379",
                options.iter().map(|(n, v)| (n.as_str(), v.clone())),
            );
            match result {
                Ok(c) => {
                    prop_assert!(c.endpoint.connect_timeout >= Duration::from_millis(1));
                    prop_assert!(c.endpoint.read_timeout <= MAX_TIMEOUT);
                    prop_assert!(c.endpoint.database >= 0);
                    prop_assert!(c.lease.lease_ttl > Duration::ZERO);
                }
                Err(e) => prop_assert!(e.is_invalid_argument(), "{e:?}"),
            }
        }
    }
}
