//! A load thread: a random mix of interpreted work, C calls that keep or
//! release the lock, foreign threads calling back in, sleeps, check points
//! with pending calls, message exchanges and forks, each counted into its
//! interpreter's [`Shared`] counters.
//!
//! Owns: one thread's loop and what it works with ([`Load`]); the
//! counters belong to [`super`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use super::fork::{FORK_ONE_IN, fork_holding_the_lock, fork_without_the_lock};
use super::{Rng, Shared};
use crate::ffi::clib::{self, Hold};
use crate::gil;
use crate::vm::channel::Channel;
use crate::vm::message::Message;
use crate::vm::{self, Value};

/// What one load thread works with: its interpreter, that interpreter's
/// counters and program, and the channel the interpreters share.
pub(super) struct Load {
    pub(super) interp: &'static gil::Interpreter,
    pub(super) shared: Arc<Shared>,
    pub(super) program: Arc<vm::Program>,
    pub(super) channel: Channel<Message>,
    pub(super) extension: Option<Arc<super::Extension>>,
}

/// Send a small message and receive one (perhaps from the other
/// interpreter), opening it in this interpreter's heap.
fn exchange(token: gil::Token<'_>, load: &Load, index: usize, mine: u64) {
    let value = Value::list(token, vec![Value::Int(index as i64), Value::Int(mine as i64)]);
    if let Ok(message) = Message::copy(token, &value) {
        let _ = load.channel.try_send(message);
    }
    if let Ok(message) = load.channel.try_recv() {
        drop(message.open(token));
        load.shared.messages.fetch_add(1, SeqCst);
    }
}

/// A pending call: runs at some thread's check point, which must hold the
/// lock; it counts itself into the critical section and bumps the counter.
unsafe extern "C" fn pending_bump(argument: *mut std::ffi::c_void) {
    // SAFETY: a load thread queues this with a pointer to the main
    // interpreter's `Shared`, which `run` keeps alive until every queued
    // call has run.
    let shared = unsafe { &*argument.cast::<Shared>() };
    if !gil::holds_lock() {
        shared.pending_without_lock.fetch_add(1, SeqCst);
        return;
    }
    shared.enter();
    shared.bump();
    shared.pending_ran.fetch_add(1, SeqCst);
    shared.leave();
}

/// The program every load thread calls `work` in.
pub(super) const SCRIPT: &str = "
let shared = []
fn work(n) {
    let total = 0
    for i in range(n) { total += i }
    push(shared, total)
    if len(shared) > 100 { shared = [] }
    return total
}
";

/// One load thread's loop, until the run stops or an interrupt is
/// pending: returns how many times it bumped the shared counter.
pub(super) fn load_thread(index: usize, seed: u64, load: Load) -> u64 {
    let mut rng = Rng(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut mine = 0u64;
    gil::set_thread_name(&format!("soak-{index}"));
    let (shared, program) = (&load.shared, &load.program);
    let main = load.interp.is_main();
    while !shared.stop.load(SeqCst) && !gil::interrupted() {
        if main && rng.below(FORK_ONE_IN) == 0 {
            fork_without_the_lock(shared);
        }
        gil::attach_to(load.interp, |token| {
            shared.enter();
            shared.bump();
            mine += 1;
            if main && rng.below(FORK_ONE_IN) == 0 {
                shared.leave();
                fork_holding_the_lock(token, shared);
                shared.enter();
            }
            if let Some(extension) = &load.extension
                && rng.below(7) == 0
            {
                shared.leave(); // the call's check points may switch
                extension.call(token, rng.below(200) as i64);
                shared.enter();
            }
            let kind = rng.below(6) as usize;
            // In the second interpreter kinds 3 and 5 are message exchanges,
            // counted as messages, not as what they are in the main one.
            if main || !matches!(kind, 3 | 5) {
                shared.operations[kind].fetch_add(1, SeqCst);
            }
            match kind {
                0 => {
                    let f = program.global(token, "work").expect("work() is defined");
                    shared.leave(); // the interpreter's check points may switch
                    let _ = vm::Vm::new(Arc::clone(program)).call(
                        token,
                        f,
                        vec![Value::Int(rng.below(2000) as i64)],
                    );
                    shared.enter();
                }
                1 => {
                    let _ = clib::busy_wait_ms(token, rng.below(2) as i64, Hold::Keep);
                }
                2 => {
                    shared.leave();
                    let _ = clib::busy_wait_ms(token, rng.below(2) as i64, Hold::Release);
                    shared.enter();
                }
                3 | 5 if !main => exchange(token, &load, index, mine),
                3 => {
                    shared.leave();
                    let calls = AtomicU64::new(0);
                    let inside = shared;
                    let _ = clib::run_foreign_threads(token, 2, 3, &|_, _| {
                        inside.enter();
                        inside.bump();
                        calls.fetch_add(1, SeqCst);
                        inside.leave();
                        Ok(0)
                    });
                    mine += calls.load(SeqCst);
                    shared.enter();
                }
                4 => {
                    shared.leave();
                    token.detach(|| thread::sleep(Duration::from_micros(rng.below(500))));
                    shared.enter();
                }
                _ => {
                    exchange(token, &load, index, mine);
                    let argument = Arc::as_ptr(shared).cast_mut().cast();
                    // SAFETY: `pending_bump` only counts, and `run` keeps
                    // `shared` alive until every queued call has run.
                    if unsafe { gil::add_pending_call(pending_bump, argument) }.is_ok() {
                        shared.pending_queued.fetch_add(1, SeqCst);
                    }
                    shared.leave();
                    let _ = token.check_point();
                    shared.enter();
                }
            }
            shared.leave();
        });
    }
    mine
}
