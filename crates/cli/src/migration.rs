//! `portcullis migration status`: the slow migration's progress per tenant and connector — exact
//! counts, the share migrated given the legacy user count, and the forecast — from a running
//! server (`--url`, `--api-key`) or straight from the database (`--database`).

use clap::{Args, Subcommand};
use portcullis_domain::migration::{MigrationStatus, StatusQuery};
use portcullis_domain::{Identity, Scope};
use portcullis_hash::HashPool;
use portcullis_store::SqlStore;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum MigrationCommand {
    /// How far the slow migration has come, and when it is expected to reach the goal.
    Status(StatusArgs),
}

#[derive(Args)]
pub struct StatusArgs {
    /// Ask a running server's API at this URL.
    #[arg(long, env = "PORTCULLIS_URL", conflicts_with = "database")]
    url: Option<String>,
    /// The API key for --url (needs GET on /api/migration/status). Keys are base64url and may
    /// begin with `-`, so the value is taken as given.
    #[arg(
        long,
        env = "PORTCULLIS_API_KEY",
        requires = "url",
        allow_hyphen_values = true
    )]
    api_key: Option<String>,
    /// Read the database directly (sqlite://FILE or postgres://...).
    #[arg(long, env = "PORTCULLIS_DATABASE")]
    database: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    tenant_id: Option<Uuid>,
    /// Users in the legacy system (default: each tenant's `data.legacyUserCount`).
    #[arg(long)]
    legacy_count: Option<i64>,
    /// The share of legacy users to forecast for, between 0 and 1.
    #[arg(long, default_value_t = 0.9)]
    goal: f64,
    /// Print the API's JSON instead of the table.
    #[arg(long)]
    json: bool,
}

pub async fn run(cmd: MigrationCommand) -> Result<(), String> {
    let MigrationCommand::Status(a) = cmd;
    if !(a.goal > 0.0 && a.goal < 1.0) {
        return Err("--goal must be between 0 and 1 (e.g. 0.9)".into());
    }
    let query = StatusQuery {
        legacy_count: a.legacy_count,
        goal: Some(a.goal),
    };
    let status: serde_json::Value = match (&a.url, &a.database) {
        (Some(url), _) => {
            let mut req = reqwest::Client::new()
                .get(format!(
                    "{}/api/migration/status",
                    url.trim_end_matches('/')
                ))
                .query(&[("goal", a.goal.to_string())])
                .header("Authorization", a.api_key.clone().unwrap_or_default());
            if let Some(n) = a.legacy_count {
                req = req.query(&[("legacyCount", n.to_string())]);
            }
            if let Some(t) = a.tenant_id {
                req = req.header("X-FusionAuth-TenantId", t.to_string());
            }
            let res = req.send().await.map_err(|e| format!("{url}: {e}"))?;
            let code = res.status();
            let text = res.text().await.map_err(|e| e.to_string())?;
            if !code.is_success() {
                return Err(format!("the server answered {code}: {text}"));
            }
            serde_json::from_str(&text).map_err(|e| format!("the server's answer: {e}"))?
        }
        (None, Some(db)) => {
            let store = SqlStore::connect(db).await.map_err(|e| e.to_string())?;
            let identity = Identity::new(Arc::new(store), HashPool::new(1, 1));
            let s: MigrationStatus = identity
                .migration_status(
                    Scope {
                        tenant: a.tenant_id,
                    },
                    &query,
                )
                .await
                .map_err(|e| e.to_string())?;
            serde_json::to_value(s).expect("status serializes")
        }
        (None, None) => return Err("give --url (and --api-key) or --database".into()),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&status).expect("json"));
        return Ok(());
    }
    print!("{}", table(&status));
    Ok(())
}

/// The status for people: one block per tenant, one line per connector.
fn table(s: &serde_json::Value) -> String {
    let mut out = String::new();
    let tenants = s["tenants"].as_array().cloned().unwrap_or_default();
    if tenants.is_empty() {
        out.push_str("No tenant has connector policies or migrated users yet.\n");
    }
    for t in tenants {
        out.push_str(&format!(
            "tenant {}: {} users migrated",
            t["tenantId"].as_str().unwrap_or(""),
            t["usersMigrated"]
        ));
        if let (Some(n), Some(share)) = (t["legacyUserCount"].as_i64(), t["shareMigrated"].as_f64())
        {
            out.push_str(&format!(" of {n} ({:.1}%)", share * 100.0));
        }
        out.push('\n');
        out.push_str(&format!(
            "  {:<36}  {:<20} {:>10} {:>10} {:>10} failures\n",
            "connector", "name", "migrated", "logins", "notFound"
        ));
        for c in t["connectors"].as_array().cloned().unwrap_or_default() {
            let failures: Vec<String> = c["failures"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            out.push_str(&format!(
                "  {:<36}  {:<20} {:>10} {:>10} {:>10} {}\n",
                c["connectorId"].as_str().unwrap_or(""),
                c["name"].as_str().unwrap_or(""),
                c["usersMigrated"],
                c["logins"],
                c["notFound"],
                if failures.is_empty() {
                    "-".to_string()
                } else {
                    failures.join(" ")
                }
            ));
        }
        let days = t["migratedPerDay"].as_array().cloned().unwrap_or_default();
        if !days.is_empty() {
            let last: Vec<String> = days
                .iter()
                .rev()
                .take(7)
                .rev()
                .map(|d| format!("{} {}", d["date"].as_str().unwrap_or(""), d["count"]))
                .collect();
            out.push_str(&format!(
                "  per day (last {}): {}\n",
                last.len(),
                last.join(", ")
            ));
        }
        match t.get("forecast").filter(|f| !f.is_null()) {
            None => out.push_str(
                "  forecast: give --legacy-count (or set tenant.data.legacyUserCount) for the share and the forecast\n",
            ),
            Some(f) => {
                let goal = f["goal"].as_f64().unwrap_or(0.9) * 100.0;
                match f["expectedDate"].as_str() {
                    Some(d) => out.push_str(&format!(
                        "  forecast: {goal:.0}% by {d} (between {} and {})\n",
                        f["earliestDate"].as_str().unwrap_or("?"),
                        f["latestDate"].as_str().unwrap_or("open")
                    )),
                    None if f["reached"] == true => {
                        out.push_str(&format!("  forecast: {goal:.0}% reached\n"))
                    }
                    None => out.push_str(&format!("  forecast for {goal:.0}%: not yet\n")),
                }
                out.push_str(&format!("  {}\n", f["confidence"].as_str().unwrap_or("")));
            }
        }
    }
    out
}
