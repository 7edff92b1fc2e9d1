//! `portcullis-bench login`: end-to-end figures of the login path on throw-away
//! SQLite and PostgreSQL databases, each printed beside the figure it is judged against.
//!
//! It drives the login service (`Sessions`) in-process — store, hashing pool, JWT signing — so
//! the figures are the server's own cost without HTTP parsing or a client in the same process.
//! CPU time is this process's (`/proc/self/stat`); PostgreSQL's own CPU is not in it.
//!
//! Beside the CPU per login it prints the floor under it: what a login's database work and its
//! signature cost by themselves, without Portcullis. On SQLite that is the statements of a login
//! (the one read with the attempt's count, committed alone; the writes that record it, four logins
//! per commit) through bare `rusqlite` on one thread, a passive checkpoint every 100 ms as the
//! store does them, plus one ES256 signature; on PostgreSQL (whose own CPU is not counted) the same
//! read and write sent through sqlx on one connection, plus the signature. Beside the refresh
//! grants it prints their ceiling: how many grants' statements (read the token, read the user, mark
//! the token used and insert its successor) the database alone takes per second — SQLite's one
//! writer on one thread with four grants per commit, PostgreSQL from `4 × cores` connections at
//! once — with no signature and no Portcullis.
//!
//! This module holds the arguments and `run`, the bench's steps in order. Each measurement is a
//! module of its own: `logins` at the default hash, `cpu` per login beside the hash with its
//! floor, `refresh` grants with their ceiling. They share the `fixture`, the loops of `drive`
//! and the statements in `floor`.

mod cpu;
mod drive;
mod fixture;
pub(super) mod floor;
mod logins;
mod refresh;

use clap::Args;
use fixture::Fixture;
use logins::HashLimit;
use portcullis_hash::HashPool;
use portcullis_store::testing::Backend;
use std::sync::Arc;

#[derive(Args)]
pub struct LoginBench {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Backends to measure (comma-separated: sqlite, postgres).
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    backends: Vec<String>,
    /// Measurements to run (comma-separated: logins, cpu, refresh); fewer make a cleaner profile.
    #[arg(long, default_value = "logins,cpu,refresh", value_delimiter = ',')]
    measure: Vec<String>,
}

pub async fn run(args: LoginBench) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hash = HashLimit::measure(cores)?;
    print_header(&args, cores, &hash);
    let measure = |m: &str| args.measure.iter().any(|x| x.trim() == m);
    for name in &args.backends {
        let backend = match name.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => return Err(format!("unknown backend [{other}]: use sqlite or postgres")),
        };
        let f = Arc::new(Fixture::new(backend, HashPool::for_this_machine()).await?);
        // 1. Logins/s with the tenant's default scheme, against the hash-bound limit.
        if measure("logins") {
            logins::measure(&f, name, cores, hash.per_second, args.seconds).await?;
        }
        // 2. CPU per login beside the hash: the same users with a one-round salted SHA-256,
        // which the logins that start the refresh chains below use too.
        cpu::cheap_hash(&f).await?;
        if measure("cpu") {
            cpu::measure(&f, backend, name, cores, args.seconds).await?;
        }
        // 3. Refresh-token grants/s: each task follows its own rotation chain.
        if measure("refresh") {
            refresh::measure(&f, backend, name, cores, args.seconds).await?;
        }
    }
    Ok(())
}

/// The machine, the single verify and the hash-bound limit it gives, then the table's head.
fn print_header(args: &LoginBench, cores: usize, hash: &HashLimit) {
    println!(
        "portcullis-bench login: {cores} cores, hash pool of {cores} workers, {} s per measurement",
        args.seconds
    );
    println!(
        "single verify, {} (factor {}): {:.1} ms → hash-bound limit {cores} / verify = {:.1} logins/s",
        hash.credential.scheme,
        hash.credential.factor,
        hash.verify.as_secs_f64() * 1e3,
        hash.per_second
    );
    println!();
    println!(
        "{:<9} {:<46} {:>14}   target",
        "backend", "measurement", "result"
    );
}
