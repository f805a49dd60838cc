//! The `gilscope` command line; the arguments and each subcommand's body
//! live in [`cli`].

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
