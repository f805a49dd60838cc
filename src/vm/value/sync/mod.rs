//! A script's own synchronisation objects: `Lock()`, `Condition(lock)`,
//! `Queue([maxsize])` and `Event()`.
//!
//! Owns: their state and every wait on them. Each object has two halves:
//! what only lock holders touch (a queue's items are interpreter values, so
//! they live in the object itself, read and written with the token), and a
//! `core` behind an `Arc` holding no values — a `parking_lot` mutex and
//! condition variable — which a thread waits on with the global lock
//! released ([`Token::detach`]), as CPython's `threading.Lock.acquire` and
//! `queue.Queue.get` do. No wakeup is lost: every change a waiter waits for
//! is made under the global lock *and* the core's mutex, and a waiter reads
//! what it waits to change (an owner, a generation number, a ticket) under
//! the global lock before it lets go of it.
//!
//! Waits are interruptible (they look at the interrupt flag at least every
//! [`POLL`]), take an optional timeout, and tell the recorder which object
//! they wait on, so `--stats`, `--trace` and the timeline show "waiting on
//! queue Q1" apart from waiting for the global lock. May not touch: the VM
//! or the natives (they check arguments and call these methods).
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`SyncObj`], object numbering, and the one wait loop all of them use |
//! | `lock.rs` | [`LockCore`] and finding deadlocks among script locks |
//! | `condition.rs` | [`ConditionCore`] and its notification tickets |
//! | `queue.rs` | [`ScriptQueue`] |
//! | `event.rs` | [`EventCore`] |

mod condition;
mod event;
mod lock;
mod queue;

pub use condition::ConditionCore;
pub use event::EventCore;
pub use lock::LockCore;
pub use queue::ScriptQueue;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Value;
use crate::gil;
use crate::gil::recorder::{Blocker, BlockerKind};
use crate::vm::error::{RtError, RtKind};

/// How often a waiter looks at the interrupt flag.
const POLL: Duration = Duration::from_millis(20);

/// A synchronisation object.
pub enum SyncObj {
    /// `Lock()`.
    Lock(Arc<LockCore>),
    /// `Condition(lock)`.
    Condition(Arc<ConditionCore>),
    /// `Queue([maxsize])`.
    Queue(ScriptQueue),
    /// `Event()`.
    Event(Arc<EventCore>),
}

impl SyncObj {
    /// The name of the type, for `type()` and messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            SyncObj::Lock(_) => "lock",
            SyncObj::Condition(_) => "condition",
            SyncObj::Queue(_) => "queue",
            SyncObj::Event(_) => "event",
        }
    }

    /// What it is and its number, as in `lock L1`.
    pub fn blocker(&self) -> Blocker {
        match self {
            SyncObj::Lock(l) => l.blocker(),
            SyncObj::Condition(c) => c.blocker(),
            SyncObj::Queue(q) => q.blocker(),
            SyncObj::Event(e) => e.blocker(),
        }
    }

    /// The values it holds (a queue's items), for freeing.
    pub fn into_values(self) -> Vec<Value> {
        match self {
            SyncObj::Queue(q) => q.into_values(),
            _ => Vec::new(),
        }
    }
}

/// The next number for an object of `kind`: `lock L1`, `lock L2`, …
fn next_blocker(kind: BlockerKind) -> Blocker {
    static LOCKS: AtomicU32 = AtomicU32::new(0);
    static CONDITIONS: AtomicU32 = AtomicU32::new(0);
    static QUEUES: AtomicU32 = AtomicU32::new(0);
    static EVENTS: AtomicU32 = AtomicU32::new(0);
    let counter = match kind {
        BlockerKind::Lock => &LOCKS,
        BlockerKind::Condition => &CONDITIONS,
        BlockerKind::Queue => &QUEUES,
        BlockerKind::Event => &EVENTS,
    };
    Blocker { kind, id: counter.fetch_add(1, Relaxed) + 1 }
}

/// How a wait ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum WaitEnd {
    Ready,
    TimedOut,
    Interrupted,
    /// A lock wait that can never end: the message names the cycle.
    Deadlock(String),
}

/// Wait, without the global lock, until `ready` (called with the core's
/// mutex held) says yes, the deadline passes, or an interrupt is pending.
/// `ready` is asked first, so a wait whose condition already holds returns
/// at once.
fn wait_until<S>(
    mutex: &Mutex<S>,
    changed: &Condvar,
    deadline: Option<Instant>,
    mut ready: impl FnMut(&mut S) -> bool,
) -> WaitEnd {
    let mut state = mutex.lock();
    loop {
        if ready(&mut state) {
            return WaitEnd::Ready;
        }
        if gil::interrupted() {
            return WaitEnd::Interrupted;
        }
        let slice = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return WaitEnd::TimedOut;
                }
                left.min(POLL)
            }
            None => POLL,
        };
        changed.wait_for(&mut state, slice);
    }
}

/// The deadline `timeout` from now (`None`: wait for ever).
fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

/// `Ready` → `Ok(true)`; a timeout → `Ok(false)`; an interrupt → the
/// interrupt error.
fn finish_wait(end: WaitEnd) -> Result<bool, RtError> {
    match end {
        WaitEnd::Ready => Ok(true),
        WaitEnd::TimedOut => Ok(false),
        other => Err(wait_error(other)),
    }
}

/// The error a wait that ended neither ready nor timed out becomes.
fn wait_error(end: WaitEnd) -> RtError {
    match end {
        WaitEnd::Deadlock(message) => RtError { kind: RtKind::Deadlock, ..RtError::new(message) },
        _ => RtError::interrupted(),
    }
}

/// The error a wait that ran out of time becomes.
fn timeout_error(message: String) -> RtError {
    RtError { kind: RtKind::Timeout, ..RtError::new(message) }
}
