//! Events to intervals: what each thread was doing, from when to when.
//!
//! Every thread's recorded life is cut into consecutive [`Span`]s with one
//! [`State`] each, so for every thread the spans add up exactly to the time
//! between its first and last event. Statistics, traces and pictures are all
//! built from this.
//!
//! Which state an event puts a thread in is the recorder's one mapping
//! ([`ThreadState::after`]), the same the live view uses; this file adds
//! the intervals, waits and switches around it.

use std::collections::BTreeMap;

pub use crate::gil::recorder::State;
use crate::gil::recorder::{Event, EventKind, ThreadState};
use crate::gil::{self, Reason};

/// One interval of one state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The state.
    pub state: State,
    /// Start, in recorder nanoseconds.
    pub start_ns: u64,
    /// End, in recorder nanoseconds.
    pub end_ns: u64,
}

impl Span {
    /// Its length.
    pub fn ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
}

/// One wait for the lock, and who handed it over in the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    /// The waiting thread.
    pub waiter: u64,
    /// The thread that let go just before the waiter got the lock (0 if none
    /// was recorded).
    pub holder: u64,
    /// Why that thread let go.
    pub reason: Option<Reason>,
    /// How long the wait lasted.
    pub ns: u64,
}

/// One thread's recorded life.
#[derive(Clone, Debug)]
pub struct ThreadTimeline {
    /// Serial number.
    pub serial: u64,
    /// The interpreter it belongs to (0: the main one).
    pub interpreter: u32,
    /// Name, as the registry knows it.
    pub name: String,
    /// Consecutive spans from its first event to its last.
    pub spans: Vec<Span>,
    /// Times it took the lock.
    pub acquisitions: u64,
    /// How long it held the lock each time.
    pub holds_ns: Vec<u64>,
    /// How long it waited each time.
    pub waits_ns: Vec<u64>,
}

impl ThreadTimeline {
    /// Total time in states matching `pick`.
    pub fn total(&self, pick: impl Fn(State) -> bool) -> u64 {
        self.spans.iter().filter(|s| pick(s.state)).map(Span::ns).sum()
    }

    /// First to last event.
    pub fn lifetime_ns(&self) -> u64 {
        match (self.spans.first(), self.spans.last()) {
            (Some(first), Some(last)) => last.end_ns - first.start_ns,
            _ => 0,
        }
    }
}

/// A whole recording, cut into timelines.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// One per thread, in order of serial number.
    pub threads: Vec<ThreadTimeline>,
    /// Every wait, with who ended it.
    pub waits: Vec<Wait>,
    /// Drop requests: time, and the waiter that set it.
    pub drop_requests: Vec<(u64, u64)>,
    /// Changes of holder of each interpreter's lock: time, previous holder
    /// (0 if none), new holder, reason.
    pub switches: Vec<(u64, u64, u64, Option<Reason>)>,
    /// Threads waiting for the lock over time: (time, count).
    pub waiters: Vec<(u64, usize)>,
    /// First and last event.
    pub start_ns: u64,
    /// Last event (or when recording stopped).
    pub end_ns: u64,
}

struct Open {
    interpreter: u32,
    now: ThreadState,
    since: u64,
    held_since: Option<u64>,
    waiting_since: Option<u64>,
    spans: Vec<Span>,
    acquisitions: u64,
    holds_ns: Vec<u64>,
    waits_ns: Vec<u64>,
}

impl Open {
    /// Move on to the state `event` leads to.
    fn apply(&mut self, event: &Event) {
        let next = self.now.after(event);
        self.switch(next.state, event.t_ns);
        self.now.c_function = next.c_function;
    }

    fn switch(&mut self, to: State, t: u64) {
        if to == self.now.state {
            return;
        }
        if t > self.since {
            self.spans.push(Span { state: self.now.state, start_ns: self.since, end_ns: t });
        }
        self.now.state = to;
        self.since = t;
    }
}

/// Build the timeline of `events`, closing every open span at `end_ns`.
pub fn build(events: &[Event], end_ns: u64) -> Timeline {
    let mut events = events.to_vec();
    events.sort_by_key(|e| e.t_ns);
    let start_ns = events.first().map_or(end_ns, |e| e.t_ns);
    let end_ns = end_ns.max(events.last().map_or(end_ns, |e| e.t_ns));
    let mut open: BTreeMap<u64, Open> = BTreeMap::new();
    let mut timeline = Timeline { start_ns, end_ns, ..Timeline::default() };
    // Per interpreter: each has its own lock.
    let mut last_release: BTreeMap<u32, (u64, Reason)> = BTreeMap::new();
    let mut last_holder: BTreeMap<u32, u64> = BTreeMap::new();
    let mut waiting = 0usize;
    for e in &events {
        let t = e.t_ns;
        let o = open.entry(e.thread).or_insert_with(|| Open {
            interpreter: e.interpreter,
            now: ThreadState::OUTSIDE,
            since: t,
            held_since: None,
            waiting_since: None,
            spans: Vec::new(),
            acquisitions: 0,
            holds_ns: Vec::new(),
            waits_ns: Vec::new(),
        });
        match e.kind {
            EventKind::Wants if o.waiting_since.is_none() => {
                o.waiting_since = Some(t);
                waiting += 1;
                timeline.waiters.push((t, waiting));
            }
            EventKind::Got => {
                o.acquisitions += 1;
                o.held_since = Some(t);
                if let Some(since) = o.waiting_since.take() {
                    o.waits_ns.push(t - since);
                    waiting = waiting.saturating_sub(1);
                    timeline.waiters.push((t, waiting));
                    let (holder, reason) = match last_release.get(&e.interpreter) {
                        Some(&(h, r)) if h != e.thread => (h, Some(r)),
                        _ => (0, None),
                    };
                    timeline.waits.push(Wait { waiter: e.thread, holder, reason, ns: t - since });
                }
                let holder = last_holder.entry(e.interpreter).or_default();
                if *holder != e.thread {
                    let reason = last_release.get(&e.interpreter).map(|&(_, r)| r);
                    timeline.switches.push((t, *holder, e.thread, reason));
                    *holder = e.thread;
                }
            }
            EventKind::Released(reason) => {
                if let Some(since) = o.held_since.take() {
                    o.holds_ns.push(t - since);
                }
                last_release.insert(e.interpreter, (e.thread, reason));
            }
            EventKind::DropRequested => timeline.drop_requests.push((t, e.thread)),
            _ => {}
        }
        o.apply(e);
    }
    for (serial, mut o) in open {
        o.switch(State::Outside, end_ns);
        if let Some(since) = o.held_since.take() {
            o.holds_ns.push(end_ns - since);
        }
        // Trailing time outside the interpreter after the thread's last
        // event says nothing: drop it.
        while o.spans.last().is_some_and(|s| s.state == State::Outside) && o.spans.len() > 1 {
            o.spans.pop();
        }
        timeline.threads.push(ThreadTimeline {
            serial,
            interpreter: o.interpreter,
            name: gil::thread_name(serial),
            spans: o.spans,
            acquisitions: o.acquisitions,
            holds_ns: o.holds_ns,
            waits_ns: o.waits_ns,
        });
    }
    timeline
}

impl Timeline {
    /// The interpreters whose threads it shows, in order of id.
    pub fn interpreters(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.threads.iter().map(|t| t.interpreter).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The interpreter thread `serial` belongs to, if it is in the timeline.
    pub fn interpreter_of(&self, serial: u64) -> Option<u32> {
        self.threads.iter().find(|t| t.serial == serial).map(|t| t.interpreter)
    }

    /// The part of the timeline about one interpreter's lock: its threads,
    /// their waits, drop requests and the switches to them. (The count of
    /// waiting threads over time is left out: it is about every lock.)
    pub fn only(&self, interpreter: u32) -> Timeline {
        let mine = |serial: u64| self.interpreter_of(serial) == Some(interpreter);
        Timeline {
            threads: self
                .threads
                .iter()
                .filter(|t| t.interpreter == interpreter)
                .cloned()
                .collect(),
            waits: self.waits.iter().filter(|w| mine(w.waiter)).copied().collect(),
            drop_requests: self.drop_requests.iter().filter(|d| mine(d.1)).copied().collect(),
            switches: self.switches.iter().filter(|s| mine(s.2)).copied().collect(),
            waiters: Vec::new(),
            start_ns: self.start_ns,
            end_ns: self.end_ns,
        }
    }
}
