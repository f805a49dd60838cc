//! Interpreters: each one has its own lock, and threads belong to one.
//!
//! The process starts with one interpreter, the main one, whose lock is
//! the one the C API and every thread use unless told otherwise. More can
//! be started ([`Interpreter::start`]); each has its own [`RawGil`], so a
//! thread of one interpreter never waits for a thread of another. What
//! they may share is up to the layers above (the toy interpreter shares
//! nothing and sends copies).
//!
//! This file owns the interpreter slots and each interpreter's identity.
//! The slots are never freed: an interpreter that ends gives its slot back,
//! and the next one to start in it gets a new id. So code that may run in a
//! signal handler (`request_interrupt`, the pending-call queue) or on the
//! deadlock watchdog's thread can walk every interpreter with atomic loads
//! alone, and a pointer to an interpreter is never left dangling.
//!
//! Settings (policy, switch interval) are process-wide: changing one
//! changes it in every live interpreter, and an interpreter starts with the
//! main interpreter's current settings. Snapshots without an interpreter
//! (`counters()`, `holder()`, ...) mean the main interpreter.

use std::fmt;
use std::sync::atomic::{
    AtomicPtr,
    Ordering::{AcqRel, Acquire},
};

use super::raw::RawGil;
use super::slot::Claim;
pub use super::slot::{MAX_INTERPRETERS, NO_INTERPRETER};

/// One interpreter's lock and identity. Lives for the whole process (see
/// the module docs); reached as `&'static Interpreter`.
pub struct Interpreter {
    /// Whether an interpreter runs in this slot now, and under which id.
    claim: Claim,
    pub(crate) gil: RawGil,
}

impl fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interpreter({})", self.id())
    }
}

/// The main interpreter: slot 0, id 0.
pub(crate) static MAIN: Interpreter = Interpreter { claim: Claim::main(), gil: RawGil::new() };

/// Slots 1.. (slot 0 is [`MAIN`]); null until first used, then never
/// freed.
static SLOTS: [AtomicPtr<Interpreter>; MAX_INTERPRETERS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_INTERPRETERS];

/// Every interpreter slot ever used, live or not, the main one first.
/// Async-signal-safe: atomic loads only.
pub(crate) fn every_slot() -> impl Iterator<Item = &'static Interpreter> {
    std::iter::once(&MAIN).chain(SLOTS.iter().skip(1).filter_map(|slot| {
        let ptr = slot.load(Acquire);
        // SAFETY: a non-null slot points to a leaked `Interpreter` that is
        // never freed.
        (!ptr.is_null()).then(|| unsafe { &*ptr })
    }))
}

/// No free interpreter slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyInterpreters;

impl fmt::Display for TooManyInterpreters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "too many interpreters running at once (at most {MAX_INTERPRETERS})")
    }
}

impl std::error::Error for TooManyInterpreters {}

impl Interpreter {
    /// The main interpreter.
    pub fn main() -> &'static Interpreter {
        &MAIN
    }

    /// Start a new interpreter with its own lock, free, with the main
    /// interpreter's current settings. The slot is given back when the
    /// returned [`Started`] is dropped, which its owner does only once no
    /// thread uses the interpreter any more.
    pub fn start() -> Result<Started, TooManyInterpreters> {
        for (index, slot) in SLOTS.iter().enumerate().skip(1) {
            let mut ptr = slot.load(Acquire);
            if ptr.is_null() {
                let fresh = Box::into_raw(Box::new(Interpreter {
                    claim: Claim::free(index as u32),
                    gil: RawGil::new(),
                }));
                match slot.compare_exchange(std::ptr::null_mut(), fresh, AcqRel, Acquire) {
                    Ok(_) => ptr = fresh,
                    Err(other) => {
                        // SAFETY: `fresh` was never published; we own it.
                        drop(unsafe { Box::from_raw(fresh) });
                        ptr = other;
                    }
                }
            }
            // SAFETY: non-null slots point to leaked, never-freed interpreters.
            let interp: &'static Interpreter = unsafe { &*ptr };
            if interp.claim.try_claim() {
                interp.gil.set_policy(MAIN.gil.policy());
                interp.gil.set_switch_interval(MAIN.gil.switch_interval());
                // An interrupt pending process-wide reaches it too.
                if super::interrupted() {
                    interp.gil.set_breaker(super::raw::INTERRUPT);
                } else {
                    interp.gil.clear_breaker(super::raw::INTERRUPT);
                }
                return Ok(Started(interp));
            }
        }
        Err(TooManyInterpreters)
    }

    /// The interpreter's id: 0 for the main one; never reused while the
    /// process lives (unless 2³² interpreters have been started).
    #[inline(always)]
    pub fn id(&self) -> u32 {
        self.claim.id()
    }

    /// Whether this is the main interpreter.
    pub fn is_main(&self) -> bool {
        self.claim.slot() == 0
    }

    /// A snapshot of this interpreter's lock counters.
    pub fn counters(&self) -> super::Counters {
        self.gil.counters()
    }

    /// The thread holding this interpreter's lock now (a racy snapshot).
    pub fn holder(&self) -> Option<u64> {
        self.gil.holder()
    }

    /// How many times this interpreter's lock has changed hands.
    pub fn switch_number(&self) -> u64 {
        self.gil.switch_number()
    }

    /// How many threads wait for this interpreter's lock now.
    pub fn waiting_threads(&self) -> usize {
        self.gil.waiting()
    }
}

/// The slot index of interpreter `id`: a number below
/// [`MAX_INTERPRETERS`], for tables kept per interpreter.
#[inline(always)]
pub fn slot_of(id: u32) -> usize {
    id as usize % MAX_INTERPRETERS
}

/// A started interpreter; dropping it gives the slot back (see
/// [`Interpreter::start`]).
#[derive(Debug)]
pub struct Started(&'static Interpreter);

impl Started {
    /// The interpreter.
    pub fn interpreter(&self) -> &'static Interpreter {
        self.0
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        self.0.claim.give_back();
    }
}
