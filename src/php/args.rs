//! Argument conversion with PHP's own rules and messages.
//!
//! ext-php-rs converts arguments itself, strictly, and reports a mismatch as
//! "Invalid value given for argument `x`". PHP users expect what every internal function does:
//! weak-mode coercion unless the caller declared `strict_types`, and errors such as
//! `RedisLock::acquire(): Argument #3 ($expireTime) must be of type float, string given`.
//! So methods take these wrappers (declared to PHP with the right type), and convert them with
//! the engine's own `zend_parse_arg_*_slow` and `zend_wrong_parameter_type_error`, the functions
//! behind `ZEND_PARSE_PARAMETERS`. The common case (the argument already has the right type)
//! never leaves Rust and never copies a string.

use ext_php_rs::convert::{FromZvalMut, StubLiteral};
use ext_php_rs::exception::{PhpException, PhpResult};
use ext_php_rs::ffi::{zend_long, zend_string, zval};
use ext_php_rs::flags::DataType;
use ext_php_rs::types::{ZendHashTable, Zval};
use ext_php_rs::zend::ce;

use crate::lock::OptionValue;

// `zend_expected_type` values (Zend/zend_API.h, `Z_EXPECTED_TYPES`).
const Z_EXPECTED_LONG: u32 = 0;
const Z_EXPECTED_STRING: u32 = 4;
const Z_EXPECTED_STRING_OR_NULL: u32 = 5;
const Z_EXPECTED_ARRAY: u32 = 6;
const Z_EXPECTED_DOUBLE: u32 = 20;
const Z_EXPECTED_ARRAY_OR_STRING: u32 = 24;

unsafe extern "C" {
    fn zend_parse_arg_str_slow(arg: *mut zval, dest: *mut *mut zend_string, num: u32) -> bool;
    fn zend_parse_arg_double_slow(arg: *mut zval, dest: *mut f64, num: u32) -> bool;
    fn zend_parse_arg_long_slow(arg: *mut zval, dest: *mut zend_long, num: u32) -> bool;
    fn zend_wrong_parameter_type_error(num: u32, expected: u32, arg: *mut zval);
    fn zend_argument_type_error(num: u32, format: *const std::ffi::c_char, ...);
    fn zend_zval_type_name(arg: *const zval) -> *const std::ffi::c_char;
}

/// Throws PHP's standard "Argument #n ($name) must be of type T, U given" and returns the
/// placeholder our `PhpResult` needs (`throw()` keeps the pending exception).
fn wrong_type(zval: &mut Zval, num: u32, expected: u32) -> PhpException {
    // SAFETY: called inside a method handler, where the engine knows the active function (it
    // names the parameter from its arginfo); `zval` is that call's argument.
    unsafe { zend_wrong_parameter_type_error(num, expected, zval) };
    PhpException::new(String::new(), 0, ce::type_error())
}

/// A parameter default, rendered into the arginfo (what Reflection and the stubs show).
#[derive(Clone, Copy)]
pub enum ArgDefault {
    /// A string literal.
    Str(&'static str),
    /// A float literal.
    Float(f64),
    /// `[]`
    EmptyArray,
    /// `null`
    Null,
}

impl StubLiteral for ArgDefault {
    fn stub_literal(&self) -> String {
        match self {
            ArgDefault::Str(s) => {
                // ext-php-rs renders defaults on every constructor call: keep this cheap.
                let mut out = String::with_capacity(s.len() + 2);
                out.push('\'');
                for c in s.chars() {
                    if c == '\\' || c == '\'' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('\'');
                out
            }
            ArgDefault::Float(f) => format!("{f:?}"),
            ArgDefault::EmptyArray => String::from("[]"),
            ArgDefault::Null => String::from("null"),
        }
    }
}

/// Declares a wrapper holding the caller's argument, or the declared default when omitted.
macro_rules! wrapper {
    ($(#[$doc:meta])* $name:ident, $php_type:expr) => {
        wrapper!($(#[$doc])* $name, $php_type, nullable = false);
    };
    ($(#[$doc:meta])* $name:ident, $php_type:expr, nullable = $nullable:literal) => {
        $(#[$doc])*
        pub enum $name<'a> {
            /// The caller's argument.
            Given(&'a mut Zval),
            /// The parameter was omitted.
            Default(ArgDefault),
        }

        impl<'a> FromZvalMut<'a> for $name<'a> {
            const TYPE: DataType = $php_type;
            const NULLABLE: bool = $nullable;

            fn from_zval_mut(zval: &'a mut Zval) -> Option<Self> {
                Some($name::Given(zval))
            }

            fn from_missing() -> Option<Self> {
                $nullable.then_some($name::Default(ArgDefault::Null))
            }
        }

        impl From<ArgDefault> for $name<'_> {
            fn from(default: ArgDefault) -> Self {
                $name::Default(default)
            }
        }

        impl StubLiteral for $name<'_> {
            fn stub_literal(&self) -> String {
                match self {
                    $name::Default(default) => default.stub_literal(),
                    $name::Given(_) => String::from("null"),
                }
            }
        }
    };
}

wrapper!(
    /// A `string` parameter: binary-safe bytes, zero-copy when the argument is a string.
    StrArg, DataType::String
);
wrapper!(
    /// A `?string` parameter.
    NullableStrArg, DataType::String, nullable = true
);
wrapper!(
    /// A `float` parameter (ints are accepted, as PHP does).
    FloatArg, DataType::Double
);
wrapper!(
    /// A `?float` parameter.
    NullableFloatArg, DataType::Double, nullable = true
);
wrapper!(
    /// An `int` parameter.
    IntArg, DataType::Long
);
wrapper!(
    /// An `array` parameter.
    ArrayArg, DataType::Array
);
wrapper!(
    /// The constructor's `string|array $dsn` (declared `string` here; [`super::tweaks`] adds
    /// `array` to its type once the class is registered).
    DsnArg, DataType::String
);

/// What `$dsn` names: one deployment, or a quorum of independent ones.
pub enum Dsn<'a> {
    /// One DSN.
    One(&'a [u8]),
    /// An array of DSNs, in order.
    Quorum(Vec<Vec<u8>>),
}

impl<'a> DsnArg<'a> {
    /// The DSN (argument `num`): a string (coerced as PHP would), or an array whose every
    /// element is a string (any other element is a `TypeError` naming its key; keys are
    /// otherwise ignored).
    pub fn dsn(self, num: u32) -> PhpResult<Dsn<'a>> {
        let zval = match self {
            DsnArg::Given(zval) => zval,
            DsnArg::Default(ArgDefault::Str(s)) => return Ok(Dsn::One(s.as_bytes())),
            DsnArg::Default(_) => return Err(bad_default(num)),
        };
        if let Some(array) = zval.array() {
            let mut dsns = Vec::with_capacity(array.len());
            let mut entries = array.iter();
            while let Some((key, value)) = entries.next_zval() {
                let value = value.dereference();
                match value.binary_slice::<u8>() {
                    Some(bytes) if value.is_string() => dsns.push(bytes.to_vec()),
                    _ => {
                        let key = match (key.long(), key.binary_slice::<u8>()) {
                            (Some(n), _) => n.to_string(),
                            (None, Some(bytes)) => {
                                format!("\"{}\"", String::from_utf8_lossy(bytes))
                            }
                            (None, None) => String::from("?"),
                        };
                        return Err(PhpException::new(
                            format!(
                                "RedisLock::__construct(): Argument #{num} ($dsn) must be a \
                                 string or an array of strings, {} given at key {key}",
                                value_type_name(value)
                            ),
                            0,
                            ce::type_error(),
                        ));
                    }
                }
            }
            return Ok(Dsn::Quorum(dsns));
        }
        if zval.is_string() {
            return Ok(Dsn::One(zval.binary_slice::<u8>().unwrap_or_default()));
        }
        let mut dest: *mut zend_string = std::ptr::null_mut();
        // SAFETY: as in `str_bytes`.
        if unsafe { zend_parse_arg_str_slow(zval, &mut dest, num) } {
            Ok(Dsn::One(zval.binary_slice::<u8>().unwrap_or_default()))
        } else {
            Err(wrong_type(zval, num, Z_EXPECTED_ARRAY_OR_STRING))
        }
    }
}

/// PHP's name of a value's type, as `get_debug_type()` says it for scalars.
fn value_type_name(zval: &Zval) -> &'static str {
    match zval.get_type() {
        DataType::Long => "int",
        DataType::Double => "float",
        DataType::True | DataType::False | DataType::Bool => "bool",
        _ => type_name(zval),
    }
}

/// A default that does not fit the parameter's type: a bug in a method declaration.
fn bad_default(num: u32) -> PhpException {
    PhpException::new(
        format!("internal error: no usable default for argument #{num}"),
        0,
        ce::error(),
    )
}

impl<'a> StrArg<'a> {
    /// The bytes of argument number `num` (1-based), coerced as PHP would.
    pub fn bytes(self, num: u32) -> PhpResult<&'a [u8]> {
        let zval = match self {
            StrArg::Given(zval) => zval,
            StrArg::Default(ArgDefault::Str(s)) => return Ok(s.as_bytes()),
            StrArg::Default(_) => return Err(bad_default(num)),
        };
        str_bytes(zval, num, Z_EXPECTED_STRING)
    }
}

/// A `string` argument's bytes: zero-copy for a string, else PHP's own coercion (`expected`
/// names the parameter's type in the `TypeError`).
fn str_bytes(zval: &mut Zval, num: u32, expected: u32) -> PhpResult<&[u8]> {
    if zval.is_string() {
        return Ok(zval.binary_slice::<u8>().unwrap_or_default());
    }
    let mut dest: *mut zend_string = std::ptr::null_mut();
    // SAFETY: `zval` is a live argument of the current call; on success the engine has
    // converted it to a string in place (weak mode), owned by the call frame.
    if unsafe { zend_parse_arg_str_slow(zval, &mut dest, num) } {
        Ok(zval.binary_slice::<u8>().unwrap_or_default())
    } else {
        Err(wrong_type(zval, num, expected))
    }
}

impl<'a> NullableStrArg<'a> {
    /// The bytes of argument number `num` (1-based): `None` for null, else coerced as PHP would.
    pub fn bytes(self, num: u32) -> PhpResult<Option<&'a [u8]>> {
        match self {
            NullableStrArg::Given(zval) if zval.is_null() => Ok(None),
            NullableStrArg::Given(zval) => {
                str_bytes(zval, num, Z_EXPECTED_STRING_OR_NULL).map(Some)
            }
            NullableStrArg::Default(ArgDefault::Null) => Ok(None),
            NullableStrArg::Default(default) => StrArg::Default(default).bytes(num).map(Some),
        }
    }
}

impl FloatArg<'_> {
    /// The value of argument number `num` (1-based), coerced as PHP would.
    pub fn float(self, num: u32) -> PhpResult<f64> {
        let zval = match self {
            FloatArg::Given(zval) => zval,
            FloatArg::Default(ArgDefault::Float(f)) => return Ok(f),
            FloatArg::Default(_) => return Err(bad_default(num)),
        };
        float(zval, num)
    }
}

impl NullableFloatArg<'_> {
    /// The value of argument number `num` (1-based): `None` for null, else coerced as PHP would.
    pub fn float(self, num: u32) -> PhpResult<Option<f64>> {
        match self {
            NullableFloatArg::Given(zval) if zval.is_null() => Ok(None),
            NullableFloatArg::Given(zval) => float(zval, num).map(Some),
            NullableFloatArg::Default(ArgDefault::Null) => Ok(None),
            NullableFloatArg::Default(ArgDefault::Float(f)) => Ok(Some(f)),
            NullableFloatArg::Default(_) => Err(bad_default(num)),
        }
    }
}

/// A `float` argument: ints are widened, anything else goes through PHP's own coercion.
fn float(zval: &mut Zval, num: u32) -> PhpResult<f64> {
    if let Some(f) = zval.double() {
        return Ok(f);
    }
    if let Some(n) = zval.long() {
        return Ok(n as f64);
    }
    let mut dest = 0.0;
    // SAFETY: as in `StrArg::bytes`.
    if unsafe { zend_parse_arg_double_slow(zval, &mut dest, num) } {
        Ok(dest)
    } else {
        Err(wrong_type(zval, num, Z_EXPECTED_DOUBLE))
    }
}

impl IntArg<'_> {
    /// The value of argument number `num` (1-based), coerced as PHP would.
    pub fn int(self, num: u32) -> PhpResult<i64> {
        let IntArg::Given(zval) = self else {
            return Err(bad_default(num));
        };
        if let Some(n) = zval.long() {
            return Ok(n);
        }
        let mut dest: zend_long = 0;
        // SAFETY: as in `StrArg::bytes`.
        if unsafe { zend_parse_arg_long_slow(zval, &mut dest, num) } {
            Ok(dest)
        } else {
            Err(wrong_type(zval, num, Z_EXPECTED_LONG))
        }
    }
}

impl ArrayArg<'_> {
    /// The `$options` array (argument `num`) as (name, value) pairs; `[]` when omitted.
    pub fn options(self, num: u32) -> PhpResult<Vec<(String, OptionValue)>> {
        let zval = match self {
            ArrayArg::Given(zval) => zval,
            ArrayArg::Default(ArgDefault::EmptyArray) => return Ok(Vec::new()),
            ArrayArg::Default(_) => return Err(bad_default(num)),
        };
        let Some(array) = zval.array() else {
            return Err(wrong_type(zval, num, Z_EXPECTED_ARRAY));
        };
        Ok(options(array))
    }
}

impl ArrayArg<'_> {
    /// A list of names (argument `num`): each value a string (an int counts as its decimal
    /// text, as PHP turns numeric array keys into ints); anything else is a `TypeError`.
    pub fn strings(self, num: u32) -> PhpResult<Vec<Vec<u8>>> {
        let ArrayArg::Given(zval) = self else {
            return Err(bad_default(num));
        };
        let Some(array) = zval.array() else {
            return Err(wrong_type(zval, num, Z_EXPECTED_ARRAY));
        };
        let mut names = Vec::with_capacity(array.len());
        for value in array.values() {
            let value = value.dereference();
            if let Some(bytes) = value.binary_slice::<u8>() {
                names.push(bytes.to_vec());
            } else if let Some(n) = value.long() {
                names.push(n.to_string().into_bytes());
            } else {
                // SAFETY: as in `wrong_type`; the format takes one C string, the type's name
                // (a static string of the engine's).
                unsafe {
                    zend_argument_type_error(
                        num,
                        c"must contain only strings, %s given".as_ptr(),
                        zend_zval_type_name(value),
                    )
                };
                return Err(PhpException::new(String::new(), 0, ce::type_error()));
            }
        }
        Ok(names)
    }
}

/// The `$options` array as (name, value) pairs. Integer keys are reported by their number, and
/// string keys that are not UTF-8 by a lossy copy, so the engine's "unknown option" error can
/// name them. (ext-php-rs's own key iterator panics on a key that is not UTF-8.)
fn options(array: &ZendHashTable) -> Vec<(String, OptionValue)> {
    named_values(array, true)
}

/// The entries of an array option (`ssl`), named as [`options`] names options.
fn entries(array: &ZendHashTable) -> Vec<(String, OptionValue)> {
    named_values(array, false)
}

fn named_values(array: &ZendHashTable, top: bool) -> Vec<(String, OptionValue)> {
    let mut entries = array.iter();
    let mut values = Vec::with_capacity(array.len());
    while let Some((key, value)) = entries.next_zval() {
        let name = match (key.long(), key.binary_slice::<u8>()) {
            (Some(n), _) => n.to_string(),
            (None, Some(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            (None, None) => String::from("?"),
        };
        values.push((name, option_value(value, top)));
    }
    values
}

/// An option's value; an array is read as [`OptionValue::Array`] at the top level only (the
/// `ssl` option), so a nested or self-referencing array is never walked.
fn option_value(zval: &Zval, top: bool) -> OptionValue {
    let zval = zval.dereference();
    if top && let Some(array) = zval.array() {
        return OptionValue::Array(entries(array));
    }
    if let Some(n) = zval.long() {
        OptionValue::Int(n)
    } else if let Some(f) = zval.double() {
        OptionValue::Float(f)
    } else if let Some(bytes) = zval.binary_slice::<u8>() {
        OptionValue::Str(bytes.to_vec())
    } else if let Some(b) = zval.bool() {
        OptionValue::Bool(b)
    } else {
        OptionValue::Other(type_name(zval))
    }
}

fn type_name(zval: &Zval) -> &'static str {
    match zval.get_type() {
        DataType::Null => "null",
        DataType::Array => "array",
        DataType::Object(_) => "object",
        DataType::Resource => "resource",
        _ => "value of another type",
    }
}
