//! One interpreter slot's claim: whether an interpreter runs in the slot
//! now, and the id it runs under.
//!
//! This file owns the claim protocol and nothing else; `interp.rs` owns the
//! slots and keeps one [`Claim`] in each. It is a file of its own so that
//! the protocol is compiled under loom and model-checked
//! (`loom_tests.rs`): two starters never own one slot, and whoever claims a
//! slot given back sees the new id, never the old one.

use super::sync::{
    AtomicBool, AtomicU32,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

/// How many interpreters can be alive at once, the main one included.
pub const MAX_INTERPRETERS: usize = 64;

/// The id no interpreter has: what a thread that holds no lock holds.
pub const NO_INTERPRETER: u32 = u32::MAX;

/// A slot's claim. The id is `generation * MAX_INTERPRETERS + slot`, and
/// 0 for the main interpreter.
pub(crate) struct Claim {
    id: AtomicU32,
    slot: u32,
    in_use: AtomicBool,
}

impl Claim {
    /// The main interpreter's claim: slot 0, id 0, in use for ever.
    #[cfg(not(loom))]
    pub(crate) const fn main() -> Claim {
        Claim { id: AtomicU32::new(0), slot: 0, in_use: AtomicBool::new(true) }
    }

    /// A free slot's claim; its first id is the slot number.
    pub(crate) fn free(slot: u32) -> Claim {
        Claim { id: AtomicU32::new(slot), slot, in_use: AtomicBool::new(false) }
    }

    /// The id the slot's interpreter runs under now.
    #[inline(always)]
    pub(crate) fn id(&self) -> u32 {
        self.id.load(Relaxed)
    }

    /// The slot number.
    pub(crate) fn slot(&self) -> u32 {
        self.slot
    }

    /// Take the slot if it is free; whether this caller now owns it. The
    /// acquire pairs with [`give_back`](Self::give_back)'s release, so the
    /// new owner reads the id the last owner moved on to.
    pub(crate) fn try_claim(&self) -> bool {
        self.in_use.compare_exchange(false, true, AcqRel, Acquire).is_ok()
    }

    /// Give the slot back (its owner, once no thread uses the interpreter):
    /// the next interpreter in it gets a new id first.
    pub(crate) fn give_back(&self) {
        let next = self.id().wrapping_add(MAX_INTERPRETERS as u32);
        // Keep the slot in the id, and never hand out NO_INTERPRETER or 0.
        let next =
            if next == NO_INTERPRETER || next < MAX_INTERPRETERS as u32 { self.slot } else { next };
        self.id.store(next, Relaxed);
        self.in_use.store(false, Release);
    }
}
