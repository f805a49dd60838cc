//! Hand-off policies: who gets the lock next, and when a holder must yield.
//!
//! A policy is a handful of decisions the lock asks at fixed points. It owns
//! no state and never touches the lock's fields; `raw.rs` calls it and acts.
//! What every policy does alike is not a decision and lives in `raw.rs`: a
//! waiter asks the holder to drop the lock after one switch interval, and a
//! holder yielding to that request waits until another thread has taken the
//! lock before it competes again (forced switching).
//!
//! | decision | asked when | `cpython` | `fifo` | `fair` |
//! |---|---|---|---|---|
//! | [`Policy::may_barge`] | a thread finds the lock free while others queue | yes | no | yes |
//! | [`Policy::direct_handoff`] | the holder releases with threads queued | no | to the oldest waiter | no |
//! | [`Policy::wake_on_release`] | the holder releases with threads queued | always | — | unless C released it and the thread's releases are lately short |
//! | [`Policy::priority_on_return`] | a thread returning from a long voluntary release finds the lock held | no | no | front of the queue, drop request at once |
//! | [`Policy::lock_free_fast_paths`] | a thread takes a free lock or makes a short C release, others queued | no (queue mutex) | no | yes (one atomic) |

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How the lock chooses its next holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Policy {
    /// CPython 3.2+ faithfully: a waiter sleeps one switch interval, then
    /// sets a drop request; the holder yields at its next check point and
    /// waits until another thread has taken the lock (forced switching). A
    /// free lock goes to whichever thread grabs it first, with no priority
    /// for a thread coming back from C — which is what causes the convoy
    /// effect (bpo-7946).
    CPython = 0,
    /// Ruby 3.3's GVL style: every release hands the lock directly to the
    /// longest waiter; nobody barges. Strictly fair in order, and a thread
    /// coming back from a short C call always queues behind everyone.
    Fifo = 1,
    /// gilscope's anti-convoy policy, the default. A C release that this
    /// thread's recent releases predict to be short wakes nobody: the thread
    /// comes back and re-takes the lock with no hand-off and no system call.
    /// A thread returning from a long voluntary release (a sleep, long C
    /// work) that finds the lock held goes to the front of the queue and
    /// asks for the lock at once. CPU-bound threads still get the interval
    /// drop request, so each keeps a fair share; a wrong prediction costs a
    /// waiter at most one interval.
    Fair = 2,
}

/// A voluntary release shorter than this (on recent average) is predicted
/// short under [`Policy::Fair`]: waking a waiter would cost more than the
/// release itself, since a woken thread takes tens of microseconds to run.
pub const SHORT_RELEASE: Duration = Duration::from_micros(20);

impl Policy {
    /// Every policy, in the order the CLI lists them; discriminants are
    /// indices.
    pub const ALL: [Policy; 3] = [Policy::CPython, Policy::Fifo, Policy::Fair];

    /// The policy used when none is chosen.
    pub const DEFAULT: Policy = Policy::Fair;

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Policy::CPython => "cpython",
            Policy::Fifo => "fifo",
            Policy::Fair => "fair",
        }
    }

    pub(crate) fn from_u8(raw: u8) -> Policy {
        Policy::ALL.get(usize::from(raw)).copied().unwrap_or(Policy::DEFAULT)
    }

    /// Whether a thread that finds the lock free may take it although other
    /// threads are queued for it.
    pub(crate) fn may_barge(self) -> bool {
        match self {
            Policy::CPython | Policy::Fair => true,
            Policy::Fifo => false,
        }
    }

    /// Whether a release with threads queued hands the lock straight to
    /// the oldest waiter.
    pub(crate) fn direct_handoff(self) -> bool {
        self == Policy::Fifo
    }

    /// Whether a release with threads queued wakes the first of them.
    /// `short_c_release`: C released the lock, and this thread's recent
    /// voluntary releases were shorter than [`SHORT_RELEASE`].
    pub(crate) fn wake_on_release(self, short_c_release: bool) -> bool {
        match self {
            Policy::CPython | Policy::Fifo => true,
            Policy::Fair => !short_c_release,
        }
    }

    /// Whether a thread may take a free lock, and a short C release may let
    /// go of it, without the queue mutex while others are queued. A waiter
    /// may then sleep through a hand-off for up to one switch interval.
    pub(crate) fn lock_free_fast_paths(self) -> bool {
        self == Policy::Fair
    }

    /// Whether a thread coming back from a voluntary release that finds the
    /// lock held jumps the queue and asks for the lock at once.
    pub(crate) fn priority_on_return(self) -> bool {
        self == Policy::Fair
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for an unknown policy name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = Policy::ALL.iter().map(|p| p.name()).collect();
        write!(f, "unknown policy '{}' (expected one of: {})", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownPolicy {}

impl FromStr for Policy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPolicy(s.to_owned()))
    }
}
