//! Built-in functions: one table, one function each.
//!
//! Every built-in runs with the lock held (it gets the [`Token`]); the few
//! that block — `sleep`, `join` — release it around the wait, as CPython's
//! `time.sleep` and `Thread.join` do.

use std::io::Write;
use std::time::Duration;

use once_cell::sync::Lazy;

use super::error::RtError;
use super::value::{Key, Native, NativeFn, Obj, ObjRef, Value, live_objects};
use super::vm::{Special, Vm};
use crate::gil::{self, Token};

struct Def {
    name: &'static str,
    min_args: u8,
    max_args: u8,
    func: NativeFn,
}

const ANY: u8 = u8::MAX;

const DEFS: &[Def] = &[
    Def { name: "print", min_args: 0, max_args: ANY, func: print },
    Def { name: "len", min_args: 1, max_args: 1, func: len },
    Def { name: "str", min_args: 1, max_args: 1, func: str_ },
    Def { name: "int", min_args: 1, max_args: 1, func: int },
    Def { name: "float", min_args: 1, max_args: 1, func: float },
    Def { name: "type", min_args: 1, max_args: 1, func: type_ },
    Def { name: "time", min_args: 0, max_args: 0, func: time },
    Def { name: "assert", min_args: 1, max_args: 2, func: assert },
    Def { name: "error", min_args: 1, max_args: 1, func: error },
    Def { name: "sleep", min_args: 1, max_args: 1, func: sleep },
    Def { name: "range", min_args: 1, max_args: 2, func: range },
    Def { name: "push", min_args: 2, max_args: 2, func: push },
    Def { name: "pop", min_args: 1, max_args: 1, func: pop },
    Def { name: "keys", min_args: 1, max_args: 1, func: keys },
    Def { name: "has", min_args: 2, max_args: 2, func: has },
    Def { name: "remove", min_args: 2, max_args: 2, func: remove },
    Def { name: "spawn", min_args: 1, max_args: ANY, func: super::threads::spawn },
    Def { name: "spawn_named", min_args: 2, max_args: ANY, func: super::threads::spawn_named },
    Def { name: "join", min_args: 1, max_args: 1, func: super::threads::join },
    Def { name: "thread_name", min_args: 0, max_args: 0, func: super::threads::thread_name },
    Def { name: "next", min_args: 1, max_args: 1, func: resume_placeholder },
    Def { name: "send", min_args: 2, max_args: 2, func: resume_placeholder },
    Def { name: "objects", min_args: 0, max_args: 0, func: objects },
    Def { name: "args", min_args: 0, max_args: 0, func: script_args },
];

/// The name of the `c` module, the last built-in.
pub const C_MODULE: &str = "c";

static NAMES: Lazy<Vec<&'static str>> =
    Lazy::new(|| DEFS.iter().map(|d| d.name).chain(std::iter::once(C_MODULE)).collect());

/// The index of built-in `name`, if there is one.
pub fn index_of(name: &str) -> Option<u16> {
    NAMES.iter().position(|n| *n == name).map(|i| i as u16)
}

/// Every built-in name.
pub fn names() -> &'static [&'static str] {
    &NAMES
}

/// The values of all built-ins, in index order.
pub fn make_all(token: Token<'_>) -> Vec<Value> {
    let mut values: Vec<Value> =
        DEFS.iter().map(|d| native_value(token, d.name, d.min_args, d.max_args, d.func)).collect();
    values.push(super::cmod::make(token));
    values
}

/// A built-in function value.
pub fn native_value(
    token: Token<'_>,
    name: &'static str,
    min_args: u8,
    max_args: u8,
    func: NativeFn,
) -> Value {
    Value::Obj(ObjRef::new(token, Obj::Native(Native { name, min_args, max_args, func })))
}

/// Whether `native` needs the VM to run it (`next`, `send`).
pub fn special(native: &Native) -> Special {
    match native.name {
        "next" => Special::Next,
        "send" => Special::Send,
        _ => Special::None,
    }
}

fn resume_placeholder(_: &mut Vm, _: Token<'_>, _: &[Value]) -> Result<Value, RtError> {
    unreachable!("next and send are run by the VM itself")
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

fn list_arg<'a>(
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

fn map_arg<'a>(
    args: &'a [Value],
    i: usize,
    func: &str,
) -> Result<&'a std::cell::RefCell<indexmap::IndexMap<Key, Value>>, RtError> {
    match &args[i] {
        Value::Obj(r) => match r.get() {
            Obj::Map(map) => Ok(map),
            _ => Err(RtError::new(format!("{func}() needs a map, not a {}", args[i].type_name()))),
        },
        other => Err(RtError::new(format!("{func}() needs a map, not a {}", other.type_name()))),
    }
}

// ----- the built-ins -----

fn print(_: &mut Vm, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let line: Vec<String> = args.iter().map(Value::display).collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", line.join(" "))
        .and_then(|()| out.flush())
        .map_err(|e| RtError::new(format!("print() cannot write to stdout: {e}")))?;
    Ok(Value::Nil)
}

fn len(_: &mut Vm, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let n = match &args[0] {
        Value::Obj(r) => match r.get() {
            Obj::Str(s) => s.chars().count(),
            Obj::List(items) => items.borrow().len(),
            Obj::Map(map) => map.borrow().len(),
            _ => return Err(RtError::new(format!("len() of a {}", args[0].type_name()))),
        },
        other => return Err(RtError::new(format!("len() of a {}", other.type_name()))),
    };
    Ok(Value::Int(n as i64))
}

fn str_(_: &mut Vm, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    if args[0].as_str().is_some() {
        return Ok(args[0].clone());
    }
    Ok(Value::str(token, args[0].display()))
}

fn int(_: &mut Vm, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    match &args[0] {
        Value::Int(i) => Ok(Value::Int(*i)),
        Value::Bool(b) => Ok(Value::Int(i64::from(*b))),
        Value::Float(f) => {
            if f.is_finite()
                && f.trunc() >= -9.223_372_036_854_776e18
                && f.trunc() < 9.223_372_036_854_776e18
            {
                Ok(Value::Int(f.trunc() as i64))
            } else {
                Err(RtError::new(format!(
                    "cannot convert {} to int",
                    super::value::format_float(*f)
                )))
            }
        }
        v => match v.as_str() {
            Some(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| RtError::new(format!("cannot convert {} to int", v.repr()))),
            None => Err(RtError::new(format!("cannot convert a {} to int", v.type_name()))),
        },
    }
}

fn float(_: &mut Vm, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    match &args[0] {
        Value::Int(i) => Ok(Value::Float(*i as f64)),
        Value::Float(f) => Ok(Value::Float(*f)),
        v => match v.as_str() {
            Some(s) => s
                .trim()
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| RtError::new(format!("cannot convert {} to float", v.repr()))),
            None => Err(RtError::new(format!("cannot convert a {} to float", v.type_name()))),
        },
    }
}

fn type_(_: &mut Vm, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    Ok(Value::str(token, args[0].type_name()))
}

static EPOCH: Lazy<std::time::Instant> = Lazy::new(std::time::Instant::now);

fn time(_: &mut Vm, _: Token<'_>, _: &[Value]) -> Result<Value, RtError> {
    Ok(Value::Float(EPOCH.elapsed().as_secs_f64() * 1000.0))
}

fn assert(_: &mut Vm, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    if args[0].truthy() {
        return Ok(Value::Nil);
    }
    Err(RtError::new(match args.get(1) {
        Some(message) => format!("assertion failed: {}", message.display()),
        None => "assertion failed".to_owned(),
    }))
}

fn error(_: &mut Vm, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    Err(RtError::new(args[0].display()))
}

/// Wait up to `ms` without the lock; an interrupt ends the wait early.
/// Returns false if interrupted.
pub fn sleep_released(token: Token<'_>, ms: u64) -> bool {
    token.detach(move || {
        let deadline = std::time::Instant::now() + Duration::from_millis(ms);
        let fd = gil::interrupt_fd().ok();
        loop {
            if gil::interrupted() {
                return false;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return true;
            }
            match fd {
                Some(fd) => {
                    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
                    let wait = left.as_millis().clamp(1, 1000) as i32;
                    // SAFETY: `pfd` is one valid pollfd; the count says one.
                    unsafe { libc::poll(&raw mut pfd, 1, wait) };
                }
                None => std::thread::sleep(left.min(Duration::from_millis(10))),
            }
        }
    })
}

fn sleep(_: &mut Vm, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let ms = match &args[0] {
        Value::Int(i) if *i >= 0 => *i as u64,
        Value::Float(f) if *f >= 0.0 && f.is_finite() => f.ceil() as u64,
        other => {
            return Err(RtError::new(format!(
                "sleep() needs a non-negative number of milliseconds, not {}",
                other.repr()
            )));
        }
    };
    if sleep_released(token, ms) { Ok(Value::Nil) } else { Err(RtError::interrupted()) }
}

fn range(_: &mut Vm, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let (start, end) = if args.len() == 1 {
        (0, int_arg(args, 0, "range")?)
    } else {
        (int_arg(args, 0, "range")?, int_arg(args, 1, "range")?)
    };
    let count = end.saturating_sub(start).max(0);
    if count > 10_000_000 {
        return Err(RtError::new(format!(
            "range() list of {count} items is too large; use it in a for loop instead"
        )));
    }
    Ok(Value::list(token, (start..end).map(Value::Int).collect()))
}

fn push(_: &mut Vm, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    list_arg(args, 0, "push")?.borrow_mut().push(args[1].clone());
    Ok(Value::Nil)
}

fn pop(_: &mut Vm, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let item = list_arg(args, 0, "pop")?.borrow_mut().pop();
    item.ok_or_else(|| RtError::new("pop() from an empty list"))
}

fn keys(_: &mut Vm, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let keys = map_arg(args, 0, "keys")?.borrow().keys().map(Key::to_value).collect();
    Ok(Value::list(token, keys))
}

fn has(_: &mut Vm, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let key = Key::from_value(&args[1])?;
    Ok(Value::Bool(map_arg(args, 0, "has")?.borrow().contains_key(&key)))
}

fn remove(_: &mut Vm, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let key = Key::from_value(&args[1])?;
    let removed = map_arg(args, 0, "remove")?.borrow_mut().shift_remove(&key);
    removed.ok_or_else(|| RtError::new(format!("key {} not found", args[1].repr())))
}

fn objects(_: &mut Vm, _: Token<'_>, _: &[Value]) -> Result<Value, RtError> {
    Ok(Value::Int(live_objects() as i64))
}

fn script_args(vm: &mut Vm, token: Token<'_>, _: &[Value]) -> Result<Value, RtError> {
    let items = vm.program.args.iter().map(|a| Value::str(token, a.as_str())).collect();
    Ok(Value::list(token, items))
}
