//! The main interpreter's lock and the functions that act on it (not compiled for
//! loom, whose models build their own lock instances).
//!
//! This file owns the public settings (applied to every interpreter) and
//! the snapshots of the main interpreter's lock (switch interval, policy, counters, holder). It
//! forwards to `raw.rs` and keeps no state of its own; per-thread state is
//! `thread.rs`'s.

use std::time::Duration;

use super::handoff::{Counters, Handoff};
use super::policy::Policy;
use super::raw;
use super::thread;

/// The main interpreter's lock.
static GIL: &raw::RawGil = &super::interp::MAIN.gil;

/// Whether the calling thread holds the lock. One thread-local load.
#[inline]
pub fn holds_lock() -> bool {
    thread::holds_lock_fast()
}

/// Report that interpreter state was touched without the lock, naming
/// `what` and the thread, and abort: the caller cannot go on without a
/// data race. Used by the interpreter's objects on every access.
#[cold]
#[inline(never)]
pub fn lock_required(what: &str) -> ! {
    super::misuse::report_fatal(
        what,
        format_args!("interpreter state was touched without holding the lock"),
    )
}

/// The id of the interpreter whose lock the calling thread holds, or
/// [`NO_INTERPRETER`](super::NO_INTERPRETER) if it holds none. One
/// thread-local load: the toy interpreter checks it against an object's
/// owner on every access.
#[inline(always)]
pub fn held_interpreter() -> u32 {
    thread::held_interpreter()
}

/// Report that an object of interpreter `owner` was touched by a thread
/// that holds interpreter `held`'s lock (or none), naming `what` and the
/// thread, and abort.
#[cold]
#[inline(never)]
pub fn wrong_interpreter(what: &str, owner: u32, held: u32) -> ! {
    if held == super::NO_INTERPRETER {
        lock_required(what)
    }
    super::misuse::report_fatal(
        what,
        format_args!(
            "an object of interpreter {owner} was touched by a thread of interpreter {held} \
             (values cross between interpreters only as copies, in messages)"
        ),
    )
}

/// How long a waiter lets the holder run before asking it to yield.
pub fn switch_interval() -> Duration {
    GIL.switch_interval()
}

/// Change the switch interval; takes effect at the next timed wait.
/// Values below one microsecond are raised to one microsecond.
pub fn set_switch_interval(interval: Duration) {
    for interp in super::interp::every_slot() {
        interp.gil.set_switch_interval(interval);
    }
}

/// The hand-off policy in force.
pub fn policy() -> Policy {
    GIL.policy()
}

/// Change the hand-off policy; safe at any time, takes effect at the next
/// decision.
pub fn set_policy(policy: Policy) {
    for interp in super::interp::every_slot() {
        interp.gil.set_policy(policy);
    }
}

/// A snapshot of the lock's counters.
pub fn counters() -> Counters {
    GIL.counters()
}

/// The thread holding the lock right now (a racy snapshot), if any.
pub fn holder() -> Option<u64> {
    GIL.holder()
}

/// The most recent change of holder.
pub fn last_handoff() -> Handoff {
    GIL.last_handoff()
}

/// How many times the lock has changed hands.
pub fn switch_number() -> u64 {
    GIL.switch_number()
}

/// How many threads are queued for the lock right now.
pub fn waiting_threads() -> usize {
    GIL.waiting()
}
