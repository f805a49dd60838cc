//! The handle table: what a `gs_object *` handed to C stands for.
//!
//! C never sees an object's address. Each `gs_object *` is a handle — a
//! tag, a slot index and the slot's generation packed into one pointer-sized
//! number — naming a slot of this table, which holds the value. So every
//! use can be checked: a pointer with the wrong tag or an index past the
//! table was never handed out; a slot whose generation moved on was freed.
//! Neither is ever dereferenced.
//!
//! # References
//!
//! A live slot holds one interpreter reference to its value (the handle's
//! own), plus one more for each reference C owns (`c_owned`: one cloned
//! [`Value`] each), so the object's plain reference count counts C's
//! references exactly, as CPython's does. A slot is also *pinned* while a
//! call scope lent it to C (the arguments of an extension function, the
//! results of `gs_list_get`/`gs_map_get`). A slot is freed when C owns no
//! reference and no scope pins it.
//!
//! One slot per object: asking twice for the same object gives the same
//! handle, as CPython gives the same pointer. (Numbers, booleans and nil
//! get a slot per request: they have no identity to keep.)
//!
//! # Ownership
//!
//! This file owns the table and each thread's scope stack. The table is
//! touched only with the lock held (callers prove it with a [`Token`]).

use std::cell::{RefCell, UnsafeCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::gil::Token;
use crate::vm::{Obj, Value};

/// The high bits every handle carries. User-space pointers on the 64-bit
/// targets gilscope runs on never have them set, so a real pointer passed
/// by mistake is recognised as "never handed out".
#[cfg(target_pointer_width = "64")]
const TAG: usize = 0x6773 << 48;
#[cfg(not(target_pointer_width = "64"))]
const TAG: usize = 0;
const TAG_MASK: usize = !((1 << 48) - 1);
const GENERATION_BITS: u32 = 20;
const GENERATION_MASK: usize = (1 << GENERATION_BITS) - 1;
const INDEX_MASK: usize = (1 << (48 - GENERATION_BITS)) - 1;

/// What C holds: an opaque handle, never dereferenced.
#[repr(C)]
pub struct GsObject {
    _opaque: [u8; 0],
}

/// Why a handle does not name a live object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadHandle {
    /// NULL.
    Null,
    /// A pointer this library never handed out.
    Foreign,
    /// A handle whose object was freed (its last reference given back).
    Freed,
}

impl BadHandle {
    /// The message, for misuse reports.
    pub fn describe(self) -> &'static str {
        match self {
            BadHandle::Null => "the object is NULL",
            BadHandle::Foreign => {
                "the pointer is not an object this library handed out \
                 (never dereferenced)"
            }
            BadHandle::Freed => {
                "the object was already freed: its last reference was given back \
                 (a double gs_decref, or a reference used after gs_decref)"
            }
        }
    }
}

/// The identity a heap object's slot is found by: its address. Numbers,
/// booleans and nil have no identity to keep: each gets a slot of its own.
fn identity(value: &Value) -> Option<usize> {
    match value {
        Value::Obj(r) => Some(r.addr()),
        _ => None,
    }
}

struct Scopes {
    lent: Vec<u32>,
    starts: Vec<usize>,
}

struct Slot {
    /// The value and the handle's own reference to it; `None` when free.
    value: Option<Value>,
    generation: u32,
    /// One reference per reference C owns.
    c_owned: Vec<Value>,
    /// How many open call scopes lend this slot to C.
    pins: u32,
    /// A NUL-terminated copy of a string's text, made by `gs_as_str`.
    text: Option<Box<[u8]>>,
}

/// A hasher for identities (addresses): one multiply per word, as rustc's FxHash does. SipHash's resistance to chosen keys buys
/// nothing here and cost a fifth of an extension call.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u8(&mut self, byte: u8) {
        self.write_u64(u64::from(byte));
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn write_i64(&mut self, word: i64) {
        self.write_u64(word as u64);
    }

    fn write_isize(&mut self, word: isize) {
        self.write_u64(word as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_identity: HashMap<usize, u32, BuildHasherDefault<IdentityHasher>>,
}

/// The table, guarded by the global lock.
struct LockGuarded(UnsafeCell<RefCell<Table>>);

// SAFETY: the table is reached only through `with_table`, which takes a
// `Token`: the calling thread holds the global lock, so no two threads
// touch it (or the non-atomic counts of the values inside) at once.
unsafe impl Sync for LockGuarded {}

static TABLE: LockGuarded = LockGuarded(UnsafeCell::new(RefCell::new(Table {
    slots: Vec::new(),
    free: Vec::new(),
    by_identity: HashMap::with_hasher(BuildHasherDefault::new()),
})));

fn with_table<R>(_token: Token<'_>, f: impl FnOnce(&mut Table) -> R) -> R {
    // SAFETY: the token proves the lock is held (see `LockGuarded`), and
    // the `RefCell` catches any re-entrant use instead of aliasing.
    let cell = unsafe { &*TABLE.0.get() };
    let mut table = cell.try_borrow_mut().expect("the handle table is not re-entered");
    f(&mut table)
}

fn encode(index: u32, generation: u32) -> *mut GsObject {
    let value =
        TAG | ((index as usize) << GENERATION_BITS) | (generation as usize & GENERATION_MASK);
    std::ptr::without_provenance_mut(value)
}

impl Table {
    fn find(&self, handle: *mut GsObject) -> Result<u32, BadHandle> {
        if handle.is_null() {
            return Err(BadHandle::Null);
        }
        let bits = handle.addr();
        if bits & TAG_MASK != TAG {
            return Err(BadHandle::Foreign);
        }
        let index = (bits >> GENERATION_BITS) & INDEX_MASK;
        let slot = self.slots.get(index).ok_or(BadHandle::Foreign)?;
        if slot.value.is_none()
            || slot.generation as usize & GENERATION_MASK != bits & GENERATION_MASK
        {
            return Err(BadHandle::Freed);
        }
        Ok(index as u32)
    }

    fn slot_for(&mut self, value: Value) -> u32 {
        let id = identity(&value);
        if let Some(&index) = id.and_then(|id| self.by_identity.get(&id)) {
            return index;
        }
        let index = match self.free.pop() {
            Some(index) => {
                // A freed slot keeps its generation (already moved on) and
                // its empty `c_owned` list's memory, so reuse allocates
                // nothing.
                let slot = &mut self.slots[index as usize];
                debug_assert!(slot.value.is_none() && slot.c_owned.is_empty() && slot.pins == 0);
                slot.value = Some(value);
                index
            }
            None => {
                assert!(self.slots.len() < INDEX_MASK, "more than 2^28 live handles");
                self.slots.push(Slot {
                    value: Some(value),
                    generation: 1,
                    c_owned: Vec::with_capacity(1),
                    pins: 0,
                    text: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(id) = id {
            self.by_identity.insert(id, index);
        }
        index
    }

    fn handle(&self, index: u32) -> *mut GsObject {
        encode(index, self.slots[index as usize].generation)
    }

    /// Free the slot if nothing keeps it; returns the value to drop (outside
    /// the table borrow).
    fn release_if_unused(&mut self, index: u32) -> Option<Value> {
        let slot = &mut self.slots[index as usize];
        if !slot.c_owned.is_empty() || slot.pins > 0 {
            return None;
        }
        let value = slot.value.take()?;
        slot.text = None;
        slot.generation = slot.generation.wrapping_add(1).max(1);
        if let Some(id) = identity(&value) {
            self.by_identity.remove(&id);
        }
        self.free.push(index);
        Some(value)
    }
}

thread_local! {
    /// This thread's open call scopes: the slots they lent, innermost
    /// scope's last, and where each scope starts in that list. Two flat
    /// lists, so a call allocates nothing once they have grown.
    static SCOPES: RefCell<Scopes> = const {
        RefCell::new(Scopes { lent: Vec::new(), starts: Vec::new() })
    };
}

/// A new reference to `value` for C: the caller owns it.
pub fn new_ref(token: Token<'_>, value: Value) -> *mut GsObject {
    with_table(token, |table| {
        let index = table.slot_for(value);
        let slot = &mut table.slots[index as usize];
        let extra = slot.value.clone().expect("a found slot is live");
        slot.c_owned.push(extra);
        table.handle(index)
    })
}

/// A borrowed reference to `value`, lent to C until the innermost call
/// scope on this thread closes (or for the rest of the process when none is
/// open: a thread of C's own between `gs_ensure` and `gs_release`).
pub fn borrowed(token: Token<'_>, value: Value) -> *mut GsObject {
    let handle = with_table(token, |table| {
        let index = table.slot_for(value);
        table.slots[index as usize].pins += 1;
        (index, table.handle(index))
    });
    SCOPES.with(|scopes| {
        let mut scopes = scopes.borrow_mut();
        if !scopes.starts.is_empty() {
            scopes.lent.push(handle.0);
        }
    });
    handle.1
}

/// The value `handle` names (a new interpreter reference to it).
pub fn get(token: Token<'_>, handle: *mut GsObject) -> Result<Value, BadHandle> {
    with_table(token, |table| {
        let index = table.find(handle)?;
        Ok(table.slots[index as usize].value.clone().expect("a found slot is live"))
    })
}

/// `gs_incref`: C owns one more reference.
pub fn incref(token: Token<'_>, handle: *mut GsObject) -> Result<(), BadHandle> {
    with_table(token, |table| {
        let index = table.find(handle)?;
        let slot = &mut table.slots[index as usize];
        let extra = slot.value.clone().expect("a found slot is live");
        slot.c_owned.push(extra);
        Ok(())
    })
}

/// Why `gs_decref` (or taking a returned reference) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecrefError {
    /// Not a live handle.
    Bad(BadHandle),
    /// Live, but C owns no reference to it (only borrowed it).
    NotOwned,
}

/// `gs_decref`: C gives one reference back.
pub fn decref(token: Token<'_>, handle: *mut GsObject) -> Result<(), DecrefError> {
    take_owned(token, handle).map(drop)
}

/// Take one of C's references: for `gs_decref` (dropped) or a function's
/// result (kept by the interpreter).
pub fn take_owned(token: Token<'_>, handle: *mut GsObject) -> Result<Value, DecrefError> {
    let (taken, freed) = with_table(token, |table| {
        let index = table.find(handle).map_err(DecrefError::Bad)?;
        let taken = table.slots[index as usize].c_owned.pop().ok_or(DecrefError::NotOwned)?;
        Ok((taken, table.release_if_unused(index)))
    })?;
    drop(freed);
    Ok(taken)
}

/// A NUL-terminated copy of a string's text, kept in the slot while it
/// lives; `None` if `handle` is not a string.
pub fn str_text(
    token: Token<'_>,
    handle: *mut GsObject,
) -> Result<Option<(*const u8, usize)>, BadHandle> {
    with_table(token, |table| {
        let index = table.find(handle)?;
        let slot = &mut table.slots[index as usize];
        let value = slot.value.as_ref().expect("a found slot is live");
        let Value::Obj(r) = value else { return Ok(None) };
        let Obj::Str(s) = r.get() else { return Ok(None) };
        let len = s.len();
        let text = slot.text.get_or_insert_with(|| {
            let mut bytes = Vec::with_capacity(len + 1);
            bytes.extend_from_slice(s.as_bytes());
            bytes.push(0);
            bytes.into_boxed_slice()
        });
        Ok(Some((text.as_ptr(), len)))
    })
}

/// The bytes of a bytes object, in place (valid while the slot lives: the
/// slot holds a reference and bytes never change); `None` if not bytes.
pub fn bytes_data(
    token: Token<'_>,
    handle: *mut GsObject,
) -> Result<Option<(*const u8, usize)>, BadHandle> {
    with_table(token, |table| {
        let index = table.find(handle)?;
        let value = table.slots[index as usize].value.as_ref().expect("a found slot is live");
        let Value::Obj(r) = value else { return Ok(None) };
        let Obj::Bytes(b) = r.get() else { return Ok(None) };
        Ok(Some((b.as_ptr(), b.len())))
    })
}

/// Open a call scope on this thread: what is lent to C from now on stays
/// valid until [`close_scope`].
pub fn open_scope() {
    SCOPES.with(|scopes| {
        let mut scopes = scopes.borrow_mut();
        let start = scopes.lent.len();
        scopes.starts.push(start);
    });
}

/// Close the innermost call scope: every slot it lent is unpinned, and
/// freed if C owns no reference to it.
pub fn close_scope(token: Token<'_>) {
    // What the scope's slots held is dropped after both borrows end, so
    // freeing objects can never find the table or the scopes borrowed. A
    // call lends a few objects: a small buffer on the stack, a vector only
    // beyond it.
    let mut freed: [Option<Value>; 8] = Default::default();
    let mut more = Vec::new();
    SCOPES.with(|scopes| {
        let mut scopes = scopes.borrow_mut();
        let start = scopes.starts.pop().unwrap_or(0);
        let Scopes { lent, .. } = &mut *scopes;
        with_table(token, |table| {
            let mut next = 0;
            for index in lent.drain(start..) {
                let slot = &mut table.slots[index as usize];
                slot.pins = slot.pins.saturating_sub(1);
                if let Some(value) = table.release_if_unused(index) {
                    match freed.get_mut(next) {
                        Some(place) => *place = Some(value),
                        None => more.push(value),
                    }
                    next += 1;
                }
            }
        });
    });
    drop(freed);
    drop(more);
}

/// How many handles are live (for tests: a balanced extension leaves none).
pub fn live_handles(token: Token<'_>) -> usize {
    with_table(token, |table| table.slots.len() - table.free.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gil::attach;

    #[test]
    fn a_handle_lives_while_c_owns_a_reference_and_is_refused_after() {
        attach(|token| {
            let value = Value::str(token, "kept");
            let Value::Obj(object) = &value else { unreachable!("a string is an object") };
            let before = object.count();
            let handle = new_ref(token, value.clone());
            assert_eq!(object.count(), before + 2, "the slot's reference and C's");
            incref(token, handle).unwrap();
            assert_eq!(object.count(), before + 3);
            decref(token, handle).unwrap();
            decref(token, handle).unwrap();
            assert_eq!(object.count(), before, "freed: every reference given back");
            assert_eq!(decref(token, handle), Err(DecrefError::Bad(BadHandle::Freed)));
            assert!(matches!(get(token, handle), Err(BadHandle::Freed)));
        });
    }

    #[test]
    fn pointers_never_handed_out_are_recognised() {
        attach(|token| {
            let local = 0u64;
            let foreign = std::ptr::from_ref(&local).cast_mut().cast::<GsObject>();
            assert!(matches!(get(token, foreign), Err(BadHandle::Foreign)));
            assert!(matches!(get(token, std::ptr::null_mut()), Err(BadHandle::Null)));
            let past_the_table = encode(u32::MAX >> 5, 1);
            assert!(matches!(get(token, past_the_table), Err(BadHandle::Foreign)));
        });
    }

    #[test]
    fn one_value_one_handle_and_borrowed_ones_end_with_their_scope() {
        attach(|token| {
            let value = Value::list(token, Vec::new());
            open_scope();
            let a = borrowed(token, value.clone());
            let b = borrowed(token, value.clone());
            assert_eq!(a, b, "the same object gets the same handle");
            assert_eq!(decref(token, a), Err(DecrefError::NotOwned), "borrowed, not owned");
            let owned = new_ref(token, value.clone());
            assert_eq!(owned, a);
            close_scope(token);
            assert!(get(token, a).is_ok(), "C still owns one reference");
            let taken = take_owned(token, owned).unwrap();
            assert!(taken.equals(&value).unwrap());
            assert!(matches!(get(token, a), Err(BadHandle::Freed)));
        });
    }
}
