//! The `sesame` binary: parse the command line, then hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = sesame::cli::Cli::parse();
    match sesame::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sesame: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
