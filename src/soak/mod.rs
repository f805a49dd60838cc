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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

use std::num::NonZeroUsize;

mod extension;

pub use extension::Extension;

use crate::ffi::clib::{self, Hold};
use crate::gil::{self, Policy};
use crate::vm::channel::Channel;
use crate::vm::message::Message;
use crate::vm::{self, Value};

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

/// What a soak run saw.
#[derive(Clone, Debug)]
pub struct SoakReport {
    /// Operations done, by kind: interpreted, C keeping, C releasing,
    /// foreign-thread calls, sleeps, check points.
    pub operations: [u64; 6],
    /// Times two threads were inside a critical section at once.
    pub exclusion_violations: u64,
    /// The shared counter minus the sum of the threads' own counts.
    pub lost_updates: i64,
    /// Threads that did not join in time.
    pub unjoined: usize,
    /// Live interpreter objects left over.
    pub leaked_objects: i64,
    /// Policy and interval changes made while running.
    pub changes: u64,
    /// Lock switches during the run.
    pub switches: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Pending calls queued (a full queue refuses some; those are not
    /// counted) and run.
    pub pending_calls: (u64, u64),
    /// Pending calls that found the lock not held.
    pub pending_without_lock: u64,
    /// How many interpreters the load threads belonged to (1 or 2).
    pub interpreters: usize,
    /// Messages received (and opened) from the channel the interpreters
    /// share.
    pub messages: u64,
    /// Children forked by a thread holding the lock, and by one not
    /// holding it.
    pub forks: [u64; 2],
    /// Children that found their lock working and exited 0.
    pub forks_ok: u64,
    /// Children that did not exit within the bound and were killed.
    pub forks_hung: u64,
    /// Extension calls made, and those that failed or answered wrong
    /// (`None` without an extension).
    pub extension_calls: Option<(u64, u64)>,
}

impl SoakReport {
    /// Whether every invariant held.
    pub fn ok(&self) -> bool {
        self.exclusion_violations == 0
            && self.lost_updates == 0
            && self.unjoined == 0
            && self.leaked_objects == 0
            && self.pending_calls.0 == self.pending_calls.1
            && self.pending_without_lock == 0
            && self.forks_ok == self.forks[0] + self.forks[1]
            && self.extension_calls.is_none_or(|(_, wrong)| wrong == 0)
    }

    /// The summary `gilscope soak` prints.
    pub fn summary(&self, config: &SoakConfig) -> String {
        let names = [
            "interpreted",
            "C keeping the lock",
            "C releasing it",
            "foreign-thread calls",
            "sleeps",
            "check points",
        ];
        let mut out = format!(
            "soak: {} threads in {} interpreter{} for {:.1} s (seed {}), {} lock switches, {} policy/interval changes\n",
            config.threads,
            self.interpreters,
            if self.interpreters == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64(),
            config.seed,
            self.switches,
            self.changes
        );
        for (name, n) in names.iter().zip(self.operations) {
            out.push_str(&format!("  {name:<22}{n:>10}\n"));
        }
        out.push_str(&format!("  {:<22}{:>10}\n", "messages received", self.messages));
        if let Some((calls, _)) = self.extension_calls {
            out.push_str(&format!("  {:<22}{calls:>10}\n", "extension calls"));
        }
        out.push_str(&format!(
            "  one holder at a time  {}\n  counts add up         {}\n  every thread joined   {}\n  objects freed         {}\n",
            if self.exclusion_violations == 0 { "yes".to_owned() } else { format!("NO ({} violations)", self.exclusion_violations) },
            if self.lost_updates == 0 { "yes".to_owned() } else { format!("NO ({} lost)", self.lost_updates) },
            if self.unjoined == 0 { "yes".to_owned() } else { format!("NO ({} stuck)", self.unjoined) },
            if self.leaked_objects == 0 { "yes".to_owned() } else { format!("NO ({} left)", self.leaked_objects) },
        ));
        let (queued, ran) = self.pending_calls;
        out.push_str(&format!(
            "  pending calls run     {}\n",
            if queued == ran && self.pending_without_lock == 0 {
                format!("yes ({ran}, each with the lock)")
            } else {
                format!(
                    "NO ({ran} of {queued} ran, {} without the lock)",
                    self.pending_without_lock
                )
            }
        ));
        let forked = self.forks[0] + self.forks[1];
        out.push_str(&format!(
            "  forked children ok    {}\n",
            if self.forks_ok == forked {
                format!(
                    "yes ({forked}: {} by the holder, {} by a thread without the lock)",
                    self.forks[0], self.forks[1]
                )
            } else {
                format!(
                    "NO ({} of {forked} ok, {} hung and killed)",
                    self.forks_ok, self.forks_hung
                )
            }
        ));
        if let Some((calls, wrong)) = self.extension_calls {
            out.push_str(&format!(
                "  extension answers     {}\n",
                if wrong == 0 {
                    "right".to_owned()
                } else {
                    format!("NO ({wrong} of {calls} wrong)")
                }
            ));
        }
        out.push_str(if self.ok() { "invariants held\n" } else { "INVARIANTS BROKEN\n" });
        out
    }
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

/// What one load thread works with: its interpreter, that interpreter's
/// counters and program, and the channel the interpreters share.
struct Load {
    interp: &'static gil::Interpreter,
    shared: Arc<Shared>,
    program: Arc<vm::Program>,
    channel: Channel<Message>,
    extension: Option<Arc<Extension>>,
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
    // SAFETY: `run` queues this with a pointer to its `Shared`, which it
    // keeps alive until every queued call has run.
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

const SCRIPT: &str = "
let shared = []
fn work(n) {
    let total = 0
    for i in range(n) { total += i }
    push(shared, total)
    if len(shared) > 100 { shared = [] }
    return total
}
";

/// One operation in this many forks (separately for the holder's and the
/// non-holder's fork): a fork copies the whole process, so it stays rare.
const FORK_ONE_IN: u64 = 400;

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
fn fork_holding_the_lock(token: gil::Token<'_>, shared: &Shared) {
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
fn fork_without_the_lock(shared: &Shared) {
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

fn load_thread(index: usize, seed: u64, load: Load) -> u64 {
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
    let second_load = second.as_ref().map(|started| {
        let interp = started.interpreter();
        let program = gil::attach_to(interp, |token| {
            vm::load(token, "<soak>", SCRIPT).expect("the soak script runs")
        });
        (interp, program, Arc::new(Shared::new()))
    });
    let channel: Channel<Message> = Channel::bounded(NonZeroUsize::new(64).expect("not zero"));
    let threads: Vec<_> = (0..config.threads)
        .map(|i| {
            let load = match &second_load {
                Some((interp, program, shared)) if i % 2 == 1 => Load {
                    interp,
                    shared: Arc::clone(shared),
                    program: Arc::clone(program),
                    channel: channel.clone(),
                    extension: None,
                },
                _ => Load {
                    interp: gil::Interpreter::main(),
                    shared: Arc::clone(&shared),
                    program: Arc::clone(&program),
                    channel: channel.clone(),
                    extension: extension.clone(),
                },
            };
            let seed = config.seed;
            thread::Builder::new()
                .name(format!("soak-{i}"))
                .spawn(move || load_thread(i, seed, load))
                .expect("start a load thread")
        })
        .collect();
    // The controller: change the switch interval and the policy at random.
    let mut rng = Rng(config.seed.wrapping_add(17));
    let mut changes = 0;
    let deadline = started + Duration::from_secs_f64(config.seconds);
    while Instant::now() < deadline && !gil::interrupted() {
        thread::sleep(Duration::from_millis(10));
        gil::set_switch_interval(Duration::from_micros(50 + rng.below(5000)));
        gil::set_policy(Policy::ALL[rng.below(Policy::ALL.len() as u64) as usize]);
        changes += 2;
    }
    shared.stop.store(true, SeqCst);
    if let Some((_, _, other)) = &second_load {
        other.stop.store(true, SeqCst);
    }
    gil::set_policy(Policy::DEFAULT);
    gil::set_switch_interval(gil::DEFAULT_SWITCH_INTERVAL);
    // Every thread must join within a grace period.
    let grace = Instant::now() + Duration::from_secs(10);
    let mut counted = 0u64;
    let mut counted_second = 0u64;
    let mut unjoined = 0;
    for (i, t) in threads.into_iter().enumerate() {
        while !t.is_finished() && Instant::now() < grace {
            thread::sleep(Duration::from_millis(5));
        }
        if t.is_finished() {
            let n = t.join().unwrap_or(0);
            if second_load.is_some() && i % 2 == 1 {
                counted_second += n;
            } else {
                counted += n;
            }
        } else {
            unjoined += 1;
        }
    }
    // Calls still queued run at the next check points (a bounded wait: if
    // some never run, the report says so).
    for _ in 0..1000 {
        let done = shared.pending_ran.load(SeqCst) + shared.pending_without_lock.load(SeqCst);
        if done >= shared.pending_queued.load(SeqCst) {
            break;
        }
        gil::attach(|token| token.check_point().ok());
        thread::sleep(Duration::from_millis(1));
    }
    gil::attach(|_| drop(program));
    let objects_after = gil::attach(|_| vm::live_objects() as i64);
    let extension_calls = extension.as_ref().map(|e| e.counts());
    if unjoined == 0
        && let Some(extension) = extension.and_then(Arc::into_inner)
    {
        extension.unload();
    }
    // The second interpreter: its program goes, and its heap must be empty
    // (it started empty).
    let mut second_violations = 0;
    let mut second_lost = 0i64;
    let mut second_leaked = 0i64;
    let mut second_operations = [0u64; 6];
    let mut messages = shared.messages.load(SeqCst);
    if let Some((interp, program, other)) = second_load {
        let left = gil::attach_to(interp, |_| {
            drop(program);
            vm::live_objects() as i64
        });
        second_leaked = if unjoined == 0 { left } else { 0 };
        second_violations = other.violations.load(SeqCst);
        second_lost = other.counter.load(SeqCst) as i64 - counted_second as i64;
        second_operations = std::array::from_fn(|i| other.operations[i].load(SeqCst));
        messages += other.messages.load(SeqCst);
    }
    let interpreters = if second.is_some() { 2 } else { 1 };
    if unjoined > 0 {
        // A stuck thread may still belong to it: never give the slot back.
        std::mem::forget(second);
    } else {
        drop(second);
    }
    Ok(SoakReport {
        operations: std::array::from_fn(|i| {
            shared.operations[i].load(SeqCst) + second_operations[i]
        }),
        exclusion_violations: shared.violations.load(SeqCst) + second_violations,
        lost_updates: shared.counter.load(SeqCst) as i64
            - counted as i64
            - shared.pending_ran.load(SeqCst) as i64
            + second_lost,
        unjoined,
        leaked_objects: if unjoined == 0 { objects_after - objects_before } else { 0 }
            + second_leaked,
        changes,
        switches: gil::switch_number() - switches_before,
        elapsed: started.elapsed(),
        pending_calls: (shared.pending_queued.load(SeqCst), shared.pending_ran.load(SeqCst)),
        pending_without_lock: shared.pending_without_lock.load(SeqCst),
        interpreters,
        messages,
        forks: std::array::from_fn(|i| shared.forks[i].load(SeqCst)),
        forks_ok: shared.forks_ok.load(SeqCst),
        forks_hung: shared.forks_hung.load(SeqCst),
        extension_calls,
    })
}
