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
//! Once `QUEUED` is set, releases that wake a waiter happen under the queue
//! mutex, so a waiter that checks `LOCKED` under the mutex and then sleeps
//! on its condition variable cannot miss the release that would wake it.
//! Two transitions of the `fair` policy skip the mutex on purpose: taking a
//! free lock (`take_if_free`, one CAS) and a short C release that wakes
//! nobody (one `fetch_and`). Every taker therefore sets `LOCKED` with a
//! CAS, never a plain store or `fetch_or`.
//!
//! # The eval breaker
//!
//! One word the holder reads with a single relaxed load at every check
//! point. Zero means "carry on". `DROP_REQUEST` is set by a waiter whose
//! switch interval expired without the lock changing hands; the holder then
//! yields. `INTERRUPT` is set while an interrupt (Ctrl+C, shutdown) is
//! pending. `PENDING_CALLS` is set while calls added with
//! `gs_add_pending_call` wait to run (`pending.rs`).

use std::collections::VecDeque;
use std::time::Duration;

use super::handoff::{Counters, Handoff, HandoffLog, Reason};
use super::policy::{Policy, SHORT_RELEASE};
use super::release_timer::{ReleaseTimer, monotonic_ns};
use super::sync::{
    Arc, AtomicBool, AtomicU8, AtomicU32, AtomicU64, Condvar, Mutex, MutexGuard,
    Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst},
    fence,
};

/// `state` bit: some thread holds the lock.
pub(crate) const LOCKED: u32 = 1;
/// `state` bit: at least one thread sleeps in the queue.
pub(crate) const QUEUED: u32 = 2;

/// Eval-breaker bit: a waiter asks the holder to yield.
pub(crate) const DROP_REQUEST: u32 = 1;
/// Eval-breaker bit: an interrupt is pending.
pub(crate) const INTERRUPT: u32 = 2;
/// Eval-breaker bit: a pending call (`gs_add_pending_call`) waits to run.
pub(crate) const PENDING_CALLS: u32 = 4;

/// The default switch interval, as in CPython.
pub const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(5);

/// A thread's place in the queue: its own condition variable, so a release
/// wakes exactly the thread the policy chose, and what the `fair` policy
/// has learned about the thread's releases. Only the owning thread writes
/// the release fields; `granted` is written under the queue mutex.
pub(crate) struct Waiter {
    pub(crate) serial: u64,
    cond: Condvar,
    /// Set by a releaser that handed the lock straight to this waiter.
    granted: AtomicBool,
    /// Whether the thread is in its condition-variable wait (or on its way
    /// back from it). Written and read only under the queue mutex, so a
    /// releaser wakes only a thread that sleeps: a thread that is awake
    /// checks the lock itself before it sleeps, and a notification nobody
    /// waits for still costs a system call.
    sleeping: AtomicBool,
    /// What the `fair` policy has learned about the thread's releases.
    releases: ReleaseTimer,
    /// When this thread started waiting in the queue (monotonic ns), or 0;
    /// read by the deadlock watchdog.
    waiting_since_ns: AtomicU64,
}

impl Waiter {
    pub(crate) fn new(serial: u64) -> Self {
        Waiter {
            serial,
            cond: Condvar::new(),
            granted: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            releases: ReleaseTimer::new(),
            waiting_since_ns: AtomicU64::new(0),
        }
    }
}

struct Queue {
    /// Threads waiting for the lock, oldest first.
    waiters: VecDeque<Arc<Waiter>>,
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
    /// Holders that yielded and wait on `switch_cond` for someone else to
    /// take the lock. Changed under the queue mutex; read without it by
    /// `take_if_free`.
    yielders: AtomicU32,
    log: HandoffLog,
}

/// The initial lock, as an expression: used by the `const` constructor the
/// process-wide static needs, and by the plain one loom needs (its atomics
/// are not `const`).
macro_rules! new_raw_gil {
    () => {
        RawGil {
            state: AtomicU32::new(0),
            eval_breaker: AtomicU32::new(0),
            owner: AtomicU64::new(0),
            switch_number: AtomicU64::new(0),
            last_release: AtomicU8::new(Reason::Detach as u8),
            interval_ns: AtomicU64::new(DEFAULT_SWITCH_INTERVAL.as_nanos() as u64),
            policy: AtomicU8::new(Policy::DEFAULT as u8),
            queue: Mutex::new(Queue { waiters: VecDeque::new() }),
            switch_cond: Condvar::new(),
            yielders: AtomicU32::new(0),
            log: HandoffLog::new(),
        }
    };
}

impl RawGil {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        new_raw_gil!()
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        new_raw_gil!()
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

    /// For the deadlock watchdog: if the lock is held while threads wait
    /// for it, the holder and the current switch number. Two relaxed loads
    /// of the state word; no lock taken.
    pub(crate) fn held_with_waiters(&self) -> Option<(u64, u64)> {
        (self.state.load(Relaxed) == LOCKED | QUEUED)
            .then(|| (self.owner.load(Relaxed), self.switch_number.load(Relaxed)))
    }

    /// The queued threads and how long each has waited, oldest first.
    #[cfg(not(loom))]
    pub(crate) fn waiters_waited(&self) -> Vec<(u64, Duration)> {
        let now = monotonic_ns();
        self.queue
            .lock()
            .waiters
            .iter()
            .map(|w| {
                let since = w.waiting_since_ns.load(Relaxed);
                (
                    w.serial,
                    Duration::from_nanos(if since == 0 { 0 } else { now.saturating_sub(since) }),
                )
            })
            .collect()
    }

    /// The check point's one relaxed load.
    #[inline(always)]
    pub(crate) fn breaker(&self) -> u32 {
        self.eval_breaker.load(Relaxed)
    }

    pub(crate) fn set_breaker(&self, bits: u32) {
        self.eval_breaker.fetch_or(bits, Relaxed);
    }

    /// Set `PENDING_CALLS` after publishing a pending call: a release, so
    /// the thread that clears the bit ([`unsignal_pending_calls`]) sees the
    /// call. (loom found that with a relaxed set and clear, a holder could
    /// clear the bit yet miss the call it announced.)
    ///
    /// [`unsignal_pending_calls`]: Self::unsignal_pending_calls
    pub(crate) fn signal_pending_calls(&self) {
        self.eval_breaker.fetch_or(PENDING_CALLS, Release);
    }

    /// Clear `PENDING_CALLS` before running the pending calls: an acquire,
    /// pairing with [`signal_pending_calls`](Self::signal_pending_calls).
    pub(crate) fn unsignal_pending_calls(&self) {
        self.eval_breaker.fetch_and(!PENDING_CALLS, AcqRel);
    }

    /// Clear `bits`; a plain load first, so the common case (nothing set)
    /// costs no read-modify-write.
    pub(crate) fn clear_breaker(&self, bits: u32) {
        if self.breaker() & bits != 0 {
            self.eval_breaker.fetch_and(!bits, Relaxed);
        }
    }

    /// Take the lock, waiting as long as it takes.
    #[inline]
    pub(crate) fn acquire(&self, me: &Arc<Waiter>) {
        if !self.try_acquire(me) {
            self.acquire_slow(me);
        }
    }

    /// Take the lock if it is free right now (the fast path of
    /// [`acquire`](Self::acquire), nothing else); returns whether it did.
    #[inline]
    pub(crate) fn try_acquire(&self, me: &Arc<Waiter>) -> bool {
        let free = self.state.compare_exchange(0, LOCKED, Acquire, Relaxed).is_ok();
        if free {
            me.releases.end_voluntary();
            self.took(me.serial);
        }
        free
    }

    /// Bookkeeping of a new holder. Runs while holding the lock. Returns
    /// whether the lock changed hands (a thread re-taking the lock it let
    /// go of is not a switch).
    #[inline]
    fn took(&self, serial: u64) -> bool {
        self.log.acquired();
        let previous = self.owner.load(Relaxed);
        let switched = previous != serial;
        if switched {
            self.owner.store(serial, Relaxed);
            self.switch_number.store(self.switch_number.load(Relaxed).wrapping_add(1), Relaxed);
            self.log.switched(previous, Reason::from_u8(self.last_release.load(Relaxed)));
        }
        switched
    }

    /// Set a drop request on behalf of waiter `serial`.
    fn request_drop(&self, serial: u64) {
        self.set_breaker(DROP_REQUEST);
        self.log.drop_requested();
        #[cfg(not(loom))]
        if super::recorder::recording() {
            use super::recorder::{EventKind, record};
            // The waiter's interpreter is the one of its `Wants` just before.
            record(serial, super::interp::NO_INTERPRETER, EventKind::DropRequested, None);
        }
        #[cfg(loom)]
        let _ = serial;
    }

    /// Take the lock if it is free, with one CAS and without the queue
    /// mutex, although threads are queued (the `fair` policy's return from
    /// a short C call). Queued waiters that see it taken sleep on; the
    /// release that follows goes through the slow path and wakes them.
    fn take_if_free(&self, me: &Waiter) -> bool {
        let mut state = self.state.load(Relaxed);
        while state & LOCKED == 0 {
            match self.state.compare_exchange_weak(state, state | LOCKED, Acquire, Relaxed) {
                Ok(_) => {
                    me.releases.end_voluntary();
                    // A waiter's drop request is served only if the lock
                    // changed hands. The thread that let go of it a moment
                    // ago keeps the request and honours it at its next
                    // check point; clearing it here ate every request that
                    // arrived during a short C call, so the waiter lost
                    // whole switch intervals (the CPU-bound thread of the
                    // convoy kept 0.35 of its speed instead of half).
                    if self.took(me.serial) {
                        self.clear_breaker(DROP_REQUEST);
                    }
                    // Pairs with the fence in `yield_to_waiter`: either we
                    // see its count, or it sees our new switch number.
                    fence(SeqCst);
                    if self.yielders.load(Relaxed) > 0 {
                        // A holder waits for the lock to change hands.
                        // Taking the queue mutex (and letting it go before
                        // the notification, so the holder wakes to a free
                        // mutex) waits out a holder between its check of
                        // the switch number and its sleep.
                        drop(self.queue.lock());
                        self.switch_cond.notify_all();
                    }
                    return true;
                }
                Err(now) => state = now,
            }
        }
        false
    }

    #[cold]
    fn acquire_slow(&self, me: &Arc<Waiter>) {
        if self.policy().lock_free_fast_paths() && self.take_if_free(me) {
            return;
        }
        let mut queue = self.queue.lock();
        let back_from = me.releases.end_voluntary();
        let policy = self.policy();
        // Back from a long voluntary release (or one nobody was queued for)
        // and the lock is taken: go first, and ask for the lock now rather
        // than after an interval. Not after a short release: whoever took
        // the lock in that gap keeps its turn, or it would starve.
        let long = back_from
            .is_some_and(|length| length.is_none_or(|ns| ns >= SHORT_RELEASE.as_nanos() as u64));
        if long && policy.priority_on_return() && self.state.load(Relaxed) & LOCKED != 0 {
            queue.waiters.push_front(Arc::clone(me));
            if self.breaker() & DROP_REQUEST == 0 {
                self.request_drop(me.serial);
            }
        } else {
            queue.waiters.push_back(Arc::clone(me));
        }
        self.state.fetch_or(QUEUED, Relaxed);
        // The drop request is due once the lock has not changed hands for a
        // whole interval while this thread waited.
        let mut seen = self.switch_number.load(Relaxed);
        let mut since = monotonic_ns();
        me.waiting_since_ns.store(since, Relaxed);
        loop {
            if me.granted.swap(false, Acquire) {
                // Handed over directly: `LOCKED` was never cleared for us.
                break;
            }
            let policy = self.policy();
            let state = self.state.load(Relaxed);
            let first = queue.waiters.front().is_some_and(|w| Arc::ptr_eq(w, me));
            if state & LOCKED == 0 && (first || policy.may_barge()) {
                // A CAS, not a plain set: under `fair` a returning thread
                // may take a free lock without the queue mutex
                // (`take_if_free`), so `state` can change under us.
                if self.state.compare_exchange(state, state | LOCKED, Acquire, Relaxed).is_ok() {
                    break;
                }
                continue;
            }
            let patience = self.switch_interval();
            let waited = Duration::from_nanos(monotonic_ns().saturating_sub(since));
            let left = patience.saturating_sub(waited).max(Duration::from_micros(1));
            // One wait for the whole remaining patience. Waking every 1 ms
            // would bound what a wrongly predicted short C release costs a
            // waiter under `fair`, but measured here it made every hand-off
            // ten times slower (2 µs to 20 µs).
            me.sleeping.store(true, Relaxed);
            me.cond.wait_for(&mut queue, left);
            me.sleeping.store(false, Relaxed);
            let now_seen = self.switch_number.load(Relaxed);
            let waited = Duration::from_nanos(monotonic_ns().saturating_sub(since));
            if now_seen != seen {
                seen = now_seen;
                since = monotonic_ns();
            } else if waited >= patience {
                if !me.granted.load(Relaxed)
                    && self.state.load(Relaxed) & LOCKED != 0
                    && self.breaker() & DROP_REQUEST == 0
                {
                    self.request_drop(me.serial);
                }
                // Patience spent: the drop request is out (ours or
                // another waiter's). Wait a whole interval again rather
                // than the 1 µs floor, which made a waiter poll tens of
                // thousands of times a second while C kept the lock.
                since = monotonic_ns();
            }
        }
        me.waiting_since_ns.store(0, Relaxed);
        if let Some(at) = queue.waiters.iter().position(|w| Arc::ptr_eq(w, me)) {
            queue.waiters.remove(at);
        }
        if queue.waiters.is_empty() {
            self.state.fetch_and(!QUEUED, Relaxed);
        }
        // Whatever drop request was pending has been served: the lock moved.
        self.clear_breaker(DROP_REQUEST);
        let _ = self.took(me.serial);
        let yielders = self.yielders.load(Relaxed) > 0;
        drop(queue);
        // After letting go of the queue mutex, so the yielder wakes to a
        // free mutex (see `release_slow`); it checks the switch number
        // under the mutex before it sleeps, so it cannot miss this.
        if yielders {
            self.switch_cond.notify_all();
        }
    }

    /// Let go of the lock. The caller (`me`) must hold it.
    #[inline]
    pub(crate) fn release(&self, me: &Waiter, reason: Reason) {
        if !self.try_release(me, reason) {
            self.release_slow(me, reason);
        }
    }

    /// Let go of the lock if no thread is queued for it (the fast path of
    /// [`release`](Self::release), nothing else); returns whether it did.
    /// If not, the caller still holds it and must call `release`, which
    /// repeats the first two stores harmlessly. Cannot panic.
    #[inline]
    pub(crate) fn try_release(&self, me: &Waiter, reason: Reason) -> bool {
        self.last_release.store(reason as u8, Relaxed);
        if matches!(reason, Reason::ReleasedByC | Reason::Blocking) {
            me.releases.begin();
        }
        self.state.compare_exchange(LOCKED, 0, Release, Relaxed).is_ok()
    }

    /// Release with threads queued: the policy decides what happens next.
    #[cold]
    fn release_slow(&self, me: &Waiter, reason: Reason) {
        if matches!(reason, Reason::ReleasedByC | Reason::Blocking) {
            me.releases.start_timing();
        }
        // Only a C release may defer the wake-up: a blocking call (a sleep,
        // a join, an event) may be waiting for the very thread it would not
        // wake.
        let short_c = reason == Reason::ReleasedByC && me.releases.predicts_short();
        let policy = self.policy();
        if short_c && policy.lock_free_fast_paths() && !policy.wake_on_release(true) {
            // Nobody is to be woken: clearing LOCKED (and keeping QUEUED) is
            // all there is to do. A waiter checking under the mutex either
            // sees it free and takes it, or sleeps one switch interval at most.
            self.state.fetch_and(!LOCKED, Release);
            return;
        }
        let mut queue = self.queue.lock();
        let to_wake = self.release_locked(&mut queue, short_c);
        drop(queue);
        // Woken after the queue mutex is let go: a waiter woken while it
        // is held would only wake to wait for the mutex (`std`'s condition
        // variable does not move it to the mutex's queue as `parking_lot`'s
        // did). Nothing is missed: the waiter checks `granted` and `state`
        // under the mutex before it sleeps, and a notification after its
        // check but before its sleep ends that sleep at once.
        if let Some(next) = to_wake {
            next.cond.notify_one();
        }
    }

    /// Hand the lock on, with the queue mutex held: directly to the oldest
    /// waiter (`fifo`), or by clearing `LOCKED`. Returns the waiter to wake
    /// (the one handed the lock, or the first one unless the policy defers
    /// it), for the caller to notify.
    #[must_use]
    fn release_locked(
        &self,
        queue: &mut MutexGuard<'_, Queue>,
        short_c_release: bool,
    ) -> Option<Arc<Waiter>> {
        let policy = self.policy();
        if policy.direct_handoff() {
            if let Some(next) = queue.waiters.pop_front() {
                if queue.waiters.is_empty() {
                    self.state.fetch_and(!QUEUED, Relaxed);
                }
                next.granted.store(true, Release);
                return next.sleeping.load(Relaxed).then_some(next);
            }
        }
        self.state.fetch_and(!LOCKED, Release);
        match queue.waiters.front() {
            Some(next)
                if policy.wake_on_release(short_c_release) && next.sleeping.load(Relaxed) =>
            {
                Some(Arc::clone(next))
            }
            _ => None,
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
            if let Some(next) = self.release_locked(&mut queue, false) {
                next.cond.notify_one();
            }
            self.yielders.fetch_add(1, Relaxed);
            // Pairs with the fence in `take_if_free`, which changes
            // hands without the queue mutex.
            fence(SeqCst);
            while self.switch_number.load(Relaxed) == before && !queue.waiters.is_empty() {
                // Sliced, so no missed signal can keep a holder here.
                self.switch_cond.wait_for(&mut queue, std::time::Duration::from_millis(1));
            }
            self.yielders.fetch_sub(1, Relaxed);
        }
        self.acquire(me);
        true
    }
}

#[cfg(not(loom))]
mod fork;
#[cfg(not(loom))]
pub(crate) use fork::ForkHold;

#[cfg(all(test, not(loom)))]
mod tests;
