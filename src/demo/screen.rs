//! The demo's screen: a live panel on a terminal, plain progress lines
//! elsewhere, and the summary.
//!
//! Terminal manners live here: escape codes only when stdout is a terminal,
//! colour only when `NO_COLOR` is unset or empty, the cursor hidden while the
//! panel runs and shown again when the [`Screen`] is dropped — on every path
//! out, Ctrl+C included. The screen reads the demo's state and the lock's
//! public counters; it never takes the lock, so it keeps running while the
//! spinner is frozen.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::spinner::gaps;
use super::{DemoConfig, DemoReport, DemoState, Work};
use crate::gil::{self, recorder};
use crate::observe::timeline::State;

const GLYPHS: [char; 4] = ['|', '/', '-', '\\'];

/// Where the demo writes.
pub struct Screen {
    live: bool,
    color: bool,
    interactive: bool,
    drawn_lines: usize,
}

impl Screen {
    /// A screen on stdout: a live panel if stdout is a terminal.
    pub fn stdout(interactive: bool) -> Screen {
        let live = std::io::stdout().is_terminal();
        let color = live && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Screen { live, color, interactive: interactive && live, drawn_lines: 0 }
    }

    /// Whether escape codes are written.
    pub fn is_live(&self) -> bool {
        self.live
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    fn write(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// The opening lines.
    pub fn intro(&self, config: &DemoConfig) {
        let work = match config.work {
            Work::C => format!(
                "C code computes for {:.1} s and {} the lock",
                config.seconds,
                if config.release { "releases" } else { "keeps" }
            ),
            Work::Check => format!(
                "C code computes for {:.1} s, keeps the lock, but calls gs_check_switch()",
                config.seconds
            ),
            Work::Bytecode => format!("interpreted code computes for {:.1} s", config.seconds),
        };
        let spinner = match config.spinner {
            super::SpinnerKind::Thread => "a spinner thread needs the lock for every frame",
            super::SpinnerKind::Process => "a spinner process needs no lock at all",
            super::SpinnerKind::Coroutine => {
                "a coroutine spinner moves only when the computation yields to it"
            }
        };
        let line = format!("gilscope demo: {work}; {spinner}.");
        let line = self.paint("1", &line);
        self.write(&format!("{line}{}", self.newline()));
        if self.live {
            self.write("\x1b[?25l");
        }
    }

    fn newline(&self) -> &'static str {
        // Raw mode (interactive) turns off the terminal's own \r.
        if self.interactive { "\r\n" } else { "\n" }
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

    /// Redraw the live panel, or print a progress line every so often.
    pub fn tick(&mut self, config: &DemoConfig, state: &DemoState, tick: u64) {
        let now = state.work_ended().unwrap_or_else(|| state.epoch.elapsed());
        let from = state.work_started().unwrap_or(now);
        let times = state.frames.times();
        let window = gaps(&times, from, now.max(from));
        let elapsed = now.saturating_sub(from);
        let expected = (elapsed.as_secs_f64() / config.frame.as_secs_f64()).floor() as u64;
        let switches = gil::switch_number() - state.switches_before;
        let holder = Self::holder_text(state);
        let interval = gil::switch_interval();
        if !self.live {
            if tick.is_multiple_of(10) && tick > 0 {
                self.write(&format!(
                    "t={:.1}s frames {}/{} longest freeze {} ms switches {} lock: {}\n",
                    elapsed.as_secs_f64(),
                    window.frames,
                    expected,
                    window.longest.as_millis(),
                    switches,
                    holder
                ));
            }
            return;
        }
        let frozen_for = now.saturating_sub(state.frames.last().unwrap_or(from).max(from));
        let frozen = frozen_for > config.frame * 3;
        let glyph = GLYPHS[times.len() % GLYPHS.len()].to_string();
        let glyph = if frozen { self.paint("1;31", &glyph) } else { self.paint("1;32", &glyph) };
        let status = if frozen {
            self.paint("31", &format!("frozen for {:.1} s", frozen_for.as_secs_f64()))
        } else {
            self.paint("32", "spinning")
        };
        let release = match config.work {
            Work::C => {
                if state.release() {
                    "C releases the lock"
                } else {
                    "C keeps the lock"
                }
            }
            Work::Check => "C keeps the lock, checks for waiters",
            Work::Bytecode => "interpreted code",
        };
        let mut lines = vec![
            format!("  {glyph}  spinner {status}    [{release}]"),
            format!(
                "     elapsed {:.1} s of {:.1} s    switch interval {:.1} ms    policy {}",
                elapsed.as_secs_f64(),
                config.seconds,
                interval.as_secs_f64() * 1000.0,
                gil::policy()
            ),
            format!("     lock: {}", self.paint("36", &holder)),
            format!(
                "     switches {switches}    frames {} of {expected} expected    longest freeze {} ms",
                window.frames,
                window.longest.as_millis()
            ),
        ];
        if config.strip {
            lines.extend(self.strip_lines());
        }
        if self.interactive {
            lines.push(
                self.paint("2", "     keys: [r] release on/off   [+/-] switch interval   [q] quit"),
            );
        }
        let mut text = String::new();
        if self.drawn_lines > 0 {
            text.push_str(&format!("\x1b[{}A", self.drawn_lines));
        }
        for line in &lines {
            text.push_str("\r\x1b[2K");
            text.push_str(line);
            text.push_str(self.newline());
        }
        self.drawn_lines = lines.len();
        self.write(&text);
    }

    /// One line per thread: its states over the last [`STRIP`], one
    /// character per [`STRIP_SLOT`], newest on the right.
    fn strip_lines(&self) -> Vec<String> {
        let now = recorder::now_ns();
        let timeline = crate::observe::timeline::build(&recorder::events_so_far(), now);
        let slots = (STRIP.as_nanos() / STRIP_SLOT.as_nanos()) as u64;
        let slot_ns = STRIP_SLOT.as_nanos() as u64;
        let from = now.saturating_sub(STRIP.as_nanos() as u64);
        let mut lines = vec![format!(
            "     last {} s:  {} running  {} C, lock held  {} waiting  {} C, lock released  {} blocked",
            STRIP.as_secs(),
            self.paint("32", "█"),
            self.paint("33", "▓"),
            self.paint("31", "░"),
            self.paint("34", "▒"),
            self.paint("90", "·"),
        )];
        for thread in &timeline.threads {
            let mut row = String::new();
            for k in 0..slots {
                let (a, b) = (from + k * slot_ns, from + (k + 1) * slot_ns);
                let mut best: Option<(State, u64)> = None;
                for span in &thread.spans {
                    let overlap = span.end_ns.min(b).saturating_sub(span.start_ns.max(a));
                    if overlap > 0
                        && span.state != State::Outside
                        && best.is_none_or(|(_, o)| overlap > o)
                    {
                        best = Some((span.state, overlap));
                    }
                }
                row.push_str(&match best.map(|(s, _)| s) {
                    Some(State::Running) => self.paint("32", "█"),
                    Some(State::RunningC(_)) => self.paint("33", "▓"),
                    Some(State::Waiting) => self.paint("31", "░"),
                    Some(State::ReleasedC(_)) => self.paint("34", "▒"),
                    Some(State::Blocking) => self.paint("90", "·"),
                    Some(State::Outside) | None => " ".to_owned(),
                });
            }
            lines.push(format!("     {:>10} |{row}|", thread.name));
        }
        lines
    }

    /// The summary after a run.
    pub fn summary(&mut self, report: &DemoReport) {
        if self.live {
            self.write("\x1b[?25h");
        }
        let nl = self.newline();
        let c = &report.config;
        let work = match c.work {
            Work::C if report.release_toggles > 0 => format!(
                "C (clib_busy_wait_ms), lock {} at first, switched {} time(s) with r",
                if c.release { "released" } else { "kept" },
                report.release_toggles
            ),
            Work::C => format!(
                "C (clib_busy_wait_ms), lock {}",
                if c.release { "released" } else { "kept" }
            ),
            Work::Check => {
                "C (clib_busy_wait_ms_cooperative), lock kept, gs_check_switch()".to_owned()
            }
            Work::Bytecode => "interpreted bytecode".to_owned(),
        };
        let mut text = format!("Summary{nl}");
        let rows = [
            ("work", work),
            ("spinner", c.spinner.name().to_owned()),
            ("policy", c.policy.to_string()),
            ("switch interval", format!("{:.1} ms", c.switch_interval.as_secs_f64() * 1000.0)),
            ("ran for", format!("{:.2} s", report.seconds)),
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
        for (name, value) in rows {
            text.push_str(&format!("  {name:<16}{value}{nl}"));
        }
        let verdict = report.verdict();
        text.push_str(&format!("  {}{nl}", self.paint("1;33", &verdict)));
        if let Some(table) = &report.stats_table {
            text.push_str(nl);
            text.push_str(&table.replace('\n', nl));
        }
        self.write(&text);
    }

    /// Show the cursor again (also done on drop).
    pub fn restore(&self) {
        if self.live {
            self.write("\x1b[?25h");
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.restore();
    }
}

/// How much history the live strip shows.
pub const STRIP: Duration = Duration::from_secs(3);
/// How much time one character of the strip covers.
pub const STRIP_SLOT: Duration = Duration::from_millis(50);

/// How often the live panel redraws.
pub const TICK: Duration = Duration::from_millis(50);
