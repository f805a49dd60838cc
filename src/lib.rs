//! gilscope: a global interpreter lock you can run, watch, read and test.
//!
//! - [`gil`] — the lock: attach, detach, check points, policies, misuse.
//! - [`ffi`] — the C boundary: the exported C API and the bundled C library.
//!
//! Dependencies point one way: `ffi` uses `gil`; `gil` uses neither.

#![warn(missing_docs)]

pub mod ffi;
pub mod gil;
