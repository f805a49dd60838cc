//! The recorder's storage and clock: one ring of fixed-size binary events
//! per thread, and the time-stamp counter that stamps them.
//!
//! This file owns a ring's memory and its single-writer protocol (only the
//! owning thread writes; any thread reads what is published), and the
//! conversion from counter ticks to nanoseconds. `recorder.rs` decides
//! which ring a thread writes to and what the events mean.

use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize};
use std::time::Instant;

use once_cell::sync::Lazy;

use super::recorder::EventKind;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// One event as a thread stores it in its own ring: a fixed-size binary
/// record (40 bytes), turned into an [`Event`] only after the run.
#[derive(Clone, Copy, Debug)]
pub(super) struct RawEvent {
    /// [`Clock`] ticks.
    pub(super) ticks: u64,
    pub(super) c_function: Option<&'static str>,
    pub(super) kind: EventKind,
    /// The interpreter whose lock the event is about, or
    /// [`NO_INTERPRETER`](super::interp::NO_INTERPRETER) when the recording call did not know it (then it
    /// is the thread's interpreter at its previous event).
    pub(super) interpreter: u32,
}

/// Events per chunk of a ring; chunks are allocated as the ring fills.
const CHUNK: usize = 4096;
/// Chunks per ring: at most 4,194,304 events per thread per recording
/// (160 MiB); events past that are counted as lost, never overwritten.
pub(super) const CHUNKS: usize = 1024;

/// One thread's events of one recording. Only the owning thread writes
/// (`push`); any thread may read the published prefix (`copy_out`).
pub(super) struct Ring {
    pub(super) serial: u64,
    /// The recording this ring belongs to.
    pub(super) session: u64,
    /// Chunk pointers, each null until the owner allocates it.
    chunks: Box<[AtomicPtr<RawEvent>]>,
    /// How many events are written and published (Release by the owner).
    len: AtomicUsize,
    /// Events that did not fit.
    pub(super) lost: AtomicU64,
}

impl Ring {
    pub(super) fn new(serial: u64, session: u64, chunks: usize) -> Ring {
        let chunks = (0..chunks).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect();
        Ring { serial, session, chunks, len: AtomicUsize::new(0), lost: AtomicU64::new(0) }
    }

    /// Append an event. Called only by the owning thread: a few plain stores
    /// and one release store, no read-modify-write and no lock.
    #[inline]
    pub(super) fn push(&self, event: RawEvent) {
        let n = self.len.load(Relaxed);
        let Some(slot) = self.chunks.get(n / CHUNK) else {
            self.lost.store(self.lost.load(Relaxed) + 1, Relaxed);
            return;
        };
        let mut chunk = slot.load(Relaxed);
        if chunk.is_null() {
            chunk = new_chunk();
            slot.store(chunk, Release);
        }
        // SAFETY: `chunk` points to an allocation of CHUNK events that only
        // this thread writes; slot `n % CHUNK` is past the published length,
        // so no reader looks at it until the release store below.
        unsafe { chunk.add(n % CHUNK).write(event) };
        self.len.store(n + 1, Release);
    }

    /// The published events from index `from` on, in order.
    pub(super) fn copy_out(&self, from: usize) -> Vec<RawEvent> {
        let n = self.len.load(Acquire);
        (from..n)
            .map(|i| {
                let chunk = self.chunks[i / CHUNK].load(Acquire);
                // SAFETY: the owner allocated the chunk and wrote event `i`
                // before its release store of a length above `i`, which the
                // acquire load of `len` saw; published events are never
                // written again, and the chunk lives as long as the ring.
                unsafe { *chunk.add(i % CHUNK) }
            })
            .collect()
    }
}

/// The memory layout of one chunk.
const CHUNK_LAYOUT: std::alloc::Layout = match std::alloc::Layout::array::<RawEvent>(CHUNK) {
    Ok(layout) => layout,
    Err(_) => panic!("a chunk's size fits"),
};

/// A fresh chunk, uninitialised: events are written before they are
/// published, and never read past the published length.
#[cold]
#[inline(never)]
fn new_chunk() -> *mut RawEvent {
    // SAFETY: the layout has a non-zero size (CHUNK events of 40 bytes).
    let chunk = unsafe { std::alloc::alloc(CHUNK_LAYOUT) }.cast::<RawEvent>();
    if chunk.is_null() {
        std::alloc::handle_alloc_error(CHUNK_LAYOUT);
    }
    chunk
}

#[cfg(test)]
impl RawEvent {
    const EMPTY: RawEvent =
        RawEvent { ticks: 0, c_function: None, kind: EventKind::ThreadExited, interpreter: 0 };
}

impl Drop for Ring {
    fn drop(&mut self) {
        for slot in self.chunks.iter() {
            let chunk = slot.load(Acquire);
            if !chunk.is_null() {
                // SAFETY: allocated by `new_chunk` with CHUNK_LAYOUT and
                // freed only here, once, when the last owner lets go
                // (`RawEvent` is `Copy`: nothing to drop).
                unsafe { std::alloc::dealloc(chunk.cast(), CHUNK_LAYOUT) };
            }
        }
    }
}

/// The recorder's clock: the CPU's invariant time-stamp counter where there
/// is one (a few nanoseconds to read, against 20 or more for
/// `clock_gettime`), else [`Instant`]. Ticks become nanoseconds only after
/// the run, scaled by the counter's rate measured against [`Instant`] over
/// the whole time since the recorder's epoch.
pub(super) struct Clock;

/// The recorder's epoch, with the tick count read at the same moment.
pub(super) static EPOCH: Lazy<(Instant, u64)> = Lazy::new(|| (Instant::now(), Clock::raw_ticks()));
pub(super) static USE_TSC: Lazy<bool> = Lazy::new(invariant_tsc);

impl Clock {
    /// Now, without a fence: the CPU may run the read a few dozen cycles
    /// out of program order, far less than a freed lock takes to reach
    /// another core, so a release stamped this way still comes before the
    /// next holder's acquisition.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    pub(super) fn ticks() -> u64 {
        if *USE_TSC {
            // SAFETY: RDTSC exists on every x86-64 CPU.
            unsafe { std::arch::x86_64::_rdtsc() }
        } else {
            instant_ticks()
        }
    }

    /// Now, read only after every earlier instruction (such as the
    /// compare-exchange that took the lock) has finished, so an acquisition
    /// is never stamped before it happened.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    pub(super) fn raw_ticks() -> u64 {
        if *USE_TSC {
            // SAFETY: LFENCE and RDTSC exist on every x86-64 CPU.
            unsafe {
                std::arch::x86_64::_mm_lfence();
                std::arch::x86_64::_rdtsc()
            }
        } else {
            instant_ticks()
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline]
    pub(super) fn ticks() -> u64 {
        instant_ticks()
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline]
    pub(super) fn raw_ticks() -> u64 {
        instant_ticks()
    }

    /// A converter from ticks to recorder nanoseconds, calibrated now.
    pub(super) fn to_ns() -> impl Fn(u64) -> u64 {
        let (epoch, epoch_ticks) = *EPOCH;
        let (now_ticks, now_ns) = (Clock::raw_ticks(), epoch.elapsed().as_nanos() as u64);
        let span = now_ticks.saturating_sub(epoch_ticks);
        let rate = if *USE_TSC && span > 0 { now_ns as f64 / span as f64 } else { 1.0 };
        move |ticks| (ticks.saturating_sub(epoch_ticks) as f64 * rate) as u64
    }
}

/// Nanoseconds since a fixed point, for when there is no usable counter.
fn instant_ticks() -> u64 {
    static BASE: Lazy<Instant> = Lazy::new(Instant::now);
    BASE.elapsed().as_nanos() as u64
}

/// Whether the CPU's time-stamp counter runs at a constant rate, in every
/// power state and on every core (CPUID leaf 0x8000_0007, EDX bit 8).
fn invariant_tsc() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        let max = __cpuid(0x8000_0000).eax;
        max >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(ticks: u64) -> RawEvent {
        RawEvent { ticks, ..RawEvent::EMPTY }
    }

    #[test]
    fn a_ring_keeps_every_event_in_order_across_chunks() {
        let ring = Ring::new(7, 1, 3);
        for t in 0..(2 * CHUNK as u64 + 5) {
            ring.push(raw(t));
        }
        let out = ring.copy_out(0);
        assert_eq!(out.len(), 2 * CHUNK + 5);
        assert!(out.iter().enumerate().all(|(i, e)| e.ticks == i as u64));
        assert_eq!(ring.copy_out(2 * CHUNK).len(), 5, "reading on from where one left off");
        assert_eq!(ring.lost.load(Relaxed), 0);
    }

    #[test]
    fn a_full_ring_counts_what_it_drops_and_overwrites_nothing() {
        let ring = Ring::new(7, 1, 1);
        for t in 0..(CHUNK as u64 + 10) {
            ring.push(raw(t));
        }
        let out = ring.copy_out(0);
        assert_eq!(out.len(), CHUNK);
        assert_eq!(out.last().map(|e| e.ticks), Some(CHUNK as u64 - 1), "the oldest kept");
        assert_eq!(ring.lost.load(Relaxed), 10);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "reads the CPU's time-stamp counter (cpuid, rdtsc), which Miri cannot run"
    )]
    fn ticks_become_nanoseconds_in_order_and_near_the_clock() {
        let now_ns = || EPOCH.0.elapsed().as_nanos() as u64;
        let before = now_ns();
        let stamp = Clock::raw_ticks();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = Clock::raw_ticks();
        let to_ns = Clock::to_ns();
        let (t1, t2) = (to_ns(stamp), to_ns(later));
        assert!(t1 <= t2, "{t1} > {t2}");
        assert!(t2 - t1 >= 1_000_000, "2 ms of sleep measured as {} ns", t2 - t1);
        // Generous: the rate is measured against the clock, not assumed.
        assert!(t1 + 50_000_000 > before && t1 < now_ns() + 50_000_000, "{t1} vs {before}");
    }
}
