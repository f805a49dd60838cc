//! Writing to the process's standard output and standard error without
//! panicking.
//!
//! `print!`, `println!`, `eprint!` and `eprintln!` panic when the write
//! fails, and writes do fail: Rust ignores `SIGPIPE`, so a pipe whose reader
//! has gone (`gilscope run x.toy 2>&1 | head -1`) returns `EPIPE`, and a full
//! disk returns `ENOSPC`. A panic there turns a script error (exit 1) into
//! Rust panic text and exit 101, or, in a script thread, into a poisoned
//! thread. Every report the library and the command line write goes through
//! these macros instead. Owns: nothing but the two stream handles it borrows
//! for one write at a time.
//!
//! On standard error there is nowhere left to report a failed write, so the
//! `stderr_*` macros drop it; the `stdout_*` macros return the
//! [`std::io::Result`] so that a command can end with exit code 1.

use std::fmt;
use std::io::{self, Write};

/// Write `args` to standard error, dropping any error (there is no other
/// place to report it). Used by [`stderr_print!`](crate::stderr_print) and
/// [`stderr_println!`](crate::stderr_println).
pub fn to_stderr(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// Write `args` to standard output and flush it. Used by
/// [`stdout_print!`](crate::stdout_print) and
/// [`stdout_println!`](crate::stdout_println).
///
/// # Errors
/// The write's or the flush's error (`EPIPE` when the reader has gone).
pub fn to_stdout(args: fmt::Arguments<'_>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.flush())
}

/// `eprint!` that never panics: a failed write to standard error is dropped.
#[macro_export]
macro_rules! stderr_print {
    ($($arg:tt)*) => { $crate::stdio::to_stderr(::std::format_args!($($arg)*)) };
}

/// `eprintln!` that never panics: a failed write to standard error is
/// dropped.
#[macro_export]
macro_rules! stderr_println {
    () => { $crate::stdio::to_stderr(::std::format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::stdio::to_stderr(::std::format_args!("{}\n", ::std::format_args!($($arg)*)))
    };
}

/// `print!` that returns the write's [`std::io::Result`] instead of
/// panicking.
#[macro_export]
macro_rules! stdout_print {
    ($($arg:tt)*) => { $crate::stdio::to_stdout(::std::format_args!($($arg)*)) };
}

/// `println!` that returns the write's [`std::io::Result`] instead of
/// panicking.
#[macro_export]
macro_rules! stdout_println {
    () => { $crate::stdio::to_stdout(::std::format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::stdio::to_stdout(::std::format_args!("{}\n", ::std::format_args!($($arg)*)))
    };
}
