//! Native functions: the built-ins, the `c` module and the thread
//! built-ins, and the registry that numbers them for the compiler.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the registry (names, arities, order) and the argument helpers |
//! | `builtins.rs` | printing, conversions, assertions, time, lists and maps |
//! | `threads.rs` | `spawn`, `spawn_named`, `join`, `thread_name` |
//! | `interp.rs` | `interpreter`, `Channel`, `send` on a channel, `recv`, `close` |
//! | `cmod.rs` | the `c` module over the bundled C library |
//! | `text.rs` | `split`, `join` of strings, `format`, `sort`, `min`, `max`, `sum`, `abs` |
//! | `sync.rs` | `Lock`, `Condition`, `Queue`, `Event` and the calls on them |
//! | `ext.rs` | `load` (C extensions, through [`crate::ext`]), `bytes`, `decode` |
//!
//! A native is a [`NativeFn`]: it sees the interpreter only through
//! [`NativeCtx`], never the VM, so C-extension functions plug in the same
//! way. `next` and `send` are [`NativeKind::Resume`], resolved here once:
//! the VM resumes the generator itself.

mod builtins;
mod cmod;
mod ext;
mod interp;
mod sync;
mod text;
mod threads;

pub use builtins::sleep_released;
pub(crate) use interp::{receive, send_on_channel};

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
    // `join(thread)` or `join(list_of_strings, sep)`, by the first argument.
    def("join", 1, 2, text::join),
    def("thread_name", 0, 0, threads::thread_name),
    Def { name: "next", min_args: 1, max_args: 1, kind: NativeKind::Resume },
    Def { name: "send", min_args: 2, max_args: 2, kind: NativeKind::Resume },
    def("objects", 0, 0, builtins::objects),
    def("args", 0, 0, builtins::script_args),
    def("interpreter", 1, ANY, interp::interpreter),
    def("Channel", 0, 1, interp::channel),
    def("recv", 1, 2, interp::recv),
    def("Lock", 0, 0, sync::lock),
    def("acquire", 1, 2, sync::acquire),
    def("release", 1, 1, sync::release),
    def("Condition", 1, 1, sync::condition),
    def("wait", 1, 2, sync::wait),
    def("notify", 1, 1, sync::notify),
    def("notify_all", 1, 1, sync::notify_all),
    def("Queue", 0, 1, sync::queue),
    def("put", 2, 3, sync::put),
    def("get", 1, 2, sync::get),
    def("size", 1, 1, sync::size),
    def("close", 1, 1, interp::close),
    def("Event", 0, 0, sync::event),
    def("set", 1, 1, sync::set),
    def("is_set", 1, 1, sync::is_set),
    def("split", 1, 2, text::split),
    def("format", 1, ANY, text::format),
    def("sort", 1, 2, text::sort),
    def("min", 1, ANY, text::min),
    def("max", 1, ANY, text::max),
    def("sum", 1, 1, text::sum),
    def("abs", 1, 1, text::abs),
    // What `with l { … }` compiles to; no script can name these.
    def(WITH_ENTER, 1, 1, sync::with_enter),
    def(WITH_EXIT_ON_ERROR, 1, 1, sync::with_exit_on_error),
    def("load", 1, 1, ext::load),
    def("bytes", 1, 1, ext::bytes),
    def("decode", 1, 1, ext::decode),
];

/// The built-in a `with` block calls on entry (acquire, no timeout).
pub const WITH_ENTER: &str = "<with>";
/// The built-in a `with` block calls when an error leaves it.
pub const WITH_EXIT_ON_ERROR: &str = "<with: error>";

/// The name of the `c` module, the last built-in.
const C_MODULE: &str = "c";

/// The index of built-in `name`, if there is one.
pub fn index_of(name: &str) -> Option<u16> {
    let names = DEFS.iter().map(|d| d.name).chain(std::iter::once(C_MODULE));
    names.into_iter().position(|n| n == name).map(|i| i as u16)
}

/// The function of built-in `index` if it is a plain function (not `next`
/// or `send`, not the `c` module) that takes `argc` arguments: what
/// [`crate::vm::bytecode::Op::CallBuiltin`] calls directly.
#[inline]
pub fn direct_fn(index: u16, argc: usize) -> Option<crate::vm::value::NativeFn> {
    let def = DEFS.get(index as usize)?;
    let takes =
        argc >= def.min_args as usize && (def.max_args == ANY || argc <= def.max_args as usize);
    match &def.kind {
        NativeKind::Func(func) if takes => Some(*func),
        _ => None,
    }
}

/// The values of all built-ins, in index order.
pub fn make_all(token: Token<'_>) -> Vec<Value> {
    let mut values: Vec<Value> = DEFS
        .iter()
        .map(|d| native_value(token, d.name, d.min_args, d.max_args, d.kind.clone()))
        .collect();
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
) -> Result<&'a std::cell::RefCell<crate::vm::value::List>, RtError> {
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
