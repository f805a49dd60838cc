//! The C boundary.
//!
//! - `capi.rs` exports the C API of `csrc/include/gilscope.h`
//!   (`gs_save_thread`, `gs_ensure`, …) as thin wrappers over the lock's
//!   C-facing functions (`src/gil/cstate.rs`).
//! - [`clib`] declares the bundled C library of `csrc/` — the only place that
//!   does — and wraps each function safely.
//!
//! Rules of this module: no panic crosses into C (every exported function
//! catches it); every call into C goes through one path in `clib.rs` that
//! holds the lock on entry and checks on return that C gave it back. This
//! module owns no lock state: what a call does to the lock is `crate::gil`'s.

mod capi;
pub mod clib;

pub(crate) use capi::guarded;

pub use capi::{GS_GILSTATE_ERROR, GS_GILSTATE_LOCKED, GS_GILSTATE_UNLOCKED, GsThreadState};
pub use capi::{gs_add_pending_call, gs_clear_error, gs_request_interrupt, gs_save_thread_at};
pub use capi::{
    gs_check_switch, gs_ensure, gs_holds_lock, gs_interrupt_fd, gs_interrupted, gs_last_error,
    gs_release, gs_restore_thread, gs_save_thread,
};
