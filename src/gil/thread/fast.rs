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
    /// and return the value `hand_out` makes of the thread's serial and
    /// the save's generation (the C API's token; never 0), which the save
    /// keeps for [`try_resume_fast`](Self::try_resume_fast) to compare.
    /// Otherwise change nothing and return `None`: the caller takes the
    /// full path, which makes every check and reports every misuse.
    ///
    /// The caller has marked the thread as in the lock's code (`_busy`).
    /// Cannot panic (no borrow that can fail, no indexing that can, no
    /// allocation, no arithmetic that can overflow), nor may `hand_out`:
    /// it runs outside the C API's panic boundary.
    #[inline(always)]
    pub(crate) fn try_suspend_by_c_fast(
        &self,
        _busy: &InLockCode,
        named: Option<CName>,
        hand_out: impl FnOnce(u64, u32) -> usize,
    ) -> Option<usize> {
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
        let interp = self.interp.get();
        self.depth.set(0);
        set_held(NO_INTERPRETER);
        if !interp.gil.try_release(&self.waiter, Reason::ReleasedByC) {
            // Waiters queued: the full path hands the lock on.
            self.depth.set(depth);
            set_held(interp.id());
            return None;
        }
        // What is only stored is worked out after the release, so fewer
        // values are live across the compare-exchange.
        let place = match named {
            Some(name) => Some(SavePlace::Named(name)),
            None => self.c_function.get().map(SavePlace::CFunction),
        };
        let handed_out = hand_out(self.serial(), generation);
        self.next_generation.set(generation + 1);
        // Room was checked above, and nothing in between pushes.
        self.saved.push_inline(Saved { generation, depth, ensures, place, handed_out });
        Some(handed_out)
    }

    /// The fast path of `gs_restore_thread`: if the thread does not hold
    /// the lock, its innermost save is in the fixed array and was made on
    /// the fast path, `presented` (what C passed) is the value that save
    /// handed out, the recorder is off and the lock is free, take the lock
    /// and restore the depth, exactly as [`resume`](Self::resume) would,
    /// and return true. Otherwise change nothing and return false (the
    /// full path checks and reports).
    ///
    /// Cannot panic, as [`try_suspend_by_c_fast`](Self::try_suspend_by_c_fast).
    #[inline(always)]
    pub(crate) fn try_resume_fast(&self, _busy: &InLockCode, presented: usize) -> bool {
        if self.depth.get() != 0 || recorder::recording() {
            return false;
        }
        let Some(saved) = self.saved.last_inline() else {
            return false;
        };
        // A save made on the full path handed out nothing here (0): its
        // restore takes the full path, as does a NULL `presented`. Tested
        // as `presented == 0` (equivalent: equal to the kept value and
        // that value 0 means `presented` is 0), which the compiler can
        // test on the argument's register before any load.
        if presented == 0 || presented != saved.handed_out {
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
