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
//! - before the fork, take the lock's queue mutex, the thread registry's
//!   mutexes and the recording's, so none is copied half-changed;
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
//! The handlers hold the mutexes from the prepare handler to the parent's
//! or the child's handler as guards (in [`HOLD`]), and the child's handler
//! re-initialises with the guards in hand, then drops them. The mutexes and
//! condition variables are `std`'s, one futex word each inside the object
//! (`sync.rs` says why not `parking_lot`'s, whose process-wide table of
//! sleeping threads made children that start threads hang or crash), so
//! unlocking them in the child leaves no trace of the parent's waiters.
//!
//! This file owns only the registration, the held guards between the
//! handlers, and the order of those steps; the lock's part is `raw.rs`'s,
//! the registry's part `registry.rs`'s, the recording's `recorder.rs`'s.

use std::sync::Once;
use std::sync::atomic::{AtomicPtr, Ordering::AcqRel};

use super::interp::{Interpreter, every_slot};
use super::raw::ForkHold;
use super::recorder::{SessionForkHold, session_before_fork};
use super::registry::{RegistryForkHold, registry_after_fork, registry_before_fork};
use super::thread::{held_interpreter, known_serial};

/// Everything the prepare handler locked, for the parent's or the child's
/// handler to give back.
struct Held {
    /// Each interpreter's queue mutex, in slot order.
    gils: Vec<(&'static Interpreter, ForkHold)>,
    registry: RegistryForkHold,
    session: SessionForkHold,
}

/// The [`Held`] of the fork in progress, boxed, or null. Only the thread
/// that holds every mutex in it (the forking thread, between its prepare
/// handler and its parent or child handler) stores or takes it, so two
/// threads forking at once cannot mix theirs up: the second one's prepare
/// handler waits for the first interpreter's queue mutex.
static HOLD: AtomicPtr<Held> = AtomicPtr::new(std::ptr::null_mut());

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
    let gils = every_slot().map(|interp| (interp, interp.gil.before_fork())).collect();
    let registry = registry_before_fork();
    let session = session_before_fork();
    let held = Box::into_raw(Box::new(Held { gils, registry, session }));
    let previous = HOLD.swap(held, AcqRel);
    debug_assert!(previous.is_null(), "two forks held the lock's mutexes at once");
}

/// Take the [`Held`] the prepare handler stored, if any.
fn take_held() -> Option<Box<Held>> {
    let held = HOLD.swap(std::ptr::null_mut(), AcqRel);
    // SAFETY: a non-null pointer in `HOLD` came from `Box::into_raw` in
    // `prepare` on this thread, and the swap took it out, so it is freed
    // once.
    (!held.is_null()).then(|| unsafe { Box::from_raw(held) })
}

extern "C" fn parent() {
    let Some(held) = take_held() else { return };
    let Held { gils, registry, session } = *held;
    drop(session);
    registry_after_fork(registry, None);
    for (interp, hold) in gils {
        interp.gil.after_fork_in_parent(hold);
    }
}

extern "C" fn child() {
    let Some(held) = take_held() else { return };
    let Held { gils, registry, session } = *held;
    let me = known_serial();
    let held_id = held_interpreter();
    drop(session);
    registry_after_fork(registry, Some(me));
    for (interp, hold) in gils {
        let holder = (interp.id() == held_id && me != 0).then_some(me);
        interp.gil.after_fork_in_child(hold, holder);
    }
}
