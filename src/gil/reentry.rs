//! The mark that says a thread is running the lock's own code, which a
//! signal handler reads to catch a re-entrant call before it touches
//! anything the interrupted frame is using.
//!
//! This file owns one thread-local flag and the guard that sets and puts it
//! back. `cstate.rs` sets it around every C API call, `misuse.rs` around a
//! report; nothing else writes it.

use std::cell::Cell;

thread_local! {
    /// Set while the thread runs the lock's own code (a C API call, a
    /// change of depth, a misuse report). `const`, without a destructor,
    /// and never lazily initialised: a signal handler may read it
    /// (async-signal-safe).
    static IN_LOCK_CODE: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as inside the lock's code until dropped; nests
/// (the outer mark is put back).
pub(crate) struct InLockCode(bool);

impl InLockCode {
    #[inline]
    pub(crate) fn enter() -> Self {
        InLockCode(IN_LOCK_CODE.with(|flag| flag.replace(true)))
    }

    /// Mark the thread as inside the lock's code, unless it already is
    /// (then `None`, and nothing changed): the check and the mark of a C
    /// API call in one thread-local access.
    #[inline(always)]
    pub(crate) fn try_enter() -> Option<Self> {
        IN_LOCK_CODE.with(|flag| if flag.replace(true) { None } else { Some(InLockCode(false)) })
    }

    /// Leave the lock's code for a while (to run C code from inside it, such
    /// as a pending call); dropped, the mark is put back.
    pub(crate) fn leave_for_a_while() -> Self {
        InLockCode(IN_LOCK_CODE.with(|flag| flag.replace(false)))
    }
}

impl Drop for InLockCode {
    #[inline]
    fn drop(&mut self) {
        IN_LOCK_CODE.with(|flag| flag.set(self.0));
    }
}

/// Whether the calling thread is inside the lock's code. Async-signal-safe.
pub(crate) fn in_lock_code() -> bool {
    IN_LOCK_CODE.with(Cell::get)
}
