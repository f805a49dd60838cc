//! The `c` module: every function of the bundled C library, callable from
//! scripts.
//!
//! Each entry converts its arguments and calls the safe wrapper in
//! [`crate::ffi::clib`], which is the one path into C: the lock is held on
//! entry and the C function alone decides whether to release it. Where the
//! C function offers both, the last argument chooses (`true`: release).
//! `c.pipe`, `c.write` and `c.close` are small helpers in Rust so scripts
//! can feed `c.read`; they accept only descriptors `c.pipe` made.
//!
//! Owns: the module's table and the descriptors `c.pipe` made. May not
//! touch: the VM (callbacks go through [`NativeCtx::callback`]) or the
//! lock's state (only `clib`'s safe wrappers).

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use super::{bool_arg, int_arg, native_value, str_arg};
use crate::ffi::clib::{self, CError, Hold};
use crate::gil::Token;
use crate::vm::error::{RtError, RtKind};
use crate::vm::value::{
    Callback, Key, LockedCells, NativeCtx, NativeFn, NativeKind, Obj, ObjRef, Value,
};

const FUNCTIONS: &[(&str, u8, u8, NativeFn)] = &[
    ("count_primes", 1, 2, count_primes),
    ("count_primes_cooperative", 1, 1, count_primes_cooperative),
    ("busy_wait", 1, 2, busy_wait),
    ("busy_wait_cooperative", 1, 1, busy_wait_cooperative),
    ("sleep", 1, 1, sleep),
    ("read", 2, 3, read),
    ("map_released", 3, 3, map_released),
    ("foreign_threads", 3, 3, foreign_threads),
    ("noop", 0, 1, noop),
    ("pipe", 0, 0, pipe),
    ("write", 2, 2, write),
    ("close", 1, 1, close),
];

/// Names as shown in messages: `c.count_primes`.
static QUALIFIED: Lazy<Vec<&'static str>> = Lazy::new(|| {
    FUNCTIONS.iter().map(|(name, ..)| &*Box::leak(format!("c.{name}").into_boxed_str())).collect()
});

/// The module value: a map from names to functions.
pub fn make(token: Token<'_>) -> Value {
    let mut map = crate::vm::value::map_table(FUNCTIONS.len());
    for (i, &(name, min, max, func)) in FUNCTIONS.iter().enumerate() {
        let key = Key::Str(match Value::str(token, name) {
            Value::Obj(r) => r,
            _ => unreachable!("a string is an object"),
        });
        map.insert(key, native_value(token, QUALIFIED[i], min, max, NativeKind::Func(func)));
    }
    Value::Obj(ObjRef::new(token, Obj::Map(map.into())))
}

fn c_error(func: &str, e: CError) -> RtError {
    match e {
        CError::Interrupted => RtError::interrupted(),
        CError::Misuse(message) => RtError::new(format!("{func}: {message}")),
        other => RtError::new(format!("{func}: {other}")),
    }
}

/// A C function's integer result as a value, or its error as a script error.
fn int_result(func: &str, result: Result<i64, CError>) -> Result<Value, RtError> {
    result.map(Value::Int).map_err(|e| c_error(func, e))
}

/// The longest wait a `c.*` call accepts: one day, in milliseconds. C turns
/// milliseconds into nanoseconds (`ms * 1000000`), which overflows — undefined
/// behaviour in C — past about 292 years; a day is far from that and far
/// beyond any script's need.
const MAX_MS: i64 = 24 * 60 * 60 * 1000;

/// The largest `n` for `c.count_primes`: trial division squares divisors up
/// to `sqrt(n)`, which must stay far from overflowing 64 bits.
const MAX_PRIMES_BELOW: i64 = 1_000_000_000_000_000;

/// Argument `i` as an integer in `range`, checked here, in Rust, before C
/// sees it; `what` names it in the error.
fn ranged_arg(
    args: &[Value],
    i: usize,
    func: &str,
    what: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, RtError> {
    let value = int_arg(args, i, func)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(RtError::new(format!(
            "{func}: {what} must be between {} and {}, not {value}",
            range.start(),
            range.end()
        )))
    }
}

/// A time in milliseconds, 0 to [`MAX_MS`].
fn ms_arg(args: &[Value], i: usize, func: &str) -> Result<i64, RtError> {
    ranged_arg(args, i, func, "the time in milliseconds", 0..=MAX_MS)
}

fn hold(args: &[Value], i: usize) -> Hold {
    if bool_arg(args, i, false) { Hold::Release } else { Hold::Keep }
}

fn count_primes(_: &mut dyn NativeCtx, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let n = ranged_arg(args, 0, "c.count_primes", "n", 0..=MAX_PRIMES_BELOW)?;
    int_result("c.count_primes", clib::count_primes(token, n, hold(args, 1)))
}

fn count_primes_cooperative(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let n = ranged_arg(args, 0, "c.count_primes_cooperative", "n", 0..=MAX_PRIMES_BELOW)?;
    int_result("c.count_primes_cooperative", clib::count_primes_cooperative(token, n))
}

fn busy_wait(_: &mut dyn NativeCtx, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let ms = ms_arg(args, 0, "c.busy_wait")?;
    int_result("c.busy_wait", clib::busy_wait_ms(token, ms, hold(args, 1)))
}

fn busy_wait_cooperative(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let ms = ms_arg(args, 0, "c.busy_wait_cooperative")?;
    int_result("c.busy_wait_cooperative", clib::busy_wait_ms_cooperative(token, ms))
}

fn noop(_: &mut dyn NativeCtx, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    int_result("c.noop", clib::noop(token, hold(args, 0)))
}

fn sleep(_: &mut dyn NativeCtx, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let ms = ms_arg(args, 0, "c.sleep")?;
    clib::sleep_ms(token, ms).map(|()| Value::Nil).map_err(|e| c_error("c.sleep", e))
}

/// Pipes made by `c.pipe`, by descriptor number.
static PIPES: Lazy<Mutex<HashMap<i32, OwnedFd>>> = Lazy::new(|| Mutex::new(HashMap::new()));

fn pipe_fd(args: &[Value], i: usize, func: &str) -> Result<OwnedFd, RtError> {
    let fd = int_arg(args, i, func)?;
    let pipes = PIPES.lock();
    let owned = i32::try_from(fd).ok().and_then(|fd| pipes.get(&fd));
    match owned {
        Some(owned) => owned.try_clone().map_err(|e| RtError::new(format!("{func}: {e}"))),
        None => {
            Err(RtError::new(format!("{func}: {fd} is not an open descriptor made by c.pipe()")))
        }
    }
}

fn pipe(_: &mut dyn NativeCtx, token: Token<'_>, _: &[Value]) -> Result<Value, RtError> {
    let (reader, writer) = std::io::pipe().map_err(|e| RtError::new(format!("c.pipe: {e}")))?;
    let (reader, writer): (OwnedFd, OwnedFd) = (reader.into(), writer.into());
    let fds =
        vec![Value::Int(i64::from(reader.as_raw_fd())), Value::Int(i64::from(writer.as_raw_fd()))];
    let mut pipes = PIPES.lock();
    pipes.insert(reader.as_raw_fd(), reader);
    pipes.insert(writer.as_raw_fd(), writer);
    Ok(Value::list(token, fds))
}

/// `c.write(fd, s)`: write all of `s`, with the lock released, stopping on
/// Ctrl+C. (It used to write with the lock held and no check: a large
/// string into a pipe nobody read blocked every thread, and the process
/// ignored Ctrl+C until killed.)
fn write(_: &mut dyn NativeCtx, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let fd = pipe_fd(args, 0, "c.write")?;
    let bytes = str_arg(args, 1, "c.write")?.as_bytes().to_vec();
    token.detach(move || write_interruptibly(&fd, &bytes)).map_err(|e| match e {
        None => RtError::interrupted(),
        Some(e) => RtError::new(format!("c.write: {e}")),
    })?;
    Ok(Value::Nil)
}

/// Write all of `bytes` to `fd`, waiting for room with `poll` in slices of
/// 20 ms so a pending interrupt is seen: `Err(None)` then. Each write is at
/// most `PIPE_BUF` bytes, which a pipe with room for them takes whole,
/// without blocking.
fn write_interruptibly(fd: &OwnedFd, mut bytes: &[u8]) -> Result<(), Option<std::io::Error>> {
    let raw = fd.as_raw_fd();
    while !bytes.is_empty() {
        if crate::gil::interrupted() {
            return Err(None);
        }
        let mut ready = libc::pollfd { fd: raw, events: libc::POLLOUT, revents: 0 };
        // SAFETY: one valid pollfd, and its count is 1.
        let polled = unsafe { libc::poll(&mut ready, 1, 20) };
        if polled < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Some(e));
        }
        if polled == 0 {
            continue;
        }
        let chunk = bytes.len().min(libc::PIPE_BUF);
        // SAFETY: `bytes[..chunk]` is valid for reads, and `raw` is open
        // (owned by `fd`) for the whole call.
        let wrote = unsafe { libc::write(raw, bytes.as_ptr().cast(), chunk) };
        if wrote < 0 {
            let e = std::io::Error::last_os_error();
            if matches!(e.kind(), std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock)
            {
                continue;
            }
            return Err(Some(e));
        }
        bytes = &bytes[wrote as usize..];
    }
    Ok(())
}

fn close(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let fd = int_arg(args, 0, "c.close")?;
    let removed = i32::try_from(fd).ok().and_then(|fd| PIPES.lock().remove(&fd));
    match removed {
        Some(_) => Ok(Value::Nil),
        None => {
            Err(RtError::new(format!("c.close: {fd} is not an open descriptor made by c.pipe()")))
        }
    }
}

fn read(_: &mut dyn NativeCtx, token: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let fd = pipe_fd(args, 0, "c.read")?;
    let max = int_arg(args, 1, "c.read")?;
    if !(0..=1 << 20).contains(&max) {
        return Err(RtError::new("c.read: the size must be between 0 and 1048576"));
    }
    let mut buf = vec![0u8; max as usize];
    let got = clib::read_fd(token, fd.as_fd(), &mut buf, hold(args, 2))
        .map_err(|e| c_error("c.read", e))?;
    buf.truncate(got);
    Ok(Value::str(token, String::from_utf8_lossy(&buf).into_owned()))
}

/// Call script function `f` from C with one integer argument; its result
/// must be an integer. An error is kept for the caller to raise.
fn call_back(
    token: Token<'_>,
    callback: &Callback,
    f: &LockedCells,
    index: i64,
    failure: &Mutex<Option<RtError>>,
) -> Result<i64, ()> {
    let result = callback(token, f.get(token, 0), vec![Value::Int(index)]);
    match result {
        Ok(Value::Int(v)) => Ok(v),
        Ok(Value::Nil) => Ok(0),
        Ok(other) => {
            failure.lock().get_or_insert(RtError::new(format!(
                "a callback from C must return an int, not a {}",
                other.type_name()
            )));
            Err(())
        }
        Err(e) => {
            failure.lock().get_or_insert(e);
            Err(())
        }
    }
}

fn callback_result(
    func: &str,
    result: Result<i64, CError>,
    failure: Mutex<Option<RtError>>,
) -> Result<i64, RtError> {
    match (result, failure.into_inner()) {
        (_, Some(e)) if e.kind == RtKind::Interrupted => Err(e),
        (_, Some(mut e)) => {
            e.message = format!("in a callback from {func}: {}", e.message);
            Err(e)
        }
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(c_error(func, e)),
    }
}

fn map_released(
    ctx: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let n = ranged_arg(args, 0, "c.map_released", "the number of rounds", 0..=i64::from(i32::MAX))?;
    let work_ms = ms_arg(args, 1, "c.map_released")?;
    let f = LockedCells::new(token, vec![args[2].clone()]);
    let failure = Mutex::new(None);
    let callback = ctx.callback();
    let result = clib::map_released(token, n, work_ms, &|token, i| {
        call_back(token, &callback, &f, i, &failure)
    });
    callback_result("c.map_released", result, failure).map(Value::Int)
}

fn foreign_threads(
    ctx: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let threads = ranged_arg(args, 0, "c.foreign_threads", "the number of threads", 1..=1024)?;
    let calls = ranged_arg(
        args,
        1,
        "c.foreign_threads",
        "the number of calls per thread",
        0..=i64::from(i32::MAX),
    )?;
    let threads = threads as i32; // 1..=1024 fits
    let f = LockedCells::new(token, vec![args[2].clone()]);
    let failure = Mutex::new(None);
    let callback = ctx.callback();
    let result = clib::run_foreign_threads(token, threads, calls, &|token, i| {
        call_back(token, &callback, &f, i, &failure)
    })
    .map(|()| 0);
    callback_result("c.foreign_threads", result, failure).map(|_| Value::Nil)
}
