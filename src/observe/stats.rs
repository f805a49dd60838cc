//! Statistics of a recording: per thread and overall, hold and wait times
//! as percentiles, switches by reason, C time with and without the lock,
//! and who made whom wait.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::timeline::{State, Timeline};
use crate::gil::Reason;

/// Percentiles of a set of durations, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many.
    pub count: usize,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
    /// Sum.
    pub total_us: f64,
}

impl Percentiles {
    /// Percentiles of `ns` (nearest rank).
    pub fn of(ns: &[u64]) -> Percentiles {
        if ns.is_empty() {
            return Percentiles::default();
        }
        let mut sorted = ns.to_vec();
        sorted.sort_unstable();
        let rank = |p: f64| {
            let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            sorted[i] as f64 / 1000.0
        };
        Percentiles {
            count: sorted.len(),
            p50_us: rank(0.5),
            p90_us: rank(0.9),
            p99_us: rank(0.99),
            max_us: *sorted.last().expect("not empty") as f64 / 1000.0,
            total_us: sorted.iter().sum::<u64>() as f64 / 1000.0,
        }
    }
}

/// One thread's statistics.
#[derive(Clone, Debug, Serialize)]
pub struct ThreadStats {
    /// Serial number.
    pub serial: u64,
    /// Name.
    pub name: String,
    /// Times it took the lock.
    pub acquisitions: u64,
    /// How long it held the lock each time.
    pub hold: Percentiles,
    /// How long it waited each time.
    pub wait: Percentiles,
    /// Time holding the lock (interpreter code and C that kept it), ms.
    pub running_ms: f64,
    /// Of which inside C functions that kept the lock, ms.
    pub c_lock_held_ms: f64,
    /// Time waiting for the lock, ms.
    pub waiting_ms: f64,
    /// Time in C with the lock released, ms.
    pub c_lock_released_ms: f64,
    /// Time blocked (sleep, join, a script's locks and queues) with the
    /// lock released, ms.
    pub blocking_ms: f64,
    /// Of which waiting on the script's own locks, conditions, queues and
    /// events, ms.
    pub script_wait_ms: f64,
    /// Time outside the interpreter, ms.
    pub outside_ms: f64,
    /// From its first recorded event to its last, ms.
    pub lifetime_ms: f64,
}

/// The part of one thread's waiting that another thread caused by holding
/// the lock meanwhile, summed over the waiter's waits.
///
/// Each wait is shared among the threads that held the lock during it, by
/// the time each held it; time the lock was free while the thread waited
/// (the hand-off) is blamed on "nobody". So a thread that let go last
/// after a brief hold is not blamed for a third thread's long C call
/// before it, and a waiter's pairs add up to its waiting time.
#[derive(Clone, Debug, Serialize)]
pub struct WaitPair {
    /// Who waited.
    pub waiter: String,
    /// Who held the lock during those waits ("nobody": it was free).
    pub holder: String,
    /// Why the holder let go during those waits, with how many times.
    pub reasons: BTreeMap<String, u64>,
    /// How many of the waiter's waits the holder held the lock in.
    pub waits: u64,
    /// The holder's share of those waits, ms.
    pub total_ms: f64,
}

/// The statistics of a whole recording, or of one interpreter's part.
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    /// Which interpreter these are about: `None` for the whole recording.
    pub interpreter: Option<u32>,
    /// Events the recorder could not keep (a thread's ring was full); 0
    /// unless the statistics undercount.
    pub lost_events: u64,
    /// Wall time covered, ms.
    pub wall_ms: f64,
    /// Acquisitions by every thread.
    pub acquisitions: u64,
    /// Changes of holder.
    pub switches: u64,
    /// Changes of holder by the reason the previous holder let go.
    pub switches_by_reason: BTreeMap<String, u64>,
    /// Drop requests set by waiters.
    pub drop_requests: u64,
    /// Hold times over all threads.
    pub hold: Percentiles,
    /// Wait times over all threads.
    pub wait: Percentiles,
    /// Time C ran with the lock held, all threads, ms.
    pub c_lock_held_ms: f64,
    /// Time C ran with the lock released, all threads, ms.
    pub c_lock_released_ms: f64,
    /// Time the lock was held by anyone, ms (at most `wall_ms` per
    /// interpreter; summed over interpreters).
    pub lock_held_ms: f64,
    /// Per thread.
    pub threads: Vec<ThreadStats>,
    /// Who made whom wait, largest total first.
    pub waits_by_pair: Vec<WaitPair>,
    /// Which thread waited on which of the script's own locks, conditions,
    /// queues and events, largest total first.
    pub script_waits: Vec<ScriptWait>,
    /// When several interpreters ran: the same statistics for each one's
    /// lock, in order of id; empty otherwise.
    pub by_interpreter: Vec<Stats>,
}

/// The time one thread spent waiting on one script object (with the
/// global lock released).
#[derive(Clone, Debug, Serialize)]
pub struct ScriptWait {
    /// The waiting thread's name.
    pub thread: String,
    /// The object, as in `lock L1` or `queue Q2`.
    pub object: String,
    /// Total time, ms.
    pub total_ms: f64,
    /// How many separate waits.
    pub waits: u64,
}

/// Every thread's waits on script objects, largest total first.
fn script_waits(timeline: &Timeline) -> Vec<ScriptWait> {
    let mut by_pair: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for t in &timeline.threads {
        for span in &t.spans {
            if let State::BlockedOn(blocker) = span.state {
                let entry = by_pair.entry((t.name.clone(), blocker.to_string())).or_default();
                entry.0 += span.ns();
                entry.1 += 1;
            }
        }
    }
    let mut waits: Vec<ScriptWait> = by_pair
        .into_iter()
        .map(|((thread, object), (ns, waits))| ScriptWait {
            thread,
            object,
            total_ms: ms(ns),
            waits,
        })
        .collect();
    waits.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    waits
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Compute the statistics of a timeline; with several interpreters, also
/// each one's.
pub fn compute(timeline: &Timeline) -> Stats {
    let mut stats = compute_one(timeline, None);
    let interpreters = timeline.interpreters();
    if interpreters.len() > 1 {
        stats.by_interpreter =
            interpreters.into_iter().map(|id| compute_one(&timeline.only(id), Some(id))).collect();
    }
    stats
}

/// The statistics of `timeline`, which is about `interpreter` if given.
fn compute_one(timeline: &Timeline, interpreter: Option<u32>) -> Stats {
    let mut threads = Vec::new();
    let (mut all_holds, mut all_waits) = (Vec::new(), Vec::new());
    let (mut c_held, mut c_released, mut held) = (0, 0, 0);
    for t in &timeline.threads {
        all_holds.extend(&t.holds_ns);
        all_waits.extend(&t.waits_ns);
        let thread_c_held = t.total(|s| matches!(s, State::RunningC(_)));
        let thread_c_released = t.total(|s| matches!(s, State::ReleasedC(_)));
        let running = t.total(State::holds_lock);
        c_held += thread_c_held;
        c_released += thread_c_released;
        held += running;
        threads.push(ThreadStats {
            serial: t.serial,
            name: t.name.clone(),
            acquisitions: t.acquisitions,
            hold: Percentiles::of(&t.holds_ns),
            wait: Percentiles::of(&t.waits_ns),
            running_ms: ms(running),
            c_lock_held_ms: ms(thread_c_held),
            waiting_ms: ms(t.total(|s| s == State::Waiting)),
            c_lock_released_ms: ms(thread_c_released),
            blocking_ms: ms(t.total(|s| matches!(s, State::Blocking | State::BlockedOn(_)))),
            script_wait_ms: ms(t.total(|s| matches!(s, State::BlockedOn(_)))),
            outside_ms: ms(t.total(|s| s == State::Outside)),
            lifetime_ms: ms(t.lifetime_ns()),
        });
    }
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, _, reason) in &timeline.switches {
        let name = reason.map_or("first acquisition", Reason::name);
        *by_reason.entry(name.to_owned()).or_default() += 1;
    }
    let name_of = |serial: u64| {
        timeline.threads.iter().find(|t| t.serial == serial).map_or_else(
            || if serial == 0 { "nobody".to_owned() } else { format!("#{serial}") },
            |t| t.name.clone(),
        )
    };
    let mut pairs: BTreeMap<(u64, u64), WaitPair> = BTreeMap::new();
    for (waiter, holder, share) in blame(timeline) {
        let pair = pairs.entry((waiter, holder)).or_insert_with(|| WaitPair {
            waiter: name_of(waiter),
            holder: name_of(holder),
            reasons: BTreeMap::new(),
            waits: 0,
            total_ms: 0.0,
        });
        pair.waits += 1;
        pair.total_ms += share.ns / 1e6;
        for reason in share.reasons {
            *pair.reasons.entry(reason.to_owned()).or_default() += 1;
        }
    }
    let mut waits_by_pair: Vec<WaitPair> = pairs.into_values().collect();
    waits_by_pair.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    Stats {
        interpreter,
        lost_events: 0,
        by_interpreter: Vec::new(),
        wall_ms: ms(timeline.end_ns - timeline.start_ns),
        acquisitions: threads.iter().map(|t| t.acquisitions).sum(),
        switches: timeline.switches.len() as u64,
        switches_by_reason: by_reason,
        drop_requests: timeline.drop_requests.len() as u64,
        hold: Percentiles::of(&all_holds),
        wait: Percentiles::of(&all_waits),
        c_lock_held_ms: ms(c_held),
        c_lock_released_ms: ms(c_released),
        lock_held_ms: ms(held),
        threads,
        waits_by_pair,
        script_waits: script_waits(timeline),
    }
}

/// One hold of the lock, from the timeline's spans.
struct Hold {
    thread: u64,
    start_ns: u64,
    end_ns: u64,
}

/// One holder's share of one wait.
struct Share {
    ns: f64,
    /// Why the holder let go during the wait, once per hand-over.
    reasons: Vec<&'static str>,
}

/// Every hold of the lock by any thread, in order of start: consecutive
/// holding spans of one thread (interpreter code, then C keeping the lock)
/// are one hold.
fn holds(timeline: &Timeline) -> Vec<Hold> {
    let mut holds: Vec<Hold> = Vec::new();
    for t in &timeline.threads {
        let mut open: Option<Hold> = None;
        for span in &t.spans {
            match (&mut open, span.state.holds_lock()) {
                (Some(hold), true) if hold.end_ns == span.start_ns => hold.end_ns = span.end_ns,
                (_, true) => {
                    holds.extend(open.take());
                    open = Some(Hold {
                        thread: t.serial,
                        start_ns: span.start_ns,
                        end_ns: span.end_ns,
                    });
                }
                (_, false) => holds.extend(open.take()),
            }
        }
        holds.extend(open);
    }
    holds.sort_by_key(|h| (h.start_ns, h.end_ns));
    holds
}

/// Who made whom wait: for every wait (a span of [`State::Waiting`]) of
/// every thread, each thread that held the lock during it with its share,
/// and serial 0 ("nobody") for the time the lock was free. Shares are the
/// time each held the lock within the wait, scaled down if holds recorded
/// as overlapping would add up to more than the wait.
fn blame(timeline: &Timeline) -> Vec<(u64, u64, Share)> {
    let holds = holds(timeline);
    // The latest end among the first i holds: holds before the first index
    // whose prefix ends after a wait's start cannot overlap it.
    let ends_so_far: Vec<u64> = holds
        .iter()
        .scan(0, |latest, h| {
            *latest = h.end_ns.max(*latest);
            Some(*latest)
        })
        .collect();
    let mut blamed = Vec::new();
    for t in &timeline.threads {
        for wait in t.spans.iter().filter(|s| s.state == State::Waiting) {
            let (start, end) = (wait.start_ns, wait.end_ns);
            let first = ends_so_far.partition_point(|&latest| latest <= start);
            // The hand-overs during the wait (switches are in time order).
            let switches = &timeline.switches[timeline.switches.partition_point(|s| s.0 <= start)
                ..timeline.switches.partition_point(|s| s.0 <= end)];
            let mut held: BTreeMap<u64, u64> = BTreeMap::new();
            for h in holds[first..].iter().take_while(|h| h.start_ns < end) {
                let overlap = h.end_ns.min(end).saturating_sub(h.start_ns.max(start));
                let same_lock = timeline.interpreter_of(h.thread) == Some(t.interpreter);
                if h.thread != t.serial && same_lock && overlap > 0 {
                    *held.entry(h.thread).or_default() += overlap;
                }
            }
            let length = (end - start) as f64;
            let covered = held.values().sum::<u64>() as f64;
            let scale = if covered > length { length / covered } else { 1.0 };
            for (holder, ns) in held {
                let reasons = switches
                    .iter()
                    .filter(|(_, from, _, _)| *from == holder)
                    .map(|(_, _, _, reason)| reason.map_or("first acquisition", Reason::name))
                    .collect();
                blamed.push((t.serial, holder, Share { ns: ns as f64 * scale, reasons }));
            }
            if covered < length {
                let share = Share { ns: length - covered, reasons: vec!["nobody held it"] };
                blamed.push((t.serial, 0, share));
            }
        }
    }
    blamed
}

fn pct(p: &Percentiles) -> String {
    if p.count == 0 {
        return "-".to_owned();
    }
    format!("{:.1} / {:.1} / {:.1} / {:.1}", p.p50_us, p.p90_us, p.p99_us, p.max_us)
}

impl Stats {
    /// The table `--stats` prints: the whole recording, then, when several
    /// interpreters ran, each one's lock.
    pub fn table(&self) -> String {
        // Lost events (`lost_events`) are reported when the recording ends.
        let mut out = self.one_table("lock statistics");
        for part in &self.by_interpreter {
            let id = part.interpreter.unwrap_or_default();
            let title = if id == 0 {
                "interpreter 0 (main): lock statistics".to_owned()
            } else {
                format!("interpreter {id}: lock statistics")
            };
            let _ = writeln!(out);
            out.push_str(&part.one_table(&title));
        }
        out
    }

    fn one_table(&self, title: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{title} ({:.1} ms recorded)", self.wall_ms);
        let _ = writeln!(
            out,
            "  acquisitions {}   switches {}   drop requests {}   lock held {:.1} ms ({:.0}% of the time)",
            self.acquisitions,
            self.switches,
            self.drop_requests,
            self.lock_held_ms,
            if self.wall_ms > 0.0 { 100.0 * self.lock_held_ms / self.wall_ms } else { 0.0 }
        );
        let reasons: Vec<String> =
            self.switches_by_reason.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(
            out,
            "  switches by reason: {}",
            if reasons.is_empty() { "-".to_owned() } else { reasons.join(", ") }
        );
        let _ = writeln!(
            out,
            "  C kept the lock {:.1} ms, released it {:.1} ms",
            self.c_lock_held_ms, self.c_lock_released_ms
        );
        let _ = writeln!(out, "  hold µs p50/p90/p99/max: {}", pct(&self.hold));
        let _ = writeln!(out, "  wait µs p50/p90/p99/max: {}", pct(&self.wait));
        let _ = writeln!(out);
        let mut threads = vec![
            ["thread", "acq", "running", "waiting", "C released", "blocked", "lifetime"]
                .map(str::to_owned)
                .into_iter()
                .chain(["hold µs p50/p90/p99/max".to_owned(), "wait µs p50/p90/p99/max".to_owned()])
                .collect::<Vec<_>>(),
        ];
        for t in &self.threads {
            let millis = |v: f64| format!("{v:.1}ms");
            threads.push(vec![
                truncate(&t.name, NAME_COLUMNS),
                t.acquisitions.to_string(),
                millis(t.running_ms),
                millis(t.waiting_ms),
                millis(t.c_lock_released_ms),
                millis(t.blocking_ms),
                millis(t.lifetime_ms),
                pct(&t.hold),
                pct(&t.wait),
            ]);
        }
        use Align::{Left, Right};
        write_columns(
            &mut out,
            2,
            &threads,
            &[Left, Right, Right, Right, Right, Right, Right, Left, Left],
        );
        if !self.waits_by_pair.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "  who made whom wait (total, waits, why the holder let go):");
            let pairs: Vec<Vec<String>> = self
                .waits_by_pair
                .iter()
                .take(12)
                .map(|p| {
                    let reasons: Vec<String> =
                        p.reasons.iter().map(|(r, n)| format!("{r} ×{n}")).collect();
                    vec![
                        truncate(&p.waiter, NAME_COLUMNS),
                        "waited for".to_owned(),
                        truncate(&p.holder, NAME_COLUMNS),
                        format!("{:.1} ms", p.total_ms),
                        "in".to_owned(),
                        p.waits.to_string(),
                        "waits:".to_owned(),
                        reasons.join(", "),
                    ]
                })
                .collect();
            write_columns(&mut out, 4, &pairs, &[Left, Left, Left, Right, Left, Right, Left, Left]);
        }
        if !self.script_waits.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "  waits on the script's locks, conditions, queues and events (lock released):"
            );
            let rows: Vec<Vec<String>> = self
                .script_waits
                .iter()
                .take(12)
                .map(|w| {
                    vec![
                        truncate(&w.thread, NAME_COLUMNS),
                        "waited on".to_owned(),
                        w.object.clone(),
                        format!("{:.1} ms", w.total_ms),
                        "in".to_owned(),
                        w.waits.to_string(),
                        "waits".to_owned(),
                    ]
                })
                .collect();
            write_columns(&mut out, 4, &rows, &[Left, Left, Left, Right, Left, Right, Left]);
        }
        out
    }
}

/// The widest a thread name is shown, in terminal columns; longer names
/// end in `…`.
const NAME_COLUMNS: usize = 32;

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Write `rows` as a table indented by `indent` spaces, each column as wide as
/// its widest cell in terminal columns (so wide characters line up too).
/// The last column is not padded.
fn write_columns(out: &mut String, indent: usize, rows: &[Vec<String>], align: &[Align]) {
    let mut widths = vec![0; align.len()];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.width());
        }
    }
    for row in rows {
        let mut line = " ".repeat(indent);
        for (i, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[i] - cell.width());
            if i > 0 {
                line.push(' ');
            }
            match align[i] {
                Align::Left if i + 1 == row.len() => line.push_str(cell),
                Align::Left => line.push_str(&format!("{cell}{pad}")),
                Align::Right => line.push_str(&format!("{pad}{cell}")),
            }
        }
        let _ = writeln!(out, "{line}");
    }
}

/// `s` cut to at most `columns` terminal columns, ending in `…` if cut.
fn truncate(s: &str, columns: usize) -> String {
    if s.width() <= columns {
        return s.to_owned();
    }
    let mut cut = String::new();
    for c in s.chars() {
        if cut.width() + c.width().unwrap_or(0) + 1 > columns {
            break;
        }
        cut.push(c);
    }
    cut.push('…');
    cut
}
