//! Forks in the soak: a load thread of the main interpreter forks now and
//! then, once while holding the lock and once while not, and the child
//! checks that its lock works.
//!
//! Owns: the children — forking, what each checks, its exit code, and
//! reaping it within [`FORK_BOUND`]; it counts them in [`Shared`].

use std::sync::atomic::Ordering::SeqCst;
use std::thread;
use std::time::{Duration, Instant};

use super::Shared;
use crate::gil;

/// One operation in this many forks (separately for the holder's and the
/// non-holder's fork): a fork copies the whole process, so it stays rare.
pub(super) const FORK_ONE_IN: u64 = 400;

/// How long a parent waits for its forked child before killing it.
const FORK_BOUND: Duration = Duration::from_secs(10);

/// What a forked child found: its exit code.
const CHILD_OK: i32 = 0;
const CHILD_NOT_HOLDER: i32 = 3;
const CHILD_HAS_WAITERS: i32 = 4;
const CHILD_LOCK_LOST: i32 = 5;
const CHILD_TAKEN_WITHOUT_ASKING: i32 = 6;
const CHILD_PANICKED: i32 = 7;

/// In a forked child: run `check`, then leave at once with its exit code
/// (no destructors, no atexit handlers: the parent's state is not ours).
fn child_exit(check: impl FnOnce() -> i32) -> ! {
    let code =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).unwrap_or(CHILD_PANICKED);
    // SAFETY: `_exit` ends the process without running anything else.
    unsafe { libc::_exit(code) }
}

/// Fork while holding the lock: the child must hold it, have no waiters,
/// and be able to release it and take it back.
pub(super) fn fork_holding_the_lock(token: gil::Token<'_>, shared: &Shared) {
    // SAFETY: the child only runs `child_exit`, which uses the lock and
    // leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child_exit(|| {
            if !gil::holds_lock() {
                return CHILD_NOT_HOLDER;
            }
            if gil::waiting_threads() != 0 {
                return CHILD_HAS_WAITERS;
            }
            token.detach(|| ());
            if gil::holds_lock() { CHILD_OK } else { CHILD_LOCK_LOST }
        });
    }
    shared.forks[0].fetch_add(1, SeqCst);
    token.detach(|| reap(pid, shared));
}

/// Fork from a thread not holding the lock: the child must not hold it,
/// and must be able to take it (the other threads' states are forgotten).
pub(super) fn fork_without_the_lock(shared: &Shared) {
    // SAFETY: as in `fork_holding_the_lock`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child_exit(|| {
            if gil::holds_lock() {
                return CHILD_TAKEN_WITHOUT_ASKING;
            }
            gil::attach(|token| {
                let _ = token.check_point();
                if gil::holds_lock() { CHILD_OK } else { CHILD_LOCK_LOST }
            })
        });
    }
    shared.forks[1].fetch_add(1, SeqCst);
    reap(pid, shared);
}

/// Wait for child `pid` (a negative pid is a failed fork, counted as not
/// ok) for at most [`FORK_BOUND`]; kill it if it has not exited by then.
fn reap(pid: libc::pid_t, shared: &Shared) {
    if pid < 0 {
        return;
    }
    let deadline = Instant::now() + FORK_BOUND;
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            break;
        }
        if rc < 0 {
            return;
        }
        if Instant::now() >= deadline {
            shared.forks_hung.fetch_add(1, SeqCst);
            // SAFETY: as above; after SIGKILL the blocking wait ends.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == CHILD_OK {
        shared.forks_ok.fetch_add(1, SeqCst);
    } else {
        crate::stderr_println!("soak: a forked child ended with status {status:#x}");
    }
}
