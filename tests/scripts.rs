//! Runs every `tests/scripts/**/*.toy` with the `gilscope` binary and checks
//! it against the expectations written in its comments, as clox's test
//! suite does:
//!
//! - `// expect: TEXT` — the next line of standard output is TEXT;
//! - `// expect runtime error: MESSAGE` — the script fails with exit code 1
//!   and a line of stderr starts with `FILE:LINE:COL: error: MESSAGE`, LINE
//!   being the comment's line, followed by the source line and a caret
//!   (reports of threads that failed earlier may come first);
//! - `// expect syntax error: MESSAGE` — exit code 1 and stderr starts with
//!   `FILE:LINE:COL: error: MESSAGE`, again on the comment's line;
//! - `// expect stderr: TEXT` — stderr contains TEXT.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Default, Debug)]
struct Expectations {
    stdout: Vec<String>,
    runtime_error: Option<(usize, String)>,
    syntax_error: Option<(usize, String)>,
    stderr: Vec<String>,
}

fn expectations(source: &str) -> Expectations {
    let mut e = Expectations::default();
    for (i, line) in source.lines().enumerate() {
        let line_no = i + 1;
        if let Some((_, rest)) = line.split_once("// expect: ") {
            e.stdout.push(rest.to_owned());
        } else if let Some((_, rest)) = line.split_once("// expect runtime error: ") {
            e.runtime_error = Some((line_no, rest.to_owned()));
        } else if let Some((_, rest)) = line.split_once("// expect syntax error: ") {
            e.syntax_error = Some((line_no, rest.to_owned()));
        } else if let Some((_, rest)) = line.split_once("// expect stderr: ") {
            e.stderr.push(rest.to_owned());
        }
    }
    e
}

fn scripts(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("tests/scripts") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            scripts(&path, out);
        } else if path.extension().is_some_and(|e| e == "toy") {
            out.push(path);
        }
    }
}

fn check(path: &Path) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let relative = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let source = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let want = expectations(&source);
    let output = Command::new(env!("CARGO_BIN_EXE_gilscope"))
        .current_dir(root)
        .arg("run")
        .arg(&relative)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let got: Vec<&str> = stdout.lines().collect();
    if got != want.stdout {
        return Err(format!("stdout was {got:#?}\nexpected {:#?}\nstderr: {stderr}", want.stdout));
    }
    let file = relative.display();
    let code = output.status.code();
    if let Some((line, message)) = &want.runtime_error {
        let expected = format!("{file}:{line}:COL: error: {message}");
        let at_line = format!("{file}:{line}:");
        let lines: Vec<&str> = stderr.lines().collect();
        let reported = lines.iter().enumerate().any(|(i, l)| {
            l.strip_prefix(&at_line).is_some_and(|rest| {
                let col = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let rest = &rest[col..];
                col > 0
                    && rest.starts_with(&format!(": error: {message}"))
                    && lines.get(i + 2).is_some_and(|caret| caret.trim_end().ends_with('^'))
            })
        });
        if code != Some(1) || !reported {
            return Err(format!(
                "expected exit 1 and stderr starting\n  {expected}\ngot {code:?}:\n{stderr}"
            ));
        }
        if !stderr.contains("stack trace (most recent call last):") {
            return Err(format!("no stack trace in\n{stderr}"));
        }
    } else if let Some((line, message)) = &want.syntax_error {
        let first = stderr.lines().next().unwrap_or("");
        let prefix = format!("{file}:{line}:");
        let ok = code == Some(1)
            && first.starts_with(&prefix)
            && first.ends_with(&format!(": error: {message}"));
        if !ok {
            return Err(format!(
                "expected exit 1 and\n  {prefix}COL: error: {message}\ngot {code:?}:\n{stderr}"
            ));
        }
        if !stderr.lines().nth(2).is_some_and(|l| l.trim_end().ends_with('^')) {
            return Err(format!("no caret line in\n{stderr}"));
        }
    } else if code != Some(0) {
        return Err(format!("exit code {code:?}, stderr:\n{stderr}"));
    }
    for text in &want.stderr {
        if !stderr.contains(text.as_str()) {
            return Err(format!("stderr lacks {text:?}:\n{stderr}"));
        }
    }
    Ok(())
}

#[test]
fn every_script_meets_its_expectations() {
    common::watchdog(300, "scripts", || {
        let mut paths = Vec::new();
        scripts(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts"), &mut paths);
        paths.sort();
        assert!(paths.len() >= 30, "only {} scripts found", paths.len());
        let failures: Vec<String> = paths
            .iter()
            .filter_map(|p| check(p).err().map(|e| format!("--- {}\n{e}", p.display())))
            .collect();
        assert!(
            failures.is_empty(),
            "{} of {} scripts failed:\n{}",
            failures.len(),
            paths.len(),
            failures.join("\n")
        );
    });
}
