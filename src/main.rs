//! The `sesame` binary: parse the command line, then hand over to the library.

use clap::Parser;

/// mimalloc rather than glibc's malloc: the token list pages served 40 % more requests a
/// second with it, on the same machine in the same run (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Whichever command runs first creates the data directory (0700) and its files (0600:
    // the database, the key, `.eml` files holding live one-time links).
    #[cfg(unix)]
    // SAFETY: umask only sets this process's file-creation mask; no thread exists yet.
    unsafe {
        libc::umask(0o077);
    }
    let cli = sesame::cli::Cli::parse();
    let done = sesame::cli::run(cli);
    // No thread may be inside libpq while the process exits (see `close_connections`).
    sesame::db::close_connections();
    match done {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sesame: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
