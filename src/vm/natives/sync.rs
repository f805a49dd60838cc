//! The synchronisation built-ins: `Lock`, `acquire`, `release`,
//! `Condition`, `wait`, `notify`, `notify_all`, `Queue`, `put`, `get`,
//! `size`, `close`, `Event`, `set`, `is_set`.
//!
//! They check their arguments and call the objects in the value layer
//! (`value/sync/`), which own the waiting: every blocking call releases
//! the global lock while it waits, stops on Ctrl+C, and takes an optional
//! timeout in milliseconds (`nil`: none). An expired timeout makes
//! `acquire` and `wait` return `false` and `get` and `put` raise an error
//! of kind `"timeout"`. Owns: nothing but these functions. May not touch:
//! the VM.

use std::sync::Arc;
use std::time::Duration;

use crate::gil::Token;
use crate::vm::error::RtError;
use crate::vm::value::{
    ConditionCore, EventCore, LockCore, NativeCtx, Obj, ObjRef, ScriptQueue, SyncObj, Value,
};

fn new_object(token: Token<'_>, sync: SyncObj) -> Value {
    Value::Obj(ObjRef::new(token, Obj::Sync(Box::new(sync))))
}

/// Argument `i` as what `pick` takes from the synchronisation object it
/// is, or an error saying that `func` needs `needs` (`"a lock"`), not
/// what it got.
fn sync_arg<'a, T>(
    args: &'a [Value],
    i: usize,
    func: &str,
    needs: &str,
    pick: impl FnOnce(&'a SyncObj) -> Option<T>,
) -> Result<T, RtError> {
    if let Value::Obj(r) = &args[i] {
        if let Obj::Sync(sync) = r.get() {
            if let Some(picked) = pick(sync) {
                return Ok(picked);
            }
        }
    }
    Err(RtError::new(format!("{func}() needs {needs}, not a {}", args[i].type_name())))
}

fn lock_arg<'a>(args: &'a [Value], i: usize, func: &str) -> Result<&'a Arc<LockCore>, RtError> {
    sync_arg(args, i, func, "a lock", |sync| match sync {
        SyncObj::Lock(lock) => Some(lock),
        _ => None,
    })
}

fn queue_arg<'a>(args: &'a [Value], func: &str) -> Result<&'a ScriptQueue, RtError> {
    sync_arg(args, 0, func, "a queue", |sync| match sync {
        SyncObj::Queue(queue) => Some(queue),
        _ => None,
    })
}

fn condition_arg<'a>(args: &'a [Value], func: &str) -> Result<&'a Arc<ConditionCore>, RtError> {
    sync_arg(args, 0, func, "a condition", |sync| match sync {
        SyncObj::Condition(cv) => Some(cv),
        _ => None,
    })
}

fn event_arg<'a>(args: &'a [Value], func: &str) -> Result<&'a Arc<EventCore>, RtError> {
    sync_arg(args, 0, func, "an event", |sync| match sync {
        SyncObj::Event(ev) => Some(ev),
        _ => None,
    })
}

/// Optional argument `i`: a timeout in milliseconds (`nil` or absent: wait
/// for ever).
pub(super) fn timeout_arg(
    args: &[Value],
    i: usize,
    func: &str,
) -> Result<Option<Duration>, RtError> {
    let ms = match args.get(i) {
        None | Some(Value::Nil) => return Ok(None),
        Some(Value::Int(ms)) if *ms >= 0 => *ms as f64,
        Some(Value::Float(ms)) if *ms >= 0.0 && ms.is_finite() => *ms,
        Some(other) => {
            return Err(RtError::new(format!(
                "{func}(): a timeout is a non-negative number of milliseconds or nil, not {}",
                other.repr()
            )));
        }
    };
    // Longer than a year is "for ever" (and cannot overflow an Instant).
    Ok(if ms > 3.15e10 { None } else { Some(Duration::from_secs_f64(ms / 1000.0)) })
}

/// `Lock()`: a new lock, not held.
pub(super) fn lock(_: &mut dyn NativeCtx, token: Token<'_>, _: &[Value]) -> Result<Value, RtError> {
    Ok(new_object(token, SyncObj::Lock(LockCore::new())))
}

/// `acquire(l [, timeout])`: take the lock; false if the timeout ran out.
pub(super) fn acquire(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let lock = Arc::clone(lock_arg(args, 0, "acquire")?);
    let timeout = timeout_arg(args, 1, "acquire")?;
    Ok(Value::Bool(lock.acquire(token, timeout, "acquire()")?))
}

/// `release(l)`: let go of a lock this thread holds.
pub(super) fn release(
    _: &mut dyn NativeCtx,
    _: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    lock_arg(args, 0, "release")?.release("release()")?;
    Ok(Value::Nil)
}

/// What a `with` block runs when it is left by an error: release the
/// lock if this thread still holds it, and never raise (the error already
/// on its way is the one to report). Not nameable from a script.
pub(super) fn with_exit_on_error(
    _: &mut dyn NativeCtx,
    _: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    if let Ok(lock) = lock_arg(args, 0, "with") {
        lock.release_if_held();
    }
    Ok(Value::Nil)
}

/// What a `with` block runs on entry: `acquire` without a timeout, with a
/// message about `with`.
pub(super) fn with_enter(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let Ok(lock) = lock_arg(args, 0, "with") else {
        return Err(RtError::new(format!("'with' needs a lock, not a {}", args[0].type_name())));
    };
    let lock = Arc::clone(lock);
    lock.acquire(token, None, "'with'")?;
    Ok(Value::Nil)
}

/// `Condition(lock)`: a condition variable over `lock`.
pub(super) fn condition(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let lock = Arc::clone(lock_arg(args, 0, "Condition")?);
    Ok(new_object(token, SyncObj::Condition(ConditionCore::new(lock))))
}

/// `wait(cv [, timeout])` or `wait(ev [, timeout])`: for a condition,
/// release its lock, wait for a notify, take the lock back; for an event,
/// wait until it is set. False if the timeout ran out.
pub(super) fn wait(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let timeout = timeout_arg(args, 1, "wait")?;
    let waited = sync_arg(args, 0, "wait", "a condition or an event", |sync| match sync {
        SyncObj::Condition(cv) => Some(Arc::clone(cv).wait(token, timeout)),
        SyncObj::Event(ev) => Some(Arc::clone(ev).wait(token, timeout)),
        _ => None,
    })?;
    Ok(Value::Bool(waited?))
}

fn notify_common(args: &[Value], all: bool, func: &str) -> Result<Value, RtError> {
    condition_arg(args, func)?.notify(all, &format!("{func}()"))?;
    Ok(Value::Nil)
}

/// `notify(cv)`: wake the longest-waiting thread.
pub(super) fn notify(
    _: &mut dyn NativeCtx,
    _: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    notify_common(args, false, "notify")
}

/// `notify_all(cv)`: wake every waiting thread.
pub(super) fn notify_all(
    _: &mut dyn NativeCtx,
    _: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    notify_common(args, true, "notify_all")
}

/// `Queue([maxsize])`: an empty queue; with `maxsize > 0`, `put` waits
/// while it holds that many items.
pub(super) fn queue(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let maxsize = match args.first() {
        None | Some(Value::Nil) => 0,
        Some(Value::Int(n)) if *n >= 0 => usize::try_from(*n).unwrap_or(usize::MAX),
        Some(other) => {
            return Err(RtError::new(format!(
                "Queue(): maxsize is a non-negative integer (0: unbounded), not {}",
                other.repr()
            )));
        }
    };
    Ok(new_object(token, SyncObj::Queue(ScriptQueue::new(maxsize))))
}

/// `put(q, x [, timeout])`: add `x` at the back, waiting for room.
pub(super) fn put(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let queue = queue_arg(args, "put")?;
    let timeout = timeout_arg(args, 2, "put")?;
    queue.put(token, args[1].clone(), timeout)?;
    Ok(Value::Nil)
}

/// `get(q [, timeout])`: take the front item, waiting for one. A closed,
/// empty queue is an error (a `for` loop over the queue simply ends).
pub(super) fn get(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let queue = queue_arg(args, "get")?;
    let timeout = timeout_arg(args, 1, "get")?;
    match queue.get(token, timeout)? {
        Some(item) => Ok(item),
        None => Err(RtError::new(format!("get(): {} is closed and empty", queue_name(&args[0])))),
    }
}

fn queue_name(value: &Value) -> String {
    match value {
        Value::Obj(r) => match r.get() {
            Obj::Sync(sync) => sync.blocker().to_string(),
            _ => "queue".to_owned(),
        },
        _ => "queue".to_owned(),
    }
}

/// `size(q)`: how many items wait in the queue.
pub(super) fn size(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    Ok(Value::Int(queue_arg(args, "size")?.len() as i64))
}

/// `close(q)`: no more puts; readers drain what is left.
pub(super) fn close(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    queue_arg(args, "close")?.close();
    Ok(Value::Nil)
}

/// `Event()`: a new event, not set.
pub(super) fn event(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    _: &[Value],
) -> Result<Value, RtError> {
    Ok(new_object(token, SyncObj::Event(EventCore::new())))
}

/// `set(ev)`: set the event, waking every waiter.
pub(super) fn set(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    event_arg(args, "set")?.set();
    Ok(Value::Nil)
}

/// `is_set(ev)`: whether the event is set.
pub(super) fn is_set(
    _: &mut dyn NativeCtx,
    _: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    Ok(Value::Bool(event_arg(args, "is_set")?.is_set()))
}
