//! gilscope: a global interpreter lock you can run, watch, read and test.
//!
//! - [`gil`] — the lock: attach, detach, check points, policies, misuse.
//! - [`ffi`] — the C boundary: the exported C API and the bundled C library.
//! - [`vm`] — the toy interpreter whose threads run under the lock.
//! - [`ext`] — C extensions: the object API and modules loaded at run time.
//! - [`observe`] — statistics, traces and pictures of the lock.
//! - [`demo`] — the spinner demo and its screen.
//! - [`bench`](mod@bench) — the benchmark scenarios of `gilscope bench`.
//! - [`soak`] — the soak test of `gilscope soak`.
//!
//! Dependencies point one way: `demo` uses `ffi` and `gil`; `ffi` uses `gil`;
//! `gil` uses neither.

#![warn(missing_docs)]
// Built with `--cfg loom` (ci/loom.sh) only the lock's state machine is
// compiled, for model checking; only the models use it.
#![cfg_attr(loom, allow(dead_code))]

#[cfg(not(loom))]
pub mod bench;
#[cfg(not(loom))]
pub mod demo;
#[cfg(not(loom))]
pub mod ext;
#[cfg(not(loom))]
pub mod ffi;
pub mod gil;
#[cfg(not(loom))]
pub mod observe;
#[cfg(not(loom))]
pub mod soak;
#[cfg(not(loom))]
pub mod vm;
