//! The design notes stay true to the code: every relative link in README.md
//! and docs/ resolves to a file, and every `#section` part of a link to a
//! heading of the page it names; both READMEs link every chapter; every
//! `gilscope` command shown in a shell block parses (clap accepts `--help`
//! after it only if everything before it is a valid subcommand and valid
//! options); and the figures the pages state about gilscope's own types
//! match the code.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    pages
}

/// The targets of `[text](target)` links, outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                found.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    found
}

#[test]
fn every_link_between_pages_and_to_source_files_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in links(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with('#')
            {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let resolved = page.parent().unwrap().join(file);
            checked += 1;
            if !resolved.exists() {
                broken.push(format!("{}: {target}", page.display()));
            } else if let Some(anchor) = anchor
                && resolved.extension().is_some_and(|e| e == "md")
                && !heading_anchors(&std::fs::read_to_string(&resolved).unwrap())
                    .iter()
                    .any(|a| a == anchor)
            {
                broken.push(format!("{}: {target} (no such heading)", page.display()));
            }
        }
    }
    assert!(checked > 50, "only {checked} links found: is the parser right?");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// GitHub's anchors for a page's headings: lower case, punctuation other
/// than `-` and `_` dropped, spaces turned into `-`.
fn heading_anchors(text: &str) -> Vec<String> {
    let mut anchors = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let anchor: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        anchors.push(anchor);
    }
    anchors
}

#[test]
fn both_readmes_link_every_chapter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let book = std::fs::read_to_string(root.join("docs/README.md")).unwrap();
    let mut missing = Vec::new();
    for page in pages() {
        let name = page.file_name().unwrap().to_str().unwrap().to_owned();
        if page.parent().unwrap().ends_with("docs") && name != "README.md" {
            if !readme.contains(&format!("(docs/{name})")) {
                missing.push(format!("README.md does not link docs/{name}"));
            }
            if !book.contains(&format!("({name})")) {
                missing.push(format!("docs/README.md does not link {name}"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_event_size_stated_in_observing_md_is_the_real_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/observing.md")).unwrap();
    let size = std::mem::size_of::<gilscope::gil::recorder::Event>();
    assert!(
        text.contains(&format!("{size}-byte event")),
        "docs/observing.md should say each recorded event takes {size} bytes"
    );
}

/// `gilscope ...` and `cargo run --release -- ...` lines in ```sh blocks.
fn commands(text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = trimmed == "```sh";
            pending.clear();
            continue;
        }
        if !in_sh {
            continue;
        }
        let mut line = trimmed.split("  #").next().unwrap().trim().to_owned();
        if !pending.is_empty() {
            line = format!("{pending} {line}");
            pending.clear();
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            pending = stripped.trim().to_owned();
            continue;
        }
        let args = if let Some(rest) = line.strip_prefix("gilscope ") {
            rest
        } else if let Some(rest) = line.strip_prefix("./target/release/gilscope ") {
            rest
        } else if let Some(rest) = line.strip_prefix("cargo run --release -- ") {
            rest
        } else {
            continue;
        };
        // Quoted arguments are not used in the shown commands except -e.
        let mut words: Vec<String> = shell_words(args);
        // `run` passes whatever follows the script to the script, so the
        // `--help` goes just before the script (or -e).
        if words.first().is_some_and(|w| w == "run") {
            let at =
                words.iter().position(|w| w.ends_with(".toy") || w == "-e").unwrap_or(words.len());
            words.insert(at, "--help".to_owned());
        } else {
            words.push("--help".to_owned());
        }
        found.push(words);
    }
    found
}

fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[test]
fn every_gilscope_command_shown_in_the_docs_parses() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for args in commands(&text) {
            checked += 1;
            let shown = args.join(" ");
            let output = common::watchdog(30, "docs-command", move || {
                Command::new(env!("CARGO_BIN_EXE_gilscope"))
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .args(&args)
                    .output()
                    .expect("run gilscope")
            });
            if !output.status.success() {
                bad.push(format!(
                    "{}: gilscope {shown}\n{}",
                    page.display(),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
    }
    assert!(checked >= 15, "only {checked} commands found: is the parser right?");
    assert!(bad.is_empty(), "commands that do not parse:\n{}", bad.join("\n"));
}
