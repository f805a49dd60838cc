//! `gilscope demo`: builds the demo's configuration from the command line
//! and runs it once, or twice for `--tour`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use gilscope::demo::{self, DemoConfig, SpinnerKind, Work};

use super::options::{LockArgs, ObserveArgs, WatchdogArgs, parse_seconds};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum OnOff {
    On,
    Off,
}

/// The demo's options.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Whether the C code releases the lock.
    #[arg(long, value_enum, default_value = "on")]
    release: OnOff,
    /// What the main thread computes.
    #[arg(long, value_enum, default_value = "c")]
    work: Work,
    /// Which spinner.
    #[arg(long, value_enum, default_value = "thread")]
    spinner: SpinnerKind,
    /// How long the computation runs, in seconds.
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds)]
    seconds: f64,
    /// The spinner's frame interval, in milliseconds.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    frame_ms: u64,
    #[command(flatten)]
    lock: LockArgs,
    // The watchdog allows for the computation, which may keep the lock for
    // --seconds on purpose: it reports only longer stalls.
    #[command(flatten)]
    watchdog: WatchdogArgs,
    /// Run twice: first with the lock kept, then released.
    #[arg(long, conflicts_with_all = ["release", "json"])]
    tour: bool,
    /// Print one JSON object with the measurements instead of the screen.
    #[arg(long)]
    json: bool,
    /// Show a strip of each thread's recent states in the live panel.
    #[arg(long)]
    strip: bool,
    #[command(flatten)]
    observe: ObserveArgs,
}

/// Run the demo (both parts for `--tour`); 130 if interrupted, 1 if it
/// cannot start.
pub fn run(args: DemoArgs) -> ExitCode {
    args.watchdog.start(Duration::from_secs_f64(args.seconds));
    let runs: Vec<bool> =
        if args.tour { vec![false, true] } else { vec![args.release == OnOff::On] };
    let parts = runs.len();
    for (part, release) in runs.into_iter().enumerate() {
        let config = DemoConfig {
            release,
            work: args.work,
            spinner: args.spinner,
            seconds: args.seconds,
            frame: Duration::from_millis(args.frame_ms),
            switch_interval: args.lock.switch_interval(),
            policy: args.lock.policy,
            interactive: true,
            tour_part: args.tour.then_some((part + 1, parts)),
            json: args.json,
            outputs: args.observe.clone().into(),
            strip: args.strip,
        };
        match demo::run(&config) {
            Ok(report) => {
                if args.json {
                    let json = serde_json::to_string(&report).expect("a report serialises");
                    if let Err(err) = gilscope::stdout_println!("{json}") {
                        return super::cannot_write_stdout(&err);
                    }
                }
                if report.interrupted {
                    return ExitCode::from(130);
                }
            }
            Err(err) => {
                gilscope::stderr_println!("gilscope: error: cannot start the demo: {err}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}
