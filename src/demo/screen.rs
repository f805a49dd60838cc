//! The demo's screen: a live line on a terminal, plain lines elsewhere.
//!
//! Terminal manners live here and only here: escape codes only when stdout
//! is a terminal, colour only when `NO_COLOR` is unset, and the cursor is
//! shown again when the screen is dropped (also after Ctrl+C, because the
//! demo drops it on every path out).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use parking_lot::Mutex;

const FRAMES: [char; 4] = ['|', '/', '-', '\\'];

/// Where the demo writes.
pub struct Screen {
    live: bool,
    color: bool,
    out: Mutex<std::io::Stdout>,
}

impl Screen {
    /// A screen on stdout, live if stdout is a terminal.
    pub fn stdout() -> Screen {
        let live = std::io::stdout().is_terminal();
        let color = live && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Screen { live, color, out: Mutex::new(std::io::stdout()) }
    }

    /// Whether escape codes are written.
    pub fn is_live(&self) -> bool {
        self.live
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// A heading line for one run.
    pub fn heading(&self, text: &str) {
        let mut out = self.out.lock();
        let _ = writeln!(out, "{}", self.paint("1", text));
        if self.live {
            let _ = write!(out, "\x1b[?25l"); // hide the cursor while spinning
        }
        let _ = out.flush();
    }

    /// One spinner frame, drawn by the spinner thread with the lock held.
    pub fn frame(&self, number: u64, elapsed: Duration, expected: u64, longest_gap: Duration) {
        let spinner = FRAMES[(number % FRAMES.len() as u64) as usize];
        let status = format!(
            "{spinner} {:5.1}s  frames {number}/{expected}  longest freeze {} ms",
            elapsed.as_secs_f64(),
            longest_gap.as_millis()
        );
        let mut out = self.out.lock();
        if self.live {
            let _ = write!(out, "\r\x1b[2K{}", self.paint("36", &status));
        } else if number.is_multiple_of(20) {
            let _ = writeln!(out, "{status}");
        }
        let _ = out.flush();
    }

    /// Close the live line before a summary.
    pub fn end_live(&self) {
        if self.live {
            let mut out = self.out.lock();
            let _ = write!(out, "\r\x1b[2K\x1b[?25h");
            let _ = out.flush();
        }
    }

    /// A plain line of text.
    pub fn line(&self, text: &str) {
        let mut out = self.out.lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// A line that stands out (a verdict).
    pub fn verdict(&self, text: &str) {
        let painted = self.paint("1;33", text);
        self.line(&painted);
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.end_live();
    }
}
