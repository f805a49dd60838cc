//! The synchronisation primitives the lock is built from, behind one switch.
//!
//! Everything in `src/gil/` takes its atomics, mutex and condition variable
//! from here and nowhere else, so a model checker can swap them for its own
//! instrumented versions and check the code that ships, not a copy of it.

pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
pub(crate) use std::sync::Arc;
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
