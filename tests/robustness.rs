//! Hostile input never crashes, hangs or aborts the interpreter: it gets a
//! clear error and exit code 1 (2 for usage errors, 130 for Ctrl+C).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn gilscope(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    common::watchdog(60, "gilscope", move || {
        Command::new(env!("CARGO_BIN_EXE_gilscope")).args(&args).output().expect("run gilscope")
    })
}

fn script_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, bytes).expect("write script");
    path
}

fn run_bytes(name: &str, bytes: &[u8]) -> Output {
    let path = script_file(name, bytes);
    gilscope(&["run", path.to_str().unwrap()])
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Exit 1 with a `FILE:LINE:COL: error:` first line, not a signal.
fn assert_clean_syntax_error(output: &Output, what: &str) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{what}: {err}");
    let first = err.lines().next().unwrap_or_default().to_owned();
    assert!(first.contains(": error: "), "{what}: {first}");
    first
}

#[test]
fn binary_garbage_is_a_clean_error() {
    // A deterministic pseudo-random byte soup, NULs and high bytes included.
    let mut x: u32 = 12345;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let output = run_bytes("garbage.toy", &bytes);
    let first = assert_clean_syntax_error(&output, "garbage");
    assert!(first.ends_with("the file is not valid UTF-8 text"), "{first}");
    // Printable garbage is valid UTF-8 and still a syntax error, not a crash.
    let printable: Vec<u8> = bytes.iter().map(|b| b'!' + b % 90).collect();
    assert_clean_syntax_error(&run_bytes("printable.toy", &printable), "printable garbage");
}

#[test]
fn invalid_utf8_names_its_position() {
    let output = run_bytes("latin1.toy", b"print(1)\nlet s = \"caf\xe9\"\n");
    let first = assert_clean_syntax_error(&output, "latin1");
    assert!(first.ends_with("latin1.toy:2:13: error: the file is not valid UTF-8 text"), "{first}");
}

#[test]
fn a_one_megabyte_line_is_handled() {
    let long_string = format!("let s = \"{}\"\nprint(len(s))\n", "a".repeat(1 << 20));
    let output = run_bytes("long_string.toy", long_string.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1048576");

    let long_sum = format!("print(1{})\n", "+1".repeat(1 << 19));
    let first =
        assert_clean_syntax_error(&run_bytes("long_sum.toy", long_sum.as_bytes()), "long sum");
    assert!(first.contains("expression is too long (more than 10000 operators)"), "{first}");

    let ok_sum = format!("print(1{})\n", "+1".repeat(5000));
    let output = run_bytes("ok_sum.toy", ok_sum.as_bytes());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "5001", "{}", stderr(&output));
}

#[test]
fn a_hundred_thousand_nested_brackets_are_a_clean_error() {
    for (name, open, close) in [("parens", "(", ")"), ("lists", "[", "]"), ("maps", "{1: ", "}")] {
        let source = format!("print({}1{})\n", open.repeat(100_000), close.repeat(100_000));
        let first =
            assert_clean_syntax_error(&run_bytes(&format!("{name}.toy"), source.as_bytes()), name);
        assert!(first.contains("nesting is too deep (more than 200 levels)"), "{name}: {first}");
    }
    let blocks = format!("{}{}", "if true {\n".repeat(100_000), "}\n".repeat(100_000));
    let first = assert_clean_syntax_error(&run_bytes("blocks.toy", blocks.as_bytes()), "blocks");
    assert!(first.contains("nesting is too deep"), "{first}");
    let unary = format!("print({}1)\n", "-".repeat(100_000));
    assert_clean_syntax_error(&run_bytes("unary.toy", unary.as_bytes()), "unary minus");
    let calls = format!("print(f{})\n", "()".repeat(100_000));
    assert_clean_syntax_error(&run_bytes("calls.toy", calls.as_bytes()), "call chain");
}

#[test]
fn nested_finally_blocks_cannot_blow_up_the_compiler() {
    // Each `finally` is compiled onto every way out of its block, so 40
    // nested ones would be 2^40 copies: a clean error instead, quickly.
    let nested =
        format!("{}print(2){}\n", "try { print(1) } finally { ".repeat(40), " }".repeat(40));
    let started = Instant::now();
    let first = assert_clean_syntax_error(&run_bytes("finally.toy", nested.as_bytes()), "finally");
    assert!(first.contains("function too large"), "{first}");
    assert!(started.elapsed() < Duration::from_secs(50), "took {:?}", started.elapsed());
    // Many nested `with` and `try` blocks left by one `return` are fine.
    let body =
        format!("with l {{ {}return 7{} }}", "try { ".repeat(60), " } finally { }".repeat(60));
    let withs = format!("let l = Lock()\nfn f() {{ {body} }}\nprint(f(), acquire(l, 0))\n");
    let output = run_bytes("withs.toy", withs.as_bytes());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "7 true\n", "{}", stderr(&output));
}

#[test]
fn deeply_nested_values_are_printed_and_freed_without_overflow() {
    let source = "let l = []\nfor i in range(200000) { l = [l] }\nprint(len(str(l)) > 0)\nl = nil\nprint(objects() < 100)\n";
    let output = run_bytes("nested_values.toy", source.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "true\ntrue\n");
}

#[test]
fn syntax_errors_show_the_line_and_a_caret() {
    let output = run_bytes("caret.toy", b"let a = 1\nlet b = (2 +\n");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{}:", script_file("caret.toy", b"").display())),
        "{err}"
    );
    assert!(lines[0].contains(":3:1: error: expected an expression, found end of file"), "{err}");
    let missing_brace = run_bytes("brace.toy", b"fn f() {\n    return 1\n");
    assert!(
        stderr(&missing_brace)
            .contains(":3:1: error: expected '}' to close the block, found end of file")
    );
    let output = run_bytes("caret2.toy", b"let x = 1 @ 2\n");
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[1], "    let x = 1 @ 2", "{err}");
    assert_eq!(lines[2], "              ^", "{err}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(gilscope(&["run"]).status.code(), Some(2));
    assert_eq!(gilscope(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(gilscope(&["run", "/no/such/file.toy"]).status.code(), Some(2));
    assert_eq!(gilscope(&["run", "-e", "1", "--switch-interval", "0"]).status.code(), Some(2));
    assert_eq!(gilscope(&["run", "-e", "1", "--policy", "nope"]).status.code(), Some(2));
    assert_eq!(gilscope(&["bench", "nope"]).status.code(), Some(2));
}

/// Every subcommand that takes the lock's settings lists the policies in
/// its help and in the error for an unknown one, and names the default.
#[test]
fn the_lock_options_list_every_policy() {
    use gilscope::gil::Policy;
    for command in ["run", "demo", "bench"] {
        let help = String::from_utf8_lossy(&gilscope(&[command, "--help"]).stdout).into_owned();
        assert!(help.contains("--switch-interval"), "{command} --help:\n{help}");
        assert!(help.contains(&format!("[default: {}]", Policy::DEFAULT)), "{command}:\n{help}");
        for policy in Policy::ALL {
            assert!(help.contains(policy.name()), "{command} --help lacks {policy}:\n{help}");
        }
    }
    let err = stderr(&gilscope(&["demo", "--policy", "nope"]));
    for policy in Policy::ALL {
        assert!(err.contains(policy.name()), "{err}");
    }
}

#[test]
fn eval_and_arguments() {
    let output = gilscope(&["run", "-e", "print(args(), 6 * 7)", "x", "--y"]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "[\"x\", \"--y\"] 42\n",
        "{}",
        stderr(&output)
    );
    let failing = gilscope(&["run", "-e", "print(1 / 0)"]);
    assert_eq!(failing.status.code(), Some(1));
    assert!(stderr(&failing).starts_with("<eval>:1:9: error: division by zero"));
}

/// Start a script, wait until it has printed `ready`, send SIGINT, and
/// return the exit code and how long it took to exit after the signal.
fn interrupt(source: &str) -> (Option<i32>, Duration, String) {
    let source = source.to_owned();
    common::watchdog(60, "sigint", move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gilscope"))
            .args(["run", "-e", &source])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdout = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 64];
        while !String::from_utf8_lossy(&seen).contains("ready") {
            let n = std::io::Read::read(&mut stdout, &mut buf).expect("read");
            assert!(n > 0, "the script ended before it was ready");
            seen.extend_from_slice(&buf[..n]);
        }
        std::thread::sleep(Duration::from_millis(100));
        let sent = Instant::now();
        // SAFETY: kill with a valid pid of our own child and a valid signal.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = child.wait().expect("wait");
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
        (status.code(), sent.elapsed(), err)
    })
}

#[test]
fn ctrl_c_stops_an_endless_loop_with_130() {
    for (what, source) in [
        ("endless loop", "print(\"ready\")\nwhile true { }"),
        (
            "endless recursion-free calls",
            "fn f() { return 1 }\nprint(\"ready\")\nwhile true { f() }",
        ),
        ("C call keeping the lock", "print(\"ready\")\nc.busy_wait(60000)"),
        ("sleep", "print(\"ready\")\nsleep(60000)"),
        ("C sleep", "print(\"ready\")\nc.sleep(60000)"),
        ("c.read keeping the lock", "let p = c.pipe()\nprint(\"ready\")\nc.read(p[0], 10)"),
        ("c.read releasing it", "let p = c.pipe()\nprint(\"ready\")\nc.read(p[0], 10, true)"),
        (
            "C waiting for its callbacks",
            "print(\"ready\")\nc.map_released(1000, 1000, fn(i) { return i })",
        ),
        ("threads", "fn spin() { while true { } }\nlet t = spawn(spin)\nprint(\"ready\")\njoin(t)"),
        ("get from an empty queue", "let q = Queue()\nprint(\"ready\")\nget(q)"),
        ("for over an open queue", "let q = Queue()\nprint(\"ready\")\nfor x in q { }"),
        (
            "a lock held by a blocked thread",
            "let l = Lock()\nlet ev = Event()\nlet t = spawn(fn () { with l { set(ev); wait(Event()) } })\nwait(ev)\nprint(\"ready\")\nwith l { }",
        ),
        (
            "a condition nobody notifies",
            "let l = Lock()\nlet cv = Condition(l)\nprint(\"ready\")\nwith l { wait(cv) }",
        ),
        ("a put into a full queue", "let q = Queue(1)\nput(q, 1)\nprint(\"ready\")\nput(q, 2)"),
        (
            "an interpreter spinning",
            "let w = interpreter(\"while true { }\")\nprint(\"ready\")\njoin(w)",
        ),
        ("recv on a channel", "let ch = Channel()\nprint(\"ready\")\nrecv(ch)"),
        (
            "recv in another interpreter",
            "let ch = Channel()\nlet w = interpreter(\"fn main(ch) { return recv(ch) }\", ch)\n\
             print(\"ready\")\njoin(w)",
        ),
        (
            // A megabyte into a pipe nobody reads: the write must release
            // the lock (another thread prints `ready` meanwhile) and stop
            // on Ctrl+C. It used to hold the lock until SIGKILL.
            "c.write into a full pipe",
            "let p = c.pipe()\nlet s = \"x\"\nfor i in range(20) { s = s + s }\n\
             fn announce() { sleep(100)\n print(\"ready\") }\nspawn(announce)\nc.write(p[1], s)",
        ),
    ] {
        let (code, took, err) = interrupt(source);
        assert_eq!(code, Some(130), "{what}: {err}");
        assert!(took < Duration::from_secs(10), "{what}: took {took:?} to stop");
        assert!(err.contains("interrupted"), "{what}: {err}");
    }
}

#[test]
fn output_to_a_closed_pipe_is_an_error_not_a_crash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gilscope"))
        .args(["run", "-e", "for i in range(100000) { print(i) }"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let status = common::watchdog(60, "closed-pipe", move || child.wait().expect("wait"));
    assert_eq!(status.code(), Some(1));
    let _ = std::io::stdout().flush();
}

/// Run gilscope with its stdout or stderr (`which`) a pipe whose reader
/// has already gone, so every write there fails with `EPIPE` (Rust ignores
/// `SIGPIPE`); returns the exit code.
fn exit_code_with_a_gone_reader(which: &str, args: &[&str]) -> Option<i32> {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut command = Command::new(env!("CARGO_BIN_EXE_gilscope"));
    command.args(args).stdin(Stdio::null());
    if which == "stderr" {
        command.stdout(Stdio::null()).stderr(writer);
    } else {
        command.stdout(writer).stderr(Stdio::null());
    }
    let mut child = command.spawn().expect("spawn");
    drop(command);
    let what = format!("{which} gone: {args:?}");
    common::watchdog(120, &what, move || child.wait().expect("wait")).code()
}

#[test]
fn reports_to_a_gone_reader_keep_the_exit_code() {
    // Before reports were written without panicking, a thread's error
    // written to a broken stderr panicked in the thread and the run ended
    // with Rust's 101 instead of the script error's 1.
    let thread_fails =
        "fn bad() { return 1 / 0 }\nlet t = spawn_named(\"doomed\", bad)\nprint(join(t))";
    assert_eq!(exit_code_with_a_gone_reader("stderr", &["run", "-e", thread_fails]), Some(1));
    let thread_fails_main_goes_on =
        "fn bad() { return 1 / 0 }\nlet t = spawn_named(\"doomed\", bad)\nsleep(50)\nprint(1)";
    assert_eq!(
        exit_code_with_a_gone_reader("stderr", &["run", "-e", thread_fails_main_goes_on]),
        Some(0)
    );
    assert_eq!(exit_code_with_a_gone_reader("stderr", &["run", "-e", "1 / 0"]), Some(1));
    // Output a command cannot write is an error (1), not a panic (101).
    assert_eq!(
        exit_code_with_a_gone_reader("stdout", &["soak", "--threads", "2", "--seconds", "1"]),
        Some(1)
    );
    assert_eq!(exit_code_with_a_gone_reader("stdout", &["ext", "cflags"]), Some(1));
}

/// CPU seconds this thread has used: unlike the wall clock, other work on
/// a busy machine does not add to it.
fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a
    // constant every Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

/// CPU seconds to compile a script of `n` top-level `let`s, best of three.
/// Thread CPU time, not wall time: at a load average of 12 the wall-clock
/// ratio of this test passed 40.
fn compile_seconds(n: usize) -> f64 {
    let source: String = (0..n).map(|i| format!("let v{i} = {i}\n")).collect();
    (0..3)
        .map(|_| {
            gilscope::gil::attach(|token| {
                let start = thread_cpu_seconds();
                gilscope::vm::compile(token, "globals.toy", &source, &[]).expect("compiles");
                thread_cpu_seconds() - start
            })
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn compile_time_grows_linearly_with_top_level_lets() {
    // Ten times the globals must cost about ten times as much, not a
    // hundred (a linear search of the global names made it quadratic:
    // 40,000 globals took 2.5 s, 200,000 more than 20 s).
    common::watchdog(120, "compile-globals", || {
        let small = compile_seconds(5_000);
        let large = compile_seconds(50_000);
        let ratio = large / small.max(1e-4);
        assert!(ratio < 40.0, "5,000 globals: {small:.4} s, 50,000: {large:.4} s ({ratio:.0}x)");
    });
}

#[test]
fn a_runaway_recursion_shows_both_ends_of_its_trace() {
    let output = run_bytes("runaway.toy", b"fn down(n) { return down(n + 1) }\ndown(0)\n");
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    // 10,000 frames used to print 10,000 lines.
    assert!(err.lines().count() < 40, "{} lines:\n{err}", err.lines().count());
    assert!(err.contains("  … 9,980 more frames of depth\n"), "{err}");
    assert!(err.contains("runaway.toy:2 in <main>"), "the outermost frame is shown: {err}");
}

#[test]
fn a_one_megabyte_token_is_shown_cut() {
    let name = "a".repeat(1 << 20);
    let output = run_bytes("huge_name.toy", format!("let x = {name}\n").as_bytes());
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(err.len() < 2_000, "{} bytes of error for a 1 MB name", err.len());
    assert!(err.contains("more characters)"), "{}", &err[..err.len().min(400)]);
    let at_runtime = run_bytes("huge_error.toy", format!("error(\"{name}\")\n").as_bytes());
    let err = stderr(&at_runtime);
    assert_eq!(at_runtime.status.code(), Some(1));
    assert!(err.len() < 2_000, "{} bytes of runtime error for a 1 MB message", err.len());
}

#[test]
fn every_way_of_growing_the_heap_stops_at_max_memory() {
    // Each of these passed 3 GB in seconds before the heap had a limit.
    for (what, source) in [
        ("string doubling", "let s = \"x\"\nwhile true { s = s + s }"),
        ("list doubling", "let l = [1]\nwhile true { l = l + l }"),
        ("push", "let l = []\nwhile true { push(l, 1) }"),
        ("map keys", "let m = {}\nlet i = 0\nwhile true {\n m[i] = i\n i += 1\n}"),
        ("string repetition", "let s = \"x\" * 1000\nlet l = []\nwhile true { push(l, s * 200) }"),
        ("str()", "let l = [\"xxxxxxxxxxxxxxxx\"]\nwhile true { l = [str(l), str(l)] }"),
        ("range lists", "let l = []\nwhile true { push(l, range(100000)) }"),
        (
            "keeping a string's characters",
            "let s = \"x\" * 20000000\nlet l = []\nfor ch in s { push(l, ch) }",
        ),
        ("bytes", "let s = \"x\" * 100000\nlet l = []\nwhile true { push(l, bytes(s)) }"),
        // 3 MB of booleans stored one byte each; storing one string widens
        // the list to 16 bytes an item, 48 MB, which the limit must catch.
        ("widening a list", "let l = [true] * 3000000\nl[0] = \"x\""),
        ("pushing booleans", "let l = []\nwhile true { push(l, true) }"),
        ("list repetition", "let l = [0] * 10000000"),
    ] {
        let output = gilscope(&["run", "--max-memory", "32M", "-e", source]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{what}: {err}");
        assert!(err.starts_with("<eval>:"), "{what}: {err}");
        assert!(err.contains("error: out of memory: "), "{what}: {err}");
        assert!(err.contains("bytes live, limit 33554432"), "{what}: {err}");
    }
}

#[test]
fn walking_a_string_takes_no_memory_per_character() {
    // `for ch in s` once made every character an object up front: 64
    // bytes a character against the limit, so a 1.5 MB string could not
    // be walked under a 4 MB limit. It walks the string in place now.
    let source = "let s = \"x\" * 1500000\nlet n = 0\nfor ch in s { n += 1 }\nprint(n)";
    let output = gilscope(&["run", "--max-memory", "4M", "-e", source]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1500000");
}

#[test]
fn max_memory_takes_sizes_and_zero_for_no_limit() {
    let small = gilscope(&["run", "--max-memory", "1M", "-e", "let s = \"x\" * 2000000"]);
    assert_eq!(small.status.code(), Some(1), "{}", stderr(&small));
    let unlimited = gilscope(&["run", "--max-memory", "0", "-e", "let s = \"x\" * 2000000"]);
    assert_eq!(unlimited.status.code(), Some(0), "{}", stderr(&unlimited));
    let bad = gilscope(&["run", "--max-memory", "lots", "-e", "1"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}
