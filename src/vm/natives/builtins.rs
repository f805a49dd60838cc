//! The built-in functions every script sees: printing, conversions,
//! assertions, time, and lists and maps.
//!
//! Every built-in runs with the lock held (it gets the [`Token`]); `sleep`
//! releases it around the wait, as CPython's `time.sleep` does. Owns: these
//! functions' behaviour. May not touch: the VM (natives see only a
//! [`NativeCtx`]) or object internals beyond the value layer's API.

use std::io::Write;
use std::time::Duration;

use once_cell::sync::Lazy;

use super::{int_arg, list_arg, map_arg};
use crate::gil::{self, Token};
use crate::vm::error::{RtError, RtKind};
use crate::vm::value::{
    Key, KeyRef, List, NativeCtx, Obj, Value, find, format_float, live_objects, reserve,
};

pub(super) fn print(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let line: Vec<String> = args.iter().map(Value::display).collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", line.join(" "))
        .and_then(|()| out.flush())
        .map_err(|e| RtError::new(format!("print() cannot write to stdout: {e}")))?;
    Ok(Value::Nil)
}

pub(super) fn len(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let n = match &args[0] {
        Value::Obj(r) => match r.get() {
            Obj::Str(s) => s.char_count(),
            Obj::Bytes(b) => b.len(),
            Obj::List(items) => items.borrow().len(),
            Obj::Map(map) => map.borrow().len(),
            _ => return Err(RtError::new(format!("len() of a {}", args[0].type_name()))),
        },
        other => return Err(RtError::new(format!("len() of a {}", other.type_name()))),
    };
    Ok(Value::Int(n as i64))
}

pub(super) fn str_(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    if args[0].as_str().is_some() {
        return Ok(args[0].clone());
    }
    if let Value::Int(i) = args[0] {
        // Without `core::fmt`: an integer's text fits inside the object.
        return Ok(Value::str(token, itoa::Buffer::new().format(i)));
    }
    let text = args[0].display();
    reserve(text.len())?;
    Ok(Value::str(token, text))
}

pub(super) fn int(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
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
                Err(RtError::new(format!("cannot convert {} to int", format_float(*f))))
            }
        }
        v => parse_text(v, "int", Value::Int),
    }
}

pub(super) fn float(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    match &args[0] {
        Value::Int(i) => Ok(Value::Float(*i as f64)),
        Value::Float(f) => Ok(Value::Float(*f)),
        v => parse_text(v, "float", Value::Float),
    }
}

/// `int(text)` / `float(text)`: the number `v`'s text spells, made a value
/// by `wrap`; an error naming `type_name` if `v` is not text or not a number.
fn parse_text<T: std::str::FromStr>(
    v: &Value,
    type_name: &str,
    wrap: fn(T) -> Value,
) -> Result<Value, RtError> {
    match v.as_str() {
        Some(s) => s
            .trim()
            .parse::<T>()
            .map(wrap)
            .map_err(|_| RtError::new(format!("cannot convert {} to {type_name}", v.repr()))),
        None => Err(RtError::new(format!("cannot convert a {} to {type_name}", v.type_name()))),
    }
}

pub(super) fn type_(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    Ok(Value::str(token, args[0].type_name()))
}

static EPOCH: Lazy<std::time::Instant> = Lazy::new(std::time::Instant::now);

pub(super) fn time(_: &mut dyn NativeCtx, _: Token<'_>, _: &[Value]) -> Result<Value, RtError> {
    Ok(Value::Float(EPOCH.elapsed().as_secs_f64() * 1000.0))
}

pub(super) fn assert(
    _: &mut dyn NativeCtx,
    _: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    if args[0].truthy() {
        return Ok(Value::Nil);
    }
    Err(RtError::new(match args.get(1) {
        Some(message) => format!("assertion failed: {}", message.display()),
        None => "assertion failed".to_owned(),
    }))
}

/// `error(message)` raises an error; `error(e)` with a caught error map
/// raises it again, with its message and kind.
pub(super) fn error(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    if let Value::Obj(r) = &args[0] {
        if let Obj::Map(map) = r.get() {
            let map = map.borrow();
            let field = |name: &str| {
                map.iter()
                    .find(|(k, _)| k.to_value().as_str() == Some(name))
                    .map(|(_, v)| v.display())
            };
            if let Some(message) = field("message") {
                let kind = match field("kind").as_deref() {
                    Some("timeout") => RtKind::Timeout,
                    _ => RtKind::Error,
                };
                return Err(RtError { kind, ..RtError::new(message) });
            }
        }
    }
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

pub(super) fn sleep(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
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

pub(super) fn range(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
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
    reserve(usize::try_from(count).unwrap_or(usize::MAX).saturating_mul(16))?;
    Ok(Value::list_of(token, List::from_ints((start..end).collect())))
}

pub(super) fn push(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let items = list_arg(args, 0, "push")?;
    let grew = items.borrow_mut().push(args[1].clone())?;
    if let (true, Value::Obj(list)) = (grew, &args[0]) {
        list.resized();
    }
    Ok(Value::Nil)
}

pub(super) fn pop(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let item = list_arg(args, 0, "pop")?.borrow_mut().pop();
    item.ok_or_else(|| RtError::new("pop() from an empty list"))
}

pub(super) fn keys(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let keys = map_arg(args, 0, "keys")?.borrow().keys().map(Key::to_value).collect();
    Ok(Value::list(token, keys))
}

pub(super) fn has(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let key = KeyRef::from_value(&args[1])?;
    Ok(Value::Bool(find(&map_arg(args, 0, "has")?.borrow(), &key).is_some()))
}

pub(super) fn remove(
    _: &mut dyn NativeCtx,
    _: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let key = KeyRef::from_value(&args[1])?;
    let removed = map_arg(args, 0, "remove")?.borrow_mut().shift_remove(&key);
    removed.ok_or_else(|| RtError::new(format!("key {} not found", args[1].repr())))
}

pub(super) fn objects(_: &mut dyn NativeCtx, _: Token<'_>, _: &[Value]) -> Result<Value, RtError> {
    Ok(Value::Int(live_objects() as i64))
}

pub(super) fn script_args(
    ctx: &mut dyn NativeCtx,
    token: Token<'_>,
    _: &[Value],
) -> Result<Value, RtError> {
    let items = ctx.script_args().iter().map(|a| Value::str(token, a.as_str())).collect();
    Ok(Value::list(token, items))
}
