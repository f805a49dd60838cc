//! `gilscope soak`: many threads, a mixed load, the invariants checked
//! throughout.
//!
//! Each thread loops over a random mix of interpreted work (a toy function
//! on a shared program), C calls that keep the lock, C calls that release
//! it, C calls that start foreign threads calling back in, sleeps, and
//! check points, each check point first queueing a pending call (as a
//! signal handler would with `gs_add_pending_call`); now and then a thread
//! forks, once while holding the lock and once while not holding it. A
//! controller changes the switch interval and the policy at random while
//! they run. Checked all along:
//!
//! - **one holder**: every critical section counts itself in and out; more
//!   than one inside at any moment is a violation;
//! - **counts add up**: a shared counter bumped with a plain load and store
//!   under the lock must equal the sum of every thread's own count;
//! - **every thread joins** within the run time plus a grace period;
//! - **objects are freed**: the interpreter's live-object count returns to
//!   where it started;
//! - **pending calls run, with the lock**: every call queued has run by
//!   the end, each one with the lock held;
//! - **forked children have a working lock**: a child forked by the holder
//!   holds the lock, with no waiters, and can release and take it back; a
//!   child forked by a thread not holding it can take it. Each child
//!   `_exit`s with a code saying what it found; the parent waits for it
//!   (with the lock released) for at most ten seconds, then kills it and
//!   counts it as hung.
//!
//! With two threads or more, every other load thread belongs to a second
//! interpreter with its own lock, program and counters: the invariants
//! hold per interpreter. Its threads do no foreign-thread calls (those
//! enter the main interpreter) and queue no pending calls (those run in
//! the main interpreter); instead they, and the main interpreter's
//! check-point operations, copy small values into messages and send and
//! receive them over one channel the two interpreters share.
//!
//! This module owns its load threads, the controller, the invariant
//! counters and the report; printing the report and choosing the exit code
//! is the command line's job. It uses only the public APIs of the lock
//! ([`crate::gil`]), the C library ([`crate::ffi::clib`]) and the
//! interpreter ([`crate::vm`]); the only shared state it changes is the
//! process-wide policy and switch interval, at random while it runs, and it
//! puts back the defaults ([`Policy::DEFAULT`],
//! [`gil::DEFAULT_SWITCH_INTERVAL`]) when it ends. Nothing in the library
//! uses it.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`run`]: the threads, the controller, the invariant counters, the tally |
//! | `load.rs` | one load thread's loop and its operations |
//! | `fork.rs` | forked children and what they check |
//! | `report.rs` | [`SoakReport`] and its summary |
//! | `extension.rs` | the C extension the main interpreter's threads call (`--extension`) |

mod extension;
mod fork;
mod load;
mod report;

pub use extension::Extension;
pub use report::SoakReport;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::gil::{self, Policy};
use crate::vm;
use crate::vm::channel::Channel;
use crate::vm::message::Message;
use load::{Load, SCRIPT, load_thread};

/// What a soak run does.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// How many load threads.
    pub threads: usize,
    /// How long they run.
    pub seconds: f64,
    /// The seed of the random mix.
    pub seed: u64,
    /// A C extension exporting `sum(list)` for the main interpreter's
    /// threads to call (see [`Extension`]), if any.
    pub extension: Option<std::path::PathBuf>,
}

/// A small, fast, seedable generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One interpreter's invariant counters: bumped by its load threads
/// (`load.rs`), pending calls and forked children (`fork.rs`), read once
/// by [`run`] for the report.
struct Shared {
    inside: AtomicUsize,
    violations: AtomicU64,
    counter: AtomicU64,
    stop: AtomicBool,
    operations: [AtomicU64; 6],
    pending_queued: AtomicU64,
    pending_ran: AtomicU64,
    pending_without_lock: AtomicU64,
    messages: AtomicU64,
    forks: [AtomicU64; 2],
    forks_ok: AtomicU64,
    forks_hung: AtomicU64,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            inside: AtomicUsize::new(0),
            violations: AtomicU64::new(0),
            counter: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            operations: Default::default(),
            pending_queued: AtomicU64::new(0),
            pending_ran: AtomicU64::new(0),
            pending_without_lock: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            forks: Default::default(),
            forks_ok: AtomicU64::new(0),
            forks_hung: AtomicU64::new(0),
        }
    }
}

impl Shared {
    /// Count this thread into the critical section; the caller holds the lock.
    fn enter(&self) {
        if self.inside.fetch_add(1, SeqCst) != 0 {
            self.violations.fetch_add(1, SeqCst);
        }
    }

    fn leave(&self) {
        self.inside.fetch_sub(1, SeqCst);
    }

    /// A plain read-modify-write: safe only because the lock is held.
    fn bump(&self) {
        self.counter.store(self.counter.load(SeqCst) + 1, SeqCst);
    }
}

/// What the load threads of one interpreter share: the interpreter, its
/// program and its counters.
type InterpLoad = (&'static gil::Interpreter, Arc<vm::Program>, Arc<Shared>);

/// Run the soak and report.
///
/// # Errors
/// The extension, if one is given, cannot be loaded or does not work.
pub fn run(config: &SoakConfig) -> Result<SoakReport, String> {
    let started = Instant::now();
    let switches_before = gil::switch_number();
    // Loaded before the objects are counted: the module stays cached.
    let extension = config.extension.as_deref().map(Extension::load).transpose()?.map(Arc::new);
    let objects_before = gil::attach(|_| vm::live_objects() as i64);
    let program =
        gil::attach(|token| vm::load(token, "<soak>", SCRIPT).expect("the soak script runs"));
    let shared = Arc::new(Shared::new());
    // The second interpreter, if there are threads for it and a free slot.
    let second = if config.threads >= 2 { gil::Interpreter::start().ok() } else { None };
    let second_load: Option<InterpLoad> = second.as_ref().map(|started| {
        let interp = started.interpreter();
        let program = gil::attach_to(interp, |token| {
            vm::load(token, "<soak>", SCRIPT).expect("the soak script runs")
        });
        (interp, program, Arc::new(Shared::new()))
    });
    let main_load = (gil::Interpreter::main(), Arc::clone(&program), Arc::clone(&shared));
    let threads = start_load_threads(config, &main_load, second_load.as_ref(), extension.as_ref());
    let changes = control(config, started);
    shared.stop.store(true, SeqCst);
    if let Some((_, _, other)) = &second_load {
        other.stop.store(true, SeqCst);
    }
    gil::set_policy(Policy::DEFAULT);
    gil::set_switch_interval(gil::DEFAULT_SWITCH_INTERVAL);
    let joined = join_load_threads(threads, second_load.is_some());
    run_queued_calls(&shared);
    drop(main_load);
    gil::attach(|_| drop(program));
    let objects_after = gil::attach(|_| vm::live_objects() as i64);
    let extension_calls = extension.as_ref().map(|e| e.counts());
    if joined.unjoined == 0
        && let Some(extension) = extension.and_then(Arc::into_inner)
    {
        extension.unload();
    }
    let leaked = |left: i64| if joined.unjoined == 0 { left } else { 0 };
    let mut tally = Tally::of(&shared, joined.counted, leaked(objects_after - objects_before));
    // The second interpreter: its program goes, and its heap must be empty
    // (it started empty).
    if let Some((interp, program, other)) = second_load {
        let left = gil::attach_to(interp, |_| {
            drop(program);
            vm::live_objects() as i64
        });
        tally.add(Tally::of(&other, joined.counted_second, leaked(left)));
    }
    let interpreters = if second.is_some() { 2 } else { 1 };
    if joined.unjoined > 0 {
        // A stuck thread may still belong to it: never give the slot back.
        std::mem::forget(second);
    } else {
        drop(second);
    }
    Ok(SoakReport {
        operations: tally.operations,
        exclusion_violations: tally.violations,
        lost_updates: tally.lost,
        unjoined: joined.unjoined,
        leaked_objects: tally.leaked,
        changes,
        switches: gil::switch_number() - switches_before,
        elapsed: started.elapsed(),
        pending_calls: (shared.pending_queued.load(SeqCst), shared.pending_ran.load(SeqCst)),
        pending_without_lock: shared.pending_without_lock.load(SeqCst),
        interpreters,
        messages: tally.messages,
        forks: std::array::from_fn(|i| shared.forks[i].load(SeqCst)),
        forks_ok: shared.forks_ok.load(SeqCst),
        forks_hung: shared.forks_hung.load(SeqCst),
        extension_calls,
    })
}

/// Start the load threads: every other one belongs to the second
/// interpreter, if there is one; all share one channel.
fn start_load_threads(
    config: &SoakConfig,
    main: &InterpLoad,
    second: Option<&InterpLoad>,
    extension: Option<&Arc<Extension>>,
) -> Vec<JoinHandle<u64>> {
    let channel: Channel<Message> = Channel::bounded(NonZeroUsize::new(64).expect("not zero"));
    (0..config.threads)
        .map(|i| {
            // Extensions are called from the main interpreter only.
            let ((interp, program, shared), extension) = match second {
                Some(second) if i % 2 == 1 => (second, None),
                _ => (main, extension.cloned()),
            };
            let load = Load {
                interp,
                shared: Arc::clone(shared),
                program: Arc::clone(program),
                channel: channel.clone(),
                extension,
            };
            let seed = config.seed;
            thread::Builder::new()
                .name(format!("soak-{i}"))
                .spawn(move || load_thread(i, seed, load))
                .expect("start a load thread")
        })
        .collect()
}

/// The controller: change the switch interval and the policy at random
/// until the run time is up; returns how many changes it made.
fn control(config: &SoakConfig, started: Instant) -> u64 {
    let mut rng = Rng(config.seed.wrapping_add(17));
    let mut changes = 0;
    let deadline = started + Duration::from_secs_f64(config.seconds);
    while Instant::now() < deadline && !gil::interrupted() {
        thread::sleep(Duration::from_millis(10));
        gil::set_switch_interval(Duration::from_micros(50 + rng.below(5000)));
        gil::set_policy(Policy::ALL[rng.below(Policy::ALL.len() as u64) as usize]);
        changes += 2;
    }
    changes
}

/// What joining the load threads found.
struct Joined {
    /// Counter bumps reported by the main interpreter's threads.
    counted: u64,
    /// And by the second interpreter's.
    counted_second: u64,
    /// Threads that did not join within the grace period.
    unjoined: usize,
}

/// Join every load thread, each within a grace period.
fn join_load_threads(threads: Vec<JoinHandle<u64>>, two_interpreters: bool) -> Joined {
    let grace = Instant::now() + Duration::from_secs(10);
    let mut joined = Joined { counted: 0, counted_second: 0, unjoined: 0 };
    for (i, t) in threads.into_iter().enumerate() {
        while !t.is_finished() && Instant::now() < grace {
            thread::sleep(Duration::from_millis(5));
        }
        if t.is_finished() {
            let n = t.join().unwrap_or(0);
            if two_interpreters && i % 2 == 1 {
                joined.counted_second += n;
            } else {
                joined.counted += n;
            }
        } else {
            joined.unjoined += 1;
        }
    }
    joined
}

/// Calls still queued run at the next check points (a bounded wait: if
/// some never run, the report says so).
fn run_queued_calls(shared: &Shared) {
    for _ in 0..1000 {
        let done = shared.pending_ran.load(SeqCst) + shared.pending_without_lock.load(SeqCst);
        if done >= shared.pending_queued.load(SeqCst) {
            break;
        }
        gil::attach(|token| token.check_point().ok());
        thread::sleep(Duration::from_millis(1));
    }
}

/// One interpreter's invariants, summed over the interpreters for the
/// report.
struct Tally {
    operations: [u64; 6],
    violations: u64,
    lost: i64,
    leaked: i64,
    messages: u64,
}

impl Tally {
    /// What `shared`'s counters say, given the bumps its threads reported
    /// (`counted`) and the objects left over (`leaked`). Pending calls bump
    /// the counter too, and count what they bumped.
    fn of(shared: &Shared, counted: u64, leaked: i64) -> Tally {
        Tally {
            operations: std::array::from_fn(|i| shared.operations[i].load(SeqCst)),
            violations: shared.violations.load(SeqCst),
            lost: shared.counter.load(SeqCst) as i64
                - counted as i64
                - shared.pending_ran.load(SeqCst) as i64,
            leaked,
            messages: shared.messages.load(SeqCst),
        }
    }

    fn add(&mut self, other: Tally) {
        for (mine, theirs) in self.operations.iter_mut().zip(other.operations) {
            *mine += theirs;
        }
        self.violations += other.violations;
        self.lost += other.lost;
        self.leaked += other.leaked;
        self.messages += other.messages;
    }
}
