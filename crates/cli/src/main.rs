//! The `portcullis` binary: parses the command line and runs a subcommand. Each subcommand lives
//! in its own module; this file only dispatches.

mod config;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Identity server and authenticating gateway built for migrating users off legacy systems"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the identity server.
    Serve(config::ServeArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let result = match cli.command {
        Command::Serve(args) => rt.block_on(serve::run(args)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
