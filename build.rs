//! Compiles the bundled C library in `csrc/` and links it into gilscope.
//!
//! Every `.c` file under `csrc/` is built with `-Wall -Wextra` and warnings
//! as errors. When the Rust build is instrumented with ThreadSanitizer
//! (`-Zsanitizer=thread`), the C code is instrumented too, so races that
//! cross the FFI boundary are seen from both sides.

use std::path::{Path, PathBuf};

fn c_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            c_sources(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "c") {
            out.push(path);
        }
    }
}

fn main() {
    let csrc = Path::new("csrc");
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rerun-if-env-changed=CARGO_CFG_SANITIZE");

    let mut sources = Vec::new();
    c_sources(csrc, &mut sources);
    for source in &sources {
        println!("cargo:rerun-if-changed={}", source.display());
    }

    let mut build = cc::Build::new();
    build
        .files(&sources)
        .include(csrc.join("include"))
        .include(csrc)
        .std("c99")
        .define("_POSIX_C_SOURCE", "200809L")
        .flag("-Wall")
        .flag("-Wextra")
        .flag("-pedantic")
        .warnings_into_errors(true);

    let sanitizers = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitizers.split(',').any(|s| s == "thread") {
        build.flag("-fsanitize=thread");
    }
    // `ci/ubsan.sh`: the C library built with UndefinedBehaviorSanitizer,
    // every finding fatal, and its runtime linked in.
    println!("cargo:rerun-if-env-changed=GILSCOPE_UBSAN");
    let ubsan = std::env::var_os("GILSCOPE_UBSAN").is_some_and(|v| !v.is_empty());
    if ubsan {
        build.flag("-fsanitize=undefined").flag("-fno-sanitize-recover=all");
    }
    build.compile("gilscope_clib");
    if ubsan {
        println!("cargo:rustc-link-lib=ubsan");
    }
    println!("cargo:rustc-link-lib=pthread");
    // The gilscope binary exports its C API, as CPython's `python` does,
    // so a C extension it loads resolves `gs_*` against the running
    // process and shares its one lock (src/ext/mod.rs keeps the functions
    // linked in). Test binaries that load extensions in-process need it too.
    println!("cargo:rustc-link-arg-bins=-rdynamic");
    println!("cargo:rustc-link-arg-tests=-rdynamic");
}
