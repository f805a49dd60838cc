//! The live panel's strip: each thread's recent history, one character per
//! slot of [`STRIP_SLOT`], coloured by the state it spent most of the slot
//! in, with its legend.
//!
//! This module owns no state: it reads the recorder's events so far and
//! builds them into a timeline with [`crate::observe::timeline`] — the
//! same event→state mapping as `--trace` and `--timeline` — at every tick.

use std::time::Duration;

use super::layout::{DIM, GREEN, Line, Piece, RED, YELLOW, text_width};
use crate::gil::recorder;
use crate::observe::timeline::{Span, State};

/// The strip for `width` columns: the legend's choices, and one row per
/// thread with its dominant state in each [`STRIP_SLOT`], newest on the
/// right. As many slots as fit, up to [`STRIP`]; none if fewer than ten fit.
pub(super) fn strip(width: usize) -> (Vec<Line>, Vec<Line>) {
    let now = recorder::now_ns();
    let timeline = crate::observe::timeline::build(&recorder::events_so_far(), now);
    let name_width =
        timeline.threads.iter().map(|t| text_width(&t.name)).max().unwrap_or(0).min(10);
    let (indent, name_width) = if width >= 60 { (5, 10) } else { (0, name_width) };
    let most = (STRIP.as_nanos() / STRIP_SLOT.as_nanos()) as usize;
    let slots = width.saturating_sub(indent + name_width + 3).min(most);
    if slots < 10 {
        return (Vec::new(), Vec::new());
    }
    let bounds = slot_bounds(now, slots, STRIP_SLOT.as_nanos() as u64);
    let mut rows = Vec::new();
    for thread in &timeline.threads {
        let name: String = Line::plain(thread.name.as_str()).truncated(name_width).plain_text();
        let mut row = Line::plain(format!("{:indent$}{name:>name_width$} |", ""));
        for slot in &bounds {
            let state = slot.and_then(|(a, b)| dominant(&thread.spans, a, b));
            row = match state {
                Some(state) => {
                    let (style, glyph) = glyph(state);
                    row.styled(style, glyph)
                }
                None => row.text(" "),
            };
        }
        rows.push(row.text("|"));
    }
    let shown = STRIP_SLOT * slots as u32;
    let seconds = format!("{:.1}", shown.as_secs_f64());
    let key = |long: bool| {
        let mut line = Line::plain(if long {
            format!("     last {seconds} s:  ")
        } else {
            format!("{seconds} s: ")
        });
        for state in LEGEND {
            let (style, glyph) = glyph(state);
            let (long_name, short_name) = legend_names(state);
            line = line.styled(style, glyph).text(if long {
                format!(" {long_name}  ")
            } else {
                format!(" {short_name} ")
            });
        }
        line
    };
    let mut fullest = key(true);
    fullest.pieces.push(Piece { text: "(blank: outside the lock)".to_owned(), style: DIM });
    (vec![fullest, key(true), key(false)], rows)
}

const LEGEND: [State; 5] =
    [State::Running, State::RunningC(""), State::Waiting, State::ReleasedC(""), State::Blocking];

fn legend_names(state: State) -> (&'static str, &'static str) {
    match state {
        State::Running => ("running", "run"),
        State::RunningC(_) => ("C, lock held", "C held"),
        State::Waiting => ("waiting", "wait"),
        State::ReleasedC(_) => ("C, lock released", "C free"),
        // The demo runs no script locks or queues; such a wait reads as blocked.
        State::Blocking | State::BlockedOn(_) => ("blocked", "blocked"),
        State::Outside => ("outside", "out"),
    }
}

fn glyph(state: State) -> (&'static str, &'static str) {
    match state {
        State::Running => (GREEN, "█"),
        State::RunningC(_) => (YELLOW, "▓"),
        State::Waiting => (RED, "░"),
        State::ReleasedC(_) => ("34", "▒"),
        State::Blocking | State::BlockedOn(_) => ("90", "·"),
        State::Outside => ("", " "),
    }
}

/// The time each of `slots` slots of `slot_ns` covers, oldest first, the
/// newest ending at `now`; `None` for a slot from before the clock's start
/// (early in the process, the strip is longer than the history).
fn slot_bounds(now: u64, slots: usize, slot_ns: u64) -> Vec<Option<(u64, u64)>> {
    (0..slots as u64)
        .rev()
        .map(|age| {
            let end = now.checked_sub(age * slot_ns)?;
            Some((end.checked_sub(slot_ns)?, end))
        })
        .collect()
}

/// The state `spans` spend most of `[a, b)` in, time outside the lock
/// included (it draws as blank): a wait of a few microseconds in a slot
/// spent mostly asleep does not paint the slot as waiting. `None` if no
/// span covers any of it.
fn dominant(spans: &[Span], a: u64, b: u64) -> Option<State> {
    let mut totals: Vec<(State, u64)> = Vec::new();
    for span in spans {
        let overlap = span.end_ns.min(b).saturating_sub(span.start_ns.max(a));
        if overlap == 0 {
            continue;
        }
        let kind = std::mem::discriminant(&span.state);
        match totals.iter_mut().find(|(s, _)| std::mem::discriminant(s) == kind) {
            Some((_, total)) => *total += overlap,
            None => totals.push((span.state, overlap)),
        }
    }
    totals.into_iter().max_by_key(|(_, total)| *total).map(|(state, _)| state)
}

/// How much history the live strip shows at most.
pub const STRIP: Duration = Duration::from_secs(3);
/// How much time one character of the strip covers.
pub const STRIP_SLOT: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    fn span(state: State, start_ns: u64, end_ns: u64) -> Span {
        Span { state, start_ns, end_ns }
    }

    #[test]
    fn a_short_wait_in_a_slot_spent_outside_is_not_the_slot() {
        // 50 ms slot: 49.9 ms asleep outside the lock, 0.05 ms waiting,
        // 0.05 ms running.
        let spans = [
            span(State::Outside, 0, 49_900_000),
            span(State::Waiting, 49_900_000, 49_950_000),
            span(State::Running, 49_950_000, 50_000_000),
        ];
        assert_eq!(dominant(&spans, 0, 50_000_000), Some(State::Outside));
    }

    #[test]
    fn the_newest_slot_ends_now_even_early_in_the_process() {
        let bounds = slot_bounds(250, 4, 100);
        assert_eq!(bounds, vec![None, None, Some((50, 150)), Some((150, 250))]);
        let bounds = slot_bounds(1_000, 3, 100);
        assert_eq!(bounds, vec![Some((700, 800)), Some((800, 900)), Some((900, 1_000))]);
    }

    #[test]
    fn the_dominant_state_sums_its_spans() {
        // Three short waits add up to more than the one longer run.
        let spans = [
            span(State::Waiting, 0, 10),
            span(State::Running, 10, 25),
            span(State::Waiting, 25, 35),
            span(State::Blocking, 35, 40),
            span(State::Waiting, 40, 50),
        ];
        assert_eq!(dominant(&spans, 0, 50), Some(State::Waiting));
        assert_eq!(dominant(&spans, 10, 25), Some(State::Running));
        assert_eq!(dominant(&spans, 60, 70), None);
    }
}
