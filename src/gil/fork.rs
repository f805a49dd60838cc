//! `fork()`: the child starts with a working lock.
//!
//! A child process has one thread — the one that called `fork()` — but a
//! copy of every other thread's memory, including the lock's state word and
//! waiter queue as they were at that instant. Left alone, a child forked
//! while another thread held the lock or waited for it would wait for ever
//! for threads that do not exist. So, as CPython does after a fork (it
//! re-creates its GIL in the child and forgets the other threads'
//! states), `pthread_atfork` handlers registered when gilscope first meets
//! a thread:
//!
//! - before the fork, take the lock's queue mutex and the thread registry's
//!   mutexes, so neither is copied half-changed;
//! - in the parent, give them back;
//! - in the child, re-initialise the lock — held by the forking thread if
//!   it held it in the parent, free otherwise — with an empty queue, and
//!   mark every other thread as gone.
//!
//! With several interpreters, every interpreter's lock is handled so: the
//! forking thread's interpreter's lock is held in the child if the thread
//! held it; every other interpreter's lock is free with an empty queue.
//! Those other interpreters have no threads left in the child, so they are
//! dead there: their objects are never freed and their slots never given
//! back (a leak the child lives with, as CPython's child leaks the states
//! of the threads it forgets).
//!
//! This file owns only the registration and the order of those steps; the
//! lock's part is `raw.rs`'s, the registry's part `registry.rs`'s.

use std::sync::Once;

use super::interp::every_slot;
use super::registry::{registry_after_fork, registry_before_fork};
use super::thread::{held_interpreter, known_serial};

/// Register the fork handlers, once per process.
pub(crate) fn register_handlers() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: the three handlers are `extern "C" fn()` that live for
        // the whole process; pthread_atfork only stores them.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        if rc != 0 {
            crate::stderr_println!(
                "gilscope: could not register fork handlers (error {rc}); a child process \
                 forked while the lock is busy may hang"
            );
        }
    });
}

extern "C" fn prepare() {
    // Every slot, in slot order (the same order everywhere, so two forking
    // threads cannot deadlock on the queue mutexes).
    for interp in every_slot() {
        interp.gil.before_fork();
    }
    registry_before_fork();
}

extern "C" fn parent() {
    registry_after_fork(None);
    for interp in every_slot() {
        interp.gil.after_fork_in_parent();
    }
}

extern "C" fn child() {
    let me = known_serial();
    let held = held_interpreter();
    registry_after_fork(Some(me));
    for interp in every_slot() {
        let holder = (interp.id() == held && me != 0).then_some(me);
        interp.gil.after_fork_in_child(holder);
    }
}

/// In the child after `fork()`: make `mutex` — locked by this thread in
/// the prepare handler — free, with no record of parked waiters.
///
/// Unlocking it (`force_unlock`) is not enough: if other threads were
/// parked on the mutex at the fork, its state word has the "parked" bit,
/// and unlocking then asks `parking_lot` to wake one of them. Its table of
/// sleeping threads is a copy too, so it finds a thread that does not
/// exist in the child and, when the unlock is a fair one, hands it the
/// mutex: the child's next `lock()` waits for ever (the soak's forks found
/// this, about one child in ten). Writing a fresh state word forgets them.
///
/// # Safety
/// Only in the child, where no other thread exists, and only for a mutex
/// this thread locked before the fork (so no guard of it is alive).
pub(crate) unsafe fn reset_mutex_in_child<T>(mutex: &parking_lot::Mutex<T>) {
    use parking_lot::lock_api::RawMutex as _;
    // SAFETY: the caller guarantees nobody else can touch the mutex. A
    // `RawMutex` is only an atomic byte, all of it interior-mutable, so
    // writing through a pointer derived from the shared reference is
    // allowed.
    unsafe {
        let raw: *const parking_lot::RawMutex = mutex.raw();
        raw.cast_mut().write(parking_lot::RawMutex::INIT);
    }
}
