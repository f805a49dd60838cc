//! Model checking the lock's state machine with loom (`ci/loom.sh`).
//!
//! This file owns only the models; each builds its own `RawGil` and leaves
//! the process-wide lock alone.
//!
//! Built with `--cfg loom`, `sync.rs` hands `raw.rs` loom's instrumented
//! atomics, mutex and condition variable, and loom runs each model below
//! under every interleaving it can reach within its preemption bound. What
//! each model checks:
//!
//! - **mutual exclusion**: a counter incremented on entry and decremented on
//!   exit never exceeds one;
//! - **no lost wake-up, no deadlock**: loom fails a model in which every
//!   thread is blocked; since loom never times a wait out, a waiter must be
//!   woken by a notification, never rescued by its timeout;
//! - **drop request honoured, forced switching**: a holder that yields to a
//!   drop request gets the lock back only after the waiter has had it;
//! - **no pending call lost**: a call queued with `gs_add_pending_call`
//!   while the holder runs the queue has either run or left the eval
//!   breaker's `PENDING_CALLS` bit set; a full queue refuses, never
//!   overwrites.
//!
//! - **one lock per interpreter**: with two locks (two interpreters), each
//!   excludes its own holders, a thread of one interpreter never waits for
//!   the other's holder, and a thread that moves from one interpreter to
//!   the other between critical sections is excluded by each in turn;
//!   a drop request on one lock is never seen by the other.
//!
//! - **one slot, one interpreter**: two threads starting an interpreter in
//!   the same free slot never both own it, and whoever claims a slot given
//!   back runs under the new id, never the old one.
//!
//! loom ignores wait timeouts, so models raise the drop request themselves,
//! as a waiter whose switch interval expired would.

use std::sync::atomic::Ordering::SeqCst;

use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::thread;

use super::handoff::Reason;
use super::pending::PendingQueue;
use super::policy::Policy;
use super::raw::{DROP_REQUEST, PENDING_CALLS, RawGil, Waiter};
use super::slot::{Claim, MAX_INTERPRETERS};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// One critical section: take the lock, check nobody else is inside, leave.
fn critical_section(gil: &RawGil, me: &Arc<Waiter>, inside: &AtomicUsize, release: Reason) {
    gil.acquire(me);
    assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
    inside.fetch_sub(1, SeqCst);
    gil.release(me, release);
}

/// A release by C.
const C: Reason = Reason::ReleasedByC;

/// A thread `serial` that runs one critical section per release reason.
fn spawn_sections(
    gil: &Arc<RawGil>,
    inside: &Arc<AtomicUsize>,
    serial: u64,
    releases: &'static [Reason],
) -> thread::JoinHandle<()> {
    let (gil, inside) = (gil.clone(), inside.clone());
    thread::spawn(move || {
        let me = Arc::new(Waiter::new(serial));
        for &release in releases {
            critical_section(&gil, &me, &inside, release);
        }
    })
}

fn exclusion(policy: Policy, threads: u64, rounds: usize) {
    model(move || {
        let gil = Arc::new(RawGil::new());
        gil.set_policy(policy);
        let inside = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (1..=threads)
            .map(|serial| {
                let (gil, inside) = (gil.clone(), inside.clone());
                thread::spawn(move || {
                    let me = Arc::new(Waiter::new(serial));
                    for round in 0..rounds {
                        // A C release first (exercising fair's prediction and
                        // its mutex-free paths), then one that always wakes.
                        let reason =
                            if round + 1 < rounds { Reason::ReleasedByC } else { Reason::Detach };
                        critical_section(&gil, &me, &inside, reason);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn two_threads_exclude_each_other_under_every_policy() {
    for policy in Policy::ALL {
        exclusion(policy, 2, 2);
    }
}

#[test]
fn three_threads_exclude_each_other_under_every_policy() {
    for policy in Policy::ALL {
        exclusion(policy, 3, 1);
    }
}

fn drop_request_is_honoured(policy: Policy) {
    model(move || {
        let gil = Arc::new(RawGil::new());
        gil.set_policy(policy);
        // 1: the waiter has had the lock; 2: the holder has it back.
        let order = Arc::new(AtomicUsize::new(0));
        let holder = Arc::new(Waiter::new(1));
        gil.acquire(&holder);
        let waiter = {
            let (gil, order) = (gil.clone(), order.clone());
            thread::spawn(move || {
                let me = Arc::new(Waiter::new(2));
                gil.acquire(&me);
                assert_eq!(
                    order.fetch_add(1, SeqCst),
                    0,
                    "the holder came back before the waiter ran"
                );
                gil.release(&me, Reason::Detach);
            })
        };
        // Wait until the waiter has queued, then ask for the switch as its
        // expired switch interval would.
        while gil.waiting() == 0 {
            thread::yield_now();
        }
        gil.set_breaker(DROP_REQUEST);
        assert!(gil.yield_to_waiter(&holder), "the holder did not yield");
        assert_eq!(order.fetch_add(1, SeqCst), 1, "forced switching: the waiter must run first");
        assert_eq!(gil.breaker() & DROP_REQUEST, 0, "the drop request was not cleared");
        gil.release(&holder, Reason::Detach);
        waiter.join().unwrap();
    });
}

#[test]
fn a_drop_request_is_honoured_with_forced_switching_under_every_policy() {
    for policy in Policy::ALL {
        drop_request_is_honoured(policy);
    }
}

#[test]
fn a_returning_thread_and_a_waiter_never_hold_together_under_fair() {
    // fair's mutex-free take (a thread back from a short C release) against
    // a waiter taking the lock under the queue mutex: the race the
    // contention test once caught, now explored exhaustively.
    model(|| {
        let gil = Arc::new(RawGil::new());
        gil.set_policy(Policy::Fair);
        let inside = Arc::new(AtomicUsize::new(0));
        // Two C releases teach the caller that its C releases are short.
        let caller = spawn_sections(&gil, &inside, 1, &[C, C, Reason::Detach]);
        let other = {
            let (gil, inside) = (gil.clone(), inside.clone());
            thread::spawn(move || {
                let me = Arc::new(Waiter::new(2));
                critical_section(&gil, &me, &inside, Reason::Detach);
            })
        };
        caller.join().unwrap();
        other.join().unwrap();
    });
}

/// A pending call for the models: counts itself in the `AtomicUsize` its
/// argument points to.
unsafe extern "C" fn count_call(argument: *mut std::ffi::c_void) {
    // SAFETY: every model passes a pointer to an `AtomicUsize` it keeps
    // alive until the calls have run.
    unsafe { &*argument.cast::<AtomicUsize>() }.fetch_add(1, SeqCst);
}

type PendingModel = (Arc<RawGil>, Arc<PendingQueue<2>>, Arc<AtomicUsize>);

/// A lock, a two-slot pending queue and the counter its calls bump.
fn pending_model() -> PendingModel {
    (Arc::new(RawGil::new()), Arc::new(PendingQueue::new()), Arc::new(AtomicUsize::new(0)))
}

/// Queue one `count_call` bumping `ran`; whether the queue took it.
fn push_count_call(gil: &RawGil, queue: &PendingQueue<2>, ran: &Arc<AtomicUsize>) -> bool {
    let argument = Arc::as_ptr(ran).cast_mut().cast();
    // SAFETY: `count_call` only counts, and every model keeps `ran` alive
    // until the queued calls have run.
    unsafe { queue.push(gil, count_call, argument) }.is_ok()
}

/// Two producers (signal handlers, other threads) each queueing one call;
/// each joins with whether its call was accepted.
fn spawn_producers(
    gil: &Arc<RawGil>,
    queue: &Arc<PendingQueue<2>>,
    ran: &Arc<AtomicUsize>,
) -> Vec<thread::JoinHandle<bool>> {
    (0..2)
        .map(|_| {
            let (gil, queue, ran) = (gil.clone(), queue.clone(), ran.clone());
            thread::spawn(move || push_count_call(&gil, &queue, &ran))
        })
        .collect()
}

#[test]
fn a_pending_call_is_run_or_left_signalled_never_lost() {
    // Two producers (signal handlers, other threads) queue a call each
    // while the holder reaches one check point.
    model(|| {
        let (gil, queue, ran) = pending_model();
        let producers = spawn_producers(&gil, &queue, &ran);
        if gil.breaker() & PENDING_CALLS != 0 {
            queue.run(&gil);
        }
        let accepted = producers.into_iter().map(|p| p.join().unwrap());
        assert_eq!(accepted.filter(|&ok| ok).count(), 2, "room for two");
        if ran.load(SeqCst) < 2 {
            assert_ne!(gil.breaker() & PENDING_CALLS, 0, "a call waits with the bit clear");
        }
        queue.run(&gil);
        assert_eq!(ran.load(SeqCst), 2);
        assert_eq!(gil.breaker() & PENDING_CALLS, 0);
    });
}

#[test]
fn a_full_pending_queue_refuses_and_overwrites_nothing() {
    // Two slots, one already taken; two producers race for the other.
    model(|| {
        let (gil, queue, ran) = pending_model();
        assert!(push_count_call(&gil, &queue, &ran), "an empty queue has room");
        let producers = spawn_producers(&gil, &queue, &ran);
        let accepted = producers.into_iter().map(|p| p.join().unwrap());
        assert_eq!(accepted.filter(|&ok| ok).count(), 1, "one slot left, one call accepted");
        queue.run(&gil);
        assert_eq!(ran.load(SeqCst), 2);
    });
}

fn two_locks(policy: Policy) {
    model(move || {
        let (a, b) = (Arc::new(RawGil::new()), Arc::new(RawGil::new()));
        a.set_policy(policy);
        b.set_policy(policy);
        let (inside_a, inside_b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        // This thread holds A for as long as the thread of B runs.
        let holder_of_a = Arc::new(Waiter::new(1));
        a.acquire(&holder_of_a);
        assert_eq!(inside_a.fetch_add(1, SeqCst), 0);
        let of_b = spawn_sections(&b, &inside_b, 2, &[C, Reason::Detach]);
        let mover = {
            let (a, b) = (a.clone(), b.clone());
            let (inside_a, inside_b) = (inside_a.clone(), inside_b.clone());
            thread::spawn(move || {
                // Bound to A first, then (holding nothing) to B.
                let me = Arc::new(Waiter::new(3));
                critical_section(&a, &me, &inside_a, Reason::Detach);
                critical_section(&b, &me, &inside_b, Reason::Detach);
            })
        };
        // B's thread finishes while A is held throughout: no waiting across.
        of_b.join().unwrap();
        // A drop request on A (the mover's expired interval) leaves B alone.
        a.set_breaker(DROP_REQUEST);
        assert_eq!(b.breaker() & DROP_REQUEST, 0, "a drop request crossed locks");
        inside_a.fetch_sub(1, SeqCst);
        a.release(&holder_of_a, Reason::Detach);
        mover.join().unwrap();
        assert_eq!(a.holder(), None);
        assert_eq!(b.holder(), None);
    });
}

#[test]
fn two_interpreters_locks_exclude_each_their_own_and_never_each_other() {
    for policy in [Policy::Fair, Policy::CPython] {
        two_locks(policy);
    }
}

#[test]
fn two_starters_never_own_one_slot_and_a_slot_given_back_has_a_new_id() {
    model(|| {
        // Slot 5, in use by interpreter 5; its owner gives it back while two
        // starters try to claim it.
        let claim = Arc::new(Claim::free(5));
        assert!(claim.try_claim());
        let owners = Arc::new(AtomicUsize::new(0));
        let starters: Vec<_> = (0..2)
            .map(|_| {
                let (claim, owners) = (claim.clone(), owners.clone());
                thread::spawn(move || {
                    if claim.try_claim() {
                        assert_eq!(owners.fetch_add(1, SeqCst), 0, "two owners of one slot");
                        let id = claim.id();
                        assert_eq!(id, 5 + MAX_INTERPRETERS as u32, "claimed under the old id");
                    }
                })
            })
            .collect();
        claim.give_back();
        for starter in starters {
            starter.join().unwrap();
        }
        assert!(owners.load(SeqCst) <= 1);
    });
}
