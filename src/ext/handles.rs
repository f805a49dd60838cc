//! The handle tables: what a `gs_object *` handed to C stands for.
//!
//! C never sees an object's address. Each `gs_object *` is a handle — a
//! tag, an interpreter slot, a table index and the table entry's generation
//! packed into one pointer-sized number — naming an entry of one
//! interpreter's table, which holds the value. So every use can be checked
//! with an array index and two compares: a pointer with the wrong tag or an
//! index past the table was never handed out; an entry whose generation
//! moved on was freed; a handle of another interpreter's table is refused by
//! name (its objects are guarded by another lock). None is ever
//! dereferenced.
//!
//! # References
//!
//! A live entry holds one interpreter reference to its value (the handle's
//! own), plus one more for each reference C owns (`c_owned`: one cloned
//! [`Value`] each), so the object's plain reference count counts C's
//! references exactly, as CPython's does. An entry is also *pinned* while a
//! call scope lent it to C (the arguments of an extension function, the
//! results of `gs_list_get`/`gs_map_get`). An entry is freed when C owns no
//! reference and no scope pins it.
//!
//! One entry per object: asking twice for the same object gives the same
//! handle, as CPython gives the same pointer. The object's entry is found
//! through [`Identities`]: one direct-mapped array probe in the common
//! case, a hash map only for collisions. (Floats, and integers too large
//! to be immediates, get an entry per request: they have no identity to
//! keep.)
//!
//! # Immediates
//!
//! `nil`, booleans and small integers cross as *immediate* handles with no
//! table entry: see `handles/immediates.rs`.
//!
//! # Interpreters
//!
//! Each interpreter has its own table, touched only under its own lock, so
//! two interpreters running extension code at once never share one. An
//! interpreter that ends leaves its table to the next interpreter started
//! in its slot, which forgets (leaks) whatever C still owned there: those
//! objects live in a heap no lock protects any more, and dropping them
//! would touch it. Handles into the old table then read as freed.
//!
//! # Ownership
//!
//! This file owns the tables and each thread's scope stack. A table is
//! touched only with its interpreter's lock held (callers prove it with a
//! [`Token`]).

use std::cell::{Cell, RefCell, UnsafeCell};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::gil::{MAX_INTERPRETERS, NO_INTERPRETER, Token, slot_of};
use crate::vm::Value;

use super::identities::Identities;

mod contents;
mod errors;
mod immediates;

pub use contents::{bytes_data, data, data_if_held, str_text};
pub use errors::{BadHandle, DecrefError};
pub use immediates::immediate_int;
#[cfg(test)]
use immediates::{IMMEDIATE_INT_MAX, IMMEDIATE_INT_MIN};
use immediates::{immediate, immediate_value};

/// The high byte every handle carries. User-space pointers on the 64-bit
/// targets gilscope runs on use at most the low 47 bits (kernel addresses
/// have the top bits all set), so a real pointer passed by mistake is
/// recognised as "never handed out".
const TAG: usize = 0x67 << PAYLOAD_BITS;
const PAYLOAD_BITS: u32 = 56;
const TAG_MASK: usize = !((1 << PAYLOAD_BITS) - 1);
const GENERATION_BITS: u32 = 20;
const GENERATION_MASK: usize = (1 << GENERATION_BITS) - 1;
const INTERPRETER_BITS: u32 = 6;
/// 30: about a billion live handles per interpreter.
const INDEX_BITS: u32 = PAYLOAD_BITS - GENERATION_BITS - INTERPRETER_BITS;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const _: () = assert!(MAX_INTERPRETERS == 1 << INTERPRETER_BITS);

/// What C holds: an opaque handle, never dereferenced.
#[repr(C)]
pub struct GsObject {
    _opaque: [u8; 0],
}

/// The identity a heap object's entry is found by: its address. Floats and
/// large integers have no identity to keep: each gets an entry of its own.
fn identity(value: &Value) -> Option<usize> {
    match value {
        Value::Obj(r) => Some(r.addr()),
        _ => None,
    }
}

/// How many of a call's arguments a [`Scope`] records itself; the
/// entries of any more go to the thread's list of lent entries.
const SCOPE_ARGS: usize = 4;
/// No entry: an immediate argument, or none.
const NO_ENTRY: u32 = u32::MAX;

/// An open call scope: the entries of the arguments it lent (the first
/// [`SCOPE_ARGS`]), and where its other entries start in the thread's list.
#[must_use = "a scope is closed with close_scope"]
pub struct Scope {
    args: [u32; SCOPE_ARGS],
    /// How many of `args` are used.
    arg_count: usize,
    start: usize,
}

struct Slot {
    /// The value and the handle's own reference to it; `None` when free.
    value: Option<Value>,
    generation: u32,
    /// One reference per reference C owns.
    c_owned: Vec<Value>,
    /// How many open call scopes lend this entry to C.
    pins: u32,
    /// A NUL-terminated copy of a string's text, made by `gs_as_str`.
    text: Option<Box<[u8]>>,
    /// The generation the entry had when it was last freed, and whether
    /// that was because the call scope that lent it closed: so a stale
    /// handle of exactly that generation is reported as a borrowed
    /// reference kept too long, not as a double `gs_decref`.
    freed_generation: u32,
    freed_by: FreedBy,
}

/// Why an entry was last freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FreedBy {
    /// C gave back its last reference (or the entry was never freed).
    LastReference,
    /// The call scope that lent it closed and C owned no reference.
    ScopeClosed,
}

struct Table {
    /// The id of the interpreter the table serves now (see the module docs).
    owner: u32,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// How many free entries are *parked* rather than on `free`: see
    /// [`Table::release_if_unused`].
    parked: usize,
    ids: Identities,
}

/// One interpreter's table, guarded by that interpreter's lock.
struct LockGuarded(UnsafeCell<RefCell<Table>>);

// SAFETY: a table is reached only through `with_table`, which takes a
// `Token` and picks the table of the token's interpreter: the calling
// thread holds that interpreter's lock, so no two threads touch the table
// (or the non-atomic counts of the values inside) at once.
unsafe impl Sync for LockGuarded {}

static TABLES: [LockGuarded; MAX_INTERPRETERS] = [const {
    LockGuarded(UnsafeCell::new(RefCell::new(Table {
        owner: NO_INTERPRETER,
        slots: Vec::new(),
        free: Vec::new(),
        parked: 0,
        ids: Identities::new(),
    })))
}; MAX_INTERPRETERS];

/// The id of the interpreter each table serves, readable without its lock:
/// for naming the owner of a handle used from another interpreter.
static OWNERS: [AtomicU32; MAX_INTERPRETERS] =
    [const { AtomicU32::new(NO_INTERPRETER) }; MAX_INTERPRETERS];

#[inline]
fn with_table<R>(_token: Token<'_>, f: impl FnOnce(&mut Table) -> R) -> R {
    // The token's interpreter, in one thread-local load.
    let id = crate::gil::held_interpreter();
    let slot = slot_of(id);
    // SAFETY: the token proves the lock of interpreter `id` is held (see
    // `LockGuarded`), and the `RefCell` catches any re-entrant use instead
    // of aliasing.
    let cell = unsafe { &*TABLES[slot].0.get() };
    let mut table = cell.try_borrow_mut().expect("the handle table is not re-entered");
    if table.owner != id {
        table.adopt(slot, id);
    }
    f(&mut table)
}

/// Why the handle `bits`, naming entry `slot` with a stale generation,
/// no longer names a live object.
#[cold]
fn stale(slot: &Slot, bits: usize) -> BadHandle {
    let freed_then = slot.freed_generation as usize & GENERATION_MASK == bits & GENERATION_MASK;
    if freed_then && slot.freed_by == FreedBy::ScopeClosed {
        BadHandle::LentScopeClosed
    } else {
        BadHandle::Freed
    }
}

fn encode(interpreter_slot: usize, index: u32, generation: u32) -> *mut GsObject {
    let value = TAG
        | (interpreter_slot << (GENERATION_BITS + INDEX_BITS))
        | ((index as usize) << GENERATION_BITS)
        | (generation as usize & GENERATION_MASK);
    std::ptr::without_provenance_mut(value)
}

impl Table {
    /// Serve interpreter `id` from now on (the first use, or the first
    /// after the interpreter that used this slot ended).
    #[cold]
    fn adopt(&mut self, slot: usize, id: u32) {
        for entry in &mut self.slots {
            if let Some(value) = entry.value.take() {
                // Objects of an ended interpreter: see the module docs.
                std::mem::forget(value);
                std::mem::forget(std::mem::take(&mut entry.c_owned));
                entry.pins = 0;
                entry.text = None;
                entry.generation = entry.generation.wrapping_add(1).max(1);
                entry.freed_by = FreedBy::LastReference;
            }
        }
        // Every entry is free now, parked ones included.
        self.free.clear();
        self.free.extend((0..self.slots.len() as u32).rev());
        self.parked = 0;
        self.ids = Identities::new();
        self.owner = id;
        OWNERS[slot].store(id, Relaxed);
    }

    #[inline]
    fn find(&self, handle: *mut GsObject) -> Result<u32, BadHandle> {
        let bits = handle.addr();
        if bits & TAG_MASK != TAG || bits == 0 {
            return Err(if handle.is_null() { BadHandle::Null } else { BadHandle::Foreign });
        }
        let interpreter_slot = bits >> (GENERATION_BITS + INDEX_BITS) & (MAX_INTERPRETERS - 1);
        if interpreter_slot != slot_of(self.owner) {
            let owner = OWNERS[interpreter_slot].load(Relaxed);
            return Err(if owner == NO_INTERPRETER {
                BadHandle::Foreign
            } else {
                BadHandle::OtherInterpreter(owner)
            });
        }
        let index = (bits >> GENERATION_BITS) & INDEX_MASK;
        let slot = self.slots.get(index).ok_or(BadHandle::Foreign)?;
        if slot.value.is_none()
            || slot.generation as usize & GENERATION_MASK != bits & GENERATION_MASK
        {
            return Err(stale(slot, bits));
        }
        Ok(index as u32)
    }

    /// The entry for `value`: its live entry if it has one, else a new one
    /// holding the handle's reference.
    #[inline(always)]
    fn slot_for(&mut self, value: &Value) -> u32 {
        let id = identity(value);
        if let Some(id) = id {
            if let Some(index) = self.ids.get(id) {
                let slot = &mut self.slots[index as usize];
                if slot.value.is_none() {
                    // Parked under this identity: live again.
                    slot.value = Some(value.clone());
                    self.parked -= 1;
                }
                return index;
            }
            if let Some(index) = self.ids.direct_occupant(id) {
                let slot = &mut self.slots[index as usize];
                if slot.value.is_none() {
                    // Parked under another identity in this one's place:
                    // taken over.
                    slot.value = Some(value.clone());
                    self.parked -= 1;
                    self.ids.set_direct(id, index);
                    return index;
                }
            }
        }
        let index = match self.free.pop() {
            Some(index) => {
                // A freed entry keeps its generation (already moved on) and
                // its empty `c_owned` list's memory, so reuse allocates
                // nothing.
                let slot = &mut self.slots[index as usize];
                debug_assert!(slot.value.is_none() && slot.c_owned.is_empty() && slot.pins == 0);
                slot.value = Some(value.clone());
                index
            }
            None => self.grow(value.clone()),
        };
        if let Some(id) = id {
            self.ids.insert(id, index);
        }
        index
    }

    /// Lend `value` to a call scope: its entry (found or made as by
    /// [`Table::slot_for`]) pinned once more, and the entry's handle. The
    /// common case, an object whose entry is in its identity's
    /// direct-mapped place (live, or parked there by the last call), is
    /// one probe and one entry touched.
    #[inline(always)]
    fn lend(&mut self, value: &Value) -> (u32, *mut GsObject) {
        if let Some(id) = identity(value)
            && let Some(index) = self.ids.get_direct(id)
        {
            let interpreter_slot = slot_of(self.owner);
            let slot = &mut self.slots[index as usize];
            if slot.value.is_none() {
                // Parked under this identity: live again.
                slot.value = Some(value.clone());
                self.parked -= 1;
            }
            slot.pins += 1;
            return (index, encode(interpreter_slot, index, slot.generation));
        }
        self.lend_elsewhere(value)
    }

    /// [`Table::lend`] for an object not in its direct-mapped place, or a
    /// value without identity.
    #[inline(never)]
    fn lend_elsewhere(&mut self, value: &Value) -> (u32, *mut GsObject) {
        let index = self.slot_for(value);
        self.slots[index as usize].pins += 1;
        (index, self.handle(index))
    }

    #[cold]
    fn grow(&mut self, value: Value) -> u32 {
        assert!(self.slots.len() < INDEX_MASK, "more than 2^30 live handles");
        self.slots.push(Slot {
            value: Some(value),
            generation: 1,
            c_owned: Vec::with_capacity(1),
            pins: 0,
            text: None,
            freed_generation: 0,
            freed_by: FreedBy::LastReference,
        });
        (self.slots.len() - 1) as u32
    }

    #[inline]
    fn handle(&self, index: u32) -> *mut GsObject {
        encode(slot_of(self.owner), index, self.slots[index as usize].generation)
    }

    /// A call scope that lent entry `index` closes: one pin less, and the
    /// entry freed if nothing else keeps it.
    #[inline]
    fn unpin(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.pins -= 1;
        if slot.pins == 0 && slot.c_owned.is_empty() {
            drop(self.release_if_unused(index, FreedBy::ScopeClosed));
        }
    }

    /// Free the entry if nothing keeps it (`by` says why it is let go);
    /// returns the value to drop.
    ///
    /// An object's entry found through its direct-mapped identity place is
    /// *parked* there, not put on the free list: the next request for the
    /// same object (the same argument passed again, call after call) takes
    /// it back with one probe, and a request for another object whose
    /// place it holds takes it over. Freed either way: the value's
    /// reference is dropped and the generation moves on, so old handles
    /// read as freed.
    #[inline(always)]
    fn release_if_unused(&mut self, index: u32, by: FreedBy) -> Option<Value> {
        let slot = &mut self.slots[index as usize];
        if !slot.c_owned.is_empty() || slot.pins > 0 {
            return None;
        }
        let value = slot.value.take()?;
        if slot.text.is_some() {
            slot.text = None;
        }
        slot.freed_generation = slot.generation;
        slot.freed_by = by;
        slot.generation = slot.generation.wrapping_add(1).max(1);
        match identity(&value) {
            Some(id) if self.ids.is_direct(id) => self.parked += 1,
            Some(id) => {
                self.ids.remove(id);
                self.free.push(index);
            }
            None => self.free.push(index),
        }
        Some(value)
    }
}

thread_local! {
    /// How many call scopes are open on this thread.
    static OPEN_SCOPES: Cell<usize> = const { Cell::new(0) };
    /// The entries the open call scopes lent beyond their arguments
    /// (`gs_list_get`/`gs_map_get` results, arguments past the first
    /// [`SCOPE_ARGS`]), innermost scope's last (each [`Scope`] says where
    /// its own start), in one flat list, so a call allocates nothing once
    /// it has grown. (A thread holds one interpreter's lock at a time and
    /// changes interpreter only with no lock held, so every entry here is
    /// in its interpreter's table.)
    static LENT: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    /// `LENT`'s length, readable without touching the list: a call that
    /// lent nothing beyond its arguments closes with one load.
    static LENT_LEN: Cell<usize> = const { Cell::new(0) };
}

/// Add `index` to the innermost open scope's list.
fn lend_beyond_args(index: u32) {
    LENT.with(|lent| lent.borrow_mut().push(index));
    LENT_LEN.with(|len| len.set(len.get() + 1));
}

/// Open a call scope on this thread: what is lent to C from now on stays
/// valid until [`close_scope`].
#[inline]
fn open_scope_on_thread() -> Scope {
    OPEN_SCOPES.with(|open| open.set(open.get() + 1));
    Scope { args: [NO_ENTRY; SCOPE_ARGS], arg_count: 0, start: LENT_LEN.with(Cell::get) }
}

/// A new reference to `value` for C: the caller owns it.
#[inline]
pub fn new_ref(token: Token<'_>, value: Value) -> *mut GsObject {
    match immediate(&value) {
        Some(handle) => handle,
        None => new_entry_ref(token, value),
    }
}

#[inline(never)]
fn new_entry_ref(token: Token<'_>, value: Value) -> *mut GsObject {
    with_table(token, |table| {
        let index = table.slot_for(&value);
        table.slots[index as usize].c_owned.push(value);
        table.handle(index)
    })
}

/// A borrowed reference to `value`, lent to C until the innermost call
/// scope on this thread closes (or for the rest of the process when none is
/// open: a thread of C's own between `gs_ensure` and `gs_release`).
pub fn borrowed(token: Token<'_>, value: Value) -> *mut GsObject {
    if let Some(handle) = immediate(&value) {
        return handle;
    }
    let (index, handle) = with_table(token, |table| {
        let index = table.slot_for(&value);
        table.slots[index as usize].pins += 1;
        (index, table.handle(index))
    });
    if OPEN_SCOPES.with(Cell::get) > 0 {
        lend_beyond_args(index);
    }
    handle
}

/// Lend `args` to C in a new call scope on this thread, writing their
/// handles to `out` (as long as `args`); [`close_scope`] ends it. One
/// borrow of the table for the lot; the scope itself records which entries
/// the arguments took (never read back from `out`, which C may scribble
/// on).
#[inline]
pub fn open_scope_with(token: Token<'_>, args: &[Value], out: &mut [*mut GsObject]) -> Scope {
    let mut scope = open_scope_on_thread();
    scope.arg_count = args.len().min(SCOPE_ARGS);
    with_table(token, |table| {
        for (position, (place, arg)) in out.iter_mut().zip(args).enumerate() {
            if let Some(handle) = immediate(arg) {
                *place = handle;
                continue;
            }
            let (index, handle) = table.lend(arg);
            *place = handle;
            match scope.args.get_mut(position) {
                Some(entry) => *entry = index,
                None => lend_beyond_args(index),
            }
        }
    });
    scope
}

/// The value `handle` names (a new interpreter reference to it).
#[inline]
pub fn get(token: Token<'_>, handle: *mut GsObject) -> Result<Value, BadHandle> {
    if let Some(value) = immediate_value(handle) {
        return Ok(value);
    }
    with_table(token, |table| {
        let index = table.find(handle)?;
        Ok(table.slots[index as usize].value.clone().expect("a found entry is live"))
    })
}

/// Run `f` on the value `handle` names, without taking a reference to it.
#[inline]
pub fn with_value<R>(
    token: Token<'_>,
    handle: *mut GsObject,
    f: impl FnOnce(&Value) -> R,
) -> Result<R, BadHandle> {
    if let Some(value) = immediate_value(handle) {
        return Ok(f(&value));
    }
    with_table(token, |table| {
        let index = table.find(handle)?;
        Ok(f(table.slots[index as usize].value.as_ref().expect("a found entry is live")))
    })
}

/// `gs_incref`: C owns one more reference.
pub fn incref(token: Token<'_>, handle: *mut GsObject) -> Result<(), BadHandle> {
    if immediate_value(handle).is_some() {
        return Ok(());
    }
    with_table(token, |table| {
        let index = table.find(handle)?;
        let slot = &mut table.slots[index as usize];
        let extra = slot.value.clone().expect("a found entry is live");
        slot.c_owned.push(extra);
        Ok(())
    })
}

/// `gs_decref`: C gives one reference back.
pub fn decref(token: Token<'_>, handle: *mut GsObject) -> Result<(), DecrefError> {
    take_owned(token, handle).map(drop)
}

/// Take one of C's references: for `gs_decref` (dropped) or a function's
/// result (kept by the interpreter).
#[inline]
pub fn take_owned(token: Token<'_>, handle: *mut GsObject) -> Result<Value, DecrefError> {
    match immediate_value(handle) {
        Some(value) => Ok(value),
        None => take_owned_entry(token, handle),
    }
}

#[inline(never)]
fn take_owned_entry(token: Token<'_>, handle: *mut GsObject) -> Result<Value, DecrefError> {
    let (taken, freed) = with_table(token, |table| {
        let index = table.find(handle).map_err(DecrefError::Bad)?;
        let taken = table.slots[index as usize].c_owned.pop().ok_or(DecrefError::NotOwned)?;
        Ok((taken, table.release_if_unused(index, FreedBy::LastReference)))
    })?;
    // Dropped after the table's borrow ends: freeing an object never finds
    // the table borrowed.
    drop(freed);
    Ok(taken)
}

/// Open a call scope on this thread: what is lent to C from now on stays
/// valid until [`close_scope`].
#[cfg(test)]
pub fn open_scope() -> Scope {
    open_scope_on_thread()
}

/// Close `scope`, the innermost call scope: every entry it lent is
/// unpinned, and freed if C owns no reference to it.
#[inline]
pub fn close_scope(token: Token<'_>, scope: Scope) {
    OPEN_SCOPES.with(|open| open.set(open.get() - 1));
    let beyond_args = LENT_LEN.with(Cell::get) > scope.start;
    with_table(token, |table| {
        // Each value is dropped here, with the table borrowed: freeing an
        // object runs no script and no C (the language has no
        // destructors), so nothing re-enters the table.
        for &index in &scope.args[..scope.arg_count] {
            if index != NO_ENTRY {
                table.unpin(index);
            }
        }
        if beyond_args {
            LENT.with(|lent| {
                let mut lent = lent.borrow_mut();
                for &index in &lent[scope.start..] {
                    table.unpin(index);
                }
                lent.truncate(scope.start);
            });
            LENT_LEN.with(|len| len.set(scope.start));
        }
    });
}

/// How many handles are live in the calling thread's interpreter (for
/// tests: a balanced extension leaves none).
pub fn live_handles(token: Token<'_>) -> usize {
    with_table(token, |table| table.slots.len() - table.free.len() - table.parked)
}

#[cfg(test)]
mod tests;
