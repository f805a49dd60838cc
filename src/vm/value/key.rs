//! Map keys: the hashable values, compared and hashed by content.
//!
//! Owns: [`Key`], [`KeyRef`], the hasher every map uses ([`KeyHasher`]) and
//! the conversions between keys and values. May not touch: anything above
//! the value layer.
//!
//! A lookup never builds a [`Key`]: it borrows the key value as a
//! [`KeyRef`] (no reference-count change, one lock check), hashes it with
//! the same function as the stored [`Key`], and compares string keys by
//! identity before bytes. Identity hits are common: the compiler makes one
//! string object per distinct string constant of a script, so `t["held"]`
//! finds the entry made by `{"held": ...}` without comparing characters.

use std::cell::Cell;
use std::hash::{BuildHasher, Hash, Hasher};

use indexmap::{Equivalent, IndexMap};

use super::{Obj, ObjRef, Text, Value};
use crate::vm::error::RtError;

/// The hasher of every map, seeded once per map from a per-process
/// random source. Every key writes one 64-bit word (an integer, a kind
/// tag, or a string's cached [`Text::content_hash`]), so the hasher is
/// one folded multiply of that word with the seed: a string used as a key
/// again and again is hashed once, not once per lookup. Scripts are
/// trusted code, so map hashing does not need SipHash's defence against
/// inputs chosen to collide (HashDoS); the seed still keeps collisions
/// from being precomputed.
#[derive(Clone)]
pub struct KeyHasher {
    seed: u64,
}

impl Default for KeyHasher {
    fn default() -> KeyHasher {
        KeyHasher { seed: foldhash::fast::RandomState::default().hash_one(0x9e37_79b9_u64) }
    }
}

impl BuildHasher for KeyHasher {
    type Hasher = KeyHash;
    #[inline]
    fn build_hasher(&self) -> KeyHash {
        KeyHash { state: self.seed }
    }
}

/// [`KeyHasher`]'s state.
pub struct KeyHash {
    state: u64,
}

impl Hasher for KeyHash {
    #[inline]
    fn write_u64(&mut self, word: u64) {
        // foldhash's mixing step: the high and low halves of the 128-bit
        // product xor-ed, so every input bit reaches the low bits hashbrown
        // picks buckets with and the high bits it tags entries with.
        let product = ((word ^ self.state) as u128).wrapping_mul(0x243f_6a88_85a3_08d3_u128);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.write_u64(byte as u64);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by keys (each writes one word); kept correct anyway.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }
}

/// A map's table: keys in insertion order, hashed with [`KeyHasher`].
pub type MapTable = IndexMap<Key, Value, KeyHasher>;

/// An empty map table with room for `capacity` entries.
pub fn map_table(capacity: usize) -> MapTable {
    IndexMap::with_capacity_and_hasher(capacity, KeyHasher::default())
}

/// How many entries a map may have for [`find`] to try the identity scan
/// first.
const SCAN: usize = 8;

/// The position of `key` in `table`. In a small map a string key is first
/// looked for by identity among the stored keys — a few pointer compares,
/// cheaper than hashing and probing, and the usual case for a map used as
/// an object (`t["held"]` with the same constant object that made the
/// entry). In a larger map a string key is first looked for at the
/// position the last hashed lookup of this thread found (see
/// [`hinted`]). Any other key, and a string not found that way, takes the
/// hash lookup, which compares by content.
#[inline]
pub fn find(table: &MapTable, key: &KeyRef<'_>) -> Option<usize> {
    if let KeyRef::Str(probe, _) = key {
        if table.len() <= SCAN {
            if let found @ Some(_) = position_of_identical(table, probe) {
                return found;
            }
        } else {
            return find_hinted(table, key, probe);
        }
    }
    table.get_index_of(key)
}

/// [`find`] of a string key in a larger map: the hint, else the hash
/// lookup, whose result becomes the next hint. Out of line, as the hash
/// lookup is: inline, it made the interpreter loop around the small maps'
/// path slower on the clock (richards +4 % CPU time at the same
/// instruction count).
#[inline(never)]
fn find_hinted(table: &MapTable, key: &KeyRef<'_>, probe: &ObjRef) -> Option<usize> {
    hinted(table, probe).or_else(|| remember(table.get_index_of(key)))
}

/// Where the string key that is `probe` itself (the same object) sits:
/// pointer compares only, for small maps.
#[inline(always)]
fn position_of_identical(table: &MapTable, probe: &ObjRef) -> Option<usize> {
    table.keys().position(|k| matches!(k, Key::Str(s) if s.ptr_eq(probe)))
}

thread_local! {
    /// The position the last hashed string-key lookup of this thread
    /// found, in whichever map: a hint, checked before it is used.
    static LAST_FOUND: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The position of the last hashed lookup's result, if `table` holds the
/// string `probe` itself there. `has(counts, w)`, then `counts[w]`, then
/// `counts[w] = ...` look up the same key in the same map three times:
/// the second and third find it here with one pointer compare instead of
/// hashing and probing. The hint cannot be wrong: a map holds each key
/// once, so an entry whose key is the probe's very object is the entry,
/// whatever map the hint came from and whatever changed since.
#[inline(always)]
fn hinted(table: &MapTable, probe: &ObjRef) -> Option<usize> {
    let at = LAST_FOUND.with(Cell::get);
    match table.get_index(at) {
        Some((Key::Str(stored), _)) if stored.ptr_eq(probe) => Some(at),
        _ => None,
    }
}

/// Keep a hashed lookup's result as the next lookup's hint.
#[inline(always)]
fn remember(found: Option<usize>) -> Option<usize> {
    if let Some(at) = found {
        LAST_FOUND.with(|hint| hint.set(at));
    }
    found
}

/// [`find`], and in a small map whose string key was found by content
/// rather than identity, the stored key becomes the probe's string: the
/// same characters, so the same hash, equality and order, but the next
/// lookup with the probe (a script's constant, say) is found by identity.
/// This is what makes `z.crc32` cheap on a C extension's module, whose
/// keys were made by the loader, not by the script: one hashed lookup,
/// then pointer compares. Two scripts' constants for the same name would
/// take turns being adopted; each turn costs one hashed lookup, as every
/// lookup did before.
#[inline(always)]
pub fn find_adopting(table: &mut MapTable, key: &KeyRef<'_>) -> Option<usize> {
    use indexmap::map::MutableKeys;
    let KeyRef::Str(probe, _) = key else {
        return table.get_index_of(key);
    };
    if table.len() > SCAN {
        return find_hinted(table, key, probe);
    }
    if let found @ Some(_) = position_of_identical(table, probe) {
        return found;
    }
    let (at, stored, _) = table.get_full_mut2(key)?;
    // Equal content (the lookup compared it), so the table's hash of this
    // entry stays right.
    *stored = Key::Str((*probe).clone());
    Some(at)
}

/// A map key: the hashable values.
#[derive(Clone)]
pub enum Key {
    /// `nil`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string, compared by content.
    Str(ObjRef),
}

/// A key borrowed from a value, for lookups: what [`Key`] holds, without
/// the counted reference.
pub enum KeyRef<'a> {
    /// `nil`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer (or a float with an integer value).
    Int(i64),
    /// A string object and its text.
    Str(&'a ObjRef, &'a Text),
}

impl Key {
    /// The key for `value`, or an error for an unhashable value.
    pub fn from_value(value: &Value) -> Result<Key, RtError> {
        Ok(match KeyRef::from_value(value)? {
            KeyRef::Nil => Key::Nil,
            KeyRef::Bool(b) => Key::Bool(b),
            KeyRef::Int(i) => Key::Int(i),
            KeyRef::Str(r, _) => Key::Str(r.clone()),
        })
    }

    /// The key as a value.
    pub fn to_value(&self) -> Value {
        match self {
            Key::Nil => Value::Nil,
            Key::Bool(b) => Value::Bool(*b),
            Key::Int(i) => Value::Int(*i),
            Key::Str(r) => Value::Obj(r.clone()),
        }
    }

    pub(super) fn to_value_ref<R>(&self, f: impl FnOnce(&Value) -> R) -> R {
        match self {
            Key::Str(r) => {
                let v = Value::Obj(r.clone());
                f(&v)
            }
            other => f(&other.to_value()),
        }
    }

    /// The key borrowed, as a lookup would see it.
    fn as_key_ref(&self) -> KeyRef<'_> {
        match self {
            Key::Nil => KeyRef::Nil,
            Key::Bool(b) => KeyRef::Bool(*b),
            Key::Int(i) => KeyRef::Int(*i),
            Key::Str(r) => match r.get() {
                Obj::Str(s) => KeyRef::Str(r, s),
                // A string key always holds a string (`KeyRef::from_value`).
                _ => unreachable!("a string key holds a string"),
            },
        }
    }
}

impl<'a> KeyRef<'a> {
    /// The key `value` would be, or an error for an unhashable value.
    #[inline(always)]
    pub fn from_value(value: &'a Value) -> Result<KeyRef<'a>, RtError> {
        match value {
            Value::Nil => Ok(KeyRef::Nil),
            Value::Bool(b) => Ok(KeyRef::Bool(*b)),
            Value::Int(i) => Ok(KeyRef::Int(*i)),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(KeyRef::Int(*f as i64)),
            Value::Obj(r) => match r.get() {
                Obj::Str(s) => Ok(KeyRef::Str(r, s)),
                _ => Err(RtError::new(format!("a {} cannot be a map key", value.type_name()))),
            },
            other => Err(RtError::new(format!("a {} cannot be a map key", other.type_name()))),
        }
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    #[inline]
    fn equivalent(&self, key: &Key) -> bool {
        match (self, key) {
            (KeyRef::Nil, Key::Nil) => true,
            (KeyRef::Bool(a), Key::Bool(b)) => a == b,
            (KeyRef::Int(a), Key::Int(b)) => a == b,
            (KeyRef::Str(a, text), Key::Str(b)) => {
                a.ptr_eq(b) || matches!(b.get(), Obj::Str(s) if **s == ***text)
            }
            _ => false,
        }
    }
}

impl Hash for KeyRef<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // One write per key: the kinds may collide with each other (rare,
        // and only a collision), never with themselves.
        match self {
            KeyRef::Nil => state.write_u8(0),
            KeyRef::Bool(b) => state.write_u8(1 + *b as u8),
            KeyRef::Int(i) => state.write_u64(*i as u64),
            KeyRef::Str(_, s) => state.write_u64(s.content_hash()),
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_key_ref().equivalent(other)
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_key_ref().hash(state)
    }
}
