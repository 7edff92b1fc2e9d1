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

/// mimalloc instead of glibc's allocator: an import spent about a fifth of its CPU in glibc's
/// `malloc`/`free` (chunk unlinking and consolidation) building and dropping JSON values.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's own: frees what the calling thread's heap caches and returns free pages to
    /// the system. Linked from `libmimalloc-sys`, which `mimalloc` builds.
    fn mi_collect(force: bool);
    fn mi_option_set(option: std::os::raw::c_int, value: std::os::raw::c_long);
}

/// mimalloc's `mi_option_purge_delay` and `mi_option_arena_purge_mult`, as its v3 header
/// numbers its options.
const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;
const MI_OPTION_ARENA_PURGE_MULT: std::os::raw::c_int = 24;

/// Milliseconds a freed page waits before mimalloc hands it back to the system.
const PURGE_DELAY_MS: std::os::raw::c_long = 10;

/// Makes freed memory leave the process promptly, so that a big import's peak is its body and
/// the rows in flight rather than everything it ever touched.
///
/// - mimalloc v3 keeps a freed page for its purge delay (1 s, times 10 inside its arenas)
///   before returning it: an import frees its body's chunks and each written slice of rows
///   well within that, so without a shorter delay none of it is reused by the system and
///   the peak grows with everything the request allocated. 10 ms, in its arenas too, is the
///   delay of mimalloc v2: short enough for an import, long enough that a busy node does not
///   return and fault in the same pages between two requests.
/// - Transparent huge pages keep a whole 2 MiB resident for any live byte in it and mimalloc
///   asks for them on its arenas, so purged 64 KiB pages inside a huge page stay resident.
///   They are turned off for this process only.
///
/// Measured on one import of 100,000 users (44 MiB): a 162–170 MiB peak without these, 122–127
/// MiB with them, at the same users/s (`scripts/bench/import-peak.py`).
fn return_freed_memory_promptly() {
    // SAFETY: mi_option_set writes one option's value and is meant to be called at any time;
    // prctl with PR_SET_THP_DISABLE takes plain integers and only sets a flag of this process.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        mi_option_set(MI_OPTION_ARENA_PURGE_MULT, 1);
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Returns the memory a big import freed to the system, so that a node's resident size goes
/// back down once its imports end instead of staying at their peak.
fn return_freed_memory() {
    // SAFETY: mi_collect takes no pointers and may be called from any thread at any time.
    unsafe { mi_collect(true) }
}

fn main() -> std::process::ExitCode {
    return_freed_memory_promptly();
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
