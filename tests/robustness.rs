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
    assert!(stderr(&failing).starts_with("<eval>:1: error: division by zero"));
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
        ("threads", "fn spin() { while true { } }\nlet t = spawn(spin)\nprint(\"ready\")\njoin(t)"),
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
