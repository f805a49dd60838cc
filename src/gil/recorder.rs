//! The lock's event recorder, and what its events mean.
//!
//! When recording is off (the default) the lock pays one relaxed load of
//! `RECORDING` per transition and nothing else. When it is on, every
//! transition appends a fixed-size binary event — time-stamp-counter ticks,
//! what happened, the interpreter, the C function — to the calling thread's
//! own ring: no lock, no shared cache line, no formatting. Rings are read
//! and their events turned into [`Event`]s (nanoseconds, thread, ...) only
//! when someone asks: after the run ([`stop_recording`]), or for the demo's
//! live view ([`events_so_far`], [`live_state`]). A ring never overwrites:
//! an event that does not fit is counted ([`lost_events`]) and reported.
//!
//! This file owns the rings, the recorder's clock, and the one mapping from
//! events to a thread's [`State`] ([`ThreadState::after`]), which both the
//! live view and the timeline of `src/observe/` use. Statistics, traces and
//! pictures are built from the events by `src/observe/`, outside the lock.
//! The lock's files call `record` after checking [`recording`]; this file
//! never calls them and touches no lock state.

use std::cell::RefCell;
use std::collections::HashMap;

use once_cell::sync::Lazy;

use super::handoff::Reason;
use super::interp::NO_INTERPRETER;
use super::ring::{CHUNKS, Clock, EPOCH, RawEvent, Ring, USE_TSC};
use super::sync::{Arc, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering::Relaxed};

/// Whether the recorder is on. Read with one relaxed load on the hot path.
pub(crate) static RECORDING: AtomicBool = AtomicBool::new(false);

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The thread became known to the lock.
    ThreadStarted,
    /// It asked for the lock and had to wait or went to take it.
    Wants,
    /// It took the lock.
    Got,
    /// It let go of the lock, and why.
    Released(Reason),
    /// A waiter's switch interval expired: it asked the holder to yield.
    DropRequested,
    /// It entered a C function (with the lock held).
    CallC,
    /// It returned from that C function.
    ReturnC,
    /// The thread ended.
    ThreadExited,
    /// With the lock released, it began waiting on a script's own
    /// synchronisation object (a lock, condition, queue or event).
    BlockedOn(Blocker),
}

/// What kind of script object a thread waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockerKind {
    /// A `Lock()`, in `acquire` or `with`.
    Lock,
    /// A `Condition(lock)`, in `wait`.
    Condition,
    /// A `Queue()`, in `get`, `put` or a `for` loop.
    Queue,
    /// An `Event()`, in `wait`.
    Event,
}

/// A script synchronisation object a thread waits on: its kind and its
/// number (locks are L1, L2, …, queues Q1, …, in order of creation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Blocker {
    /// Which kind of object.
    pub kind: BlockerKind,
    /// Its number within its kind.
    pub id: u32,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (word, letter) = match self.kind {
            BlockerKind::Lock => ("lock", 'L'),
            BlockerKind::Condition => ("condition", 'C'),
            BlockerKind::Queue => ("queue", 'Q'),
            BlockerKind::Event => ("event", 'E'),
        };
        write!(f, "{word} {letter}{}", self.id)
    }
}

/// One recorded event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Nanoseconds since the recorder's epoch (its first start).
    pub t_ns: u64,
    /// The thread's serial number.
    pub thread: u64,
    /// What happened.
    pub kind: EventKind,
    /// The C function the thread was in, if any.
    pub c_function: Option<&'static str>,
    /// The id of the interpreter whose lock the event is about (0: the
    /// main one).
    pub interpreter: u32,
}

/// What a thread was doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Holding the lock, running interpreter code.
    Running,
    /// Holding the lock inside a C function that kept it.
    RunningC(&'static str),
    /// Waiting for the lock.
    Waiting,
    /// Inside a C function that released the lock.
    ReleasedC(&'static str),
    /// Released the lock around a blocking call (sleep, join).
    Blocking,
    /// Released the lock to wait on a script's lock, condition, queue or
    /// event — not for the global lock.
    BlockedOn(Blocker),
    /// Outside the interpreter (not attached, or ended).
    Outside,
}

impl State {
    /// The name used in traces and pictures.
    pub fn label(self) -> String {
        match self {
            State::Running => "running".to_owned(),
            State::RunningC(f) => format!("in C, lock held: {f}"),
            State::Waiting => "waiting for the lock".to_owned(),
            State::ReleasedC(f) => format!("in C, lock released: {f}"),
            State::Blocking => "sleeping or blocked, lock released".to_owned(),
            State::BlockedOn(b) => format!("waiting on {b}, lock released"),
            State::Outside => "outside the interpreter".to_owned(),
        }
    }

    /// The state's family, for colours and legends.
    pub fn family(self) -> &'static str {
        match self {
            State::Running => "running",
            State::RunningC(_) => "in C, lock held",
            State::Waiting => "waiting for the lock",
            State::ReleasedC(_) => "in C, lock released",
            State::Blocking => "sleeping or blocked",
            State::BlockedOn(_) => "waiting on a script object",
            State::Outside => "outside",
        }
    }

    /// Whether the thread holds the lock in this state.
    pub fn holds_lock(self) -> bool {
        matches!(self, State::Running | State::RunningC(_))
    }
}

/// A thread's state and the C function it is in, as its events so far say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadState {
    /// What it is doing.
    pub state: State,
    /// The C function it is in, if any (entered with the lock held; kept
    /// while C releases and re-takes the lock).
    pub c_function: Option<&'static str>,
}

impl ThreadState {
    /// A thread before its first event.
    pub const OUTSIDE: ThreadState = ThreadState { state: State::Outside, c_function: None };

    /// The state after `event`, one of this thread's: the one mapping from
    /// events to states.
    pub fn after(self, event: &Event) -> ThreadState {
        let in_c = |f: Option<&'static str>| f.unwrap_or("C");
        let ThreadState { state, c_function } = self;
        match event.kind {
            EventKind::ThreadStarted | EventKind::DropRequested => self,
            EventKind::Wants => ThreadState { state: State::Waiting, c_function },
            EventKind::Got => {
                let state = c_function.map_or(State::Running, State::RunningC);
                ThreadState { state, c_function }
            }
            EventKind::Released(reason) => {
                let state = match reason {
                    Reason::ReleasedByC => State::ReleasedC(in_c(event.c_function)),
                    Reason::Blocking => State::Blocking,
                    Reason::SwitchInterval => State::Waiting,
                    Reason::Detach | Reason::ThreadExit => State::Outside,
                };
                ThreadState { state, c_function }
            }
            EventKind::CallC => {
                let state = if state.holds_lock() {
                    State::RunningC(in_c(event.c_function))
                } else {
                    state
                };
                ThreadState { state, c_function: event.c_function }
            }
            EventKind::ReturnC => {
                let state = if state.holds_lock() { State::Running } else { state };
                ThreadState { state, c_function: None }
            }
            EventKind::ThreadExited => ThreadState { state: State::Outside, c_function },
            EventKind::BlockedOn(blocker) => {
                // Only a thread that released the lock can wait on a script
                // object; anything else keeps its state.
                let state = if state.holds_lock() { state } else { State::BlockedOn(blocker) };
                ThreadState { state, c_function }
            }
        }
    }
}

/// A thread's live state: what it is doing, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    /// What it is doing.
    pub state: State,
    /// The C function it is in, if any.
    pub c_function: Option<&'static str>,
    /// Since when, in recorder nanoseconds.
    pub since_ns: u64,
}

/// The recording in progress: its number and every ring made for it.
struct Session {
    number: u64,
    rings: Vec<Arc<Ring>>,
    /// Events of threads whose ring was already destroyed (a thread's last
    /// events, recorded while its thread-locals are torn down).
    late: Vec<(u64, RawEvent)>,
    /// Where each thread's live state was last worked out: events read,
    /// the state after them and since when (ticks).
    live: HashMap<u64, (usize, ThreadState, u64)>,
}

static SESSION_NUMBER: AtomicU64 = AtomicU64::new(0);
static SESSION: Lazy<Mutex<Session>> = Lazy::new(|| {
    Mutex::new(Session { number: 0, rings: Vec::new(), late: Vec::new(), live: HashMap::new() })
});

/// The recording's mutex, held across `fork()` by the fork handlers
/// (`fork.rs`), so a child never starts with it held by a thread it does
/// not have (the child's threads take it to make their rings).
pub(crate) struct SessionForkHold(#[allow(dead_code)] MutexGuard<'static, Session>);

/// Before `fork()`: take the recording's mutex; dropping the hold, in the
/// parent or the child, gives it back.
pub(crate) fn session_before_fork() -> SessionForkHold {
    SessionForkHold(SESSION.lock())
}

thread_local! {
    /// The calling thread's ring for the current recording.
    static RING: RefCell<Option<Arc<Ring>>> = const { RefCell::new(None) };
}

/// Append `event` to the calling thread's ring, making one if the thread
/// has none for this recording.
#[inline]
fn push(thread: u64, event: RawEvent) {
    let session = SESSION_NUMBER.load(Relaxed);
    let pushed = RING.try_with(|ring| {
        let mut ring = ring.borrow_mut();
        match &*ring {
            Some(r) if r.session == session && r.serial == thread => r.push(event),
            _ => {
                let r = new_ring(thread, session);
                r.push(event);
                *ring = Some(r);
            }
        }
    });
    if pushed.is_err() {
        SESSION.lock().late.push((thread, event));
    }
}

#[cold]
fn new_ring(thread: u64, session: u64) -> Arc<Ring> {
    let ring = Arc::new(Ring::new(thread, session, CHUNKS));
    let mut current = SESSION.lock();
    if current.number == session {
        current.rings.push(Arc::clone(&ring));
    }
    ring
}

/// Nanoseconds since the recorder's epoch.
pub fn now_ns() -> u64 {
    EPOCH.0.elapsed().as_nanos() as u64
}

/// A moment, as the recorder stamps events: see [`record_at`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp(u64);

/// Now, as the recorder stamps events (possibly read a little early: for
/// stamping before a release).
#[inline]
pub(crate) fn stamp() -> Stamp {
    Stamp(Clock::ticks())
}

/// Now, read after everything before it has finished: for stamping an
/// acquisition once the lock is taken.
#[inline]
pub(crate) fn stamp_after_taking() -> Stamp {
    Stamp(Clock::raw_ticks())
}

/// Whether the recorder is on.
#[inline(always)]
pub fn recording() -> bool {
    RECORDING.load(Relaxed)
}

/// Start recording, dropping events from any earlier recording. Programs
/// start and finish a recording with `crate::observe::start` and
/// `crate::observe::finish`, which call this and [`stop_recording`].
pub fn start_recording() {
    Lazy::force(&EPOCH);
    Lazy::force(&USE_TSC);
    let mut session = SESSION.lock();
    session.number += 1;
    session.rings.clear();
    session.late.clear();
    session.live.clear();
    SESSION_NUMBER.store(session.number, Relaxed);
    RECORDING.store(true, Relaxed);
}

/// Stop recording and take the events, in order of time. How many did
/// not fit is [`lost_events`].
pub fn stop_recording() -> Vec<Event> {
    RECORDING.store(false, Relaxed);
    events_so_far()
}

/// How many events of the current (or last) recording did not fit in
/// their thread's ring and were dropped; 0 when none was.
pub fn lost_events() -> u64 {
    SESSION.lock().rings.iter().map(|ring| ring.lost.load(Relaxed)).sum()
}

/// A copy of the events recorded so far (recording goes on), in order of
/// time; each thread's own events keep their order.
pub fn events_so_far() -> Vec<Event> {
    let to_ns = Clock::to_ns();
    let (rings, late) = {
        let session = SESSION.lock();
        (session.rings.clone(), session.late.clone())
    };
    let mut events = Vec::new();
    for ring in &rings {
        let raw = ring.copy_out(0);
        format_thread(ring.serial, raw, &to_ns, &mut events);
    }
    for (thread, raw) in late {
        format_thread(thread, vec![raw], &to_ns, &mut events);
    }
    events.sort_by_key(|e| e.t_ns);
    events
}

/// Turn one thread's raw events into [`Event`]s, filling in an unknown
/// interpreter from the thread's previous event.
fn format_thread(
    thread: u64,
    raw: Vec<RawEvent>,
    to_ns: &impl Fn(u64) -> u64,
    out: &mut Vec<Event>,
) {
    let mut interpreter = 0;
    out.extend(raw.into_iter().map(|r| {
        if r.interpreter != NO_INTERPRETER {
            interpreter = r.interpreter;
        }
        Event { t_ns: to_ns(r.ticks), thread, kind: r.kind, c_function: r.c_function, interpreter }
    }));
}

/// The live state of thread `serial`, if the recorder has seen it: its
/// events since the last call are read from its ring and mapped on.
pub fn live_state(serial: u64) -> Option<Live> {
    let mut session = SESSION.lock();
    let ring = session.rings.iter().find(|ring| ring.serial == serial).cloned()?;
    let (read, mut now, mut since) =
        session.live.get(&serial).copied().unwrap_or((0, ThreadState::OUTSIDE, 0));
    let fresh = ring.copy_out(read);
    for (index, raw) in (read..).zip(&fresh) {
        let event = Event {
            t_ns: 0,
            thread: serial,
            kind: raw.kind,
            c_function: raw.c_function,
            interpreter: raw.interpreter,
        };
        let after = now.after(&event);
        // Since its first event, or its latest change of state.
        if index == 0 || after.state != now.state {
            since = raw.ticks;
        }
        now = after;
    }
    session.live.insert(serial, (read + fresh.len(), now, since));
    let since_ns = Clock::to_ns()(since);
    Some(Live { state: now.state, c_function: now.c_function, since_ns })
}

/// Record an event stamped at `stamp` (callers check [`recording`] first).
#[cold]
pub(crate) fn record_at(
    stamp: Stamp,
    thread: u64,
    interpreter: u32,
    kind: EventKind,
    c_function: Option<&'static str>,
) {
    push(thread, RawEvent { ticks: stamp.0, c_function, kind, interpreter });
}

/// Note that the calling thread, with the lock released, now waits on a
/// script's synchronisation object. Costs one relaxed load when the
/// recorder is off.
pub fn record_blocked_on(blocker: Blocker) {
    if recording() {
        let serial = super::thread::current_serial();
        record(serial, NO_INTERPRETER, EventKind::BlockedOn(blocker), None);
    }
}

/// Record an event now (callers check [`recording`] first). `interpreter`
/// may be [`NO_INTERPRETER`] when the caller does not know it: the event
/// then belongs to the interpreter of the thread's previous event.
#[inline]
pub(crate) fn record(
    thread: u64,
    interpreter: u32,
    kind: EventKind,
    c_function: Option<&'static str>,
) {
    push(thread, RawEvent { ticks: Clock::ticks(), c_function, kind, interpreter });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(kinds: &[(EventKind, Option<&'static str>)]) -> Vec<State> {
        let mut now = ThreadState::OUTSIDE;
        kinds
            .iter()
            .map(|&(kind, c_function)| {
                now = now.after(&Event { t_ns: 0, thread: 1, kind, c_function, interpreter: 0 });
                now.state
            })
            .collect()
    }

    #[test]
    fn a_c_call_that_releases_the_lock_reads_as_one_story() {
        let f = Some("clib_sleep_ms");
        let states = walk(&[
            (EventKind::Wants, None),
            (EventKind::Got, None),
            (EventKind::CallC, f),
            (EventKind::Released(Reason::ReleasedByC), f),
            (EventKind::Wants, f),
            (EventKind::Got, f),
            (EventKind::ReturnC, None),
            (EventKind::Released(Reason::Detach), None),
        ]);
        assert_eq!(
            states,
            [
                State::Waiting,
                State::Running,
                State::RunningC("clib_sleep_ms"),
                State::ReleasedC("clib_sleep_ms"),
                State::Waiting,
                State::RunningC("clib_sleep_ms"),
                State::Running,
                State::Outside,
            ]
        );
    }

    #[test]
    fn events_that_change_nothing_leave_the_state_alone() {
        let states = walk(&[
            (EventKind::ThreadStarted, None),
            (EventKind::Wants, None),
            (EventKind::DropRequested, None),
            (EventKind::ThreadExited, None),
        ]);
        assert_eq!(states, [State::Outside, State::Waiting, State::Waiting, State::Outside]);
    }

    #[test]
    fn waiting_on_a_script_queue_is_its_own_state_until_the_lock_is_wanted() {
        let q = Blocker { kind: BlockerKind::Queue, id: 2 };
        let states = walk(&[
            (EventKind::Got, None),
            (EventKind::BlockedOn(q), None),
            (EventKind::Released(Reason::Blocking), None),
            (EventKind::BlockedOn(q), None),
            (EventKind::Wants, None),
            (EventKind::Got, None),
        ]);
        assert_eq!(
            states,
            [
                State::Running,
                State::Running,
                State::Blocking,
                State::BlockedOn(q),
                State::Waiting,
                State::Running,
            ]
        );
        assert_eq!(State::BlockedOn(q).label(), "waiting on queue Q2, lock released");
    }
}
