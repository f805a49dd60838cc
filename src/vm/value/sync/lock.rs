//! `Lock()`: a non-reentrant lock a script thread waits for with the
//! global lock released, and the deadlock finder for waits without a
//! timeout. Owns: [`LockCore`] and the wait-for graph of script locks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use parking_lot::{Condvar, Mutex};

use super::{WaitEnd, deadline_after, finish_wait, next_blocker, wait_until};
use crate::gil::recorder::{Blocker, BlockerKind, record_blocked_on};
use crate::gil::{self, Token};
use crate::vm::error::RtError;

/// A non-reentrant lock: which thread holds it, if any.
pub struct LockCore {
    blocker: Blocker,
    owner: Mutex<Option<u64>>,
    /// How many times it has been taken; changed only with `owner` locked.
    taken: AtomicU64,
    freed: Condvar,
}

/// How often a thread waiting for a lock without a timeout looks for a
/// deadlock.
const DEADLOCK_CHECK: Duration = Duration::from_millis(100);

/// The wait-for graph of script locks: which lock each thread waits for
/// without a timeout. A cycle in it — each thread waiting for a lock the
/// next one holds — is a deadlock: none of them can ever go on.
static LOCK_WAITS: Lazy<Mutex<HashMap<u64, Arc<LockCore>>>> = Lazy::new(Default::default);

/// Thread `serial`'s entry in [`LOCK_WAITS`], removed however the wait ends.
struct Waiting(u64);

impl Waiting {
    fn new(serial: u64, lock: &Arc<LockCore>) -> Waiting {
        LOCK_WAITS.lock().insert(serial, Arc::clone(lock));
        Waiting(serial)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        LOCK_WAITS.lock().remove(&self.0);
    }
}

/// One step of a wait-for chain: a lock, its holder, how often it had been
/// taken when read.
type Link = (Blocker, u64, u64);

/// The chain of lock waits that starts at `first` (which thread `me`
/// waits for), if it leads back to `me`. Each lock's mutex is taken alone,
/// never two at once.
fn cycle_through(first: &Arc<LockCore>, me: u64) -> Option<Vec<Link>> {
    let waits = LOCK_WAITS.lock().clone();
    let mut lock = Arc::clone(first);
    let mut chain = Vec::new();
    for _ in 0..=waits.len() {
        let (holder, taken) = {
            let owner = lock.owner.lock();
            ((*owner)?, lock.taken.load(Relaxed))
        };
        chain.push((lock.blocker, holder, taken));
        if holder == me {
            return Some(chain);
        }
        lock = Arc::clone(waits.get(&holder)?);
    }
    None
}

/// The message for a deadlock cycle, from the point of view of `me`:
/// "this thread ('a') waits for lock L2, held by 'b', which waits for lock
/// L1, held by 'a'".
fn describe_cycle(chain: &[Link], me: u64) -> String {
    let links: Vec<String> = chain
        .iter()
        .map(|(blocker, holder, _)| format!("{blocker}, held by '{}'", gil::thread_name(*holder)))
        .collect();
    format!(
        "deadlock: this thread ('{}') waits for {} (take locks in one agreed order)",
        gil::thread_name(me),
        links.join(", which waits for ")
    )
}

impl LockCore {
    /// A new, free lock.
    pub fn new() -> Arc<LockCore> {
        Arc::new(LockCore {
            blocker: next_blocker(BlockerKind::Lock),
            owner: Mutex::new(None),
            taken: AtomicU64::new(0),
            freed: Condvar::new(),
        })
    }

    /// What it is and its number, as in `lock L1`.
    pub(super) fn blocker(&self) -> Blocker {
        self.blocker
    }

    /// Whether thread `serial` holds it.
    pub fn held_by(&self, serial: u64) -> bool {
        *self.owner.lock() == Some(serial)
    }

    /// Take the lock for the calling thread, waiting up to `timeout` with
    /// the global lock released: true if taken, false if the time ran out.
    /// Taking a lock the thread already holds is an error, not a hang.
    pub fn acquire(
        self: &Arc<Self>,
        token: Token<'_>,
        timeout: Option<Duration>,
        func: &str,
    ) -> Result<bool, RtError> {
        let me = gil::current_serial();
        {
            let mut owner = self.owner.lock();
            match *owner {
                None => {
                    *owner = Some(me);
                    self.taken.fetch_add(1, Relaxed);
                    return Ok(true);
                }
                Some(holder) if holder == me => {
                    return Err(RtError::new(format!(
                        "{func}: {} is already held by this thread (locks are not re-entrant; \
                         this would wait for ever)",
                        self.blocker
                    )));
                }
                Some(_) => {}
            }
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(false);
        }
        let core = Arc::clone(self);
        let deadline = deadline_after(timeout);
        let end = token.detach(move || core.wait_to_take(me, deadline));
        finish_wait(end)
    }

    /// Without the global lock: wait until the lock is free and take it.
    ///
    /// A wait without a timeout also looks for a deadlock every
    /// [`DEADLOCK_CHECK`]: a cycle of threads each waiting for a lock the
    /// next holds, seen the same twice in a row (no lock in it taken in
    /// between, so the two reads agree on one moment). One thread of the
    /// cycle — the one with the highest serial — gives up with an error;
    /// its `with` blocks then release what it holds and the others go on.
    pub(super) fn wait_to_take(self: &Arc<Self>, me: u64, deadline: Option<Instant>) -> WaitEnd {
        record_blocked_on(self.blocker);
        let take = |owner: &mut Option<u64>| {
            if owner.is_none() {
                *owner = Some(me);
                self.taken.fetch_add(1, Relaxed);
                true
            } else {
                false
            }
        };
        if deadline.is_some() {
            return wait_until(&self.owner, &self.freed, deadline, take);
        }
        let _waiting = Waiting::new(me, self);
        let mut seen_before: Option<Vec<Link>> = None;
        loop {
            let slice = Some(Instant::now() + DEADLOCK_CHECK);
            let end = wait_until(&self.owner, &self.freed, slice, take);
            if end != WaitEnd::TimedOut {
                return end;
            }
            let cycle = cycle_through(self, me);
            if let (Some(now), Some(before)) = (&cycle, &seen_before) {
                let victim = now.iter().map(|(_, holder, _)| *holder).max();
                if now == before && victim == Some(me) {
                    return WaitEnd::Deadlock(describe_cycle(now, me));
                }
            }
            seen_before = cycle;
        }
    }

    /// Let go of the lock; an error if the calling thread does not hold it.
    pub fn release(&self, func: &str) -> Result<(), RtError> {
        let me = gil::current_serial();
        let mut owner = self.owner.lock();
        match *owner {
            Some(holder) if holder == me => {
                *owner = None;
                drop(owner);
                self.freed.notify_one();
                Ok(())
            }
            Some(_) => Err(RtError::new(format!(
                "{func}: {} is held by another thread, not this one",
                self.blocker
            ))),
            None => Err(RtError::new(format!("{func}: {} is not held", self.blocker))),
        }
    }

    /// Let go of the lock if the calling thread holds it (a `with` block
    /// left by an error: the error that is already on its way matters more).
    pub fn release_if_held(&self) {
        let _ = self.release("release()");
    }
}
