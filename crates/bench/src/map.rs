//! `portcullis-bench map`: legacy rows (a Laravel-shaped `users` table with bcrypt hashes) made
//! in PostgreSQL (and in MariaDB with `--mysql`), mapped by `portcullis-map` with the `laravel`
//! preset into import files, then those files imported into a fresh PostgreSQL store. Prints the
//! mapping's rows/s, the import's own users/s for the same users, and the whole pipeline's
//! users/s (mapping then import) as a share of the import's.

use crate::import::{setup, Db};
use portcullis_domain::Scope;
use sqlx::{Connection, Executor};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct MapBench {
    /// Legacy rows.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// PostgreSQL server: the legacy table and the store each get a fresh schema.
    #[arg(
        long,
        env = "PORTCULLIS_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// MariaDB/MySQL server (mysql://user:pw@host:port): the legacy table goes in a database
    /// the run makes and drops. Without it, PostgreSQL only.
    #[arg(long, env = "PORTCULLIS_TEST_MYSQL_URL")]
    mysql: Option<String>,
}

/// A real `password_hash($pw, PASSWORD_BCRYPT)` from PHP: every row carries one, as a Laravel
/// table does (the mapping parses it; nothing verifies it here).
const HASH: &str = "$2y$10$4gSognUR26FT09I62L2TC.dwtvzmAGJlOPOr6/kmD3o6XuNNLz7Zu";

pub async fn run(b: MapBench) -> Result<(), String> {
    println!(
        "map: {} Laravel-shaped rows → import files (laravel preset) → import into PostgreSQL",
        b.rows
    );
    let legacy = Db::postgres(&b.postgres).await?;
    {
        let mut c = sqlx::PgConnection::connect(&legacy.url)
            .await
            .map_err(|e| e.to_string())?;
        c.execute(
            format!(
                "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL,
                   email_verified_at timestamp, password text NOT NULL, created_at timestamp, updated_at timestamp);
                 INSERT INTO users SELECT i, 'Legacy User ' || i, 'user' || i || '@legacy.example.com',
                   timestamp '2024-01-01' + i * interval '1 second', '{HASH}',
                   timestamp '2023-01-01' + i * interval '1 second', timestamp '2024-06-01' + i * interval '1 second'
                 FROM generate_series(1, {}) AS i;",
                b.rows
            )
            .as_str(),
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    let r = measure("PostgreSQL", &legacy.url, b.rows, &b.postgres).await;
    legacy.drop_schema().await;
    r?;

    if let Some(mysql) = &b.mysql {
        let db = format!("bench_map_{}", uuid::Uuid::new_v4().simple());
        let base = mysql.trim_end_matches('/');
        let mut c = sqlx::MySqlConnection::connect(base)
            .await
            .map_err(|e| format!("MariaDB at {base}: {e}"))?;
        c.execute(format!("CREATE DATABASE `{db}`").as_str())
            .await
            .map_err(|e| e.to_string())?;
        let url = format!("{base}/{db}");
        let fill = async {
            let mut c = sqlx::MySqlConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            c.execute(
                "CREATE TABLE users (id bigint unsigned PRIMARY KEY, name varchar(255) NOT NULL,
                   email varchar(255) NOT NULL, email_verified_at timestamp NULL, password varchar(255) NOT NULL,
                   created_at timestamp NULL, updated_at timestamp NULL) DEFAULT CHARSET=utf8mb4",
            )
            .await
            .map_err(|e| e.to_string())?;
            // MariaDB's Sequence engine (`seq_1_to_N`) makes the rows in one statement.
            c.execute(
                format!(
                    "INSERT INTO users SELECT seq, CONCAT('Legacy User ', seq), CONCAT('user', seq, '@legacy.example.com'),
                       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND, '{HASH}',
                       TIMESTAMP '2023-01-01 00:00:00' + INTERVAL seq SECOND, TIMESTAMP '2024-06-01 00:00:00' + INTERVAL seq SECOND
                     FROM seq_1_to_{}",
                    b.rows
                )
                .as_str(),
            )
            .await
            .map_err(|e| e.to_string())?;
            measure("MariaDB", &url, b.rows, &b.postgres).await
        }
        .await;
        let _ = c.execute(format!("DROP DATABASE `{db}`").as_str()).await;
        fill?;
    }
    Ok(())
}

/// Maps `source` with the laravel preset into a temporary directory, imports the files into a
/// fresh PostgreSQL store, and prints the three rates.
async fn measure(name: &str, source: &str, rows: usize, postgres: &str) -> Result<(), String> {
    let spec = portcullis_map::source::SourceSpec::parse(source).map_err(|e| e.to_string())?;
    let preset = portcullis_map::presets::load("laravel", &spec, &Default::default())
        .map_err(|e| e.to_string())?;
    let mapping = portcullis_map::build_mapping(Some(&preset.mapping), None, &Default::default())
        .map_err(|e| e.to_string())?;
    let out = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = out.path().join("batches");
    // The process's peak resident set, reset here, is then the mapping's own.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let start = Instant::now();
    let summary = portcullis_map::run(portcullis_map::Options {
        source: spec,
        mapping,
        prepare: None,
        out: Some(dir.clone()),
        dry_run: false,
        since: None,
        batch: portcullis_map::DEFAULT_BATCH,
        validate_db_constraints: false,
        progress: None,
        preset: Some("laravel".into()),
    })
    .await
    .map_err(|e| e.to_string())?;
    let map_secs = start.elapsed().as_secs_f64();
    let map_peak = peak_rss_mib();
    if summary.users_written as usize != rows {
        return Err(format!(
            "{name}: mapped {} users of {rows} rows",
            summary.users_written
        ));
    }

    let store = Db::postgres(postgres).await?;
    let result = async {
        let (_store, identity) = setup(&store.url).await?;
        let start = Instant::now();
        for f in &summary.files {
            let bytes = std::fs::read(dir.join(&f.name)).map_err(|e| e.to_string())?;
            let req = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            identity
                .import_users(Scope::ALL, req)
                .await
                .map_err(|e| format!("{e:?}"))?;
        }
        Ok::<f64, String>(start.elapsed().as_secs_f64())
    }
    .await;
    store.drop_schema().await;
    let import_secs = result?;

    let n = rows as f64;
    let map_rate = n / map_secs;
    let import_rate = n / import_secs;
    let pipeline_rate = n / (map_secs + import_secs);
    println!(
        "  from {name}: {rows} rows in {} files",
        summary.files.len()
    );
    println!("    mapping             {map_rate:>10.0} rows/s  ({map_secs:.1} s)");
    if let Some(mib) = map_peak {
        println!(
            "    mapping peak RSS    {mib:>10.0} MiB     (the batch files hold {:.0} MiB)",
            summary
                .files
                .iter()
                .filter_map(|f| std::fs::metadata(dir.join(&f.name)).ok())
                .map(|m| m.len())
                .sum::<u64>() as f64
                / 1048576.0
        );
    }
    println!("    import (its own)    {import_rate:>10.0} users/s ({import_secs:.1} s)");
    println!(
        "    pipeline            {pipeline_rate:>10.0} users/s = {:.0}% of the import's (target ≥ 80%)",
        100.0 * pipeline_rate / import_rate
    );
    Ok(())
}

/// The process's peak resident set in MiB since it was last reset (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
