//! The demo: a spinner that needs the lock, beside a long computation that
//! keeps it or releases it.
//!
//! This module owns the demo's configuration, its shared state, its run and
//! its report. It uses the lock only through [`crate::gil`]'s public API and
//! C only through [`crate::ffi::clib`]. `work.rs` is the computation,
//! `spinner.rs` the three spinners, `screen.rs` what is drawn, `strip.rs`
//! the panel's strip of recent thread states, `layout.rs`
//! how text fits the width, `terminal.rs` the terminal itself (raw mode,
//! cursor, restoring both on every way out), `keys.rs` the keyboard.

pub mod keys;
pub mod layout;
pub mod screen;
pub mod spinner;
pub mod strip;
pub mod terminal;
pub mod work;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

use crate::gil::{self, Policy};
use screen::Screen;
use spinner::{CoroutineSpinner, FrameLog, ProcessSpinner, ThreadSpinner, gaps};
use terminal::{Capabilities, Terminal};

/// What the main thread computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Work {
    /// C code that keeps or releases the lock (`--release`).
    C,
    /// Interpreted bytecode: switches happen at the switch interval.
    Bytecode,
    /// C code that keeps the lock but calls `gs_check_switch()`.
    Check,
}

impl Work {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Work::C => "c",
            Work::Bytecode => "bytecode",
            Work::Check => "check",
        }
    }
}

/// Which spinner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SpinnerKind {
    /// A thread that attaches for every frame.
    Thread,
    /// A child process that needs no lock.
    Process,
    /// Stepped by the computation between pieces of work.
    Coroutine,
    /// A thread of another interpreter, which has a lock of its own.
    Interpreter,
}

impl SpinnerKind {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            SpinnerKind::Thread => "thread",
            SpinnerKind::Process => "process",
            SpinnerKind::Coroutine => "coroutine",
            SpinnerKind::Interpreter => "interpreter",
        }
    }
}

/// What one demo run does.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Whether C releases the lock at the start (`r` flips it).
    pub release: bool,
    /// The computation.
    pub work: Work,
    /// The spinner.
    pub spinner: SpinnerKind,
    /// How long the computation runs.
    pub seconds: f64,
    /// The spinner's frame interval.
    pub frame: Duration,
    /// The lock's switch interval at the start.
    pub switch_interval: Duration,
    /// The lock's hand-off policy.
    pub policy: Policy,
    /// Whether to read keys (when stdin and stdout are terminals).
    pub interactive: bool,
    /// In a tour, which part this run is and how many parts there are:
    /// `q` then skips to the next part instead of quitting.
    pub tour_part: Option<(usize, usize)>,
    /// Whether to print only the JSON report.
    pub json: bool,
    /// Statistics and traces to write at the end.
    pub outputs: crate::observe::Outputs,
    /// Whether the live panel shows a strip of recent states per thread.
    pub strip: bool,
}

/// State shared by the worker, the spinners, the screen and the keys.
pub struct DemoState {
    /// When the demo started.
    pub epoch: Instant,
    release: AtomicBool,
    toggles: AtomicU64,
    stop: AtomicBool,
    worker: AtomicU64,
    c_held_ns: AtomicU64,
    c_released_ns: AtomicU64,
    work_started: Mutex<Option<Duration>>,
    work_ended: Mutex<Option<Duration>>,
    switches_before: u64,
    changes: Mutex<Vec<Change>>,
    /// The frames drawn.
    pub frames: Arc<FrameLog>,
}

/// One change made with a key while the demo ran.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Change {
    /// Seconds since the computation started.
    pub at_s: f64,
    /// What changed.
    #[serde(flatten)]
    pub what: ChangeKind,
}

/// What a key changed; in JSON, `"change"` names it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ChangeKind {
    /// `r`: C releases the lock from now on (or keeps it).
    Release {
        /// Whether C releases it after the change.
        release: bool,
    },
    /// `+` or `-`: the lock's switch interval.
    SwitchInterval {
        /// The interval after the change, in milliseconds.
        switch_interval_ms: f64,
    },
    /// `q`: the computation was asked to stop early.
    Stop,
}

impl ChangeKind {
    /// What the key did, in words, and the key.
    pub fn describe(self) -> String {
        match self {
            ChangeKind::Release { release: true } => "C releases the lock (r)".to_owned(),
            ChangeKind::Release { release: false } => "C keeps the lock (r)".to_owned(),
            ChangeKind::SwitchInterval { switch_interval_ms } => {
                format!("switch interval {switch_interval_ms:.1} ms (+/-)")
            }
            ChangeKind::Stop => "stopped (q)".to_owned(),
        }
    }
}

impl DemoState {
    fn new(release: bool) -> Self {
        DemoState {
            epoch: Instant::now(),
            release: AtomicBool::new(release),
            toggles: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            worker: AtomicU64::new(0),
            c_held_ns: AtomicU64::new(0),
            c_released_ns: AtomicU64::new(0),
            work_started: Mutex::new(None),
            work_ended: Mutex::new(None),
            switches_before: gil::switch_number(),
            changes: Mutex::new(Vec::new()),
            frames: Arc::new(FrameLog::default()),
        }
    }

    /// Whether C releases the lock now.
    pub fn release(&self) -> bool {
        self.release.load(SeqCst)
    }

    /// Flip release on or off, and log the change.
    pub fn toggle_release(&self) {
        let mut changes = self.changes.lock();
        let release = !self.release.fetch_xor(true, SeqCst);
        self.toggles.fetch_add(1, SeqCst);
        changes
            .push(Change { at_s: self.seconds_into_work(), what: ChangeKind::Release { release } });
    }

    /// Set the lock's switch interval, and log the change.
    pub fn set_switch_interval(&self, interval: Duration) {
        let mut changes = self.changes.lock();
        if interval == gil::switch_interval() {
            return;
        }
        gil::set_switch_interval(interval);
        let switch_interval_ms = interval.as_secs_f64() * 1000.0;
        let what = ChangeKind::SwitchInterval { switch_interval_ms };
        changes.push(Change { at_s: self.seconds_into_work(), what });
    }

    /// Ask the work to stop early, and log it.
    pub fn request_stop(&self) {
        let mut changes = self.changes.lock();
        if !self.stop.swap(true, SeqCst) {
            changes.push(Change { at_s: self.seconds_into_work(), what: ChangeKind::Stop });
        }
    }

    /// The changes made so far, oldest first.
    pub fn changes(&self) -> Vec<Change> {
        self.changes.lock().clone()
    }

    fn seconds_into_work(&self) -> f64 {
        let started = self.work_started().unwrap_or_default();
        self.epoch.elapsed().saturating_sub(started).as_secs_f64()
    }

    /// Whether `q` was pressed.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(SeqCst)
    }

    /// The worker thread's serial number.
    pub fn worker_serial(&self) -> u64 {
        self.worker.load(SeqCst)
    }

    /// When the work started, if it has.
    pub fn work_started(&self) -> Option<Duration> {
        *self.work_started.lock()
    }

    /// When the work ended, if it has.
    pub fn work_ended(&self) -> Option<Duration> {
        *self.work_ended.lock()
    }

    fn add_c_held(&self, d: Duration) {
        self.c_held_ns.fetch_add(d.as_nanos() as u64, SeqCst);
    }

    fn add_c_released(&self, d: Duration) {
        self.c_released_ns.fetch_add(d.as_nanos() as u64, SeqCst);
    }
}

/// What one demo run measured; `--json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    /// Whether C released the lock at the start.
    pub release: bool,
    /// Times `r` flipped it.
    pub release_toggles: u64,
    /// `c`, `bytecode` or `check`.
    pub work: &'static str,
    /// `thread`, `process` or `coroutine`.
    pub spinner: &'static str,
    /// The hand-off policy.
    pub policy: String,
    /// The switch interval at the start, in milliseconds.
    pub switch_interval_ms: f64,
    /// How long the computation ran.
    pub seconds: f64,
    /// Frames drawn while it ran.
    pub frames: usize,
    /// Frames a never-frozen spinner would have drawn.
    pub expected_frames: usize,
    /// The longest time without a frame.
    pub longest_gap_ms: f64,
    /// The mean time between frames.
    pub mean_gap_ms: f64,
    /// Lock switches while it ran.
    pub switches: u64,
    /// Time C ran with the lock held.
    pub c_lock_held_ms: f64,
    /// Time C ran with the lock released.
    pub c_lock_released_ms: f64,
    /// Whether Ctrl+C ended it.
    pub interrupted: bool,
    /// How it ended: `done` (ran its time), `stopped` (`q`) or
    /// `interrupted` (Ctrl+C).
    pub ended: &'static str,
    /// Whether C released the lock at the end (after any `r`).
    pub release_at_end: bool,
    /// The switch interval at the end (after any `+`/`-`), in milliseconds.
    pub switch_interval_at_end_ms: f64,
    /// Every change made with a key, oldest first.
    pub changes: Vec<Change>,
    /// The configuration (not in JSON).
    #[serde(skip)]
    pub config: DemoConfig,
    /// The `--stats` table, if asked for (not in JSON).
    #[serde(skip)]
    pub stats_table: Option<String>,
}

impl DemoReport {
    /// One sentence: what the run showed.
    pub fn verdict(&self) -> String {
        if self.interrupted {
            return "Interrupted.".to_owned();
        }
        let kept_up = self.frames * 10 >= self.expected_frames * 9;
        let froze = self.frames == 0 && self.expected_frames > 0;
        match (self.config.spinner, self.config.work) {
            (SpinnerKind::Process, _) => {
                "The spinner process needs no lock, so it kept spinning whatever the computation did.".to_owned()
            }
            (SpinnerKind::Interpreter, _) if kept_up => format!(
                "The spinner runs in another interpreter with a lock of its own, so it kept \
                 spinning whatever this interpreter did: its longest wait was {:.0} ms.",
                self.longest_gap_ms
            ),
            (SpinnerKind::Interpreter, _) => format!(
                "The spinner runs in another interpreter with a lock of its own; it still missed \
                 frames (longest wait {:.0} ms): the machine had no core free for it.",
                self.longest_gap_ms
            ),
            (SpinnerKind::Coroutine, _) => format!(
                "The coroutine spinner moved only when the computation yielded to it: {} times.",
                self.frames
            ),
            (_, Work::C) if froze => {
                "C kept the lock: every other thread, the spinner too, froze until C returned.".to_owned()
            }
            (_, Work::C) if kept_up && self.release_toggles == 0 => {
                "C released the lock: the spinner kept spinning.".to_owned()
            }
            (_, Work::C) if self.release_toggles == 0 && self.config.release => format!(
                "C released the lock: the spinner spun, but missed frames (longest wait {:.0} ms): \
                 the machine had no core free for it.",
                self.longest_gap_ms
            ),
            (_, Work::C) => "The spinner moved only while C released the lock.".to_owned(),
            (_, Work::Check) => format!(
                "C kept the lock but offered it at gs_check_switch(): the spinner got a frame about every {:.0} ms.",
                self.mean_gap_ms
            ),
            (_, Work::Bytecode) => format!(
                "The interpreter handed the lock over at check points after each switch interval: the spinner's longest wait was {:.0} ms.",
                self.longest_gap_ms
            ),
        }
    }
}

enum RunningSpinner {
    Thread(ThreadSpinner),
    Process(ProcessSpinner),
    Coroutine(CoroutineSpinner),
}

impl RunningSpinner {
    /// Start the spinner `config` asks for, drawing into `state.frames`.
    fn start(config: &DemoConfig, state: &DemoState) -> std::io::Result<RunningSpinner> {
        Ok(match config.spinner {
            SpinnerKind::Thread => RunningSpinner::Thread(ThreadSpinner::start(
                state.epoch,
                config.frame,
                Arc::clone(&state.frames),
            )?),
            SpinnerKind::Interpreter => {
                let interpreter = gil::Interpreter::start().map_err(std::io::Error::other)?;
                RunningSpinner::Thread(ThreadSpinner::start_in(
                    Some(interpreter),
                    state.epoch,
                    config.frame,
                    Arc::clone(&state.frames),
                )?)
            }
            SpinnerKind::Process => RunningSpinner::Process(ProcessSpinner::start(
                state.epoch,
                config.frame,
                Arc::clone(&state.frames),
            )?),
            SpinnerKind::Coroutine => RunningSpinner::Coroutine(CoroutineSpinner::new(
                state.epoch,
                Arc::clone(&state.frames),
            )),
        })
    }

    /// Stop it (a coroutine spinner stops with the work).
    fn stop(self) {
        match self {
            RunningSpinner::Thread(s) => s.stop(),
            RunningSpinner::Process(s) => s.stop(),
            RunningSpinner::Coroutine(_) => {}
        }
    }
}

/// Start the thread that redraws `screen` every tick until `done`, then
/// hands the screen back for the final panel and the summary.
fn start_screen(
    mut screen: Screen,
    config: &DemoConfig,
    state: &Arc<DemoState>,
    done: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<Screen> {
    let (state, done, config) = (Arc::clone(state), Arc::clone(done), config.clone());
    std::thread::Builder::new()
        .name("screen".into())
        .spawn(move || {
            let mut tick = 0;
            while !done.load(SeqCst) {
                screen.tick(&config, &state, tick);
                tick += 1;
                std::thread::sleep(screen::TICK);
            }
            screen.closing_tick(&config, &state, tick);
            screen
        })
        .expect("start the screen thread")
}

/// Run the demo once. The calling thread does the work.
pub fn run(config: &DemoConfig) -> std::io::Result<DemoReport> {
    gil::set_switch_interval(config.switch_interval);
    gil::set_policy(config.policy);
    gil::set_thread_name("main");
    let state = Arc::new(DemoState::new(config.release));
    state.worker.store(gil::current_serial(), SeqCst);
    crate::observe::start();

    // Keys are read whenever they can be, with --json too (q still stops
    // the run early); the panel is drawn only without --json.
    // Not where the screen cannot draw a panel (TERM=dumb): raw mode would
    // turn its plain lines into a staircase.
    let caps = if config.json { Capabilities::NONE } else { Capabilities::of_stdout() };
    let wants_keys = config.interactive && terminal::keys_available() && (config.json || caps.live);
    let term = Terminal::open(caps, wants_keys);
    let keys = if term.is_raw() { keys::Keys::start(Arc::clone(&state), config) } else { None };
    let mut screen = (!config.json).then(|| Screen::new(caps, keys.is_some()));
    if let Some(screen) = &mut screen {
        screen.intro(config, &state);
    }

    let spinner = RunningSpinner::start(config, &state)?;

    // The screen redraws from its own thread, which never takes the lock.
    let screen_done = Arc::new(AtomicBool::new(false));
    let screen_thread =
        screen.take().map(|screen| start_screen(screen, config, &state, &screen_done));

    *state.work_started.lock() = Some(state.epoch.elapsed());
    let coroutine = match &spinner {
        RunningSpinner::Coroutine(c) => Some(c),
        _ => None,
    };
    let duration = Duration::from_secs_f64(config.seconds);
    let (started, ended_at, ended) = work::run(config.work, duration, &state, coroutine);
    *state.work_ended.lock() = Some(ended_at);
    // Keys stop with the work: nothing pressed after the end changes the
    // report.
    drop(keys);

    spinner.stop();
    screen_done.store(true, SeqCst);
    let mut screen = screen_thread.and_then(|t| t.join().ok());

    let times = state.frames.times();
    let window = gaps(&times, started, ended_at);
    let ran = ended_at - started;
    let mut report = DemoReport {
        release: config.release,
        release_toggles: state.toggles.load(SeqCst),
        work: config.work.name(),
        spinner: config.spinner.name(),
        policy: config.policy.to_string(),
        switch_interval_ms: config.switch_interval.as_secs_f64() * 1000.0,
        seconds: ran.as_secs_f64(),
        frames: window.frames,
        expected_frames: (ran.as_secs_f64() / config.frame.as_secs_f64()).floor() as usize,
        longest_gap_ms: window.longest.as_secs_f64() * 1000.0,
        mean_gap_ms: window.mean.as_secs_f64() * 1000.0,
        switches: gil::switch_number() - state.switches_before,
        c_lock_held_ms: state.c_held_ns.load(SeqCst) as f64 / 1e6,
        c_lock_released_ms: state.c_released_ns.load(SeqCst) as f64 / 1e6,
        interrupted: ended == work::Ended::Interrupted,
        ended: ended.name(),
        release_at_end: state.release(),
        switch_interval_at_end_ms: gil::switch_interval().as_secs_f64() * 1000.0,
        changes: state.changes(),
        config: config.clone(),
        stats_table: None,
    };
    // The final panel still shows the recording's strip; the summary
    // comes after the recording is finished, with its statistics.
    if let Some(screen) = &mut screen {
        screen.final_panel(&state, &report);
    }
    report.stats_table = crate::observe::finish(&config.outputs)?;
    if let Some(screen) = &mut screen {
        screen.summary(&report);
    }
    drop(term);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of a C-work run with the lock released throughout, in which
    /// the spinner drew `frames` of 100 frames.
    fn released_run(frames: usize) -> DemoReport {
        let config = DemoConfig {
            release: true,
            work: Work::C,
            spinner: SpinnerKind::Thread,
            seconds: 5.0,
            frame: Duration::from_millis(50),
            switch_interval: Duration::from_millis(5),
            policy: Policy::DEFAULT,
            interactive: false,
            tour_part: None,
            json: false,
            outputs: crate::observe::Outputs::default(),
            strip: false,
        };
        DemoReport {
            release: true,
            release_toggles: 0,
            work: config.work.name(),
            spinner: config.spinner.name(),
            policy: config.policy.to_string(),
            switch_interval_ms: 5.0,
            seconds: 5.0,
            frames,
            expected_frames: 100,
            longest_gap_ms: 180.0,
            mean_gap_ms: 60.0,
            switches: 0,
            c_lock_held_ms: 0.0,
            c_lock_released_ms: 5000.0,
            interrupted: false,
            ended: "done",
            release_at_end: true,
            switch_interval_at_end_ms: 5.0,
            changes: Vec::new(),
            config,
            stats_table: None,
        }
    }

    #[test]
    fn a_released_run_that_missed_frames_blames_the_machine_not_the_lock() {
        assert_eq!(released_run(100).verdict(), "C released the lock: the spinner kept spinning.");
        // It used to say the spinner "moved only while C released the
        // lock", as if the lock had been kept part of the time.
        let verdict = released_run(70).verdict();
        assert!(verdict.starts_with("C released the lock: the spinner spun, but missed frames"));
        assert!(verdict.contains("180 ms"), "{verdict}");
    }
}
