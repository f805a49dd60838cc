//! A short soak: sixteen threads, two seconds, the full mixed load with
//! policies and switch intervals changing underneath; every invariant must
//! hold, forked children included: children forked with the lock held and
//! without it must find a working lock. Before the fork handlers reset the
//! lock's mutexes in the child (rather than unlocking them), about one child
//! in ten hung in its first `lock()`. (`gilscope soak --threads 64 --seconds
//! 30` is the long version.) The main interpreter's threads also call a C
//! extension (`examples/ext/first.c`, compiled here with the system C
//! compiler) through the exported C API.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// `examples/ext/first.c` (`sum(list)`) built as the extension guide
/// builds it.
fn build_first_extension() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("soak-first.so");
    let compiled = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-shared", "-fPIC", "-I"])
        .arg(root.join("csrc/include"))
        .arg(root.join("examples/ext/first.c"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run cc");
    assert!(compiled.status.success(), "{}", String::from_utf8_lossy(&compiled.stderr));
    out
}

#[test]
fn an_extension_that_does_not_load_is_a_one_line_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_gilscope"))
        .args(["soak", "--threads", "2", "--seconds", "0.1", "--extension", "/no/such/lib.so"])
        .output()
        .expect("run the soak");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/no/such/lib.so") && stderr.contains("no such file"), "{stderr}");
}

#[test]
fn a_short_soak_holds_every_invariant() {
    let extension = build_first_extension();
    let output = common::watchdog(120, "soak", move || {
        Command::new(env!("CARGO_BIN_EXE_gilscope"))
            .args(["soak", "--threads", "16", "--seconds", "2", "--seed", "7", "--extension"])
            .arg(&extension)
            .output()
            .expect("run the soak")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    for line in [
        "one holder at a time  yes",
        "counts add up         yes",
        "every thread joined   yes",
        "objects freed         yes",
        "pending calls run     yes",
        "forked children ok    yes",
        "extension answers     right",
        "invariants held",
        "16 threads in 2 interpreters",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    // Every kind of operation actually ran.
    for kind in [
        "interpreted",
        "C keeping the lock",
        "C releasing it",
        "foreign-thread calls",
        "sleeps",
        "check points",
        "messages received",
        "extension calls",
    ] {
        let count: u64 = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(kind))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(count > 0, "no {kind} operations:\n{stdout}");
    }
    let forked = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("forked children ok"))
        .and_then(|l| l.split('(').nth(1))
        .and_then(|l| l.split(':').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(forked > 0, "no forks:\n{stdout}");
}
