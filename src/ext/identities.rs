//! Which handle-table entry holds each object: the index `handles.rs`
//! consults every time an object crosses to C, so that one object gets one
//! handle (as CPython hands C the same pointer for the same object).
//!
//! This file owns only the map from an object's identity (its address) to
//! an entry index; the entries themselves, and every rule about them, are
//! `handles.rs`'s.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for identities (addresses): one multiply per word, as rustc's
/// FxHash does. SipHash's resistance to chosen keys buys nothing here.
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

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// How many direct-mapped identity places a table has.
pub(super) const DIRECT: usize = 512;

/// Which entry holds each object with an identity. Every identity is in
/// exactly one place: its direct-mapped place in `direct` when that was free
/// when it came, else `overflow`. So the usual lookup, insert and removal is
/// one array probe, and the hash map is consulted only while it is not
/// empty. A direct place may also keep a freed entry *parked* under the
/// last identity it held (`handles.rs` says when): found again by that
/// identity, or taken over by another one mapped to the same place.
pub(super) struct Identities {
    /// `(address, entry)`; address 0 marks a free place.
    direct: Vec<(usize, u32)>,
    overflow: HashMap<usize, u32, BuildHasherDefault<IdentityHasher>>,
}

impl Identities {
    pub(super) const fn new() -> Identities {
        Identities { direct: Vec::new(), overflow: HashMap::with_hasher(BuildHasherDefault::new()) }
    }

    #[inline]
    fn place(id: usize) -> usize {
        // Objects are at least 8-byte aligned; mix in higher bits so
        // objects allocated a fixed stride apart spread out.
        ((id >> 4) ^ (id >> 13)) & (DIRECT - 1)
    }

    #[inline]
    pub(super) fn get(&self, id: usize) -> Option<u32> {
        match self.direct.get(Self::place(id)) {
            Some(&(found, index)) if found == id => Some(index),
            _ if self.overflow.is_empty() => None,
            _ => self.overflow.get(&id).copied(),
        }
    }

    /// `id`'s entry if it is in its direct-mapped place (without looking
    /// in `overflow`).
    #[inline]
    pub(super) fn get_direct(&self, id: usize) -> Option<u32> {
        match self.direct.get(Self::place(id)) {
            Some(&(found, index)) if found == id => Some(index),
            _ => None,
        }
    }

    /// The entry in `id`'s direct-mapped place, whoever's identity it is
    /// (`None` if the place is free).
    #[inline]
    pub(super) fn direct_occupant(&self, id: usize) -> Option<u32> {
        match self.direct.get(Self::place(id)) {
            Some(&(found, index)) if found != 0 => Some(index),
            _ => None,
        }
    }

    /// Give `id`'s direct-mapped place (and the entry in it) to `id`.
    #[inline]
    pub(super) fn set_direct(&mut self, id: usize, index: u32) {
        self.direct[Self::place(id)] = (id, index);
    }

    /// Whether `id` is in its direct-mapped place.
    #[inline]
    pub(super) fn is_direct(&self, id: usize) -> bool {
        matches!(self.direct.get(Self::place(id)), Some(&(found, _)) if found == id)
    }

    #[inline]
    pub(super) fn insert(&mut self, id: usize, index: u32) {
        if self.direct.is_empty() {
            self.direct = vec![(0, 0); DIRECT];
        }
        let place = &mut self.direct[Self::place(id)];
        if place.0 == 0 {
            *place = (id, index);
        } else {
            self.overflow.insert(id, index);
        }
    }

    #[inline]
    pub(super) fn remove(&mut self, id: usize) {
        match self.direct.get_mut(Self::place(id)) {
            Some(place) if place.0 == id => *place = (0, 0),
            _ => {
                self.overflow.remove(&id);
            }
        }
    }
}
