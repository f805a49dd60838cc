//! The `gilscope` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use gilscope::demo::{self, DemoConfig, SpinnerKind, Work};
use gilscope::gil::{self, Policy};
use gilscope::observe::Outputs;

/// gilscope: a global interpreter lock you can run, watch, read and test.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OnOff {
    On,
    Off,
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
        /// The lock's switch interval, in milliseconds.
        #[arg(long, default_value_t = 5.0, value_parser = parse_interval)]
        switch_interval: f64,
        /// The lock's hand-off policy.
        #[arg(long, default_value = "fair", value_parser = parse_policy)]
        policy: Policy,
        #[command(flatten)]
        observe: ObserveArgs,
    },
    /// A spinner that needs the lock, beside a long computation that keeps
    /// or releases it. Keys while it runs: r flips release, +/- change the
    /// switch interval, q quits.
    Demo {
        /// Whether the C code releases the lock.
        #[arg(long, value_enum, default_value = "on")]
        release: OnOff,
        /// What the main thread computes.
        #[arg(long, value_enum, default_value = "c")]
        work: WorkArg,
        /// Which spinner.
        #[arg(long, value_enum, default_value = "thread")]
        spinner: SpinnerArg,
        /// How long the computation runs, in seconds.
        #[arg(long, default_value_t = 5.0, value_parser = parse_seconds)]
        seconds: f64,
        /// The spinner's frame interval, in milliseconds.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        frame_ms: u64,
        /// The lock's switch interval, in milliseconds.
        #[arg(long, default_value_t = 5.0, value_parser = parse_interval)]
        switch_interval: f64,
        /// The lock's hand-off policy.
        #[arg(long, default_value = "fair", value_parser = parse_policy)]
        policy: Policy,
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
    },
    /// Run a benchmark scenario: cycle, convoy, spinner-lag, wake, scaling,
    /// handoff, interp, or all.
    Bench {
        /// The scenario, or `all`.
        #[arg(value_parser = parse_scenario)]
        scenario: String,
        /// The lock's hand-off policy.
        #[arg(long, default_value = "fair", value_parser = parse_policy)]
        policy: Policy,
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
    /// The child process of `demo --spinner process` (internal).
    #[command(name = "spinner-process", hide = true)]
    SpinnerProcess {
        #[arg(long, default_value_t = 50)]
        frame_ms: u64,
    },
}

/// The recording options shared by `run` and `demo`.
#[derive(Args, Clone, Debug, Default)]
struct ObserveArgs {
    /// Print lock statistics at the end (to stderr for run).
    #[arg(long)]
    stats: bool,
    /// Write lock statistics as JSON to this file.
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,
    /// Write a Chrome trace (Perfetto, chrome://tracing) to this file.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

impl From<ObserveArgs> for Outputs {
    fn from(args: ObserveArgs) -> Outputs {
        Outputs { stats: args.stats, stats_json: args.stats_json, trace: args.trace }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum WorkArg {
    /// C code (clib_busy_wait_ms) that keeps or releases the lock.
    C,
    /// Interpreted bytecode.
    Bytecode,
    /// C code that keeps the lock but calls gs_check_switch().
    Check,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SpinnerArg {
    /// A thread that attaches to the lock for every frame.
    Thread,
    /// A child process that needs no lock.
    Process,
    /// Stepped by the computation whenever it yields.
    Coroutine,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds between 0 and 3600")),
    }
}

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.001..=10_000.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not an interval between 0.001 and 10000 ms")),
    }
}

fn parse_scenario(s: &str) -> Result<String, String> {
    if s == "all" || gilscope::bench::Scenario::from_name(s).is_some() {
        Ok(s.to_owned())
    } else {
        let names: Vec<&str> = gilscope::bench::Scenario::ALL.iter().map(|s| s.name()).collect();
        Err(format!("unknown scenario '{s}' (expected one of: {}, all)", names.join(", ")))
    }
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse().map_err(|e: gil::UnknownPolicy| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    gilscope::ext::export_c_api();
    // Ctrl+C asks every thread, Rust or C, to stop; the demo then restores
    // the terminal and exits with 130.
    let _ = gil::interrupt_fd();
    if let Err(err) = ctrlc::set_handler(gil::request_interrupt) {
        eprintln!("gilscope: warning: cannot catch Ctrl+C: {err}");
    }
    match cli.command {
        Command::Run { code, mut script_and_args, switch_interval, policy, observe } => {
            let file = match &code {
                Some(_) => None,
                None if script_and_args.is_empty() => {
                    use clap::CommandFactory;
                    Cli::command()
                        .error(
                            clap::error::ErrorKind::MissingRequiredArgument,
                            "gilscope run needs a FILE or -e CODE",
                        )
                        .exit();
                }
                None => Some(PathBuf::from(script_and_args.remove(0))),
            };
            gil::set_switch_interval(Duration::from_secs_f64(switch_interval / 1000.0));
            gil::set_policy(policy);
            let outputs = Outputs::from(observe);
            if outputs.wanted() {
                gil::observe::start_recording();
            }
            let code = run_script(file, code, &script_and_args);
            if outputs.wanted() {
                match gilscope::observe::finish(&outputs) {
                    Ok(Some(table)) => eprint!("{table}"),
                    Ok(None) => {}
                    Err(err) => {
                        eprintln!("gilscope: error: cannot write the statistics or trace: {err}");
                        return ExitCode::from(1);
                    }
                }
            }
            code
        }
        Command::Timeline { trace, output, width, title } => {
            draw_timeline(&trace, &output, width, title)
        }
        Command::Bench { scenario, policy, json } => run_bench(&scenario, policy, json),
        Command::Soak { threads, seconds, seed } => {
            let config = gilscope::soak::SoakConfig { threads: threads as usize, seconds, seed };
            let report = gilscope::soak::run(&config);
            print!("{}", report.summary(&config));
            if gil::interrupted() {
                ExitCode::from(130)
            } else if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::SpinnerProcess { frame_ms } => {
            gilscope::demo::spinner::run_child(Duration::from_millis(frame_ms.max(1)));
            ExitCode::SUCCESS
        }
        Command::Demo {
            release,
            work,
            spinner,
            seconds,
            frame_ms,
            switch_interval,
            policy,
            tour,
            json,
            strip,
            observe,
        } => {
            let runs: Vec<bool> = if tour { vec![false, true] } else { vec![release == OnOff::On] };
            for release in runs {
                let config = DemoConfig {
                    release,
                    work: match work {
                        WorkArg::C => Work::C,
                        WorkArg::Bytecode => Work::Bytecode,
                        WorkArg::Check => Work::Check,
                    },
                    spinner: match spinner {
                        SpinnerArg::Thread => SpinnerKind::Thread,
                        SpinnerArg::Process => SpinnerKind::Process,
                        SpinnerArg::Coroutine => SpinnerKind::Coroutine,
                    },
                    seconds,
                    frame: Duration::from_millis(frame_ms),
                    switch_interval: Duration::from_secs_f64(switch_interval / 1000.0),
                    policy,
                    interactive: !tour,
                    json,
                    outputs: Outputs::from(observe.clone()),
                    strip,
                };
                match demo::run(&config) {
                    Ok(report) => {
                        if json {
                            println!(
                                "{}",
                                serde_json::to_string(&report).expect("a report serialises")
                            );
                        }
                        if report.interrupted {
                            return ExitCode::from(130);
                        }
                    }
                    Err(err) => {
                        eprintln!("gilscope: error: cannot start the demo: {err}");
                        return ExitCode::from(1);
                    }
                }
            }
            ExitCode::SUCCESS
        }
    }
}

/// Read the script (as text; invalid UTF-8 is a clear error) and run it.
fn run_script(file: Option<PathBuf>, code: Option<String>, args: &[String]) -> ExitCode {
    let (name, source) = match (file, code) {
        (_, Some(code)) => ("<eval>".to_owned(), code),
        (Some(path), None) => {
            let name = path.display().to_string();
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(err) => {
                    eprintln!("gilscope: error: cannot read {name}: {err}");
                    return ExitCode::from(2);
                }
            };
            match String::from_utf8(bytes) {
                Ok(text) => (name, text),
                Err(err) => {
                    let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
                    let text = String::from_utf8_lossy(valid);
                    let line = text.matches('\n').count() + 1;
                    let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    eprintln!("{name}:{line}:{col}: error: the file is not valid UTF-8 text");
                    return ExitCode::from(1);
                }
            }
        }
        (None, None) => unreachable!("clap requires a file or -e"),
    };
    gil::set_thread_name("main");
    let outcome = gilscope::vm::run_source(&name, &source, args);
    match &outcome {
        gilscope::vm::Outcome::SyntaxError(message)
        | gilscope::vm::Outcome::RuntimeError(message) => {
            eprint!("{message}")
        }
        gilscope::vm::Outcome::Interrupted => eprintln!("{name}: interrupted"),
        gilscope::vm::Outcome::Ok => {}
    }
    ExitCode::from(outcome.exit_code())
}

/// `gilscope timeline TRACE -o OUT.svg`.
fn draw_timeline(
    trace: &std::path::Path,
    output: &std::path::Path,
    width: u32,
    title: Option<String>,
) -> ExitCode {
    let text = match std::fs::read(trace) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("gilscope: error: cannot read {}: {err}", trace.display());
            return ExitCode::from(2);
        }
    };
    let json: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(json) => json,
        Err(err) => {
            eprintln!("gilscope: error: {} is not JSON: {err}", trace.display());
            return ExitCode::from(1);
        }
    };
    let title = title.unwrap_or_else(|| format!("gilscope: {}", trace.display()));
    match gilscope::observe::svg::render(&json, width, &title) {
        Ok(svg) => match std::fs::write(output, svg) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("gilscope: error: cannot write {}: {err}", output.display());
                ExitCode::from(1)
            }
        },
        Err(err) => {
            eprintln!("gilscope: error: {}: {err}", trace.display());
            ExitCode::from(1)
        }
    }
}

/// `gilscope bench SCENARIO [--policy P] [--json]`.
fn run_bench(scenario: &str, policy: Policy, json: bool) -> ExitCode {
    use gilscope::bench::{self, Scenario};
    let scenarios: Vec<Scenario> = match Scenario::from_name(scenario) {
        Some(one) => vec![one],
        None => Scenario::ALL.to_vec(),
    };
    for scenario in scenarios {
        let figures = bench::run(scenario, policy);
        if json {
            println!("{figures}");
        } else {
            let mut line = format!("{:<12} policy {:<8}", scenario.name(), policy.name());
            if let Some(map) = figures.as_object() {
                for (key, value) in map.iter().filter(|(k, _)| *k != "scenario" && *k != "policy") {
                    match value.as_f64() {
                        Some(v) => line.push_str(&format!("  {key} {v:.3}")),
                        None => line.push_str(&format!("  {key} {value}")),
                    }
                }
            }
            println!("{line}");
        }
        if gil::interrupted() {
            return ExitCode::from(130);
        }
    }
    ExitCode::SUCCESS
}
