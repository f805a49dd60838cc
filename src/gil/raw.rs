//! The raw lock: one state word, a queue of waiters, and the eval breaker.
//!
//! This file owns the lock's state machine and nothing else. It knows
//! threads only as serial numbers and [`Waiter`]s; nesting, tokens, the C
//! API and misuse checks live above it (`thread.rs`, `token.rs`,
//! `src/ffi/`). It must never call out of `src/gil/`.
//!
//! # The state word
//!
//! | `state` | meaning | who may change it |
//! |---|---|---|
//! | `0` | free, nobody queued | anyone: `0 → LOCKED` is the fast acquire |
//! | `LOCKED` | held, nobody queued | the holder: `LOCKED → 0` is the fast release; a waiter: sets `QUEUED` under the queue mutex |
//! | `LOCKED \| QUEUED` | held, threads waiting | the holder, under the queue mutex (slow release) |
//! | `QUEUED` | free, threads waiting; a woken waiter is on its way | any thread under the queue mutex (the policy decides who may take it) |
//!
//! Once `QUEUED` is set every transition happens under the queue mutex, so
//! a waiter that checks `LOCKED` under the mutex and then sleeps on its
//! condition variable cannot miss the release that would wake it.
//!
//! # The eval breaker
//!
//! One word the holder reads with a single relaxed load at every check
//! point. Zero means "carry on". `DROP_REQUEST` is set by a waiter whose
//! switch interval expired without the lock changing hands; the holder then
//! yields. `INTERRUPT` is set while an interrupt (Ctrl+C, shutdown) is
//! pending.

use std::collections::VecDeque;
use std::time::Duration;

use super::handoff::{Counters, Handoff, HandoffLog, Reason};
use super::policy::Policy;
use super::sync::{
    Arc, AtomicU8, AtomicU32, AtomicU64, Condvar, Mutex, MutexGuard,
    Ordering::{Acquire, Relaxed, Release},
};

/// `state` bit: some thread holds the lock.
pub(crate) const LOCKED: u32 = 1;
/// `state` bit: at least one thread sleeps in the queue.
pub(crate) const QUEUED: u32 = 2;

/// Eval-breaker bit: a waiter asks the holder to yield.
pub(crate) const DROP_REQUEST: u32 = 1;
/// Eval-breaker bit: an interrupt is pending.
pub(crate) const INTERRUPT: u32 = 2;

/// The default switch interval, as in CPython.
pub const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(5);

/// A thread's place in the queue: its own condition variable, so a release
/// wakes exactly the thread the policy chose.
pub(crate) struct Waiter {
    pub(crate) serial: u64,
    cond: Condvar,
}

impl Waiter {
    pub(crate) fn new(serial: u64) -> Self {
        Waiter { serial, cond: Condvar::new() }
    }
}

struct Queue {
    /// Threads waiting for the lock, oldest first.
    waiters: VecDeque<Arc<Waiter>>,
    /// Holders that yielded and wait for someone else to take the lock.
    yielders: u32,
}

/// The lock itself. One lives in a static; see [`super::GIL`].
pub(crate) struct RawGil {
    /// See the table in the module docs.
    state: AtomicU32,
    /// See the module docs. Read by the holder at every check point.
    eval_breaker: AtomicU32,
    /// Serial of the thread that holds the lock now, or held it last.
    /// Written only by a thread that has just taken the lock.
    owner: AtomicU64,
    /// Counts changes of holder. Waiters compare it across a timed wait to
    /// tell whether the lock changed hands meanwhile.
    switch_number: AtomicU64,
    /// Why the last holder let go ([`Reason`] as `u8`).
    last_release: AtomicU8,
    interval_ns: AtomicU64,
    policy: AtomicU8,
    queue: Mutex<Queue>,
    /// Signalled when a yielding holder may stop waiting (forced switching).
    switch_cond: Condvar,
    log: HandoffLog,
}

impl RawGil {
    pub(crate) const fn new() -> Self {
        RawGil {
            state: AtomicU32::new(0),
            eval_breaker: AtomicU32::new(0),
            owner: AtomicU64::new(0),
            switch_number: AtomicU64::new(0),
            last_release: AtomicU8::new(Reason::Detach as u8),
            interval_ns: AtomicU64::new(DEFAULT_SWITCH_INTERVAL.as_nanos() as u64),
            policy: AtomicU8::new(Policy::DEFAULT as u8),
            queue: Mutex::new(Queue { waiters: VecDeque::new(), yielders: 0 }),
            switch_cond: Condvar::new(),
            log: HandoffLog::new(),
        }
    }

    pub(crate) fn switch_interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns.load(Relaxed))
    }

    pub(crate) fn set_switch_interval(&self, interval: Duration) {
        let ns = interval.as_nanos().clamp(1_000, u128::from(u64::MAX)) as u64;
        self.interval_ns.store(ns, Relaxed);
    }

    pub(crate) fn policy(&self) -> Policy {
        Policy::from_u8(self.policy.load(Relaxed))
    }

    pub(crate) fn set_policy(&self, policy: Policy) {
        self.policy.store(policy as u8, Relaxed);
    }

    /// The serial of the current holder, if any. A racy snapshot, for display.
    pub(crate) fn holder(&self) -> Option<u64> {
        if self.state.load(Relaxed) & LOCKED != 0 { Some(self.owner.load(Relaxed)) } else { None }
    }

    pub(crate) fn counters(&self) -> Counters {
        self.log.snapshot()
    }

    pub(crate) fn last_handoff(&self) -> Handoff {
        self.log.last(self.owner.load(Relaxed))
    }

    pub(crate) fn switch_number(&self) -> u64 {
        self.switch_number.load(Relaxed)
    }

    pub(crate) fn waiting(&self) -> usize {
        self.queue.lock().waiters.len()
    }

    /// The check point's one relaxed load.
    #[inline(always)]
    pub(crate) fn breaker(&self) -> u32 {
        self.eval_breaker.load(Relaxed)
    }

    pub(crate) fn set_breaker(&self, bits: u32) {
        self.eval_breaker.fetch_or(bits, Relaxed);
    }

    pub(crate) fn clear_breaker(&self, bits: u32) {
        self.eval_breaker.fetch_and(!bits, Relaxed);
    }

    /// Take the lock, waiting as long as it takes.
    #[inline]
    pub(crate) fn acquire(&self, me: &Arc<Waiter>) {
        if self.state.compare_exchange(0, LOCKED, Acquire, Relaxed).is_ok() {
            self.took(me.serial);
        } else {
            self.acquire_slow(me);
        }
    }

    /// Bookkeeping of a new holder. Runs while holding the lock.
    #[inline]
    fn took(&self, serial: u64) {
        self.log.acquired();
        let previous = self.owner.load(Relaxed);
        if previous != serial {
            self.owner.store(serial, Relaxed);
            self.switch_number.store(self.switch_number.load(Relaxed).wrapping_add(1), Relaxed);
            self.log.switched(previous, Reason::from_u8(self.last_release.load(Relaxed)));
        }
    }

    #[cold]
    fn acquire_slow(&self, me: &Arc<Waiter>) {
        let mut queue = self.queue.lock();
        queue.waiters.push_back(Arc::clone(me));
        self.state.fetch_or(QUEUED, Relaxed);
        loop {
            let policy = self.policy();
            let state = self.state.load(Relaxed);
            let first = queue.waiters.front().is_some_and(|w| Arc::ptr_eq(w, me));
            if state & LOCKED == 0 && (first || policy.may_barge()) {
                // Under the mutex with QUEUED set, nobody else changes `state`.
                self.state.fetch_or(LOCKED, Acquire);
                break;
            }
            let seen = self.switch_number.load(Relaxed);
            let patience = policy.drop_request_after(self.switch_interval());
            let timed_out = me.cond.wait_for(&mut queue, patience).timed_out();
            if timed_out
                && self.state.load(Relaxed) & LOCKED != 0
                && self.switch_number.load(Relaxed) == seen
                && self.breaker() & DROP_REQUEST == 0
            {
                self.set_breaker(DROP_REQUEST);
                self.log.drop_requested();
                if super::observe::recording() {
                    super::observe::record(
                        me.serial,
                        super::observe::EventKind::DropRequested,
                        None,
                    );
                }
            }
        }
        if let Some(at) = queue.waiters.iter().position(|w| Arc::ptr_eq(w, me)) {
            queue.waiters.remove(at);
        }
        if queue.waiters.is_empty() {
            self.state.fetch_and(!QUEUED, Relaxed);
        }
        // Whatever drop request was pending has been served: the lock moved.
        self.clear_breaker(DROP_REQUEST);
        self.took(me.serial);
        if queue.yielders > 0 {
            self.switch_cond.notify_all();
        }
    }

    /// Let go of the lock. The caller must hold it.
    #[inline]
    pub(crate) fn release(&self, reason: Reason) {
        self.last_release.store(reason as u8, Relaxed);
        if self.state.compare_exchange(LOCKED, 0, Release, Relaxed).is_err() {
            let queue = self.queue.lock();
            self.release_locked(&queue);
        }
    }

    /// Clear `LOCKED` and wake the first waiter, with the queue mutex held.
    fn release_locked(&self, queue: &MutexGuard<'_, Queue>) {
        self.state.fetch_and(!LOCKED, Release);
        if let Some(next) = queue.waiters.front() {
            next.cond.notify_one();
        }
    }

    /// Honour a drop request: let a waiter take the lock, then queue for it
    /// again. The caller must hold the lock. Returns whether it changed
    /// hands.
    #[cold]
    pub(crate) fn yield_to_waiter(&self, me: &Arc<Waiter>) -> bool {
        {
            let mut queue = self.queue.lock();
            if queue.waiters.is_empty() {
                self.clear_breaker(DROP_REQUEST);
                return false;
            }
            let before = self.switch_number.load(Relaxed);
            self.last_release.store(Reason::SwitchInterval as u8, Relaxed);
            self.release_locked(&queue);
            if self.policy().forced_switching() {
                queue.yielders += 1;
                while self.switch_number.load(Relaxed) == before && !queue.waiters.is_empty() {
                    self.switch_cond.wait(&mut queue);
                }
                queue.yielders -= 1;
            }
        }
        self.acquire(me);
        true
    }
}
