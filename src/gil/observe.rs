//! Watching the lock: an event recorder and each thread's live state.
//!
//! When recording is off (the default) the lock pays one relaxed load of
//! `RECORDING` per transition and nothing else. When it is on, every
//! transition appends an [`Event`] — timestamp, thread, what happened — to
//! one buffer, and updates the thread's live state, which the demo shows.
//!
//! This file records; it computes nothing. Statistics, traces and pictures
//! are built from the events by `src/observe/`, outside the lock.

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

/// What a thread is doing, as the recorder last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveState {
    /// Holding the lock, running interpreter (or C) code.
    Running,
    /// Waiting for the lock.
    Waiting,
    /// In C with the lock released.
    InCReleased,
    /// Released the lock around a blocking call (sleep, join).
    Blocking,
    /// Not in the interpreter.
    Outside,
    /// Ended.
    Exited,
}

impl LiveState {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            LiveState::Running => "running",
            LiveState::Waiting => "waiting for the lock",
            LiveState::InCReleased => "in C, lock released",
            LiveState::Blocking => "blocked, lock released",
            LiveState::Outside => "outside the interpreter",
            LiveState::Exited => "exited",
        }
    }
}

/// A thread's live state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    /// Its state.
    pub state: LiveState,
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

/// Start recording, dropping events from any earlier recording.
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
    recorder.events.push(Event { t_ns, thread, kind, c_function });
    let previous = recorder.live.get(&thread).copied();
    let state = match kind {
        EventKind::ThreadStarted => Some(LiveState::Outside),
        EventKind::Wants => Some(LiveState::Waiting),
        EventKind::Got | EventKind::CallC | EventKind::ReturnC => Some(LiveState::Running),
        EventKind::Released(Reason::ReleasedByC) => Some(LiveState::InCReleased),
        EventKind::Released(Reason::Blocking) => Some(LiveState::Blocking),
        EventKind::Released(Reason::SwitchInterval) => Some(LiveState::Waiting),
        EventKind::Released(Reason::Detach | Reason::ThreadExit) => Some(LiveState::Outside),
        EventKind::ThreadExited => Some(LiveState::Exited),
        EventKind::DropRequested => None,
    };
    if let Some(state) = state {
        let c_function = match kind {
            EventKind::ReturnC => None,
            EventKind::CallC => c_function,
            _ => c_function.or(previous.and_then(|p| p.c_function)),
        };
        recorder.live.insert(thread, Live { state, c_function, since_ns: t_ns });
    }
}

/// Record an event now (callers check [`recording`] first).
#[cold]
pub(crate) fn record(thread: u64, kind: EventKind, c_function: Option<&'static str>) {
    record_at(now_ns(), thread, kind, c_function);
}
