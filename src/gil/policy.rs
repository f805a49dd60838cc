//! Hand-off policies: who gets the lock next, and when a holder must yield.
//!
//! A policy is a handful of decisions the lock asks at fixed points. It owns
//! no state and never touches the lock's fields; `raw.rs` calls it and acts.
//!
//! | decision | asked when |
//! |---|---|
//! | [`Policy::drop_request_after`] | a waiter starts a timed wait |
//! | [`Policy::forced_switching`] | a holder yields to a drop request |
//! | [`Policy::may_barge`] | a thread finds the lock free while others queue |

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
}

impl Policy {
    /// Every policy, in the order the CLI lists them.
    pub const ALL: [Policy; 1] = [Policy::CPython];

    /// The policy used when none is chosen.
    pub const DEFAULT: Policy = Policy::CPython;

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Policy::CPython => "cpython",
        }
    }

    pub(crate) fn from_u8(raw: u8) -> Policy {
        // Discriminants are indices into ALL.
        Policy::ALL.get(usize::from(raw)).copied().unwrap_or(Policy::DEFAULT)
    }

    /// How long a waiter lets the holder run before asking it to drop.
    pub(crate) fn drop_request_after(self, interval: Duration) -> Duration {
        match self {
            Policy::CPython => interval,
        }
    }

    /// Whether a holder yielding to a drop request waits until another
    /// thread has taken the lock before it competes again.
    pub(crate) fn forced_switching(self) -> bool {
        match self {
            Policy::CPython => true,
        }
    }

    /// Whether a thread that finds the lock free may take it although other
    /// threads are queued for it.
    pub(crate) fn may_barge(self) -> bool {
        match self {
            Policy::CPython => true,
        }
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
