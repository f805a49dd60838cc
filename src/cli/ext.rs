//! `gilscope ext build` and `gilscope ext cflags`: the command line over
//! [`gilscope::ext::toolchain`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

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
        #[arg(value_name = "CC ARGS", trailing_var_arg = true, allow_hyphen_values = true)]
        extra: Vec<String>,
    },
    /// Print the compiler flags for an extension, for Makefiles:
    /// cc $(gilscope ext cflags) ext.c -o ext.so
    Cflags,
}

pub fn run(command: ExtCommand) -> ExitCode {
    let result = match command {
        ExtCommand::Build { source, output, extra } => {
            toolchain::build(&source, output.as_deref(), &extra).map(drop)
        }
        ExtCommand::Cflags => toolchain::cflags().map(|flags| {
            println!("{}", toolchain::shell_words(&flags));
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gilscope: {message}");
            ExitCode::FAILURE
        }
    }
}
