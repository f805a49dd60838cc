//! A short soak: sixteen threads, two seconds, the full mixed load with
//! policies and switch intervals changing underneath; every invariant must
//! hold, forked children included: children forked with the lock held and
//! without it must find a working lock. Before the fork handlers reset the
//! lock's mutexes in the child (rather than unlocking them), about one child
//! in ten hung in its first `lock()`. (`gilscope soak --threads 64 --seconds
//! 30` is the long version.)

mod common;

use std::process::Command;

#[test]
fn a_short_soak_holds_every_invariant() {
    let output = common::watchdog(120, "soak", || {
        Command::new(env!("CARGO_BIN_EXE_gilscope"))
            .args(["soak", "--threads", "16", "--seconds", "2", "--seed", "7"])
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
