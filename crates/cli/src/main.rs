//! The `portcullis` binary: parses the command line and runs a subcommand. Each subcommand lives
//! in its own module; this file only dispatches.

mod admin;
mod config;
mod gateway;
mod import;
mod keys;
mod map;
mod migration;
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
    Serve(Box<config::ServeArgs>),
    /// Run the authenticating gateway: a reverse proxy that checks Portcullis tokens per route
    /// and forwards the caller's identity to the services behind it.
    Gateway(gateway::GatewayArgs),
    /// Bulk-load users from a FusionAuth import JSON file, or a directory of them, through the
    /// API or straight into a store.
    Import(import::ImportArgs),
    /// Map legacy users (a SQL database, CSV, NDJSON or JSON; a preset or a mapping file) to
    /// import batches, and with --import load them.
    Map(Box<map::MapArgs>),
    /// The tenants' signing keys: list, rotate.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Administrators of the admin pages: create.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The slow migration: progress per tenant and connector, with a forecast.
    #[command(subcommand)]
    Migration(migration::MigrationCommand),
}

fn main() -> std::process::ExitCode {
    portcullis_alloc::return_freed_memory_promptly();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let result = match cli.command {
        Command::Serve(args) => rt.block_on(serve::run(*args)),
        Command::Gateway(args) => rt.block_on(gateway::run(args)),
        Command::Import(args) => rt.block_on(import::run(args)),
        Command::Map(args) => rt.block_on(map::run(*args)),
        Command::Keys(cmd) => rt.block_on(keys::run(cmd)),
        Command::Admin(cmd) => rt.block_on(admin::run(cmd)),
        Command::Migration(cmd) => rt.block_on(migration::run(cmd)),
    };
    // A task still busy on its thread (work that `serve` stopped where it was, past its grace
    // time) does not hold the exit up.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
