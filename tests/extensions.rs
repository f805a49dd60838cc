//! C extensions end to end: the examples in `examples/ext/` and the test
//! extensions in `tests/c_ext/` are compiled with the system C compiler
//! (C99, `-Wall -Wextra -pedantic -Werror`, no `-l` for gilscope), loaded
//! by scripts run with the `gilscope` binary, and every function, every
//! load error and every misuse is checked by its message.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

const GILSCOPE: &str = env!("CARGO_BIN_EXE_gilscope");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compile `source` (relative to the repository) with `flags` into a
/// library named `name`, once per test run.
fn build(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Arc<OnceLock<PathBuf>>>>> = OnceLock::new();
    let slot = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name.to_owned())
        .or_default()
        .clone();
    slot.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("extensions");
        std::fs::create_dir_all(&dir).expect("create the output directory");
        let out = dir.join(format!("{name}.so"));
        let flags = [&["-shared", "-fPIC"], flags].concat();
        common::compile_c(source, &out, &flags);
        out
    })
    .clone()
}

fn zlib() -> PathBuf {
    build("zlib", "examples/ext/zlib.c", &["-lz"])
}
fn sha256() -> PathBuf {
    build("sha256", "examples/ext/sha256.c", &["-lcrypto"])
}
fn broken() -> PathBuf {
    build("broken", "examples/ext/broken.c", &[])
}
fn objects() -> PathBuf {
    build("objects", "tests/c_ext/objects.c", &[])
}
fn spin() -> PathBuf {
    build("spin", "tests/c_ext/spin.c", &[])
}

/// Run `code` with `gilscope run -e`, under a watchdog. `{name}` in the
/// code is replaced by the path of that library (quoted).
fn run_with_env(code: &str, libs: &[(&str, &Path)], env: &[(&str, &str)]) -> Output {
    let mut code = code.to_owned();
    for (name, path) in libs {
        code = code.replace(&format!("{{{name}}}"), &format!("{:?}", path.display().to_string()));
    }
    let env: Vec<(String, String)> =
        env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    common::watchdog(120, "gilscope run", move || {
        Command::new(GILSCOPE).args(["run", "-e", &code]).envs(env).output().expect("run gilscope")
    })
}

fn run(code: &str, libs: &[(&str, &Path)]) -> Output {
    run_with_env(code, libs, &[])
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}\nstdout: {}", stderr(out), stdout(out));
    stdout(out)
}

/// The script failed with exit code 1 and `message` on stderr.
#[track_caller]
fn assert_fails_with(out: &Output, message: &str) {
    assert_eq!(out.status.code(), Some(1), "stdout: {}\nstderr: {}", stdout(out), stderr(out));
    assert!(stderr(out).contains(message), "expected {message:?} in stderr:\n{}", stderr(out));
    assert!(!stderr(out).contains("panicked"), "a Rust panic reached the user:\n{}", stderr(out));
}

// ----- building -----

/// Every function the header declares is exported by the `gilscope`
/// binary, so an extension can call any of them (gs_init_module is the
/// extension's own).
#[test]
fn the_binary_exports_every_function_of_the_header() {
    let header = std::fs::read_to_string(root().join("csrc/include/gilscope.h")).unwrap();
    let declared: Vec<String> = header
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with("typedef"))
        .filter_map(|l| {
            // The declared name is the `gs_` identifier just before the
            // first parenthesis (the return type may be a gs_ type too).
            let before = &l[..l.find('(')?];
            let at = before.rfind("gs_")?;
            let name = &before[at..];
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_').then(|| name.to_owned())
        })
        .filter(|name| name != "gs_init_module")
        .collect();
    assert!(declared.len() > 40, "only {} functions found in the header", declared.len());
    let symbols = Command::new("nm").args(["-D", "--defined-only", GILSCOPE]).output();
    let Ok(symbols) = symbols else { return }; // no binutils: nothing to check
    let symbols = String::from_utf8_lossy(&symbols.stdout);
    let missing: Vec<&String> = declared
        .iter()
        .filter(|name| !symbols.lines().any(|l| l.ends_with(&format!(" {name}"))))
        .collect();
    assert!(missing.is_empty(), "not exported by the gilscope binary: {missing:?}");
}

#[test]
fn ext_build_runs_the_compiler_and_prints_the_command() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ext-build");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("zlib-built.so");
    let built = Command::new(GILSCOPE)
        .args(["ext", "build"])
        .arg(root().join("examples/ext/zlib.c"))
        .arg("-o")
        .arg(&out)
        .arg("-lz")
        .output()
        .unwrap();
    let printed = assert_ok(&built);
    assert!(printed.starts_with("cc ") || printed.contains(" -shared"), "{printed}");
    assert!(printed.contains("-shared -fPIC") && printed.contains("-lz"), "{printed}");
    assert!(!printed.contains("-lgilscope"), "an extension links nothing of gilscope: {printed}");
    let result = run("let z = load({lib})\nprint(z.crc32(\"hello\"))", &[("lib", &out)]);
    assert_eq!(assert_ok(&result).trim(), "907060870");

    let flags = Command::new(GILSCOPE).args(["ext", "cflags"]).output().unwrap();
    let flags = assert_ok(&flags);
    assert!(flags.contains(&format!("-I{}", root().join("csrc/include").display())), "{flags}");

    // --help and a late -o are not compiler arguments, though they follow some.
    let help =
        Command::new(GILSCOPE).args(["ext", "build", "x.c", "-lz", "--help"]).output().unwrap();
    assert!(assert_ok(&help).contains("Usage: gilscope ext build"));
    let late = dir.join("first.so");
    let built = Command::new(GILSCOPE)
        .args(["ext", "build"])
        .arg(root().join("examples/ext/first.c"))
        .arg("-Wno-unused")
        .arg("-o")
        .arg(&late)
        .output()
        .unwrap();
    assert!(assert_ok(&built).contains(&format!("-o {} -Wno-unused", late.display())));
    assert!(late.exists());
    // The guide's first extension does what docs/c-api.md shows.
    let first = run(
        "let m = load({first})\nprint(m.sum([1, 2, 39]), m.sum([]))\nm.sum([1, \"x\"])",
        &[("first", &late)],
    );
    assert_eq!(stdout(&first), "42 0\n");
    assert_fails_with(&first, "error: first.sum: expected an int, got string");
    let overflow = run("load({first}).sum([9223372036854775807, 1])", &[("first", &late)]);
    assert_fails_with(&overflow, "error: first.sum: sum overflows at item 1");

    let missing = Command::new(GILSCOPE).args(["ext", "build", "no-such-file.c"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("cannot build 'no-such-file.c': no such file"));
}

// ----- the examples -----

#[test]
fn zlib_compresses_decompresses_and_checksums() {
    let out = run(
        r#"
        let z = load({zlib})
        let text = "hello hello hello hello hello hello"
        let packed = z.compress(bytes(text))
        print(type(packed), len(packed) < len(text))
        print(decode(z.decompress(packed)) == text)
        print(z.decompress(z.compress(text, 9, false)) == bytes(text))
        print(z.crc32("hello"), z.crc32(bytes("hello")), z.crc32("", 5))
        let big = ""
        for i in range(2000) { big = big + str(i) }
        print(decode(z.decompress(z.compress(big))) == big, z.crc32(big) == z.crc32(bytes(big)))
        "#,
        &[("zlib", &zlib())],
    );
    assert_eq!(assert_ok(&out), "bytes true\ntrue\ntrue\n907060870 907060870 5\ntrue true\n");
}

#[test]
fn zlib_errors_are_script_errors_naming_the_function() {
    let out = run("let z = load({zlib})\nz.decompress(bytes(\"not zlib\"))", &[("zlib", &zlib())]);
    assert_fails_with(&out, "error: zlib.decompress: invalid compressed data: ");
    let out = run("let z = load({zlib})\nz.compress(42)", &[("zlib", &zlib())]);
    assert_fails_with(&out, "error: zlib.compress: expected bytes or a string, got int");
    let out = run("let z = load({zlib})\nz.compress(\"x\", 10)", &[("zlib", &zlib())]);
    assert_fails_with(&out, "error: zlib.compress: level must be -1..9, got 10");
    let out = run("let z = load({zlib})\nz.compress()", &[("zlib", &zlib())]);
    assert_fails_with(&out, "zlib.compress");
}

#[test]
fn sha256_digests_match_the_standard_vectors() {
    let out = run(
        r#"
        let h = load({sha})
        print(h.hexdigest("abc"))
        print(h.hexdigest(""))
        let d = h.digest(bytes("abc"))
        print(type(d), len(d), d[0], d[31])
        let big = ""
        for i in range(300) { big = big + "0123456789" }
        print(h.hexdigest(big) == h.hexdigest(big, true), h.hexdigest(big, false) == h.hexdigest(big))
        "#,
        &[("sha", &sha256())],
    );
    assert_eq!(
        assert_ok(&out),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
         bytes 32 186 173\ntrue true\n"
    );
}

// ----- the object API -----

#[test]
fn every_constructor_and_reader_round_trips() {
    let out = run(
        r#"
        let o = load({objects})
        let made = o.make()
        print(made)
        for x in made { print(o.describe(x)) }
        print(o.get({"a": 1, "b": [2]}, "b"), o.get({"a": 1}, "zz"), o.item([5, 6, 7], 2))
        print(o.call(fn(x) { return x * 10 }, 4.5))
        print(o.as_int(true), o.as_int(-9))
        "#,
        &[("objects", &objects())],
    );
    assert_eq!(
        assert_ok(&out),
        "[1, 2.5, \"text\", b\"\\x00\\x01\", nil, true, {\"k\": 1}]\n\
         int:1\nfloat:2.5\nstring:text:4\nbytes:2\nnil\nbool:1\nmap\n\
         [2] nil 7\n45.0\n1 -9\n"
    );
}

#[test]
fn ordinary_errors_from_the_object_api_are_script_errors() {
    let o = objects();
    let libs: &[(&str, &Path)] = &[("o", &o)];
    assert_fails_with(
        &run("load({o}).as_int(\"x\")", libs),
        "error: objects.as_int: expected an int, got string",
    );
    assert_fails_with(
        &run("load({o}).item([1], 3)", libs),
        "error: objects.item: list index 3 out of range (length 1)",
    );
    assert_fails_with(
        &run("load({o}).get({}, [1])", libs),
        "error: objects.get: a list cannot be a map key",
    );
    assert_fails_with(
        &run("load({o}).bad_utf8()", libs),
        "error: objects.bad_utf8: gs_str: the text is not valid UTF-8",
    );
    // An error raised by a script function called back through gs_call
    // comes out of the C function that called it.
    assert_fails_with(
        &run("load({o}).call(fn(x) { return x / 0 }, 1)", libs),
        "error: objects.call: ",
    );
}

// ----- misuse: each is reported by name, then an error -----

fn misuse_line(function: &str) -> String {
    format!("gilscope: misuse of {function} on thread 'main' (#")
}

#[track_caller]
fn assert_misuse(code: &str, lib: (&str, &Path), function: &str, what: &str, script_error: &str) {
    let out = run(code, &[lib]);
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with(&misuse_line(function)))
        .unwrap_or_else(|| panic!("no misuse line for {function} in:\n{err}"));
    assert!(line.ends_with(what), "misuse line {line:?} does not end with {what:?}");
    assert_fails_with(&out, script_error);
}

#[test]
fn touching_an_object_without_the_lock_is_reported() {
    assert_misuse(
        "load({b}).touch_after_release(bytes(\"x\"))",
        ("b", &broken()),
        "gs_as_bytes",
        "the thread does not hold the lock; interpreter objects may be touched only with it held",
        "error: broken.touch_after_release: gilscope: misuse of gs_as_bytes on thread 'main' (#",
    );
}

#[test]
fn returning_a_borrowed_reference_is_reported() {
    assert_misuse(
        "load({b}).borrowed_return([bytes(\"x\")])",
        ("b", &broken()),
        "broken.borrowed_return",
        "returned a borrowed reference: the caller takes over one reference, so gs_incref it first",
        "error: broken.borrowed_return: gilscope: misuse of broken.borrowed_return on thread",
    );
}

#[test]
fn a_double_decref_is_reported() {
    assert_misuse(
        "load({b}).double_decref()",
        ("b", &broken()),
        "gs_decref",
        "the object was already freed: its last reference was given back (a double gs_decref, \
         or a reference used after gs_decref)",
        "error: broken.double_decref: gilscope: misuse of gs_decref on thread",
    );
}

#[test]
fn null_without_an_error_is_reported() {
    assert_misuse(
        "load({b}).null_without_error()",
        ("b", &broken()),
        "broken.null_without_error",
        "returned NULL without setting an error (call gs_raise first)",
        "error: broken.null_without_error: gilscope: misuse of broken.null_without_error on thread",
    );
}

#[test]
fn a_pointer_never_handed_out_is_reported_not_followed() {
    assert_misuse(
        "load({b}).foreign_pointer()",
        ("b", &broken()),
        "gs_incref",
        "the pointer is not an object this library handed out (never dereferenced)",
        "error: broken.foreign_pointer: gilscope: misuse of gs_incref on thread",
    );
}

#[test]
fn decref_of_a_borrowed_reference_is_reported() {
    assert_misuse(
        "load({o}).decref_borrowed(bytes(\"x\"))",
        ("o", &objects()),
        "gs_decref",
        "C owns no reference to this object: it was only borrowed (an argument, gs_list_get, \
         gs_map_get), or every reference was already given back",
        "error: objects.decref_borrowed: gilscope: misuse of gs_decref on thread",
    );
}

#[test]
fn gs_as_data_reads_bytes_and_strings_and_refuses_the_rest() {
    let out = run(
        r#"
        let o = load({objects})
        print(o.data(bytes("ab")), o.data("héllo", true), o.data("", true), o.data(bytes("")))
        for x in [5, nil, [1], {"k": 1}, 2.5] {
            try { o.data(x) } catch e { print(e.message) }
        }
        "#,
        &[("objects", &objects())],
    );
    assert_eq!(
        assert_ok(&out),
        "2:ab 6:héllo:nul 0::nul 0:\n\
         objects.data: expected bytes or a string, got int\n\
         objects.data: expected bytes or a string, got nil\n\
         objects.data: expected bytes or a string, got list\n\
         objects.data: expected bytes or a string, got map\n\
         objects.data: expected bytes or a string, got float\n"
    );
}

#[test]
fn gs_as_data_without_the_lock_is_reported() {
    assert_misuse(
        "load({o}).data_without_lock(bytes(\"x\"))",
        ("o", &objects()),
        "gs_as_data",
        "the thread does not hold the lock; interpreter objects may be touched only with it held",
        "error: objects.data_without_lock: gilscope: misuse of gs_as_data on thread",
    );
}

#[test]
fn gs_int_of_an_immediate_without_the_lock_is_reported() {
    assert_misuse(
        "load({o}).int_without_lock()",
        ("o", &objects()),
        "gs_int",
        "the thread does not hold the lock; interpreter objects may be touched only with it held",
        "error: objects.int_without_lock: gilscope: misuse of gs_int on thread",
    );
}

#[test]
fn gs_as_data_of_a_pointer_never_handed_out_is_reported() {
    assert_misuse(
        "load({o}).data_foreign()",
        ("o", &objects()),
        "gs_as_data",
        "the pointer is not an object this library handed out (never dereferenced)",
        "error: objects.data_foreign: gilscope: misuse of gs_as_data on thread",
    );
}

#[test]
fn gs_as_data_after_free_is_reported() {
    assert_misuse(
        "load({o}).data_after_free()",
        ("o", &objects()),
        "gs_as_data",
        "the object was already freed: its last reference was given back (a double gs_decref, \
         or a reference used after gs_decref)",
        "error: objects.data_after_free: gilscope: misuse of gs_as_data on thread",
    );
}

#[test]
fn use_after_free_is_reported() {
    assert_misuse(
        "load({o}).use_after_free()",
        ("o", &objects()),
        "gs_as_bytes",
        "the object was already freed: its last reference was given back (a double gs_decref, \
         or a reference used after gs_decref)",
        "error: objects.use_after_free: gilscope: misuse of gs_as_bytes on thread",
    );
}

#[test]
fn a_result_with_an_error_set_is_reported() {
    assert_misuse(
        "load({o}).result_with_error()",
        ("o", &objects()),
        "objects.result_with_error",
        "returned a result with an error still set (return NULL to fail, or gs_error_clear() \
         a handled error): forgotten error 7",
        "error: objects.result_with_error: gilscope: misuse of objects.result_with_error on thread",
    );
}

#[test]
fn returning_with_the_lock_released_is_reported_and_repaired() {
    // The lock is taken back: the script goes on to run (and fail) normally.
    assert_misuse(
        "load({o}).return_released()",
        ("o", &objects()),
        "objects.return_released",
        "returned with the lock released (gs_save_thread #1 (in C function \
         objects.return_released) was not restored: GS_BEGIN_ALLOW_THREADS without \
         GS_END_ALLOW_THREADS, or a longjmp out of it); gilscope took it back",
        "error: objects.return_released: gilscope: misuse of objects.return_released on thread",
    );
}

#[test]
fn registering_after_init_is_reported() {
    assert_misuse(
        "load({o}).add_late()",
        ("o", &objects()),
        "gs_module_add",
        "the module is not the one being initialised (gs_module_add works only inside \
         gs_init_module, with the gs_module it was given)",
        "error: objects.add_late: gilscope: misuse of gs_module_add on thread",
    );
}

#[test]
fn misuse_aborts_under_gilscope_misuse_abort() {
    let out = run_with_env(
        "load({b}).double_decref()",
        &[("b", &broken())],
        &[("GILSCOPE_MISUSE", "abort")],
    );
    assert!(!out.status.success());
    assert_eq!(out.status.code(), None, "killed by SIGABRT, not an exit code");
    assert!(stderr(&out).contains(&misuse_line("gs_decref")), "{}", stderr(&out));
}

// ----- loading -----

fn loading(variant: &str) -> PathBuf {
    let flag = format!("-D{variant}");
    let name = format!("loading-{variant}");
    if variant.is_empty() {
        build("loading", "tests/c_ext/loading.c", &[])
    } else {
        build(&name, "tests/c_ext/loading.c", &[&flag])
    }
}

#[track_caller]
fn assert_load_fails(path: &Path, cause: &str) {
    let out = run("let m = load({lib})\nprint(\"loaded\")", &[("lib", path)]);
    assert_fails_with(&out, &format!("error: cannot load '{}': {cause}", path.display()));
    assert!(!stdout(&out).contains("loaded"));
}

#[test]
fn load_errors_name_the_path_and_the_cause() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("extensions");
    std::fs::create_dir_all(&dir).unwrap();
    assert_load_fails(&dir.join("does-not-exist.so"), "no such file");
    let text = dir.join("not-a-library.so");
    std::fs::write(&text, "just some text, not ELF\n").unwrap();
    assert_load_fails(&text, "not a shared library (no ELF header)");
    assert_load_fails(
        &loading("NO_INIT"),
        "it does not export gs_init_module (is it a gilscope extension?)",
    );
    assert_load_fails(
        &loading("INIT_FAILS"),
        "gs_init_module returned -1 (failure) without raising an error",
    );
    assert_load_fails(
        &loading("INIT_RAISES"),
        "gs_init_module raised an error: the configuration file ext.conf is missing",
    );
    assert_load_fails(
        &loading("WRONG_VERSION"),
        "it was built for C API version 2, but this gilscope has version 1 (rebuild it \
         against this gilscope's gilscope.h)",
    );
    assert_load_fails(&loading("TWICE"), "function 'inits' is registered twice");
    let out = run("load(42)", &[]);
    assert_fails_with(&out, "error: load() argument 1 must be a string, not a int");
}

#[test]
fn a_library_loaded_twice_is_one_module_initialised_once() {
    let lib = loading("");
    let link = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("extensions/loading-link.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&lib, &link).unwrap();
    let out = run(
        "let a = load({lib})\nlet b = load({link})\nprint(a == b, a.inits(), b.inits())",
        &[("lib", &lib), ("link", &link)],
    );
    assert_eq!(assert_ok(&out), "true 1 1\n");
}

// ----- one lock per process, and what releasing buys -----

/// The extension reads a counter a script thread keeps incrementing, spins
/// in C, and reads it again: keeping the lock, the thread cannot run at all
/// (so the extension holds the interpreter's own lock, not a copy);
/// releasing it, the thread runs.
#[test]
fn an_extension_shares_the_interpreters_one_lock() {
    let out = run(
        r#"
        let s = load({spin})
        let box = [0]
        let running = [true]
        let worker = spawn(fn() { while running[0] { box[0] = box[0] + 1 } })
        while box[0] == 0 { sleep(1) }
        let kept = s.progress(box, 200, false)
        let released = 0
        let tries = 0
        while released == 0 and tries < 20 {
            released = s.progress(box, 200, true)
            tries = tries + 1
        }
        running[0] = false
        join(worker)
        print(kept, released > 0)
        "#,
        &[("spin", &spin())],
    );
    assert_eq!(assert_ok(&out), "0 true\n");
}

/// Two script threads each spin 300 ms of wall-clock time in C: keeping the
/// lock they take turns (twice as long as one, whatever the load of the
/// machine: at least 570 ms, allowing for clock granularity); releasing it
/// they overlap (under 1.6 times one call at best of five, as a slow
/// machine may start the second thread late).
#[test]
fn threads_calling_a_releasing_extension_overlap_and_a_keeping_one_does_not() {
    let out = run(
        r#"
        let s = load({spin})
        let box = [0]
        fn two(release) {
            let start = time()
            let a = spawn(s.progress, box, 300, release)
            let b = spawn(s.progress, box, 300, release)
            join(a)
            join(b)
            return time() - start
        }
        let kept = two(false)
        let best = 1000000
        for attempt in range(5) {
            let t = two(true)
            if t < best { best = t }
        }
        print(kept >= 570, best < 480)
        "#,
        &[("spin", &spin())],
    );
    assert_eq!(assert_ok(&out), "true true\n");
}

/// A plain C counter bumped by several script threads: with the lock kept
/// it is exact; with the lock released the read-modify-writes interleave
/// and updates are lost. The threads start together (they wait for a flag
/// with the lock released) and each bumps 20 million times, tens of
/// milliseconds, so they overlap on two cores and are preempted mid-update
/// even on one; tried up to ten times, stopping at the first loss.
#[test]
fn a_c_counter_loses_updates_without_the_lock() {
    let out = run(
        r#"
        let b = load({broken})
        fn total(release) {
            b.reset()
            let go = [false]
            let ts = []
            for i in range(4) {
                push(ts, spawn(fn() {
                    while not go[0] { sleep(1) }
                    b.bump(20000000, release)
                }))
            }
            go[0] = true
            for t in ts { join(t) }
            return b.counter()
        }
        print(total(false), total(false))
        let lost = false
        let attempt = 0
        while not lost and attempt < 10 {
            lost = total(true) < 80000000
            attempt = attempt + 1
        }
        print(lost)
        "#,
        &[("broken", &broken())],
    );
    assert_eq!(assert_ok(&out), "80000000 80000000\ntrue\n");
}

/// Ctrl+C while a C function waits with the lock released: the function
/// sees gs_interrupted(), fails, and the run ends as interrupted (130).
#[test]
fn ctrl_c_stops_an_extension_and_the_run_exits_130() {
    let lib = spin();
    let code = format!(
        "load({:?}).until_interrupted()\nprint(\"not reached\")",
        lib.display().to_string()
    );
    let out = common::watchdog(60, "interrupted extension", move || {
        let child = Command::new(GILSCOPE)
            .args(["run", "-e", &code])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start gilscope");
        std::thread::sleep(std::time::Duration::from_millis(500));
        // SAFETY: kill(2) on the child we started, with a valid signal.
        let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        assert_eq!(sent, 0);
        child.wait_with_output().expect("wait for gilscope")
    });
    assert_eq!(out.status.code(), Some(130), "stderr: {}", stderr(&out));
    assert!(!stdout(&out).contains("not reached"));
}

/// The guide's scaling example runs (its timings are the reader's to judge:
/// speed is measured in benchmarks, not tests).
#[test]
fn the_scaling_example_runs() {
    let zlib = zlib();
    let out = common::watchdog(120, "scaling example", move || {
        Command::new(GILSCOPE)
            .arg("run")
            .arg(root().join("examples/ext/scaling.toy"))
            .arg(&zlib)
            .output()
            .expect("run gilscope")
    });
    let printed = assert_ok(&out);
    assert!(printed.contains("two threads, lock released:"), "{printed}");
}

// ----- several interpreters -----

fn interp_ext(name: &str) -> PathBuf {
    build(name, "tests/c_ext/interp.c", &[])
}

/// An extension that declares support for several interpreters loads in
/// each, and each gets a module object of its own: were interpreter 1's
/// map handed to interpreter 2, the first touch of it there would abort
/// with the per-object check's report. Two interpreters call it at once.
#[test]
fn an_extension_declaring_several_interpreters_loads_in_each_with_its_own_module() {
    let out = run(
        r#"
        let m = load({lib})
        let body = "fn main(path) {\n let m = load(path)\n let again = load(path)\n let total = 0\n for i in range(2000) { total = total + m.twice(i) + again.twice(1) }\n return total\n }"
        let a = interpreter(body, {lib})
        let b = interpreter(body, {lib})
        print(m.twice(21), join(a), join(b))
        "#,
        &[("lib", &interp_ext("interp"))],
    );
    assert_eq!(assert_ok(&out), "42 4002000 4002000\n");
}

/// Two interpreters load a library neither has loaded yet at the same
/// moment: one initialises it, the other waits for it (never "being
/// loaded" as an error).
#[test]
fn interpreters_loading_one_library_at_once_both_get_it() {
    let out = run(
        r#"
        let body = "fn main(path) {\n return load(path).twice(5)\n }"
        let started = []
        for i in range(6) { push(started, interpreter(body, {lib})) }
        let results = []
        for w in started { push(results, join(w)) }
        print(results)
        "#,
        &[("lib", &interp_ext("interp_race"))],
    );
    assert_eq!(assert_ok(&out), "[10, 10, 10, 10, 10, 10]\n");
}

/// An extension that does not declare support (tests/c_ext/objects.c) is
/// refused outside the main interpreter, naming the path and the cause,
/// and still loads in the main one.
#[test]
fn an_extension_without_the_declaration_is_refused_outside_the_main_interpreter() {
    let lib = objects();
    let out = run(
        r#"
        print(len(load({lib})) > 0)
        let w = interpreter("fn main(path) {\n load(path)\n }", {lib})
        join(w)
        "#,
        &[("lib", &lib)],
    );
    assert_fails_with(
        &out,
        &format!("cannot load '{}': it does not support several interpreters", lib.display()),
    );
    assert!(stderr(&out).contains("gs_module_set_multiple_interpreters"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "true\n", "the main interpreter loaded it");
}

/// An object C kept (in a static) while called from the main interpreter,
/// used from a thread of another interpreter, is reported by name and
/// never touched: the script there fails, the process does not abort.
#[test]
fn an_object_kept_in_c_is_refused_in_another_interpreter() {
    let out = run(
        r#"
        let m = load({lib})
        m.keep([1, 2, 3])
        print(m.kept())
        let w = interpreter("fn main(path) {\n return load(path).kept()\n }", {lib})
        join(w)
        "#,
        &[("lib", &interp_ext("interp_kept"))],
    );
    assert_fails_with(&out, "misuse of gs_incref");
    let err = stderr(&out);
    assert!(err.contains("the object belongs to interpreter 0"), "{err}");
    assert!(err.contains("objects never cross between interpreters"), "{err}");
    assert_eq!(stdout(&out), "[1, 2, 3]\n");
}

/// A C function that calls back into a script (`gs_call`) that calls C
/// again, which uses the object API: every level runs in its own boundary
/// and the nesting unwinds cleanly, with no stray report.
#[test]
fn an_extension_calling_back_into_the_api_from_inside_a_call_nests() {
    let out = run(
        r#"
        let z = load({zlib})
        let o = load({objects})
        fn inner(x) { return z.crc32(x) }
        print(o.call(inner, bytes("hello")))
        print(o.call(fn(x) { return o.call(inner, x) }, bytes("hello")))
        "#,
        &[("zlib", &zlib()), ("objects", &objects())],
    );
    assert_eq!(assert_ok(&out), "907060870\n907060870\n");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}
