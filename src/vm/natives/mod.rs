//! Native functions: the built-ins, the `c` module and the thread
//! built-ins, and the registry that numbers them for the compiler.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the registry (names, arities, order) and the argument helpers |
//! | `builtins.rs` | printing, conversions, assertions, time, lists and maps |
//! | `threads.rs` | `spawn`, `spawn_named`, `join`, `thread_name` |
//! | `cmod.rs` | the `c` module over the bundled C library |
//!
//! A native is a [`NativeFn`]: it sees the interpreter only through
//! [`NativeCtx`], never the VM, so C-extension functions plug in the same
//! way. `next` and `send` are [`NativeKind::Resume`], resolved here once:
//! the VM resumes the generator itself.

mod builtins;
mod cmod;
mod threads;

pub use builtins::sleep_released;

use crate::gil::Token;
use crate::vm::error::RtError;
use crate::vm::value::{Native, NativeKind, Obj, ObjRef, Value};

struct Def {
    name: &'static str,
    min_args: u8,
    max_args: u8,
    kind: NativeKind,
}

const ANY: u8 = u8::MAX;

const fn def(
    name: &'static str,
    min_args: u8,
    max_args: u8,
    func: crate::vm::value::NativeFn,
) -> Def {
    Def { name, min_args, max_args, kind: NativeKind::Func(func) }
}

const DEFS: &[Def] = &[
    def("print", 0, ANY, builtins::print),
    def("len", 1, 1, builtins::len),
    def("str", 1, 1, builtins::str_),
    def("int", 1, 1, builtins::int),
    def("float", 1, 1, builtins::float),
    def("type", 1, 1, builtins::type_),
    def("time", 0, 0, builtins::time),
    def("assert", 1, 2, builtins::assert),
    def("error", 1, 1, builtins::error),
    def("sleep", 1, 1, builtins::sleep),
    def("range", 1, 2, builtins::range),
    def("push", 2, 2, builtins::push),
    def("pop", 1, 1, builtins::pop),
    def("keys", 1, 1, builtins::keys),
    def("has", 2, 2, builtins::has),
    def("remove", 2, 2, builtins::remove),
    def("spawn", 1, ANY, threads::spawn),
    def("spawn_named", 2, ANY, threads::spawn_named),
    def("join", 1, 1, threads::join),
    def("thread_name", 0, 0, threads::thread_name),
    Def { name: "next", min_args: 1, max_args: 1, kind: NativeKind::Resume },
    Def { name: "send", min_args: 2, max_args: 2, kind: NativeKind::Resume },
    def("objects", 0, 0, builtins::objects),
    def("args", 0, 0, builtins::script_args),
];

/// The name of the `c` module, the last built-in.
const C_MODULE: &str = "c";

/// The index of built-in `name`, if there is one.
pub fn index_of(name: &str) -> Option<u16> {
    let names = DEFS.iter().map(|d| d.name).chain(std::iter::once(C_MODULE));
    names.into_iter().position(|n| n == name).map(|i| i as u16)
}

/// The values of all built-ins, in index order.
pub fn make_all(token: Token<'_>) -> Vec<Value> {
    let mut values: Vec<Value> =
        DEFS.iter().map(|d| native_value(token, d.name, d.min_args, d.max_args, d.kind)).collect();
    values.push(cmod::make(token));
    values
}

/// A native function value.
fn native_value(
    token: Token<'_>,
    name: &'static str,
    min_args: u8,
    max_args: u8,
    kind: NativeKind,
) -> Value {
    Value::Obj(ObjRef::new(token, Obj::Native(Native { name, min_args, max_args, kind })))
}

// ----- argument helpers, shared with the `c` module -----

/// Argument `i` as an integer.
pub fn int_arg(args: &[Value], i: usize, func: &str) -> Result<i64, RtError> {
    match &args[i] {
        Value::Int(v) => Ok(*v),
        other => Err(RtError::new(format!(
            "{func}() argument {} must be an int, not a {}",
            i + 1,
            other.type_name()
        ))),
    }
}

/// Optional argument `i` as a boolean (truthiness), `default` if absent.
pub fn bool_arg(args: &[Value], i: usize, default: bool) -> bool {
    args.get(i).map_or(default, Value::truthy)
}

/// Argument `i` as a string.
pub fn str_arg<'a>(args: &'a [Value], i: usize, func: &str) -> Result<&'a str, RtError> {
    args[i].as_str().ok_or_else(|| {
        RtError::new(format!(
            "{func}() argument {} must be a string, not a {}",
            i + 1,
            args[i].type_name()
        ))
    })
}

pub(super) fn list_arg<'a>(
    args: &'a [Value],
    i: usize,
    func: &str,
) -> Result<&'a std::cell::RefCell<Vec<Value>>, RtError> {
    match &args[i] {
        Value::Obj(r) => match r.get() {
            Obj::List(items) => Ok(items),
            _ => Err(RtError::new(format!("{func}() needs a list, not a {}", args[i].type_name()))),
        },
        other => Err(RtError::new(format!("{func}() needs a list, not a {}", other.type_name()))),
    }
}

pub(super) fn map_arg<'a>(
    args: &'a [Value],
    i: usize,
    func: &str,
) -> Result<&'a std::cell::RefCell<crate::vm::value::MapTable>, RtError> {
    match &args[i] {
        Value::Obj(r) => match r.get() {
            Obj::Map(map) => Ok(map),
            _ => Err(RtError::new(format!("{func}() needs a map, not a {}", args[i].type_name()))),
        },
        other => Err(RtError::new(format!("{func}() needs a map, not a {}", other.type_name()))),
    }
}
