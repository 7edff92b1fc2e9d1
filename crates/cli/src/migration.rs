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
        let rows: Vec<Vec<String>> = t["connectors"]
            .as_array()
            .map(|cs| cs.iter().map(connector_row).collect())
            .unwrap_or_default();
        out.push_str(&columns(
            &[
                "connector",
                "name",
                "migrated",
                "logins",
                "notFound",
                "failures",
            ],
            &[false, false, true, true, true, false],
            &rows,
        ));
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

/// A connector's line of the status table, as cells.
fn connector_row(c: &serde_json::Value) -> Vec<String> {
    let failures: Vec<String> = c["failures"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .unwrap_or_default();
    vec![
        c["connectorId"].as_str().unwrap_or("").to_string(),
        c["name"].as_str().unwrap_or("").to_string(),
        c["usersMigrated"].to_string(),
        c["logins"].to_string(),
        c["notFound"].to_string(),
        if failures.is_empty() {
            "-".to_string()
        } else {
            failures.join(" ")
        },
    ]
}

/// A table indented by two spaces: each column as wide as its widest cell (header included),
/// measured in terminal columns, two spaces between columns; the columns `right` marks (numbers)
/// aligned right, the others left. The last column is not padded, so no line ends in spaces.
/// Control characters in a cell (a connector's name is anyone's text) are shown escaped, never
/// sent to the terminal.
fn columns(header: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let lines: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(
            rows.iter()
                .map(|r| r.iter().map(|c| printable(c)).collect()),
        )
        .collect();
    let mut widths = vec![0; header.len()];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(display_width(cell));
        }
    }
    let mut out = String::new();
    for line in &lines {
        let mut text = String::from(" ");
        for (i, cell) in line.iter().enumerate() {
            let pad = " ".repeat(widths[i] - display_width(cell));
            text.push(' ');
            if right[i] {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&pad);
            }
            if i + 1 < line.len() {
                text.push(' ');
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// `cell` with control characters escaped (`\n`, `\u{1b}`), so a cell is one line of known width.
fn printable(cell: &str) -> String {
    cell.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The columns `s` takes on a terminal: combining marks and zero-width characters take none,
/// East Asian wide and fullwidth characters (CJK, Hangul, fullwidth forms, most emoji) two, every
/// other character one. Good for names; not a full Unicode width table.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x0300..=0x036F
            | 0x0483..=0x0489
            | 0x0591..=0x05BD
            | 0x0610..=0x061A
            | 0x064B..=0x065F
            | 0x1AB0..=0x1AFF
            | 0x1DC0..=0x1DFF
            | 0x200B..=0x200F
            | 0x20D0..=0x20FF
            | 0xFE00..=0xFE0F
            | 0xFE20..=0xFE2F => 0,
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x1F900..=0x1F9FF
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The display column where each cell of `line` ends, given the table's cells.
    fn ends(line: &str, cells: &[&str]) -> Vec<usize> {
        let mut from = 0;
        cells
            .iter()
            .map(|c| {
                let at = from
                    + line[from..]
                        .find(c)
                        .unwrap_or_else(|| panic!("{c} in {line:?}"));
                from = at + c.len();
                display_width(&line[..from])
            })
            .collect()
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_and_numbers_align_right() {
        let rows = vec![
            vec!["a".to_string(), "7".to_string(), "x".to_string()],
            vec![
                "a much longer name".to_string(),
                "1234567".to_string(),
                "yy".to_string(),
            ],
            vec!["mid".to_string(), "42".to_string(), "-".to_string()],
        ];
        let out = columns(&["name", "count", "last"], &[false, true, false], &rows);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "  name                  count  last",
                "  a                         7  x",
                "  a much longer name  1234567  yy",
                "  mid                      42  -",
            ],
            "{out}"
        );
    }

    #[test]
    fn wide_and_combining_characters_count_by_the_columns_they_take() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("Système"), 7);
        assert_eq!(display_width("Syste\u{300}me"), 7);
        assert_eq!(display_width("移行システム"), 12);
        let rows = vec![
            vec!["移行システム".to_string(), "5".to_string()],
            vec!["Syste\u{300}me".to_string(), "10".to_string()],
            vec!["ldap".to_string(), "300".to_string()],
        ];
        let out = columns(&["name", "migrated"], &[false, true], &rows);
        let widths: Vec<usize> = out.lines().map(display_width).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{out}");
    }

    #[test]
    fn control_characters_in_a_name_are_escaped() {
        let out = columns(
            &["name", "n"],
            &[false, true],
            &[vec!["evil\x1b[2J\nname".into(), "1".into()]],
        );
        assert!(!out.contains('\x1b'), "{out:?}");
        assert_eq!(out.lines().count(), 2, "{out:?}");
    }

    #[test]
    fn the_status_table_lines_up_connectors_of_different_widths() {
        let status = json!({"tenants": [{
            "tenantId": "6a1e8c2e-0000-4000-8000-000000000001",
            "usersMigrated": 1234570,
            "connectors": [
                {"connectorId": "0190c6a4-0000-7000-8000-000000000001", "name": "php",
                 "usersMigrated": 1234567, "logins": 2000000, "notFound": 3, "failures": {}},
                {"connectorId": "0190c6a4-0000-7000-8000-000000000002",
                 "name": "Corporate Active Directory (EMEA)", "usersMigrated": 3, "logins": 9,
                 "notFound": 12345, "failures": {"timeout": 2, "unreachable": 1}}
            ],
            "forecast": null
        }]});
        let out = table(&status);
        let lines: Vec<&str> = out.lines().collect();
        let header = ends(
            lines[1],
            &["connector", "name", "migrated", "logins", "notFound"],
        );
        let php = ends(
            lines[2],
            &[
                "0190c6a4-0000-7000-8000-000000000001",
                "php",
                "1234567",
                "2000000",
                "3",
            ],
        );
        let ad = ends(
            lines[3],
            &[
                "0190c6a4-0000-7000-8000-000000000002",
                "Corporate Active Directory (EMEA)",
                "3",
                "9",
                "12345",
            ],
        );
        // Numbers end where their header ends; the failures start in one column.
        assert_eq!(header[2..], php[2..], "{out}");
        assert_eq!(header[2..], ad[2..], "{out}");
        let starts: Vec<usize> = [("failures", 1), ("-", 2), ("timeout=2", 3)]
            .iter()
            .map(|(c, i)| display_width(&lines[*i][..lines[*i].rfind(c).unwrap()]))
            .collect();
        assert!(starts.iter().all(|s| *s == starts[0]), "{out}");
        // Names start in one column too.
        let name_at = |i: usize, n: &str| display_width(&lines[i][..lines[i].find(n).unwrap()]);
        assert_eq!(name_at(1, "name"), name_at(2, "php"), "{out}");
        assert_eq!(name_at(1, "name"), name_at(3, "Corporate"), "{out}");
    }
}
