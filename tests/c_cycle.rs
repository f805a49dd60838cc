//! The release + re-take from C (`GS_BEGIN_ALLOW_THREADS` /
//! `GS_END_ALLOW_THREADS`) on each of its paths: the inlined fast paths
//! (the one right use, uncontended, recorder off), and the full path they
//! hand over to — saves nested deeper than the fixed array of saves, a
//! thread queued for the lock, the recorder on, a misuse right after a run
//! of fast cycles — each checked for the same result and the same message
//! as the full path gives.

mod common;

use std::ffi::{CStr, c_char};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::thread;

use common::{serial, watchdog};
use gilscope::ffi::{
    GS_GILSTATE_UNLOCKED, GsThreadState, gs_ensure, gs_last_error, gs_release, gs_restore_thread,
    gs_save_thread, gs_save_thread_at,
};
use gilscope::gil::recorder::{self, EventKind};
use gilscope::gil::{self, Reason, attach};

/// The calling thread's last misuse message.
fn last_error() -> String {
    let ptr = gs_last_error();
    assert!(!ptr.is_null(), "no misuse was recorded");
    // SAFETY: gs_last_error returns NULL or a NUL-terminated string that
    // stays valid until the next misuse on this thread.
    unsafe { CStr::from_ptr(ptr) }.to_str().expect("utf-8").to_owned()
}

/// A name for `gs_save_thread_at` with static storage, as `__func__` is.
fn place(level: usize) -> *const c_char {
    let name = format!("level_{level}\0");
    Box::leak(name.into_boxed_str()).as_ptr().cast()
}

/// Save `levels` deep, each save inside a `gs_ensure` inside the previous
/// one (far deeper than the fixed array of saves), then restore them all
/// in reverse order; on the way, restores out of order and a save without
/// the lock are refused with the messages the full path gives, naming the
/// place C passed.
#[test]
fn saves_nested_past_the_fixed_array_restore_in_order_and_refuse_misuse() {
    let _serial = serial();
    gil::set_misuse_mode(gil::MisuseMode::Error);
    watchdog(60, "deep-saves", || {
        const LEVELS: usize = 40;
        let names: Vec<*const c_char> = (0..LEVELS).map(place).collect();
        attach(|_| {
            // Warm: the first call on a thread takes the full path.
            // SAFETY: the name is a NUL-terminated string leaked for good.
            let first = unsafe { gs_save_thread_at(names[0]) };
            assert_eq!(gs_restore_thread(first), 0);
            let mut states: Vec<*mut GsThreadState> = Vec::new();
            for (level, name) in names.iter().enumerate() {
                // SAFETY: as above.
                let state = unsafe { gs_save_thread_at(*name) };
                assert!(!state.is_null(), "save at level {level}: {}", last_error());
                assert!(!gil::holds_lock());
                states.push(state);
                // Without the lock: a misuse naming this level's save.
                assert!(gs_save_thread().is_null());
                let message = last_error();
                assert!(message.contains("does not hold the lock"), "{message}");
                assert!(message.contains(&format!("(in level_{level})")), "{message}");
                // Every outer save is refused while this one is open.
                if level > 0 {
                    for outer in [0, level / 2, level - 1] {
                        assert_eq!(gs_restore_thread(states[outer]), -1);
                        let message = last_error();
                        assert!(message.contains("reverse order of saving"), "{message}");
                        assert!(message.contains(&format!("(in level_{level}) is")), "{message}");
                    }
                }
                assert_eq!(gs_ensure(), GS_GILSTATE_UNLOCKED);
            }
            for (level, state) in states.iter().enumerate().rev() {
                assert_eq!(gs_release(GS_GILSTATE_UNLOCKED), 0, "level {level}");
                assert_eq!(gs_restore_thread(*state), 0, "level {level}: {}", last_error());
                assert!(gil::holds_lock());
                // Restored once; not again.
                assert_eq!(gs_restore_thread(*state), -1);
                assert!(last_error().contains("already holds the lock"));
            }
        });
        assert!(!gil::holds_lock());
    });
}

/// A thread queued for the lock makes the fast release fail its
/// compare-exchange: the full path hands the lock on, and every cycle
/// still returns 0, with the other thread getting the lock in between.
#[test]
fn cycles_with_a_thread_queued_hand_the_lock_on() {
    let _serial = serial();
    watchdog(120, "queued-cycles", || {
        let stop = Arc::new(AtomicBool::new(false));
        let other_got = Arc::new(AtomicU64::new(0));
        let contender = {
            let (stop, other_got) = (Arc::clone(&stop), Arc::clone(&other_got));
            thread::spawn(move || {
                while !stop.load(SeqCst) {
                    attach(|_| other_got.fetch_add(1, SeqCst));
                }
            })
        };
        attach(|_| {
            let mut cycles = 0u64;
            // Until the other thread has had the lock many times and we
            // have made many cycles (during one of our saves it may take
            // the lock several times over, so neither count bounds the
            // other).
            while other_got.load(SeqCst) < 200 || cycles < 200 {
                // SAFETY: a string literal.
                let state = unsafe { gs_save_thread_at(c"queued".as_ptr()) };
                assert!(!state.is_null());
                std::hint::spin_loop();
                assert_eq!(gs_restore_thread(state), 0);
                assert!(gil::holds_lock());
                cycles += 1;
            }
        });
        stop.store(true, SeqCst);
        contender.join().expect("contender");
    });
}

/// With the recorder on, a cycle takes the full path, which records the
/// release (naming no C function: the call came straight from here) and
/// the re-take.
#[test]
fn cycles_with_the_recorder_on_are_recorded() {
    let _serial = serial();
    watchdog(60, "recorded-cycles", || {
        let me = gil::current_serial();
        attach(|_| {
            // Published: later calls would take the fast path were the
            // recorder off.
            let warm = gs_save_thread();
            assert_eq!(gs_restore_thread(warm), 0);
            recorder::start_recording();
            for _ in 0..3 {
                let state = gs_save_thread();
                assert_eq!(gs_restore_thread(state), 0);
            }
        });
        let events = recorder::stop_recording();
        let mine = |kind: EventKind| {
            events.iter().filter(|event| event.thread == me && event.kind == kind).count()
        };
        assert_eq!(mine(EventKind::Released(Reason::ReleasedByC)), 3, "{events:?}");
        assert!(mine(EventKind::Got) >= 3, "{events:?}");
    });
}
