//! Channels: a queue between threads — and, once interpreters have locks
//! of their own, between interpreters — that never holds the global lock
//! while it waits.
//!
//! Owns: [`Channel`], a multi-producer, multi-consumer FIFO of `Send`
//! items (in practice [`Message`](super::message::Message)s, which hold no
//! interpreter object), bounded or not, that can be closed. It knows
//! nothing of values or heaps and touches the lock only in
//! [`Channel::recv_released`] / [`Channel::send_released`], which release
//! it through [`Token::detach`] for the length of the wait.
//!
//! # Waiting
//!
//! A blocking `send` (on a full bounded channel) or `recv` (on an empty
//! one) sleeps on a condition variable and ends when:
//! - the other side makes room or sends an item (it is woken at once);
//! - the channel is closed (woken at once);
//! - its timeout expires;
//! - an interrupt (Ctrl+C, shutdown) is pending: the wait sleeps in slices
//!   of [`INTERRUPT_SLICE`] and checks [`gil::interrupted`] between them,
//!   as the interpreter's other blocking waits do, because the interrupt
//!   path may run in a signal handler and cannot signal a condition
//!   variable.
//!
//! An interrupt only ends a *wait*: an item that is ready is still
//! delivered, so a pending Ctrl+C never loses a message already sent.
//!
//! # Closing
//!
//! After [`Channel::close`], sends fail (handing the item back), and
//! receives take what is left, then fail with [`RecvError::Closed`] — so a
//! receiving loop ends cleanly once the senders are done.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::gil::{self, Token};

/// How long a blocked channel operation sleeps before it looks for a
/// pending interrupt.
pub const INTERRUPT_SLICE: Duration = Duration::from_millis(10);

/// How long a receiver that found the channel empty keeps looking before
/// it sleeps. Waking a sleeping thread costs tens of microseconds on an
/// idle machine (more on a virtual one), so a reply that comes sooner — a
/// request and its answer between two interpreters — is taken without a
/// sleep and a wake-up. Spinning happens once per receive, with the global
/// lock released, and costs at most this much CPU.
const SPIN: Duration = Duration::from_micros(50);

/// A multi-producer, multi-consumer channel. Cloning gives another handle
/// to the same channel.
pub struct Channel<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled when an item arrives or the channel closes.
    not_empty: Condvar,
    /// Signalled when room is made or the channel closes.
    not_full: Condvar,
    /// `None`: unbounded.
    capacity: Option<NonZeroUsize>,
    /// Bumped (under `state`'s lock) whenever an item arrives or the
    /// channel closes: what a spinning receiver watches without the lock.
    changes: AtomicU64,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

/// Why a receive returned no item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// The channel is closed and empty: nothing will ever come.
    Closed,
    /// The timeout expired with the channel still empty.
    Timeout,
    /// An interrupt is pending (Ctrl+C, shutdown).
    Interrupted,
    /// Only from `try_recv`: nothing is there right now.
    Empty,
}

/// Why a send did not go through; the item is handed back.
#[derive(PartialEq, Eq)]
pub enum SendError<T> {
    /// The channel is closed.
    Closed(T),
    /// The timeout expired with the channel still full.
    Timeout(T),
    /// An interrupt is pending.
    Interrupted(T),
    /// Only from `try_send`: the channel is full right now.
    Full(T),
}

impl<T> SendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendError::Closed(t)
            | SendError::Timeout(t)
            | SendError::Interrupted(t)
            | SendError::Full(t) => t,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            SendError::Closed(_) => "the channel is closed",
            SendError::Timeout(_) => "timed out waiting for room in the channel",
            SendError::Interrupted(_) => "interrupted",
            SendError::Full(_) => "the channel is full",
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvError::Closed => "the channel is closed",
            RecvError::Timeout => "timed out waiting for a message",
            RecvError::Interrupted => "interrupted",
            RecvError::Empty => "the channel is empty",
        })
    }
}

impl std::error::Error for RecvError {}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel { shared: Arc::clone(&self.shared) }
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("Channel")
            .field("len", &state.items.len())
            .field("capacity", &self.shared.capacity)
            .field("closed", &state.closed)
            .finish()
    }
}

/// When a wait that may last `timeout` from now must end.
fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// How a wait on a condition variable ended.
enum Woke {
    /// Look at the state again.
    Retry,
    Timeout,
    Interrupted,
}

/// Sleep on `cond` for one slice at most (less if the deadline is nearer).
fn wait_slice<T>(
    cond: &Condvar,
    state: &mut MutexGuard<'_, State<T>>,
    until: Option<Instant>,
) -> Woke {
    if gil::interrupted() {
        return Woke::Interrupted;
    }
    let slice = match until {
        Some(until) => match until.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => left.min(INTERRUPT_SLICE),
            _ => return Woke::Timeout,
        },
        None => INTERRUPT_SLICE,
    };
    cond.wait_for(state, slice);
    Woke::Retry
}

impl<T: Send> Channel<T> {
    /// A channel with no limit on how many items it holds: sends never
    /// wait.
    pub fn unbounded() -> Self {
        Self::with_capacity(None)
    }

    /// A channel that holds at most `capacity` items: a send waits while it
    /// is full.
    pub fn bounded(capacity: NonZeroUsize) -> Self {
        Self::with_capacity(Some(capacity))
    }

    fn with_capacity(capacity: Option<NonZeroUsize>) -> Self {
        Channel {
            shared: Arc::new(Shared {
                state: Mutex::new(State { items: VecDeque::new(), closed: false }),
                not_empty: Condvar::new(),
                not_full: Condvar::new(),
                capacity,
                changes: AtomicU64::new(0),
            }),
        }
    }

    /// The most items it holds, or `None` if unbounded.
    pub fn capacity(&self) -> Option<NonZeroUsize> {
        self.shared.capacity
    }

    /// How many items wait in it now.
    pub fn len(&self) -> usize {
        self.shared.state.lock().items.len()
    }

    /// Whether no item waits in it now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it has been closed.
    pub fn is_closed(&self) -> bool {
        self.shared.state.lock().closed
    }

    /// Whether both handles name the same channel.
    pub fn same_channel(&self, other: &Channel<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Close it: later sends fail, receives drain what is left and then
    /// fail. Wakes every waiter. Returns whether this call closed it (false
    /// if it was closed already).
    pub fn close(&self) -> bool {
        let mut state = self.shared.state.lock();
        let was_open = !state.closed;
        state.closed = true;
        self.shared.changes.fetch_add(1, Ordering::Release);
        drop(state);
        self.shared.not_empty.notify_all();
        self.shared.not_full.notify_all();
        was_open
    }

    fn is_full(&self, state: &State<T>) -> bool {
        self.shared.capacity.is_some_and(|cap| state.items.len() >= cap.get())
    }

    /// Queue `item` (the caller checked the channel is open and has room),
    /// tell a spinning receiver, then wake a sleeping one.
    fn push(&self, mut state: MutexGuard<'_, State<T>>, item: T) {
        state.items.push_back(item);
        self.shared.changes.fetch_add(1, Ordering::Release);
        drop(state);
        self.shared.not_empty.notify_one();
    }

    /// Send without waiting.
    pub fn try_send(&self, item: T) -> Result<(), SendError<T>> {
        let state = self.shared.state.lock();
        if state.closed {
            return Err(SendError::Closed(item));
        }
        if self.is_full(&state) {
            return Err(SendError::Full(item));
        }
        self.push(state, item);
        Ok(())
    }

    /// Send, waiting while the channel is full — until `timeout` (forever
    /// if `None`), an interrupt, or the channel closing. Call it without the
    /// global lock (or use [`Channel::send_released`]).
    pub fn send(&self, item: T, timeout: Option<Duration>) -> Result<(), SendError<T>> {
        let until = deadline(timeout);
        let mut state = self.shared.state.lock();
        loop {
            if state.closed {
                return Err(SendError::Closed(item));
            }
            if !self.is_full(&state) {
                self.push(state, item);
                return Ok(());
            }
            debug_assert!(!gil::holds_lock(), "a channel send waited with the global lock held");
            match wait_slice(&self.shared.not_full, &mut state, until) {
                Woke::Retry => {}
                Woke::Timeout => return Err(SendError::Timeout(item)),
                Woke::Interrupted => return Err(SendError::Interrupted(item)),
            }
        }
    }

    /// Take the oldest item without waiting.
    pub fn try_recv(&self) -> Result<T, RecvError> {
        let mut state = self.shared.state.lock();
        match self.take(&mut state) {
            Some(item) => Ok(item),
            None if state.closed => Err(RecvError::Closed),
            None => Err(RecvError::Empty),
        }
    }

    fn take(&self, state: &mut State<T>) -> Option<T> {
        let item = state.items.pop_front()?;
        if self.shared.capacity.is_some() {
            self.shared.not_full.notify_one();
        }
        Some(item)
    }

    /// Take the oldest item, waiting while the channel is empty — until
    /// `timeout` (forever if `None`), an interrupt, or the channel closing.
    /// Call it without the global lock (or use
    /// [`Channel::recv_released`]).
    pub fn recv(&self, timeout: Option<Duration>) -> Result<T, RecvError> {
        let until = deadline(timeout);
        let mut state = self.shared.state.lock();
        let mut spun = false;
        loop {
            if let Some(item) = self.take(&mut state) {
                return Ok(item);
            }
            if state.closed {
                return Err(RecvError::Closed);
            }
            debug_assert!(!gil::holds_lock(), "a channel receive waited with the global lock held");
            if !spun {
                spun = true;
                let seen = self.shared.changes.load(Ordering::Acquire);
                MutexGuard::unlocked(&mut state, || self.spin_while_unchanged(seen));
                continue;
            }
            match wait_slice(&self.shared.not_empty, &mut state, until) {
                Woke::Retry => {}
                Woke::Timeout => return Err(RecvError::Timeout),
                Woke::Interrupted => return Err(RecvError::Interrupted),
            }
        }
    }

    /// Spin for at most [`SPIN`] while nothing arrives and the channel
    /// stays open (`seen` is the change count last seen under the lock).
    fn spin_while_unchanged(&self, seen: u64) {
        let started = Instant::now();
        while self.shared.changes.load(Ordering::Acquire) == seen && started.elapsed() < SPIN {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
    }

    /// [`Channel::recv`] for a thread that holds the global lock: an item
    /// that is ready is taken at once; otherwise the lock is released for
    /// the wait (other interpreter threads run meanwhile) and taken back
    /// before returning.
    pub fn recv_released(
        &self,
        token: Token<'_>,
        timeout: Option<Duration>,
    ) -> Result<T, RecvError> {
        match self.try_recv() {
            Err(RecvError::Empty) => token.detach(|| self.recv(timeout)),
            ready => ready,
        }
    }

    /// [`Channel::send`] for a thread that holds the global lock: the lock
    /// is released only if the send has to wait.
    pub fn send_released(
        &self,
        token: Token<'_>,
        item: T,
        timeout: Option<Duration>,
    ) -> Result<(), SendError<T>> {
        match self.try_send(item) {
            Err(SendError::Full(item)) => token.detach(|| self.send(item, timeout)),
            done => done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// Fail the test (instead of hanging it) if `f` has not returned after
    /// a generous minute.
    fn watchdog<R: Send + 'static>(name: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let worker = thread::spawn(move || {
            let result = f();
            let _ = done_tx.send(());
            result
        });
        match done_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => worker.join().expect("test body panicked"),
            Err(_) => panic!("{name}: still running after 60 s (a channel wait hangs)"),
        }
    }

    fn cap(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).expect("non-zero")
    }

    /// A channel of capacity 1 holding `1`, and a thread sending `2` into
    /// it, given time to start waiting for room (a late start changes
    /// nothing the tests check: its send then waits, or fails, later).
    fn full_with_a_waiting_sender() -> (Channel<i32>, thread::JoinHandle<Result<(), SendError<i32>>>)
    {
        let ch = Channel::bounded(cap(1));
        ch.send(1, None).expect("room");
        let sender = {
            let ch = ch.clone();
            thread::spawn(move || ch.send(2, None))
        };
        thread::sleep(Duration::from_millis(20));
        (ch, sender)
    }

    #[test]
    fn items_come_out_in_order() {
        let ch = Channel::unbounded();
        for i in 0..100 {
            ch.send(i, None).expect("open");
        }
        assert_eq!(ch.len(), 100);
        let got: Vec<i32> = (0..100).map(|_| ch.recv(None).expect("item")).collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(ch.try_recv(), Err(RecvError::Empty));
    }

    #[test]
    fn many_producers_and_consumers_lose_and_duplicate_nothing() {
        let total = watchdog("mpmc", || {
            let ch = Channel::bounded(cap(4));
            let producers: Vec<_> = (0..4)
                .map(|p| {
                    let ch = ch.clone();
                    thread::spawn(move || {
                        for i in 0..2_000u64 {
                            ch.send(p * 1_000_000 + i, None).expect("open while producing");
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..3)
                .map(|_| {
                    let ch = ch.clone();
                    thread::spawn(move || {
                        let mut got = Vec::new();
                        while let Ok(item) = ch.recv(None) {
                            got.push(item);
                        }
                        got
                    })
                })
                .collect();
            for p in producers {
                p.join().expect("producer");
            }
            ch.close();
            let mut all: Vec<u64> =
                consumers.into_iter().flat_map(|c| c.join().expect("consumer")).collect();
            all.sort_unstable();
            let mut expected: Vec<u64> =
                (0..4).flat_map(|p| (0..2_000).map(move |i| p * 1_000_000 + i)).collect();
            expected.sort_unstable();
            assert_eq!(all, expected);
            all.len()
        });
        assert_eq!(total, 8_000);
    }

    #[test]
    fn a_bounded_channel_holds_at_most_its_capacity() {
        let ch = Channel::bounded(cap(2));
        ch.try_send(1).expect("room");
        ch.try_send(2).expect("room");
        assert_eq!(ch.try_send(3), Err(SendError::Full(3)));
        assert_eq!(ch.send(3, Some(Duration::from_millis(20))), Err(SendError::Timeout(3)));
        assert_eq!(ch.recv(None), Ok(1));
        ch.try_send(3).expect("room again");
    }

    #[test]
    fn a_full_channel_wakes_its_sender_when_room_is_made() {
        watchdog("room", || {
            let (ch, sender) = full_with_a_waiting_sender();
            // The sender waits (without a timeout) until this receive.
            assert_eq!(ch.recv(None), Ok(1));
            sender.join().expect("sender").expect("sent once there was room");
            assert_eq!(ch.recv(None), Ok(2));
        });
    }

    #[test]
    fn a_receive_times_out_on_an_empty_channel() {
        watchdog("timeout", || {
            let ch: Channel<u8> = Channel::unbounded();
            let start = Instant::now();
            assert_eq!(ch.recv(Some(Duration::from_millis(30))), Err(RecvError::Timeout));
            assert!(start.elapsed() >= Duration::from_millis(30), "returned early");
            assert_eq!(ch.recv(Some(Duration::ZERO)), Err(RecvError::Timeout));
        });
    }

    #[test]
    fn closing_wakes_waiting_receivers_after_the_last_item() {
        watchdog("close", || {
            let ch = Channel::unbounded();
            ch.send("last", None).expect("open");
            let receivers: Vec<_> = (0..3)
                .map(|_| {
                    let ch = ch.clone();
                    thread::spawn(move || ch.recv(None))
                })
                .collect();
            thread::sleep(Duration::from_millis(20));
            assert!(ch.close());
            assert!(!ch.close(), "a second close changes nothing");
            let mut results: Vec<_> =
                receivers.into_iter().map(|r| r.join().expect("receiver")).collect();
            results.sort_by_key(|r| r.is_err());
            assert_eq!(results, vec![Ok("last"), Err(RecvError::Closed), Err(RecvError::Closed)]);
            assert_eq!(ch.send("late", None), Err(SendError::Closed("late")));
        });
    }

    #[test]
    fn closing_wakes_a_waiting_sender_and_hands_its_item_back() {
        watchdog("close sender", || {
            let (ch, sender) = full_with_a_waiting_sender();
            ch.close();
            assert_eq!(sender.join().expect("sender"), Err(SendError::Closed(2)));
            assert_eq!(ch.recv(None), Ok(1), "what was sent before the close is kept");
            assert_eq!(ch.recv(None), Err(RecvError::Closed));
        });
    }

    #[test]
    fn receiving_with_the_lock_releases_it_while_waiting() {
        watchdog("released", || {
            let ch = Channel::unbounded();
            let receiver = {
                let ch = ch.clone();
                thread::spawn(move || {
                    gil::attach(|token| {
                        let got = ch.recv_released(token, None);
                        (got, gil::holds_lock())
                    })
                })
            };
            thread::sleep(Duration::from_millis(20));
            // This thread can take the lock although the receiver attached
            // before it and is still waiting: the wait released it.
            gil::attach(|token| {
                ch.send_released(token, 5u32, None).expect("open");
            });
            let (got, held_after) = receiver.join().expect("receiver");
            assert_eq!(got, Ok(5));
            assert!(held_after, "the lock is taken back before recv_released returns");
        });
    }

    #[test]
    fn handles_are_send_and_sync_for_send_items() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Channel<super::super::message::Message>>();
    }
}
