//! The `gilscope` command line: the arguments of every subcommand and the
//! code that turns them into calls of the library.
//!
//! This room owns parsing and exit codes, nothing else. It uses the
//! library's public API only — `gil` (settings, Ctrl+C, the recorder's
//! start), `vm`, `demo`, `observe`, `bench`, `soak` — and reuses their own
//! types (`gil::Policy`, `demo::Work`, `bench::Scenario`, ...) instead of
//! copies. `options.rs` holds what several subcommands share ([`LockArgs`],
//! [`ObserveArgs`], the parsers); each other file is one subcommand's body.

mod bench;
mod demo;
mod ext;
mod memory;
mod options;
mod run;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use gilscope::gil;
use gilscope::soak::SoakConfig;

use options::{LockArgs, ObserveArgs, WatchdogArgs, parse_seconds};

/// gilscope: a global interpreter lock you can run, watch, read and test.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a .toy script (or code given with -e).
    Run {
        /// Run this code instead of a file.
        #[arg(short = 'e', long = "eval", value_name = "CODE")]
        code: Option<String>,
        /// The script to run (unless -e is given), then its arguments,
        /// which the script reads with args().
        #[arg(value_name = "FILE [ARGS]", trailing_var_arg = true, allow_hyphen_values = true)]
        script_and_args: Vec<String>,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        watchdog: WatchdogArgs,
        #[command(flatten)]
        observe: ObserveArgs,
        #[command(flatten)]
        memory: memory::MemoryArgs,
    },
    /// A spinner that needs the lock, beside a long computation that keeps
    /// or releases it. Keys while it runs: r flips release, +/- change the
    /// switch interval, q quits.
    Demo(demo::DemoArgs),
    /// Run a benchmark scenario: cycle, convoy, spinner-lag, wake, scaling,
    /// handoff, interp, interpreters, or all.
    Bench {
        /// The scenario, or `all`.
        #[arg(value_parser = bench::scenarios_parser())]
        scenario: bench::Scenarios,
        #[command(flatten)]
        lock: LockArgs,
        /// One JSON object per scenario on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Many threads, a mixed load, the lock's invariants checked throughout.
    Soak {
        /// How many load threads.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
        threads: u64,
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 30.0, value_parser = parse_seconds)]
        seconds: f64,
        /// The seed of the random mix.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A C extension exporting `sum(list)`, such as
        /// examples/ext/first.c built with `gilscope ext build`: the main
        /// interpreter's threads then call it too.
        #[arg(long, value_name = "FILE.so")]
        extension: Option<PathBuf>,
    },
    /// Draw a trace written by --trace as an SVG timeline.
    Timeline {
        /// The Chrome trace JSON file.
        trace: PathBuf,
        /// Where to write the SVG.
        #[arg(short, long, value_name = "FILE.svg")]
        output: PathBuf,
        /// The picture's width in pixels.
        #[arg(long, default_value_t = 1200, value_parser = clap::value_parser!(u32).range(300..=20_000))]
        width: u32,
        /// The title drawn above the timeline (default: the trace's file name).
        #[arg(long)]
        title: Option<String>,
    },
    /// Build C extensions: `ext build FILE.c`, `ext cflags`, `ext ldflags`.
    #[command(subcommand)]
    Ext(ext::ExtCommand),
    /// The child process of `demo --spinner process` (internal).
    #[command(name = "spinner-process", hide = true)]
    SpinnerProcess {
        #[arg(long, default_value_t = 50)]
        frame_ms: u64,
    },
}

/// A command whose standard output failed (a reader that went away, a full
/// disk) says so on standard error, if it can, and exits with 1.
fn cannot_write_stdout(err: &std::io::Error) -> ExitCode {
    gilscope::stderr_println!("gilscope: error: cannot write to standard output: {err}");
    ExitCode::from(1)
}

/// Parse the command line (exiting with 2 on a usage error), let Ctrl+C
/// interrupt every thread, and run the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    gilscope::ext::export_c_api();
    // Read GILSCOPE_MISUSE now, so a value it does not know is warned
    // about at start, not at the first misuse.
    let _ = gil::misuse_mode();
    // Ctrl+C asks every thread, Rust or C, to stop; the demo then restores
    // the terminal and exits with 130.
    let _ = gil::interrupt_fd();
    if let Err(err) = ctrlc::set_handler(gil::request_interrupt) {
        gilscope::stderr_println!("gilscope: warning: cannot catch Ctrl+C: {err}");
    }
    match cli.command {
        Command::Run { code, mut script_and_args, lock, watchdog, observe, memory } => {
            memory.apply();
            watchdog.start(Duration::ZERO);
            let file = match &code {
                Some(_) => None,
                None if script_and_args.is_empty() => Cli::command()
                    .error(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        "gilscope run needs a FILE or -e CODE",
                    )
                    .exit(),
                None => Some(PathBuf::from(script_and_args.remove(0))),
            };
            run::run(run::RunArgs { file, code, script_args: script_and_args, lock, observe })
        }
        Command::Demo(args) => demo::run(args),
        Command::Bench { scenario, lock, json } => bench::run_bench(scenario, lock, json),
        Command::Soak { threads, seconds, seed, extension } => {
            bench::run_soak(&SoakConfig { threads: threads as usize, seconds, seed, extension })
        }
        Command::Timeline { trace, output, width, title } => {
            timeline::draw(&trace, &output, width, title)
        }
        Command::Ext(command) => ext::run(command),
        Command::SpinnerProcess { frame_ms } => {
            gilscope::demo::spinner::run_child(Duration::from_millis(frame_ms.max(1)));
            ExitCode::SUCCESS
        }
    }
}
