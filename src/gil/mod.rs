//! The global interpreter lock.
//!
//! One lock per interpreter, and one interpreter (the main one) unless
//! more are started (`interp.rs`). A thread *attaches* to run interpreter code and
//! *detaches* to let others run; C code releases and re-takes it through the
//! C API in `src/ffi/`. While a thread holds the lock it is the only one
//! touching interpreter state, which is what makes the interpreter's plain,
//! non-atomic reference counts sound.
//!
//! | file | owns |
//! |---|---|
//! | `interp.rs` | the interpreters: their slots and locks |
//! | `slot.rs` | one slot's claim protocol: in use or free, and the id it runs under |
//! | `raw.rs` | the state machine: state word, waiter queue, eval breaker, forced switching |
//! | `release_timer.rs` | how long each thread's voluntary releases last (what `fair` predicts from), and the lock's clock |
//! | `policy.rs` | the hand-off decisions, one small unit per policy |
//! | `handoff.rs` | release reasons and switch counters |
//! | `thread.rs` | per-thread depth, saved states and open `gs_ensure` calls (its fields private, changed through its methods) |
//! | `registry.rs` | every thread met, by serial and name, and the C function each live one is in, for other threads to read |
//! | `cstate.rs` | the C API's lock calls and their misuse rules, and the one check when a call into C returns |
//! | `token.rs` | [`attach`], [`Token`], [`Token::detach`] — the safe API |
//! | `misuse.rs` | detecting and reporting misuse |
//! | `reentry.rs` | the mark a signal handler reads to catch a call re-entering the lock's code |
//! | `interrupt.rs` | Ctrl+C and shutdown reaching Rust and C code |
//! | `pending.rs` | calls queued from signal handlers (`gs_add_pending_call`), run at check points |
//! | `fork.rs` | the `pthread_atfork` handlers that give a forked child a working lock |
//! | `watchdog.rs` | the deadlock watchdog: who holds the lock, where, and who waits |
//! | `ring.rs` | the recorder's per-thread rings of binary events, and its clock (the time-stamp counter) |
//! | `recorder.rs` | the event recorder, each thread's live state, and the one mapping from events to states |
//! | `sync.rs` | the primitives, behind one switch for model checking |
//!
//! Each file owns the state its row names and changes another file's state
//! only through that file's functions and methods. Nothing in this module
//! knows about the interpreter, the C library, the analysis in
//! `src/observe/` or the demo, and it imports nothing from them; they
//! depend on it, never the other way round.
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

// Built with `--cfg loom` (ci/loom.sh), only the state machine and what it
// needs are compiled, for the model-checking tests in `loom_tests.rs`.
#[cfg(not(loom))]
mod api;
#[cfg(not(loom))]
pub(crate) mod cstate;
#[cfg(not(loom))]
mod fork;
mod handoff;
#[cfg(not(loom))]
mod interp;
#[cfg(not(loom))]
mod interrupt;
#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(not(loom))]
mod misuse;
mod pending;
mod policy;
mod raw;
#[cfg(not(loom))]
pub mod recorder;
#[cfg(not(loom))]
mod reentry;
#[cfg(not(loom))]
mod registry;
mod release_timer;
#[cfg(not(loom))]
mod ring;
mod slot;
mod sync;
#[cfg(not(loom))]
mod thread;
#[cfg(not(loom))]
mod token;
#[cfg(not(loom))]
mod watchdog;

pub use handoff::{Counters, Handoff, Reason};
pub use policy::{Policy, UnknownPolicy};
pub use raw::DEFAULT_SWITCH_INTERVAL;

#[cfg(not(loom))]
pub use api::*;
#[cfg(not(loom))]
pub use interp::{
    Interpreter, MAX_INTERPRETERS, NO_INTERPRETER, Started, TooManyInterpreters, slot_of,
};
#[cfg(not(loom))]
pub use interrupt::{clear_interrupt, interrupt_fd, interrupted, request_interrupt};
#[cfg(not(loom))]
pub use misuse::{MISUSE_ENV, MisuseMode, last_misuse, misuse_count, misuse_mode, set_misuse_mode};
#[cfg(not(loom))]
pub(crate) use misuse::{Misuse, report as report_misuse};
#[cfg(not(loom))]
pub use pending::{PendingCall, PendingQueueFull, add_pending_call};
#[cfg(not(loom))]
pub use registry::{ThreadInfo, set_thread_name, thread_info, thread_name, threads};
#[cfg(not(loom))]
pub use thread::current_serial;
#[cfg(not(loom))]
pub use token::{Interrupted, Token, attach, attach_to, current_interpreter, if_held};
#[cfg(not(loom))]
pub use watchdog::{DEADLOCK_ENV, start_watchdog};
