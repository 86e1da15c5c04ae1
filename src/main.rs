//! The `kateskit` binary: parses the command line, runs one subcommand, prints the error chain once.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`kateskit image inspect X | grep -q ...`) like other Unix
    // tools, instead of panicking on the failed write.
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose, args.quiet);
    match args.command.run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
