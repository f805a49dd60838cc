//! The terminal the demo draws on, and its restoration on every way out.
//!
//! This module owns the process-wide terminal state the demo changes — raw
//! mode (for single key presses) and the hidden cursor — and is the only
//! code that writes to a live terminal, so it can promise: whatever ends the
//! demo (the end of the run, `q`, Ctrl+C, a panic, or SIGTERM, SIGHUP or
//! SIGQUIT from outside), raw mode is switched off and the cursor is shown
//! again before the process goes on or goes away.
//!
//! Signals are caught by a `signal-hook` iterator on an ordinary thread (no
//! work in a signal handler): it restores the terminal, stops all further
//! drawing, and then lets the signal do what it would have done by default.
//! A panic hook does the same restore before the usual panic message.
//! SIGINT stays with the program's Ctrl+C handler, which ends the run in
//! order (and so restores through [`Terminal`]'s `Drop`).

use std::io::{IsTerminal, Write};
use std::sync::Once;
use std::time::Duration;

use crossterm::terminal;
use parking_lot::Mutex;

/// What the demo has changed on the terminal and must undo.
struct Changes {
    raw: bool,
    cursor_hidden: bool,
    /// Set after a fatal signal's restore: nothing may draw any more.
    closed: bool,
}

static CHANGES: Mutex<Changes> =
    Mutex::new(Changes { raw: false, cursor_hidden: false, closed: false });

/// How stdout can be written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// A terminal that understands cursor movement (not `TERM=dumb`).
    pub live: bool,
    /// Colour allowed: live and `NO_COLOR` unset or empty.
    pub color: bool,
}

impl Capabilities {
    /// Plain text only: no cursor movement, no colour.
    pub const NONE: Capabilities = Capabilities { live: false, color: false };

    /// What stdout allows, from whether it is a terminal, `TERM` and
    /// `NO_COLOR`.
    pub fn of_stdout() -> Capabilities {
        let term_dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        let live = std::io::stdout().is_terminal() && !term_dumb;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Capabilities { live, color: live && !no_color }
    }
}

/// The size of the terminal on stdout as (columns, rows), if it is one and
/// reports a size.
pub fn size() -> Option<(u16, u16)> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which
    // points to a live, writable `winsize` on this stack frame.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0 && size.ws_row > 0).then_some((size.ws_col, size.ws_row))
}

/// Whether keys can be read: stdin and stdout are both terminals.
pub fn keys_available() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The demo's hold on the terminal: while it lives the cursor may be hidden
/// and the terminal raw; dropping it undoes both.
pub struct Terminal {
    _private: (),
}

impl Terminal {
    /// Take the terminal: hide the cursor if it is live, and go raw if
    /// `raw` is asked for and keys can be read. Installs, once per process,
    /// the panic hook and the signal thread that restore it.
    pub fn open(caps: Capabilities, raw: bool) -> Terminal {
        install_restorers();
        let mut changes = CHANGES.lock();
        if raw && keys_available() && !changes.closed && terminal::enable_raw_mode().is_ok() {
            changes.raw = true;
        }
        if caps.live && !changes.closed {
            changes.cursor_hidden = true;
            write_locked(&changes, "\x1b[?25l");
        }
        Terminal { _private: () }
    }

    /// Whether the terminal is in raw mode (keys arrive one by one).
    pub fn is_raw(&self) -> bool {
        CHANGES.lock().raw
    }
}

/// Write `text` to stdout, unless a fatal signal has closed the terminal
/// (so nothing hides the cursor again after it was restored).
pub fn write(text: &str) {
    let changes = CHANGES.lock();
    write_locked(&changes, text);
}

impl Drop for Terminal {
    fn drop(&mut self) {
        restore(&mut CHANGES.lock());
    }
}

fn write_locked(changes: &Changes, text: &str) {
    if changes.closed {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Undo every change: raw mode off, cursor shown.
fn restore(changes: &mut Changes) {
    if changes.raw {
        let _ = terminal::disable_raw_mode();
        changes.raw = false;
    }
    if changes.cursor_hidden {
        write_locked(changes, "\x1b[?25h");
        changes.cursor_hidden = false;
    }
}

fn install_restorers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The panicking thread may itself hold the lock (a panic while
            // writing): then give up on restoring rather than deadlock.
            if let Some(mut changes) = CHANGES.try_lock_for(Duration::from_millis(200)) {
                restore(&mut changes);
            }
            previous(info);
        }));
        use signal_hook::consts::{SIGHUP, SIGQUIT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGQUIT])
        else {
            return;
        };
        let _ = std::thread::Builder::new().name("signals".into()).spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // A drawing thread stuck writing to a terminal that is not
                // read (a frozen emulator) must not keep the signal from
                // ending the process: then end it without the restore.
                if let Some(mut changes) = CHANGES.try_lock_for(Duration::from_secs(1)) {
                    restore(&mut changes);
                    changes.closed = true;
                }
                // Now do what the signal does by default: end the process.
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        });
    });
}
