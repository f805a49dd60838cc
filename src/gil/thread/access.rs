//! How code reaches the calling thread's [`ThreadCtx`]: the thread-local
//! that holds it, and the published pointer the C API's fast paths read
//! with one load.
//!
//! This file owns the two thread-locals; the context itself is the
//! parent's (`thread.rs`).

use std::cell::Cell;
use std::ptr;

use super::ThreadCtx;

thread_local! {
    static CTX: ThreadCtx = ThreadCtx::new();
    /// The address of this thread's `CTX` once the C API's full path has
    /// reached it, null before and from the start of its destructor on.
    /// `const` and without a destructor, so reading it is one load with
    /// no lazy-initialisation check: how the C API's fast paths reach the
    /// context.
    static PUBLISHED: Cell<*const ThreadCtx> = const { Cell::new(ptr::null()) };
}

/// [`try_with_ctx`], also publishing the context for the C API's fast
/// paths ([`with_published_ctx`]).
#[inline]
pub(crate) fn try_with_ctx_published<R>(f: impl FnOnce(&ThreadCtx) -> R) -> Option<R> {
    try_with_ctx(|ctx| {
        publish(ctx);
        f(ctx)
    })
}

/// Make `ctx`, this thread's context, the one the fast paths find.
#[inline(always)]
fn publish(ctx: &ThreadCtx) {
    PUBLISHED.with(|published| published.set(ctx));
}

/// From here on the fast paths find no context: the first act of the
/// context's destructor.
pub(super) fn unpublish() {
    PUBLISHED.with(|published| published.set(ptr::null()));
}

/// Run `f` with the calling thread's context if the C API's full path has
/// published it ([`try_with_ctx_published`]) and it is still alive; else
/// `None`. One thread-local load: no lazy initialisation, no destructor
/// state; cannot panic.
#[inline(always)]
pub(crate) fn with_published_ctx<R>(f: impl FnOnce(&ThreadCtx) -> Option<R>) -> Option<R> {
    with_published(|ctx| ctx.and_then(f))
}

/// Run `f` with the published context, or `None` if there is none: the
/// one place the published pointer is turned back into a reference.
#[inline(always)]
fn with_published<R>(f: impl FnOnce(Option<&ThreadCtx>) -> R) -> R {
    let ctx = PUBLISHED.with(Cell::get);
    // SAFETY: a non-null `PUBLISHED` is the address of this thread's `CTX`
    // (set only from a reference `CTX.try_with` or `CTX.with` gave), which
    // stays where it is and alive until its destructor, whose first act is
    // to set `PUBLISHED` back to null. Thread-locals are not shared, so
    // nothing can change either in between; the reference does not
    // outlive `f`.
    f(unsafe { ctx.as_ref() })
}

/// Run `f` with the calling thread's context. Returns `None` only while the
/// thread is being torn down and its context is gone.
#[inline]
pub(crate) fn try_with_ctx<R>(f: impl FnOnce(&ThreadCtx) -> R) -> Option<R> {
    CTX.try_with(f).ok()
}

/// Run `f` with the calling thread's context, through the published
/// pointer when there is one (one load), else through the thread-local,
/// publishing it. For hot paths that run once per call into C (the
/// return-from-C check, a C function's lock check). Panics, as
/// [`with_ctx`] does, only while the thread is being torn down.
#[inline(always)]
pub(crate) fn with_ctx_fast<R>(f: impl FnOnce(&ThreadCtx) -> R) -> R {
    with_published(|published| match published {
        Some(ctx) => f(ctx),
        None => CTX.with(|ctx| {
            publish(ctx);
            f(ctx)
        }),
    })
}

/// Run `f` with the calling thread's context.
///
/// # Panics
/// If called from a thread-local destructor after the context was dropped.
#[inline]
pub(crate) fn with_ctx<R>(f: impl FnOnce(&ThreadCtx) -> R) -> R {
    CTX.with(f)
}

/// The calling thread's serial number (registering it if new).
pub fn current_serial() -> u64 {
    with_ctx(|ctx| ctx.serial())
}
