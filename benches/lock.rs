//! Micro benchmarks of the lock (criterion): the uncontended cycle from
//! Rust and from C, the bare `parking_lot::Mutex` floor, the check point
//! with nothing pending, and the hand-off latency between two threads.
//!
//!     cargo bench --bench lock

use std::time::{Duration, Instant};

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use gilscope::ffi::{clib, gs_check_switch, gs_restore_thread, gs_save_thread};
use gilscope::gil::{self, attach};

fn cycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("cycle");
    group.bench_function("attach+detach (Rust)", |b| {
        b.iter(|| attach(|token| black_box(token).check_point().is_ok()))
    });
    group.bench_function("gs_save_thread+gs_restore_thread (C API)", |b| {
        attach(|_| {
            b.iter(|| {
                let state = gs_save_thread();
                black_box(gs_restore_thread(state))
            })
        })
    });
    group.bench_function("GS_BEGIN/END_ALLOW_THREADS from C, per cycle", |b| {
        attach(|token| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                clib::release_cycles(token, iters as i64).expect("release cycles");
                start.elapsed()
            })
        })
    });
    let mutex = parking_lot::Mutex::new(0u64);
    group.bench_function("parking_lot::Mutex lock+unlock (floor)", |b| {
        b.iter(|| {
            *black_box(&mutex).lock() += 1;
        })
    });
    group.finish();
}

fn check_point(c: &mut Criterion) {
    c.bench_function("check point, nothing pending", |b| {
        attach(|token| b.iter(|| black_box(token).check_point().is_ok()))
    });
    // What a C loop pays per `gs_check_switch()` when nobody waits: the
    // relaxed load of the eval breaker, the exported function's
    // panic boundary, the thread-local context lookup and the held-lock check.
    c.bench_function("gs_check_switch, nothing pending (C API)", |b| {
        attach(|_| b.iter(|| black_box(gs_check_switch())))
    });
}

/// One-way hand-off: two threads ping-pong through two events, each wait
/// releasing the lock (as `threading.Event.wait` releases CPython's GIL),
/// beside the same ping-pong with no lock at all.
fn handoff(c: &mut Criterion) {
    let mut group = c.benchmark_group("hand-off, one way");
    group.bench_function("through the lock", |b| {
        b.iter_custom(|iters| gilscope::bench::ping_pong(iters.max(1)) / 2)
    });
    group.bench_function("no lock (operating-system floor)", |b| {
        b.iter_custom(|iters| gilscope::bench::ping_pong_floor(iters.max(1)) / 2)
    });
    group.finish();
}

fn configured() -> Criterion {
    gil::set_policy(gil::Policy::DEFAULT);
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
}

criterion_group! { name = benches; config = configured(); targets = cycle, check_point, handoff }
criterion_main!(benches);
