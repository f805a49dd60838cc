//! A C program from outside the project, compiled against
//! `csrc/include/gilscope.h` alone (C99, `-Wall -Wextra -pedantic -Werror`)
//! and linked against the `libgilscope.so` cargo builds, runs correctly.

mod common;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn a_c_program_using_only_the_header_works() {
    let libdir = common::shared_library_dir();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("embed");
    let link = format!("-L{}", libdir.display());
    let flags = ["-D_POSIX_C_SOURCE=200809L", &link, "-lgilscope", "-lpthread"];
    common::compile_c("tests/c_ext/embed.c", &out, &flags);
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
