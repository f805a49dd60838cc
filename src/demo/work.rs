//! The computation the demo runs on its main thread, with the lock held.
//!
//! It runs in pieces of [`PIECE`] one after another inside one `attach`, so
//! the lock is never dropped between pieces: only the work itself decides.
//! Between pieces it reads the release switch (the `r` key flips it) and
//! steps the coroutine spinner, if there is one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::spinner::CoroutineSpinner;
use super::{DemoState, Work};
use crate::ffi::clib::{self, CError, Hold};
use crate::gil::{self, Token};
use crate::vm::{self, RtKind, Value};

/// How long one piece of work runs.
pub const PIECE: Duration = Duration::from_millis(100);

/// The script the bytecode work runs: a counting loop that checks the time.
const BYTECODE: &str = "fn spin(ms) {
    let end = time() + ms
    let n = 0
    while time() < end { n += 1 }
    return n
}";

/// How the work ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It ran for the whole time.
    Done,
    /// `q` was pressed.
    Stopped,
    /// Ctrl+C.
    Interrupted,
}

impl Ended {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Ended::Done => "done",
            Ended::Stopped => "stopped",
            Ended::Interrupted => "interrupted",
        }
    }
}

/// Run `work` for `duration` on the calling thread. Returns when it started
/// and ended (relative to the demo's epoch) and how it ended.
pub fn run(
    work: Work,
    duration: Duration,
    state: &Arc<DemoState>,
    coroutine: Option<&CoroutineSpinner>,
) -> (Duration, Duration, Ended) {
    gil::attach(|token| {
        let spin = match work {
            Work::Bytecode => match bytecode_spin(token) {
                Ok(f) => Some(f),
                Err(message) => panic!("the demo's own script failed to compile: {message}"),
            },
            _ => None,
        };
        let started = state.epoch.elapsed();
        let deadline = Instant::now() + duration;
        let mut ended = Ended::Done;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if state.stop_requested() {
                ended = Ended::Stopped;
                break;
            }
            let piece = left.min(PIECE);
            let ms = piece.as_millis().max(1) as i64;
            let began = Instant::now();
            let release = state.release();
            let result = match work {
                Work::C => {
                    let hold = if release { Hold::Release } else { Hold::Keep };
                    clib::busy_wait_ms(token, ms, hold)
                        .map(drop)
                        .map_err(|e| e == CError::Interrupted)
                }
                Work::Check => clib::busy_wait_ms_cooperative(token, ms)
                    .map(drop)
                    .map_err(|e| e == CError::Interrupted),
                Work::Bytecode => {
                    let (program, f) = spin.as_ref().expect("compiled above");
                    let mut vm = vm::Vm::new(Arc::clone(program));
                    vm.call(token, f.clone(), vec![Value::Int(ms)])
                        .map(drop)
                        .map_err(|e| e.kind == RtKind::Interrupted)
                }
            };
            let spent = began.elapsed();
            match work {
                Work::C if release => state.add_c_released(spent),
                Work::C | Work::Check => state.add_c_held(spent),
                Work::Bytecode => {}
            }
            if let Err(interrupted) = result {
                ended = if interrupted { Ended::Interrupted } else { Ended::Stopped };
                break;
            }
            if let Some(spinner) = coroutine {
                spinner.step();
            }
        }
        if gil::interrupted() {
            ended = Ended::Interrupted;
        }
        (started, state.epoch.elapsed(), ended)
    })
}

/// Compile the bytecode work and return its program and `spin` function.
fn bytecode_spin(token: Token<'_>) -> Result<(Arc<vm::Program>, Value), String> {
    let program = vm::load(token, "<demo>", BYTECODE)?;
    let f = program.global(token, "spin").ok_or("no spin()")?;
    Ok((program, f))
}
