//! The `interpreters` scenario: what threads, interpreters and processes
//! cost and gain
//! for CPU-bound interpreted work, beside `benches/cpython/interpreters.py`
//! (same figure names where CPython has the figure).
//!
//! Figures, each a median over [`REPEATS`] runs:
//!
//! | figure | what |
//! |---|---|
//! | `serial_s` | two work units, one after the other, on one interpreter thread |
//! | `speedup_threads` | `serial_s` / the same two units on two script threads (`spawn`) |
//! | `speedup_interpreters` | `serial_s` / the same two units in two interpreters started with `interpreter()`, each with its own lock, start-up included |
//! | `speedup_processes` | `serial_s` / the same two units in two `gilscope run` child processes, start-up included |
//! | `start_thread_us` | `join(spawn(f))` of a function that does nothing |
//! | `start_interpreter_us` | `join(interpreter("let nothing = nil"))`: a new interpreter on a new thread, compiled, run, joined |
//! | `start_process_us` | start and wait for `gilscope run` of an empty script |
//! | `round_trip_thread_us` | a small list there and back between two interpreter threads, passed by reference over channels (what `queue.Queue` does in CPython) |
//! | `round_trip_copy_us` | the same, copied into a message at each end |
//! | `round_trip_interpreter_us` | the same copies, to an echo thread of another interpreter (two locks, no contention for either) |
//!
//! A work unit is the loop of `benches/toy/loop.toy` in a function (locals,
//! as in the CPython script), [`WORK_ITERATIONS`] iterations.
//!
//! This file owns the scenario's scripts and its child processes. It runs
//! scripts through [`crate::vm`]'s public API and its messages through
//! [`crate::vm::message`] and [`crate::vm::channel`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{median, toy, toy_call};
use crate::gil::{self, Token};
use crate::vm::channel::Channel;
use crate::vm::message::Message;
use crate::vm::{Parcel, Value as ToyValue};

/// Runs per figure.
pub const REPEATS: usize = 5;
/// Iterations of one work unit (as in `benches/cpython/interpreters.py`).
pub const WORK_ITERATIONS: i64 = 12_000_000;

const WORK_SCRIPT: &str = r#"
fn work(n) {
    let total = 0
    for i in range(n) { total = total + i }
    return total
}
fn serial(n) {
    work(n)
    work(n)
}
fn two_threads(n) {
    let a = spawn(work, n)
    let b = spawn(work, n)
    join(a)
    join(b)
}
fn nothing() { return nil }
fn start_threads(k) {
    for i in range(k) { join(spawn(nothing)) }
}
let WORKER = "fn main(n) {\n let total = 0\n for i in range(n) { total = total + i }\n return total\n }"
fn two_interpreters(n) {
    let a = interpreter(WORKER, n)
    let b = interpreter(WORKER, n)
    join(a)
    join(b)
}
fn start_interpreters(k) {
    for i in range(k) { join(interpreter("let nothing = nil")) }
}
"#;

/// The script each work process runs: one work unit of `args()[0]`
/// iterations.
fn process_script() -> String {
    format!("{WORK_SCRIPT}\nwork(int(args()[0]))\n")
}

/// Run the scenario, starting child processes from `exe` (the `gilscope`
/// binary).
pub fn run(exe: &Path) -> Value {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let work_file = dir.join(format!("gilscope-bench-work-{pid}.toy"));
    let empty_file = dir.join(format!("gilscope-bench-empty-{pid}.toy"));
    let written = std::fs::write(&work_file, process_script())
        .and_then(|()| std::fs::write(&empty_file, "let nothing = nil\n"));
    let figures = match written {
        Ok(()) => measure(exe, &work_file, &empty_file),
        Err(e) => {
            json!({ "error": format!("cannot write the work scripts to {}: {e}", dir.display()) })
        }
    };
    let _ = std::fs::remove_file(&work_file);
    let _ = std::fs::remove_file(&empty_file);
    figures
}

fn measure(exe: &Path, work_file: &Path, empty_file: &Path) -> Value {
    let mut serial = Vec::new();
    let mut threads = Vec::new();
    let mut interpreters = Vec::new();
    let mut processes = Vec::new();
    for _ in 0..REPEATS {
        // Interleaved, so a noisy moment hurts all four alike.
        serial.push(time_toy("serial", WORK_ITERATIONS));
        threads.push(time_toy("two_threads", WORK_ITERATIONS));
        interpreters.push(time_toy("two_interpreters", WORK_ITERATIONS));
        match time_processes(exe, work_file) {
            Ok(seconds) => processes.push(seconds),
            Err(e) => return json!({ "error": e }),
        }
    }
    let serial_s = median(serial);
    const THREAD_STARTS: i64 = 200;
    let start_thread_us = median(
        (0..REPEATS)
            .map(|_| time_toy("start_threads", THREAD_STARTS) * 1e6 / THREAD_STARTS as f64)
            .collect(),
    );
    const INTERPRETER_STARTS: i64 = 50;
    let start_interpreter_us = median(
        (0..REPEATS)
            .map(|_| {
                time_toy("start_interpreters", INTERPRETER_STARTS) * 1e6 / INTERPRETER_STARTS as f64
            })
            .collect(),
    );
    let mut starts = Vec::new();
    for _ in 0..REPEATS {
        match time_process_starts(exe, empty_file, 20) {
            Ok(us) => starts.push(us),
            Err(e) => return json!({ "error": e }),
        }
    }
    json!({
        "serial_s": serial_s,
        "speedup_threads": serial_s / median(threads),
        "speedup_interpreters": serial_s / median(interpreters),
        "speedup_processes": serial_s / median(processes),
        "start_thread_us": start_thread_us,
        "start_interpreter_us": start_interpreter_us,
        "start_process_us": median(starts),
        "round_trip_thread_us": median((0..REPEATS).map(|_| round_trip_us(Passing::Reference)).collect()),
        "round_trip_copy_us": median((0..REPEATS).map(|_| round_trip_us(Passing::Copy)).collect()),
        "round_trip_interpreter_us": median((0..REPEATS).map(|_| round_trip_us(Passing::Interpreter)).collect()),
        "repeats": REPEATS,
        "cores": thread::available_parallelism().map_or(1, |n| n.get()),
    })
}

/// Seconds that toy function `name(arg)` of the work script takes.
fn time_toy(name: &str, arg: i64) -> f64 {
    gil::attach(|token| {
        let (program, f) = toy(token, WORK_SCRIPT, name);
        let start = Instant::now();
        toy_call(token, &program, &f, vec![ToyValue::Int(arg)]);
        start.elapsed().as_secs_f64()
    })
}

/// Start `gilscope run SCRIPT ARGS`, its output discarded.
fn start(exe: &Path, script: &Path, args: &[String]) -> Result<std::process::Child, String> {
    Command::new(exe)
        .arg("run")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))
}

fn wait(child: std::process::Child, exe: &Path) -> Result<(), String> {
    let mut child = child;
    let status = child.wait().map_err(|e| format!("waiting for {}: {e}", exe.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} run exited with {status}", exe.display()))
    }
}

/// Seconds for two work processes side by side, start-up included.
fn time_processes(exe: &Path, work_file: &Path) -> Result<f64, String> {
    let args = [WORK_ITERATIONS.to_string()];
    let begin = Instant::now();
    let first = start(exe, work_file, &args)?;
    let second = start(exe, work_file, &args)?;
    wait(first, exe)?;
    wait(second, exe)?;
    Ok(begin.elapsed().as_secs_f64())
}

/// Microseconds to start and wait for one process running an empty script.
fn time_process_starts(exe: &Path, empty_file: &Path, n: u32) -> Result<f64, String> {
    let begin = Instant::now();
    for _ in 0..n {
        wait(start(exe, empty_file, &[])?, exe)?;
    }
    Ok(begin.elapsed().as_secs_f64() * 1e6 / f64::from(n))
}

/// How a value crosses between the two threads of a round trip.
#[derive(Clone, Copy)]
enum Passing {
    /// A reference, in a [`Parcel`]: the receiver gets the same object.
    Reference,
    /// A deep copy, in a [`Message`]: the receiver gets a new object.
    Copy,
    /// A deep copy, to an echo thread of another interpreter.
    Interpreter,
}

/// What travels over the round-trip channels.
enum Envelope {
    Parcel(Parcel),
    Message(Message),
}

impl Envelope {
    fn pack(token: Token<'_>, passing: Passing, value: ToyValue) -> Envelope {
        match passing {
            Passing::Reference => Envelope::Parcel(Parcel::pack(token, vec![value])),
            Passing::Copy | Passing::Interpreter => Envelope::Message(
                Message::copy(token, &value).expect("the round-trip message is plain data"),
            ),
        }
    }

    fn open(self, token: Token<'_>) -> ToyValue {
        match self {
            Envelope::Parcel(parcel) => parcel.open(token).pop().unwrap_or_default(),
            Envelope::Message(message) => message.open(token),
        }
    }
}

/// The small list CPython's side sends: `[1, "ping", 2.5]`.
fn small_list(token: Token<'_>) -> ToyValue {
    let items = vec![ToyValue::Int(1), ToyValue::str(token, "ping"), ToyValue::Float(2.5)];
    ToyValue::list(token, items)
}

/// Microseconds per round trip between this thread and an echo thread,
/// both interpreter threads taking the lock to pack and open.
fn round_trip_us(passing: Passing) -> f64 {
    const WARM_UP: u32 = 100;
    const ROUNDS: u32 = 5_000;
    let there: Channel<Envelope> = Channel::unbounded();
    let back: Channel<Envelope> = Channel::unbounded();
    let other = match passing {
        Passing::Interpreter => {
            Some(gil::Interpreter::start().expect("a free interpreter slot for the echo thread"))
        }
        _ => None,
    };
    let echo = {
        let (there, back) = (there.clone(), back.clone());
        let interp = other.as_ref().map_or_else(gil::current_interpreter, |s| s.interpreter());
        thread::spawn(move || {
            gil::attach_to(interp, |token| {
                while let Ok(envelope) = there.recv_released(token, None) {
                    let value = envelope.open(token);
                    let reply = Envelope::pack(token, passing, value);
                    if back.send_released(token, reply, None).is_err() {
                        break;
                    }
                }
            });
        })
    };
    let elapsed = gil::attach(|token| {
        let one = |token: Token<'_>| {
            let envelope = Envelope::pack(token, passing, small_list(token));
            there.send_released(token, envelope, None).expect("the echo thread listens");
            let reply = back.recv_released(token, Some(Duration::from_secs(60)));
            drop(reply.expect("the echo thread answers").open(token));
        };
        for _ in 0..WARM_UP {
            one(token);
        }
        let begin = Instant::now();
        for _ in 0..ROUNDS {
            one(token);
        }
        begin.elapsed()
    });
    there.close();
    let _ = echo.join();
    drop(other);
    elapsed.as_secs_f64() * 1e6 / f64::from(ROUNDS)
}

/// The `gilscope` binary to start work processes from: this executable
/// when it is `gilscope`, else one built beside it (a test or bench binary
/// in `target/*/deps` finds `target/*/gilscope`).
pub fn gilscope_exe() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    if me.file_stem().is_some_and(|stem| stem == "gilscope") {
        return Ok(me);
    }
    let beside = me.parent().and_then(Path::parent).map(|dir| dir.join("gilscope"));
    match beside {
        Some(path) if path.exists() => Ok(path),
        _ => Err(format!(
            "{} is not gilscope, and no gilscope binary is built beside it",
            me.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_of_passing_deliver_the_value() {
        // A few rounds only: this checks that the round trip works (the
        // echo answers, the value arrives whole), not how fast it is.
        for passing in [Passing::Reference, Passing::Copy, Passing::Interpreter] {
            gil::attach(|token| {
                let sent = small_list(token);
                let envelope = Envelope::pack(token, passing, sent.clone());
                let got = envelope.open(token);
                assert!(sent.equals(&got).expect("comparable"));
            });
            assert!(round_trip_us(passing) > 0.0);
        }
    }

    #[test]
    fn the_work_script_runs_serially_and_on_threads() {
        assert!(time_toy("serial", 1_000) >= 0.0);
        assert!(time_toy("two_threads", 1_000) >= 0.0);
        assert!(time_toy("start_threads", 3) >= 0.0);
        assert!(time_toy("two_interpreters", 1_000) >= 0.0);
        assert!(time_toy("start_interpreters", 3) >= 0.0);
    }
}
