//! DSN parsing, and the masked form of a DSN that may be shown anywhere.
//!
//! The DSN is parsed with the `url` crate and converted by the `redis` crate
//! (`redis::IntoConnectionInfo`), so the URL forms are the ones redis-rs documents:
//! `redis://[user][:password@]host[:port][/db]` and `unix:///path/to/socket?db=N&user=U&pass=P`
//! (also `redis+unix://`, `valkey://`, `valkey+unix://`). `rediss://` and `valkeys://` are the
//! same forms over TLS, with the `ssl` option's defaults (verification on); redis-rs's
//! `#insecure` fragment is ignored like every fragment: verification is the `ssl` option's.
//!
//! What is shown of a DSN (in `var_dump()`, `print_r()` and error messages) is built from its
//! parsed, percent-decoded parts, never from its text: a credential hidden behind an encoding
//! (`?p%61ss=secret`, `%75ser`, `+`) is masked like a plain one. A DSN that is invalid shows
//! nothing but its scheme: its parts may be misplaced pieces of a password.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use redis::{ConnectionAddr, IntoConnectionInfo, ProtocolVersion};
use url::Url;

use crate::lock::error::{Error, Result};
use crate::lock::options::{
    Address, ClusterAddress, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, Endpoint,
    SentinelAddress,
};

/// The schemes accepted, each followed by `://` in a DSN (compared case-insensitively).
const SCHEMES: [&str; 5] = ["redis", "valkey", "unix", "redis+unix", "valkey+unix"];
/// TLS schemes, each with the plain scheme redis-rs parses it as (this build of redis-rs has
/// no TLS of its own: the connection's TLS is ours, [`crate::lock::net::tls`]).
const TLS_SCHEMES: [&str; 2] = ["rediss", "valkeys"];
/// The forms named when a DSN has no accepted scheme.
const EXPECTED_FORMS: &str = "expected redis://[user:password@]host[:port][/db], unix:///path/to/socket, redis+sentinel://host[:port][,host[:port]…]/SERVICE, redis+cluster://host[:port][,host[:port]…] or memory://[NAME]";
/// Query keys shown by name with their value masked (decoded, exact: redis-rs reads `user` and
/// `pass`; the other two are common mistakes worth recognising in a dump).
const CREDENTIAL_KEYS: [&str; 4] = ["user", "username", "pass", "password"];
/// The values of the `protocol` query key that redis-rs understands.
const PROTOCOLS: [&str; 4] = ["2", "resp2", "3", "resp3"];
/// Stands for the hidden part of an invalid DSN.
const HIDDEN: &str = "…";

/// Parses a DSN into an [`Endpoint`] with default timeouts.
///
/// Errors ([`super::ErrorKind::InvalidArgument`]) name the reason and show the DSN's scheme
/// only, never its other parts.
pub fn parse_dsn(dsn: &str) -> Result<Endpoint> {
    parse(dsn).map(|(endpoint, _)| endpoint)
}

/// What may be shown of `dsn`: for a valid DSN, its parts with the user name and password
/// replaced by `***` (`redis://***@h:6379/2`, `unix:///s?db=2&pass=***`);
/// for an invalid one, its scheme only (`redis://…`) or `…`.
pub fn mask_dsn(dsn: &str) -> String {
    match parse(dsn) {
        Ok((_, masked)) => masked,
        Err(_) => scheme_only(scheme_of(dsn)),
    }
}

/// The prefix of in-process memory DSNs (`memory://` and `memory://NAME`).
const MEMORY: &str = "memory://";
/// The longest name of a memory space.
const MEMORY_NAME_MAX: usize = 64;

/// The endpoint of `memory://NAME`: NAME of letters, digits, `_`, `-`, `.` (at most
/// [`MEMORY_NAME_MAX`]), empty for the default space.
fn parse_memory(name: &str) -> Result<(Endpoint, String)> {
    let valid = name.len() <= MEMORY_NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid {
        return Err(Error::invalid(format!(
            "invalid DSN \"memory://…\": a memory space name is at most {MEMORY_NAME_MAX} \
             letters, digits, '_', '-' or '.' (memory:// or memory://NAME)"
        )));
    }
    let endpoint = Endpoint {
        address: Address::Memory(name.to_owned()),
        username: None,
        password: None,
        database: 0,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        read_timeout: DEFAULT_READ_TIMEOUT,
    };
    Ok((endpoint, format!("{MEMORY}{name}")))
}

/// Sentinel schemes (`redis+sentinel://`, `valkey+sentinel://`).
const SENTINEL_SCHEMES: [&str; 2] = ["redis+sentinel", "valkey+sentinel"];
/// Sentinel schemes with TLS to the sentinels and to the master, under the `ssl` option.
const SENTINEL_TLS_SCHEMES: [&str; 2] = ["rediss+sentinel", "valkeys+sentinel"];
/// The port a sentinel listens on when none is given.
const SENTINEL_PORT: u16 = 26379;
/// The query keys of a Sentinel DSN: the sentinels' own credentials, and the database.
const SENTINEL_QUERY_KEYS: [&str; 3] = ["sentinelUsername", "sentinelPassword", "db"];

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `redis+sentinel://[user:pass@]host1[:port1][,host2[:port2]…]/SERVICE[/db]
/// [?sentinelUsername=U&sentinelPassword=P&db=N]`: the user and password are the master's,
/// the query's are the sentinels'. With `tls` (`rediss+sentinel://`), every connection (to the
/// sentinels and to the master) is TLS with the `ssl` option's defaults (verification on).
fn parse_sentinel(scheme: &'static str, rest: &str, tls: bool) -> Result<(Endpoint, String)> {
    let invalid = |why: &str| invalid_dsn(Some(scheme), why);
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    if rest.contains('#') {
        // A fragment would cut the user info short and show part of a password: refused.
        return Err(invalid(
            "a '#' in the user name or password must be percent-encoded",
        ));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (hosts, username, password) = split_userinfo(authority, &invalid)?;
    let sentinels = parse_hosts(hosts, SENTINEL_PORT, "sentinel", &invalid)?;
    if sentinels.len() > 64 {
        return Err(invalid("at most 64 sentinels"));
    }
    let mut parts = path.split('/');
    let service = parts
        .next()
        .and_then(percent_decode)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("the service name is missing (…/SERVICE[/db])"))?;
    let mut database = 0;
    match (parts.next(), parts.next()) {
        (None | Some(""), None) => {}
        (Some(db), None) => {
            database = db
                .parse::<i64>()
                .ok()
                .filter(|db| *db >= 0)
                .ok_or_else(|| invalid("the database number must be 0 or greater"))?;
        }
        _ => return Err(invalid("the path is /SERVICE or /SERVICE/db")),
    }
    let (mut sentinel_username, mut sentinel_password) = (None, None);
    // Percent-decoding only (`+` is a plus sign, as in the user info), never form decoding.
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)
            .ok_or_else(|| invalid("a query value is not valid percent-encoded UTF-8"))?;
        match key {
            "sentinelUsername" => sentinel_username = Some(value),
            "sentinelPassword" => sentinel_password = Some(value),
            "db" => {
                database = value
                    .parse::<i64>()
                    .ok()
                    .filter(|db| *db >= 0)
                    .ok_or_else(|| invalid("the database number must be 0 or greater"))?;
            }
            _ => {
                return Err(invalid(&format!(
                    "unknown query parameter; a Sentinel DSN takes {}",
                    SENTINEL_QUERY_KEYS.join(", ")
                )));
            }
        }
    }
    let address = SentinelAddress {
        sentinels,
        service,
        username: sentinel_username,
        password: sentinel_password,
        tls: tls.then(Arc::default),
    };
    let mut masked = format!("{scheme}://");
    if username.is_some() || password.is_some() {
        masked.push_str("***@");
    }
    masked.push_str(&address.describe_sentinels());
    masked.push('/');
    masked.push_str(&address.service);
    masked.push('/');
    masked.push_str(&database.to_string());
    if address.username.is_some() || address.password.is_some() {
        let mut pairs = Vec::new();
        if address.username.is_some() {
            pairs.push("sentinelUsername=***");
        }
        if address.password.is_some() {
            pairs.push("sentinelPassword=***");
        }
        masked.push('?');
        masked.push_str(&pairs.join("&"));
    }
    let endpoint = Endpoint {
        address: Address::Sentinel(address),
        username,
        password,
        database,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        read_timeout: DEFAULT_READ_TIMEOUT,
    };
    Ok((endpoint, masked))
}

/// Cluster schemes: plain, then TLS (`rediss+cluster://`).
const CLUSTER_SCHEMES: [(&str, bool); 4] = [
    ("redis+cluster", false),
    ("valkey+cluster", false),
    ("rediss+cluster", true),
    ("valkeys+cluster", true),
];
/// The port a cluster node listens on when none is given.
const CLUSTER_PORT: u16 = 6379;
/// The most seed nodes a cluster DSN may list.
const MAX_SEEDS: usize = 64;

/// Splits `[user[:password]@]hosts` into the hosts and the percent-decoded user name and
/// password (`None` when empty).
fn split_userinfo<'a>(
    authority: &'a str,
    invalid: &dyn Fn(&str) -> Error,
) -> Result<(&'a str, Option<String>, Option<String>)> {
    let Some((userinfo, hosts)) = authority.rsplit_once('@') else {
        return Ok((authority, None, None));
    };
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |part: &str, what: &str| {
        percent_decode(part)
            .ok_or_else(|| invalid(&format!("the {what} is not valid percent-encoded UTF-8")))
    };
    let user = decode(user, "user name")?;
    let pass = decode(pass, "password")?;
    Ok((
        hosts,
        (!user.is_empty()).then_some(user),
        (!pass.is_empty()).then_some(pass),
    ))
}

/// Parses `h1[:p1][,h2[:p2]…]` (IPv6 in brackets), `default_port` where none is given.
fn parse_hosts(
    hosts: &str,
    default_port: u16,
    what: &str,
    invalid: &dyn Fn(&str) -> Error,
) -> Result<Vec<(String, u16)>> {
    let mut out = Vec::new();
    for host in hosts.split(',') {
        let (name, port) = if let Some(v6) = host.strip_prefix('[') {
            let (name, tail) = v6
                .split_once(']')
                .ok_or_else(|| invalid("an IPv6 address is missing its closing bracket"))?;
            (name, tail.strip_prefix(':'))
        } else {
            match host.rsplit_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (host, None),
            }
        };
        if name.is_empty() {
            return Err(invalid(&format!("a {what}'s host name is missing")));
        }
        let port = match port {
            None => default_port,
            Some(port) => port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                invalid(&format!("a {what}'s port is not a number from 1 to 65535"))
            })?,
        };
        out.push((name.to_owned(), port));
    }
    Ok(out)
}

/// Parses `redis+cluster://[user:pass@]host1[:port1][,host2[:port2]…][/0]`: seed nodes (any
/// node of the cluster, masters or replicas) and the credentials every node takes. Redis
/// Cluster has database 0 only.
fn parse_cluster(scheme: &'static str, tls: bool, rest: &str) -> Result<(Endpoint, String)> {
    let invalid = |why: &str| invalid_dsn(Some(scheme), why);
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    if query.is_some_and(|q| !q.is_empty()) {
        return Err(invalid(
            "a cluster DSN takes no query parameters (options go in the options array)",
        ));
    }
    if rest.contains('#') {
        // A fragment would cut the user info short and show part of a password: refused.
        return Err(invalid(
            "a '#' in the user name or password must be percent-encoded",
        ));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !matches!(path, "" | "0") {
        return Err(invalid(
            "Redis Cluster has database 0 only: the path is empty or /0",
        ));
    }
    let (hosts, username, password) = split_userinfo(authority, &invalid)?;
    let seeds = parse_hosts(hosts, CLUSTER_PORT, "seed node", &invalid)?;
    if seeds.len() > MAX_SEEDS {
        return Err(invalid(&format!("at most {MAX_SEEDS} seed nodes")));
    }
    let address = ClusterAddress {
        seeds,
        tls: tls.then(Arc::default),
    };
    let mut masked = format!("{scheme}://");
    if username.is_some() || password.is_some() {
        masked.push_str("***@");
    }
    masked.push_str(&address.describe_seeds());
    let endpoint = Endpoint {
        address: Address::Cluster(address),
        username,
        password,
        database: 0,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        read_timeout: DEFAULT_READ_TIMEOUT,
    };
    Ok((endpoint, masked))
}

/// Parses `dsn` into its endpoint and its masked form.
fn parse(dsn: &str) -> Result<(Endpoint, String)> {
    if dsn.is_empty() {
        return Err(Error::invalid(
            "the DSN must not be empty; expected e.g. redis://127.0.0.1:6379",
        ));
    }
    if let Some(name) = dsn
        .get(..MEMORY.len())
        .filter(|head| head.eq_ignore_ascii_case(MEMORY))
        .map(|_| &dsn[MEMORY.len()..])
    {
        return parse_memory(name);
    }
    for scheme in SENTINEL_SCHEMES.iter().chain(&SENTINEL_TLS_SCHEMES) {
        let head = format!("{scheme}://");
        if dsn
            .get(..head.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(&head))
        {
            let tls = SENTINEL_TLS_SCHEMES.contains(scheme);
            return parse_sentinel(scheme, &dsn[head.len()..], tls);
        }
    }
    for (scheme, tls) in CLUSTER_SCHEMES {
        let head = format!("{scheme}://");
        if dsn
            .get(..head.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(&head))
        {
            return parse_cluster(scheme, tls, &dsn[head.len()..]);
        }
    }
    let scheme = scheme_of(dsn);
    let invalid = |why: &str| invalid_dsn(scheme, why);
    let Some(scheme_name) = scheme else {
        return Err(invalid(&format!("no supported scheme; {EXPECTED_FORMS}")));
    };
    let mut url = Url::parse(dsn).map_err(|e| invalid(&format!("not a valid URL: {e}")))?;
    let masked = mask_url(&url);
    let tls = TLS_SCHEMES.contains(&scheme_name);
    if tls {
        // "rediss" -> "redis": both are non-special schemes, so the URL keeps its form.
        url.set_scheme(&scheme_name[..scheme_name.len() - 1])
            .map_err(|()| invalid("not a valid URL"))?;
    }
    let mut endpoint = to_endpoint(url).map_err(|why| invalid(&why))?;
    if tls {
        let Address::Tcp { host, port } = endpoint.address else {
            return Err(invalid("missing host name"));
        };
        endpoint.address = Address::Tls {
            host,
            port,
            tls: Arc::default(),
        };
    }
    Ok((endpoint, masked))
}

/// The endpoint redis-rs reads from `url`, or why it cannot be used.
fn to_endpoint(url: Url) -> std::result::Result<Endpoint, String> {
    let info = url.into_connection_info().map_err(|e| redis_reason(&e))?;
    let settings = info.redis_settings();
    if settings.protocol() != ProtocolVersion::RESP2 {
        return Err("only RESP2 is supported; remove the protocol parameter".into());
    }
    let address = match info.addr() {
        ConnectionAddr::Tcp(host, _) if host.is_empty() => return Err("missing host name".into()),
        ConnectionAddr::Tcp(host, port) => Address::Tcp {
            host: host.clone(),
            port: *port,
        },
        ConnectionAddr::Unix(path) => Address::Unix(path.clone()),
        _ => return Err("unsupported address type".into()),
    };
    if settings.db() < 0 {
        return Err("the database number must be 0 or greater".into());
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

/// The accepted or TLS scheme `dsn` starts with (followed by `://`), as a constant: what an
/// error may quote of a DSN.
fn scheme_of(dsn: &str) -> Option<&'static str> {
    SCHEMES.iter().chain(&TLS_SCHEMES).copied().find(|scheme| {
        let (head, tail) = (dsn.get(..scheme.len()), dsn.get(scheme.len()..));
        head.is_some_and(|head| head.eq_ignore_ascii_case(scheme))
            && tail.is_some_and(|tail| tail.starts_with("://"))
    })
}

/// `redis://…` for a known scheme, `…` otherwise.
fn scheme_only(scheme: Option<&str>) -> String {
    match scheme {
        Some(scheme) => format!("{scheme}://{HIDDEN}"),
        None => HIDDEN.to_owned(),
    }
}

/// The error for an invalid DSN: the reason, and the scheme when it is a known one.
fn invalid_dsn(scheme: Option<&str>, why: &str) -> Error {
    match scheme {
        Some(_) => Error::invalid(format!("invalid DSN \"{}\": {why}", scheme_only(scheme))),
        None => Error::invalid(format!("invalid DSN: {why}")),
    }
}

/// The reason a redis-rs parse error gives ("Invalid database number"), without its kind and
/// detail (the detail may quote a query value).
fn redis_reason(e: &redis::RedisError) -> String {
    let text = e.to_string();
    text.split(" - ").next().unwrap_or(&text).to_owned()
}

/// The masked form of a parsed DSN, from its decoded parts: scheme, `***@` when there is any
/// user name or password, host, port, path, and the query pairs through [`mask_pair`]. The
/// fragment is left out (redis-rs ignores it; it may be the tail of a password with a `#`).
fn mask_url(url: &Url) -> String {
    let mut masked = format!("{}://", url.scheme());
    if !url.username().is_empty() || url.password().is_some() {
        masked.push_str("***@");
    }
    masked.push_str(url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        masked.push_str(&format!(":{port}"));
    }
    masked.push_str(url.path());
    let pairs: Vec<String> = url
        .query_pairs()
        .map(|(key, value)| mask_pair(&key, &value))
        .collect();
    if !pairs.is_empty() {
        masked.push('?');
        masked.push_str(&pairs.join("&"));
    }
    masked
}

/// One decoded query pair as shown: `db=2` and `protocol=2` keep a value of their form, a
/// credential key keeps its name (`pass=***`), any other pair is `***` (its key may be the
/// piece of a password after an unencoded `&`).
fn mask_pair(key: &str, value: &str) -> String {
    match key {
        "db" if value.parse::<i64>().is_ok() => format!("db={value}"),
        "protocol" if PROTOCOLS.contains(&value) => format!("protocol={value}"),
        "db" | "protocol" => format!("{key}=***"),
        _ if CREDENTIAL_KEYS.contains(&key) => format!("{key}=***"),
        _ => "***".to_owned(),
    }
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
pub(super) fn parse_dsn_cached(dsn: &str) -> Result<(Endpoint, String)> {
    let cache = DSN_CACHE.get_or_init(Default::default);
    if let Some(hit) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(dsn)
    {
        return Ok(hit.clone());
    }
    let parsed = parse(dsn)?;
    let mut map = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if map.len() < DSN_CACHE_LIMIT {
        map.insert(dsn.to_owned(), parsed.clone());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::options::{Config, DEFAULT_CONNECT_TIMEOUT, TlsOptions};

    #[test]
    fn sentinel_dsns() {
        let (e, masked) = parse(
            "redis+sentinel://u%40x:p%3Aw@s1:26380,[::1],s3/my%20master/2?sentinelPassword=sp&sentinelUsername=su",
        )
        .unwrap();
        let Address::Sentinel(s) = &e.address else {
            panic!("not a sentinel address");
        };
        assert_eq!(
            s.sentinels,
            vec![
                ("s1".to_owned(), 26380),
                ("::1".to_owned(), 26379),
                ("s3".to_owned(), 26379)
            ]
        );
        assert_eq!(s.service, "my master");
        assert_eq!(s.username.as_deref(), Some("su"));
        assert_eq!(s.password.as_deref(), Some("sp"));
        assert_eq!(e.username.as_deref(), Some("u@x"));
        assert_eq!(e.password.as_deref(), Some("p:w"));
        assert_eq!(e.database, 2);
        assert_eq!(
            masked,
            "redis+sentinel://***@s1:26380,[::1]:26379,s3:26379/my master/2?sentinelUsername=***&sentinelPassword=***"
        );
        assert!(!format!("{e:?}").contains("sp"));
        assert_eq!(
            e.describe(),
            "sentinel service my master via s1:26380,[::1]:26379,s3:26379 db 2"
        );
        let (e, _) = parse("VALKEY+SENTINEL://h/svc?db=4&sentinelPassword=a+b%26c").unwrap();
        assert_eq!(e.database, 4);
        let Address::Sentinel(s) = &e.address else {
            panic!("not a sentinel address");
        };
        assert_eq!(s.password.as_deref(), Some("a+b&c"), "+ is a plus sign");
        for (dsn, why) in [
            ("redis+sentinel://h", "the service name is missing"),
            ("redis+sentinel://h/", "the service name is missing"),
            ("redis+sentinel:///svc", "a sentinel's host name is missing"),
            (
                "redis+sentinel://h:0/svc",
                "a sentinel's port is not a number",
            ),
            (
                "redis+sentinel://h:x/svc",
                "a sentinel's port is not a number",
            ),
            (
                "redis+sentinel://h,/svc",
                "a sentinel's host name is missing",
            ),
            ("redis+sentinel://[::1/svc", "closing bracket"),
            (
                "redis+sentinel://h/svc/x",
                "the database number must be 0 or greater",
            ),
            (
                "redis+sentinel://h/svc/1/2",
                "the path is /SERVICE or /SERVICE/db",
            ),
            (
                "redis+sentinel://h/svc?password=pw",
                "unknown query parameter",
            ),
            ("redis+sentinel://u:%zz@h/svc", "not valid percent-encoded"),
            ("rediss+sentinel://h/svc/x", "the database number must be"),
            // An unencoded '#' in the password would cut the user info short (review finding).
            (
                "redis+sentinel://u:pw#7@h/svc",
                "a '#' in the user name or password must be percent-encoded",
            ),
            (
                "redis+cluster://u:pw#7@h",
                "a '#' in the user name or password must be percent-encoded",
            ),
            ("redis+cluster://h:1/2", "database 0 only"),
            ("redis+cluster://h?db=0", "no query parameters"),
            ("redis+cluster://:pw@h:0", "port is not a number"),
            ("redis+cluster://pw@,h", "host name is missing"),
        ] {
            let err = parse_dsn(dsn).unwrap_err().to_string();
            assert!(err.contains(why), "{dsn}: {err}");
            assert!(!err.contains("pw") && !err.contains("%zz"), "{dsn}: {err}");
            assert!(!mask_dsn(dsn).contains("pw"), "{dsn}: {}", mask_dsn(dsn));
        }
    }

    #[test]
    fn tls_sentinel_dsns_verify_by_default_and_are_masked() {
        let (e, masked) =
            parse("rediss+sentinel://:p%40w@s1:26380,s2/mymaster?sentinelPassword=sp").unwrap();
        let Address::Sentinel(s) = &e.address else {
            panic!("not a sentinel address");
        };
        let tls = s.tls.as_deref().expect("TLS");
        assert_eq!(tls, &TlsOptions::default(), "verification on by default");
        assert_eq!(e.password.as_deref(), Some("p@w"));
        assert_eq!(
            masked,
            "rediss+sentinel://***@s1:26380,s2:26379/mymaster/0?sentinelPassword=***"
        );
        assert_eq!(
            e.describe(),
            "sentinel service mymaster via tls://s1:26380,s2:26379 db 0"
        );
        let (e, masked) = parse("VALKEYS+SENTINEL://h/svc/3").unwrap();
        assert_eq!(masked, "valkeys+sentinel://h:26379/svc/3");
        assert!(matches!(&e.address, Address::Sentinel(s) if s.tls.is_some()));
        // Same sentinels, with and without TLS: different deployments.
        let plain = parse_dsn("redis+sentinel://h/svc/3").unwrap();
        assert!(matches!(&plain.address, Address::Sentinel(s) if s.tls.is_none()));
        assert!(plain != e);
    }

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
    fn tls_schemes_parse_with_verification_on() {
        for (dsn, host, port) in [
            ("rediss://:pw@redis.example:6380/2", "redis.example", 6380),
            ("valkeys://127.0.0.1", "127.0.0.1", 6379),
            ("REDISS://[::1]:7000", "::1", 7000),
            ("rediss://h:1#insecure", "h", 1),
        ] {
            let e = parse_dsn(dsn).unwrap();
            let Address::Tls {
                host: h,
                port: p,
                tls,
            } = &e.address
            else {
                panic!("{dsn}: not TLS");
            };
            assert_eq!((h.as_str(), *p), (host, port), "{dsn}");
            assert!(tls.verify_peer && tls.verify_peer_name, "{dsn}");
        }
        let e = parse_dsn("rediss://:pw@h:6380/2").unwrap();
        assert_eq!(e.password.as_deref(), Some("pw"));
        assert_eq!(e.database, 2);
        assert_eq!(e.describe(), "tls://h:6380 db 2");
        assert_eq!(
            parse_dsn("rediss://[::1]:1").unwrap().describe(),
            "tls://[::1]:1 db 0"
        );
        assert_eq!(mask_dsn("rediss://u:pw@h:6380/2"), "rediss://***@h:6380/2");
        assert!(parse_dsn("rediss://h").unwrap() != parse_dsn("redis://h").unwrap());
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
            "rediss://h/notadb",
            "valkeys://",
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
            "rediss://:hunter2@h/x",
            "unix:///s?pass=hunter2&protocol=9",
        ] {
            let err = parse_dsn(dsn).unwrap_err();
            assert!(!err.message().contains("hunter2"), "{}", err.message());
        }
        let e = parse_dsn("rediss://u:hunter2@h").unwrap();
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
    fn masked_forms_of_valid_dsns() {
        for (dsn, masked) in [
            (
                "redis://alice:pw@127.0.0.1:6390/2",
                "redis://***@127.0.0.1:6390/2",
            ),
            ("REDIS://:pw@H:6390", "redis://***@H:6390"),
            ("redis://alice@h", "redis://***@h"),
            ("redis://[::1]:7000/", "redis://[::1]:7000/"),
            (
                "redis://h:1/2?protocol=2&pass=pw#pw",
                "redis://h:1/2?protocol=2&pass=***",
            ),
            ("valkey://u:p@h", "valkey://***@h"),
            ("unix:///run/redis.sock", "unix:///run/redis.sock"),
            (
                "unix:///run/redis.sock?db=2&user=u&pass=pw",
                "unix:///run/redis.sock?db=2&user=***&pass=***",
            ),
            (
                "redis+unix:///s?p%61ss=pw&%75ser=u&d%62=3",
                "redis+unix:///s?pass=***&user=***&db=3",
            ),
            (
                "unix:///s?password=pw&PASS=pw&x=pw&pw",
                "unix:///s?password=***&***&***&***",
            ),
            ("unix:///s?db=pw&db=1", "unix:///s?db=***&db=1"),
            (
                "unix:///s?protocol=pw&protocol=resp2",
                "unix:///s?protocol=***&protocol=resp2",
            ),
            ("unix://u:pw@localhost/s", "unix://***@localhost/s"),
        ] {
            assert_eq!(mask_dsn(dsn), masked, "{dsn}");
            let config = Config::parse(dsn, []).unwrap();
            assert_eq!(config.masked_dsn, masked, "{dsn}");
        }
    }

    #[test]
    fn invalid_dsns_show_their_scheme_only() {
        for (dsn, message) in [
            (
                "redis://u:pw@h:notaport",
                "invalid DSN \"redis://…\": not a valid URL: invalid port number",
            ),
            (
                "redis://:pw@h/x",
                "invalid DSN \"redis://…\": Invalid database number",
            ),
            (
                "Unix:///s?pass=pw&db=x",
                "invalid DSN \"unix://…\": Invalid database number",
            ),
            (
                "unix:///s?pass=pw&protocol=pw",
                "invalid DSN \"unix://…\": Invalid protocol version",
            ),
            (
                "unix:///s?p%61ss=pw&protocol=3",
                "invalid DSN \"unix://…\": only RESP2 is supported; remove the protocol parameter",
            ),
            (
                "rediss://:pw@h:pw",
                "invalid DSN \"rediss://…\": not a valid URL: invalid port number",
            ),
            (
                "redis://:pw@h/-1",
                "invalid DSN \"redis://…\": the database number must be 0 or greater",
            ),
            (
                "redis://:pw@",
                "invalid DSN \"redis://…\": not a valid URL: empty host",
            ),
            ("redis:///2", "invalid DSN \"redis://…\": Missing hostname"),
            ("unix://pw/s", "invalid DSN \"unix://…\": Missing path"),
            (
                "pw://u:pw@h",
                "invalid DSN: no supported scheme; expected redis://[user:password@]host[:port][/db], \
                 unix:///path/to/socket, redis+sentinel://host[:port][,host[:port]…]/SERVICE, \
                 redis+cluster://host[:port][,host[:port]…] or memory://[NAME]",
            ),
        ] {
            let err = parse_dsn(dsn).unwrap_err();
            assert_eq!(err.to_string(), message, "{dsn}");
            assert!(!mask_dsn(dsn).contains("pw"), "{dsn}");
        }
        assert_eq!(mask_dsn("redis://h:x"), "redis://…");
        assert_eq!(mask_dsn("127.0.0.1:6379"), "…");
    }

    /// Issue 7, item 9: the encoded key authenticated with the secret and showed it.
    #[test]
    fn an_encoded_query_key_is_masked() {
        let dsn = "unix:///run/redis.sock?p%61ss=Secret";
        let config = Config::parse(dsn, []).unwrap();
        assert_eq!(config.endpoint.password.as_deref(), Some("Secret"));
        assert_eq!(config.masked_dsn, "unix:///run/redis.sock?pass=***");
        assert!(!format!("{config:?}").contains("Secret"));
        let err = parse_dsn("unix:///run/redis.sock?p%61ss=Secret&db=x").unwrap_err();
        assert!(!err.to_string().contains("Secret"), "{err}");
    }
}

#[cfg(test)]
mod fuzz {
    //! Property tests: any input to the DSN parser gives an endpoint or a clean error, never a
    //! panic; no encoding of a secret gets it into a message or a dump.

    use proptest::prelude::*;

    use super::*;
    use crate::lock::options::Config;

    /// Letters that occur in no DSN skeleton, message or dump made here: any of them in an
    /// output is a piece of a secret.
    const MARKERS: &str = "GHJKQWXYZ";
    /// Characters that may be written raw or percent-encoded in a user name, password or query
    /// value.
    const FREE: &str = "GHJKQWXYZé-._~!$'()*,;";
    /// Characters that change a DSN's structure unless percent-encoded: always encoded.
    const STRUCTURAL: &str = "@:/?#&=%+[] \"";
    /// Suffixes that make many DSNs invalid.
    const JUNK: [&str; 9] = [
        "",
        ":notaport",
        "/x",
        "?db=x",
        "/-1",
        "&db=x",
        "&protocol=9",
        "#frag",
        ":99999",
    ];

    /// How one character is written: raw (if allowed), `%4A` or `%4a`.
    #[derive(Clone, Copy, Debug)]
    enum Enc {
        Raw,
        Upper,
        Lower,
    }

    fn enc() -> impl Strategy<Value = Enc> {
        prop_oneof![Just(Enc::Raw), Just(Enc::Upper), Just(Enc::Lower)]
    }

    /// A secret of 6 to 16 characters that starts and ends with a marker.
    fn secret() -> impl Strategy<Value = String> {
        let all: Vec<char> = MARKERS
            .chars()
            .chain(FREE.chars())
            .chain(STRUCTURAL.chars())
            .collect();
        let markers: Vec<char> = MARKERS.chars().collect();
        (
            proptest::sample::select(markers.clone()),
            proptest::collection::vec(proptest::sample::select(all), 4..15),
            proptest::sample::select(markers),
        )
            .prop_map(|(first, middle, last)| {
                std::iter::once(first).chain(middle).chain([last]).collect()
            })
    }

    /// `text` with each character written as `encodings` says (cycled); structural characters
    /// are always encoded.
    fn encode(text: &str, encodings: &[Enc]) -> String {
        let mut out = String::new();
        for (c, how) in text.chars().zip(encodings.iter().cycle()) {
            let how = match how {
                Enc::Raw if STRUCTURAL.contains(c) => Enc::Upper,
                other => *other,
            };
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                match how {
                    Enc::Raw => out.push(c),
                    Enc::Upper => out.push_str(&format!("%{byte:02X}")),
                    Enc::Lower => out.push_str(&format!("%{byte:02x}")),
                }
                if let Enc::Raw = how {
                    break;
                }
            }
        }
        out
    }

    /// A credential query key, the case of some letters changed, then encoded: the key as
    /// decoded and as written.
    fn key() -> impl Strategy<Value = (String, String)> {
        (
            proptest::sample::select(vec!["pass", "password", "user", "username"]),
            proptest::collection::vec(proptest::bool::weighted(0.15), 8),
            proptest::collection::vec(enc(), 1..9),
        )
            .prop_map(|(name, upper, encodings)| {
                let cased: String = name
                    .chars()
                    .zip(upper)
                    .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect();
                let written = encode(&cased, &encodings);
                (cased, written)
            })
    }

    /// A DSN carrying a secret: `(dsn, written)` where `written` are the secret's encoded forms
    /// as they appear in the DSN, and whether redis-rs should read it as the password.
    #[derive(Debug)]
    struct Placed {
        dsn: String,
        written: Vec<String>,
        is_password: bool,
    }

    /// Where the secret goes: 0 the password of `redis://`, 1 the user of `redis://`, 2 both,
    /// 3 query pairs of `unix://`, 4 query pairs of `redis://`, 5 the userinfo of `unix://`,
    /// 6 the master's password of `rediss+sentinel://`, 7 the sentinels' user and password
    /// (query) of `rediss+sentinel://`, 8 the nodes' password of `rediss+cluster://`, 9 the
    /// nodes' user and password of `redis+cluster://`.
    fn place(
        secret: &str,
        at: u8,
        keys: &[(String, String)],
        encodings: &[Vec<Enc>],
        db_first: bool,
        junk: &str,
    ) -> Placed {
        let written: Vec<String> = encodings.iter().map(|e| encode(secret, e)).collect();
        let pairs: Vec<String> = keys
            .iter()
            .zip(written.iter().cycle())
            .map(|((_, key), value)| format!("{key}={value}"))
            .collect();
        let mut query = pairs.join("&");
        if db_first {
            query = format!("db=2&{query}");
        }
        let (w0, w1) = (&written[0], &written[written.len() - 1]);
        let dsn = match at {
            0 => format!("redis://alice:{w0}@127.0.0.1:6390/2{junk}"),
            1 => format!("redis://{w0}@127.0.0.1:6390{junk}"),
            2 => format!("redis://{w0}:{w1}@127.0.0.1{junk}"),
            3 => format!("unix:///run/redis.sock?{query}{junk}"),
            4 => format!("redis://127.0.0.1:6390/1?{query}{junk}"),
            5 => format!("unix://{w0}:{w1}@localhost/run/redis.sock?db=1{junk}"),
            6 => format!("rediss+sentinel://alice:{w0}@127.0.0.1:26390,[::1]/mymaster/2{junk}"),
            8 => format!("rediss+cluster://alice:{w0}@127.0.0.1:7000,[::1]:7001{junk}"),
            9 => format!("redis+cluster://{w0}:{w1}@127.0.0.1,10.0.0.2:7002/0{junk}"),
            _ => format!(
                "rediss+sentinel://127.0.0.1/mymaster?sentinelUsername={w0}&sentinelPassword={w1}{junk}"
            ),
        };
        let is_password = match at {
            0 | 2 | 6 | 8 => true,
            // Junk such as `:notaport` lengthens the last value.
            3 => {
                keys.iter().any(|(decoded, _)| decoded == "pass")
                    && !junk.starts_with([':', '/', '?'])
            }
            _ => false,
        };
        Placed {
            dsn,
            written,
            is_password,
        }
    }

    /// Everything that shows a DSN or what was parsed from it.
    fn outputs(dsn: &str) -> (Vec<String>, Option<Endpoint>) {
        let mut shown = vec![mask_dsn(dsn)];
        match Config::parse(dsn, []) {
            Ok(config) => {
                shown.push(config.masked_dsn.clone());
                shown.push(format!("{config:?}"));
                shown.push(format!("{:?}", config.endpoint));
                shown.push(config.endpoint.describe());
                (shown, Some(config.endpoint))
            }
            Err(e) => {
                shown.push(e.to_string());
                shown.push(format!("{e:?}"));
                (shown, None)
            }
        }
    }

    /// Whether an error message is one of the fixed texts: nothing of the DSN but its scheme.
    fn is_fixed_message(message: &str) -> bool {
        const REASONS: [&str; 25] = [
            "a memory space name is at most 64 letters, digits, '_', '-' or '.' (memory:// or memory://NAME)",
            "the DSN must not be empty; expected e.g. redis://127.0.0.1:6379",
            "no supported scheme; expected redis://[user:password@]host[:port][/db], unix:///path/to/socket, redis+sentinel://host[:port][,host[:port]…]/SERVICE, redis+cluster://host[:port][,host[:port]…] or memory://[NAME]",
            "not a valid URL: empty host",
            "not a valid URL: invalid international domain name",
            "not a valid URL: invalid port number",
            "not a valid URL: invalid IPv4 address",
            "not a valid URL: invalid IPv6 address",
            "not a valid URL: invalid domain character",
            "not a valid URL: relative URL without a base",
            "not a valid URL: relative URL with a cannot-be-a-base base",
            "not a valid URL: a cannot-be-a-base URL doesn’t have a host to set",
            "not a valid URL: URLs more than 4 GB are not supported",
            "Missing hostname",
            "Cannot connect to a wildcard address (0.0.0.0 or ::)",
            "Invalid database number",
            "Username is not valid UTF-8 string",
            "Password is not valid UTF-8 string",
            "Invalid protocol version",
            "Missing path",
            "only RESP2 is supported; remove the protocol parameter",
            "missing host name",
            "unsupported address type",
            "the database number must be 0 or greater",
            "can't connect with TLS, the feature is not enabled",
        ];
        let reason = SCHEMES
            .iter()
            .chain(&TLS_SCHEMES)
            .chain(&["memory"])
            .find_map(|s| message.strip_prefix(&format!("invalid DSN \"{s}://…\": ")))
            .or_else(|| message.strip_prefix("invalid DSN: "))
            .unwrap_or(message);
        REASONS.contains(&reason)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_dsns_parse_or_fail_cleanly(dsn in ".{0,80}") {
            match parse_dsn(&dsn) {
                Ok(endpoint) => prop_assert!(!endpoint.describe().is_empty()),
                Err(e) => {
                    prop_assert!(e.is_invalid_argument(), "{e:?}");
                    prop_assert!(is_fixed_message(e.message()), "{e}");
                }
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
                        prop_assert!(!mask_dsn(&dsn).contains(secret));
                    }
                }
                Err(e) => {
                    prop_assert!(e.is_invalid_argument());
                    prop_assert!(is_fixed_message(e.message()), "{e}");
                }
            }
        }

        /// Issue 7, item 9: a secret in the userinfo or in query values, any of its characters
        /// percent-encoded (upper or lower hex), under keys with encoded characters and changed
        /// case, repeated, with junk that makes the DSN invalid: neither the secret nor any
        /// encoded form of it nor any piece with a marker letter or a `%` reaches a message,
        /// the masked DSN, `Config`'s or `Endpoint`'s `Debug`, or `describe()`.
        #[test]
        fn secrets_are_never_shown_whatever_their_encoding(
            secret in secret(),
            at in 0u8..10,
            keys in proptest::collection::vec(key(), 1..4),
            encodings in proptest::collection::vec(proptest::collection::vec(enc(), 1..17), 1..4),
            db_first in any::<bool>(),
            junk in proptest::sample::select(JUNK.to_vec()),
        ) {
            let placed = place(&secret, at, &keys, &encodings, db_first, junk);
            let every_enc = |e: Enc| encode(&secret, &[e]);
            let mut forbidden = placed.written.clone();
            forbidden.extend([secret.clone(), every_enc(Enc::Upper), every_enc(Enc::Lower)]);
            let (shown, endpoint) = outputs(&placed.dsn);
            for text in &shown {
                for form in &forbidden {
                    prop_assert!(!text.contains(form.as_str()), "{form} in {text} ({placed:?})");
                }
                prop_assert!(!text.contains(|c| MARKERS.contains(c) || c == '%'), "{text} ({placed:?})");
            }
            if let Some(endpoint) = endpoint.filter(|_| placed.is_password) {
                // The DSN is what it claims to be: the secret authenticates.
                prop_assert_eq!(endpoint.password.as_deref(), Some(secret.as_str()), "{:?}", placed);
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
    }
}
