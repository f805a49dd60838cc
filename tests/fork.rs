//! `fork()` from a busy process: children forked while several threads
//! contend for the lock start threads of their own that contend for it
//! too, many times over. Each child has an `alarm()` that ends it if it
//! hangs; the parent checks every child's exit status.
//!
//! What this guards against: a lock whose waits park threads in a
//! process-wide table (as `parking_lot`'s do) copies that table into the
//! child as it was at the fork: a bucket lock held then by a thread the
//! child does not have is held for ever, and records of the parent's
//! parked threads stay linked in, at addresses glibc gives to the child's
//! new threads' stacks. With the lock's waits on `parking_lot`, one to six
//! children in a hundred hung here (its new threads stuck in
//! `parking_lot_core`'s `grow_hashtable` and `park`, waiting for bucket
//! locks): 17 children of 300 in a run of this test; a C program's children
//! crashed the same way (`docs/reliability.md`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use gilscope::gil;

/// How many children the test forks.
const FORKS: usize = 300;
/// Threads contending for the lock, in the parent and in each child.
const CONTENDERS: usize = 4;
/// How many times each child thread takes the lock.
const ROUNDS_IN_CHILD: u64 = 100;
/// A child that has not finished by then is hung: `alarm()` kills it.
const CHILD_ALARM_SECONDS: u32 = 20;

/// Exit codes of a child.
const CHILD_OK: i32 = 0;
const CHILD_WRONG_COUNT: i32 = 3;
const CHILD_PANICKED: i32 = 4;
const CHILD_HOLDS_WRONGLY: i32 = 5;

/// Hold the lock for a moment, passing check points (where a drop
/// request makes the holder yield and wait for a waiter to take over),
/// then release it around a yield: every kind of wait the lock has.
fn contend_once(counter: &AtomicU64) {
    gil::attach(|token| {
        for _ in 0..20 {
            let _ = token.check_point();
            std::hint::spin_loop();
        }
        counter.fetch_add(1, SeqCst);
        token.detach(thread::yield_now);
    });
}

/// In the child: start [`CONTENDERS`] threads that take the lock
/// [`ROUNDS_IN_CHILD`] times each, and check the count.
fn child_work() -> i32 {
    let counter = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let counter = Arc::clone(&counter);
            thread::spawn(move || {
                for _ in 0..ROUNDS_IN_CHILD {
                    contend_once(&counter);
                }
            })
        })
        .collect();
    for t in threads {
        if t.join().is_err() {
            return CHILD_PANICKED;
        }
    }
    if counter.load(SeqCst) == CONTENDERS as u64 * ROUNDS_IN_CHILD {
        CHILD_OK
    } else {
        CHILD_WRONG_COUNT
    }
}

/// In the child: arm the alarm, run `work`, leave with its code (no
/// destructors, no atexit handlers: the parent's state is not ours).
fn child_exit(work: impl FnOnce() -> i32) -> ! {
    // SAFETY: alarm only arms a timer; SIGALRM's default action ends the
    // process, which is what a hung child must do.
    unsafe { libc::alarm(CHILD_ALARM_SECONDS) };
    let code =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or(CHILD_PANICKED);
    // SAFETY: `_exit` ends the process without running anything else.
    unsafe { libc::_exit(code) }
}

/// Fork; in the child run `work` under the alarm. Returns the child's pid.
fn fork_child(work: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child only runs `child_exit`, which leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        child_exit(work);
    }
    pid
}

/// Wait for child `pid` (its alarm bounds the wait) and describe how it
/// ended if it did not succeed.
fn failure_of(pid: libc::pid_t) -> Option<String> {
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(rc, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            CHILD_OK => None,
            code => Some(format!("exited with code {code}")),
        }
    } else if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        let what = match signal {
            libc::SIGALRM => "hung: killed by its alarm".to_owned(),
            libc::SIGSEGV => "crashed: SIGSEGV".to_owned(),
            libc::SIGABRT => "aborted: SIGABRT".to_owned(),
            other => format!("killed by signal {other}"),
        };
        Some(what)
    } else {
        Some(format!("ended with status {status:#x}"))
    }
}

#[test]
fn children_forked_from_a_busy_process_can_run_contending_threads() {
    common::watchdog(600, "fork-busy", || {
        // A short interval: waiters time out, ask the holder to yield, and
        // the holder waits for the hand-over, so every wait is exercised.
        gil::set_switch_interval(Duration::from_micros(50));
        let stop = Arc::new(AtomicBool::new(false));
        let parent_count = Arc::new(AtomicU64::new(0));
        let contenders: Vec<_> = (0..CONTENDERS)
            .map(|_| {
                let (stop, count) = (Arc::clone(&stop), Arc::clone(&parent_count));
                thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        contend_once(&count);
                    }
                })
            })
            .collect();
        // Let the contenders get going before the first fork.
        while parent_count.load(SeqCst) < 100 {
            thread::sleep(Duration::from_millis(1));
        }
        let mut failures = Vec::new();
        for fork in 0..FORKS {
            // Three forks in four are made by a thread holding the lock
            // (the child's thread then holds it and must let its threads
            // in): then every parent contender waits, which is when the
            // children failed most.
            let pid = if fork % 4 == 0 {
                fork_child(|| {
                    if gil::holds_lock() {
                        return CHILD_HOLDS_WRONGLY;
                    }
                    child_work()
                })
            } else {
                gil::attach(|token| {
                    let pid = fork_child(move || {
                        if !gil::holds_lock() {
                            return CHILD_HOLDS_WRONGLY;
                        }
                        token.detach(child_work)
                    });
                    let _ = token.check_point();
                    pid
                })
            };
            if let Some(failure) = failure_of(pid) {
                failures.push(format!("fork {fork}: {failure}"));
            }
        }
        stop.store(true, SeqCst);
        for t in contenders {
            t.join().expect("parent contender");
        }
        gil::set_switch_interval(gil::DEFAULT_SWITCH_INTERVAL);
        assert!(failures.is_empty(), "{} of {FORKS} children failed:\n{}", failures.len(), {
            failures.join("\n")
        });
    });
}
