//! The lock across `fork()`: the hold the fork handlers (`gil/fork.rs`)
//! keep on the queue mutex, and the lock started again in the child.
//!
//! This file owns nothing of its own: a second `impl RawGil` block, apart
//! because fork is outside loom's world (the models never build it).

use super::{DROP_REQUEST, LOCKED, Queue, RawGil};
use crate::gil::sync::{
    MutexGuard,
    Ordering::{Relaxed, Release},
};

/// The queue mutex of a lock, held across `fork()` by the fork handlers
/// (`fork.rs`): made by [`RawGil::before_fork`], given back to the same
/// lock.
pub(crate) struct ForkHold(MutexGuard<'static, Queue>);

impl RawGil {
    /// Before `fork()`: take the queue mutex and keep it until
    /// [`after_fork_in_parent`](Self::after_fork_in_parent) or
    /// [`after_fork_in_child`](Self::after_fork_in_child) gives the hold
    /// back, so the address space is never copied while another thread is
    /// half-way through changing the queue. Not modelled by loom: fork is
    /// outside its world.
    pub(crate) fn before_fork(&'static self) -> ForkHold {
        ForkHold(self.queue.lock())
    }

    /// In the parent after `fork()`: give back the queue mutex
    /// [`before_fork`](Self::before_fork) took.
    pub(crate) fn after_fork_in_parent(&self, hold: ForkHold) {
        drop(hold);
    }

    /// In the child after `fork()`, where only the forking thread exists:
    /// start the lock again as CPython re-creates its GIL in a child. The
    /// queue is emptied (its threads do not exist here), forced switching
    /// is reset, and the lock is held by `holder` — the forking thread, if
    /// it held the lock in the parent — or free. Then the queue mutex is
    /// unlocked. That is all its re-initialising: the mutex and the
    /// condition variables (`sync.rs`) are futex words inside this object,
    /// with no record anywhere of the parent's sleeping threads.
    pub(crate) fn after_fork_in_child(&self, hold: ForkHold, holder: Option<u64>) {
        let ForkHold(mut queue) = hold;
        queue.waiters.clear();
        self.yielders.store(0, Relaxed);
        self.clear_breaker(DROP_REQUEST);
        match holder {
            Some(serial) => {
                self.owner.store(serial, Relaxed);
                self.state.store(LOCKED, Release);
            }
            None => self.state.store(0, Release),
        }
        drop(queue);
    }
}
