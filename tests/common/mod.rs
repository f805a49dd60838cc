//! Helpers shared by the integration tests: a watchdog, a guard that
//! keeps tests which change the one process-wide lock from overlapping,
//! running one test of the same binary as a child process, and building C
//! files against the public header.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::thread;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

/// Run `f` on its own named thread; fail the test if it has not finished
/// within `seconds`, naming what the lock looked like at that moment, so a
/// deadlock or lost wake-up fails in seconds instead of hanging CI.
pub fn watchdog<T: Send + 'static>(
    seconds: u64,
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done_tx, done_rx) = channel();
    let handle = thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let result = f();
            let _ = done_tx.send(());
            result
        })
        .expect("spawn test thread");
    match done_rx.recv_timeout(Duration::from_secs(seconds)) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(RecvTimeoutError::Timeout) => panic!(
            "watchdog: '{name}' did not finish within {seconds} s (deadlock or lost wake-up?); \
             lock holder: {:?}, threads queued: {}, switches: {}",
            gilscope::gil::holder().map(gilscope::gil::thread_name),
            gilscope::gil::waiting_threads(),
            gilscope::gil::switch_number(),
        ),
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Tests that change the switch interval or policy, or measure who holds
/// the lock, take this guard so they do not disturb one another.
pub fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock();
    gilscope::gil::set_switch_interval(gilscope::gil::DEFAULT_SWITCH_INTERVAL);
    gilscope::gil::set_policy(gilscope::gil::Policy::DEFAULT);
    guard
}

/// The directory of the `libgilscope.so` cargo builds from the same lib
/// target as this test binary (integration tests live in
/// `target/<profile>/deps`, beside it).
pub fn shared_library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    assert!(deps.join("libgilscope.so").exists(), "libgilscope.so not built in {}", deps.display());
    deps
}

/// Compile `source` (a path in the repository) into `out` as C code from
/// outside the project would be: against `csrc/include/gilscope.h` alone,
/// C99 with `-Wall -Wextra -pedantic -Werror`, then `flags` (defines,
/// `-shared`, libraries to link). Fails the test with the compiler's
/// messages unless it compiles cleanly.
pub fn compile_c(source: &str, out: &Path, flags: &[&str]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let compiled = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"])
        .arg("-I")
        .arg(root.join("csrc/include"))
        .arg(root.join(source))
        .arg("-o")
        .arg(out)
        .args(flags)
        .output()
        .expect("run cc");
    assert!(
        compiled.status.success(),
        "{source} did not compile cleanly:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
}

/// A command that runs only the test `name` of this test binary, in a
/// child process (for what must happen in a process of its own: an abort,
/// a deadlock, a changed process-wide setting). The child test returns at
/// once unless the environment variable its parent sets is present.
pub fn child_test(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    command
}

/// Run the child test `name` with `env_var` set, under a watchdog; it must
/// end by `SIGABRT`. Returns what it wrote to stderr.
pub fn stderr_of_aborting_child(name: &'static str, env_var: &'static str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let output: Output = watchdog(60, name, move || {
        child_test(name).env(env_var, "1").output().expect("run the child test")
    });
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.signal(), Some(libc::SIGABRT), "{stderr}");
    stderr
}
