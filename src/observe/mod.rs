//! Seeing the lock: statistics, a timeline trace and a picture, built from
//! the events the lock's recorder ([`crate::gil::recorder`]) collects.
//! A recording is started with [`start`] and ended with [`finish`].
//!
//! | file | owns |
//! |---|---|
//! | `timeline.rs` | events to per-thread spans of states, waits and switches |
//! | `stats.rs` | percentiles, totals, switches by reason, who made whom wait |
//! | `trace.rs` | the Chrome Trace Event Format file (Perfetto, chrome://tracing) |
//! | `svg.rs` | a trace drawn as an SVG timeline |
//!
//! Nothing here touches the lock or the interpreter; it reads events.

pub mod stats;
pub mod svg;
pub mod timeline;
pub mod trace;

use std::path::PathBuf;

use crate::gil::recorder;

/// What to produce from a recording.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// Print the statistics table.
    pub stats: bool,
    /// Write the statistics as JSON here.
    pub stats_json: Option<PathBuf>,
    /// Write a Chrome trace here.
    pub trace: Option<PathBuf>,
}

impl Outputs {
    /// Whether anything needs recording.
    pub fn wanted(&self) -> bool {
        self.stats || self.stats_json.is_some() || self.trace.is_some()
    }
}

/// Start a recording (dropping any earlier one's events); end it with
/// [`finish`].
pub fn start() {
    recorder::start_recording();
}

/// Stop the recorder and write what `outputs` asks for. Returns the
/// statistics table if `--stats` was given.
pub fn finish(outputs: &Outputs) -> std::io::Result<Option<String>> {
    let end = recorder::now_ns();
    let events = recorder::stop_recording();
    let lost = recorder::lost_events();
    if lost > 0 {
        crate::stderr_println!(
            "gilscope: {lost} lock events were lost (a thread's recording ring was full); \
             the statistics and the trace undercount"
        );
    }
    let timeline = timeline::build(&events, end);
    if let Some(path) = &outputs.trace {
        trace::write_chrome_trace(&timeline, std::fs::File::create(path)?)?;
    }
    let mut stats = stats::compute(&timeline);
    stats.lost_events = lost;
    if let Some(path) = &outputs.stats_json {
        std::fs::write(path, serde_json::to_vec_pretty(&stats).map_err(std::io::Error::other)?)?;
    }
    Ok(outputs.stats.then(|| stats.table()))
}
