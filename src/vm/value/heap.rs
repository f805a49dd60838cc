//! Heap objects and their reference counts.
//!
//! Owns: [`ObjRef`] (a counted reference), the object kinds ([`Obj`]), the
//! count of live objects, and freeing. Every count change happens here,
//! under the lock (see the invariant in [`super`]). May not touch: the VM,
//! threads or natives above it; a thread's join handle is an opaque slot.
//! (It names the channel and message types a channel object holds.)

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::Relaxed};

use parking_lot::{Condvar, Mutex};

use super::channel::Channel;
use super::message::Message;
use super::native::Native;
use super::{Key, List, MapTable, Parcel, Text, Value};
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
    /// The id of the interpreter whose heap the object is in: only a
    /// thread holding that interpreter's lock may touch it.
    owner: u32,
    /// The bytes this object is counted for in [`live_bytes`]: changed only
    /// under the lock, by [`ObjRef::new`], [`ObjRef::resized`] and `free`.
    bytes: std::cell::Cell<usize>,
    obj: Obj,
}

/// A heap object.
pub enum Obj {
    /// A string, immutable to scripts: short ones inside the object
    /// ([`Text`]; `+=` appends in place to a string nothing else holds).
    Str(Text),
    /// An immutable byte string (compressed data, digests: not text).
    Bytes(Box<[u8]>),
    /// A mutable list.
    List(RefCell<List>),
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
    /// A thread started with `spawn`. (The rare, large kinds are boxed, so
    /// that every object's box stays the size of a map's.)
    Thread(Box<ThreadObj>),
    /// A lock, condition, queue or event (`Lock()`, `Queue()`, …).
    Sync(Box<super::sync::SyncObj>),
    /// A channel: shared by every thread and interpreter that has it, and
    /// carrying copies ([`Message`]s), never objects.
    Channel(ScriptChannel),
    /// An interpreter started with `interpreter()`.
    Interpreter(Box<InterpObj>),
}

/// The channel a script's `Channel()` makes.
pub type ScriptChannel = Channel<Message>;

/// How a started interpreter ended: its result, copied, or its uncaught
/// error.
pub type InterpOutcome = Result<Message, RtError>;

/// A started interpreter's join handle, shared by its object (for `join`)
/// and the run that started it (to wait, at the end, for interpreters
/// nobody joined).
pub type InterpSlot = Arc<Mutex<Option<std::thread::JoinHandle<InterpOutcome>>>>;

/// An interpreter started by `interpreter()`.
pub struct InterpObj {
    /// Its interpreter id, for messages.
    pub id: u32,
    /// Joined yet? Taken by `join` or at the end of the run.
    pub handle: InterpSlot,
    /// What `join` found, once joined (an error is kept, so a second
    /// `join` raises it again).
    pub outcome: RefCell<Option<Result<Value, RtError>>>,
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
    /// Its code (the closure's), for a resume to reach without reading
    /// the closure object.
    pub proto: Arc<Proto>,
    /// Where to resume.
    pub ip: usize,
    /// The frame's stack slots, saved while suspended.
    pub stack: Vec<Value>,
    /// Its state.
    pub state: GenState,
    /// Whether the `yield` it stopped at takes the resumed value (`Yield`)
    /// or drops it (`YieldPop`, `yield x` as a statement): a resume pushes
    /// the sent value only for the first.
    pub takes_sent: bool,
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

/// Live objects per interpreter slot. Only holders of that interpreter's
/// lock change a slot's count, so a load and a store are exact.
static LIVE_OBJECTS: [AtomicUsize; gil::MAX_INTERPRETERS] =
    [const { AtomicUsize::new(0) }; gil::MAX_INTERPRETERS];

/// Each interpreter's heap bytes, per slot: every object's box and what it
/// owns (a string's text, a list's or map's capacity, a generator's saved
/// stack). Changed only by holders of that interpreter's lock, like
/// [`LIVE_OBJECTS`].
static LIVE_BYTES: [AtomicUsize; gil::MAX_INTERPRETERS] =
    [const { AtomicUsize::new(0) }; gil::MAX_INTERPRETERS];

/// Change interpreter `owner`'s heap bytes by `delta` (its lock is held).
#[inline(always)]
fn count_bytes(owner: u32, delta: isize) {
    let live = &LIVE_BYTES[gil::slot_of(owner)];
    live.store(live.load(Relaxed).wrapping_add_signed(delta), Relaxed);
}

/// The default heap limit: 1 GiB. Scripts that need more say so with
/// `--max-memory`; a fixed default keeps a runaway `s = s + s` from taking
/// a shared machine's memory whatever its size.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

static MEMORY_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_MEMORY_LIMIT);

/// How many bytes the calling thread's interpreter's heap holds now: every
/// object's box and what it owns. Exact when read with its lock held.
pub fn live_bytes() -> usize {
    LIVE_BYTES[gil::slot_of(calling_interpreter())].load(Relaxed)
}

/// The id of the interpreter whose lock the calling thread holds (one
/// thread-local load), else of the interpreter it belongs to.
fn calling_interpreter() -> u32 {
    match gil::held_interpreter() {
        gil::NO_INTERPRETER => gil::current_interpreter().id(),
        held => held,
    }
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
            Obj::Str(s) => s.heap_bytes(),
            Obj::Bytes(b) => b.len(),
            Obj::List(items) => items.borrow().bytes(),
            Obj::Map(map) => map.borrow().capacity() * ENTRY,
            Obj::Closure(c) => c.captures.len() * std::mem::size_of::<ObjRef>(),
            Obj::Generator(g) => g.borrow().stack.capacity() * VALUE,
            _ => 0,
        }
}

/// How many heap objects the calling thread's interpreter has now. Exact
/// when read with its lock held.
pub fn live_objects() -> usize {
    LIVE_OBJECTS[gil::slot_of(calling_interpreter())].load(Relaxed)
}

/// Change interpreter `owner`'s live-object count by `delta` (its lock is
/// held).
#[inline(always)]
fn count_live(owner: u32, delta: isize) {
    let live = &LIVE_OBJECTS[gil::slot_of(owner)];
    live.store(live.load(Relaxed).wrapping_add_signed(delta), Relaxed);
}

/// Check that the calling thread holds the lock of the object's
/// interpreter before an access: one thread-local load and a compare.
#[inline(always)]
fn assert_owner(what: &str, owner: u32) {
    let held = gil::held_interpreter();
    if owner != held {
        gil::wrong_interpreter(what, owner, held);
    }
}

impl ObjRef {
    /// Put `obj` on the heap with a count of one. The token proves the
    /// lock is held, as every later count change will need.
    pub fn new(token: Token<'_>, obj: Obj) -> ObjRef {
        let owner = token.interpreter().id();
        count_live(owner, 1);
        let bytes = obj_bytes(&obj);
        count_bytes(owner, bytes as isize);
        let boxed = ObjBox { count: count_new(), owner, bytes: bytes.into(), obj };
        let at = box_memory(owner);
        // SAFETY: `box_memory` gives memory for one `ObjBox` that nothing
        // else uses; writing initialises it.
        unsafe { at.as_ptr().write(boxed) };
        ObjRef(at)
    }

    /// The object.
    #[inline]
    pub fn get(&self) -> &Obj {
        // SAFETY: the box lives while this reference is counted, and it is
        // counted as long as `self` exists; `owner` never changes.
        let boxed = unsafe { self.0.as_ref() };
        assert_owner("reading an interpreter object", boxed.owner);
        &boxed.obj
    }

    /// The object, to change in place, if this is its only reference
    /// (`None` otherwise): with a count of one and `&mut self`, nothing
    /// else can see the change. Call [`ObjRef::resized`] after a change
    /// of size.
    #[inline]
    pub fn get_unique(&mut self) -> Option<&mut Obj> {
        // SAFETY: as in `get`; a count of one means `self` is the box's
        // only reference, and `&mut self` makes this borrow the only one.
        let boxed = unsafe { self.0.as_mut() };
        assert_owner("changing an interpreter object", boxed.owner);
        (count_get(&boxed.count) == 1).then_some(&mut boxed.obj)
    }

    /// Whether two references name the same object.
    #[inline]
    pub fn ptr_eq(&self, other: &ObjRef) -> bool {
        self.0 == other.0
    }

    /// Count the object again after it grew or shrank in place (a `push`,
    /// a new map key), so [`live_bytes`] follows it.
    pub fn resized(&self) {
        // SAFETY: as in `get`; `bytes` is only changed under the lock.
        let boxed = unsafe { self.0.as_ref() };
        assert_owner("resizing an interpreter object", boxed.owner);
        let (before, now) = (boxed.bytes.get(), obj_bytes(&boxed.obj));
        if before != now {
            boxed.bytes.set(now);
            count_bytes(boxed.owner, now as isize - before as isize);
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
        // SAFETY: as in `get`; the count is only changed under the lock.
        let boxed = unsafe { self.0.as_ref() };
        assert_owner("copying a reference to an interpreter object", boxed.owner);
        count_inc(&boxed.count);
        ObjRef(self.0)
    }
}

impl Drop for ObjRef {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: as in `get`.
        let boxed = unsafe { self.0.as_ref() };
        assert_owner("dropping a reference to an interpreter object", boxed.owner);
        if count_dec(&boxed.count) == 0 {
            free(self.0);
        }
    }
}

/// Free an object whose count reached zero, and every object that only it
/// kept alive — iteratively, so a million-deep nested list cannot overflow
/// the Rust stack.
///
/// Strings and byte strings hold no references, so one whose count reaches
/// zero is freed on the spot; only containers wait in the work list, which
/// is not allocated until a container frees another container. Freeing a
/// map of four string keys and string values (a caught error, a record)
/// so costs no allocation of its own.
#[cold]
fn free(first: NonNull<ObjBox>) {
    if is_leaf(first) {
        free_leaf(first);
        return;
    }
    let mut pending: Vec<NonNull<ObjBox>> = Vec::new();
    let mut next = Some(first);
    while let Some(ptr) = next.take().or_else(|| pending.pop()) {
        // SAFETY: `ptr`'s count reached zero, so this is the only reference;
        // it was initialised by `ObjRef::new`, and is moved out once.
        let boxed = unsafe { take_box(ptr) };
        // Give up one counted reference to a child: free it now if it is a
        // string, or queue it if it is a container.
        let mut release = |child: ObjRef| {
            // Decrement without dropping: dropping would recurse.
            let child = std::mem::ManuallyDrop::new(child);
            // SAFETY: `child` is a counted reference we own and now give up.
            let count = unsafe { &child.0.as_ref().count };
            if count_dec(count) == 0 {
                if is_leaf(child.0) {
                    free_leaf(child.0);
                } else {
                    pending.push(child.0);
                }
            }
        };
        let mut release_value = |value: Value| {
            if let Value::Obj(child) = value {
                release(child);
            }
        };
        match boxed.obj {
            Obj::List(items) => {
                items.into_inner().into_references().into_iter().for_each(release_value)
            }
            Obj::Map(map) => {
                for (key, value) in map.into_inner() {
                    if let Key::Str(s) = key {
                        release_value(Value::Obj(s));
                    }
                    release_value(value);
                }
            }
            Obj::Closure(closure) => {
                closure.captures.into_vec().into_iter().map(Value::Obj).for_each(release_value)
            }
            Obj::Cell(cell) => release_value(cell.into_inner()),
            Obj::Generator(generator) => {
                let generator = generator.into_inner();
                release_value(Value::Obj(generator.closure));
                generator.stack.into_iter().for_each(release_value);
            }
            Obj::Thread(thread) => {
                thread.result.into_inner().and_then(Result::ok).into_iter().for_each(release_value)
            }
            Obj::Interpreter(interp) => {
                interp.outcome.into_inner().and_then(Result::ok).into_iter().for_each(release_value)
            }
            Obj::Sync(sync) => (*sync).into_values().into_iter().for_each(release_value),
            Obj::Str(_) | Obj::Bytes(_) | Obj::Native(_) | Obj::Channel(_) => {}
        }
    }
}

/// Whether the object holds no references to other objects.
#[inline(always)]
fn is_leaf(ptr: NonNull<ObjBox>) -> bool {
    // SAFETY: the caller holds the box's last reference (its count reached
    // zero), so it is alive and nothing changes it.
    matches!(unsafe { &ptr.as_ref().obj }, Obj::Str(_) | Obj::Bytes(_))
}

/// Free a string or byte string whose count reached zero.
#[inline(always)]
fn free_leaf(ptr: NonNull<ObjBox>) {
    // SAFETY: its count reached zero, so this is the only reference; it was
    // initialised by `ObjRef::new`, and is moved out once.
    drop(unsafe { take_box(ptr) });
}

/// How many freed object boxes each interpreter keeps for reuse: 4,096
/// boxes, about 400 KiB. A program that frees and makes objects at the
/// same pace (most of them) then never calls the allocator for a box;
/// one that frees a million at once gives all but these back.
const KEPT_BOXES: usize = 4096;

/// Freed object boxes kept for reuse, per interpreter slot: a list linked
/// through the boxes' own first word, as CPython keeps its free lists.
///
/// Only threads holding the slot's lock touch a slot's list (objects are
/// made and freed only with it held: [`ObjRef::new`] takes a token, and a
/// count reaches zero only in a holder, [`assert_owner`]); the lock's
/// acquire and release order every access, so relaxed loads and stores
/// suffice, as for [`LIVE_OBJECTS`]. A slot's lock is the same lock for
/// every interpreter that ever uses the slot, so a box kept by one is
/// safely reused by the next.
struct KeptBoxes {
    /// The first kept box, or null.
    head: AtomicPtr<KeptBox>,
    /// How many boxes the list holds.
    len: AtomicUsize,
}

/// A kept box's memory, while it is on a [`KeptBoxes`] list.
struct KeptBox {
    next: *mut KeptBox,
}

const _: () = assert!(
    std::mem::size_of::<KeptBox>() <= std::mem::size_of::<ObjBox>()
        && std::mem::align_of::<KeptBox>() <= std::mem::align_of::<ObjBox>()
);

static KEPT: [KeptBoxes; gil::MAX_INTERPRETERS] =
    [const { KeptBoxes { head: AtomicPtr::new(std::ptr::null_mut()), len: AtomicUsize::new(0) } };
        gil::MAX_INTERPRETERS];

/// Memory for one new object of interpreter `owner` (whose lock the caller
/// holds): a kept box if there is one, else a new allocation. Uninitialised.
#[inline(always)]
fn box_memory(owner: u32) -> NonNull<ObjBox> {
    let kept = &KEPT[gil::slot_of(owner)];
    let head = kept.head.load(Relaxed);
    if let Some(head) = NonNull::new(head) {
        // SAFETY: a non-null head is a kept box, written by `keep_box`
        // with its `next`; only lock holders read or change the list.
        let next = unsafe { head.as_ref().next };
        kept.head.store(next, Relaxed);
        kept.len.store(kept.len.load(Relaxed) - 1, Relaxed);
        return head.cast();
    }
    let layout = std::alloc::Layout::new::<ObjBox>();
    // SAFETY: `ObjBox` is not zero-sized.
    let memory = unsafe { std::alloc::alloc(layout) };
    match NonNull::new(memory) {
        Some(memory) => memory.cast(),
        None => std::alloc::handle_alloc_error(layout),
    }
}

/// Move a freed object out of its box, take it off its interpreter's
/// counts of live objects and bytes, and keep the box's memory for the
/// next object of the same interpreter (or give it back to the allocator
/// when enough are kept).
///
/// # Safety
/// `ptr` holds an initialised `ObjBox` made by [`ObjRef::new`] that nothing
/// else refers to any more (its count reached zero), and the caller holds
/// its interpreter's lock. The box is moved out: `ptr` is not used again.
#[inline(always)]
unsafe fn take_box(ptr: NonNull<ObjBox>) -> ObjBox {
    // SAFETY: initialised and unreferenced, by the caller's promise.
    let boxed = unsafe { ptr.as_ptr().read() };
    count_live(boxed.owner, -1);
    count_bytes(boxed.owner, -(boxed.bytes.get() as isize));
    let kept = &KEPT[gil::slot_of(boxed.owner)];
    let len = kept.len.load(Relaxed);
    if len < KEPT_BOXES {
        let memory = ptr.cast::<KeptBox>();
        // SAFETY: the memory is ours (the object was moved out) and large
        // and aligned enough for a `KeptBox` (checked at compile time).
        unsafe { memory.as_ptr().write(KeptBox { next: kept.head.load(Relaxed) }) };
        kept.head.store(memory.as_ptr(), Relaxed);
        kept.len.store(len + 1, Relaxed);
    } else {
        // SAFETY: allocated by `box_memory` with this layout, and ours.
        unsafe { std::alloc::dealloc(ptr.as_ptr().cast(), std::alloc::Layout::new::<ObjBox>()) };
    }
    boxed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeing_gives_back_every_object_and_byte_whatever_holds_what() {
        // Strings are freed on the spot and containers through the work
        // list; either way nothing may be counted twice or left counted,
        // and a string still held elsewhere must survive its container.
        let source = r#"
            let shared = "kept by two maps" + "!"
            let records = []
            for i in range(50) {
                push(records, {"name": str(i), "shared": shared, "tags": [str(i), shared, [shared]]})
            }
            let chain = []
            for i in range(20000) { chain = [chain, str(i)] }
            fn counter(start) { let n = [start]; return fn() { n[0] += 1; return n } }
            let c = counter("x")
            fn gen(words) { for w in words { yield w + "?" } }
            let g = gen(["a", "b", "c"])
            let first = next(g)
            let result = [records, chain, c, g, first]
            records = nil
            chain = nil
            let still = shared + ""
        "#;
        // In an interpreter of its own: the script's check points hand the
        // lock to whoever waits for it, and other tests in this process
        // make and free objects on the main interpreter's counts.
        let own = crate::gil::Interpreter::start().expect("a free interpreter slot");
        crate::gil::attach_to(own.interpreter(), |token| {
            let (objects, bytes) = (live_objects(), super::live_bytes());
            let program = crate::vm::load(token, "free.toy", source).expect("script runs");
            let still = program.global(token, "still").expect("a global");
            assert!(live_objects() > objects + 50);
            drop(program);
            // The one string the test still holds is all that is left.
            assert_eq!(live_objects(), objects + 1);
            assert!(
                matches!(&still, Value::Obj(r) if matches!(r.get(), Obj::Str(t) if &**t == "kept by two maps!"))
            );
            drop(still);
            assert_eq!((live_objects(), super::live_bytes()), (objects, bytes));
        });
    }

    #[test]
    fn freed_boxes_are_kept_up_to_the_cap_and_reused_first() {
        crate::gil::attach(|token| {
            let kept = &KEPT[gil::slot_of(token.interpreter().id())];
            // With the lock held nothing else changes this slot's list.
            let many: Vec<ObjRef> = (0..KEPT_BOXES + 100)
                .map(|i| ObjRef::new(token, Obj::Str(Text::from(i.to_string()))))
                .collect();
            drop(many);
            assert_eq!(kept.len.load(Relaxed), KEPT_BOXES, "the list stops at its cap");
            let last_freed = kept.head.load(Relaxed);
            let reused = ObjRef::new(token, Obj::Str(Text::from("again")));
            assert_eq!(
                reused.0.as_ptr().cast::<KeptBox>(),
                last_freed,
                "the last box freed is the next used"
            );
            assert_eq!(kept.len.load(Relaxed), KEPT_BOXES - 1);
            assert!(matches!(reused.get(), Obj::Str(t) if &**t == "again"));
        });
    }

    #[test]
    fn every_object_box_is_as_small_as_a_map_allows() {
        // The rare, large kinds are boxed; the largest inline kind is a
        // map's table, so a string or a list costs no more than that.
        let map = std::mem::size_of::<RefCell<MapTable>>();
        let boxed = std::mem::size_of::<ObjBox>();
        eprintln!("ObjBox: {boxed} bytes, a map's table {map}");
        assert!(std::mem::size_of::<Obj>() <= map + 8, "Obj grew past a map");
        assert!(boxed <= 104, "ObjBox is {boxed} bytes");
    }
}
