//! Mistakes a C programmer makes writing a first extension from
//! `docs/c-api.md` alone (`tests/c_ext/slips.c`): each is reported by
//! name, with what actually happened, and the process survives it — no
//! hang, no wrong diagnosis.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

const GILSCOPE: &str = env!("CARGO_BIN_EXE_gilscope");

fn slips() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ext_slips");
            std::fs::create_dir_all(&dir).expect("create the output directory");
            let out = dir.join("slips.so");
            common::compile_c("tests/c_ext/slips.c", &out, &["-shared", "-fPIC", "-pthread"]);
            out
        })
        .clone()
}

/// Run `code` with `gilscope run -e` under a watchdog; `{o}` is replaced
/// by the quoted path of the slips extension.
fn run(code: &str) -> Output {
    let code = code.replace("{o}", &format!("{:?}", slips().display().to_string()));
    common::watchdog(120, "gilscope run", move || {
        Command::new(GILSCOPE)
            .args(["run", "--deadlock-after", "0", "-e", &code])
            .output()
            .expect("run gilscope")
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_no_panic(out: &Output) {
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}

/// `gs_ensure(); return gs_nil();` used to be misdiagnosed as a save never
/// restored, then the script thread waited for ever for the lock it held.
#[test]
fn a_gs_ensure_not_released_is_reported_and_the_script_goes_on() {
    let out = run(r#"
        let o = load({o})
        try { o.ensure_forgotten() } catch e { print("caught:", e.message) }
        try { o.ensure_twice_release_once() } catch e { print("caught again") }
        print("after")
    "#);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.contains(
            "gilscope: misuse of slips.ensure_forgotten on thread 'main' (#2): returned with 1 \
             gs_ensure not released (every gs_ensure needs its gs_release before the function \
             returns); gilscope released it"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("misuse of slips.ensure_twice_release_once on thread 'main'"));
    assert!(!stderr.contains("returned with the lock released"), "{stderr}");
    assert!(stdout.contains("caught: slips.ensure_forgotten: gilscope: misuse of"), "{stdout}");
    assert!(stdout.ends_with("caught again\nafter\n"), "{stdout}");
    assert_no_panic(&out);
}

/// The same from a spawned script thread: its call fails, the thread is
/// balanced again, and the main thread keeps running and joins it.
#[test]
fn a_gs_ensure_not_released_in_a_spawned_thread_is_reported_too() {
    let out = run(r#"
        let o = load({o})
        let t = spawn(fn() {
            try { o.ensure_forgotten() } catch e { print("thread caught it") }
            return o.type_name(1)
        })
        let total = 0
        for i in range(20000) { total = total + i }
        print(total, join(t))
    "#);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("misuse of slips.ensure_forgotten on thread 'thread-"), "{stderr}");
    assert!(stderr.contains("returned with 1 gs_ensure not released"), "{stderr}");
    assert_eq!(stdout, "thread caught it\n199990000 int\n");
    assert_no_panic(&out);
}

/// A borrowed reference used after the call that lent it returned is
/// named as that, not as a double `gs_decref` of a freed object (the
/// object is alive: the script still holds it).
#[test]
fn a_borrowed_reference_kept_past_its_call_is_named_as_such() {
    for keep in [r#"o.keep_arg(x)"#, r#"o.keep_item([x])"#] {
        let out = run(&format!(
            "let o = load({{o}})\nlet x = [1, 2]\n{keep}\nprint(len(x))\nprint(o.use_kept())"
        ));
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{keep}: {stdout}\n{stderr}");
        assert_eq!(stdout, "2\n");
        assert!(
            stderr.contains(
                "misuse of gs_type_name on thread 'main' (#2): the reference was borrowed, and \
                 the call that lent it has returned (an argument, or a gs_list_get or \
                 gs_map_get result, is valid only until the call it was lent to returns; \
                 gs_incref it to keep it longer)"
            ),
            "{keep}: {stderr}"
        );
        assert!(!stderr.contains("double gs_decref"), "{keep}: {stderr}");
        assert_no_panic(&out);
    }
}

/// A call that needs the lock, made while a `GS_BEGIN_ALLOW_THREADS` is
/// still open, is described as that (not only as a longjmp).
#[test]
fn a_call_needing_the_lock_inside_allow_threads_says_so() {
    for (function, api) in
        [("check_switch_released", "gs_check_switch"), ("save_twice", "gs_save_thread")]
    {
        let out = run(&format!("let o = load({{o}})\nprint(o.{function}())"));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{function}: {stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("gilscope: misuse of {api} on thread 'main'")))
            .unwrap_or_else(|| panic!("no report for {api}: {stderr}"));
        assert!(
            line.ends_with(
                "released it and has not restored it (this call needs the lock: make it after \
                 GS_END_ALLOW_THREADS / gs_restore_thread; if a longjmp or C++ exception left \
                 GS_BEGIN_ALLOW_THREADS, the restore never comes)"
            ),
            "{line}"
        );
        assert!(!stderr.contains("was never restored"), "{stderr}");
        assert_no_panic(&out);
    }
}

/// `gs_type_name` gives every value's type as the script's `type()` does.
#[test]
fn gs_type_name_matches_the_scripts_type() {
    let out = run(r#"
        let o = load({o})
        let values = [nil, true, 1, 2.5, "s", bytes("b"), [1], {"k": 1}, fn() {}, print,
                      Lock(), Channel(), Event(), Condition(Lock()), Queue()]
        for v in values { print(type(v), o.type_name(v)) }
    "#);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert_eq!(stdout.lines().count(), 15, "{stdout}");
    for line in stdout.lines() {
        let (script, c) = line.split_once(' ').expect("two words");
        assert_eq!(script, c, "{stdout}");
    }
    assert!(stdout.contains("lock lock\n") && stdout.contains("channel channel\n"), "{stdout}");
}

/// `gs_call` from a thread of C's own is refused with a message naming
/// the function and the thread, like every other misuse, and the same text
/// is what `gs_error_message()` gives C.
#[test]
fn gs_call_from_a_thread_of_cs_own_names_the_thread() {
    let out = run(r#"
        let o = load({o})
        print(o.foreign_call(fn() { return 1 }))
    "#);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    let report = stderr
        .lines()
        .find(|l| l.starts_with("gilscope: misuse of gs_call on thread 'foreign-"))
        .unwrap_or_else(|| panic!("no report: {stderr}"));
    assert!(report.contains("no interpreter is calling C on this thread"), "{report}");
    assert_eq!(stdout.trim_end(), report, "gs_error_message() is the reported line");
    assert_no_panic(&out);
}

/// A native or extension function spawned directly fails at the line of
/// the `spawn` call, never at line 0, in the thread's report and in the
/// joiner's error.
#[test]
fn a_function_spawned_directly_fails_at_the_line_of_the_spawn() {
    for (spawned, message) in [
        (r#"spawn(int, "x")"#, r#"cannot convert "x" to int"#),
        ("spawn(o.keep_arg)", "slips.keep_arg() takes 1 argument but 0 were given"),
    ] {
        let out = run(&format!("let o = load({{o}})\n\nlet t = {spawned}\nprint(join(t))"));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{spawned}: {stderr}");
        assert!(
            stderr.contains(&format!("error in thread 'thread-1': <eval>:3:14: error: {message}")),
            "{spawned}: {stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "<eval>:4:11: error: thread 'thread-1' failed at line 3: {message}"
            )),
            "{spawned}: {stderr}"
        );
        assert!(!stderr.contains(":0:"), "{spawned}: {stderr}");
    }
}

/// A `GILSCOPE_MISUSE` value gilscope does not know is warned about once,
/// naming the variable and the accepted values, not silently ignored.
#[test]
fn an_unknown_gilscope_misuse_value_is_warned_about_once() {
    let out = common::watchdog(120, "gilscope run", || {
        Command::new(GILSCOPE)
            .args(["run", "-e", "print(1)"])
            .env("GILSCOPE_MISUSE", "bogus")
            .output()
            .expect("run gilscope")
    });
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(text(&out.stdout), "1\n");
    assert_eq!(
        stderr,
        "gilscope: warning: GILSCOPE_MISUSE=\"bogus\" is not recognised (accepted: error, \
         abort); misuse returns errors\n"
    );
}

/// `ext cflags` prints compile flags only and `ext ldflags` the link
/// flags, as `python3-config --cflags` / `--ldflags` do, so a Makefile can
/// compile and link in two steps; `ext build` uses both.
#[test]
fn ext_cflags_and_ldflags_compile_and_link_in_two_steps() {
    let flags = |which: &str| {
        let out = Command::new(GILSCOPE).args(["ext", which]).output().expect("run gilscope");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).split_whitespace().map(str::to_owned).collect::<Vec<_>>()
    };
    let (cflags, ldflags) = (flags("cflags"), flags("ldflags"));
    assert!(cflags.contains(&"-fPIC".to_owned()), "{cflags:?}");
    assert!(!cflags.contains(&"-shared".to_owned()), "a link flag among cflags: {cflags:?}");
    assert_eq!(ldflags, ["-shared"]);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ext_slips_two_steps");
    std::fs::create_dir_all(&dir).expect("create the output directory");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let object = dir.join("first.o");
    let library = dir.join("first.so");
    let compiled = Command::new("cc")
        .args(&cflags)
        .args(["-std=c99", "-pedantic", "-Werror", "-c"])
        .arg(root.join("examples/ext/first.c"))
        .arg("-o")
        .arg(&object)
        .output()
        .expect("run cc");
    assert!(compiled.status.success(), "{}", text(&compiled.stderr));
    let linked = Command::new("cc")
        .args(&ldflags)
        .arg(&object)
        .arg("-o")
        .arg(&library)
        .output()
        .expect("run cc");
    assert!(linked.status.success(), "{}", text(&linked.stderr));
    let code = format!("print(load({:?}).sum([1, 2, 39]))", library.display().to_string());
    let out = Command::new(GILSCOPE).args(["run", "-e", &code]).output().expect("run gilscope");
    assert_eq!(text(&out.stdout), "42\n", "{}", text(&out.stderr));
}
