//! The lock's event recorder, and what its events mean.
//!
//! When recording is off (the default) the lock pays one relaxed load of
//! `RECORDING` per transition and nothing else. When it is on, every
//! transition appends an [`Event`] — timestamp, thread, what happened — to
//! one buffer, and moves the thread's live state on, which the demo shows.
//!
//! This file owns the event buffer, the live per-thread states and the one
//! mapping from events to a thread's [`State`] ([`ThreadState::after`]),
//! which both the live view and the timeline of `src/observe/` use. It
//! computes nothing else: statistics, traces and pictures are built from the
//! events by `src/observe/`, outside the lock. The lock's files call
//! `record` after checking [`recording`]; this file never calls them and
//! touches no lock state.

use std::collections::HashMap;
use std::time::Instant;

use once_cell::sync::Lazy;

use super::handoff::Reason;
use super::sync::{AtomicBool, Mutex, Ordering::Relaxed};

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

struct Recorder {
    events: Vec<Event>,
    live: HashMap<u64, Live>,
}

static EPOCH: Lazy<Instant> = Lazy::new(Instant::now);
static RECORDER: Lazy<Mutex<Recorder>> =
    Lazy::new(|| Mutex::new(Recorder { events: Vec::new(), live: HashMap::new() }));

/// Nanoseconds since the recorder's epoch.
pub fn now_ns() -> u64 {
    EPOCH.elapsed().as_nanos() as u64
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
    let _ = now_ns();
    let mut recorder = RECORDER.lock();
    recorder.events.clear();
    recorder.live.clear();
    RECORDING.store(true, Relaxed);
}

/// Stop recording and take the events, in order.
pub fn stop_recording() -> Vec<Event> {
    RECORDING.store(false, Relaxed);
    std::mem::take(&mut RECORDER.lock().events)
}

/// A copy of the events recorded so far (recording goes on).
pub fn events_so_far() -> Vec<Event> {
    RECORDER.lock().events.clone()
}

/// The live state of thread `serial`, if the recorder has seen it.
pub fn live_state(serial: u64) -> Option<Live> {
    RECORDER.lock().live.get(&serial).copied()
}

/// Record an event at time `t_ns` (callers check [`recording`] first).
#[cold]
pub(crate) fn record_at(t_ns: u64, thread: u64, kind: EventKind, c_function: Option<&'static str>) {
    let mut recorder = RECORDER.lock();
    if !RECORDING.load(Relaxed) {
        return;
    }
    let event = Event { t_ns, thread, kind, c_function };
    recorder.events.push(event);
    let live = recorder.live.entry(thread).or_insert(Live {
        state: State::Outside,
        c_function: None,
        since_ns: t_ns,
    });
    let before = ThreadState { state: live.state, c_function: live.c_function };
    let after = before.after(&event);
    if after.state != before.state {
        live.since_ns = t_ns;
    }
    (live.state, live.c_function) = (after.state, after.c_function);
}

/// Note that the calling thread, with the lock released, now waits on a
/// script's synchronisation object. Costs one relaxed load when the
/// recorder is off.
pub fn record_blocked_on(blocker: Blocker) {
    if recording() {
        record(super::thread::current_serial(), EventKind::BlockedOn(blocker), None);
    }
}

/// Record an event now (callers check [`recording`] first).
#[cold]
pub(crate) fn record(thread: u64, kind: EventKind, c_function: Option<&'static str>) {
    record_at(now_ns(), thread, kind, c_function);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(kinds: &[(EventKind, Option<&'static str>)]) -> Vec<State> {
        let mut now = ThreadState::OUTSIDE;
        kinds
            .iter()
            .map(|&(kind, c_function)| {
                now = now.after(&Event { t_ns: 0, thread: 1, kind, c_function });
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
