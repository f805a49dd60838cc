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

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use parking_lot::{Condvar, Mutex};

use super::Value;
use crate::gil::recorder::{Blocker, BlockerKind, record_blocked_on};
use crate::gil::{self, Token};
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
            SyncObj::Lock(l) => l.blocker,
            SyncObj::Condition(c) => c.blocker,
            SyncObj::Queue(q) => q.blocker,
            SyncObj::Event(e) => e.blocker,
        }
    }

    /// The values it holds (a queue's items), for freeing.
    pub fn into_values(self) -> Vec<Value> {
        match self {
            SyncObj::Queue(q) => q.items.into_inner().into(),
            _ => Vec::new(),
        }
    }
}

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

// ----- Lock -----

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
    fn wait_to_take(self: &Arc<Self>, me: u64, deadline: Option<Instant>) -> WaitEnd {
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

fn timeout_error(message: String) -> RtError {
    RtError { kind: RtKind::Timeout, ..RtError::new(message) }
}

// ----- Condition -----

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

    fn check_held(&self, func: &str) -> Result<(), RtError> {
        if self.lock.held_by(gil::current_serial()) {
            Ok(())
        } else {
            Err(RtError::new(format!(
                "{func}: the lock of {} ({}) must be held by this thread",
                self.blocker, self.lock.blocker
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

fn take_ticket(notified: &mut Vec<u64>, ticket: u64) -> bool {
    match notified.iter().position(|t| *t == ticket) {
        Some(at) => {
            notified.swap_remove(at);
            true
        }
        None => false,
    }
}

// ----- Queue -----

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

// ----- Event -----

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
