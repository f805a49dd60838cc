//! The spinners and the frame log they share.
//!
//! - [`ThreadSpinner`]: a thread that must attach to the lock for every
//!   frame. It freezes while another thread keeps the lock. Started in
//!   another interpreter ([`ThreadSpinner::start_in`]), it attaches to
//!   that interpreter's lock instead, which nothing else holds: the
//!   `interpreter` spinner, which keeps spinning beside any interpreted work.
//! - [`ProcessSpinner`]: a child process that needs no lock at all — the
//!   workaround the chapter shows with Python's `multiprocessing`. It sends
//!   a byte per frame down a pipe; a reader thread logs it.
//! - [`CoroutineSpinner`]: no thread; the computation steps it whenever it
//!   pauses between pieces of work, as a generator-driven spinner moves only
//!   when the code driving it yields.
//!
//! Each owns its thread or process and the frames it logs; none touches the
//! screen, which only reads the log.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::gil;

/// The frames drawn so far, as offsets from the demo's start.
#[derive(Default)]
pub struct FrameLog {
    times: Mutex<Vec<Duration>>,
}

impl FrameLog {
    /// Log a frame drawn now.
    pub fn frame(&self, epoch: Instant) {
        self.times.lock().push(epoch.elapsed());
    }

    /// How many frames so far.
    pub fn count(&self) -> usize {
        self.times.lock().len()
    }

    /// When the last frame was drawn.
    pub fn last(&self) -> Option<Duration> {
        self.times.lock().last().copied()
    }

    /// A copy of the frame times.
    pub fn times(&self) -> Vec<Duration> {
        self.times.lock().clone()
    }
}

/// Frame statistics over a window `[from, to)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gaps {
    /// Frames drawn in the window.
    pub frames: usize,
    /// The longest time without a frame, window edges included.
    pub longest: Duration,
    /// The mean time between frames, window edges included.
    pub mean: Duration,
}

/// Frames and gaps of `times` within `[from, to)`.
pub fn gaps(times: &[Duration], from: Duration, to: Duration) -> Gaps {
    let inside: Vec<Duration> = times.iter().copied().filter(|t| *t >= from && *t < to).collect();
    let edges = std::iter::once(from).chain(inside.iter().copied()).chain(std::iter::once(to));
    let points: Vec<Duration> = edges.collect();
    let spans: Vec<Duration> = points.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    let longest = spans.iter().copied().max().unwrap_or_default();
    let mean = if spans.is_empty() {
        Duration::ZERO
    } else {
        spans.iter().sum::<Duration>() / spans.len() as u32
    };
    Gaps { frames: inside.len(), longest, mean }
}

/// A thread that attaches to the lock for every frame.
pub struct ThreadSpinner {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl ThreadSpinner {
    /// Start it: every `frame` it sleeps (without the lock), attaches, and
    /// logs a frame.
    pub fn start(epoch: Instant, frame: Duration, log: Arc<FrameLog>) -> std::io::Result<Self> {
        Self::start_in(None, epoch, frame, log)
    }

    /// [`start`](Self::start), in `interpreter` if given (the spinner
    /// thread then belongs to it and takes its lock for every frame; the
    /// interpreter ends with the spinner).
    pub fn start_in(
        interpreter: Option<gil::Started>,
        epoch: Instant,
        frame: Duration,
        log: Arc<FrameLog>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = thread::Builder::new().name("spinner".into()).spawn({
            let stop = Arc::clone(&stop);
            move || {
                gil::set_thread_name("spinner");
                let mut next = Instant::now() + frame;
                while !stop.load(SeqCst) && !gil::interrupted() {
                    let now = Instant::now();
                    if next > now {
                        thread::sleep(next - now);
                    }
                    if stop.load(SeqCst) {
                        break;
                    }
                    match &interpreter {
                        Some(started) => {
                            gil::attach_to(started.interpreter(), |_token| log.frame(epoch));
                        }
                        None => gil::attach(|_token| log.frame(epoch)),
                    }
                    // After a freeze, one frame per interval from now on:
                    // no burst to catch up.
                    next = (next + frame).max(Instant::now());
                }
            }
        })?;
        Ok(ThreadSpinner { stop, handle })
    }

    /// Stop it and wait for it.
    pub fn stop(self) {
        self.stop.store(true, SeqCst);
        let _ = self.handle.join();
    }
}

/// A child process that draws frames without any lock.
pub struct ProcessSpinner {
    child: Child,
    reader: JoinHandle<()>,
}

/// The hidden subcommand the child runs.
pub const CHILD_COMMAND: &str = "spinner-process";

impl ProcessSpinner {
    /// Start `gilscope spinner-process --frame-ms N`; log a frame for every
    /// byte it writes.
    pub fn start(epoch: Instant, frame: Duration, log: Arc<FrameLog>) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args([CHILD_COMMAND, "--frame-ms", &frame.as_millis().max(1).to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut stdout = child.stdout.take().expect("piped stdout");
        let reader = thread::Builder::new().name("spinner-reader".into()).spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    log.frame(epoch);
                }
            }
        })?;
        Ok(ProcessSpinner { child, reader })
    }

    /// Stop the child (closing its stdin ends it) and the reader.
    pub fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.reader.join();
    }
}

/// The child side: write one byte per frame until stdin closes or the
/// parent goes away. Needs no lock: it is another process.
pub fn run_child(frame: Duration) {
    use std::io::Write;
    let closed = Arc::new(AtomicBool::new(false));
    let watcher = Arc::clone(&closed);
    // stdin reaching end of file means the parent wants us gone.
    thread::spawn(move || {
        let mut sink = [0u8; 16];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        watcher.store(true, SeqCst);
    });
    let mut out = std::io::stdout().lock();
    let mut next = Instant::now() + frame;
    while !closed.load(SeqCst) {
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        }
        if out.write_all(b".").and_then(|()| out.flush()).is_err() {
            break;
        }
        next = (next + frame).max(Instant::now());
    }
}

/// A spinner with no thread: it draws a frame when the computation steps it.
pub struct CoroutineSpinner {
    epoch: Instant,
    log: Arc<FrameLog>,
}

impl CoroutineSpinner {
    /// A spinner logging into `log`.
    pub fn new(epoch: Instant, log: Arc<FrameLog>) -> Self {
        CoroutineSpinner { epoch, log }
    }

    /// The computation yields to the spinner: one frame.
    pub fn step(&self) {
        self.log.frame(self.epoch);
    }
}
