//! The demo's screen: a live panel on a terminal, plain progress lines
//! elsewhere, and the summary.
//!
//! This module owns what is drawn and where the panel is: how many screen
//! rows it used last time and the terminal size it was laid out for. The
//! panel is laid out afresh for the current size at every tick: every line
//! fits in the width (shortened, then the least important lines dropped),
//! the panel fits in the height with the spinner line always kept, the
//! cursor moves back exactly the rows drawn, and a change of size clears
//! the screen and draws again from the top. Escape codes only when stdout
//! is a live terminal, colour only when `NO_COLOR` is unset or empty (see
//! [`super::terminal`], which also restores the terminal). The screen reads
//! the demo's state and the lock's public counters; it never takes the
//! lock, so it keeps running while the spinner is frozen. The strip of
//! recent thread states under the panel is built by [`super::strip`].

use std::time::Duration;

use super::layout::{CYAN, DIM, GREEN, Line, RED, YELLOW, fit, wrap};
use super::spinner::gaps;
use super::strip::strip;
use super::terminal::{self, Capabilities};
use super::{DemoConfig, DemoReport, DemoState, SpinnerKind, Work, keys};
use crate::gil::{self, recorder};
use crate::observe::timeline::State;

const GLYPHS: [char; 4] = ['|', '/', '-', '\\'];

/// Where the demo writes.
pub struct Screen {
    caps: Capabilities,
    keys: bool,
    drawn_rows: usize,
    laid_out_for: Option<(u16, u16)>,
}

/// What the panel shows, taken from the running demo or from the report.
struct Snapshot {
    elapsed: Duration,
    frames: usize,
    expected: usize,
    longest: Duration,
    switches: u64,
    interval: Duration,
    release: bool,
    status: Status,
    /// The lock line: who holds it now, or how the run ended.
    lock: String,
}

enum Status {
    Spinning,
    Frozen(Duration),
    /// The run is over: how the spinner did over the whole of it.
    Over,
}

impl Screen {
    /// A screen on stdout with what it allows; `keys` says whether keys are
    /// read (and so hinted).
    pub fn new(caps: Capabilities, keys: bool) -> Screen {
        Screen { caps, keys, drawn_rows: 0, laid_out_for: None }
    }

    fn newline(&self) -> &'static str {
        // The terminal may be raw, which turns off its own \r.
        if self.caps.live { "\r\n" } else { "\n" }
    }

    /// The terminal's usable (columns, rows): one column spare so no line
    /// reaches the last column, one row spare for the cursor below.
    fn room() -> Option<(usize, usize)> {
        terminal::size().map(|(c, r)| (usize::from(c).max(2) - 1, usize::from(r).max(2) - 1))
    }

    /// In plain mode, the opening line (the live panel has it on top).
    pub fn intro(&mut self, config: &DemoConfig, state: &DemoState) {
        if !self.caps.live {
            let text = header(config, state.release()).plain_text();
            let lines = match Self::room() {
                Some((width, _)) => wrap(&text, width, "", "  "),
                None => vec![text],
            };
            terminal::write(&format!("{}\n", lines.join("\n")));
        }
    }

    /// Redraw the live panel, or print a progress line every so often.
    pub fn tick(&mut self, config: &DemoConfig, state: &DemoState, tick: u64) {
        let snapshot = Snapshot::live(config, state);
        if !self.caps.live {
            if tick.is_multiple_of(10) && tick > 0 {
                let line = Line::plain(format!(
                    "t={:.1}s frames {}/{} longest freeze {} ms switches {} lock: {}",
                    snapshot.elapsed.as_secs_f64(),
                    snapshot.frames,
                    snapshot.expected,
                    snapshot.longest.as_millis(),
                    snapshot.switches,
                    snapshot.lock
                ));
                // A terminal that cannot draw the panel still has a width.
                let line = match Self::room() {
                    Some((width, _)) => line.truncated(width),
                    None => line,
                };
                terminal::write(&format!("{}\n", line.plain_text()));
            }
            return;
        }
        self.draw(config, &snapshot, self.keys);
    }

    /// The tick after the computation ended: in plain mode, the progress
    /// line that falls due then (the live panel gets [`Screen::final_panel`]).
    pub fn closing_tick(&mut self, config: &DemoConfig, state: &DemoState, tick: u64) {
        if !self.caps.live {
            self.tick(config, state, tick);
        }
    }

    /// The end: the panel drawn once more from the report, with no key
    /// hints and the spinner judged over the whole run.
    pub fn final_panel(&mut self, state: &DemoState, report: &DemoReport) {
        if self.caps.live {
            let snapshot = Snapshot::over(report, state);
            self.draw(&report.config, &snapshot, false);
        }
    }

    fn draw(&mut self, config: &DemoConfig, snapshot: &Snapshot, keys: bool) {
        let size = terminal::size();
        let (width, height) = Self::room().unwrap_or((79, 23));
        let mut text = String::new();
        if self.laid_out_for.is_some() && self.laid_out_for != size {
            // The terminal may have rewrapped what was drawn: start over.
            text.push_str("\x1b[H\x1b[2J");
            self.drawn_rows = 0;
        } else if self.drawn_rows > 0 {
            text.push_str(&format!("\r\x1b[{}A", self.drawn_rows));
        } else {
            text.push('\r');
        }
        self.laid_out_for = size;
        let lines = panel(config, snapshot, keys, width, height);
        for line in &lines {
            text.push_str("\x1b[2K");
            text.push_str(&line.render(self.caps.color));
            text.push_str("\r\n");
        }
        text.push_str("\x1b[J");
        self.drawn_rows = lines.len();
        terminal::write(&text);
    }

    /// The summary after a run, wrapped to the terminal's width.
    pub fn summary(&mut self, report: &DemoReport) {
        let width = if self.caps.live || terminal::size().is_some() {
            Self::room().map_or(usize::MAX, |(w, _)| w)
        } else {
            usize::MAX
        };
        let nl = self.newline();
        let mut out: Vec<String> = vec!["Summary".to_owned()];
        for (name, value) in summary_rows(report) {
            out.extend(wrap(&value, width, &format!("  {name:<16}"), &" ".repeat(18)));
        }
        let verdict = wrap(&report.verdict(), width, "  ", "  ");
        let verdict = verdict.iter().map(|l| Line::default().styled("1;33", l.as_str()));
        out.extend(verdict.map(|l| l.render(self.caps.color)));
        let mut text = out.join(nl);
        text.push_str(nl);
        if let Some(table) = &report.stats_table {
            // A table is cut, not wrapped: its columns stay readable.
            let rows = table.lines().map(|row| Line::plain(row).truncated(width).plain_text());
            text.push_str(nl);
            text.push_str(&rows.collect::<Vec<_>>().join(nl));
            text.push_str(nl);
        }
        terminal::write(&text);
    }
}

/// The summary's rows: what ran, what it measured, and every change made
/// with a key.
fn summary_rows(report: &DemoReport) -> Vec<(&'static str, String)> {
    let c = &report.config;
    let kept = |release: bool| if release { "released" } else { "kept" };
    let work = match c.work {
        Work::C if report.release_toggles > 0 => format!(
            "C (clib_busy_wait_ms), lock {} at first and {} at the end; r pressed {} time(s)",
            kept(c.release),
            kept(report.release_at_end),
            report.release_toggles
        ),
        Work::C => format!("C (clib_busy_wait_ms), lock {}", kept(c.release)),
        Work::Check => "C (clib_busy_wait_ms_cooperative), lock kept, gs_check_switch()".to_owned(),
        Work::Bytecode => "interpreted bytecode".to_owned(),
    };
    let interval = if report.switch_interval_at_end_ms != report.switch_interval_ms {
        format!(
            "{:.1} ms at first, {:.1} ms at the end",
            report.switch_interval_ms, report.switch_interval_at_end_ms
        )
    } else {
        format!("{:.1} ms", report.switch_interval_ms)
    };
    let ran = match report.ended {
        "stopped" => format!("{:.2} s (stopped with q)", report.seconds),
        "interrupted" => format!("{:.2} s (interrupted)", report.seconds),
        _ => format!("{:.2} s", report.seconds),
    };
    let mut rows = vec![
        ("work", work),
        ("spinner", c.spinner.name().to_owned()),
        ("policy", c.policy.to_string()),
        ("switch interval", interval),
        ("ran for", ran),
        ("frames", format!("{} of {} expected", report.frames, report.expected_frames)),
        ("longest freeze", format!("{:.0} ms", report.longest_gap_ms)),
        ("mean gap", format!("{:.1} ms", report.mean_gap_ms)),
        ("lock switches", report.switches.to_string()),
        (
            "C time",
            format!(
                "{:.0} ms with the lock kept, {:.0} ms with it released",
                report.c_lock_held_ms, report.c_lock_released_ms
            ),
        ),
    ];
    const SHOWN: usize = 8;
    let skipped = report.changes.len().saturating_sub(SHOWN);
    for (i, change) in report.changes.iter().skip(skipped).enumerate() {
        let name = if i == 0 { "keys" } else { "" };
        rows.push((name, format!("at {:.1} s: {}", change.at_s, change.what.describe())));
    }
    if skipped > 0 {
        rows.push(("", format!("(and {skipped} earlier; --json lists all)")));
    }
    rows
}

/// The top line: what runs, in words, as it is now (after any `r`).
fn header(config: &DemoConfig, release: bool) -> Line {
    let verb = if release { "releases" } else { "keeps" };
    let work = match config.work {
        Work::C => format!("C code computes for {:.1} s and {verb} the lock", config.seconds),
        Work::Check => format!(
            "C code computes for {:.1} s, keeps the lock, but calls gs_check_switch()",
            config.seconds
        ),
        Work::Bytecode => format!("interpreted code computes for {:.1} s", config.seconds),
    };
    let spinner = match config.spinner {
        SpinnerKind::Thread => "a spinner thread needs the lock for every frame",
        SpinnerKind::Process => "a spinner process needs no lock at all",
        SpinnerKind::Interpreter => {
            "a spinner thread of another interpreter needs only that interpreter's lock"
        }
        SpinnerKind::Coroutine => {
            "a coroutine spinner moves only when the computation yields to it"
        }
    };
    let part = match config.tour_part {
        Some((part, parts)) => format!(" (part {part} of {parts})"),
        None => String::new(),
    };
    Line::default().styled("1", format!("gilscope demo{part}: {work}; {spinner}."))
}

fn short_header(config: &DemoConfig, release: bool) -> Line {
    let work = match config.work {
        Work::C if release => "C releases the lock",
        Work::C => "C keeps the lock",
        Work::Check => "C keeps the lock, checks",
        Work::Bytecode => "interpreted code",
    };
    let part = match config.tour_part {
        Some((part, parts)) => format!(", part {part}/{parts}"),
        None => String::new(),
    };
    Line::default()
        .styled("1", format!("gilscope demo{part}: {work}, {} spinner", config.spinner.name()))
}

/// The panel's lines for `width` × `height`: each line fitted to the width,
/// the least important dropped until they fit the height.
fn panel(config: &DemoConfig, s: &Snapshot, keys: bool, width: usize, height: usize) -> Vec<Line> {
    // (importance: lower is kept longer; whether it lines up with the
    // others; choices, longest first)
    let mut lines: Vec<(u8, bool, Vec<Line>)> = vec![
        (4, false, vec![header(config, s.release), short_header(config, s.release)]),
        (0, true, status_line(config, s)),
        (3, true, {
            let (el, all) = (s.elapsed.as_secs_f64(), config.seconds);
            let ms = s.interval.as_secs_f64() * 1000.0;
            let policy = gil::policy();
            vec![
                Line::plain(format!(
                    "     elapsed {el:.1} s of {all:.1} s    switch interval {ms:.1} ms    policy {policy}"
                )),
                Line::plain(format!("  {el:.1}/{all:.1} s  switch interval {ms:.1} ms  {policy}")),
                Line::plain(format!("  {el:.1}/{all:.1} s  interval {ms:.1} ms")),
            ]
        }),
        (
            1,
            true,
            vec![
                Line::plain("     lock: ").styled(CYAN, s.lock.as_str()),
                Line::plain("  lock: ").styled(CYAN, s.lock.as_str()),
            ],
        ),
        (2, true, {
            let (sw, fr, ex) = (s.switches, s.frames, s.expected);
            // Rounded as the summary rounds it, so the two agree.
            let lo = format!("{:.0}", s.longest.as_secs_f64() * 1000.0);
            vec![
                Line::plain(format!(
                    "     switches {sw}    frames {fr} of {ex} expected    longest freeze {lo} ms"
                )),
                Line::plain(format!("  switches {sw}  frames {fr}/{ex}  longest freeze {lo} ms")),
                Line::plain(format!("  frames {fr}/{ex}  freeze {lo} ms  switches {sw}")),
            ]
        }),
    ];
    if config.strip {
        let (legend, rows) = strip(width);
        if !rows.is_empty() {
            lines.push((7, false, legend));
            lines.extend(rows.into_iter().map(|row| (6, false, vec![row])));
        }
    }
    if keys {
        let hints = keys::hints(config);
        let long: Vec<String> = hints.iter().map(|h| format!("[{}] {}", h.key, h.does)).collect();
        let short: Vec<String> = hints.iter().map(|h| format!("{} {}", h.key, h.does)).collect();
        let least: Vec<String> = hints.iter().map(|h| format!("{} {}", h.key, h.short)).collect();
        lines.push((
            5,
            true,
            vec![
                Line::default().styled(DIM, format!("     keys: {}", long.join("   "))),
                Line::default().styled(DIM, format!("  keys: {}", short.join("  "))),
                Line::default().styled(DIM, format!("  keys: {}", least.join("  "))),
            ],
        ));
    }
    while lines.len() > height.max(1) {
        let drop = (0..lines.len())
            .rev()
            .max_by_key(|&i| lines[i].0)
            .expect("more lines than the height, so at least one");
        lines.remove(drop);
    }
    // One level of detail for the whole panel, so its lines line up: the
    // fullest at which every line fits, then each line cut on its own.
    let deepest = lines.iter().map(|(_, _, c)| c.len()).max().unwrap_or(1);
    let level = (0..deepest)
        .find(|&level| {
            let aligned = lines.iter().filter(|(_, aligned, _)| *aligned);
            aligned.into_iter().all(|(_, _, c)| c[level.min(c.len() - 1)].width() <= width)
        })
        .unwrap_or(deepest - 1);
    lines
        .into_iter()
        .map(|(_, aligned, mut choices)| {
            let from = if aligned { level.min(choices.len() - 1) } else { 0 };
            fit(choices.split_off(from), width)
        })
        .collect()
}

/// The spinner line: always shown.
fn status_line(config: &DemoConfig, s: &Snapshot) -> Vec<Line> {
    let glyph = GLYPHS[s.frames % GLYPHS.len()].to_string();
    // (colour, in words, in a few words)
    let (style, status, short) = match s.status {
        Status::Spinning => (GREEN, "spinner spinning".to_owned(), "spinning".to_owned()),
        Status::Frozen(d) => {
            let d = d.as_secs_f64();
            (RED, format!("spinner frozen for {d:.1} s"), format!("frozen {d:.1} s"))
        }
        Status::Over => {
            let (fr, ex) = (s.frames, s.expected);
            if ex == 0 {
                let status = format!("spinner drew {fr} frames: too short a run to judge");
                (YELLOW, status, format!("{fr} frames"))
            } else if fr == 0 {
                (RED, format!("spinner froze: 0 of {ex} frames"), format!("froze: 0/{ex}"))
            } else if fr * 10 >= ex * 9 {
                let status = format!("spinner kept spinning: {fr} of {ex} frames");
                (GREEN, status, format!("kept up: {fr}/{ex}"))
            } else {
                (YELLOW, format!("spinner drew {fr} of {ex} frames"), format!("drew {fr}/{ex}"))
            }
        }
    };
    let mode = match config.work {
        Work::C if s.release => "C releases the lock",
        Work::C => "C keeps the lock",
        Work::Check => "C keeps the lock, checks for waiters",
        Work::Bytecode => "interpreted code",
    };
    let bold = match style {
        GREEN => "1;32",
        YELLOW => "1;33",
        _ => "1;31",
    };
    vec![
        Line::plain("  ")
            .styled(bold, glyph.as_str())
            .text("  ")
            .styled(style, status.as_str())
            .text(format!("    [{mode}]")),
        Line::default().styled(bold, glyph.as_str()).text(" ").styled(style, status.as_str()),
        Line::default()
            .styled(bold, glyph.as_str())
            .text(" spinner ")
            .styled(style, short.as_str()),
    ]
}

impl Snapshot {
    fn live(config: &DemoConfig, state: &DemoState) -> Snapshot {
        let now = state.work_ended().unwrap_or_else(|| state.epoch.elapsed());
        let from = state.work_started().unwrap_or(now);
        let times = state.frames.times();
        let window = gaps(&times, from, now.max(from));
        let elapsed = now.saturating_sub(from);
        // The last frame inside the window: frames drawn after the work
        // ended say nothing about a freeze during it.
        let last = times.iter().rev().find(|t| **t <= now).copied().unwrap_or(from).max(from);
        let frozen_for = now.saturating_sub(last);
        Snapshot {
            elapsed,
            frames: window.frames,
            expected: (elapsed.as_secs_f64() / config.frame.as_secs_f64()).floor() as usize,
            longest: window.longest,
            switches: gil::switch_number() - state.switches_before,
            interval: gil::switch_interval(),
            release: state.release(),
            status: if frozen_for > config.frame * 3 {
                Status::Frozen(frozen_for)
            } else {
                Status::Spinning
            },
            lock: holder_text(state),
        }
    }

    fn over(report: &DemoReport, state: &DemoState) -> Snapshot {
        let seconds = report.seconds;
        let lock = match report.ended {
            "stopped" => format!("free — the computation was stopped with q after {seconds:.1} s"),
            "interrupted" => format!("free — the computation was interrupted after {seconds:.1} s"),
            _ => format!("free — the computation ran its {seconds:.1} s"),
        };
        Snapshot {
            elapsed: Duration::from_secs_f64(report.seconds),
            frames: report.frames,
            expected: report.expected_frames,
            longest: Duration::from_secs_f64(report.longest_gap_ms / 1000.0),
            switches: report.switches,
            interval: Duration::from_secs_f64(report.switch_interval_at_end_ms / 1000.0),
            release: state.release(),
            status: Status::Over,
            lock,
        }
    }
}

/// What holds the lock now, in words.
fn holder_text(state: &DemoState) -> String {
    let worker = state.worker_serial();
    let worker_live = recorder::live_state(worker);
    match gil::holder() {
        Some(serial) => {
            let name = gil::thread_name(serial);
            let c = recorder::live_state(serial).and_then(|l| l.c_function);
            match c {
                Some(function) => format!("{name} — in C: {function}, lock held"),
                None => name,
            }
        }
        None => match worker_live {
            Some(l) if matches!(l.state, State::ReleasedC(_)) => format!(
                "nobody — {} is in C: {}, lock released",
                gil::thread_name(worker),
                l.c_function.unwrap_or("?")
            ),
            _ => "nobody".to_owned(),
        },
    }
}

/// How often the live panel redraws.
pub const TICK: Duration = Duration::from_millis(50);
