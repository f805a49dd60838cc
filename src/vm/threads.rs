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
//! the thread's name, and `join` returns `nil`.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use parking_lot::{Condvar, Mutex};

use super::error::{RtError, RtKind};
use super::machine::{Program, Vm};
use super::value::{HandleSlot, Obj, ObjRef, Parcel, ThreadObj, Value};
use crate::gil::{self, Token};

/// The script's threads that have not finished yet.
#[derive(Default)]
pub struct Running {
    count: Mutex<usize>,
    finished: Condvar,
    next_number: AtomicU64,
    handles: Mutex<Vec<HandleSlot>>,
}

impl Running {
    fn start(&self) {
        *self.count.lock() += 1;
    }

    fn finish(&self) {
        let mut count = self.count.lock();
        *count -= 1;
        if *count == 0 {
            self.finished.notify_all();
        }
    }

    /// Wait, with the lock released, until no thread is running — or, with
    /// `until_interrupt`, until an interrupt is pending.
    fn wait_for_threads(&self, token: Token<'_>, until_interrupt: bool) {
        token.detach(|| {
            let mut count = self.count.lock();
            while *count > 0 && !(until_interrupt && gil::interrupted()) {
                self.finished.wait_for(&mut count, std::time::Duration::from_millis(20));
            }
        });
    }

    /// Wait, with the lock released, until every thread has finished (or an
    /// interrupt is pending: the command line then exits at once).
    pub fn wait_all(&self, token: Token<'_>) {
        self.wait_for_threads(token, true);
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
        // Each result is a Parcel; dropping it takes the lock, so join and
        // drop with the lock released.
        token.detach(move || {
            for handle in handles {
                drop(handle.join());
            }
        });
    }
}

/// Start an interpreter thread of `program` running `f(args)`; the
/// thread object, or an error if `f` is not a function or the OS refuses.
pub(crate) fn start_thread(
    program: &Arc<Program>,
    token: Token<'_>,
    name: Option<String>,
    f: &Value,
    args: &[Value],
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
    let thread_name = name.clone();
    let program = Arc::clone(program);
    let spawned = std::thread::Builder::new().name(name.clone()).spawn(move || {
        /// Counts the thread as finished however it ends, a panic included.
        struct Finished(Arc<Program>);
        impl Drop for Finished {
            fn drop(&mut self) {
                self.0.threads.finish();
            }
        }
        let _finished = Finished(Arc::clone(&program));
        gil::attach(|token| {
            gil::set_thread_name(&thread_name);
            let mut values = parcel.open(token);
            let f = values.remove(0);
            let mut vm = Vm::new(Arc::clone(&program));
            let value = match vm.call(token, f, values) {
                Ok(value) => value,
                Err(e) => {
                    if e.kind != RtKind::Interrupted {
                        eprint!("error in thread '{thread_name}': {}", e.render(&program.file));
                    }
                    Value::Nil
                }
            };
            drop(vm);
            Parcel::pack(token, vec![value])
        })
    });
    let handle = match spawned {
        Ok(handle) => handle,
        Err(e) => {
            threads.finish();
            return Err(RtError::new(format!("spawn() could not start a thread: {e}")));
        }
    };
    let slot: HandleSlot = Arc::new(Mutex::new(Some(handle)));
    threads.handles.lock().push(Arc::clone(&slot));
    let thread = ThreadObj { name, handle: slot, result: RefCell::new(None) };
    Ok(Value::Obj(ObjRef::new(token, Obj::Thread(thread))))
}
