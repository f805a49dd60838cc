//! Every example in `examples/` runs to the end: each checks its own claims
//! with `assert`, in ways that hold on a slow or busy machine.

mod common;

use std::process::Command;

#[test]
fn every_example_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut examples: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toy"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 5, "expected at least five examples");
    for example in examples {
        let shown = example.display().to_string();
        let output = common::watchdog(120, "example", move || {
            Command::new(env!("CARGO_BIN_EXE_gilscope"))
                .arg("run")
                .arg(&example)
                .output()
                .expect("run")
        });
        assert!(
            output.status.success(),
            "{shown} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
