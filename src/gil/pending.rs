//! Pending calls: work queued from anywhere — a signal handler included —
//! to run with the lock held.
//!
//! [`add_pending_call`] is async-signal-safe: it allocates nothing, takes
//! no lock and never waits. It puts the call in a bounded queue (64 slots;
//! full → an error) and sets the eval breaker's `PENDING_CALLS` bit.
//! Whichever thread holds the lock runs the queued calls, oldest first, at
//! its next check point: the interpreter's eval-breaker check or C's
//! `gs_check_switch()`. (CPython's `Py_AddPendingCall` plays the same role
//! but takes a lock, and runs its calls on the main thread.)
//!
//! The queue is Dmitry Vyukov's bounded multi-producer queue: each slot
//! carries a sequence number saying whose turn it is, so a producer claims
//! a slot with one compare-and-swap of the tail and publishes it with one
//! store. A producer interrupted half-way (by a signal whose handler adds a
//! call of its own) holds up nobody: the handler claims the next slot, and
//! the consumer simply stops at the unpublished one until the next check
//! point. Calls are consumed by one thread at a time, the lock holder.
//! The consumer clears the eval-breaker bit *before* it takes calls and a
//! producer sets it *after* it publishes, so a call is never left waiting
//! with the bit clear (`loom_tests.rs` checks this).
//!
//! This file owns the queue. Of the lock it touches only the
//! `PENDING_CALLS` bit of the eval breaker, through `raw.rs`'s methods.

use std::ffi::c_void;
use std::fmt;

use super::raw::RawGil;
use super::sync::{AtomicBool, AtomicPtr, AtomicUsize, Ordering, spin_hint};

/// A function to run with the lock held, given the argument it was
/// queued with (`void (*)(void *)` in C).
pub type PendingCall = unsafe extern "C" fn(argument: *mut c_void);

/// [`add_pending_call`] found the queue full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingQueueFull;

impl fmt::Display for PendingQueueFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the pending-call queue is full ({SLOTS} calls wait to run)")
    }
}

impl std::error::Error for PendingQueueFull {}

/// How many calls can wait at once in the process's queue.
const SLOTS: usize = 64;

struct Slot {
    /// `position` when free for the producer at `position`; `position + 1`
    /// once that producer published; `position + N` once consumed.
    sequence: AtomicUsize,
    /// The call's function and argument, as pointers: they keep their
    /// provenance, so the consumer calls exactly the pointer the producer
    /// stored (no integer-to-pointer cast for Miri to lose track of).
    function: AtomicPtr<()>,
    argument: AtomicPtr<c_void>,
}

/// A bounded queue of `N` pending calls; `N` must be at least 2 (with one
/// slot, "published for position p" and "free for position p + 1" are the
/// same sequence number — loom found that too).
pub(crate) struct PendingQueue<const N: usize> {
    slots: [Slot; N],
    /// Next position a producer claims.
    tail: AtomicUsize,
    /// Next position the consumer reads (written by the consumer only).
    head: AtomicUsize,
    /// Set while some thread runs pending calls, so a pending call that
    /// reaches a check point itself does not start a second consumer.
    running: AtomicBool,
}

/// The empty queue, as an expression: for the `const` constructor the
/// process-wide static needs and the plain one loom needs.
macro_rules! new_queue {
    ($slots:expr) => {
        PendingQueue {
            slots: $slots,
            tail: AtomicUsize::new(0),
            head: AtomicUsize::new(0),
            running: AtomicBool::new(false),
        }
    };
}

impl<const N: usize> PendingQueue<N> {
    #[cfg(not(loom))]
    const fn new() -> Self {
        assert!(N >= 2, "a pending-call queue needs at least two slots");
        let mut slots = [const {
            Slot {
                sequence: AtomicUsize::new(0),
                function: AtomicPtr::new(std::ptr::null_mut()),
                argument: AtomicPtr::new(std::ptr::null_mut()),
            }
        }; N];
        let mut index = 0;
        while index < N {
            slots[index].sequence = AtomicUsize::new(index);
            index += 1;
        }
        new_queue!(slots)
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        assert!(N >= 2, "a pending-call queue needs at least two slots");
        new_queue!(std::array::from_fn(|index| Slot {
            sequence: AtomicUsize::new(index),
            function: AtomicPtr::new(std::ptr::null_mut()),
            argument: AtomicPtr::new(std::ptr::null_mut()),
        }))
    }

    /// Queue `function(argument)` and set `gil`'s eval-breaker bit.
    /// Async-signal-safe.
    ///
    /// # Safety
    /// `function` must be safe to call with `argument`, on any thread that
    /// holds the lock, at any later time.
    pub(crate) unsafe fn push(
        &self,
        gil: &RawGil,
        function: PendingCall,
        argument: *mut c_void,
    ) -> Result<(), PendingQueueFull> {
        let mut position = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[position % N];
            let sequence = slot.sequence.load(Ordering::Acquire);
            let lag = sequence.wrapping_sub(position) as isize;
            if lag == 0 {
                match self.tail.compare_exchange_weak(
                    position,
                    position.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // Stored as a pointer: a fn pointer made back from a
                        // bare integer has no provenance (Miri flagged the
                        // call as undefined behaviour when it was stored
                        // with `as usize` and transmuted back).
                        slot.function.store(function as *mut (), Ordering::Relaxed);
                        slot.argument.store(argument, Ordering::Relaxed);
                        slot.sequence.store(position.wrapping_add(1), Ordering::Release);
                        gil.signal_pending_calls();
                        return Ok(());
                    }
                    Err(now) => position = now,
                }
            } else if lag < 0 {
                return Err(PendingQueueFull);
            } else {
                // Another producer took this position: look again.
                spin_hint();
                position = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Take the oldest published call, if any (one consumer at a time).
    fn take(&self) -> Option<(PendingCall, *mut c_void)> {
        let position = self.head.load(Ordering::Relaxed);
        let slot = &self.slots[position % N];
        if slot.sequence.load(Ordering::Acquire) != position.wrapping_add(1) {
            return None;
        }
        let function = slot.function.load(Ordering::Relaxed);
        let argument = slot.argument.load(Ordering::Relaxed);
        self.head.store(position.wrapping_add(1), Ordering::Relaxed);
        slot.sequence.store(position.wrapping_add(N), Ordering::Release);
        // SAFETY: a published slot's `function` is a `PendingCall` that
        // `push` stored as a pointer, provenance and all; fn pointers and
        // `*mut ()` have the same size.
        let function = unsafe { std::mem::transmute::<*mut (), PendingCall>(function) };
        Some((function, argument))
    }

    /// Run the calls waiting now, oldest first. The caller holds `gil`.
    /// Calls queued meanwhile run too, up to one queue's worth; any left
    /// keep the eval-breaker bit set for the next check point.
    pub(crate) fn run(&self, gil: &RawGil) {
        if self.running.swap(true, Ordering::Acquire) {
            return;
        }
        // Cleared before taking, with an acquire that pairs with the
        // producers' release: every call announced so far is visible, and a
        // call published after this point sets the bit again.
        gil.unsignal_pending_calls();
        for _ in 0..N {
            let Some((function, argument)) = self.take() else { break };
            // SAFETY: `push`'s caller promised `function` may be called with
            // `argument` on any thread holding the lock; we hold it.
            unsafe { function(argument) };
        }
        if self.tail.load(Ordering::Relaxed) != self.head.load(Ordering::Relaxed) {
            gil.signal_pending_calls();
        }
        self.running.store(false, Ordering::Release);
    }
}

#[cfg(not(loom))]
static QUEUE: PendingQueue<SLOTS> = PendingQueue::new();

/// Queue `function(argument)` to run with the main interpreter's lock held,
/// at the next check point of whichever of its threads holds it (as
/// CPython runs signal-handler calls in its main interpreter).
/// Async-signal-safe.
///
/// # Errors
/// [`PendingQueueFull`] when 64 calls are already waiting.
///
/// # Safety
/// `function` must be safe to call with `argument`, on any thread that
/// holds the lock, at any later time.
#[cfg(not(loom))]
pub unsafe fn add_pending_call(
    function: PendingCall,
    argument: *mut c_void,
) -> Result<(), PendingQueueFull> {
    // SAFETY: passed on from our caller.
    unsafe { QUEUE.push(&super::interp::MAIN.gil, function, argument) }
}

/// Run the calls waiting now. The caller holds the main interpreter's lock
/// (only its eval breaker ever has the pending-calls bit set).
#[cfg(not(loom))]
pub(crate) fn run_pending_calls() {
    QUEUE.run(&super::interp::MAIN.gil);
}
