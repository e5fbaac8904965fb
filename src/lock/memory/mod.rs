//! `memory://`: an in-process server for tests, with the semantics of a Redis server running
//! the engine's scripts.
//!
//! It sits where a socket would: a [`Link`] takes the exact bytes the engine writes (RESP
//! commands: `SET … NX GET PX`, `PTTL`, `BLPOP`, `EVALSHA`/`EVAL` of the engine's scripts) and
//! answers in RESP, running each script in Rust ([`scripts`], over [`store`]). So every
//! operation, pipeline and error path of the engine runs unchanged against it, and nothing
//! outside this module knows it exists beyond the address it is reached at.
//!
//! - **Spaces.** `memory://` is the default space, `memory://NAME` another one; each lives for
//!   the process (across the requests of an FPM worker, like a server) until [`reset`].
//! - **One process.** A space belongs to the process that created it. A `pcntl_fork()` child
//!   of a process that used `memory://` gets a registry of its own (never the parent's copy,
//!   whose locks a parent thread may have held at the fork) whose spaces belong to nobody: its
//!   calls fail with a connection error that says why, until [`reset`] in the child gives it
//!   an empty space of its own.
//! - **Clock.** The server clock is the system clock plus the space's offset, which [`advance`]
//!   moves forward (for tests: expire locks without sleeping). It never moves back (not even on
//!   [`reset`]), so fences keep increasing.
//! - **Waits.** Nothing outside the process can release a lock, so a `BLPOP` on an empty list
//!   really sleeps for its timeout (bounded by the call's read timeout), as it would on a
//!   server nobody else talks to: a wait ends when the holder's TTL runs out (also when the
//!   clock is advanced meanwhile, at the next heartbeat), or at its deadline.

pub(crate) mod lua;
pub mod store;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::lock::protocol::resp;
use lua::LuaHost;
use store::Store;

/// One space's state.
struct State {
    store: Store,
    /// Runs the engine's scripts over `store`.
    lua: LuaHost,
    /// Added to the system clock (µs): moved forward by [`advance`].
    offset_us: i64,
}

/// A named space.
pub struct Space {
    /// The process that created it (or reset it last): the only one that may use it.
    owner: AtomicU32,
    state: Mutex<State>,
}

impl State {
    /// The space's clock now (µs), after dropping the keys whose time has come (as due).
    fn now_us(&mut self) -> i64 {
        let now_us = system_us() + self.offset_us;
        self.store.expire_due(now_us.div_euclid(1000));
        now_us
    }

    /// [`State::now_us`] in ms.
    fn now_ms(&mut self) -> i64 {
        self.now_us().div_euclid(1000)
    }
}

impl Space {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The spaces of one process. A `pcntl_fork()` child never touches its parent's registry (a
/// thread of the parent may have held one of its locks at the fork, and that lock would never
/// be released in the child): it makes its own, marked `inherited`, whose spaces belong to
/// nobody until [`reset`] gives them to the child.
struct Registry {
    pid: u32,
    inherited: bool,
    spaces: Mutex<HashMap<String, Arc<Space>>>,
}

static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(std::ptr::null_mut());

/// This process's registry (made on first use, and again in a forked child).
fn registry() -> &'static Registry {
    let pid = crate::lock::net::pid::current();
    let current = REGISTRY.load(Ordering::Acquire);
    // SAFETY: a non-null pointer in REGISTRY comes from Box::into_raw and is never freed.
    if let Some(registry) = unsafe { current.as_ref() }
        && registry.pid == pid
    {
        return registry;
    }
    let fresh = Box::into_raw(Box::new(Registry {
        pid,
        inherited: !current.is_null(),
        spaces: Mutex::new(HashMap::new()),
    }));
    match REGISTRY.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // The parent's registry (if any) is left as it is: the child's copy of its memory.
        // SAFETY: just made from a Box, now owned by REGISTRY forever.
        Ok(_) => unsafe { &*fresh },
        Err(winner) => {
            // Another thread of this process made it first.
            // SAFETY: `fresh` was never shared; `winner` comes from Box::into_raw.
            unsafe {
                drop(Box::from_raw(fresh));
                &*winner
            }
        }
    }
}

/// The space `name` of this process, created (empty) on first use: owned by this process, or
/// by nobody in a forked child until [`reset`].
fn space(name: &str) -> Arc<Space> {
    let registry = registry();
    let mut spaces = registry
        .spaces
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Arc::clone(spaces.entry(name.to_owned()).or_insert_with(|| {
        let owner = if registry.inherited { 0 } else { registry.pid };
        Arc::new(Space {
            owner: AtomicU32::new(owner),
            state: Mutex::new(State {
                store: Store::default(),
                lua: LuaHost::default(),
                offset_us: 0,
            }),
        })
    }))
}

fn system_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Moves the clock of space `name` forward by `by` (for tests). Keys whose TTL runs out by
/// then are gone.
pub fn advance(name: &str, by: Duration) {
    let space = space(name);
    let mut state = space.state();
    state.offset_us = state
        .offset_us
        .saturating_add(by.as_micros().min(i64::MAX as u128) as i64);
}

/// Empties space `name` and gives it to this process (a forked child gets a space of its
/// own). The clock keeps its offset: it never moves back, so a fence handed out after a reset
/// is still above every earlier one. Connections to it stay usable.
pub fn reset(name: &str) {
    let space = space(name);
    let mut state = space.state();
    state.store.clear();
    space
        .owner
        .store(crate::lock::net::pid::current(), Ordering::Release);
}

/// How many keys space `name` holds (for tests of its bounds).
pub fn keys_in(name: &str) -> usize {
    with_store(name, |store, _| store.len())
}

/// Runs `f` on the keys of space `name` at its current time in ms (expired keys dropped
/// first): for tests that look behind the engine's back, as a second connection would.
pub fn with_store<R>(name: &str, f: impl FnOnce(&mut Store, i64) -> R) -> R {
    let space = space(name);
    let mut state = space.state();
    let now_ms = state.now_ms();
    f(&mut state.store, now_ms)
}

/// The documents' two operations on a space, by direct call: what `SET … NX GET PX` (with the
/// acquire script's refresh) and the release script do, without encoding or parsing a command.
/// The hot path of unit tests that take and release locks in a loop; every other operation goes
/// through a [`Link`]. Both reach the same store, and `MemoryContractTest` and the model test
/// check both against Redis.
pub struct Direct {
    /// The space (looked up again when it turns out to belong to another process: after a
    /// fork and a `reset()` in the child, the child's own space).
    space: Mutex<Arc<Space>>,
    name: String,
}

/// Why a direct call failed: the space belongs to another process, or the key holds another
/// type.
pub enum DirectError {
    /// This process is a fork of the space's owner (the message says so).
    Foreign(String),
    /// An error reply, as Redis words it.
    Server(&'static str),
}

impl Direct {
    /// The space `name` for direct calls. No check yet: each call checks the owner.
    pub fn new(name: &str) -> Direct {
        Direct {
            space: Mutex::new(space(name)),
            name: name.to_owned(),
        }
    }

    /// Runs `f` on the space's state at its current time (ms), expired keys swept as due, if
    /// the space belongs to this process.
    fn with_state<R>(
        &self,
        f: impl FnOnce(&mut Store, i64) -> Result<R, DirectError>,
    ) -> Result<R, DirectError> {
        let pid = crate::lock::net::pid::current();
        let mut held = self.space.lock().unwrap_or_else(PoisonError::into_inner);
        if held.owner.load(Ordering::Acquire) != pid {
            let mine = space(&self.name);
            let owner = mine.owner.load(Ordering::Acquire);
            if owner != pid {
                return Err(DirectError::Foreign(foreign_space(&self.name, owner)));
            }
            *held = mine;
        }
        let mut state = held.state();
        let now_ms = state.now_ms();
        f(&mut state.store, now_ms)
    }

    /// Takes `key` for `value` for `ms` if it is free, refreshes its TTL if `value` holds it:
    /// true; false if another value holds it (untouched).
    pub fn acquire(&self, key: &[u8], value: &[u8], ms: i64) -> Result<bool, DirectError> {
        self.with_state(|store, now_ms| {
            match store.get(key, now_ms).map_err(DirectError::Server)? {
                None => {
                    store.set(key, value, Some(ms), now_ms);
                    Ok(true)
                }
                Some(current) if current == value => {
                    store.pexpire(key, ms, now_ms);
                    Ok(true)
                }
                Some(_) => Ok(false),
            }
        })
    }

    /// Deletes `key` and `fence_key` if `value` holds `key`: true; false otherwise (untouched).
    pub fn release(&self, key: &[u8], fence_key: &[u8], value: &[u8]) -> Result<bool, DirectError> {
        self.with_state(|store, now_ms| {
            if store.get(key, now_ms).map_err(DirectError::Server)? != Some(value) {
                return Ok(false);
            }
            store.del(key, now_ms);
            store.del(fence_key, now_ms);
            Ok(true)
        })
    }
}

/// Calls `f` with `parts` joined, on the stack when they fit in 256 bytes.
pub fn with_joined<R>(parts: &[&[u8]], f: impl FnOnce(&[u8]) -> R) -> R {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len <= 256 {
        let mut buf = [0u8; 256];
        let mut at = 0;
        for part in parts {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        f(&buf[..len])
    } else {
        f(&parts.concat())
    }
}

fn foreign_space(name: &str, owner: u32) -> String {
    if owner == 0 {
        return format!(
            "memory://{name} cannot be used here: this process is a pcntl_fork() child of one \
             that used memory://, and in-memory locks are not shared between processes (use a \
             Redis server for that, or RedisLockMemory::reset() to start an empty space in this \
             process)"
        );
    }
    format!(
        "memory://{name} lives in process {owner} only: a pcntl_fork() child cannot use \
         its parent's in-memory locks (they are not shared between processes; use a \
         Redis server for that, or RedisLockMemory::reset() to start an empty space in \
         this process)"
    )
}

/// A connection to a space: what a socket is to a server.
pub struct Link {
    space: Arc<Space>,
    name: String,
    /// Command bytes written; those before `in_pos` have run.
    input: Vec<u8>,
    in_pos: usize,
    /// Reply bytes not yet read, from `out_pos`.
    output: Vec<u8>,
    out_pos: usize,
    /// When the `BLPOP` at the head of `input` times out, once it has started waiting.
    blocked_until: Option<Instant>,
    read_timeout: Duration,
}

impl Link {
    /// Connects to space `name`. Fails when the space belongs to another process (this one is
    /// a fork of it).
    pub fn open(name: &str) -> Result<Link, String> {
        let space = space(name);
        let owner = space.owner.load(Ordering::Acquire);
        if owner != crate::lock::net::pid::current() {
            return Err(foreign_space(name, owner));
        }
        Ok(Link {
            space,
            name: name.to_owned(),
            input: Vec::new(),
            in_pos: 0,
            output: Vec::new(),
            out_pos: 0,
            blocked_until: None,
            read_timeout: Duration::from_secs(1),
        })
    }

    /// Sets how long a read may block (a `BLPOP` sleeps at most this long per read).
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.read_timeout = timeout;
    }

    /// Queues commands.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.space.owner.load(Ordering::Acquire) != crate::lock::net::pid::current() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("memory://{} belongs to another process", self.name),
            ));
        }
        self.input.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// Reads replies, running queued commands as needed.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.output.len() {
                let n = buf.len().min(self.output.len() - self.out_pos);
                buf[..n].copy_from_slice(&self.output[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                if self.out_pos == self.output.len() {
                    self.output.clear();
                    self.out_pos = 0;
                }
                return Ok(n);
            }
            if self.in_pos == self.input.len() {
                // Nothing asked, nothing to come: a socket would wait out its timeout.
                std::thread::sleep(self.read_timeout);
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            self.run_next()?;
        }
    }

    /// Runs the first queued command, appending its reply; a `BLPOP` with nothing to pop
    /// sleeps (at most the read timeout) and stays queued until its own timeout.
    fn run_next(&mut self) -> io::Result<()> {
        let mut parsed = Args {
            fixed: [&[]; 16],
            len: 0,
            more: Vec::new(),
        };
        let used = match parse_command(&self.input[self.in_pos..], &mut parsed) {
            Ok(Some(used)) => used,
            Ok(None) => return Err(protocol("an incomplete command was written")),
            Err(why) => return Err(protocol(why)),
        };
        let args = parsed.as_slice();
        if args[0].eq_ignore_ascii_case(b"BLPOP") && args.len() == 3 {
            let (key, timeout) = (args[1].to_vec(), args[2].to_vec());
            if let Some(done) = self.blpop(&key, &timeout)? {
                encode(&mut self.output, done);
                self.consume(used);
            }
            return Ok(());
        }
        let reply = {
            let mut state = self.space.state();
            let now_us = state.now_us();
            execute(&mut state, now_us, args)
        };
        encode(&mut self.output, reply);
        self.consume(used);
        Ok(())
    }

    fn consume(&mut self, used: usize) {
        self.in_pos += used;
        if self.in_pos == self.input.len() {
            self.input.clear();
            self.in_pos = 0;
        }
    }

    /// `BLPOP key timeout`: `Some(reply)` when done, `None` while still waiting (the read
    /// timed out first).
    fn blpop(&mut self, key: &[u8], timeout: &[u8]) -> io::Result<Option<Answer>> {
        let Some(seconds) = std::str::from_utf8(timeout)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
        else {
            return Ok(Some(Answer::Error(
                "ERR timeout is not a float or out of range".into(),
            )));
        };
        loop {
            {
                let mut state = self.space.state();
                let now_ms = state.now_ms();
                match state.store.lpop(key, now_ms) {
                    Ok(Some(value)) => {
                        self.blocked_until = None;
                        return Ok(Some(Answer::Pair(key.to_vec(), value)));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.blocked_until = None;
                        return Ok(Some(Answer::Error(e.into())));
                    }
                }
            }
            let now = Instant::now();
            let until = *self.blocked_until.get_or_insert_with(|| {
                if seconds == 0.0 {
                    // BLPOP 0 blocks forever on Redis; here nobody can ever push.
                    now + Duration::from_secs(u32::MAX as u64)
                } else {
                    now + Duration::from_secs_f64(seconds)
                }
            });
            if now >= until {
                self.blocked_until = None;
                return Ok(Some(Answer::NilArray));
            }
            let nap = (until - now).min(self.read_timeout);
            std::thread::sleep(nap);
            if nap == self.read_timeout && Instant::now() < until {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
        }
    }
}

/// A command's arguments, borrowed from the input (no allocation for up to 16).
struct Args<'a> {
    fixed: [&'a [u8]; 16],
    len: usize,
    more: Vec<&'a [u8]>,
}

impl<'a> Args<'a> {
    fn push(&mut self, arg: &'a [u8]) {
        if self.len < self.fixed.len() {
            self.fixed[self.len] = arg;
        } else {
            if self.more.is_empty() {
                self.more.extend_from_slice(&self.fixed);
            }
            self.more.push(arg);
        }
        self.len += 1;
    }

    fn as_slice(&self) -> &[&'a [u8]] {
        if self.len <= self.fixed.len() {
            &self.fixed[..self.len]
        } else {
            &self.more
        }
    }
}

/// Parses one command (an array of bulk strings) at the start of `buf` into `args`: the bytes
/// it took, `None` if incomplete.
fn parse_command<'a>(buf: &'a [u8], args: &mut Args<'a>) -> Result<Option<usize>, &'static str> {
    /// Reads `<kind><digits>\r\n` at `pos`.
    fn header(buf: &[u8], pos: &mut usize, kind: u8) -> Result<Option<usize>, &'static str> {
        let mut i = *pos;
        match buf.get(i) {
            None => return Ok(None),
            Some(&b) if b == kind => i += 1,
            Some(_) => return Err("a command must be an array of bulk strings"),
        }
        let mut n: usize = 0;
        let start = i;
        while let Some(&b) = buf.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(b - b'0')))
                .ok_or("bad length in a command")?;
            i += 1;
        }
        match buf.get(i..i + 2) {
            None => Ok(None),
            Some(b"\r\n") if i > start => {
                *pos = i + 2;
                Ok(Some(n))
            }
            Some(_) if i + 2 > buf.len() => Ok(None),
            Some(_) => Err("bad length in a command"),
        }
    }
    let mut pos = 0;
    let Some(count) = header(buf, &mut pos, b'*')? else {
        return Ok(None);
    };
    if !(1..=1024).contains(&count) {
        return Err("bad argument count in a command");
    }
    for _ in 0..count {
        let Some(len) = header(buf, &mut pos, b'$')? else {
            return Ok(None);
        };
        let end = pos
            .checked_add(len)
            .filter(|end| *end <= usize::MAX - 2)
            .ok_or("bad bulk length in a command")?;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err("bulk string not terminated by CRLF");
        }
        args.push(&buf[pos..end]);
        pos = end + 2;
    }
    Ok(Some(pos))
}

fn protocol(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

/// A reply.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Ok,
    Pong,
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    NilArray,
    Pair(Vec<u8>, Vec<u8>),
    Array(Vec<Answer>),
    Error(String),
}

fn encode(out: &mut Vec<u8>, answer: Answer) {
    let int = |out: &mut Vec<u8>, n: i64| {
        out.push(b':');
        if n < 0 {
            out.push(b'-');
        }
        let mut digits = [0u8; 20];
        out.extend_from_slice(resp::decimal(&mut digits, n.unsigned_abs()));
        out.extend_from_slice(b"\r\n");
    };
    match answer {
        Answer::Ok => out.extend_from_slice(b"+OK\r\n"),
        Answer::Pong => out.extend_from_slice(b"+PONG\r\n"),
        Answer::Int(n) => int(out, n),
        Answer::Bulk(b) => resp::arg(out, &b),
        Answer::Nil => out.extend_from_slice(b"$-1\r\n"),
        Answer::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Answer::Pair(a, b) => {
            out.extend_from_slice(b"*2\r\n");
            resp::arg(out, &a);
            resp::arg(out, &b);
        }
        Answer::Array(items) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for item in items {
                encode(out, item);
            }
        }
        Answer::Error(e) => {
            out.push(b'-');
            out.extend(
                e.bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn int_arg(arg: &[u8]) -> Option<i64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// Runs one (non-blocking) command at `now_us`: a script ([`lua`]) or a plain command.
fn execute(state: &mut State, now_us: i64, args: &[&[u8]]) -> Answer {
    let name = args[0];
    let is = |command: &str| name.eq_ignore_ascii_case(command.as_bytes());
    if (is("EVALSHA") || is("EVAL")) && args.len() >= 3 {
        let by_sha = is("EVALSHA");
        let Some(numkeys) = int_arg(args[2]).and_then(|n| usize::try_from(n).ok()) else {
            return Answer::Error("ERR value is not an integer or out of range".into());
        };
        if numkeys > args.len() - 3 {
            return Answer::Error("ERR Number of keys can't be greater than number of args".into());
        }
        let (keys, argv) = args[3..].split_at(numkeys);
        let State { store, lua, .. } = state;
        return lua.eval(store, now_us, by_sha, args[1], keys, argv);
    }
    command(&mut state.store, now_us, args)
}

/// Runs one plain command at `now_us`, as Redis would (the commands the engine sends, and
/// those its scripts call through `redis.call`).
pub fn command(store: &mut Store, now_us: i64, args: &[&[u8]]) -> Answer {
    let now_ms = now_us.div_euclid(1000);
    let name = args[0];
    let is = |command: &str| name.eq_ignore_ascii_case(command.as_bytes());
    let n = args.len();
    let wrong_args = || {
        Answer::Error(format!(
            "ERR wrong number of arguments for '{}' command",
            String::from_utf8_lossy(&name[..name.len().min(32)]).to_lowercase()
        ))
    };
    let int = |arg: &[u8]| {
        int_arg(arg)
            .ok_or_else(|| Answer::Error("ERR value is not an integer or out of range".into()))
    };
    let outcome: Result<Answer, Answer> = (|| {
        if is("SET") {
            return if n >= 3 {
                Ok(set(store, now_ms, args))
            } else {
                Err(wrong_args())
            };
        }
        if is("GET") && n == 2 {
            return Ok(match store.get(args[1], now_ms).map_err(err)? {
                Some(v) => Answer::Bulk(v.to_vec()),
                None => Answer::Nil,
            });
        }
        if is("PTTL") && n == 2 {
            return Ok(Answer::Int(store.pttl(args[1], now_ms)));
        }
        if (is("DEL") || is("EXISTS")) && n >= 2 {
            let del = is("DEL");
            let count = args[1..]
                .iter()
                .filter(|key| {
                    if del {
                        store.del(key, now_ms)
                    } else {
                        store.exists(key, now_ms)
                    }
                })
                .count();
            return Ok(Answer::Int(count as i64));
        }
        if is("PEXPIRE") && n == 3 {
            let ms = int(args[2])?;
            return Ok(Answer::Int(i64::from(store.pexpire(args[1], ms, now_ms))));
        }
        if is("RPUSH") && n >= 3 {
            let mut len = 0;
            for value in &args[2..] {
                len = store.rpush(args[1], value, now_ms).map_err(err)?;
            }
            return Ok(Answer::Int(len));
        }
        if is("ZADD") && n >= 4 {
            let nx = args[2].eq_ignore_ascii_case(b"NX");
            let pairs = &args[2 + usize::from(nx)..];
            if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
                return Err(Answer::Error("ERR syntax error".into()));
            }
            let mut scored = Vec::with_capacity(pairs.len() / 2);
            for pair in pairs.chunks(2) {
                scored.push((score_arg(pair[0])?, pair[1]));
            }
            let mut added = 0;
            for (score, member) in scored {
                added += i64::from(
                    store
                        .zadd(args[1], score, member, nx, now_ms)
                        .map_err(err)?,
                );
            }
            return Ok(Answer::Int(added));
        }
        if is("ZREM") && n >= 3 {
            let mut removed = 0;
            for member in &args[2..] {
                removed += i64::from(store.zrem(args[1], member, now_ms).map_err(err)?);
            }
            return Ok(Answer::Int(removed));
        }
        if is("ZSCORE") && n == 3 {
            return Ok(match store.zscore(args[1], args[2], now_ms).map_err(err)? {
                Some(score) => Answer::Bulk(score_text(score).into_bytes()),
                None => Answer::Nil,
            });
        }
        if is("ZRANK") && n == 3 {
            return Ok(match store.zrank(args[1], args[2], now_ms).map_err(err)? {
                Some(rank) => Answer::Int(rank),
                None => Answer::Nil,
            });
        }
        if is("ZCARD") && n == 2 {
            return Ok(Answer::Int(store.zcard(args[1], now_ms).map_err(err)?));
        }
        if is("ZRANGE") && (n == 4 || n == 5) {
            let scores = n == 5;
            if scores && !args[4].eq_ignore_ascii_case(b"WITHSCORES") {
                return Err(Answer::Error("ERR syntax error".into()));
            }
            let (start, stop) = (int(args[2])?, int(args[3])?);
            let items = store.zrange(args[1], start, stop, now_ms).map_err(err)?;
            let mut out = Vec::with_capacity(items.len() * (1 + usize::from(scores)));
            for (score, member) in items {
                out.push(Answer::Bulk(member.clone()));
                if scores {
                    out.push(Answer::Bulk(score_text(*score).into_bytes()));
                }
            }
            return Ok(Answer::Array(out));
        }
        if (is("ZREMRANGEBYSCORE") || is("ZCOUNT")) && n == 4 {
            let (min, max) = (bound_arg(args[2], true)?, bound_arg(args[3], false)?);
            return Ok(Answer::Int(if is("ZCOUNT") {
                store.zcount(args[1], min, max, now_ms).map_err(err)?
            } else {
                store
                    .zremrangebyscore(args[1], min, max, now_ms)
                    .map_err(err)?
            }));
        }
        if is("TIME") && n == 1 {
            let (secs, micros) = (now_us.div_euclid(1_000_000), now_us.rem_euclid(1_000_000));
            return Ok(Answer::Array(vec![
                Answer::Bulk(secs.to_string().into_bytes()),
                Answer::Bulk(micros.to_string().into_bytes()),
            ]));
        }
        if is("CLUSTER") {
            return Err(Answer::Error(
                "ERR This instance has cluster support disabled".into(),
            ));
        }
        if is("AUTH") || is("SELECT") {
            return Ok(Answer::Ok);
        }
        if is("PING") {
            return Ok(Answer::Pong);
        }
        Err(Answer::Error(format!(
            "ERR unknown command for memory://: '{}'",
            String::from_utf8_lossy(&name[..name.len().min(32)])
        )))
    })();
    outcome.unwrap_or_else(|e| e)
}

/// A store error as an error reply.
fn err(e: &'static str) -> Answer {
    Answer::Error(e.into())
}

/// A score argument (`-inf`, `+inf`, or a number), as `ZADD` and `ZREMRANGEBYSCORE` read one.
fn score_arg(arg: &[u8]) -> Result<f64, Answer> {
    let text = std::str::from_utf8(arg).unwrap_or("");
    match text.to_ascii_lowercase().as_str() {
        "-inf" => Ok(f64::NEG_INFINITY),
        "+inf" | "inf" => Ok(f64::INFINITY),
        _ => text
            .parse::<f64>()
            .ok()
            .filter(|f| !f.is_nan())
            .ok_or_else(|| Answer::Error("ERR value is not a valid float".into())),
    }
}

/// A range bound of `ZCOUNT` and `ZREMRANGEBYSCORE` (`(` before it: exclusive), as the
/// inclusive bound it is: an exclusive lower bound moves up to the next double, an exclusive
/// upper bound down.
fn bound_arg(arg: &[u8], lower: bool) -> Result<f64, Answer> {
    match arg.strip_prefix(b"(") {
        None => score_arg(arg),
        Some(rest) => {
            let bound = score_arg(rest)?;
            Ok(if lower {
                bound.next_up()
            } else {
                bound.next_down()
            })
        }
    }
}

/// A score as Redis prints one: integers in full, others in their shortest exact form.
fn score_text(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if score.fract() == 0.0 && score.abs() < 1e17 {
        return format!("{}", score as i64);
    }
    format!("{score}")
}

/// `SET key value [NX] [GET] [PX ms | EX s]`.
fn set(store: &mut Store, now_ms: i64, args: &[&[u8]]) -> Answer {
    let (key, value) = (args[1], args[2]);
    let (mut nx, mut get, mut px) = (false, false, None);
    let mut i = 3;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        match opt.as_slice() {
            b"NX" => nx = true,
            b"GET" => get = true,
            b"PX" | b"EX" if i + 1 < args.len() => {
                let Some(n) = int_arg(args[i + 1]).filter(|n| *n > 0) else {
                    return Answer::Error("ERR invalid expire time in 'set' command".into());
                };
                px = Some(if opt == b"EX" {
                    n.saturating_mul(1000)
                } else {
                    n
                });
                i += 1;
            }
            _ => return Answer::Error("ERR syntax error".into()),
        }
        i += 1;
    }
    let old = match store.get(key, now_ms) {
        Ok(old) => old.map(|v| get.then(|| v.to_vec())),
        // With GET, another type is an error; without, SET replaces it, as on Redis.
        Err(e) if get => return Answer::Error(e.into()),
        Err(_) => Some(None),
    };
    let exists = old.is_some();
    if !(nx && exists) {
        store.set(key, value, px, now_ms);
    }
    match (get, old.flatten()) {
        (true, Some(old)) => Answer::Bulk(old),
        (true, None) => Answer::Nil,
        (false, _) if nx && exists => Answer::Nil,
        (false, _) => Answer::Ok,
    }
}
