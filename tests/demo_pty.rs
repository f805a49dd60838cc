//! The demo on a pseudo-terminal, read back through a terminal emulator
//! (`vt100`): at 40×10, 80×24 and 200×50, across resizes, and after exits
//! by the end of the run, `q`, Ctrl+C and SIGTERM. What is checked is what
//! a user would see: no line wider than the terminal (no row ever wraps),
//! exactly one spinner line after every panel drawn, the terminal settings
//! and the cursor restored afterwards, and an end screen that agrees with
//! the run and with `--json`.
//!
//! Every test runs under a watchdog and kills its demo if it fails. Runs
//! are short or ended by a key; nothing asserts how long anything took.

mod common;

use std::num::NonZeroU16;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any one wait may take before the test gives up: generous, for
/// a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// A demo running on a pseudo-terminal, and what its screen shows.
struct Session {
    master: OwnedFd,
    slave: OwnedFd,
    child: Child,
    parser: vt100::Parser,
    /// Everything the demo wrote.
    output: Vec<u8>,
    /// Rows seen wrapped: lines wider than the terminal.
    wrapped: Vec<String>,
    /// Panels drawn (each ends with erase-below) and what was wrong in them.
    panels: usize,
    bad_panels: Vec<String>,
    /// The screen as the last panel left it.
    last_panel: String,
    /// Whether rows may not wrap (not so for `--json`'s one long line).
    check_width: bool,
    /// After a resize, output laid out for the old size may still be in
    /// flight: wrapping is not checked until the demo clears the screen.
    awaiting_clear: bool,
    /// Where the output stood at the last resize.
    resized_at: usize,
    before: libc::termios,
    status: Option<ExitStatus>,
}

fn nonzero(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("a terminal size is not zero")
}

fn winsize(cols: u16, rows: u16) -> libc::winsize {
    libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 }
}

fn termios_of(fd: &OwnedFd) -> libc::termios {
    // SAFETY: termios is plain data; all-zero is a valid value to overwrite.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open terminal descriptor and `t` a live termios.
    let rc = unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) };
    assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
    t
}

fn same_termios(a: &libc::termios, b: &libc::termios) -> bool {
    a.c_iflag == b.c_iflag
        && a.c_oflag == b.c_oflag
        && a.c_cflag == b.c_cflag
        && a.c_lflag == b.c_lflag
        && a.c_cc == b.c_cc
}

/// Whether `row` is the spinner's line: a spinner glyph, then "spinner".
fn is_spinner_line(row: &str) -> bool {
    let row = row.trim_start();
    let mut chars = row.chars();
    matches!(chars.next(), Some('|' | '/' | '-' | '\\'))
        && chars.as_str().trim_start().starts_with("spinner")
}

impl Session {
    fn start(cols: u16, rows: u16, args: &[&str]) -> Session {
        Session::start_with(cols, rows, args, |_| {})
    }

    fn start_with(
        cols: u16,
        rows: u16,
        args: &[&str],
        tweak: impl FnOnce(&mut Command),
    ) -> Session {
        let (mut master, mut slave) = (-1, -1);
        let size = winsize(cols, rows);
        // SAFETY: openpty writes two descriptors through valid pointers; a
        // null name and termios are allowed; `size` is a live winsize.
        let rc = unsafe {
            libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size)
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty succeeded, so both are fresh descriptors we own.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let before = termios_of(&slave);
        let mut command = Command::new(env!("CARGO_BIN_EXE_gilscope"));
        command
            .arg("demo")
            .args(args)
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        tweak(&mut command);
        // SAFETY: between fork and exec the closure calls only setsid,
        // ioctl and setrlimit, all async-signal-safe. It makes the pty the
        // child's controlling terminal, as a terminal emulator would, and
        // keeps SIGQUIT from leaving a core file behind.
        unsafe {
            command.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY as _, 0);
                let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                Ok(())
            });
        }
        let child = command.spawn().expect("start the demo");
        Session {
            master,
            slave,
            child,
            parser: vt100::Parser::new(nonzero(rows), nonzero(cols), 0),
            output: Vec::new(),
            wrapped: Vec::new(),
            panels: 0,
            bad_panels: Vec::new(),
            last_panel: String::new(),
            check_width: !args.contains(&"--json"),
            awaiting_clear: false,
            resized_at: 0,
            before,
            status: None,
        }
    }

    fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (cols.get(), rows.get())
    }

    fn rows(&self) -> Vec<String> {
        let (cols, _) = self.size();
        self.parser.screen().rows(0, cols).collect()
    }

    fn screen_text(&self) -> String {
        self.rows().join("\n")
    }

    /// Feed output to the emulator piece by piece (each line, each panel),
    /// checking after each piece.
    fn feed(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
        let mut rest = bytes;
        while !rest.is_empty() {
            let end = piece_end(rest);
            let (piece, tail) = rest.split_at(end);
            rest = tail;
            self.parser.process(piece);
            if self.awaiting_clear {
                if self.output[self.resized_at..].windows(4).any(|w| w == b"\x1b[2J") {
                    self.awaiting_clear = false;
                }
                continue;
            }
            if self.check_width {
                self.check_wrapping();
            }
            if piece.ends_with(b"\x1b[J") {
                self.check_panel();
            }
        }
    }

    fn check_wrapping(&mut self) {
        let (_, rows) = self.size();
        for row in 0..rows {
            if self.parser.screen().row_wrapped(row) {
                let text = self.rows()[usize::from(row)].clone();
                self.wrapped.push(format!("{:?} row {row}: {text:?}", self.size()));
            }
        }
    }

    /// The panel just drawn (below an earlier part's summary, in a tour)
    /// has exactly one spinner line.
    fn check_panel(&mut self) {
        self.panels += 1;
        let rows = self.rows();
        let below = rows.iter().rposition(|r| r == "Summary").map_or(0, |i| i + 1);
        self.last_panel = rows[below..].join("\n");
        let spinners = rows[below..].iter().filter(|r| is_spinner_line(r)).count();
        if spinners != 1 {
            let screen = self.screen_text();
            self.bad_panels
                .push(format!("{spinners} spinner lines at {:?}:\n{screen}", self.size()));
        }
    }

    /// Read what the demo wrote for up to `wait`, until `done` holds.
    fn pump_until(&mut self, wait: Duration, done: impl Fn(&Session) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if done(self) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let mut poll =
                libc::pollfd { fd: self.master.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let ms = left.as_millis().min(50) as i32;
            // SAFETY: one live pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, ms) };
            if ready > 0 {
                let mut buf = [0u8; 4096];
                // SAFETY: reading into a live buffer of its own length.
                let n = unsafe {
                    libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n > 0 {
                    self.feed(&buf[..n as usize]);
                    continue;
                }
            }
            if self.status.is_none() {
                self.status = self.child.try_wait().expect("try_wait");
            }
        }
    }

    /// Wait for the first panel.
    fn wait_for_panel(&mut self) {
        let started = self.panels;
        assert!(
            self.pump_until(PATIENCE, |s| s.panels > started),
            "no panel drawn:\n{}",
            self.screen_text()
        );
    }

    fn wait_for_text(&mut self, text: &str) {
        assert!(
            self.pump_until(PATIENCE, |s| s.screen_text().contains(text)),
            "{text:?} never shown; screen:\n{}",
            self.screen_text()
        );
    }

    fn send(&mut self, bytes: &[u8]) {
        // SAFETY: writing a live buffer of its own length to our master.
        let n = unsafe { libc::write(self.master.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(n, bytes.len() as isize);
    }

    /// Resize the terminal, as a window manager would: the pty's size, the
    /// emulator's, and SIGWINCH.
    fn resize(&mut self, cols: u16, rows: u16) {
        let size = winsize(cols, rows);
        // SAFETY: TIOCSWINSZ reads one live winsize.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(rc, 0);
        self.parser.set_size(nonzero(rows), nonzero(cols));
        self.awaiting_clear = true;
        self.resized_at = self.output.len();
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGWINCH) };
    }

    fn signal(&mut self, signal: i32) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Wait for the demo to exit, reading all it writes.
    fn wait(&mut self) -> ExitStatus {
        let exited = self.pump_until(PATIENCE, |s| s.status.is_some());
        assert!(exited, "the demo did not exit; screen:\n{}", self.screen_text());
        // Whatever it wrote last.
        self.pump_until(Duration::from_millis(200), |_| false);
        self.status.expect("exited")
    }

    /// The checks every session ends with: no wrapped row, every panel
    /// with its one spinner line, the terminal settings and cursor back.
    fn assert_clean(&self) {
        assert!(self.wrapped.is_empty(), "lines wider than the terminal: {:#?}", self.wrapped);
        assert!(self.bad_panels.is_empty(), "bad panels: {:#?}", self.bad_panels);
        assert!(!self.awaiting_clear, "no redraw after the last resize");
        let after = termios_of(&self.slave);
        assert!(same_termios(&self.before, &after), "terminal settings not restored");
        assert!(!self.parser.screen().hide_cursor(), "cursor left hidden");
    }

    fn output_text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Where the next piece to check ends: after a newline or after the
/// erase-below that ends each panel, whichever is first.
fn piece_end(bytes: &[u8]) -> usize {
    let newline = bytes.iter().position(|&b| b == b'\n').map(|i| i + 1);
    let panel = bytes.windows(3).position(|w| w == b"\x1b[J").map(|i| i + 3);
    match (newline, panel) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => bytes.len(),
    }
}

fn in_watchdog<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    common::watchdog(300, name, f)
}

/// The number after `label` in `text`, e.g. "frames 3 of 40" → 3.
fn number_after(text: &str, label: &str) -> f64 {
    let at = text.find(label).unwrap_or_else(|| panic!("{label:?} not in:\n{text}"));
    let rest = text[at + label.len()..].trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    rest[..end].parse().unwrap_or_else(|_| panic!("no number after {label:?} in:\n{text}"))
}

#[test]
fn a_run_to_its_end_fits_40x10_80x24_and_200x50_and_even_20x5() {
    in_watchdog("sizes", || {
        for (cols, rows) in [(40, 10), (80, 24), (200, 50), (20, 5)] {
            let mut s = Session::start(cols, rows, &["--strip", "--seconds", "1.5"]);
            let status = s.wait();
            assert!(status.success(), "{status:?}\n{}", s.output_text());
            s.assert_clean();
            assert!(s.panels >= 2, "{cols}x{rows}: {} panels", s.panels);
            assert!(s.output_text().contains("Summary"), "{}", s.screen_text());
            let last = &s.last_panel;
            // On a busy machine the spinner may miss frames even with the
            // lock released; the verdict then says so, and either is right.
            let kept = [
                "spinner kept spinning",
                "spinner kept up",
                "C released the lock: the spinner spun",
            ];
            assert!(kept.iter().any(|k| last.contains(k)), "{cols}x{rows}: {last}");
            assert!(!last.contains("keys:"), "key hints after the end: {last}");
        }
    });
}

#[test]
fn resizing_mid_run_redraws_one_clean_panel() {
    in_watchdog("resize", || {
        let mut s = Session::start(80, 24, &["--strip", "--seconds", "30"]);
        s.wait_for_panel();
        for (cols, rows) in [(60, 24), (40, 10), (200, 50), (80, 24)] {
            s.resize(cols, rows);
            let panels = s.panels;
            assert!(
                s.pump_until(PATIENCE, |s| !s.awaiting_clear && s.panels >= panels + 3),
                "no redraw at {cols}x{rows}:\n{}",
                s.screen_text()
            );
        }
        s.send(b"q");
        assert!(s.wait().success());
        s.assert_clean();
    });
}

#[test]
fn q_stops_the_run_and_restores_the_terminal() {
    in_watchdog("q", || {
        let mut s = Session::start(80, 24, &["--seconds", "30"]);
        s.wait_for_panel();
        assert!(s.screen_text().contains("[q] quit"), "{}", s.screen_text());
        s.send(b"q");
        let status = s.wait();
        assert_eq!(status.code(), Some(0), "{}", s.output_text());
        s.assert_clean();
        let screen = s.screen_text();
        assert!(screen.contains("stopped with q"), "{screen}");
        assert!(screen.contains("stopped (q)"), "the key log: {screen}");
    });
}

#[test]
fn ctrl_c_ends_the_run_with_130_and_restores_the_terminal() {
    in_watchdog("ctrl-c", || {
        let mut s = Session::start(80, 24, &["--release", "off", "--seconds", "30"]);
        s.wait_for_panel();
        s.send(b"\x03");
        let status = s.wait();
        assert_eq!(status.code(), Some(130), "{}", s.output_text());
        s.assert_clean();
        assert!(s.screen_text().contains("Interrupted."), "{}", s.screen_text());
    });
}

#[test]
fn sigterm_sighup_and_sigquit_restore_the_terminal() {
    in_watchdog("signals", || {
        for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            let mut s = Session::start(80, 24, &["--strip", "--seconds", "30"]);
            s.wait_for_panel();
            s.signal(signal);
            let status = s.wait();
            assert_eq!(status.signal(), Some(signal), "{status:?}");
            s.assert_clean();
        }
    });
}

#[test]
fn the_end_screen_of_a_frozen_spinner_agrees_with_json() {
    in_watchdog("frozen", || {
        let mut s = Session::start(80, 24, &["--release", "off", "--seconds", "1.5"]);
        assert!(s.wait().success());
        s.assert_clean();
        let screen = s.screen_text();
        assert!(screen.contains("spinner froze: 0 of"), "{screen}");
        assert!(!screen.contains("spinner spinning"), "{screen}");
        let summary = &screen[screen.find("Summary").expect("a summary")..];
        assert_eq!(number_after(summary, "frames"), 0.0, "{screen}");

        let json = json_run(&["--release", "off", "--seconds", "1.5"], &[]);
        assert_eq!(json["frames"], 0, "{json}");
        assert_eq!(json["ended"], "done", "{json}");
        assert!(summary.contains("C kept the lock: every other thread"), "{screen}");
    });
}

#[test]
fn key_changes_reach_the_header_the_summary_and_json() {
    in_watchdog("keys", || {
        // C work: r flips release; the header follows it.
        let mut s = Session::start(200, 50, &["--seconds", "30"]);
        s.wait_for_panel();
        assert!(s.screen_text().contains("and releases the lock"));
        s.send(b"r");
        s.wait_for_text("and keeps the lock");
        s.send(b"q");
        assert!(s.wait().success());
        s.assert_clean();
        let screen = s.screen_text();
        assert!(screen.contains("released at first and kept at the end"), "{screen}");
        assert!(screen.contains("C keeps the lock (r)"), "{screen}");

        let json = json_run(&["--seconds", "30"], &[b"r", b"q"]);
        assert_eq!(json["release"], true, "{json}");
        assert_eq!(json["release_at_end"], false, "{json}");
        assert_eq!(json["ended"], "stopped", "{json}");
        let changes = json["changes"].as_array().expect("changes");
        assert_eq!(changes[0]["change"], "release", "{json}");
        assert_eq!(changes[0]["release"], false, "{json}");
        assert_eq!(changes.last().unwrap()["change"], "stop", "{json}");

        // Interpreted work: + doubles the switch interval, r does nothing.
        let mut s = Session::start(80, 24, &["--work", "bytecode", "--seconds", "30"]);
        s.wait_for_panel();
        let hints = s.screen_text();
        assert!(hints.contains("[+/-] switch interval") && !hints.contains("[r]"), "{hints}");
        s.send(b"r");
        s.send(b"+");
        s.wait_for_text("switch interval 10.0 ms");
        s.send(b"+");
        s.wait_for_text("switch interval 20.0 ms");
        s.send(b"q");
        assert!(s.wait().success());
        s.assert_clean();
        let screen = s.screen_text();
        assert!(screen.contains("5.0 ms at first, 20.0 ms at the end"), "{screen}");
        assert!(!screen.contains("(r)"), "r changed something in bytecode mode: {screen}");

        let json = json_run(&["--work", "bytecode", "--seconds", "30"], &[b"+", b"+", b"q"]);
        assert_eq!(json["switch_interval_ms"], 5.0, "{json}");
        assert_eq!(json["switch_interval_at_end_ms"], 20.0, "{json}");
        let changes = json["changes"].as_array().expect("changes");
        assert_eq!(changes.len(), 3, "{json}");
        assert_eq!(changes[1]["switch_interval_ms"], 20.0, "{json}");
    });
}

#[test]
fn without_keys_there_are_no_key_hints() {
    in_watchdog("no keys", || {
        let mut s = Session::start_with(80, 24, &["--seconds", "1"], |c| {
            c.stdin(Stdio::null());
        });
        s.wait_for_panel();
        assert!(!s.screen_text().contains("keys:"), "{}", s.screen_text());
        assert!(s.wait().success());
        s.assert_clean();
    });
}

#[test]
fn the_tour_reads_keys_q_skips_a_part_and_ctrl_c_ends_it() {
    in_watchdog("tour", || {
        let mut s = Session::start(80, 24, &["--tour", "--seconds", "30"]);
        s.wait_for_text("part 1/2");
        s.wait_for_text("[q] next part");
        s.send(b"q");
        s.wait_for_text("part 2/2");
        s.wait_for_text("[q] quit");
        s.send(b"\x03");
        assert_eq!(s.wait().code(), Some(130));
        s.assert_clean();
    });
}

#[test]
fn no_color_and_term_dumb_are_respected() {
    in_watchdog("colour", || {
        let mut s = Session::start_with(80, 24, &["--seconds", "1"], |c| {
            c.env("NO_COLOR", "1");
        });
        assert!(s.wait().success());
        s.assert_clean();
        let out = s.output_text();
        assert!(out.contains("\x1b[?25l"), "a live panel is still drawn");
        assert!(!has_colour(&out), "colour with NO_COLOR: {out:?}");

        let mut s = Session::start_with(80, 24, &["--seconds", "1"], |c| {
            c.env("TERM", "dumb");
        });
        assert!(s.wait().success());
        s.assert_clean();
        let out = s.output_text();
        assert!(!out.contains('\x1b'), "escape codes with TERM=dumb: {out:?}");
        assert!(out.contains("Summary"), "{out}");
    });
}

/// Run `demo --json ARGS` on a pseudo-terminal, typing `keys` one by one
/// once it runs, and return its report.
fn json_run(args: &[&str], keys: &[&[u8]]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let mut s = Session::start(200, 50, &args);
    for key in keys {
        // The keys are read once the terminal is raw.
        assert!(
            s.pump_until(PATIENCE, |s| termios_of(&s.slave).c_lflag & libc::ICANON == 0),
            "the terminal never went raw"
        );
        s.send(key);
        // Wait until the key was read before the next.
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = s.wait();
    assert!(status.success(), "{status:?}: {}", s.output_text());
    s.assert_clean();
    let text = s.output_text();
    let line = text.lines().find(|l| l.trim_start().starts_with('{')).expect("a JSON line");
    serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Whether `text` has an SGR (colour or style) escape sequence.
fn has_colour(text: &str) -> bool {
    text.match_indices("\x1b[").any(|(at, _)| {
        let rest = &text[at + 2..];
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == ';')).unwrap_or(rest.len());
        rest[end..].starts_with('m')
    })
}

/// The strip row of `thread` in `panel`: the characters between its bars.
fn strip_row(panel: &str, thread: &str) -> String {
    let row = panel
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{thread} |")))
        .unwrap_or_else(|| panic!("no strip row for {thread}:\n{panel}"));
    row.split('|').nth(1).expect("a row between bars").to_owned()
}

#[test]
fn the_strip_shows_the_state_a_thread_spent_most_of_each_slot_in() {
    in_watchdog("strip", || {
        // C releases the lock: the spinner sleeps between frames and waits
        // microseconds for the lock, so its slots are not "waiting".
        let mut s = Session::start(200, 50, &["--strip", "--seconds", "2"]);
        assert!(s.wait().success());
        s.assert_clean();
        let spinner = strip_row(&s.last_panel, "spinner");
        let waiting = spinner.chars().filter(|&c| c == '░').count();
        assert!(waiting * 4 < spinner.chars().count(), "{spinner:?}\n{}", s.last_panel);
        assert!(strip_row(&s.last_panel, "main").contains('▒'), "{}", s.last_panel);

        // C keeps the lock: the spinner waits for it the whole time.
        let mut s = Session::start(200, 50, &["--strip", "--release", "off", "--seconds", "2"]);
        assert!(s.wait().success());
        s.assert_clean();
        let spinner = strip_row(&s.last_panel, "spinner");
        let waiting = spinner.chars().filter(|&c| c == '░').count();
        assert!(waiting >= 20, "{spinner:?}\n{}", s.last_panel);
        assert!(strip_row(&s.last_panel, "main").contains('▓'), "{}", s.last_panel);
    });
}
