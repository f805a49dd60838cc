//! The spinner: a thread that needs the lock to draw each frame.
//!
//! Every `frame` it wakes (sleeping without the lock), attaches, records the
//! frame and asks the screen to draw it, and detaches. While another thread
//! keeps the lock — C code that does not release it — the spinner cannot
//! attach, so it freezes; the gaps between its frames are what the demo
//! measures. It owns its frame log and touches nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::gil;

/// The frames of one spinner run.
#[derive(Clone, Debug, Default)]
pub struct FrameLog {
    /// When each frame was drawn, relative to the spinner's start.
    pub times: Vec<Duration>,
}

impl FrameLog {
    /// Frames drawn in `[from, to)`.
    pub fn frames_between(&self, from: Duration, to: Duration) -> usize {
        self.times.iter().filter(|t| **t >= from && **t < to).count()
    }

    /// The longest time between consecutive frames, including from the
    /// start to the first frame and from the last frame to `end`.
    pub fn longest_gap(&self, end: Duration) -> Duration {
        self.gaps(end).max().unwrap_or(end)
    }

    /// The mean time between consecutive frames, as above.
    pub fn mean_gap(&self, end: Duration) -> Duration {
        let gaps: Vec<_> = self.gaps(end).collect();
        if gaps.is_empty() { end } else { gaps.iter().sum::<Duration>() / gaps.len() as u32 }
    }

    fn gaps(&self, end: Duration) -> impl Iterator<Item = Duration> + '_ {
        let starts = std::iter::once(Duration::ZERO).chain(self.times.iter().copied());
        let ends = self.times.iter().copied().chain(std::iter::once(end));
        starts.zip(ends).map(|(a, b)| b.saturating_sub(a))
    }
}

/// A running spinner thread.
pub struct Spinner {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<FrameLog>,
}

impl Spinner {
    /// Start the spinner. `draw(frame_number, longest_gap_so_far)` runs
    /// with the lock held.
    pub fn start(
        epoch: Instant,
        frame: Duration,
        draw: impl Fn(u64, Duration) + Send + 'static,
    ) -> std::io::Result<Spinner> {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = thread::Builder::new().name("spinner".into()).spawn({
            let stop = Arc::clone(&stop);
            move || {
                gil::set_thread_name("spinner");
                let mut log = FrameLog::default();
                let mut longest = Duration::ZERO;
                let mut next = Instant::now() + frame;
                while !stop.load(SeqCst) {
                    let now = Instant::now();
                    if next > now {
                        thread::sleep(next - now);
                    }
                    if stop.load(SeqCst) {
                        break;
                    }
                    gil::attach(|_token| {
                        let now = epoch.elapsed();
                        let previous = log.times.last().copied().unwrap_or(now);
                        longest = longest.max(now - previous);
                        log.times.push(now);
                        draw(log.times.len() as u64, longest);
                    });
                    // After a freeze, carry on from now instead of bursting
                    // to catch up: one frame per interval, never more.
                    next = (next + frame).max(Instant::now());
                }
                log
            }
        })?;
        Ok(Spinner { stop, handle })
    }

    /// Stop the spinner and return its frames.
    pub fn stop(self) -> FrameLog {
        self.stop.store(true, SeqCst);
        self.handle.join().unwrap_or_default()
    }
}
