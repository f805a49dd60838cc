//! A pending interrupt ends a channel wait, but never a receive whose item
//! is ready. In a file of its own: an interrupt is process-wide, and would
//! stop every other test running in the same process.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use gilscope::gil;
use gilscope::vm::channel::{Channel, RecvError, SendError};

#[test]
fn an_interrupt_ends_a_wait_but_not_a_ready_receive() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let body = thread::spawn(move || {
        let ch: Channel<u32> = Channel::unbounded();
        let waiting = Arc::new(AtomicBool::new(false));
        let receiver = {
            let (ch, waiting) = (ch.clone(), Arc::clone(&waiting));
            thread::spawn(move || {
                waiting.store(true, SeqCst);
                ch.recv(None)
            })
        };
        while !waiting.load(SeqCst) {
            thread::yield_now();
        }
        thread::sleep(Duration::from_millis(20));
        gil::request_interrupt();
        let woken = receiver.join().expect("receiver");
        // While the interrupt is pending, a ready item is still delivered,
        // and a send that would wait does not.
        ch.send(7, None).expect("open");
        let ready = ch.recv(None);
        let full = Channel::bounded(NonZeroUsize::new(1).expect("non-zero"));
        full.send(0, None).expect("room");
        let blocked = full.send(1, None);
        gil::clear_interrupt();
        let _ = done_tx.send(());
        (woken, ready, blocked)
    });
    // Watchdog: a wait that ignores the interrupt fails the test, not CI.
    done_rx.recv_timeout(Duration::from_secs(60)).expect("a channel wait ignored the interrupt");
    let (woken, ready, blocked) = body.join().expect("test body");
    assert_eq!(woken, Err(RecvError::Interrupted));
    assert_eq!(ready, Ok(7));
    assert_eq!(blocked, Err(SendError::Interrupted(1)));
}
