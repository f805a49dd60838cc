//! The C boundary's hard cases, each in its own child process running
//! `tests/c_ext/boundary.c` (compiled against `<gilscope.h>` alone): signal
//! handlers calling the API, pending calls, `fork()`, callers from thread
//! exit and `atexit`, and longjmp out of `GS_BEGIN_ALLOW_THREADS`. A case
//! that hangs is ended by `alarm()` in the C program, and the test by its
//! watchdog.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Compile `boundary.c` once per test run.
fn program() -> &'static PathBuf {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("boundary");
        let libdir = format!("-L{}", common::shared_library_dir().display());
        let flags = ["-D_XOPEN_SOURCE=700", &libdir, "-lgilscope", "-lpthread"];
        match std::env::var_os("GILSCOPE_TSAN_RUNTIME") {
            // Under ci/tsan.sh the library is instrumented: the program is
            // too, and links the ThreadSanitizer runtime of the toolchain
            // that instrumented the library (as ci/tsan-extension.sh does).
            Some(runtime) => {
                let object = out.with_extension("o");
                let compile = ["-D_XOPEN_SOURCE=700", "-fsanitize=thread", "-g", "-c"];
                common::compile_c("tests/c_ext/boundary.c", &object, &compile);
                let linked = Command::new("cc")
                    .arg(&object)
                    .arg("-Wl,--whole-archive")
                    .arg(runtime)
                    .arg("-Wl,--no-whole-archive")
                    .args(["-ldl", "-lm", "-lrt", &libdir, "-lgilscope", "-lpthread", "-o"])
                    .arg(&out)
                    .output()
                    .expect("run cc");
                let errors = String::from_utf8_lossy(&linked.stderr);
                assert!(linked.status.success(), "boundary.o did not link:\n{errors}");
            }
            None => common::compile_c("tests/c_ext/boundary.c", &out, &flags),
        }
        out
    })
}

/// Run one case of `boundary.c`; return its output.
fn run(case: &'static str) -> (Output, String, String) {
    let program = program().clone();
    let libdir = common::shared_library_dir();
    let output = common::watchdog(90, case, move || {
        Command::new(program)
            .arg(case)
            .env("LD_LIBRARY_PATH", libdir)
            .env_remove("GILSCOPE_MISUSE")
            .output()
            .expect("run boundary")
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "Rust panic text reached the user:\n{stderr}");
    (output, stdout, stderr)
}

fn assert_success(case: &'static str) -> (String, String) {
    let (output, stdout, stderr) = run(case);
    assert!(output.status.success(), "{case} failed ({:?}):\n{stdout}\n{stderr}", output.status);
    (stdout, stderr)
}

#[test]
fn a_signal_handler_calling_gs_ensure_inside_gs_ensure_gets_an_error_not_a_hang() {
    let (_, stderr) = assert_success("signal-reentrant");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("gilscope: misuse of gs_ensure on thread #"))
        .unwrap_or_else(|| panic!("no re-entrancy report in:\n{stderr}"));
    assert!(
        line.ends_with(
            ": called while the thread was inside the gilscope API (from a signal handler?); \
             nothing was done"
        ),
        "{line}"
    );
}

#[test]
fn a_storm_of_signals_whose_handlers_use_the_api_neither_crashes_nor_hangs() {
    let (stdout, _) = assert_success("signal-storm");
    assert!(stdout.contains("storm_failed=0"), "{stdout}");
}

#[test]
fn pending_calls_and_interrupts_can_be_requested_from_a_signal_handler() {
    let (stdout, _) = assert_success("pending");
    assert!(stdout.contains("pending_sum=1064 accepted=64"), "{stdout}");
}

#[test]
fn a_child_forked_while_another_thread_holds_the_lock_gets_a_free_lock() {
    let (stdout, _) = assert_success("fork-other-holds");
    assert!(stdout.contains("fork child_ok=1"), "{stdout}");
}

#[test]
fn a_child_forked_by_the_holder_holds_the_lock_and_has_no_waiters() {
    let (stdout, _) = assert_success("fork-forker-holds");
    assert!(stdout.contains("fork child_ok=1"), "{stdout}");
}

#[test]
fn calls_from_thread_exit_and_atexit_are_clean_reports_and_unrestored_saves_are_named() {
    let (stdout, stderr) = assert_success("exit");
    assert!(stdout.contains("destructor gs_ensure="), "{stdout}");
    assert!(stdout.contains("atexit gs_ensure="), "{stdout}");
    for (label, line) in
        [("destructor", "destructor gs_ensure=-1"), ("atexit", "atexit gs_ensure=-1")]
    {
        if stdout.contains(line) {
            assert!(
                stderr.contains(
                    "gilscope: misuse of gs_ensure on an exiting thread: called after gilscope's \
                     state for this thread was destroyed (from a thread-exit destructor or an \
                     atexit handler); nothing was done"
                ),
                "{label}: {stderr}"
            );
        }
    }
    assert!(
        stderr.contains(
            "the thread exited with 1 gs_save_thread not restored (the innermost: gs_save_thread \
             #1 (in exits_released))"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("panic"), "{stderr}");
}

#[test]
fn a_longjmp_out_of_allow_threads_is_reported_by_name_and_repaired() {
    let (stdout, _) = assert_success("longjmp");
    assert!(stdout.contains("release_rc=-1 holds=0"), "{stdout}");
    assert!(
        stdout.contains(
            "message=gilscope: misuse of gs_release on thread 'main' (#1): the thread does not \
             hold the lock: gs_save_thread #1 (in run_longjmp) released it and was never restored \
             (did a longjmp or C++ exception leave GS_BEGIN_ALLOW_THREADS?); gilscope restored it \
             and released this gs_ensure"
        ),
        "{stdout}"
    );
}
