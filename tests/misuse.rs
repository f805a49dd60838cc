//! Every misuse of the C API: its exact message, its error return, and the
//! abort it becomes under `GILSCOPE_MISUSE=abort` (run in a child process).

mod common;

use std::ffi::CStr;
use std::thread;

use common::watchdog;
use gilscope::ffi::{
    GS_GILSTATE_LOCKED, GS_GILSTATE_UNLOCKED, gs_check_switch, gs_clear_error, gs_ensure,
    gs_last_error, gs_release, gs_restore_thread, gs_save_thread,
};
use gilscope::gil::{self, attach};

/// The calling thread's last misuse message, as C sees it.
fn last_error() -> String {
    let ptr = gs_last_error();
    assert!(!ptr.is_null(), "no misuse was recorded");
    // SAFETY: gs_last_error returns NULL or a NUL-terminated string that
    // stays valid until the next misuse on this thread.
    unsafe { CStr::from_ptr(ptr) }.to_str().expect("utf-8").to_owned()
}

/// The prefix every message on the calling thread starts with.
fn prefix(function: &str) -> String {
    let serial = gil::current_serial();
    let name = thread::current().name().expect("named test thread").to_owned();
    format!("gilscope: misuse of {function} on thread '{name}' (#{serial}): ")
}

/// Each case misuses the API on a fresh named thread, checks the return
/// value and the exact message, and checks the lock still works after.
fn case(name: &'static str, body: impl FnOnce() + Send + 'static) {
    let _serial = common::serial();
    gil::set_misuse_mode(gil::MisuseMode::Error);
    watchdog(30, name, body);
    assert!(thread::spawn(|| attach(|_| true)).join().unwrap(), "lock unusable after {name}");
}

#[test]
fn save_thread_without_the_lock_returns_null() {
    case("save-without-lock", || {
        assert!(gs_save_thread().is_null());
        assert_eq!(
            last_error(),
            prefix("gs_save_thread") + "the thread does not hold the lock, so it cannot release it"
        );
    });
}

#[test]
fn restore_on_the_wrong_thread_is_refused() {
    case("restore-wrong-thread", || {
        attach(|_| {
            let state = gs_save_thread() as usize;
            let saver = gil::current_serial();
            let other = thread::Builder::new()
                .name("thief".into())
                .spawn(move || {
                    let rc = gs_restore_thread(state as *mut _);
                    (rc, last_error(), prefix("gs_restore_thread"))
                })
                .unwrap()
                .join()
                .unwrap();
            assert_eq!(other.0, -1);
            assert_eq!(
                other.1,
                format!(
                    "{}the state was saved by thread 'restore-wrong-thread' (#{saver}); \
                     it must be restored on that thread",
                    other.2
                )
            );
            assert_eq!(gs_restore_thread(state as *mut _), 0, "the right thread can restore");
        });
    });
}

#[test]
fn restore_while_holding_and_double_restore_are_refused() {
    case("restore-twice", || {
        attach(|_| {
            let state = gs_save_thread();
            assert_eq!(gs_restore_thread(state), 0);
            assert_eq!(gs_restore_thread(state), -1);
            assert_eq!(
                last_error(),
                prefix("gs_restore_thread") + "the thread already holds the lock"
            );
        });
        attach(|_| {
            let first = gs_save_thread();
            assert_eq!(gs_ensure(), GS_GILSTATE_UNLOCKED);
            let second = gs_save_thread();
            // `first` is not the innermost saved state.
            assert_eq!(gs_restore_thread(first), -1);
            assert_eq!(
                last_error(),
                prefix("gs_restore_thread")
                    + "states must be restored in reverse order of saving; this one is not the \
                       innermost (gs_save_thread #3 is)"
            );
            assert_eq!(gs_restore_thread(second), 0);
            assert_eq!(gs_release(GS_GILSTATE_UNLOCKED), 0);
            assert_eq!(gs_restore_thread(first), 0);
        });
        assert_eq!(gs_restore_thread(std::ptr::null_mut()), -1);
        assert_eq!(
            last_error(),
            prefix("gs_restore_thread") + "the state is NULL (the matching gs_save_thread failed)"
        );
    });
}

#[test]
fn restoring_an_already_restored_state_is_refused() {
    case("restore-stale", || {
        let state = attach(|_| {
            let state = gs_save_thread();
            assert_eq!(gs_restore_thread(state), 0);
            state
        });
        assert_eq!(gs_restore_thread(state), -1);
        assert_eq!(last_error(), prefix("gs_restore_thread") + "the state was already restored");
        assert!(!gil::holds_lock());
    });
}

#[test]
fn unbalanced_ensure_and_release_are_refused() {
    case("unbalanced-ensure", || {
        assert_eq!(gs_release(GS_GILSTATE_UNLOCKED), -1);
        assert_eq!(last_error(), prefix("gs_release") + "no gs_ensure is open on this thread");

        assert_eq!(gs_ensure(), GS_GILSTATE_UNLOCKED);
        assert_eq!(gs_ensure(), GS_GILSTATE_LOCKED);
        assert_eq!(gs_release(GS_GILSTATE_UNLOCKED), -1);
        assert_eq!(
            last_error(),
            prefix("gs_release") + "the state 1 is not what the innermost gs_ensure returned (0)"
        );
        assert_eq!(gs_release(GS_GILSTATE_LOCKED), 0);
        assert!(gil::holds_lock());
        assert_eq!(gs_release(GS_GILSTATE_UNLOCKED), 0);
        assert!(!gil::holds_lock());
    });
}

#[test]
fn states_never_handed_out_are_named_as_such() {
    case("garbage-state", || {
        let real = attach(|_| {
            let state = gs_save_thread();
            assert_eq!(gs_restore_thread(state), 0);
            state.addr()
        });
        for garbage in
            [0x1, 0x10, 0x1234, 0xdead_beef, 0x7fff_0000_1000, usize::MAX, real ^ 1 << 40]
        {
            assert_eq!(gs_restore_thread(std::ptr::without_provenance_mut(garbage)), -1);
            assert_eq!(
                last_error(),
                prefix("gs_restore_thread")
                    + "the state is not a state this library handed out (gs_save_thread never \
                       returned it; a garbage or corrupted pointer?)",
                "{garbage:#x}"
            );
        }
    });
}

#[test]
fn the_last_error_stays_until_the_next_misuse_or_gs_clear_error() {
    case("stale-error", || {
        assert!(gs_last_error().is_null());
        assert_eq!(gs_release(GS_GILSTATE_UNLOCKED), -1);
        let first = last_error();
        // Like errno: a successful call leaves the message alone.
        assert_eq!(gs_ensure(), GS_GILSTATE_UNLOCKED);
        assert_eq!(gs_release(GS_GILSTATE_UNLOCKED), 0);
        assert_eq!(last_error(), first);
        gs_clear_error();
        assert!(gs_last_error().is_null());
    });
}

#[test]
fn a_release_after_an_abandoned_save_names_it_and_repairs_the_thread() {
    case("abandoned-save", || {
        assert_eq!(gs_ensure(), GS_GILSTATE_UNLOCKED);
        let _abandoned = gs_save_thread();
        assert_eq!(gs_check_switch(), -1);
        assert_eq!(
            last_error(),
            prefix("gs_check_switch")
                + "the thread does not hold the lock; call it only with the lock held: \
                   gs_save_thread #1 released it and has not restored it (this call needs the \
                   lock: make it after GS_END_ALLOW_THREADS / gs_restore_thread; if a longjmp or \
                   C++ exception left GS_BEGIN_ALLOW_THREADS, the restore never comes)"
        );
        assert_eq!(gs_release(GS_GILSTATE_UNLOCKED), -1);
        assert_eq!(
            last_error(),
            prefix("gs_release")
                + "the thread does not hold the lock: gs_save_thread #1 released it and was never \
                   restored (did a longjmp or C++ exception leave GS_BEGIN_ALLOW_THREADS?); \
                   gilscope restored it and released this gs_ensure"
        );
        assert!(!gil::holds_lock());
        // Balanced again: a fresh pair works, and the thread exits cleanly.
        assert_eq!(gs_ensure(), GS_GILSTATE_UNLOCKED);
        assert_eq!(gs_release(GS_GILSTATE_UNLOCKED), 0);
    });
}

#[test]
fn check_switch_without_the_lock_is_refused() {
    case("check-without-lock", || {
        assert_eq!(gs_check_switch(), -1);
        assert_eq!(
            last_error(),
            prefix("gs_check_switch")
                + "the thread does not hold the lock; call it only with the lock held"
        );
        assert_eq!(attach(|_| gs_check_switch()), 0);
    });
}

#[test]
fn a_thread_exiting_with_the_lock_releases_it_on_its_behalf() {
    case("exit-holding", || {
        let exited = thread::Builder::new()
            .name("leaker".into())
            .spawn(|| {
                assert_eq!(gs_ensure(), GS_GILSTATE_UNLOCKED);
                gil::current_serial()
            })
            .unwrap()
            .join()
            .unwrap();
        // Without the release on its behalf this would hang (watchdog).
        assert!(attach(|_| gil::holds_lock()));
        assert_eq!(gil::last_handoff().from, exited);
        assert_eq!(gil::last_handoff().reason, gil::Reason::ThreadExit);
    });
}

#[test]
fn an_attach_scope_ending_while_released_is_reported() {
    case("attach-released", || {
        let misuses = gil::misuse_count();
        attach(|_| {
            let _ = gs_save_thread(); // never restored
        });
        assert_eq!(gil::misuse_count(), misuses + 1);
        assert_eq!(
            last_error(),
            prefix("attach")
                + "the attach scope ended while the lock was released \
                   (gs_save_thread without gs_restore_thread)"
        );
        assert!(!gil::holds_lock());
    });
}

#[test]
fn mistakes_made_by_c_code_come_back_as_errors() {
    use gilscope::ffi::clib::{self, CError, Mistake};
    case("c-mistakes", || {
        attach(|token| {
            let result = clib::make_mistake(token, Mistake::ReturnReleased);
            assert_eq!(
                result,
                Err(CError::Misuse(
                    prefix("clib_mistake_return_released")
                        + "returned with the lock released (gs_save_thread #1 (in C function \
                           clib_mistake_return_released) was not restored: GS_BEGIN_ALLOW_THREADS \
                           without GS_END_ALLOW_THREADS, or a longjmp out of it); gilscope took it \
                           back"
                ))
            );
            assert!(gil::holds_lock(), "the lock was not taken back");
            let result = clib::make_mistake(token, Mistake::ReleaseTwice);
            assert_eq!(
                result,
                Err(CError::Misuse(prefix("gs_release") + "no gs_ensure is open on this thread"))
            );
            assert!(gil::holds_lock());
        });
        assert!(!gil::holds_lock());
    });
}

/// Runs only as a child of `misuse_aborts_under_gilscope_misuse_abort`.
#[test]
fn child_that_misuses_the_api() {
    let Ok(which) = std::env::var("GILSCOPE_TEST_MISUSE_CHILD") else {
        return;
    };
    gil::set_thread_name("child");
    match which.as_str() {
        "save" => {
            let _ = gs_save_thread();
        }
        "release" => {
            let _ = gs_release(GS_GILSTATE_UNLOCKED);
        }
        "check" => {
            let _ = gs_check_switch();
        }
        "restore-null" => drop(gs_restore_thread(std::ptr::null_mut())),
        "restore-holding" => attach(|_| {
            let state = gs_save_thread();
            gs_restore_thread(state);
            gs_restore_thread(state);
        }),
        "restore-wrong-thread" => attach(|_| {
            let state = gs_save_thread() as usize;
            thread::Builder::new()
                .name("child".into())
                .spawn(move || gs_restore_thread(state as *mut _))
                .unwrap()
                .join()
                .unwrap();
        }),
        "release-mismatch" => {
            gs_ensure();
            gs_release(GS_GILSTATE_LOCKED);
        }
        "exit-holding" => {
            thread::Builder::new()
                .name("child".into())
                .spawn(|| gs_ensure())
                .unwrap()
                .join()
                .unwrap();
        }
        "attach-released" => attach(|_| {
            let _ = gs_save_thread();
        }),
        "c-returns-released" => {
            let _ = attach(|token| {
                gilscope::ffi::clib::make_mistake(
                    token,
                    gilscope::ffi::clib::Mistake::ReturnReleased,
                )
            });
        }
        "restore-garbage" => drop(gs_restore_thread(std::ptr::without_provenance_mut(0x1234))),
        "release-abandoned" => {
            gs_ensure();
            let _ = gs_save_thread();
            gs_release(GS_GILSTATE_UNLOCKED);
        }
        "clear-then-misuse" => {
            gs_clear_error();
            let _ = gs_save_thread();
        }
        other => panic!("unknown child case {other}"),
    }
    eprintln!("still alive after misuse");
}

#[test]
fn misuse_aborts_under_gilscope_misuse_abort() {
    use std::os::unix::process::ExitStatusExt;
    let cases = [
        ("save", "gs_save_thread", "the thread does not hold the lock, so it cannot release it"),
        ("release", "gs_release", "no gs_ensure is open on this thread"),
        (
            "check",
            "gs_check_switch",
            "the thread does not hold the lock; call it only with the lock held",
        ),
        (
            "restore-null",
            "gs_restore_thread",
            "the state is NULL (the matching gs_save_thread failed)",
        ),
        ("restore-holding", "gs_restore_thread", "the thread already holds the lock"),
        ("restore-wrong-thread", "gs_restore_thread", "it must be restored on that thread"),
        (
            "release-mismatch",
            "gs_release",
            "the state 0 is not what the innermost gs_ensure returned (1)",
        ),
        ("exit-holding", "thread exit", "the lock was released on its behalf"),
        ("attach-released", "attach", "(gs_save_thread without gs_restore_thread)"),
        ("c-returns-released", "clib_mistake_return_released", "gilscope took it back"),
        ("restore-garbage", "gs_restore_thread", "a garbage or corrupted pointer?)"),
        ("release-abandoned", "gs_release", "gilscope restored it and released this gs_ensure"),
        (
            "clear-then-misuse",
            "gs_save_thread",
            "the thread does not hold the lock, so it cannot release it",
        ),
    ];
    let outputs = watchdog(120, "abort-children", move || {
        cases.map(|(which, _, _)| {
            common::child_test("child_that_misuses_the_api")
                .env("GILSCOPE_TEST_MISUSE_CHILD", which)
                .env("GILSCOPE_MISUSE", "abort")
                .output()
                .unwrap()
        })
    });
    for ((which, function, what), output) in cases.iter().zip(outputs) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.signal(), Some(libc::SIGABRT), "{which}: {stderr}");
        let expected = format!("gilscope: misuse of {function} on thread 'child' (#");
        let line = stderr.lines().find(|l| l.starts_with(&expected));
        let line = line.unwrap_or_else(|| panic!("{which}: no misuse line in {stderr}"));
        assert!(line.ends_with(what), "{which}: {line}");
        assert!(!stderr.contains("still alive"), "{which}: the process went on");
    }
}
