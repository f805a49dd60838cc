//! gilscope: a global interpreter lock you can run, watch, read and test.
//!
//! - [`gil`] — the lock: attach, detach, check points, policies, misuse,
//!   and the recorder of its events.
//! - [`ffi`] — the C boundary: the exported C API and the bundled C library.
//! - [`vm`] — the toy interpreter whose threads run under the lock.
//! - [`ext`] — C extensions: the object API and modules loaded at run time.
//! - [`observe`] — statistics, traces and pictures of the lock.
//! - [`demo`] — the spinner demo and its screen.
//! - [`bench`](mod@bench) — the benchmark scenarios of `gilscope bench`.
//! - [`soak`] — the soak test of `gilscope soak`.
//!
//! The `gilscope` binary (`src/main.rs`, with its arguments and subcommands
//! in `src/cli/`) sits on top and uses the library's public API only.
//!
//! Every arrow points down; these are all of them (each module's `use`
//! lines):
//!
//! ```text
//! gilscope binary (main.rs, cli/) ──> gil, vm, ext, demo, observe, bench, soak
//! demo    ──> gil, ffi, vm, observe
//! bench   ──> gil, ffi, vm
//! soak    ──> gil, ffi, vm
//! observe ──> gil (the recorder's events)
//! vm      ──> gil, ffi, ext (only its natives: `load` calls extensions)
//! ext     ──> gil, vm's value layer (values, objects, NativeCtx)
//! ffi     ──> gil
//! gil     ──> nothing in this crate
//! ```
//!
//! No module uses `demo`, `bench`, `soak` or the binary; `observe` uses
//! neither the interpreter nor the C boundary. `vm` and `ext` name each
//! other, but in layers: the value layer (`vm::value`, which imports
//! nothing above it) is below `ext`, and the natives that load and call
//! extensions (`vm::natives::ext`) are above it.

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
pub mod stdio;
#[cfg(not(loom))]
pub mod vm;
