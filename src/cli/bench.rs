//! `gilscope bench` and `gilscope soak`: run the library's scenarios and
//! soak test and print what they measured.

use std::process::ExitCode;

use gilscope::bench::{self, Scenario};
use gilscope::gil;
use gilscope::soak::{self, SoakConfig};

use super::options::{LockArgs, OneOf};

/// The scenarios `bench` runs: one, or all of them in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenarios {
    /// One scenario.
    One(Scenario),
    /// Every scenario, in the order of [`Scenario::ALL`].
    All,
}

impl Scenarios {
    fn list(self) -> Vec<Scenario> {
        match self {
            Scenarios::One(one) => vec![one],
            Scenarios::All => Scenario::ALL.to_vec(),
        }
    }
}

/// The bench scenario argument: a scenario's name or `all`.
pub fn scenarios_parser() -> OneOf<Scenarios> {
    OneOf::new(
        Scenario::ALL
            .iter()
            .map(|&one| (one.name(), Scenarios::One(one)))
            .chain([("all", Scenarios::All)]),
    )
}

/// `gilscope bench SCENARIO [--policy P] [--switch-interval MS] [--json]`.
pub fn run_bench(scenarios: Scenarios, lock: LockArgs, json: bool) -> ExitCode {
    for scenario in scenarios.list() {
        let figures = bench::run(scenario, lock.policy, lock.switch_interval());
        let written = if json {
            gilscope::stdout_println!("{figures}")
        } else {
            let mut line = format!(
                "{:<12} policy {:<8} interval {} ms",
                scenario.name(),
                lock.policy.name(),
                lock.switch_interval().as_secs_f64() * 1000.0
            );
            let conditions = ["scenario", "policy", "switch_interval_ms"];
            if let Some(map) = figures.as_object() {
                for (key, value) in map.iter().filter(|(k, _)| !conditions.contains(&k.as_str())) {
                    match value.as_f64() {
                        Some(v) => line.push_str(&format!("  {key} {v:.3}")),
                        None => line.push_str(&format!("  {key} {value}")),
                    }
                }
            }
            gilscope::stdout_println!("{line}")
        };
        if let Err(err) = written {
            return super::cannot_write_stdout(&err);
        }
        if gil::interrupted() {
            return ExitCode::from(130);
        }
    }
    ExitCode::SUCCESS
}

/// `gilscope soak`: 0 if every invariant held, 1 if not, 130 if
/// interrupted.
pub fn run_soak(config: &SoakConfig) -> ExitCode {
    let report = match soak::run(config) {
        Ok(report) => report,
        Err(message) => {
            gilscope::stderr_println!("gilscope: error: {message}");
            return ExitCode::from(1);
        }
    };
    let written = gilscope::stdout_print!("{}", report.summary(config));
    if gil::interrupted() {
        ExitCode::from(130)
    } else if let Err(err) = written {
        super::cannot_write_stdout(&err)
    } else if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
