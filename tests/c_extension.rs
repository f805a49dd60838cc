//! A C program from outside the project, compiled against
//! `csrc/include/gilscope.h` alone (C99, `-Wall -Wextra -pedantic -Werror`)
//! and linked against the `libgilscope.so` cargo builds, runs correctly.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn shared_library_dir() -> PathBuf {
    // Integration test binaries live in target/<profile>/deps, beside the
    // cdylib cargo builds from the same lib target.
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    assert!(deps.join("libgilscope.so").exists(), "libgilscope.so not built in {}", deps.display());
    deps
}

#[test]
fn a_c_program_using_only_the_header_works() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let libdir = shared_library_dir();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("embed");
    let compiled = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-D_POSIX_C_SOURCE=200809L"])
        .arg("-I")
        .arg(root.join("csrc/include"))
        .arg(root.join("tests/c_ext/embed.c"))
        .arg("-L")
        .arg(&libdir)
        .args(["-lgilscope", "-lpthread", "-o"])
        .arg(&out)
        .output()
        .expect("run cc");
    assert!(
        compiled.status.success(),
        "the C program did not compile cleanly:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let run = common::watchdog(60, "embed", move || {
        Command::new(&out).env("LD_LIBRARY_PATH", &libdir).output().expect("run embed")
    });
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "embed failed: {stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("counter=8000 expected=8000 overlaps=0 failed=0 misuse_rc=-1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("message=gilscope: misuse of gs_release on thread 'main' (#"),
        "{stdout}"
    );
}
