//! The engine's own Lua scripts, run as Redis runs them: in Lua 5.1 (the version Redis embeds),
//! with `KEYS`, `ARGV`, `redis.call` and `redis.pcall` reaching the space's [`Store`] through
//! the same plain commands a connection can send ([`super::command`]).
//!
//! So `memory://` runs the very bodies of [`crate::lock::scripts`], not a translation: a new
//! script (a new kind of lock) works here as soon as the commands it calls are among those
//! [`super::command`] knows, and the model-based property test runs both backends against one
//! contract. Conversions follow Redis's rules: a command's integer reply is a Lua number, a
//! bulk string a Lua string, a nil reply `false`, an array a table, a status `{ok = …}`, an
//! error raised (`redis.call`) or returned as `{err = …}` (`redis.pcall`); a script's number
//! becomes an integer reply (truncated), a string a bulk reply, `false`/`nil` a nil reply, a
//! table an array up to its first nil, `{err = …}` an error reply.
//!
//! Only the engine's own scripts run (`EVALSHA` of their SHA1s, or `EVAL` of their bodies),
//! each compiled once per space; the Lua state itself is made on a space's first script, with
//! the `string`, `math` and `table` libraries only (no `io`, `os` or `debug`).

use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

use super::Answer;
use super::store::Store;
use crate::lock::scripts;

/// A space's Lua state and its compiled scripts, both made on first use.
#[derive(Default)]
pub(crate) struct LuaHost {
    lua: Option<Lua>,
    compiled: Vec<Option<Function>>,
}

/// What a `redis.call` raised: the error reply it got, passed on as the script's own error
/// reply, as Redis 7 does (so `WRONGTYPE …` stays `WRONGTYPE …`).
#[derive(Debug)]
struct Raised(String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

impl LuaHost {
    /// Runs the script named by `id` (its SHA1 when `by_sha`, else its body) with `keys` and
    /// `argv` over `store` at `now_us`, and answers as Redis would.
    pub fn eval(
        &mut self,
        store: &mut Store,
        now_us: i64,
        by_sha: bool,
        id: &[u8],
        keys: &[&[u8]],
        argv: &[&[u8]],
    ) -> Answer {
        let all = scripts::all();
        let found = all.iter().position(|script| {
            if by_sha {
                script.sha1().as_bytes().eq_ignore_ascii_case(id)
            } else {
                script.body().as_bytes() == id
            }
        });
        let Some(index) = found else {
            return Answer::Error(if by_sha {
                "NOSCRIPT No matching script. Please use EVAL.".into()
            } else {
                "ERR memory:// runs only the extension's own scripts".into()
            });
        };
        match self.run(index, all[index].body(), store, now_us, keys, argv) {
            Ok(answer) => answer,
            Err(e) => Answer::Error(error_text(&e)),
        }
    }

    fn run(
        &mut self,
        index: usize,
        body: &str,
        store: &mut Store,
        now_us: i64,
        keys: &[&[u8]],
        argv: &[&[u8]],
    ) -> mlua::Result<Answer> {
        let lua = match &mut self.lua {
            Some(lua) => lua,
            lua @ None => {
                let fresh = new_state()?;
                self.compiled = vec![None; scripts::all().len()];
                lua.insert(fresh)
            }
        };
        let function = match &self.compiled[index] {
            Some(function) => function.clone(),
            None => {
                let function = lua.load(body).set_name("@user_script").into_function()?;
                self.compiled[index] = Some(function.clone());
                function
            }
        };
        let globals = lua.globals();
        globals.set("KEYS", strings(lua, keys)?)?;
        globals.set("ARGV", strings(lua, argv)?)?;
        // What `redis.call` reaches while this script runs, and only then.
        lua.set_app_data(Target {
            store: std::ptr::from_mut(store),
            now_us,
        });
        let result = function.call::<Value>(()).and_then(from_lua);
        lua.remove_app_data::<Target>();
        result
    }
}

/// The store a running script's `redis.call` reaches, and the script's clock: set by
/// [`LuaHost::run`] for the length of one script (which holds the store's `&mut` meanwhile),
/// removed right after.
struct Target {
    store: *mut Store,
    now_us: i64,
}

// SAFETY: a `Target` lives in its Lua state's app data only while the thread that set it runs
// the script (the space's mutex held), and is dereferenced only on that thread.
unsafe impl Send for Target {}

/// A Lua state with the libraries Redis scripts use and a `redis` table whose `call` and
/// `pcall` reach the [`Target`] of the script being run.
fn new_state() -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::STRING | StdLib::MATH | StdLib::TABLE,
        LuaOptions::default(),
    )?;
    let redis = lua.create_table()?;
    redis.set(
        "call",
        lua.create_function(|lua, args: MultiValue| match dispatch(lua, args)? {
            Answer::Error(e) => Err(mlua::Error::external(Raised(e))),
            answer => to_lua(lua, answer),
        })?,
    )?;
    redis.set(
        "pcall",
        lua.create_function(|lua, args: MultiValue| match dispatch(lua, args)? {
            Answer::Error(e) => {
                let table = lua.create_table()?;
                table.set("err", e)?;
                Ok(Value::Table(table))
            }
            answer => to_lua(lua, answer),
        })?,
    )?;
    lua.globals().set("redis", redis)?;
    Ok(lua)
}

/// A Lua array of byte strings.
fn strings(lua: &Lua, items: &[&[u8]]) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        table.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(table)
}

/// Runs the command a script passed to `redis.call`/`redis.pcall`.
fn dispatch(lua: &Lua, args: MultiValue) -> mlua::Result<Answer> {
    let mut owned: Vec<Vec<u8>> = Vec::with_capacity(args.len());
    for arg in args {
        owned.push(match arg {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Integer(n) => n.to_string().into_bytes(),
            Value::Number(n) => number_text(n).into_bytes(),
            _ => {
                return Ok(Answer::Error(
                    "ERR Lua redis lib command arguments must be strings or integers".into(),
                ));
            }
        });
    }
    if owned.is_empty() {
        return Ok(Answer::Error(
            "ERR Please specify at least one argument for this redis lib call".into(),
        ));
    }
    if owned[0].eq_ignore_ascii_case(b"EVAL") || owned[0].eq_ignore_ascii_case(b"EVALSHA") {
        return Ok(Answer::Error(
            "ERR This Redis command is not allowed from script".into(),
        ));
    }
    let (store, now_us) = match lua.app_data_ref::<Target>() {
        Some(target) => (target.store, target.now_us),
        None => return Err(mlua::Error::runtime("redis.call outside a script")),
    };
    let args: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    // SAFETY: the target is set only while `LuaHost::run` holds the store's `&mut` and runs the
    // script on this thread; a command cannot start another script (EVAL is refused above), so
    // no other reference to the store is live during this call.
    let store = unsafe { &mut *store };
    Ok(super::command(store, now_us, &args))
}

/// A Lua number as Redis passes it to a command: integers in full, others in their shortest
/// exact form.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A command's reply as a Lua value.
fn to_lua(lua: &Lua, answer: Answer) -> mlua::Result<Value> {
    Ok(match answer {
        Answer::Ok | Answer::Pong => {
            let table = lua.create_table()?;
            table.set("ok", if answer == Answer::Ok { "OK" } else { "PONG" })?;
            Value::Table(table)
        }
        Answer::Int(n) => Value::Number(n as f64),
        Answer::Bulk(bytes) => Value::String(lua.create_string(bytes)?),
        Answer::Nil | Answer::NilArray => Value::Boolean(false),
        Answer::Pair(a, b) => {
            let table = lua.create_table()?;
            table.raw_set(1, lua.create_string(a)?)?;
            table.raw_set(2, lua.create_string(b)?)?;
            Value::Table(table)
        }
        Answer::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(table)
        }
        Answer::Error(e) => {
            let table = lua.create_table()?;
            table.set("err", e)?;
            Value::Table(table)
        }
    })
}

/// A script's return value as a reply.
fn from_lua(value: Value) -> mlua::Result<Answer> {
    Ok(match value {
        Value::Nil | Value::Boolean(false) => Answer::Nil,
        Value::Boolean(true) => Answer::Int(1),
        Value::Integer(n) => Answer::Int(n),
        Value::Number(n) => Answer::Int(n as i64),
        Value::String(s) => Answer::Bulk(s.as_bytes().to_vec()),
        Value::Table(table) => {
            if let Value::String(e) = table.raw_get::<Value>("err")? {
                return Ok(Answer::Error(e.to_string_lossy()));
            }
            if let Value::String(ok) = table.raw_get::<Value>("ok")? {
                return Ok(Answer::Bulk(ok.as_bytes().to_vec()));
            }
            let mut items = Vec::new();
            for i in 1.. {
                let item: Value = table.raw_get(i)?;
                if item.is_nil() {
                    break;
                }
                items.push(from_lua(item)?);
            }
            Answer::Array(items)
        }
        _ => Answer::Nil,
    })
}

/// The error reply for a script that failed: the reply a `redis.call` raised, as it was; else
/// Lua's own message, as Redis words a script error.
fn error_text(e: &mlua::Error) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    loop {
        if let Some(Raised(reply)) = cause.downcast_ref::<Raised>() {
            return reply.clone();
        }
        if let Some(mlua::Error::ExternalError(inner)) = cause.downcast_ref::<mlua::Error>() {
            let inner: &(dyn std::error::Error + 'static) = inner.as_ref();
            if let Some(Raised(reply)) = inner.downcast_ref::<Raised>() {
                return reply.clone();
            }
        }
        match cause.source() {
            Some(next) => cause = next,
            None => break,
        }
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("script failed");
    format!("ERR Error running script: {first}")
}
