//! Why the lock changed hands, counted cheaply.
//!
//! The lock records the reason of every release and, when the next holder
//! is a different thread, counts one switch under that reason and remembers
//! who held it before. All writes happen while the writer holds the lock,
//! so they are plain loads and stores on atomics, never read-modify-write
//! instructions on the hot path.
//!
//! This file owns [`Reason`], the counters and the last hand-off; only
//! `raw.rs` writes them, and this file touches nothing else of the lock.

use super::sync::{AtomicU64, Ordering::Relaxed};

/// Why a thread let go of the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reason {
    /// It yielded at a check point because another thread had waited a
    /// whole switch interval (a drop request).
    SwitchInterval = 0,
    /// C code released it (`gs_save_thread`, `GS_BEGIN_ALLOW_THREADS`).
    ReleasedByC = 1,
    /// Rust code released it around a blocking call (`Token::detach`,
    /// the interpreter's `sleep`).
    Blocking = 2,
    /// The thread left the interpreter: its outermost `attach` or
    /// `gs_ensure` ended.
    Detach = 3,
    /// The thread exited while it still held the lock (a foreign thread that
    /// forgot `gs_release`); the lock was freed on its behalf.
    ThreadExit = 4,
}

impl Reason {
    /// Every reason, indexed by its discriminant.
    pub const ALL: [Reason; 5] = [
        Reason::SwitchInterval,
        Reason::ReleasedByC,
        Reason::Blocking,
        Reason::Detach,
        Reason::ThreadExit,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Reason::SwitchInterval => "switch interval",
            Reason::ReleasedByC => "released by C",
            Reason::Blocking => "blocking call",
            Reason::Detach => "left the interpreter",
            Reason::ThreadExit => "thread exit",
        }
    }

    pub(crate) fn from_u8(raw: u8) -> Reason {
        Reason::ALL.get(usize::from(raw)).copied().unwrap_or(Reason::Detach)
    }
}

/// One change of holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handoff {
    /// Serial number of the thread that held the lock before (0: nobody yet).
    pub from: u64,
    /// Serial number of the thread that holds it now.
    pub to: u64,
    /// Why `from` let go.
    pub reason: Reason,
}

/// A copy of the lock's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Times the lock was taken, by any thread, nested attaches excluded.
    pub acquisitions: u64,
    /// Times the lock was taken by a thread other than its last holder.
    pub switches: u64,
    /// Switches, indexed by the [`Reason`] the previous holder let go for.
    pub switches_by_reason: [u64; 5],
    /// Drop requests set by waiters whose switch interval expired.
    pub drop_requests: u64,
}

/// The live counters inside the lock.
pub(crate) struct HandoffLog {
    acquisitions: AtomicU64,
    switches_by_reason: [AtomicU64; 5],
    drop_requests: AtomicU64,
    last_from: AtomicU64,
    last_reason: AtomicU64,
}

/// Adds one to a counter that only the lock holder writes.
#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
}

impl HandoffLog {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        HandoffLog {
            acquisitions: AtomicU64::new(0),
            switches_by_reason: [const { AtomicU64::new(0) }; 5],
            drop_requests: AtomicU64::new(0),
            last_from: AtomicU64::new(0),
            last_reason: AtomicU64::new(0),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        HandoffLog {
            acquisitions: AtomicU64::new(0),
            switches_by_reason: std::array::from_fn(|_| AtomicU64::new(0)),
            drop_requests: AtomicU64::new(0),
            last_from: AtomicU64::new(0),
            last_reason: AtomicU64::new(0),
        }
    }

    /// Called by the new holder, while it holds the lock.
    #[inline]
    pub(crate) fn acquired(&self) {
        bump(&self.acquisitions);
    }

    /// Called by the new holder when it differs from the previous one.
    pub(crate) fn switched(&self, from: u64, reason: Reason) {
        bump(&self.switches_by_reason[reason as usize]);
        self.last_from.store(from, Relaxed);
        self.last_reason.store(reason as u64, Relaxed);
    }

    /// Called by a waiter under the queue mutex (not the lock), so this one
    /// is a read-modify-write.
    pub(crate) fn drop_requested(&self) {
        self.drop_requests.fetch_add(1, Relaxed);
    }

    pub(crate) fn last(&self, to: u64) -> Handoff {
        Handoff {
            from: self.last_from.load(Relaxed),
            to,
            reason: Reason::from_u8(self.last_reason.load(Relaxed) as u8),
        }
    }

    pub(crate) fn snapshot(&self) -> Counters {
        let mut by_reason = [0; 5];
        for (slot, counter) in by_reason.iter_mut().zip(&self.switches_by_reason) {
            *slot = counter.load(Relaxed);
        }
        Counters {
            acquisitions: self.acquisitions.load(Relaxed),
            switches: by_reason.iter().sum(),
            switches_by_reason: by_reason,
            drop_requests: self.drop_requests.load(Relaxed),
        }
    }
}
