//! Errors a script can cause, and how they are shown.
//!
//! A syntax error points at a line and column with a caret; a runtime error
//! carries a stack trace of `FILE:LINE` for each frame. An interrupt
//! (Ctrl+C) is a runtime error of its own kind, so the command line can
//! exit with 130.

use std::fmt::Write as _;

/// A lexing, parsing or compile error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// What is wrong.
    pub message: String,
}

/// How many characters of a message are shown: a message quoting a huge
/// token (a megabyte-long name, say) is cut, not echoed whole.
pub const MAX_MESSAGE_CHARS: usize = 200;

/// `message`, cut to [`MAX_MESSAGE_CHARS`] characters with a note of how
/// many were left out.
pub fn shown_message(message: &str) -> std::borrow::Cow<'_, str> {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => message.into(),
        Some((cut, _)) => {
            let left_out = message[cut..].chars().count();
            format!("{}… ({left_out} more characters)", &message[..cut]).into()
        }
    }
}

/// A stack trace longer than this shows its first and last
/// [`TRACE_ENDS`] frames and counts the rest.
pub const MAX_TRACE_SHOWN: usize = 2 * TRACE_ENDS + 1;
/// How many frames are shown at each end of a long trace.
pub const TRACE_ENDS: usize = 10;

impl SyntaxError {
    /// `FILE:LINE:COL: error: MESSAGE`, the source line, and a caret.
    pub fn render(&self, file: &str, source: &str) -> String {
        let message = shown_message(&self.message);
        let mut out = format!("{file}:{}:{}: error: {message}\n", self.line, self.col);
        write_excerpt(&mut out, source, self.line, self.col);
        out
    }
}

/// The source line `line` (cut around `col` if long, so the caret stays
/// visible) and a caret under column `col`; nothing if there is no such
/// line.
fn write_excerpt(out: &mut String, source: &str, line: u32, col: u32) {
    let Some(text) = source.lines().nth((line as usize).wrapping_sub(1)) else { return };
    let chars: Vec<char> = text.chars().collect();
    let col = (col as usize).saturating_sub(1).min(chars.len());
    let start = col.saturating_sub(60);
    let end = (col + 60).min(chars.len());
    let shown: String =
        chars[start..end].iter().map(|c| if c.is_control() { ' ' } else { *c }).collect();
    let prefix = if start > 0 { "..." } else { "" };
    let _ = writeln!(out, "    {prefix}{shown}");
    let _ = writeln!(out, "    {}^", " ".repeat(prefix.len() + col - start));
}

/// What kind of runtime error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtKind {
    /// An ordinary error: wrong type, division by zero, …
    Error,
    /// Ctrl+C or shutdown.
    Interrupted,
    /// A wait with a timeout (`get`, `put`) ran out of time.
    Timeout,
    /// A lock wait that could never end: threads each waiting for a script
    /// lock the next one holds.
    Deadlock,
}

impl RtKind {
    /// The name a script sees in a caught error's `kind`.
    pub fn name(self) -> &'static str {
        match self {
            RtKind::Error => "error",
            RtKind::Interrupted => "interrupted",
            RtKind::Timeout => "timeout",
            RtKind::Deadlock => "deadlock",
        }
    }
}

/// One frame of a stack trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// The function's name.
    pub function: String,
    /// The line it was executing.
    pub line: u32,
    /// The column of the operation it was executing (0: unknown).
    pub col: u32,
}

/// A runtime error with its stack trace, innermost frame last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtError {
    /// What happened.
    pub message: String,
    /// Its kind.
    pub kind: RtKind,
    /// Where, outermost first.
    pub trace: Vec<TraceLine>,
}

impl RtError {
    /// An ordinary error; the VM adds the trace.
    pub fn new(message: impl Into<String>) -> RtError {
        RtError { message: message.into(), kind: RtKind::Error, trace: Vec::new() }
    }

    /// The error an interrupt becomes.
    pub fn interrupted() -> RtError {
        RtError { message: "interrupted".into(), kind: RtKind::Interrupted, trace: Vec::new() }
    }

    /// `FILE:LINE:COL: error: MESSAGE` and the stack trace, without the
    /// source line (see [`RtError::render_in`]).
    pub fn render(&self, file: &str) -> String {
        self.render_in(file, "")
    }

    /// `FILE:LINE:COL: error: MESSAGE`, the source line with a caret under
    /// the failing operation (when `source` has that line), and the stack
    /// trace.
    ///
    /// A message longer than 200 characters is cut; a trace deeper than
    /// 21 frames (a runaway recursion) shows its first and last ten and
    /// counts the frames between, instead of printing ten thousand lines.
    pub fn render_in(&self, file: &str, source: &str) -> String {
        let (line, col) = self.trace.last().map_or((0, 0), |t| (t.line, t.col));
        let message = shown_message(&self.message);
        let mut out = if col > 0 {
            format!("{file}:{line}:{col}: error: {message}\n")
        } else {
            format!("{file}:{line}: error: {message}\n")
        };
        if col > 0 {
            write_excerpt(&mut out, source, line, col);
        }
        if !self.trace.is_empty() {
            out.push_str("stack trace (most recent call last):\n");
            let frame_line = |out: &mut String, frame: &TraceLine| {
                let _ = writeln!(out, "  {file}:{} in {}", frame.line, frame.function);
            };
            if self.trace.len() <= MAX_TRACE_SHOWN {
                self.trace.iter().for_each(|f| frame_line(&mut out, f));
            } else {
                let hidden = self.trace.len() - 2 * TRACE_ENDS;
                self.trace[..TRACE_ENDS].iter().for_each(|f| frame_line(&mut out, f));
                let _ = writeln!(out, "  … {} more frames of depth", thousands(hidden));
                self.trace[hidden + TRACE_ENDS..].iter().for_each(|f| frame_line(&mut out, f));
            }
        }
        out
    }
}

/// `9990` as `9,990`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

impl std::fmt::Display for RtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RtError {}
