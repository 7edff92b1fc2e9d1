//! `portcullis-bench tenant-delete`: how fast a test load goes away (target: a tenant of
//! 1 M users in < 30 s). Each way is measured on its own fresh load of the same users — the import
//! bench's realistic users with registrations and a membership: `DELETE /api/tenant/{id}`'s
//! path, `DELETE /api/user/bulk?queryString=tenantId:...`'s path, and, the database's own
//! figure, a bare `DELETE FROM users WHERE tenant_id = $1` (its foreign keys cascading).

use super::import::{fixtures, setup, Db};
use portcullis_domain::{BulkDeleteRequest, Scope};
use sqlx::Executor;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct TenantDeleteBench {
    /// Users in the tenant.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// PostgreSQL server for the PostgreSQL row; each run uses a fresh schema.
    #[arg(
        long,
        env = "PORTCULLIS_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    sqlite_only: bool,
    /// Ways to measure (comma-separated: tenant, bulk, raw); each loads the users anew, which
    /// at a million users takes minutes.
    #[arg(long, default_value = "tenant,bulk,raw", value_delimiter = ',')]
    ways: Vec<String>,
}

/// The three ways to delete.
#[derive(Clone, Copy)]
enum Way {
    Tenant,
    Bulk,
    Raw,
}

/// Loads `n` users into a fresh database and answers the seconds `way` takes to delete them.
async fn measure(db: &Db, n: usize, way: Way) -> Result<f64, String> {
    let (store, identity) = setup(&db.url).await?;
    for body in fixtures(&identity, n, 50_000).await? {
        let req = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        identity
            .import_users(Scope::ALL, req)
            .await
            .map_err(|e| format!("{e:?}"))?;
    }
    let tenant = identity
        .tenants(Scope::ALL)
        .await
        .map_err(|e| e.to_string())?[0]
        .id
        .unwrap();
    let start = Instant::now();
    match way {
        Way::Tenant => identity
            .delete_tenant(Scope::ALL, tenant)
            .await
            .map_err(|e| e.to_string())?,
        Way::Bulk => {
            let out = identity
                .bulk_delete_users(
                    Scope::ALL,
                    BulkDeleteRequest {
                        query_string: Some(format!("tenantId:{tenant}")),
                        user_ids: Vec::new(),
                        dry_run: false,
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            if out.total != n as u64 {
                return Err(format!("bulk delete removed {} users, not {n}", out.total));
            }
        }
        Way::Raw => {
            sqlx::any::install_default_drivers();
            let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
                .await
                .map_err(|e| e.to_string())?;
            if db.url.starts_with("sqlite:") {
                c.execute("PRAGMA foreign_keys = ON")
                    .await
                    .map_err(|e| e.to_string())?;
            }
            sqlx::query("DELETE FROM users WHERE tenant_id = $1")
                .bind(tenant.to_string())
                .execute(&mut c)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    store.close().await;
    Ok(secs)
}

pub async fn run(b: TenantDeleteBench) -> Result<(), String> {
    let n = b.users;
    println!("bench tenant-delete: a tenant of {n} users (2 registrations, 1 membership each); target 1 M users < 30 s");
    println!(
        "{:<12} {:>22} {:>22} {:>26} {:>16}",
        "database",
        "DELETE tenant users/s",
        "bulk delete users/s",
        "raw DELETE FROM users/s",
        "1 M users in"
    );
    let mut rows = vec![("SQLite", None)];
    if !b.sqlite_only {
        rows.push(("PostgreSQL", Some(b.postgres.as_str())));
    }
    for (name, pg) in rows {
        let mut rates = Vec::new();
        for (way, label) in [
            (Way::Tenant, "tenant"),
            (Way::Bulk, "bulk"),
            (Way::Raw, "raw"),
        ] {
            if !b.ways.iter().any(|w| w.trim() == label) {
                rates.push(None);
                continue;
            }
            let db = match pg {
                None => Db::sqlite()?,
                Some(base) => Db::postgres(base).await?,
            };
            let secs = measure(&db, n, way).await;
            db.drop_schema().await;
            rates.push(Some(n as f64 / secs?));
        }
        let show = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.0}"));
        let slowest = rates[..2].iter().flatten().copied().reduce(f64::min);
        println!(
            "{name:<12} {:>22} {:>22} {:>26} {:>16}",
            show(rates[0]),
            show(rates[1]),
            show(rates[2]),
            slowest.map_or("-".to_string(), |s| format!("{:.1} s", 1_000_000.0 / s))
        );
    }
    Ok(())
}
