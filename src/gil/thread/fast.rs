//! The C API's fast paths over one thread's state: a release and a
//! re-take from C (`GS_BEGIN_ALLOW_THREADS` / `GS_END_ALLOW_THREADS`) in
//! the one right use, with every check deferred to the full path.
//!
//! This file owns nothing: it is a second `impl ThreadCtx` block, kept
//! apart because it runs outside the C API's panic boundary and must be
//! read as a whole (nothing here may panic).

use super::saved::{CName, SavePlace, Saved};
use super::{InLockCode, LAST_GENERATION, ThreadCtx, set_held};
use crate::gil::handoff::Reason;
use crate::gil::interp::NO_INTERPRETER;
use crate::gil::recorder;

impl ThreadCtx {
    /// The fast path of `gs_save_thread`: if the thread holds the lock, the
    /// recorder is off, the save fits the fixed array and the lock has no
    /// waiters, put the depth aside and release the lock, exactly as
    /// [`suspend_at`](Self::suspend_at) with [`Reason::ReleasedByC`] would,
    /// and return the save's generation. Otherwise change nothing and
    /// return `None`: the caller takes the full path, which makes every
    /// check and reports every misuse.
    ///
    /// The caller has marked the thread as in the lock's code (`_busy`).
    /// Cannot panic (no borrow that can fail, no indexing that can, no
    /// allocation, no arithmetic that can overflow): it runs outside the C
    /// API's panic boundary.
    #[inline(always)]
    pub(crate) fn try_suspend_by_c_fast(
        &self,
        _busy: &InLockCode,
        named: Option<CName>,
    ) -> Option<u32> {
        let depth = self.depth.get();
        let generation = self.next_generation.get();
        // `generation < LAST_GENERATION`: the next one is `generation + 1`
        // (no wrap to account for, no overflow).
        if depth == 0
            || generation >= LAST_GENERATION
            || !self.saved.has_inline_room()
            || recorder::recording()
        {
            return None;
        }
        let ensures = self.ensures.try_borrow().ok()?.len();
        let place = match named {
            Some(name) => Some(SavePlace::Named(name)),
            None => self.c_function.get().map(SavePlace::CFunction),
        };
        let interp = self.interp.get();
        self.depth.set(0);
        set_held(NO_INTERPRETER);
        if !interp.gil.try_release(&self.waiter, Reason::ReleasedByC) {
            // Waiters queued: the full path hands the lock on.
            self.depth.set(depth);
            set_held(interp.id());
            return None;
        }
        self.next_generation.set(generation + 1);
        self.saved.push_inline(Saved { generation, depth, ensures, place });
        Some(generation)
    }

    /// The fast path of `gs_restore_thread`: if the thread does not hold
    /// the lock, its innermost save is in the fixed array and `presented`
    /// says the state C passed names it, the recorder is off and the lock
    /// is free, take the lock and restore the depth, exactly as
    /// [`resume`](Self::resume) would, and return true. Otherwise change
    /// nothing and return false (the full path checks and reports).
    ///
    /// Cannot panic, as [`try_suspend_by_c_fast`](Self::try_suspend_by_c_fast);
    /// nor may `presented`.
    #[inline(always)]
    pub(crate) fn try_resume_fast(
        &self,
        _busy: &InLockCode,
        presented: impl FnOnce(u64, u32) -> bool,
    ) -> bool {
        if self.depth.get() != 0 || recorder::recording() {
            return false;
        }
        let Some(saved) = self.saved.last_inline() else {
            return false;
        };
        if !presented(self.serial(), saved.generation) {
            return false;
        }
        let interp = self.interp.get();
        if !interp.gil.try_acquire(&self.waiter) {
            // Held by another thread: the full path waits for it.
            return false;
        }
        self.saved.forget_last_inline();
        set_held(interp.id());
        self.depth.set(saved.depth);
        true
    }
}
