//! The global interpreter lock.
//!
//! One lock per process. A thread *attaches* to run interpreter code and
//! *detaches* to let others run; C code releases and re-takes it through the
//! C API in `src/ffi/`. While a thread holds the lock it is the only one
//! touching interpreter state, which is what makes the interpreter's plain,
//! non-atomic reference counts sound.
//!
//! | file | owns |
//! |---|---|
//! | `raw.rs` | the state machine: state word, waiter queue, eval breaker, forced switching |
//! | `policy.rs` | the hand-off decisions, one small unit per policy |
//! | `handoff.rs` | release reasons and switch counters |
//! | `thread.rs` | per-thread depth, saved states, thread names |
//! | `token.rs` | [`attach`], [`Token`], [`Token::detach`] — the safe API |
//! | `misuse.rs` | detecting and reporting misuse |
//! | `interrupt.rs` | Ctrl+C and shutdown reaching Rust and C code |
//! | `observe.rs` | the event recorder and each thread's live state |
//! | `sync.rs` | the primitives, behind one switch for model checking |
//!
//! Nothing in this module knows about the interpreter, the C library or the
//! demo; they depend on it, never the other way round.
//!
//! ```
//! use gilscope::gil;
//! gil::attach(|token| {
//!     assert!(gil::holds_lock());
//!     token.check_point().expect("no interrupt pending");
//!     let released = token.detach(gil::holds_lock);
//!     assert!(!released);
//! });
//! ```

mod handoff;
mod interrupt;
mod misuse;
pub mod observe;
mod policy;
mod raw;
mod sync;
mod thread;
mod token;

use std::time::Duration;

pub use handoff::{Counters, Handoff, Reason};
pub use interrupt::{clear_interrupt, interrupt_fd, interrupted, request_interrupt};
pub use misuse::{MISUSE_ENV, MisuseMode, last_misuse, misuse_count, misuse_mode, set_misuse_mode};
pub use policy::{Policy, UnknownPolicy};
pub use raw::DEFAULT_SWITCH_INTERVAL;
pub use thread::{ThreadInfo, current_serial, set_thread_name, thread_info, thread_name, threads};
pub use token::{Interrupted, Token, attach};

pub(crate) use misuse::report as report_misuse;
pub(crate) use raw::DROP_REQUEST;
pub(crate) use thread::{mark_foreign, try_with_ctx, with_ctx};

/// The one lock of the process.
pub(crate) static GIL: raw::RawGil = raw::RawGil::new();

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
    misuse::report_fatal(
        what,
        format_args!("interpreter state was touched without holding the lock"),
    )
}

/// How long a waiter lets the holder run before asking it to yield.
pub fn switch_interval() -> Duration {
    GIL.switch_interval()
}

/// Change the switch interval; takes effect at the next timed wait.
/// Values below one microsecond are raised to one microsecond.
pub fn set_switch_interval(interval: Duration) {
    GIL.set_switch_interval(interval);
}

/// The hand-off policy in force.
pub fn policy() -> Policy {
    GIL.policy()
}

/// Change the hand-off policy; safe at any time, takes effect at the next
/// decision.
pub fn set_policy(policy: Policy) {
    GIL.set_policy(policy);
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
