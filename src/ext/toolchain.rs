//! `gilscope ext build`, `gilscope ext cflags` and `gilscope ext ldflags`:
//! compiling an extension
//! with the right flags, as `python3-config` and `build_ext` do for CPython.
//!
//! Where the header is: `GILSCOPE_INCLUDE` if set, else the `csrc/include`
//! directory of the source tree this binary was built from (its path is
//! baked in at build time). A binary copied to another machine without its
//! source tree needs `GILSCOPE_INCLUDE`.
//!
//! This file owns nothing but the command line it builds.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable naming the directory that holds `gilscope.h`.
pub const INCLUDE_ENV: &str = "GILSCOPE_INCLUDE";

/// The directory holding `gilscope.h`, or why there is none.
pub fn include_dir() -> Result<PathBuf, String> {
    let (dir, from) = match std::env::var_os(INCLUDE_ENV) {
        Some(dir) => (PathBuf::from(dir), format!("{INCLUDE_ENV} names")),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("csrc").join("include"),
            "this gilscope was built from".to_owned(),
        ),
    };
    if dir.join("gilscope.h").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "gilscope.h is not in {} (the directory {from}); set {INCLUDE_ENV} to the \
             directory that holds it",
            dir.display()
        ))
    }
}

/// The compile flags for an extension's sources: position-independent
/// code that sees `gilscope.h` (what `python3-config --cflags` is to
/// CPython). Link flags are [`ldflags`].
pub fn cflags() -> Result<Vec<String>, String> {
    let include = include_dir()?;
    Ok(vec![
        "-fPIC".into(),
        "-O2".into(),
        "-Wall".into(),
        "-Wextra".into(),
        format!("-I{}", include.display()),
    ])
}

/// The link flags for an extension: a shared library (what
/// `python3-config --ldflags` is to CPython). No `-l` for gilscope: the
/// running interpreter provides the `gs_*` functions.
pub fn ldflags() -> Vec<String> {
    vec!["-shared".into()]
}

/// The C compiler: `CC` if set, else `cc`.
pub fn compiler() -> String {
    std::env::var("CC").ok().filter(|cc| !cc.trim().is_empty()).unwrap_or_else(|| "cc".into())
}

/// Where `gilscope ext build SOURCE` puts the library by default: the
/// source's name with `.so`, in the current directory.
pub fn default_output(source: &Path) -> PathBuf {
    let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    PathBuf::from(format!("{stem}.so"))
}

/// The full command line for building `source` into `output`, with `extra`
/// arguments (libraries such as `-lz`) after the source.
pub fn build_command(
    source: &Path,
    output: &Path,
    extra: &[String],
) -> Result<Vec<String>, String> {
    let mut argv = vec![compiler()];
    argv.extend(ldflags());
    argv.extend(cflags()?);
    argv.push(source.display().to_string());
    argv.push("-o".into());
    argv.push(output.display().to_string());
    argv.extend(extra.iter().cloned());
    Ok(argv)
}

/// The command as a shell would take it.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            if !arg.is_empty()
                && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=+:,@%".contains(c))
            {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Build `source`: print the command, run it. The error says why it failed.
pub fn build(source: &Path, output: Option<&Path>, extra: &[String]) -> Result<PathBuf, String> {
    if !source.is_file() {
        return Err(format!("cannot build '{}': no such file", source.display()));
    }
    let output = output.map_or_else(|| default_output(source), Path::to_path_buf);
    let argv = build_command(source, &output, extra)?;
    // The command is echoed for the reader; a closed stdout does not stop
    // the build.
    let _ = crate::stdout_println!("{}", shell_words(&argv));
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .map_err(|e| format!("cannot run the C compiler '{}': {e}", argv[0]))?;
    if status.success() {
        Ok(output)
    } else {
        Err(format!("the C compiler failed ({status}) building '{}'", source.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_header_is_this_source_tree() {
        if std::env::var_os(INCLUDE_ENV).is_none() {
            assert!(include_dir().expect("header found").join("gilscope.h").is_file());
        }
    }

    #[test]
    fn arguments_with_spaces_are_quoted() {
        let argv = vec!["cc".to_owned(), "-I/a b".to_owned(), "x.c".to_owned()];
        assert_eq!(shell_words(&argv), "cc '-I/a b' x.c");
    }

    #[test]
    fn the_library_is_named_after_the_source() {
        assert_eq!(default_output(Path::new("examples/ext/zlib.c")), PathBuf::from("zlib.so"));
    }
}
