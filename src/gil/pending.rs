//! Pending calls: work queued from anywhere — a signal handler included —
//! to run with the lock held, as CPython's `Py_AddPendingCall` does.
//!
//! [`add_pending_call`] is async-signal-safe: it allocates nothing, takes
//! no lock and never waits. It puts the call in a bounded queue (64 slots;
//! full → an error) and sets the eval breaker's `PENDING_CALLS` bit.
//! Whichever thread holds the lock runs the queued calls, oldest first, at
//! its next check point: the interpreter's eval-breaker check or C's
//! `gs_check_switch()`.
//!
//! The queue is Dmitry Vyukov's bounded multi-producer queue: each slot
//! carries a sequence number saying whose turn it is, so a producer claims
//! a slot with one compare-and-swap of the tail and publishes it with one
//! store. A producer interrupted half-way (by a signal whose handler adds a
//! call of its own) holds up nobody: the handler claims the next slot, and
//! the consumer simply stops at the unpublished one until the next check
//! point. Calls are consumed by one thread at a time, the lock holder.
//!
//! This file owns the queue. Of the lock it touches only the
//! `PENDING_CALLS` bit of the eval breaker, through `raw.rs`'s methods.

use std::ffi::c_void;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::GIL;
use super::raw::PENDING_CALLS;

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

/// How many calls can wait at once.
const SLOTS: usize = 64;

struct Slot {
    /// `position` when free for the producer at `position`; `position + 1`
    /// once that producer published; `position + SLOTS` once consumed.
    sequence: AtomicUsize,
    function: AtomicUsize,
    argument: AtomicUsize,
}

struct Queue {
    slots: [Slot; SLOTS],
    /// Next position a producer claims.
    tail: AtomicUsize,
    /// Next position the consumer reads (written by the consumer only).
    head: AtomicUsize,
    /// Set while some thread runs pending calls, so a pending call that
    /// reaches a check point itself does not start a second consumer.
    running: AtomicBool,
}

const fn new_slots() -> [Slot; SLOTS] {
    let mut slots = [const {
        Slot {
            sequence: AtomicUsize::new(0),
            function: AtomicUsize::new(0),
            argument: AtomicUsize::new(0),
        }
    }; SLOTS];
    let mut index = 0;
    while index < SLOTS {
        slots[index].sequence = AtomicUsize::new(index);
        index += 1;
    }
    slots
}

static QUEUE: Queue = Queue {
    slots: new_slots(),
    tail: AtomicUsize::new(0),
    head: AtomicUsize::new(0),
    running: AtomicBool::new(false),
};

/// Queue `function(argument)` to run with the lock held at the next check
/// point of whichever thread holds it. Async-signal-safe.
///
/// # Errors
/// [`PendingQueueFull`] when 64 calls are already waiting.
///
/// # Safety
/// `function` must be safe to call with `argument`, on any thread that
/// holds the lock, at any later time.
pub unsafe fn add_pending_call(
    function: PendingCall,
    argument: *mut c_void,
) -> Result<(), PendingQueueFull> {
    let queue = &QUEUE;
    let mut position = queue.tail.load(Ordering::Relaxed);
    loop {
        let slot = &queue.slots[position % SLOTS];
        let sequence = slot.sequence.load(Ordering::Acquire);
        let lag = sequence.wrapping_sub(position) as isize;
        if lag == 0 {
            match queue.tail.compare_exchange_weak(
                position,
                position.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    slot.function.store(function as usize, Ordering::Relaxed);
                    slot.argument.store(argument.expose_provenance(), Ordering::Relaxed);
                    slot.sequence.store(position.wrapping_add(1), Ordering::Release);
                    GIL.set_breaker(PENDING_CALLS);
                    return Ok(());
                }
                Err(now) => position = now,
            }
        } else if lag < 0 {
            return Err(PendingQueueFull);
        } else {
            position = queue.tail.load(Ordering::Relaxed);
        }
    }
}

/// Take the oldest published call, if any (one consumer at a time).
fn take() -> Option<(PendingCall, *mut c_void)> {
    let queue = &QUEUE;
    let position = queue.head.load(Ordering::Relaxed);
    let slot = &queue.slots[position % SLOTS];
    if slot.sequence.load(Ordering::Acquire) != position.wrapping_add(1) {
        return None;
    }
    let function = slot.function.load(Ordering::Relaxed);
    let argument = slot.argument.load(Ordering::Relaxed);
    queue.head.store(position.wrapping_add(1), Ordering::Relaxed);
    slot.sequence.store(position.wrapping_add(SLOTS), Ordering::Release);
    // SAFETY: a published slot's `function` was stored from a
    // `PendingCall` by `add_pending_call`, and a fn pointer round-trips
    // through usize.
    let function = unsafe { std::mem::transmute::<usize, PendingCall>(function) };
    Some((function, std::ptr::with_exposed_provenance_mut(argument)))
}

/// Run the calls waiting now, oldest first. The caller holds the lock.
/// Calls queued meanwhile run too, up to one queue's worth; any left keep
/// the eval-breaker bit set for the next check point.
pub(crate) fn run_pending_calls() {
    let queue = &QUEUE;
    if queue.running.swap(true, Ordering::Acquire) {
        return;
    }
    // Cleared before taking: a call published after this point sets the
    // bit again, so none can be missed.
    GIL.clear_breaker(PENDING_CALLS);
    for _ in 0..SLOTS {
        let Some((function, argument)) = take() else { break };
        // SAFETY: `add_pending_call`'s caller promised `function` may be
        // called with `argument` on any thread holding the lock; we hold it.
        unsafe { function(argument) };
    }
    let head = queue.head.load(Ordering::Relaxed);
    if queue.tail.load(Ordering::Relaxed) != head {
        GIL.set_breaker(PENDING_CALLS);
    }
    queue.running.store(false, Ordering::Release);
}
