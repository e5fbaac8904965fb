//! The exception classes, the one mapping from engine errors to PHP exceptions, and the one
//! error of the PHP face alone: a `RedisLock` whose constructor never ran.
//!
//! The classes are registered by hand (not with `#[php_class]`) so that they are ordinary PHP
//! exceptions: created by PHP's own exception handlers they carry file, line and trace, and PHP
//! code can construct and extend them.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use ext_php_rs::args::ArgInfoTables;
use ext_php_rs::builders::ClassBuilder;
use ext_php_rs::exception::PhpException;
use ext_php_rs::ffi::zend_class_entry;
use ext_php_rs::zend::{ClassEntry, ce};

use crate::lock::{Error, ErrorKind};

unsafe extern "C" {
    /// SPL's `RuntimeException`, exported by the PHP binary (SPL is always compiled in).
    static spl_ce_RuntimeException: *mut zend_class_entry;
}

/// One exception class we register.
pub struct ExceptionClass {
    /// The PHP class name.
    pub name: &'static str,
    /// The PHP name of its parent.
    pub parent: &'static str,
    parent_entry: fn() -> &'static ClassEntry,
    store: fn(&'static mut ClassEntry, ArgInfoTables),
    entry: AtomicPtr<ClassEntry>,
}

impl ExceptionClass {
    /// The registered class entry. Only valid after module startup.
    pub fn entry(&self) -> &'static ClassEntry {
        let entry = self.entry.load(Ordering::Acquire);
        assert!(!entry.is_null(), "{} is not registered", self.name);
        // SAFETY: set once per module startup from the pointer the engine returned; class
        // entries of internal classes live until module shutdown.
        unsafe { &*entry }
    }
}

// `ClassBuilder` takes plain `fn` pointers for the parent getter and the registration hook, so
// each class gets a pair of tiny functions.
macro_rules! exception_class {
    ($(#[$doc:meta])* $static:ident, $name:literal extends $parent:literal via $get_parent:expr;
     $get:ident, $store:ident) => {
        $(#[$doc])*
        pub static $static: ExceptionClass = ExceptionClass {
            name: $name,
            parent: $parent,
            parent_entry: $get_parent,
            store: $store,
            entry: AtomicPtr::new(ptr::null_mut()),
        };
        #[allow(dead_code, reason = "the getter of a leaf class is unused until it gets a child")]
        fn $get() -> &'static ClassEntry {
            $static.entry()
        }
        fn $store(entry: &'static mut ClassEntry, _: ArgInfoTables) {
            $static.entry.store(entry, Ordering::Release);
        }
    };
}

exception_class!(
    /// The root: every failure the extension reports (other than bad arguments) is one of these.
    ROOT, "RedisLockException" extends "RuntimeException" via runtime_exception;
    root_entry, store_root
);
exception_class!(
    /// Cannot connect, handshake refused, or connection lost.
    CONNECTION, "RedisLockConnectionException" extends "RedisLockException" via root_entry;
    connection_entry, store_connection
);
exception_class!(
    /// No reply within the read timeout: the outcome is unknown.
    TIMEOUT, "RedisLockTimeoutException" extends "RedisLockException" via root_entry;
    timeout_entry, store_timeout
);
exception_class!(
    /// Redis answered with an error reply.
    SERVER, "RedisLockServerException" extends "RedisLockException" via root_entry;
    server_entry, store_server
);

exception_class!(
    /// A lease was lost (strict mode).
    LOST, "RedisLockLostException" extends "RedisLockException" via root_entry;
    lost_entry, store_lost
);
exception_class!(
    /// `synchronized()` could not get the lock within its wait.
    CONFLICT, "RedisLockConflictException" extends "RedisLockException" via root_entry;
    conflict_entry, store_conflict
);

exception_class!(
    /// Fewer replicas than the `replicas` option asks for acknowledged a lock write.
    REPLICATION, "RedisLockReplicationException" extends "RedisLockException" via root_entry;
    replication_entry, store_replication
);

/// Every exception class, parents before children.
pub static ALL: [&ExceptionClass; 7] = [
    &ROOT,
    &CONNECTION,
    &TIMEOUT,
    &SERVER,
    &LOST,
    &CONFLICT,
    &REPLICATION,
];

fn runtime_exception() -> &'static ClassEntry {
    // SAFETY: SPL registers RuntimeException before any extension's MINIT; the pointer is
    // written once at SPL startup and is valid for the life of the module.
    unsafe { &*spl_ce_RuntimeException.cast::<ClassEntry>() }
}

/// Registers the exception classes, parents first. Call from module startup (MINIT) only.
pub fn register() -> ext_php_rs::error::Result<()> {
    for class in ALL {
        ClassBuilder::new(class.name)
            .extends((class.parent_entry, class.parent))
            .registration(class.store)
            .register()?;
    }
    Ok(())
}

/// The one conversion from engine errors to PHP exceptions.
impl From<Error> for PhpException {
    fn from(e: Error) -> PhpException {
        let class = match e.kind() {
            ErrorKind::InvalidArgument => ce::value_error(),
            ErrorKind::InvalidType => ce::type_error(),
            ErrorKind::Connection | ErrorKind::Protocol | ErrorKind::Refused => CONNECTION.entry(),
            ErrorKind::Timeout => TIMEOUT.entry(),
            ErrorKind::Server => SERVER.entry(),
            ErrorKind::Lost => LOST.entry(),
            ErrorKind::Conflict => CONFLICT.entry(),
            ErrorKind::Replication => REPLICATION.entry(),
            ErrorKind::Unsupported => ROOT.entry(),
        };
        // PHP messages are C strings: a NUL (from a server reply, say) would make the exception
        // impossible to throw. Keys in messages are already escaped (`quote_key`).
        PhpException::new(e.to_string().replace('\0', "\\0"), 0, class)
    }
}

/// What is wrong with a `RedisLock` whose constructor never ran (also its `var_dump()`).
pub const NOT_INITIALISED: &str = "not initialised: RedisLock::__construct() was not called";

/// The `\Error` for calling a method of a `RedisLock` whose constructor never ran: one made by
/// `ReflectionClass::newInstanceWithoutConstructor()`, or by a subclass whose `__construct()`
/// does not call `parent::__construct()`. An `\Error`, as PHP's own errors for misusing an
/// object are: it is a bug in the calling code, not a failure to retry or report. Not an engine
/// error ([`Error`]): the engine never sees such an object. `class` is the object's class as
/// `get_class()` names it.
pub fn not_initialised(class: &str) -> PhpException {
    PhpException::new(
        format!(
            "{class} object is {NOT_INITIALISED} (a subclass that defines __construct() must \
             call parent::__construct())"
        ),
        0,
        ce::error(),
    )
}
