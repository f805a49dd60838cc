//! The options several subcommands share: the lock's settings
//! ([`LockArgs`]), what to record ([`ObserveArgs`]), and the parsers for
//! named choices and numbers behind them.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use gilscope::gil::{self, Policy};
use gilscope::observe::Outputs;

/// The lock's settings, flattened into every subcommand that runs code
/// under the lock with settings the user chooses (`run`, `demo`, `bench`;
/// `soak` changes both at random on purpose).
#[derive(Args, Clone, Copy, Debug)]
pub struct LockArgs {
    /// The lock's switch interval, in milliseconds.
    #[arg(
        long,
        default_value_t = gil::DEFAULT_SWITCH_INTERVAL.as_secs_f64() * 1000.0,
        value_parser = parse_interval
    )]
    switch_interval: f64,
    /// The lock's hand-off policy.
    #[arg(long, default_value_t = Policy::DEFAULT, value_parser = policy_parser())]
    pub policy: Policy,
}

impl LockArgs {
    /// The switch interval as a duration.
    pub fn switch_interval(&self) -> Duration {
        Duration::from_secs_f64(self.switch_interval / 1000.0)
    }

    /// Set the process-wide lock to these settings.
    pub fn apply(&self) {
        gil::set_switch_interval(self.switch_interval());
        gil::set_policy(self.policy);
    }
}

/// The deadlock watchdog's setting, shared by `run` and `demo`.
#[derive(Args, Clone, Copy, Debug)]
pub struct WatchdogArgs {
    /// Report a possible deadlock when the lock has been held this many
    /// seconds, without the holder reaching a check point, while other
    /// threads wait for it (0 turns the watchdog off).
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_seconds)]
    deadlock_after: f64,
}

impl WatchdogArgs {
    /// Start the watchdog, reporting stalls longer than the setting plus
    /// `expected` (a stall the subcommand makes on purpose); nothing if
    /// the setting is 0.
    pub fn start(&self, expected: Duration) {
        if self.deadlock_after > 0.0 {
            gil::start_watchdog(Duration::from_secs_f64(self.deadlock_after) + expected);
        }
    }
}

/// The recording options shared by `run` and `demo`.
#[derive(Args, Clone, Debug, Default)]
pub struct ObserveArgs {
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

/// A parser for one of a fixed list of named values: `--help` and the
/// error for an unknown name list the names.
#[derive(Clone)]
pub struct OneOf<T> {
    choices: Vec<(&'static str, T)>,
}

impl<T> OneOf<T> {
    /// The names, each with the value it stands for, in the order `--help`
    /// lists them.
    pub fn new(choices: impl IntoIterator<Item = (&'static str, T)>) -> Self {
        OneOf { choices: choices.into_iter().collect() }
    }

    fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.choices.iter().map(|(name, _)| *name)
    }
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for OneOf<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let found =
            value.to_str().and_then(|given| self.choices.iter().find(|(name, _)| *name == given));
        match found {
            Some((_, choice)) => Ok(choice.clone()),
            // Let clap word the error, with the list of names.
            None => Err(match PossibleValuesParser::new(self.names()).parse_ref(cmd, arg, value) {
                Err(err) => err,
                Ok(_) => clap::Error::new(clap::error::ErrorKind::InvalidValue).with_cmd(cmd),
            }),
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.names().map(PossibleValue::new)))
    }
}

/// `--policy`: parsed straight into [`Policy`], listing [`Policy::ALL`].
fn policy_parser() -> OneOf<Policy> {
    OneOf::new(Policy::ALL.map(|policy| (policy.name(), policy)))
}

/// A number of seconds between 0 and one hour.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
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
