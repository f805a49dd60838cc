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

impl SyntaxError {
    /// `FILE:LINE:COL: error: MESSAGE`, the source line, and a caret.
    pub fn render(&self, file: &str, source: &str) -> String {
        let mut out = format!("{file}:{}:{}: error: {}\n", self.line, self.col, self.message);
        if let Some(text) = source.lines().nth(self.line as usize - 1) {
            // Long lines are cut around the column so the caret stays visible.
            let chars: Vec<char> = text.chars().collect();
            let col = (self.col as usize).saturating_sub(1).min(chars.len());
            let start = col.saturating_sub(60);
            let end = (col + 60).min(chars.len());
            let shown: String =
                chars[start..end].iter().map(|c| if c.is_control() { ' ' } else { *c }).collect();
            let prefix = if start > 0 { "..." } else { "" };
            let _ = writeln!(out, "    {prefix}{shown}");
            let _ = writeln!(out, "    {}^", " ".repeat(prefix.len() + col - start));
        }
        out
    }
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

    /// `FILE:LINE: error: MESSAGE` and the stack trace.
    pub fn render(&self, file: &str) -> String {
        let line = self.trace.last().map_or(0, |t| t.line);
        let mut out = format!("{file}:{line}: error: {}\n", self.message);
        if !self.trace.is_empty() {
            out.push_str("stack trace (most recent call last):\n");
            for frame in &self.trace {
                let _ = writeln!(out, "  {file}:{} in {}", frame.line, frame.function);
            }
        }
        out
    }
}

impl std::fmt::Display for RtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RtError {}
