//! No Rust panic text reaches the user from the C API: a panic inside any
//! exported function — the lock's or an extension object function — is
//! reported in one line naming the function and the thread, and the
//! process aborts (a panic must not unwind into C). A correct build has no
//! panicking path to show it with, so each test forces one through the
//! boundary's test entry and runs it in a child process (this test binary
//! again, told by an environment variable to be the child).

mod common;

use std::process::{Command, Output};

const CHILD: &str = "GILSCOPE_C_API_PANIC_CHILD";

/// Whether this process is the child for `test`.
fn is_child(test: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(test)
}

/// Run the test `test` of this binary in a child process, as the child.
fn run_child(test: &'static str) -> Output {
    common::watchdog(60, test, move || {
        Command::new(std::env::current_exe().expect("the test binary"))
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, test)
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("run the child")
    })
}

#[test]
fn a_panic_in_an_object_function_is_one_line_without_rust_panic_text() {
    const TEST: &str = "a_panic_in_an_object_function_is_one_line_without_rust_panic_text";
    if is_child(TEST) {
        gilscope::ext::run_in_object_boundary("gs_list_append", || -> i32 {
            panic!("forced for the test")
        });
        unreachable!("the boundary aborts");
    }
    let out = run_child(TEST);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child should abort; stderr:\n{stderr}");
    let report: Vec<&str> = stderr.lines().filter(|l| l.contains("gilscope:")).collect();
    assert_eq!(report.len(), 1, "one line:\n{stderr}");
    assert!(
        report[0].starts_with("gilscope: internal error in gs_list_append on thread #")
            && report[0].ends_with(": forced for the test"),
        "{stderr}"
    );
    for rust_text in ["panicked at", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(rust_text), "Rust panic text reached the user:\n{stderr}");
    }
}

/// The boundary quiets only panics inside it: after nested boundaries
/// (C called back into the API) have returned, a panic elsewhere on the
/// same thread gets Rust's ordinary report, so a bug outside the C API is
/// never silenced.
#[test]
fn a_panic_outside_the_boundary_after_nested_calls_is_reported_as_usual() {
    const TEST: &str = "a_panic_outside_the_boundary_after_nested_calls_is_reported_as_usual";
    if is_child(TEST) {
        let nested = gilscope::ext::run_in_object_boundary("gs_call", || {
            gilscope::ext::run_in_object_boundary("gs_int", || 7)
        });
        assert_eq!(nested, 7);
        panic!("outside the boundary");
    }
    let out = run_child(TEST);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("panicked at") && stderr.contains("outside the boundary"), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
}
