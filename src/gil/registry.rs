//! The thread registry: every thread the lock has met, by serial, with
//! its name, and where each live thread is right now (which C function),
//! published for other threads to read.
//!
//! This file owns the registry and the published whereabouts. A thread adds
//! itself through [`register`] when its context is built (`thread.rs`) and
//! marks itself gone through [`mark_exited`]; other threads (the deadlock
//! watchdog, misuse messages, the demo) only read. The fork handlers
//! (`fork.rs`) hold its mutexes across `fork()`.

use once_cell::sync::Lazy;

use super::sync::{Arc, AtomicU64, Mutex, MutexGuard, Ordering::Relaxed};

/// A thread as the registry knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Process-unique serial number, starting at 1. Never reused.
    pub serial: u64,
    /// The thread's name: its Rust name, one given with
    /// [`set_thread_name`], or `thread-N` / `foreign-N`.
    pub name: String,
    /// Whether gilscope first met the thread through `gs_ensure`.
    pub foreign: bool,
    /// Whether the thread is still running.
    pub alive: bool,
}

static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);
static REGISTRY: Lazy<Mutex<Vec<ThreadInfo>>> = Lazy::new(|| Mutex::new(Vec::new()));

/// Which C function a thread is in, published for other threads: a
/// sequence lock over the name's pointer and length, written only by the
/// thread itself (a few relaxed stores per C call) and read rarely, by the
/// deadlock watchdog.
pub(crate) struct Whereabouts {
    sequence: std::sync::atomic::AtomicU32,
    name_ptr: std::sync::atomic::AtomicPtr<u8>,
    name_len: std::sync::atomic::AtomicUsize,
}

/// Every live thread's [`Whereabouts`], by serial.
type Published = Vec<(u64, Arc<Whereabouts>)>;
static PUBLISHED: Lazy<Mutex<Published>> = Lazy::new(|| Mutex::new(Vec::new()));

impl Whereabouts {
    fn register(serial: u64) -> Arc<Whereabouts> {
        let whereabouts = Arc::new(Whereabouts {
            sequence: std::sync::atomic::AtomicU32::new(0),
            name_ptr: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
            name_len: std::sync::atomic::AtomicUsize::new(0),
        });
        PUBLISHED.lock().push((serial, Arc::clone(&whereabouts)));
        whereabouts
    }

    pub(crate) fn publish(&self, name: Option<&'static str>) {
        use std::sync::atomic::{Ordering::Release, fence};
        let (ptr, len) =
            name.map_or((std::ptr::null_mut(), 0), |n| (n.as_ptr().cast_mut(), n.len()));
        let sequence = self.sequence.load(Relaxed);
        self.sequence.store(sequence.wrapping_add(1), Relaxed);
        fence(Release);
        self.name_ptr.store(ptr, Relaxed);
        self.name_len.store(len, Relaxed);
        self.sequence.store(sequence.wrapping_add(2), Release);
    }

    fn read(&self) -> Option<&'static str> {
        use std::sync::atomic::{Ordering::Acquire, fence};
        for _ in 0..1000 {
            let before = self.sequence.load(Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let ptr = self.name_ptr.load(Relaxed);
            let len = self.name_len.load(Relaxed);
            fence(Acquire);
            if self.sequence.load(Relaxed) != before {
                continue;
            }
            if ptr.is_null() {
                return None;
            }
            // SAFETY: with the sequence number unchanged across the reads,
            // `ptr` and `len` come from one `publish`, of a `&'static str`.
            let bytes = unsafe { std::slice::from_raw_parts(ptr.cast_const(), len) };
            return std::str::from_utf8(bytes).ok();
        }
        None
    }
}

/// The C function thread `serial` is in right now (a snapshot), if it is
/// alive and in one the interpreter called.
pub(crate) fn c_function_of(serial: u64) -> Option<&'static str> {
    let whereabouts =
        PUBLISHED.lock().iter().find(|(s, _)| *s == serial).map(|(_, w)| Arc::clone(w));
    whereabouts.and_then(|w| w.read())
}

/// Whether the calling thread is the process's first thread, which Rust
/// names "main" only in Rust programs; a C program embedding gilscope gets
/// the same name for its main thread.
fn is_process_main_thread() -> bool {
    // SAFETY: gettid and getpid take no arguments and cannot fail.
    unsafe { libc::gettid() == libc::getpid() }
}

/// The registry's mutexes, held across `fork()` by the fork handlers.
pub(crate) struct RegistryForkHold {
    registry: MutexGuard<'static, Vec<ThreadInfo>>,
    published: MutexGuard<'static, Published>,
}

/// Before `fork()`: take the registry's mutexes and keep them until
/// [`registry_after_fork`] gives the hold back.
pub(crate) fn registry_before_fork() -> RegistryForkHold {
    RegistryForkHold { registry: REGISTRY.lock(), published: PUBLISHED.lock() }
}

/// After `fork()`: give the mutexes back. In the child (`child` is the
/// forking thread's serial, 0 if gilscope never met it), first mark every
/// other thread as gone: they do not exist in the child. Unlocking is all
/// the mutexes need in the child (`sync.rs`: no process-wide record of
/// their waiters).
pub(crate) fn registry_after_fork(hold: RegistryForkHold, child: Option<u64>) {
    let RegistryForkHold { mut registry, mut published } = hold;
    if let Some(me) = child {
        for info in registry.iter_mut().filter(|t| t.serial != me) {
            info.alive = false;
        }
        published.retain(|(serial, _)| *serial == me);
    }
    drop(published);
    drop(registry);
}

/// What gilscope sets up for the process when it first meets a thread:
/// the fork handlers, and the watchdog if the environment asks for it.
fn register_process_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        super::fork::register_handlers();
        super::watchdog::start_from_env();
    });
}

/// Mark the calling thread as first met through the C API.
pub(crate) fn mark_foreign(serial: u64) {
    if let Some(info) = REGISTRY.lock().iter_mut().find(|t| t.serial == serial) {
        if !info.foreign {
            info.foreign = true;
            if info.name == format!("thread-{serial}") {
                info.name = format!("foreign-{serial}");
            }
        }
    }
}

/// Give the calling thread the name used in messages, traces and the demo.
pub fn set_thread_name(name: &str) {
    let serial = super::thread::current_serial();
    if let Some(info) = REGISTRY.lock().iter_mut().find(|t| t.serial == serial) {
        info.name = name.to_owned();
    }
}

/// What the registry knows about thread `serial`.
pub fn thread_info(serial: u64) -> Option<ThreadInfo> {
    REGISTRY.lock().iter().find(|t| t.serial == serial).cloned()
}

/// The name of thread `serial`, or `#N` if unknown.
pub fn thread_name(serial: u64) -> String {
    thread_info(serial).map_or_else(|| format!("#{serial}"), |t| t.name)
}

/// Every thread the lock has met, in order of first contact.
pub fn threads() -> Vec<ThreadInfo> {
    REGISTRY.lock().clone()
}

/// Add the calling thread to the registry: a fresh serial, its name (its
/// Rust name, "main" for the process's first thread, else `thread-N`) and
/// its published whereabouts.
pub(crate) fn register() -> (u64, Arc<Whereabouts>) {
    let serial = NEXT_SERIAL.fetch_add(1, Relaxed);
    register_process_handlers();
    let name = match std::thread::current().name() {
        Some(name) => name.to_owned(),
        None if is_process_main_thread() => "main".to_owned(),
        None => format!("thread-{serial}"),
    };
    REGISTRY.lock().push(ThreadInfo { serial, name, foreign: false, alive: true });
    (serial, Whereabouts::register(serial))
}

/// Mark thread `serial` as exited and stop publishing its whereabouts.
pub(crate) fn mark_exited(serial: u64) {
    if let Some(info) = REGISTRY.lock().iter_mut().find(|t| t.serial == serial) {
        info.alive = false;
    }
    PUBLISHED.lock().retain(|(s, _)| *s != serial);
}
