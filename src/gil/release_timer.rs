//! How long a thread's voluntary releases last: what the `fair` policy
//! predicts from (a C release predicted short wakes nobody).
//!
//! This file owns one thread's release timing — whether it is away in a
//! voluntary release, when a timed one began, and the moving average —
//! and the lock's clock. Only the owning thread writes a timer, so plain
//! loads and stores do; `raw.rs` keeps one in each waiter and asks it.

use super::policy::SHORT_RELEASE;
use super::sync::{AtomicU64, Ordering::Relaxed};

/// One thread's release timing.
pub(crate) struct ReleaseTimer {
    /// Whether this thread is away in a voluntary release (C or blocking)
    /// and what is known of it, in one word so the C API's fast paths
    /// test and clear it with one load and one store: [`HOME`] if it is
    /// not away; [`AWAY_UNTIMED_FAST`] if its release took the fast path
    /// (nobody was queued: no length is wanted); [`NOT_TIMED`] if it took
    /// the slow path but was not one of the sampled releases; else when
    /// the release began (monotonic ns).
    away: AtomicU64,
    /// Slow-path voluntary releases so far: one in [`TIME_ONE_IN`] is
    /// timed. Written only by the owning thread.
    slow_releases: AtomicU64,
    /// A moving average of this thread's voluntary release durations;
    /// `u64::MAX` until one has been seen (predicts "long").
    release_avg_ns: AtomicU64,
}

impl ReleaseTimer {
    pub(crate) fn new() -> Self {
        ReleaseTimer {
            away: AtomicU64::new(HOME),
            slow_releases: AtomicU64::new(0),
            release_avg_ns: AtomicU64::new(u64::MAX),
        }
    }

    /// The thread starts a voluntary release (C or blocking).
    #[inline]
    pub(super) fn begin(&self) {
        self.away.store(AWAY_UNTIMED_FAST, Relaxed);
    }

    /// A voluntary release takes the slow path: note when it began, if it
    /// is one of the one in [`TIME_ONE_IN`] that are timed (reading the
    /// clock twice per short C call was most of what a contended call
    /// cost beyond its fair share).
    #[inline]
    pub(super) fn start_timing(&self) {
        let n = self.slow_releases.load(Relaxed);
        self.slow_releases.store(n.wrapping_add(1), Relaxed);
        let at = if n.is_multiple_of(TIME_ONE_IN) {
            monotonic_ns().max(FIRST_TIMESTAMP)
        } else {
            NOT_TIMED
        };
        self.away.store(at, Relaxed);
    }

    /// Whether this thread's voluntary releases are, lately, short.
    pub(super) fn predicts_short(&self) -> bool {
        self.release_avg_ns.load(Relaxed) < SHORT_RELEASE.as_nanos() as u64
    }

    /// This thread is back from a voluntary release. Returns `None` if it
    /// was not in one; else `Some(length)`, where the length is known only
    /// if the release took the slow path (threads were queued): measured and
    /// folded into the average if the release was one of the timed ones,
    /// else taken to be the average.
    ///
    /// Only the owning thread writes these fields, so plain loads and stores
    /// do: no read-modify-write on the hot path.
    #[inline]
    pub(super) fn end_voluntary(&self) -> Option<Option<u64>> {
        let away = self.away.load(Relaxed);
        if away == HOME {
            return None;
        }
        self.away.store(HOME, Relaxed);
        if away == AWAY_UNTIMED_FAST {
            return Some(None);
        }
        Some(self.slow_release_ended(away))
    }

    /// The length of a slow-path release that began at `away` (or was not
    /// timed: [`NOT_TIMED`]), folded into the average if it was timed.
    /// Kept out of line: the C API's fast path of `gs_restore_thread`
    /// reaches it only after a release that found threads queued.
    #[cold]
    #[inline(never)]
    fn slow_release_ended(&self, away: u64) -> Option<u64> {
        let avg = self.release_avg_ns.load(Relaxed);
        if away == NOT_TIMED {
            return (avg != u64::MAX).then_some(avg);
        }
        let took = monotonic_ns().saturating_sub(away);
        // Saturating: this runs on the C API's fast path of
        // `gs_restore_thread`, which must not be able to panic.
        let next =
            if avg == u64::MAX { took } else { avg.saturating_mul(3).saturating_add(took) / 4 };
        self.release_avg_ns.store(next, Relaxed);
        Some(took)
    }
}

/// How many slow-path voluntary releases there are per timed one. The
/// first is timed, so a thread's prediction starts from a measurement.
const TIME_ONE_IN: u64 = 8;

/// `away` of a thread that is not away in a voluntary release.
const HOME: u64 = 0;
/// `away` of a release that took the fast path (nobody was queued).
const AWAY_UNTIMED_FAST: u64 = 1;
/// `away` of a slow-path release that is not timed.
const NOT_TIMED: u64 = 2;
/// The smallest `away` that is a time stamp.
const FIRST_TIMESTAMP: u64 = 3;

/// Monotonic nanoseconds, from the vDSO clock (no system call). Every
/// clock read of the lock goes through here.
#[cfg(not(loom))]
pub(super) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists on
    // every Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// Under loom time stands still, so every exploration of a model is
/// deterministic: releases last 0 ns (so `fair` predicts them short and
/// exercises its deferral paths), and waiters never run out of patience
/// (models raise drop requests themselves).
#[cfg(loom)]
pub(super) fn monotonic_ns() -> u64 {
    1
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// One slow-path voluntary release of the waiter, and its return.
    fn slow_release(waiter: &ReleaseTimer) -> Option<Option<u64>> {
        waiter.begin();
        waiter.start_timing();
        waiter.end_voluntary()
    }

    #[test]
    fn one_slow_release_in_eight_is_timed_and_the_rest_take_the_average() {
        let waiter = ReleaseTimer::new();
        let first = slow_release(&waiter).expect("was away").expect("the first is timed");
        assert_eq!(waiter.release_avg_ns.load(Relaxed), first);
        for _ in 1..TIME_ONE_IN {
            assert_eq!(slow_release(&waiter), Some(Some(first)), "untimed: the average");
            assert_eq!(waiter.release_avg_ns.load(Relaxed), first, "the average kept");
        }
        // The ninth is timed again (0 ns here stands for any new length).
        let long_ago = 1_000_000_000_000;
        waiter.release_avg_ns.store(long_ago, Relaxed);
        slow_release(&waiter);
        assert!(waiter.release_avg_ns.load(Relaxed) < long_ago, "timed and folded in");
        // A fast-path release (nobody queued) has no length.
        waiter.begin();
        assert_eq!(waiter.end_voluntary(), Some(None));
    }
}
