//! `gilscope ext build`, `ext cflags` and `ext ldflags`: the command line over
//! [`gilscope::ext::toolchain`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Subcommand};

use gilscope::ext::toolchain;

#[derive(Subcommand)]
pub enum ExtCommand {
    /// Compile one C file into an extension a script can load(): runs the C
    /// compiler with the right flags and prints the command.
    Build {
        /// The C source.
        source: PathBuf,
        /// The library to write (default: the source's name with .so, in
        /// the current directory).
        #[arg(short, long, value_name = "FILE.so")]
        output: Option<PathBuf>,
        /// More compiler arguments, after the source: libraries (-lz),
        /// defines, warnings.
        #[arg(value_name = "CC ARGS", num_args = 0.., allow_hyphen_values = true)]
        extra: Vec<String>,
    },
    /// Print the compile flags for an extension's sources, for Makefiles
    /// (as python3-config --cflags): cc $(gilscope ext cflags) -c ext.c
    Cflags,
    /// Print the link flags for an extension (as python3-config
    /// --ldflags): cc $(gilscope ext ldflags) ext.o -o ext.so
    Ldflags,
}

pub fn run(command: ExtCommand) -> ExitCode {
    let result = match command {
        ExtCommand::Build { source, output, extra } => {
            // The compiler arguments take anything with a dash, so `--help`
            // and a late `-o` are picked out of them here.
            if extra.iter().any(|a| a == "--help" || a == "-h") {
                let mut cli = super::Cli::command();
                if let Some(build) =
                    cli.find_subcommand_mut("ext").and_then(|e| e.find_subcommand_mut("build"))
                {
                    let _ = build.clone().bin_name("gilscope ext build").print_help();
                }
                return ExitCode::SUCCESS;
            }
            match late_output(output, extra) {
                Ok((output, extra)) => {
                    toolchain::build(&source, output.as_deref(), &extra).map(drop)
                }
                Err(message) => Err(message),
            }
        }
        ExtCommand::Cflags => toolchain::cflags().and_then(|flags| {
            gilscope::stdout_println!("{}", toolchain::shell_words(&flags))
                .map_err(|err| format!("cannot write to standard output: {err}"))
        }),
        ExtCommand::Ldflags => {
            println!("{}", toolchain::shell_words(&toolchain::ldflags()));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            gilscope::stderr_println!("gilscope: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `-o FILE` given after the compiler arguments: take it as the output.
fn late_output(
    output: Option<PathBuf>,
    mut extra: Vec<String>,
) -> Result<(Option<PathBuf>, Vec<String>), String> {
    let Some(at) = extra.iter().position(|a| a == "-o") else {
        return Ok((output, extra));
    };
    if output.is_some() {
        return Err("ext build: -o given twice".to_owned());
    }
    if at + 1 >= extra.len() {
        return Err("ext build: -o needs a file name".to_owned());
    }
    let file = extra.remove(at + 1);
    extra.remove(at);
    Ok((Some(PathBuf::from(file)), extra))
}
