//! Heap objects and their reference counts.
//!
//! Owns: [`ObjRef`] (a counted reference), the object kinds ([`Obj`]), the
//! count of live objects, and freeing. Every count change happens here,
//! under the lock (see the invariant in [`super`]). May not touch: the VM,
//! threads or natives above it; a thread's join handle is an opaque slot.

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use parking_lot::{Condvar, Mutex};

use super::native::Native;
use super::{Key, MapTable, Parcel, Value};
use crate::gil::{self, Token};
use crate::vm::bytecode::Proto;
use crate::vm::error::RtError;

/// A counted reference to a heap object.
pub struct ObjRef(NonNull<ObjBox>);

/// The reference count: a plain `Cell`, made safe by the lock. Built with
/// `--features atomic-refcount`, an atomic instead — what a lock-free
/// interpreter would need — to measure what that costs (docs/why-a-gil.md).
#[cfg(not(feature = "atomic-refcount"))]
type Count = std::cell::Cell<usize>;
#[cfg(feature = "atomic-refcount")]
type Count = AtomicUsize;

#[cfg(not(feature = "atomic-refcount"))]
#[inline(always)]
fn count_new() -> Count {
    std::cell::Cell::new(1)
}
#[cfg(feature = "atomic-refcount")]
#[inline(always)]
fn count_new() -> Count {
    AtomicUsize::new(1)
}

/// Add one; plain load and store under the lock.
#[cfg(not(feature = "atomic-refcount"))]
#[inline(always)]
fn count_inc(count: &Count) {
    count.set(count.get() + 1);
}
#[cfg(feature = "atomic-refcount")]
#[inline(always)]
fn count_inc(count: &Count) {
    count.fetch_add(1, Relaxed);
}

/// Subtract one and return the new count.
#[cfg(not(feature = "atomic-refcount"))]
#[inline(always)]
fn count_dec(count: &Count) -> usize {
    let now = count.get() - 1;
    count.set(now);
    now
}
#[cfg(feature = "atomic-refcount")]
#[inline(always)]
fn count_dec(count: &Count) -> usize {
    count.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) - 1
}

#[cfg(not(feature = "atomic-refcount"))]
fn count_get(count: &Count) -> usize {
    count.get()
}
#[cfg(feature = "atomic-refcount")]
fn count_get(count: &Count) -> usize {
    count.load(Relaxed)
}

struct ObjBox {
    count: Count,
    /// The bytes this object is counted for in [`live_bytes`]: changed only
    /// under the lock, by [`ObjRef::new`], [`ObjRef::resized`] and `free`.
    bytes: std::cell::Cell<usize>,
    obj: Obj,
}

/// A heap object.
pub enum Obj {
    /// An immutable string.
    Str(Box<str>),
    /// An immutable byte string (compressed data, digests: not text).
    Bytes(Box<[u8]>),
    /// A mutable list.
    List(RefCell<Vec<Value>>),
    /// A mutable map, iterated in insertion order.
    Map(RefCell<MapTable>),
    /// A function with its captured variables.
    Closure(Closure),
    /// A captured variable, shared by the closures that capture it.
    Cell(RefCell<Value>),
    /// A built-in function.
    Native(Native),
    /// A suspended generator.
    Generator(RefCell<Generator>),
    /// A thread started with `spawn`.
    Thread(ThreadObj),
    /// A lock, condition, queue or event (`Lock()`, `Queue()`, …).
    Sync(super::sync::SyncObj),
}

/// A function value.
pub struct Closure {
    /// Its code.
    pub proto: Arc<Proto>,
    /// Its captured variables: `Obj::Cell`s.
    pub captures: Box<[ObjRef]>,
}

/// Where a generator is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenState {
    /// Created, not started.
    Fresh,
    /// Stopped at a `yield`.
    Suspended,
    /// Running now (resuming it again is an error).
    Running,
    /// Returned; it yields nothing more.
    Done,
}

/// A generator's saved frame.
pub struct Generator {
    /// The generator function.
    pub closure: ObjRef,
    /// Where to resume.
    pub ip: usize,
    /// The frame's stack slots, saved while suspended.
    pub stack: Vec<Value>,
    /// Its state.
    pub state: GenState,
}

/// A spawned thread's join handle, shared by its thread object (for
/// `join`) and the run (to join, at the end, the threads nobody joined).
/// The thread's result does not come back through it but through its
/// [`EndSlot`], filled before the thread exits.
pub type HandleSlot = Arc<Mutex<Option<std::thread::JoinHandle<()>>>>;

/// How a spawned thread's code ended: its result packed for the joiner, or
/// the error it failed with.
pub type ThreadEnd = Result<Parcel, RtError>;

/// Where a spawned thread is in its life, as `join` sees it.
pub enum EndState {
    /// Its code is still running.
    Running,
    /// Its code has ended; nobody has opened the result yet.
    Ended(ThreadEnd),
    /// A `join` moved the result into the thread object.
    Opened,
}

/// Filled once, by the thread, as its code ends; the condition variable
/// wakes the threads waiting in `join`.
pub type EndSlot = Arc<(Mutex<EndState>, Condvar)>;

/// A thread started by `spawn`.
pub struct ThreadObj {
    /// Its name.
    pub name: String,
    /// A number for it, unique in the process (to follow who joins whom).
    pub id: u64,
    /// Joined yet? The handle is taken by `join`, or at the end of the run
    /// by whoever waits for the script's threads; shared with the run's
    /// interpreter's list of running threads for that.
    pub handle: HandleSlot,
    /// How its code ended, once it has; shared with the thread.
    pub end: EndSlot,
    /// The result (or the error), once a `join` has opened the end: every
    /// later `join` returns (or raises) it again.
    pub result: RefCell<Option<Result<Value, RtError>>>,
}

static LIVE_OBJECTS: AtomicUsize = AtomicUsize::new(0);

/// The heap's bytes: every object's box and what it owns (a string's text,
/// a list's or map's capacity, a generator's saved stack). Changed only by
/// lock holders, like [`LIVE_OBJECTS`].
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The default heap limit: 1 GiB. Scripts that need more say so with
/// `--max-memory`; a fixed default keeps a runaway `s = s + s` from taking
/// a shared machine's memory whatever its size.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

static MEMORY_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_MEMORY_LIMIT);

/// How many bytes the interpreter's heap holds now: every object's box and
/// what it owns.
/// Exact when read with the lock held.
pub fn live_bytes() -> usize {
    LIVE_BYTES.load(Relaxed)
}

/// Set the heap limit for every script run in this process, in bytes
/// (`usize::MAX`: none).
pub fn set_memory_limit(bytes: usize) {
    MEMORY_LIMIT.store(bytes, Relaxed);
}

/// The heap limit, in bytes.
pub fn memory_limit() -> usize {
    MEMORY_LIMIT.load(Relaxed)
}

/// Check, before growing the heap by about `extra` bytes, that it stays
/// within the limit: the error is the script's "out of memory". Every way
/// a script grows strings, lists and maps calls this first, with the lock
/// held (so the count it reads is exact).
pub fn reserve(extra: usize) -> Result<(), RtError> {
    let live = live_bytes();
    let limit = memory_limit();
    if live.saturating_add(extra) > limit {
        return Err(RtError::new(format!(
            "out of memory: {live} bytes live, limit {limit} (this needed {extra} more; see --max-memory)"
        )));
    }
    Ok(())
}

/// [`reserve`] before adding one item to a vector or map of `len` items,
/// `capacity` slots and `item` bytes per slot: it doubles when full.
pub fn reserve_to_grow(len: usize, capacity: usize, item: usize) -> Result<(), RtError> {
    if len < capacity {
        return Ok(());
    }
    reserve(capacity.max(4).saturating_mul(item))
}

/// The bytes `obj` is counted for.
fn obj_bytes(obj: &Obj) -> usize {
    const VALUE: usize = std::mem::size_of::<Value>();
    // An index map keeps a hash and an index beside each entry.
    const ENTRY: usize = VALUE + std::mem::size_of::<Key>() + 16;
    std::mem::size_of::<ObjBox>()
        + match obj {
            Obj::Str(s) => s.len(),
            Obj::Bytes(b) => b.len(),
            Obj::List(items) => items.borrow().capacity() * VALUE,
            Obj::Map(map) => map.borrow().capacity() * ENTRY,
            Obj::Closure(c) => c.captures.len() * std::mem::size_of::<ObjRef>(),
            Obj::Generator(g) => g.borrow().stack.capacity() * VALUE,
            _ => 0,
        }
}

/// How many heap objects exist now. Exact when read with the lock held.
pub fn live_objects() -> usize {
    LIVE_OBJECTS.load(Relaxed)
}

/// Check that the calling thread holds the lock before an object access.
#[inline(always)]
fn assert_locked(what: &str) {
    if !gil::holds_lock() {
        gil::lock_required(what);
    }
}

impl ObjRef {
    /// Put `obj` on the heap with a count of one. The token proves the
    /// lock is held, as every later count change will need.
    pub fn new(_token: Token<'_>, obj: Obj) -> ObjRef {
        // Only lock holders write it, so load + store is exact.
        LIVE_OBJECTS.store(LIVE_OBJECTS.load(Relaxed) + 1, Relaxed);
        let bytes = obj_bytes(&obj);
        LIVE_BYTES.store(LIVE_BYTES.load(Relaxed) + bytes, Relaxed);
        let boxed = Box::new(ObjBox { count: count_new(), bytes: bytes.into(), obj });
        ObjRef(NonNull::from(Box::leak(boxed)))
    }

    /// The object.
    #[inline]
    pub fn get(&self) -> &Obj {
        assert_locked("reading an interpreter object");
        // SAFETY: the box lives while this reference is counted, and it is
        // counted as long as `self` exists.
        unsafe { &self.0.as_ref().obj }
    }

    /// Whether two references name the same object.
    #[inline]
    pub fn ptr_eq(&self, other: &ObjRef) -> bool {
        self.0 == other.0
    }

    /// Count the object again after it grew or shrank in place (a `push`,
    /// a new map key), so [`live_bytes`] follows it.
    pub fn resized(&self) {
        assert_locked("resizing an interpreter object");
        // SAFETY: as in `get`; `bytes` is only changed under the lock.
        let boxed = unsafe { self.0.as_ref() };
        let (before, now) = (boxed.bytes.get(), obj_bytes(&boxed.obj));
        if before != now {
            boxed.bytes.set(now);
            LIVE_BYTES.store(LIVE_BYTES.load(Relaxed) + now - before, Relaxed);
        }
    }

    /// The object's address: its identity while it lives (a freed
    /// object's address may be reused).
    #[inline]
    pub fn addr(&self) -> usize {
        self.0.as_ptr().addr()
    }

    /// The current count (for tests and diagnostics).
    pub fn count(&self) -> usize {
        // SAFETY: as in `get`.
        count_get(unsafe { &self.0.as_ref().count })
    }
}

impl Clone for ObjRef {
    #[inline]
    fn clone(&self) -> Self {
        assert_locked("copying a reference to an interpreter object");
        // SAFETY: as in `get`; the count is only changed under the lock.
        let count = unsafe { &self.0.as_ref().count };
        count_inc(count);
        ObjRef(self.0)
    }
}

impl Drop for ObjRef {
    #[inline]
    fn drop(&mut self) {
        assert_locked("dropping a reference to an interpreter object");
        // SAFETY: as in `get`.
        let count = unsafe { &self.0.as_ref().count };
        if count_dec(count) == 0 {
            free(self.0);
        }
    }
}

/// Free an object whose count reached zero, and every object that only it
/// kept alive — iteratively, so a million-deep nested list cannot overflow
/// the Rust stack.
#[cold]
fn free(first: NonNull<ObjBox>) {
    let mut pending = vec![first];
    while let Some(ptr) = pending.pop() {
        // SAFETY: `ptr`'s count reached zero, so this is the only reference;
        // it came from `Box::leak` in `ObjRef::new`.
        let boxed = unsafe { Box::from_raw(ptr.as_ptr()) };
        LIVE_OBJECTS.store(LIVE_OBJECTS.load(Relaxed) - 1, Relaxed);
        LIVE_BYTES.store(LIVE_BYTES.load(Relaxed) - boxed.bytes.get(), Relaxed);
        let mut children: Vec<Value> = Vec::new();
        let mut refs: Vec<ObjRef> = Vec::new();
        match boxed.obj {
            Obj::List(items) => children = items.into_inner(),
            Obj::Map(map) => {
                for (key, value) in map.into_inner() {
                    if let Key::Str(s) = key {
                        refs.push(s);
                    }
                    children.push(value);
                }
            }
            Obj::Closure(closure) => refs.extend(closure.captures.into_vec()),
            Obj::Cell(cell) => children.push(cell.into_inner()),
            Obj::Generator(generator) => {
                let generator = generator.into_inner();
                refs.push(generator.closure);
                children = generator.stack;
            }
            Obj::Thread(thread) => children.extend(thread.result.into_inner().and_then(Result::ok)),
            Obj::Sync(sync) => children = sync.into_values(),
            Obj::Str(_) | Obj::Bytes(_) | Obj::Native(_) => {}
        }
        let child_refs = children.into_iter().filter_map(|v| match v {
            Value::Obj(r) => Some(r),
            _ => None,
        });
        for child in refs.into_iter().chain(child_refs) {
            // Decrement without recursing: a child that reaches zero joins
            // the work list instead of being freed here.
            let child = std::mem::ManuallyDrop::new(child);
            // SAFETY: `child` is a counted reference we own and now give up.
            let count = unsafe { &child.0.as_ref().count };
            if count_dec(count) == 0 {
                pending.push(child.0);
            }
        }
    }
}
