//! Unit tests of the lock's private invariants, beside it.

use super::*;

/// A lock held by `holder` with one thread queued and that thread's
/// drop request out, as after a waiter's switch interval ran out.
fn held_with_drop_request(holder: &Arc<Waiter>, queued: &Arc<Waiter>) -> RawGil {
    let gil = RawGil::new();
    gil.set_policy(Policy::Fair);
    gil.acquire(holder);
    gil.queue.lock().waiters.push_back(Arc::clone(queued));
    gil.state.fetch_or(QUEUED, Relaxed);
    gil.request_drop(queued.serial);
    gil
}

#[test]
fn re_taking_the_lock_after_a_short_c_call_keeps_the_waiters_drop_request() {
    let (holder, queued) = (Arc::new(Waiter::new(1)), Arc::new(Waiter::new(2)));
    let gil = held_with_drop_request(&holder, &queued);
    // The short C release that wakes nobody, then the holder's return.
    gil.state.fetch_and(!LOCKED, Release);
    assert!(gil.take_if_free(&holder));
    assert_eq!(gil.breaker() & DROP_REQUEST, DROP_REQUEST, "the request was eaten");
}

#[test]
fn another_thread_taking_the_free_lock_serves_the_drop_request() {
    let (holder, queued) = (Arc::new(Waiter::new(1)), Arc::new(Waiter::new(2)));
    let other = Arc::new(Waiter::new(3));
    let gil = held_with_drop_request(&holder, &queued);
    gil.state.fetch_and(!LOCKED, Release);
    assert!(gil.take_if_free(&other));
    assert_eq!(gil.breaker() & DROP_REQUEST, 0, "the lock moved: the request is served");
    assert_eq!(gil.holder(), Some(3));
}
