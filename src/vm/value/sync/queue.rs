//! `Queue([maxsize])`: a FIFO of interpreter values between threads of
//! one interpreter. Owns: [`ScriptQueue`] — its items, read and written
//! with the token — and the change counter its waiters sleep on.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::{Value, WaitEnd, deadline_after, next_blocker, timeout_error, wait_error, wait_until};
use crate::gil::Token;
use crate::gil::recorder::{Blocker, BlockerKind, record_blocked_on};
use crate::vm::error::RtError;

/// A change counter to wait on: every put, get and close moves it on.
struct Signal {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Signal {
    fn current(&self) -> u64 {
        *self.generation.lock()
    }

    fn bump(&self) {
        *self.generation.lock() += 1;
        self.changed.notify_all();
    }

    /// Without the global lock: wait until the generation moves on from
    /// `seen`.
    fn wait_past(&self, seen: u64, deadline: Option<Instant>) -> WaitEnd {
        wait_until(&self.generation, &self.changed, deadline, |g| *g != seen)
    }
}

/// A first-in, first-out queue of interpreter values, bounded if
/// `maxsize > 0`, that can be closed. Items move between threads under the
/// global lock: the same interpreter, so no copy is made.
pub struct ScriptQueue {
    blocker: Blocker,
    maxsize: usize,
    items: RefCell<VecDeque<Value>>,
    closed: Cell<bool>,
    signal: Arc<Signal>,
}

impl ScriptQueue {
    /// An empty, open queue (`maxsize` 0: unbounded).
    pub fn new(maxsize: usize) -> ScriptQueue {
        ScriptQueue {
            blocker: next_blocker(BlockerKind::Queue),
            maxsize,
            items: RefCell::new(VecDeque::new()),
            closed: Cell::new(false),
            signal: Arc::new(Signal { generation: Mutex::new(0), changed: Condvar::new() }),
        }
    }

    /// What it is and its number, as in `queue Q1`.
    pub(super) fn blocker(&self) -> Blocker {
        self.blocker
    }

    /// The values it holds, for freeing.
    pub(super) fn into_values(self) -> Vec<Value> {
        self.items.into_inner().into()
    }

    /// How many items wait in it.
    pub fn len(&self) -> usize {
        self.items.borrow().len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.items.borrow().is_empty()
    }

    /// No more puts; `get` drains what is left, then reports the end.
    pub fn close(&self) {
        self.closed.set(true);
        self.signal.bump();
    }

    /// Wait (global lock released) for the next change to the queue.
    fn wait_for_change(&self, token: Token<'_>, deadline: Option<Instant>) -> WaitEnd {
        // Read with the global lock held: nothing can change the queue
        // between the caller's look at it and this read.
        let seen = self.signal.current();
        let signal = Arc::clone(&self.signal);
        let blocker = self.blocker;
        token.detach(move || {
            record_blocked_on(blocker);
            signal.wait_past(seen, deadline)
        })
    }

    /// Add `value` at the back, waiting up to `timeout` for room.
    pub fn put(
        &self,
        token: Token<'_>,
        value: Value,
        timeout: Option<Duration>,
    ) -> Result<(), RtError> {
        let deadline = deadline_after(timeout);
        loop {
            if self.closed.get() {
                return Err(RtError::new(format!("put(): {} is closed", self.blocker)));
            }
            if self.maxsize == 0 || self.len() < self.maxsize {
                self.items.borrow_mut().push_back(value);
                self.signal.bump();
                return Ok(());
            }
            match self.wait_for_change(token, deadline) {
                WaitEnd::Ready => {}
                WaitEnd::TimedOut => {
                    return Err(timeout_error(format!(
                        "put(): timed out: {} stayed full ({} items)",
                        self.blocker, self.maxsize
                    )));
                }
                other => return Err(wait_error(other)),
            }
        }
    }

    /// Take the item at the front, waiting up to `timeout` for one; `None`
    /// once the queue is closed and empty.
    pub fn get(
        &self,
        token: Token<'_>,
        timeout: Option<Duration>,
    ) -> Result<Option<Value>, RtError> {
        let deadline = deadline_after(timeout);
        loop {
            let item = self.items.borrow_mut().pop_front();
            if let Some(item) = item {
                self.signal.bump();
                return Ok(Some(item));
            }
            if self.closed.get() {
                return Ok(None);
            }
            match self.wait_for_change(token, deadline) {
                WaitEnd::Ready => {}
                WaitEnd::TimedOut => {
                    return Err(timeout_error(format!(
                        "get(): timed out: {} stayed empty",
                        self.blocker
                    )));
                }
                other => return Err(wait_error(other)),
            }
        }
    }
}
