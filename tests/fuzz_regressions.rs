//! Every input the fuzzers found a bug with (fuzz/regressions/) runs
//! cleanly now, the way the fuzz targets run it: under a check-point budget
//! and a one-second interrupt, and with no thread outliving the run.

mod common;

use std::sync::mpsc;
use std::time::Duration;

#[test]
fn fuzz_regressions_run_cleanly() {
    common::watchdog(120, "fuzz-regressions", || {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
        let mut inputs: Vec<_> =
            std::fs::read_dir(&dir).expect("fuzz/regressions").map(|e| e.unwrap().path()).collect();
        inputs.sort();
        assert!(inputs.len() >= 2);
        for input in inputs {
            let source = String::from_utf8_lossy(&std::fs::read(&input).unwrap()).into_owned();
            let (done, finished) = mpsc::channel::<()>();
            let watchdog = std::thread::spawn(move || {
                if finished.recv_timeout(Duration::from_secs(1)).is_err() {
                    gilscope::gil::request_interrupt();
                }
            });
            let objects_before = gilscope::gil::attach(|_| gilscope::vm::live_objects());
            let _ = gilscope::vm::run_with_budget(&source, 10_000);
            let _ = done.send(());
            watchdog.join().unwrap();
            gilscope::gil::clear_interrupt();
            // Nothing the program made outlives it.
            let objects_after = gilscope::gil::attach(|_| gilscope::vm::live_objects());
            assert_eq!(objects_after, objects_before, "{} left objects behind", input.display());
        }
    });
}
