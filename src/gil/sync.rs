//! The synchronisation primitives the lock is built from, behind one switch.
//!
//! Everything in `src/gil/raw.rs`, `handoff.rs`, `pending.rs`, the thread
//! registry and the recorder takes its atomics, mutex and condition
//! variable from here and nowhere else. Normally they are `std`'s atomics
//! and `std`'s mutex and condition variable behind `parking_lot`'s small
//! API (`lock()` without a poison result, `wait_for(&mut guard, timeout)`).
//! Built with `--cfg loom` (`ci/loom.sh`), they are loom's instrumented
//! versions, behind the same API, so the model checker explores the code
//! that ships, not a copy of it.
//!
//! # Why not `parking_lot` for waiting
//!
//! `parking_lot` (which the rest of the project uses) parks every waiting
//! thread in one process-wide hash table (`parking_lot_core`), each bucket
//! guarded by a small lock, each parked thread linked in through a record
//! on its own stack. `fork()` copies that table into the child as it was
//! at that instant: a bucket lock another thread held then is held for
//! ever in the child, and records of threads that do not exist there stay
//! linked, at addresses glibc then gives to the child's new threads' stacks.
//! A child that started threads which waited for the lock hung (its new
//! threads waited for a bucket lock of a thread that was never coming
//! back) or crashed, about two forks in a hundred; `tests/fork.rs`. Nothing
//! can reset that table from outside the crate. On Linux `std`'s mutex and
//! condition variable are each one futex word inside the object itself,
//! with no table anywhere: the fork handlers (`fork.rs`) hold the lock's
//! mutexes across the fork, and in the child unlocking them is all the
//! re-initialising there is, since a condition variable's word is only a
//! counter and nobody in the child sleeps on it.
//!
//! This file owns no state: it only chooses which primitives are used.

#[cfg(not(loom))]
mod imp {
    use std::ops::{Deref, DerefMut};
    use std::sync::PoisonError;
    use std::time::Duration;

    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    };

    /// A pause in a spin loop.
    pub(crate) fn spin_hint() {
        std::hint::spin_loop();
    }

    /// `std`'s mutex with `parking_lot`'s API: `lock()` gives the guard
    /// directly. A poisoned mutex (a panic while it was held) is used as
    /// it is: the lock's code keeps its data consistent at every panic
    /// point, as `parking_lot`, which has no poisoning, required.
    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

    /// A guard that a condition variable can take and give back. Always
    /// `Some` outside [`Condvar`]'s waits.
    pub(crate) struct MutexGuard<'a, T>(Option<std::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Mutex(std::sync::Mutex::new(value))
        }

        #[inline]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard present")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard present")
        }
    }

    /// `std`'s condition variable with `parking_lot`'s API.
    pub(crate) struct Condvar(std::sync::Condvar);

    impl Condvar {
        pub(crate) const fn new() -> Self {
            Condvar(std::sync::Condvar::new())
        }

        #[inline]
        pub(crate) fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) {
            let inner = guard.0.take().expect("guard present");
            let (inner, _) =
                self.0.wait_timeout(inner, timeout).unwrap_or_else(PoisonError::into_inner);
            guard.0 = Some(inner);
        }

        #[inline]
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        #[inline]
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(loom)]
mod imp {
    use std::ops::{Deref, DerefMut};
    use std::time::Duration;

    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    };

    /// A pause in a spin loop: loom must be told, or it explores the spin
    /// for ever.
    pub(crate) fn spin_hint() {
        loom::thread::yield_now();
    }

    /// loom's mutex with `parking_lot`'s API.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// A guard that a condition variable can take and give back.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect("loom mutex poisoned")))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard present")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard present")
        }
    }

    /// loom's condition variable with `parking_lot`'s API. loom ignores
    /// timeouts: a timed wait is a plain wait, so the models raise drop
    /// requests themselves.
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard present");
            guard.0 = Some(self.0.wait(inner).expect("loom mutex poisoned"));
        }

        pub(crate) fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) {
            let inner = guard.0.take().expect("guard present");
            let (inner, _) = self.0.wait_timeout(inner, timeout).expect("loom mutex poisoned");
            guard.0 = Some(inner);
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

pub(crate) use imp::*;
