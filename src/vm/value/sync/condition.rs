//! `Condition(lock)`: a condition variable over a script lock. Owns:
//! [`ConditionCore`] and its tickets — who waits, and who has been
//! notified but not yet woken.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::{LockCore, WaitEnd, deadline_after, finish_wait, next_blocker, wait_until};
use crate::gil::recorder::{Blocker, BlockerKind, record_blocked_on};
use crate::gil::{self, Token};
use crate::vm::error::RtError;

/// Who waits on a condition, by ticket.
struct Tickets {
    next: u64,
    /// Tickets of threads waiting, oldest first.
    waiting: VecDeque<u64>,
    /// Tickets notified but not yet collected by their waiter.
    notified: Vec<u64>,
}

/// A condition variable over a script lock. Each `wait` draws a ticket;
/// `notify` hands the oldest waiting ticket over, `notify_all` all of them.
pub struct ConditionCore {
    blocker: Blocker,
    lock: Arc<LockCore>,
    tickets: Mutex<Tickets>,
    changed: Condvar,
}

impl ConditionCore {
    /// A condition over `lock`.
    pub fn new(lock: Arc<LockCore>) -> Arc<ConditionCore> {
        Arc::new(ConditionCore {
            blocker: next_blocker(BlockerKind::Condition),
            lock,
            tickets: Mutex::new(Tickets {
                next: 0,
                waiting: VecDeque::new(),
                notified: Vec::new(),
            }),
            changed: Condvar::new(),
        })
    }

    /// What it is and its number, as in `condition C1`.
    pub(super) fn blocker(&self) -> Blocker {
        self.blocker
    }

    fn check_held(&self, func: &str) -> Result<(), RtError> {
        if self.lock.held_by(gil::current_serial()) {
            Ok(())
        } else {
            Err(RtError::new(format!(
                "{func}: the lock of {} ({}) must be held by this thread",
                self.blocker,
                self.lock.blocker()
            )))
        }
    }

    /// Release the lock, wait for a `notify` (up to `timeout`), take the
    /// lock back: true if notified, false if the time ran out. The lock is
    /// held again when this returns, except after an interrupt.
    pub fn wait(
        self: &Arc<Self>,
        token: Token<'_>,
        timeout: Option<Duration>,
    ) -> Result<bool, RtError> {
        self.check_held("wait()")?;
        let ticket = {
            let mut tickets = self.tickets.lock();
            let ticket = tickets.next;
            tickets.next += 1;
            tickets.waiting.push_back(ticket);
            ticket
        };
        // Drawn before the lock is let go, so a notify made by whoever
        // takes it next finds this ticket.
        self.lock.release("wait()")?;
        let core = Arc::clone(self);
        let me = gil::current_serial();
        let deadline = deadline_after(timeout);
        let end = token.detach(move || {
            record_blocked_on(core.blocker);
            let end = wait_until(&core.tickets, &core.changed, deadline, |tickets| {
                take_ticket(&mut tickets.notified, ticket)
            });
            let end = if end == WaitEnd::Ready {
                end
            } else {
                let mut tickets = core.tickets.lock();
                tickets.waiting.retain(|t| *t != ticket);
                // A notify that came after the deadline but before this
                // line still counts.
                if take_ticket(&mut tickets.notified, ticket) { WaitEnd::Ready } else { end }
            };
            if end == WaitEnd::Interrupted {
                return end;
            }
            match core.lock.wait_to_take(me, None) {
                WaitEnd::Ready => end,
                other => other,
            }
        });
        finish_wait(end)
    }

    /// Wake the longest-waiting thread (`all`: every waiting thread).
    pub fn notify(&self, all: bool, func: &str) -> Result<(), RtError> {
        self.check_held(func)?;
        let mut tickets = self.tickets.lock();
        let count = if all { tickets.waiting.len() } else { tickets.waiting.len().min(1) };
        for _ in 0..count {
            let ticket = tickets.waiting.pop_front().expect("counted");
            tickets.notified.push(ticket);
        }
        drop(tickets);
        if count > 0 {
            self.changed.notify_all();
        }
        Ok(())
    }
}

/// Collect `ticket` if it has been notified.
fn take_ticket(notified: &mut Vec<u64>, ticket: u64) -> bool {
    match notified.iter().position(|t| *t == ticket) {
        Some(at) => {
            notified.swap_remove(at);
            true
        }
        None => false,
    }
}
