//! gilscope: a global interpreter lock you can run, watch, read and test.
//!
//! - [`gil`] — the lock: attach, detach, check points, policies, misuse.
//! - [`ffi`] — the C boundary: the exported C API and the bundled C library.
//! - [`vm`] — the toy interpreter whose threads run under the lock.
//! - [`observe`] — statistics, traces and pictures of the lock.
//! - [`demo`] — the spinner demo and its screen.
//! - [`bench`] — the benchmark scenarios of `gilscope bench`.
//! - [`soak`] — the soak test of `gilscope soak`.
//!
//! Dependencies point one way: `demo` uses `ffi` and `gil`; `ffi` uses `gil`;
//! `gil` uses neither.

#![warn(missing_docs)]

pub mod bench;
pub mod demo;
pub mod ffi;
pub mod gil;
pub mod observe;
pub mod soak;
pub mod vm;
