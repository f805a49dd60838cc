//! The demo: a spinner thread that needs the lock, beside a long C call
//! that keeps it or releases it.
//!
//! This module owns the demo's configuration, its run and its report. It
//! uses the lock only through [`crate::gil`]'s public API and the C library
//! only through [`crate::ffi::clib`]; terminal output is `screen.rs`'s job.

pub mod screen;
pub mod spinner;

use std::time::{Duration, Instant};

use crate::ffi::clib::{self, CError, Hold};
use crate::gil::{self, Policy};
use screen::Screen;
use spinner::Spinner;

/// What one demo run does.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Whether the C code releases the lock.
    pub release: bool,
    /// How long the C call runs.
    pub seconds: f64,
    /// The spinner's frame interval.
    pub frame: Duration,
    /// The lock's switch interval.
    pub switch_interval: Duration,
    /// The lock's hand-off policy.
    pub policy: Policy,
}

/// What one demo run measured.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// The configuration that ran.
    pub config: DemoConfig,
    /// Frames the spinner drew while the C call ran.
    pub frames: usize,
    /// Frames it would have drawn had it never frozen.
    pub expected_frames: usize,
    /// The longest time between two frames (or from start to first frame).
    pub longest_gap: Duration,
    /// The mean time between frames.
    pub mean_gap: Duration,
    /// Lock switches during the run.
    pub switches: u64,
    /// How long the C call ran with the lock held.
    pub c_lock_held: Duration,
    /// How long it ran with the lock released.
    pub c_lock_released: Duration,
    /// Whether Ctrl+C ended the run early.
    pub interrupted: bool,
}

/// Run the demo once and report.
pub fn run(config: &DemoConfig, screen: &'static Screen) -> std::io::Result<DemoReport> {
    gil::set_switch_interval(config.switch_interval);
    gil::set_policy(config.policy);
    gil::set_thread_name("main");
    let mode = if config.release { "releases" } else { "keeps" };
    screen.heading(&format!(
        "C computes for {:.1} s and {mode} the lock; the spinner needs the lock for every frame:",
        config.seconds
    ));
    let epoch = Instant::now();
    let frame = config.frame;
    let expected_total = (config.seconds / frame.as_secs_f64()).floor() as u64;
    let switches_before = gil::switch_number();
    let spinner = Spinner::start(epoch, frame, move |n, longest| {
        screen.frame(n, epoch.elapsed(), expected_total, longest);
    })?;
    let ms = (config.seconds * 1000.0).round() as i64;
    let hold = if config.release { Hold::Release } else { Hold::Keep };
    let (result, c_start, c_end) = gil::attach(|token| {
        let c_start = epoch.elapsed();
        let result = clib::busy_wait_ms(token, ms, hold);
        (result, c_start, epoch.elapsed())
    });
    let log = spinner.stop();
    screen.end_live();
    let interrupted = result == Err(CError::Interrupted);
    let c_time = c_end - c_start;
    let frames = log.frames_between(c_start, c_end);
    let window_log = spinner::FrameLog {
        times: log
            .times
            .iter()
            .filter(|t| **t >= c_start && **t < c_end)
            .map(|t| *t - c_start)
            .collect(),
    };
    Ok(DemoReport {
        config: config.clone(),
        frames,
        expected_frames: (c_time.as_secs_f64() / frame.as_secs_f64()).floor() as usize,
        longest_gap: window_log.longest_gap(c_time),
        mean_gap: window_log.mean_gap(c_time),
        switches: gil::switch_number() - switches_before,
        c_lock_held: if config.release { Duration::ZERO } else { c_time },
        c_lock_released: if config.release { c_time } else { Duration::ZERO },
        interrupted,
    })
}

/// Print a report's summary.
pub fn summarize(report: &DemoReport, screen: &Screen) {
    let c = &report.config;
    screen.line(&format!(
        "  release={}  spinner frames {}/{}  longest freeze {} ms  mean gap {:.1} ms  switches {}",
        if c.release { "on" } else { "off" },
        report.frames,
        report.expected_frames,
        report.longest_gap.as_millis(),
        report.mean_gap.as_secs_f64() * 1000.0,
        report.switches,
    ));
    if report.interrupted {
        screen.line("  interrupted");
    } else if c.release {
        screen.verdict("  C released the lock: the spinner kept spinning.");
    } else {
        screen.verdict(
            "  C kept the lock: every other thread, the spinner too, froze until C returned.",
        );
    }
}
