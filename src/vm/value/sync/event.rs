//! `Event()`: a flag threads wait for with the global lock released.
//! Owns: [`EventCore`].

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::{deadline_after, finish_wait, next_blocker, wait_until};
use crate::gil::Token;
use crate::gil::recorder::{Blocker, BlockerKind, record_blocked_on};
use crate::vm::error::RtError;

/// A flag threads can wait for.
pub struct EventCore {
    blocker: Blocker,
    set: Mutex<bool>,
    changed: Condvar,
}

impl EventCore {
    /// A new event, not set.
    pub fn new() -> Arc<EventCore> {
        Arc::new(EventCore {
            blocker: next_blocker(BlockerKind::Event),
            set: Mutex::new(false),
            changed: Condvar::new(),
        })
    }

    /// What it is and its number, as in `event E1`.
    pub(super) fn blocker(&self) -> Blocker {
        self.blocker
    }

    /// Set it, waking every waiter.
    pub fn set(&self) {
        *self.set.lock() = true;
        self.changed.notify_all();
    }

    /// Whether it is set.
    pub fn is_set(&self) -> bool {
        *self.set.lock()
    }

    /// Wait (global lock released) up to `timeout` for it to be set: true
    /// if it is, false if the time ran out.
    pub fn wait(
        self: &Arc<Self>,
        token: Token<'_>,
        timeout: Option<Duration>,
    ) -> Result<bool, RtError> {
        if self.is_set() {
            return Ok(true);
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(false);
        }
        let core = Arc::clone(self);
        let deadline = deadline_after(timeout);
        let end = token.detach(move || {
            record_blocked_on(core.blocker);
            wait_until(&core.set, &core.changed, deadline, |set| *set)
        });
        finish_wait(end)
    }
}
