//! `gilscope run`: a `.toy` script (or `-e CODE`) under the lock, with
//! optional statistics and a trace.

use std::path::PathBuf;
use std::process::ExitCode;

use gilscope::gil;
use gilscope::observe::{self, Outputs};
use gilscope::vm::{self, Outcome};

use super::options::{LockArgs, ObserveArgs};

/// What `run` was given, once clap has checked it.
pub struct RunArgs {
    /// The script, unless code was given with `-e`.
    pub file: Option<PathBuf>,
    /// The code given with `-e`.
    pub code: Option<String>,
    /// What the script reads with `args()`.
    pub script_args: Vec<String>,
    pub lock: LockArgs,
    pub observe: ObserveArgs,
}

/// Run the script under the chosen lock settings, then write the
/// statistics and trace if asked.
pub fn run(args: RunArgs) -> ExitCode {
    args.lock.apply();
    let outputs = Outputs::from(args.observe);
    if outputs.wanted() {
        observe::start();
    }
    let code = run_script(args.file, args.code, &args.script_args);
    if outputs.wanted() {
        match observe::finish(&outputs) {
            Ok(Some(table)) => gilscope::stderr_print!("{table}"),
            Ok(None) => {}
            Err(err) => {
                gilscope::stderr_println!(
                    "gilscope: error: cannot write the statistics or trace: {err}"
                );
                return ExitCode::from(1);
            }
        }
    }
    code
}

/// Read the script (as text; invalid UTF-8 is a clear error) and run it.
fn run_script(file: Option<PathBuf>, code: Option<String>, args: &[String]) -> ExitCode {
    let (name, source) = match (file, code) {
        (_, Some(code)) => ("<eval>".to_owned(), code),
        (Some(path), None) => match read_script(&path) {
            Ok(text) => (path.display().to_string(), text),
            Err(code) => return code,
        },
        (None, None) => unreachable!("clap requires a file or -e"),
    };
    gil::set_thread_name("main");
    let outcome = vm::run_source(&name, &source, args);
    match &outcome {
        Outcome::SyntaxError(message) | Outcome::RuntimeError(message) => {
            gilscope::stderr_print!("{message}")
        }
        Outcome::Interrupted => gilscope::stderr_println!("{name}: interrupted"),
        Outcome::Ok => {}
    }
    ExitCode::from(outcome.exit_code())
}

/// The script's text, or the exit code after saying why it cannot be read:
/// 2 for a file that cannot be read, 1 for one that is not UTF-8 (with the
/// position of the first bad byte).
fn read_script(path: &std::path::Path) -> Result<String, ExitCode> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|err| {
        gilscope::stderr_println!("gilscope: error: cannot read {name}: {err}");
        ExitCode::from(2)
    })?;
    String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let text = String::from_utf8_lossy(valid);
        let line = text.matches('\n').count() + 1;
        let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        gilscope::stderr_println!("{name}:{line}:{col}: error: the file is not valid UTF-8 text");
        ExitCode::from(1)
    })
}
