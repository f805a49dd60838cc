//! Calling an extension function, and calling back from it (`gs_call`).
//!
//! A call opens a *scope* on the thread: the arguments are lent to C for
//! its duration, as are `gs_list_get`/`gs_map_get` results; closing the
//! scope frees what C did not keep. The C function runs with the lock held,
//! marked as the running C function (so a release from C is attributed to
//! it), and on return the lock must be held again at the same depth. Its
//! result must be a new reference, or NULL with an error set.
//!
//! This file owns each thread's stack of callers (how `gs_call` reaches the
//! interpreter that called C).

use std::cell::Cell;

use super::handles::{self, BadHandle, DecrefError, GsObject};
use super::objects;
use crate::gil::{self, Token, cstate};
use crate::vm::{NativeCtx, Value};

/// A C extension function, as `gilscope.h` declares `gs_cfunc`.
pub type GsCFunc = unsafe extern "C" fn(args: *const *mut GsObject, nargs: i32) -> *mut GsObject;

/// One registered extension function.
#[derive(Debug)]
pub struct ExtFunction {
    /// `module.name`, for messages and the timeline.
    pub qualified: &'static str,
    /// Fewest arguments.
    pub min_args: u8,
    /// Most arguments (`u8::MAX`: any number).
    pub max_args: u8,
    /// The C function.
    pub func: GsCFunc,
}

/// The context the innermost extension function running on this thread
/// was called with: how `gs_call` gets back into the interpreter. Set for
/// exactly that call; each call keeps the one it replaced and puts it back.
type Caller = *mut (dyn NativeCtx + 'static);

thread_local! {
    static CALLER: Cell<Option<Caller>> = const { Cell::new(None) };
}

/// `gs_call`'s way into the interpreter: the innermost caller on this
/// thread.
pub(super) fn call_script(
    token: Token<'_>,
    callee: Value,
    args: Vec<Value>,
) -> Result<Value, String> {
    let Some(caller) = CALLER.with(Cell::get) else {
        let misuse = gil::report_misuse(
            "gs_call",
            format_args!(
                "no interpreter is calling C on this thread: gs_call works only inside an \
                 extension function (or C code it calls, on the same thread); from a thread of \
                 your own, hand results back to a script thread (which collects them with a \
                 call into the extension) instead"
            ),
        );
        return Err(misuse.into_message());
    };
    // SAFETY: `call_extension` pushed this pointer, made from the `&mut`
    // context it was given, and pops it before returning; we are on the
    // same thread inside that call (C called back), and `call_extension`
    // does not use the context itself meanwhile, so this is the only
    // reference to it. `NativeCtx::call` is made to be re-entered.
    let ctx = unsafe { &mut *caller };
    ctx.call(token, callee, args).map_err(|e| e.message)
}

/// Run `call` (C code) with the lock held, through the lock's one
/// return-from-C check: a C function that returned without the lock is
/// reported and repaired, and any misuse of the C API during the call is
/// the error (its reported line). What C returned is kept either way, so a
/// reference it handed back is not lost.
pub(super) fn run_c<R: Default>(
    token: Token<'_>,
    name: &'static str,
    call: impl FnOnce() -> R,
) -> (R, Result<(), String>) {
    let mut returned = R::default();
    let checked = cstate::call_c(token, name, || returned = call());
    (returned, checked.map_err(|misuse| format!("{name}: {}", misuse.into_message())))
}

/// Call extension function `func` with `args` for the interpreter thread
/// `ctx` (through which `gs_call` calls back). The error is the script
/// error's message, naming the function. Inlined into the interpreter's
/// one caller (`vm/natives/ext.rs`), with its result's common case in
/// line: 941 instructions per `f(x)` loop iteration against 961 as a
/// function of its own with the whole result check out of line.
#[inline(always)]
pub fn call_extension(
    token: Token<'_>,
    func: &ExtFunction,
    args: &[Value],
    ctx: &mut dyn NativeCtx,
) -> Result<Value, String> {
    let mut small = [std::ptr::null_mut(); 4];
    // Made only for a call with more arguments than `small` holds.
    let mut large: Vec<*mut GsObject>;
    let lent: &mut [*mut GsObject] = if args.len() <= small.len() {
        &mut small[..args.len()]
    } else {
        large = vec![std::ptr::null_mut(); args.len()];
        &mut large
    };
    let caller: *mut (dyn NativeCtx + '_) = ctx;
    // SAFETY: only the trait object's lifetime bound changes. The pointer
    // is used only by `call_script` while this call runs (see there), and
    // popped below, before `ctx`'s borrow ends.
    let caller: Caller = unsafe { std::mem::transmute(caller) };
    let outer_caller = CALLER.with(|c| c.replace(Some(caller)));
    let scope = handles::open_scope_with(token, args, lent);
    objects::clear_pending();
    // Fits: a script calls with at most 255 arguments, `gs_call` with at
    // most an `int`'s worth.
    let nargs = lent.len() as i32;
    let mut raw: *mut GsObject = std::ptr::null_mut();
    // No panic boundary around C: C cannot panic, and each gs_* function it
    // calls has its own (see `crate::ffi::guarded`).
    let checked = cstate::call_c(token, func.qualified, || {
        // SAFETY: `func` was registered by the extension as a gs_cfunc;
        // `lent` holds `nargs` live handles for the whole call.
        raw = unsafe { (func.func)(lent.as_ptr(), nargs) };
    });
    let outcome = match checked {
        Ok(()) => take_result(token, func.qualified, raw),
        Err(misuse) => misused(token, func.qualified, raw, misuse),
    };
    CALLER.with(|c| c.set(outer_caller));
    handles::close_scope(token, scope);
    outcome
}

/// The outcome of a call during which C misused the API: the misuse is
/// the error; a reference C returned anyway is taken back so it does not
/// leak.
#[cold]
#[inline(never)]
fn misused(
    token: Token<'_>,
    name: &'static str,
    raw: *mut GsObject,
    misuse: gil::Misuse,
) -> Result<Value, String> {
    objects::take_pending();
    if !raw.is_null() {
        drop(handles::take_owned(token, raw));
    }
    Err(format!("{name}: {}", misuse.into_message()))
}

/// Turn what C returned into the call's result. The common case, a
/// reference C owned and no error pending, in line; the rest (and every
/// report) in [`take_result_in_full`].
#[inline(always)]
fn take_result(token: Token<'_>, name: &'static str, raw: *mut GsObject) -> Result<Value, String> {
    if !raw.is_null()
        && !objects::maybe_pending()
        && let Ok(value) = handles::take_owned(token, raw)
    {
        return Ok(value);
    }
    // A failed `take_owned` changed nothing: the full path meets the same
    // failure and reports it.
    take_result_in_full(token, name, raw)
}

#[inline(never)]
fn take_result_in_full(
    token: Token<'_>,
    name: &'static str,
    raw: *mut GsObject,
) -> Result<Value, String> {
    let misuse = |what: &str| {
        objects::misuse(name, what);
        objects::take_pending();
        Err(format!("{name}: {}", gil::last_misuse().unwrap_or_default()))
    };
    if raw.is_null() {
        return match objects::take_pending() {
            Some(message) => Err(named_error(name, &message)),
            None => misuse("returned NULL without setting an error (call gs_raise first)"),
        };
    }
    match handles::take_owned(token, raw) {
        Ok(value) => match objects::take_pending() {
            None => Ok(value),
            Some(pending) => {
                drop(value);
                misuse(&format!(
                    "returned a result with an error still set (return NULL to fail, or \
                     gs_error_clear() a handled error): {pending}"
                ))
            }
        },
        Err(DecrefError::NotOwned) => misuse(
            "returned a borrowed reference: the caller takes over one reference, so \
             gs_incref it first",
        ),
        Err(DecrefError::Bad(BadHandle::Freed)) => {
            misuse("returned an object that was already freed")
        }
        Err(DecrefError::Bad(bad)) => misuse(&format!("returned a bad object: {}", bad.describe())),
    }
}

/// The script error for `message`, raised by extension function `name`:
/// `name: message`. Recursion through `gs_call` would repeat the name once
/// per level; from three levels on the repeats are cut to the first and
/// the last: `name: … N more name: message`.
fn named_error(name: &str, message: &str) -> String {
    let prefix = format!("{name}: ");
    if let Some(rest) = message.strip_prefix(&prefix) {
        let counted = rest.strip_prefix("… ").and_then(|rest| {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).filter(|&end| end > 0)?;
            let more: u64 = rest[..digits].parse().ok()?;
            let tail = rest[digits..].strip_prefix(" more ")?.strip_prefix(&prefix)?;
            Some((more, tail))
        });
        if let Some((more, tail)) = counted {
            return format!("{prefix}… {} more {prefix}{tail}", more + 1);
        }
        if let Some(tail) = rest.strip_prefix(&prefix) {
            return format!("{prefix}… 1 more {prefix}{tail}");
        }
    }
    format!("{prefix}{message}")
}

#[cfg(test)]
mod tests {
    use super::named_error;

    #[test]
    fn an_error_passed_up_through_recursive_calls_names_the_function_at_most_twice() {
        let mut message = "boom".to_owned();
        for _ in 0..100 {
            message = named_error("ext.recurse", &message);
        }
        assert_eq!(message, "ext.recurse: … 98 more ext.recurse: boom");
        assert_eq!(named_error("a", "b: boom"), "a: b: boom");
        assert_eq!(named_error("a", "a: boom"), "a: a: boom");
        assert_eq!(named_error("a", "a: … x more a: boom"), "a: a: … x more a: boom");
    }
}
