//! Redis Cluster: each slot's commands go straight to the master that serves it, on the same
//! lean RESP path as a single server.
//!
//! - **Slot map.** Learned from any reachable node (a seed of the DSN, even a replica, or a
//!   master already known) with `CLUSTER SHARDS`, or `CLUSTER SLOTS` on servers without it
//!   ([`slots`]), each node given [`DISCOVERY_TIMEOUT`] at most, all within the call's connect
//!   timeout. Cached per process (per seeds and credentials): a new object asks no node.
//! - **Redirects** ([`redirect`]): `MOVED` patches the map and the command goes to the new
//!   node (and the whole map is learned again before the next command); `ASK` sends `ASKING`
//!   and the command to the importing node in one write (also the `EVAL` that follows a
//!   `NOSCRIPT` there); `TRYAGAIN` waits a few jittered milliseconds; `CLUSTERDOWN` learns the
//!   map again after a pause. At most [`MAX_REDIRECTS`] redirects per call, all within the
//!   call's connect timeout counted from the first redirect: none of these replies means the
//!   command ran, so sending it elsewhere is safe.
//! - **Failures.** A node that cannot be reached before the command was sent (killed, failing
//!   over) makes the map be learned again and the command sent to the slot's master then,
//!   until the connect timeout. A connection lost or a timeout after sending is returned as it
//!   is (the command may have run; the registry's resend rules apply), and the map is learned
//!   again before the next command.
//! - **Connections.** One per master per process, from the process registry
//!   ([`crate::lock::net::registry`]): sockets are bounded by the number of masters.

pub mod redirect;
pub mod slots;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::lock::error::{Error, ErrorKind, Result};
use crate::lock::net::connection::{Connection, Timeouts};
use crate::lock::net::registry::{self, Resend, ServerKey, Shared, unknown_outcome};
use crate::lock::options::{ClusterAddress, Endpoint, host_port};
use crate::lock::protocol::resp;

use redirect::Redirect;
use slots::{Range, SlotMap};

/// The longest one node is given to send its slot map.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_millis(500);
/// The most redirects (`MOVED`, `ASK`) one call follows.
pub const MAX_REDIRECTS: usize = 5;
/// The pause before asking again while the cluster fails over or is down.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause after `TRYAGAIN` (a random part of it: 5 ms and up).
const TRYAGAIN_PAUSE: Duration = Duration::from_millis(25);
/// A stale map is learned again at most this often.
const REFRESH_GAP: Duration = Duration::from_millis(100);
/// How many clusters the process keeps maps of before it forgets those no object uses.
const STATE_LIMIT: usize = 16;

/// What this process knows of one cluster: its slot map, shared by every object of the same
/// seeds and credentials (or one object's own, for a background thread).
struct State {
    map: Mutex<Option<Arc<SlotMap>>>,
    /// Set when the map is known to be out of date (a redirect, a node lost).
    stale: AtomicBool,
    /// When the map was last learned (or tried).
    refreshed: Mutex<Option<Instant>>,
    /// Set once a node has shown it does not know `SET ... NX GET` (Redis < 7.0; the nodes of
    /// one cluster run one version, so one flag serves them all).
    legacy_set: AtomicBool,
}

impl State {
    fn new() -> Arc<State> {
        Arc::new(State {
            map: Mutex::new(None),
            stale: AtomicBool::new(false),
            refreshed: Mutex::new(None),
            legacy_set: AtomicBool::new(false),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The per-process state of the cluster `endpoint` describes.
fn shared_state(endpoint: &Endpoint) -> Arc<State> {
    static ALL: OnceLock<Mutex<HashMap<ServerKey, Arc<State>>>> = OnceLock::new();
    let mut all = lock(ALL.get_or_init(Default::default));
    let key = ServerKey::of(endpoint);
    if let Some(state) = all.get(&key) {
        return Arc::clone(state);
    }
    if all.len() >= STATE_LIMIT {
        all.retain(|_, state| Arc::strong_count(state) > 1);
    }
    Arc::clone(all.entry(key).or_insert_with(State::new))
}

/// A Redis Cluster.
pub struct Cluster {
    address: ClusterAddress,
    /// The nodes' user, password and timeouts (their addresses come from the map).
    template: Endpoint,
    /// Connections of its own, not the registry's (a background thread's copy).
    private: bool,
    state: Arc<State>,
}

/// A try that failed: where it went, why, and how many times it was sent.
struct Tried {
    node: Arc<Shared>,
    error: Error,
    sends: usize,
}

/// What one try of a command led to.
enum Next {
    /// Send it (again) to the slot's master.
    Master,
    /// Send it to this node after `ASKING`.
    Asking(Arc<Shared>),
}

impl Cluster {
    /// A cluster topology for `endpoint` (whose address is a [`ClusterAddress`]). No I/O.
    pub fn new(address: ClusterAddress, endpoint: &Endpoint, private: bool) -> Cluster {
        Cluster {
            state: if private {
                State::new()
            } else {
                shared_state(endpoint)
            },
            address,
            template: endpoint.clone(),
            private,
        }
    }

    /// The same cluster over connections of its own.
    pub fn detached(&self) -> Cluster {
        Cluster::new(self.address.clone(), &self.template, true)
    }

    /// The endpoint as configured (its address is the cluster's seeds).
    pub fn endpoint(&self) -> &Endpoint {
        &self.template
    }

    /// The endpoint of the node at `host:port`.
    fn node_endpoint(&self, host: &str, port: u16) -> Endpoint {
        Endpoint {
            address: self.address.node(host, port),
            ..self.template.clone()
        }
    }

    fn connect_state(&self, host: &str, port: u16) -> Arc<Shared> {
        let endpoint = self.node_endpoint(host, port);
        let shared = if self.private {
            registry::private(&endpoint)
        } else {
            registry::shared(&endpoint)
        };
        shared.set_cluster_node();
        shared
    }

    /// The current map, if one was learned.
    #[inline]
    fn map(&self) -> Option<Arc<SlotMap>> {
        lock(&self.state.map).clone()
    }

    /// The connection state of the master serving `slot`, learning the map first when there
    /// is none or it is stale (at most every [`REFRESH_GAP`]).
    fn master(&self, slot: u16, deadline: &mut Deadline) -> Result<Arc<Shared>> {
        if self.state.stale.load(Ordering::Relaxed) {
            let due = lock(&self.state.refreshed).is_none_or(|t| t.elapsed() >= REFRESH_GAP);
            if due {
                // A failed refresh keeps the map it has: its errors show on the command.
                let _ = self.refresh(deadline.get());
            }
        }
        let map = match self.map() {
            Some(map) => map,
            None => self.refresh(deadline.get())?,
        };
        match map.node(slot) {
            Some(node) => Ok(Arc::clone(&node.shared)),
            None => Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "no master of the Redis Cluster at {} serves hash slot {slot} (the \
                     cluster is down or failing over)",
                    self.address.describe_seeds()
                ),
            )),
        }
    }

    /// Learns the slot map from the known masters, then the seeds, until one answers or
    /// `deadline` passes.
    fn refresh(&self, deadline: Instant) -> Result<Arc<SlotMap>> {
        *lock(&self.state.refreshed) = Some(Instant::now());
        let mut candidates: Vec<(String, u16)> = self
            .map()
            .map(|m| m.nodes().iter().map(|n| (n.host.clone(), n.port)).collect())
            .unwrap_or_default();
        for seed in &self.address.seeds {
            if !candidates.contains(seed) {
                candidates.push(seed.clone());
            }
        }
        let mut why = Vec::new();
        let mut refused = 0;
        for (host, port) in &candidates {
            if Instant::now() >= deadline {
                why.push(format!(
                    "{}: not asked (connectTimeout reached)",
                    host_port(host, *port)
                ));
                continue;
            }
            match self.ask(host, *port, deadline) {
                Ok(ranges) if ranges.is_empty() => {
                    why.push(format!(
                        "{}: its cluster has no slot served",
                        host_port(host, *port)
                    ));
                }
                Ok(ranges) => {
                    let old = self.map();
                    let map = Arc::new(SlotMap::new(&ranges, |h, p| {
                        match old.as_ref().and_then(|m| m.find(h, p)) {
                            Some(node) => Arc::clone(&node.shared),
                            None => self.connect_state(h, p),
                        }
                    }));
                    *lock(&self.state.map) = Some(Arc::clone(&map));
                    self.state.stale.store(false, Ordering::Relaxed);
                    return Ok(map);
                }
                Err(e) => {
                    if e.is_refused() {
                        refused += 1;
                    }
                    why.push(format!("{}: {}", host_port(host, *port), e.message()));
                }
            }
        }
        let kind = if refused == candidates.len() {
            ErrorKind::Refused
        } else {
            ErrorKind::Connection
        };
        Err(Error::new(
            kind,
            format!(
                "cannot learn the slot map of the Redis Cluster at {} ({})",
                self.address.describe_seeds(),
                why.join("; ")
            ),
        ))
    }

    /// The slot ranges `host:port` serves its cluster with, on a connection of its own.
    fn ask(&self, host: &str, port: u16, deadline: Instant) -> Result<Vec<Range>> {
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .min(DISCOVERY_TIMEOUT);
        if budget < Duration::from_millis(1) {
            return Err(Error::new(ErrorKind::Timeout, "connectTimeout reached"));
        }
        let started = Instant::now();
        let timeouts = Timeouts {
            connect: budget,
            read: budget,
        };
        let mut conn = Connection::open(&self.node_endpoint(host, port), timeouts)?;
        let left = budget.saturating_sub(started.elapsed());
        if left < Duration::from_millis(1) {
            return Err(Error::new(ErrorKind::Timeout, "no time left to ask"));
        }
        conn.set_read_timeout(left);
        let tls = self.address.tls.is_some();
        resp::command(conn.command_buffer(), &[b"CLUSTER", b"SHARDS"]);
        conn.send()?;
        let shards = conn.read_reply(|reply| slots::parse_shards(&reply, host, tls));
        let ranges = match shards {
            Ok(ranges) => ranges,
            Err(e) if e.message().contains("cluster support disabled") => {
                return Err(Error::new(
                    ErrorKind::Refused,
                    "is not a Redis Cluster node (cluster support disabled): use a redis:// \
                     DSN for a single server",
                ));
            }
            Err(e) if e.is_server_code("ERR") => {
                // Redis < 7.0: CLUSTER SLOTS.
                resp::command(conn.command_buffer(), &[b"CLUSTER", b"SLOTS"]);
                conn.send()?;
                conn.read_reply(|reply| slots::parse_slots(&reply, host))?
            }
            Err(e) => return Err(e),
        };
        ranges.ok_or_else(|| Error::new(ErrorKind::Protocol, "sent a slot map that is not one"))
    }

    /// Marks the map out of date: it is learned again before the next command.
    fn mark_stale(&self) {
        self.state.stale.store(true, Ordering::Relaxed);
    }

    /// Applies a `MOVED`: `slot` is served by `host:port` from now on.
    fn moved(&self, slot: u16, host: &str, port: u16) {
        let mut guard = lock(&self.state.map);
        if let Some(map) = guard.as_ref() {
            let next = map.moved(slot, host, port, |h, p| self.connect_state(h, p));
            *guard = Some(Arc::new(next));
        }
        drop(guard);
        self.mark_stale();
    }

    /// The connection state of `host:port` (an `ASK` target).
    fn node(&self, host: &str, port: u16) -> Arc<Shared> {
        match self.map().as_ref().and_then(|m| m.find(host, port)) {
            Some(node) => Arc::clone(&node.shared),
            None => self.connect_state(host, port),
        }
    }

    /// The master serving `slot` in the cached map, if there is one and it is not stale.
    #[inline]
    pub fn cached_master(&self, slot: u16) -> Option<Arc<Shared>> {
        if self.state.stale.load(Ordering::Relaxed) {
            return None;
        }
        lock(&self.state.map)
            .as_ref()
            .and_then(|map| map.node(slot))
            .map(|node| Arc::clone(&node.shared))
    }

    /// Runs `op` on the master serving `slot` (see the module docs for redirects and
    /// failures).
    pub fn run<R>(
        &self,
        slot: u16,
        timeouts: Timeouts,
        resend: Resend<R>,
        mut op: impl FnMut(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        // The first try on the hot path: the cached map's master, no clock read.
        let Some(node) = self.cached_master(slot) else {
            return self.run_retrying(slot, timeouts, resend, op, None);
        };
        let mut sends = 0;
        let mut redirected = false;
        match node.run(timeouts, resend, |conn| {
            sends += 1;
            let result = op(conn);
            redirected |= conn.take_redirected();
            result
        }) {
            Ok(r) => {
                if redirected {
                    // A redirect kept as one result of a pipeline (a renewal batch): the map is
                    // out of date, learn it before the next command.
                    self.mark_stale();
                }
                Ok(r)
            }
            Err(error) => {
                if redirected {
                    self.mark_stale();
                }
                let tried = Tried { node, error, sends };
                self.run_retrying(slot, timeouts, resend, op, Some(tried))
            }
        }
    }

    /// [`Cluster::run`] after a first try that failed (`tried`) or could not be made: follows
    /// redirects, waits out migrations and failovers, within the connect timeout.
    #[cold]
    fn run_retrying<R>(
        &self,
        slot: u16,
        timeouts: Timeouts,
        resend: Resend<R>,
        mut op: impl FnMut(&mut Connection) -> Result<R>,
        mut tried: Option<Tried>,
    ) -> Result<R> {
        let mut deadline = Deadline::new(timeouts.connect);
        let mut next = Next::Master;
        let mut redirects = 0;
        let mut retries = 0;
        // Set when a try was sent twice by the registry (its connection broke after the first
        // send) and then redirected: the first send may have taken effect, so a later reply
        // proves only what `resend` says.
        let mut uncertain: Option<Error> = None;
        loop {
            let Tried {
                node,
                error: e,
                sends,
            } = match tried.take() {
                Some(tried) => tried,
                None => {
                    let (node, asking) = match next {
                        Next::Master => match self.master(slot, &mut deadline) {
                            Ok(node) => (node, false),
                            Err(e) if !e.is_refused() && deadline.allows(RETRY_PAUSE) => {
                                std::thread::sleep(RETRY_PAUSE);
                                self.mark_stale();
                                continue;
                            }
                            Err(e) => return Err(e),
                        },
                        Next::Asking(ref node) => (Arc::clone(node), true),
                    };
                    let mut sends = 0;
                    let left = deadline.left();
                    let bounded = Timeouts {
                        connect: timeouts.connect.min(left.max(Duration::from_millis(1))),
                        read: timeouts.read,
                    };
                    let mut redirected = false;
                    let result = node.run(bounded, resend, |conn| {
                        sends += 1;
                        conn.set_asking(asking);
                        let result = op(conn);
                        conn.set_asking(false);
                        redirected |= conn.take_redirected();
                        result
                    });
                    match result {
                        Ok(r) => {
                            if redirected {
                                self.mark_stale();
                            }
                            if let (Some(first), Resend::ProvesOnly(proves, what)) =
                                (&uncertain, resend)
                                && !proves(&r)
                            {
                                return Err(unknown_outcome(first, what));
                            }
                            return Ok(r);
                        }
                        Err(error) => {
                            if redirected {
                                self.mark_stale();
                            }
                            Tried { node, error, sends }
                        }
                    }
                }
            };
            next = Next::Master;
            if let Some(redirect) = redirect::parse(&e) {
                if sends > 1 {
                    uncertain.get_or_insert_with(|| e.clone());
                }
                let pause = match redirect {
                    Redirect::Moved { slot, host, port } => {
                        let host = if host.is_empty() {
                            node_host(&node)
                        } else {
                            host
                        };
                        self.moved(slot, &host, port);
                        redirects += 1;
                        None
                    }
                    Redirect::Ask { host, port } => {
                        let host = if host.is_empty() {
                            node_host(&node)
                        } else {
                            host
                        };
                        next = Next::Asking(self.node(&host, port));
                        redirects += 1;
                        None
                    }
                    Redirect::TryAgain => Some(jitter()),
                    Redirect::Down => {
                        self.mark_stale();
                        Some(RETRY_PAUSE)
                    }
                };
                if redirects > MAX_REDIRECTS {
                    let message = format!(
                        "{} (after {MAX_REDIRECTS} redirects; the cluster's slot map keeps \
                         changing)",
                        e.message()
                    );
                    return Err(match e.node() {
                        Some(node) => Error::server(message, node),
                        None => Error::new(ErrorKind::Server, message),
                    });
                }
                match pause {
                    None => continue,
                    Some(pause) if deadline.allows(pause) => {
                        // The redirect limit counts the redirects between two pauses: a
                        // migration may answer ASK then TRYAGAIN until it completes.
                        std::thread::sleep(pause);
                        redirects = 0;
                        continue;
                    }
                    Some(_) => return Err(e),
                }
            }
            let sent = sends > 0;
            if !sent && e.is_connection() && !e.is_refused() {
                // The node could not be reached: it may be failing over. Learn the map again
                // and send the command to the slot's master then.
                self.mark_stale();
                if retries < 20 && deadline.allows(RETRY_PAUSE) {
                    retries += 1;
                    if retries > 1 {
                        std::thread::sleep(RETRY_PAUSE);
                    }
                    continue;
                }
                return Err(e);
            }
            if e.is_connection() || e.is_timeout() {
                self.mark_stale();
            }
            return Err(e);
        }
    }

    /// Identifies the connection serving `slot` (the master's state, or this object while no
    /// map is known).
    pub fn connection_id(&self, slot: u16) -> *const () {
        match self.map().as_ref().and_then(|m| m.node(slot)) {
            Some(node) => Arc::as_ptr(&node.shared).cast(),
            None => (self as *const Cluster).cast(),
        }
    }

    /// Whether the cluster's nodes lack `SET ... NX GET` (false until one shows it).
    pub fn legacy_set(&self) -> bool {
        self.state.legacy_set.load(Ordering::Relaxed)
    }

    /// Remembers that the cluster's nodes reject `SET ... NX GET`.
    pub fn set_legacy_set(&self) {
        self.state.legacy_set.store(true, Ordering::Relaxed);
    }
}

/// The host of the node whose state is `shared`.
fn node_host(shared: &Shared) -> String {
    crate::lock::options::host_of(&shared.endpoint().address)
}

/// The retry deadline of one call: set at the first retry (the first try costs no clock
/// read), the connect timeout from then.
struct Deadline {
    budget: Duration,
    at: Option<Instant>,
}

impl Deadline {
    fn new(budget: Duration) -> Deadline {
        Deadline { budget, at: None }
    }

    fn get(&mut self) -> Instant {
        *self.at.get_or_insert_with(|| Instant::now() + self.budget)
    }

    fn left(&mut self) -> Duration {
        match self.at {
            None => self.budget,
            Some(at) => at.saturating_duration_since(Instant::now()),
        }
    }

    /// Whether a pause of `pause` still leaves time before the deadline.
    fn allows(&mut self, pause: Duration) -> bool {
        Instant::now() + pause < self.get()
    }
}

/// A pause of 5 to [`TRYAGAIN_PAUSE`] milliseconds, different per process and call.
fn jitter() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let span = TRYAGAIN_PAUSE.as_millis() as u32 - 5;
    Duration::from_millis(u64::from(5 + (nanos ^ std::process::id()) % span))
}
