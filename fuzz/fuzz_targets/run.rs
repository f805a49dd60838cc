//! Running short programs under an instruction budget (10,000 loop
//! iterations and calls per thread) and a one-second wall-clock limit
//! enforced by an interrupt: every input must end cleanly, with whatever
//! threads it started joined.
#![no_main]

use std::sync::mpsc;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    // A small heap limit: inputs that grow strings or lists end in
    // "out of memory" quickly instead of using libFuzzer's RSS budget.
    gilscope::vm::set_memory_limit(64 << 20);
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(1)).is_err() {
            // Sleeps and blocking C calls are not counted by the budget.
            gilscope::gil::request_interrupt();
        }
    });
    let _ = gilscope::vm::run_with_budget(source, 10_000);
    let _ = done.send(());
    watchdog.join().expect("watchdog");
    gilscope::gil::clear_interrupt();
});
