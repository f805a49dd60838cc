//! Interpreter threads: starting them, and waiting for them at exit.
//!
//! Owns: [`Running`], the count and join handles of a script's threads.
//! The built-ins that use it (`spawn`, `join`, ...) are in `natives/`.
//!
//! Each spawned thread is a real OS thread with its own [`Vm`], sharing the
//! program. It runs only inside `gil::attach`, so at most one interpreter
//! thread runs bytecode at a time. The function and its arguments cross to
//! the new thread in a [`Parcel`], and the result comes back in one.
//! An uncaught error ends only its own thread: it is reported on stderr with
//! the thread's name, and every `join` of that thread raises it again in
//! the joiner, named after the thread, so a failure never reads as `nil`.
//!
//! `join` waits with the lock released and stops on Ctrl+C. It refuses to
//! wait forever: joining one's own thread is an error, and so is the `join`
//! that would close a cycle of threads each waiting for the next (`a` joins
//! `b` while `b` joins `a`) — the interpreter's version of Ruby's "No live
//! threads left. Deadlock?". [`Joins`] records who waits for whom.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use super::error::{RtError, RtKind, TraceLine};
use super::machine::{Program, Vm};
use super::message::Message;
use super::value::{
    EndSlot, EndState, HandleSlot, InterpObj, InterpOutcome, InterpSlot, Obj, ObjRef, Parcel,
    ThreadEnd, ThreadObj, Value,
};
use crate::gil::{self, Token};

/// The script's threads that have not finished yet.
#[derive(Default)]
pub struct Running {
    counter: Arc<Counter>,
    next_number: AtomicU64,
    handles: Mutex<Vec<HandleSlot>>,
    /// Interpreters started by the script; counted in `count` too.
    interpreters: Mutex<Vec<InterpSlot>>,
    joins: Mutex<Joins>,
}

/// How many threads and interpreters a script has running. Shared by
/// `Arc` so a started interpreter can count itself finished without
/// holding the program (whose objects it must not drop: they belong to
/// another interpreter).
#[derive(Default)]
struct Counter {
    count: Mutex<usize>,
    finished: Condvar,
}

/// Who waits in `join` for whom, to refuse a wait that could never end.
/// Threads are named by their lock serial ([`gil::current_serial`]), the
/// threads `spawn` made also by their [`ThreadObj::id`].
#[derive(Default)]
struct Joins {
    /// The serial of each started thread whose code has not ended yet.
    serial_of: HashMap<u64, u64>,
    /// For each thread waiting in `join`: the id of the thread it waits for.
    waits_for: HashMap<u64, u64>,
}

impl Joins {
    /// The chain of threads `serial` would wait for by joining `target`,
    /// as serials, if it leads back to `serial` (a deadlock).
    fn cycle(&self, serial: u64, target: u64) -> Option<Vec<u64>> {
        let mut chain = vec![serial];
        let mut next = target;
        while let Some(&s) = self.serial_of.get(&next) {
            if s == serial {
                return Some(chain);
            }
            if chain.contains(&s) {
                return None; // a cycle not through us: reported by its own closer
            }
            chain.push(s);
            next = *self.waits_for.get(&s)?;
        }
        None
    }
}

/// A started thread's join handle, shared by its object and the run
/// ([`HandleSlot`] for threads, [`InterpSlot`] for interpreters).
type JoinSlot<T> = Arc<Mutex<Option<JoinHandle<T>>>>;

/// Process-wide numbers for thread objects.
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

impl Counter {
    fn finish(&self) {
        let mut count = self.count.lock();
        *count -= 1;
        if *count == 0 {
            self.finished.notify_all();
        }
    }
}

impl Running {
    fn start(&self) {
        *self.counter.count.lock() += 1;
    }

    fn finish(&self) {
        self.counter.finish();
    }

    /// Keep the join handle of a thread just started (and counted by
    /// `start`) in `slots`, for the end of the run; if the OS refused to
    /// start it, count it finished again and say so in `func`'s name.
    fn keep<T>(
        &self,
        slots: &Mutex<Vec<JoinSlot<T>>>,
        spawned: std::io::Result<JoinHandle<T>>,
        func: &str,
    ) -> Result<JoinSlot<T>, RtError> {
        let handle = spawned.map_err(|e| {
            self.finish();
            RtError::new(format!("{func} could not start a thread: {e}"))
        })?;
        let slot = Arc::new(Mutex::new(Some(handle)));
        slots.lock().push(Arc::clone(&slot));
        Ok(slot)
    }

    /// Wait, with the lock released, until no thread is running — or, with
    /// `until_interrupt`, until an interrupt is pending.
    fn wait_for_threads(&self, token: Token<'_>, until_interrupt: bool) {
        token.detach(|| {
            let mut count = self.counter.count.lock();
            while *count > 0 && !(until_interrupt && gil::interrupted()) {
                self.counter.finished.wait_for(&mut count, std::time::Duration::from_millis(20));
            }
        });
    }

    /// Wait, with the lock released, until every thread has finished (or an
    /// interrupt is pending: the command line then exits at once).
    pub fn wait_all(&self, token: Token<'_>) {
        self.wait_for_threads(token, true);
    }

    /// Let go of the handles of the threads and interpreters the script
    /// never joined, without waiting (an interrupted run returns at once):
    /// each OS thread is detached, so it frees itself when it stops at its
    /// next check point instead of staying joinable, and leaked, for the
    /// rest of the process. (ThreadSanitizer reported those as leaked
    /// threads in a process that ran many scripts.) A `join` still waits
    /// on the thread's end state, which needs no handle.
    pub fn detach_all(&self) {
        let slots = std::mem::take(&mut *self.handles.lock());
        for slot in slots {
            let handle = slot.lock().take();
            drop(handle);
        }
        let slots = std::mem::take(&mut *self.interpreters.lock());
        for slot in slots {
            let handle = slot.lock().take();
            drop(handle);
        }
    }

    /// Wait, with the lock released, until every thread has finished, even
    /// if an interrupt is pending: the interrupt makes them stop at their
    /// next check point, and this waits for that. (Found by fuzzing: leaving
    /// them running let them outlive the program that started them.)
    ///
    /// Then it joins the threads the script never joined, so none is still
    /// exiting when this returns. (Also found by fuzzing: LeakSanitizer saw
    /// a thread's thread-local bookkeeping alive at exit.)
    pub fn wait_finished(&self, token: Token<'_>) {
        self.wait_for_threads(token, false);
        let slots = std::mem::take(&mut *self.handles.lock());
        let handles: Vec<_> = slots.iter().filter_map(|slot| slot.lock().take()).collect();
        let slots = std::mem::take(&mut *self.interpreters.lock());
        let interpreters: Vec<_> = slots.iter().filter_map(|slot| slot.lock().take()).collect();
        // Each result is a Parcel; dropping it takes the lock, so join and
        // drop with the lock released. An interpreter's outcome is a copy
        // or an error, needing no lock.
        token.detach(move || {
            for handle in handles {
                drop(handle.join());
            }
            for handle in interpreters {
                drop(handle.join());
            }
        });
    }
}

/// Start an interpreter thread of `program` running `f(args)`; the
/// thread object, or an error if `f` is not a function or the OS refuses.
/// `spawned_at` is the spawning thread's stack at the `spawn` call: the
/// place an error is reported at when it has no place of its own in the
/// new thread (`f` is a native or extension function, called directly).
pub(crate) fn start_thread(
    program: &Arc<Program>,
    token: Token<'_>,
    name: Option<String>,
    f: &Value,
    args: &[Value],
    spawned_at: Vec<TraceLine>,
) -> Result<Value, RtError> {
    if !matches!(f, Value::Obj(r) if matches!(r.get(), Obj::Closure(_) | Obj::Native(_))) {
        return Err(RtError::new(format!("spawn() needs a function, not a {}", f.type_name())));
    }
    let threads = &program.threads;
    let name =
        name.unwrap_or_else(|| format!("thread-{}", threads.next_number.fetch_add(1, SeqCst) + 1));
    let parcel =
        Parcel::pack(token, std::iter::once(f.clone()).chain(args.iter().cloned()).collect());
    threads.start();
    let id = NEXT_THREAD_ID.fetch_add(1, SeqCst);
    let end: EndSlot = Arc::new((Mutex::new(EndState::Running), Condvar::new()));
    let thread_end = Arc::clone(&end);
    let thread_name = name.clone();
    let program = Arc::clone(program);
    let interp = token.interpreter();
    let spawned = std::thread::Builder::new().name(name.clone()).spawn(move || {
        /// Counts the thread as finished however it ends, a panic included;
        /// a thread that ended without filling its end slot (a panic) fills
        /// it with an error, so no `join` waits forever.
        struct Finished(Arc<Program>, u64, EndSlot, String);
        impl Drop for Finished {
            fn drop(&mut self) {
                let (slot, changed) = &*self.2;
                let mut slot = slot.lock();
                if let EndState::Running = *slot {
                    let stopped = format!("thread '{}' stopped unexpectedly", self.3);
                    *slot = EndState::Ended(Err(RtError::new(stopped)));
                }
                drop(slot);
                changed.notify_all();
                self.0.threads.joins.lock().serial_of.remove(&self.1);
                self.0.threads.finish();
            }
        }
        let _finished =
            Finished(Arc::clone(&program), id, Arc::clone(&thread_end), thread_name.clone());
        // The thread belongs to the interpreter that started it.
        let ended: ThreadEnd = gil::attach_to(interp, |token| {
            gil::set_thread_name(&thread_name);
            program.threads.joins.lock().serial_of.insert(id, gil::current_serial());
            let mut values = parcel.open(token);
            let f = values.remove(0);
            let mut vm = Vm::new(Arc::clone(&program));
            let result = vm.call(token, f, values).map_err(|mut e| {
                if e.trace.is_empty() {
                    e.trace = spawned_at;
                }
                e
            });
            drop(vm);
            match result {
                Ok(value) => Ok(Parcel::pack(token, vec![value])),
                Err(e) => {
                    if e.kind != RtKind::Interrupted {
                        crate::stderr_print!(
                            "error in thread '{thread_name}': {}",
                            e.render_in(&program.file, &program.source)
                        );
                    }
                    Err(failure_seen_by_joiner(&thread_name, e))
                }
            }
        });
        *thread_end.0.lock() = EndState::Ended(ended);
    });
    let slot = threads.keep(&threads.handles, spawned, "spawn()")?;
    let thread = ThreadObj { name, id, handle: slot, end, result: RefCell::new(None) };
    Ok(Value::Obj(ObjRef::new(token, Obj::Thread(Box::new(thread)))))
}

/// What `interpreter()` runs: a `.toy` file, or source text.
fn interpreter_source(what: &str, number: u32) -> Result<(String, String), RtError> {
    let looks_like_a_path = what.ends_with(".toy") && !what.contains('\n');
    if looks_like_a_path {
        return match std::fs::read_to_string(what) {
            Ok(source) => Ok((what.to_owned(), source)),
            Err(e) => Err(RtError::new(format!("interpreter(): cannot read {what}: {e}"))),
        };
    }
    Ok((format!("<interpreter {number}>"), what.to_owned()))
}

/// Start an isolated interpreter of its own (its own lock, heap and
/// globals) on a new OS thread, running `what` (a `.toy` path or source
/// text). The arguments are copied into messages; if the script defines
/// a function `main`, it is called with (copies of) them after the top
/// level has run, and its result, copied, is what `join` returns. An
/// uncaught error comes back to whoever joins. Returns the interpreter
/// object.
pub(crate) fn start_interpreter(
    program: &Arc<Program>,
    token: Token<'_>,
    what: &str,
    args: &[Value],
) -> Result<Value, RtError> {
    let messages: Vec<Message> = args
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            Message::copy(token, arg).map_err(|e| {
                RtError::new(format!("interpreter() argument {}: {}", i + 2, e.message))
            })
        })
        .collect::<Result<_, _>>()?;
    let started = gil::Interpreter::start()
        .map_err(|e| RtError::new(format!("interpreter() could not start one: {e}")))?;
    let id = started.interpreter().id();
    let (file, source) = interpreter_source(what, id)?;
    let budget = program.budget;
    let threads = &program.threads;
    threads.start();
    let counter = Arc::clone(&threads.counter);
    let spawned = std::thread::Builder::new()
        .name(format!("interpreter-{id}"))
        .stack_size(super::INTERPRETER_STACK)
        .spawn(move || {
            /// Counts the interpreter as finished however it ends.
            struct Finished(Arc<Counter>);
            impl Drop for Finished {
                fn drop(&mut self) {
                    self.0.finish();
                }
            }
            let _finished = Finished(counter);
            let interp = started.interpreter();
            let outcome = gil::attach_to(interp, |token| {
                run_interpreter(token, &file, &source, messages, budget)
            });
            // Every thread of the interpreter has finished and every object
            // of its heap is gone: give the slot back.
            drop(started);
            outcome
        });
    let slot = threads.keep(&threads.interpreters, spawned, "interpreter()")?;
    let interp = InterpObj { id, handle: slot, outcome: RefCell::new(None) };
    Ok(Value::Obj(ObjRef::new(token, Obj::Interpreter(Box::new(interp)))))
}

/// The body of a started interpreter, run with its lock held.
fn run_interpreter(
    token: Token<'_>,
    file: &str,
    source: &str,
    args: Vec<Message>,
    budget: u64,
) -> InterpOutcome {
    let mut program = super::compile(token, file, source, &[]).map_err(|e| {
        RtError::new(format!(
            "the interpreter's script does not compile:\n{}",
            e.render(file, source)
        ))
    })?;
    Arc::get_mut(&mut program).expect("a freshly compiled program is not shared yet").budget =
        budget;
    let mut vm = Vm::new(Arc::clone(&program));
    let result = (|| {
        vm.run_main(token)?;
        let main = program.global(token, "main");
        match main {
            Some(f @ Value::Obj(_)) => {
                let args = args.into_iter().map(|m| m.open(token)).collect();
                let value = vm.call(token, f, args)?;
                Message::copy(token, &value).map(Some)
            }
            _ if !args.is_empty() => Ok(None),
            _ => Message::copy(token, &Value::Nil).map(Some),
        }
    })();
    drop(vm);
    program.threads.wait_finished(token);
    match result {
        Ok(Some(message)) => Ok(message),
        Ok(None) => Err(RtError::new(format!(
            "interpreter(): arguments were given but {file} defines no function main to take them"
        ))),
        Err(e) if e.kind == RtKind::Interrupted => Err(e),
        Err(e) => {
            // Reported where it happened, as a thread's error is; the
            // joiner gets it in one line.
            crate::stderr_print!("error in interpreter {file}: {}", e.render_in(file, source));
            let at = e.trace.last().map_or(String::new(), |t| format!(" at line {}", t.line));
            Err(RtError::new(format!("the interpreter {file} failed{at}: {}", e.message)))
        }
    }
}

/// `join` on an interpreter: wait (with the lock released) for it to end;
/// its result, copied into this interpreter's heap, or its error.
pub(crate) fn join_interpreter(token: Token<'_>, interp: &InterpObj) -> Result<Value, RtError> {
    let handle = interp.handle.lock().take();
    if let Some(handle) = handle {
        let joined = token.detach(move || handle.join());
        let outcome = match joined {
            Ok(Ok(message)) => Ok(message.open(token)),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(RtError::new(format!("interpreter {} crashed", interp.id))),
        };
        *interp.outcome.borrow_mut() = Some(outcome);
    }
    match &*interp.outcome.borrow() {
        Some(Ok(value)) => Ok(value.clone()),
        Some(Err(error)) => Err(RtError { trace: Vec::new(), ..error.clone() }),
        // Joined by the end of the run, so never by a script.
        None => Ok(Value::Nil),
    }
}

/// The error `join` raises for a thread that failed with `e`: named after
/// the thread, with the line it failed on. An interrupt stays an interrupt.
fn failure_seen_by_joiner(thread_name: &str, e: RtError) -> RtError {
    if e.kind == RtKind::Interrupted {
        return e;
    }
    let at = e.trace.last().map_or(String::new(), |t| format!(" at line {}", t.line));
    RtError::new(format!("thread '{thread_name}' failed{at}: {}", e.message))
}

/// `join(thread)`: wait for it with the lock released and return its
/// result, or raise its error — the same every time it is joined.
pub(crate) fn join_thread(
    program: &Arc<Program>,
    token: Token<'_>,
    thread: &Value,
) -> Result<Value, RtError> {
    let not_a_thread = || {
        RtError::new(format!(
            "join() needs a thread or an interpreter, not a {}",
            thread.type_name()
        ))
    };
    let Value::Obj(r) = thread else { return Err(not_a_thread()) };
    let t = match r.get() {
        Obj::Thread(t) => t,
        Obj::Interpreter(interp) => return join_interpreter(token, interp),
        _ => return Err(not_a_thread()),
    };
    if t.result.borrow().is_none() {
        wait_for_end(program, token, t)?;
        // Another joiner may have opened it while this one waited.
        let state = std::mem::replace(&mut *t.end.0.lock(), EndState::Opened);
        if let EndState::Ended(ended) = state {
            let result = ended.map(|parcel| parcel.open(token).pop().unwrap_or_default());
            *t.result.borrow_mut() = Some(result);
        }
        // Its code has ended; let the OS thread finish too. (Take the
        // handle first: the slot's mutex must not be held while detached.)
        let handle = t.handle.lock().take();
        if let Some(handle) = handle {
            token.detach(move || drop(handle.join()));
        }
    }
    t.result.borrow().clone().expect("the result was just stored")
}

/// Wait, with the lock released, until `t`'s code has ended; an error
/// instead if that can never happen or on Ctrl+C.
fn wait_for_end(program: &Program, token: Token<'_>, t: &ThreadObj) -> Result<(), RtError> {
    let (slot, changed) = &*t.end;
    if !matches!(*slot.lock(), EndState::Running) {
        return Ok(());
    }
    let me = gil::current_serial();
    {
        let mut joins = program.threads.joins.lock();
        if joins.serial_of.get(&t.id) == Some(&me) {
            return Err(RtError::new(format!(
                "join(): thread '{}' cannot join itself (it would wait forever)",
                t.name
            )));
        }
        if let Some(chain) = joins.cycle(me, t.id) {
            let names: Vec<String> =
                chain.iter().map(|&s| format!("'{}'", gil::thread_name(s))).collect();
            let waits: Vec<String> = (0..names.len())
                .map(|i| {
                    let verb = if i == 0 { "would join" } else { "is joining" };
                    format!("{} {verb} {}", names[i], names[(i + 1) % names.len()])
                })
                .collect();
            return Err(RtError::new(format!(
                "deadlock: these threads would wait for each other forever: {}",
                waits.join(", ")
            )));
        }
        joins.waits_for.insert(me, t.id);
    }
    let interrupted = token.detach(|| {
        let mut slot = slot.lock();
        while let EndState::Running = *slot {
            if gil::interrupted() {
                return true;
            }
            changed.wait_for(&mut slot, std::time::Duration::from_millis(20));
        }
        false
    });
    program.threads.joins.lock().waits_for.remove(&me);
    if interrupted { Err(RtError::interrupted()) } else { Ok(()) }
}
