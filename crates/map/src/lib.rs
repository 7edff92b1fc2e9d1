//! `portcullis map`: legacy user data to FusionAuth import batches. A [`source`] streams rows,
//! the [`mapping`] turns each into an import user, [`dedup`] keeps one user per email and
//! username, and the [`writer`] writes files of at most 100,000 users with a manifest, which
//! `portcullis import DIR --resume` loads. [`presets`] carry the mapping and query of common
//! legacy systems.

pub mod dedup;
pub mod mapping;
pub mod presets;
pub mod source;
pub mod writer;

use mapping::{Compiled, DedupPolicy, Mapped};
use source::{Row, SourceSpec};
use std::path::PathBuf;
use std::sync::Arc;

/// FusionAuth's advice for import files, and the import's sweet spot.
pub const DEFAULT_BATCH: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("the source: {0}")]
    Source(String),
    #[error("row {row}{}: {message}", if column.is_empty() { String::new() } else { format!(", column {column:?}") })]
    Row {
        row: u64,
        column: String,
        message: String,
    },
    #[error("{0}")]
    Io(String),
}

/// A preset's change to each row before mapping (derived columns, joined hash files).
pub type Prepare = Arc<dyn Fn(&mut Row) -> Result<(), Error> + Send + Sync>;

pub struct Options {
    pub source: SourceSpec,
    pub mapping: Compiled,
    pub prepare: Option<Prepare>,
    /// Where the batches go; `None` with `dry_run`.
    pub out: Option<PathBuf>,
    pub dry_run: bool,
    /// Only rows changed after this time (ms), as upsert batches.
    pub since: Option<i64>,
    pub batch: usize,
    pub validate_db_constraints: bool,
    /// Called with the number of rows read so far, every few thousand rows.
    pub progress: Option<Box<dyn Fn(u64) + Send>>,
    /// The preset's name, for the manifest.
    pub preset: Option<String>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub source: String,
    pub preset: Option<String>,
    pub started: String,
    pub seconds: f64,
    pub rows_read: u64,
    pub users_written: u64,
    pub without_password: u64,
    pub duplicates_dropped: u64,
    /// Rows left out by `--since` (not changed after it).
    pub unchanged: u64,
    pub since: Option<String>,
    /// The `--since` of the next run: the latest updated-at the source held.
    pub next_since: Option<String>,
    pub files: Vec<FileEntry>,
    pub duplicates_report: Option<String>,
    pub passwordless_report: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileEntry {
    pub name: String,
    pub users: usize,
}

/// Maps the whole source; writes the batches, the reports and the manifest unless `dry_run`.
pub async fn run(opts: Options) -> Result<Summary, Error> {
    if opts.since.is_some() && !opts.mapping.has_updated_at() {
        return Err(Error::Config(
            "--since needs the updated-at column: `[source] updated_at = \"COLUMN\"` (the preset has none)".into(),
        ));
    }
    let out = match (&opts.out, opts.dry_run) {
        (_, true) => None,
        (Some(dir), false) => {
            writer::prepare_dir(dir)?;
            Some(dir.clone())
        }
        (None, false) => {
            return Err(Error::Config(
                "say where the batches go (--out DIR), or --dry-run".into(),
            ))
        }
    };
    let started = chrono::Utc::now();
    let clock = std::time::Instant::now();
    let policy = opts.mapping.config.dedup.policy;
    let query = opts.mapping.config.source.query.clone();
    let records = opts.mapping.config.source.records.clone();
    let spec = match (&opts.source, records) {
        (SourceSpec::Json { path, .. }, Some(r)) => SourceSpec::Json {
            path: path.clone(),
            records: Some(r),
        },
        (s, _) => s.clone(),
    };
    let describe = spec.describe();

    let report: Option<Box<dyn std::io::Write + Send>> = match &out {
        Some(dir) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(dir.join(writer::DUPLICATES))
                .map_err(|e| Error::Io(format!("cannot create the report: {e}")))?,
        ))),
        None => None,
    };
    let mut dedup = dedup::Dedup::new(policy, report)?;

    // Pass one of a two-pass de-duplication: every row's keys and order value.
    if dedup.two_pass() {
        let mut rows = source::open(&spec, query.as_deref())?;
        let mut checked = false;
        while let Some(chunk) = rows.next_chunk().await {
            for mut row in chunk? {
                if let Some(p) = &opts.prepare {
                    p(&mut row)?;
                }
                if !checked && (spec.is_sql() || matches!(spec, SourceSpec::Csv { .. })) {
                    opts.mapping.check_columns(&row.columns)?;
                }
                checked = true;
                let m = opts.mapping.map_row(&row)?;
                if !changed(&m, opts.since) {
                    continue;
                }
                let order = order_of(&opts.mapping, policy, &row, &m)?;
                dedup.observe(&m, order);
            }
        }
    }
    dedup.settle();

    let mut batches = out.as_ref().map(|dir| {
        writer::BatchWriter::new(
            dir,
            opts.batch,
            opts.validate_db_constraints,
            opts.since.is_some(),
        )
    });
    let mut passwordless = match &out {
        Some(dir) => {
            let mut w = csv::Writer::from_path(dir.join(writer::PASSWORDLESS))
                .map_err(|e| Error::Io(format!("cannot create the passwordless list: {e}")))?;
            w.write_record(["row", "original_user_id", "email", "username"])
                .map_err(|e| Error::Io(e.to_string()))?;
            Some(w)
        }
        None => None,
    };
    let mut s = Summary {
        source: describe,
        preset: opts.preset.clone(),
        started: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        since: opts.since.map(mapping::format_millis),
        ..Summary::default()
    };
    let mut latest: Option<i64> = None;
    let mut rows = source::open(&spec, query.as_deref())?;
    let mut checked = false;
    while let Some(chunk) = rows.next_chunk().await {
        for mut row in chunk? {
            s.rows_read += 1;
            // The preset's derived columns count as the source's.
            if let Some(p) = &opts.prepare {
                p(&mut row)?;
            }
            if !checked && (spec.is_sql() || matches!(spec, SourceSpec::Csv { .. })) {
                opts.mapping.check_columns(&row.columns)?;
            }
            checked = true;
            let m = opts.mapping.map_row(&row)?;
            if let Some(u) = m.updated_at {
                latest = Some(latest.map_or(u, |l| l.max(u)));
            }
            if !changed(&m, opts.since) {
                s.unchanged += 1;
                continue;
            }
            if let dedup::Verdict::Drop = dedup.decide(&m)? {
                continue;
            }
            if !m.has_password {
                s.without_password += 1;
                if let Some(w) = &mut passwordless {
                    let text = |k: &str| {
                        m.user
                            .get(k)
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                            .to_string()
                    };
                    w.write_record([
                        m.row.to_string(),
                        m.original_id.clone().unwrap_or_default(),
                        text("email"),
                        text("username"),
                    ])
                    .map_err(|e| Error::Io(e.to_string()))?;
                }
            }
            if let Some(b) = &mut batches {
                b.write(&m.user)?;
            }
            s.users_written += 1;
        }
        if let Some(p) = &opts.progress {
            p(s.rows_read);
        }
    }
    dedup.finish()?;
    s.duplicates_dropped = dedup.dropped;
    s.next_since = latest.map(mapping::format_millis);
    if let Some(w) = &mut passwordless {
        w.flush().map_err(|e| Error::Io(e.to_string()))?;
    }
    if let Some(b) = batches {
        s.files = b
            .finish()?
            .into_iter()
            .map(|(name, users)| FileEntry { name, users })
            .collect();
    }
    s.seconds = clock.elapsed().as_secs_f64();
    if let Some(dir) = &out {
        s.duplicates_report = Some(writer::DUPLICATES.into());
        s.passwordless_report = Some(writer::PASSWORDLESS.into());
        let text = toml::to_string(&s).map_err(|e| Error::Io(e.to_string()))?;
        std::fs::write(dir.join(writer::MANIFEST), text)
            .map_err(|e| Error::Io(format!("cannot write the manifest: {e}")))?;
    }
    Ok(s)
}

/// True when the user changed after `since` (always without `--since`). A row without an
/// updated-at value counts as changed: nothing says it did not.
fn changed(m: &Mapped, since: Option<i64>) -> bool {
    match (since, m.updated_at) {
        (Some(t), Some(u)) => u > t,
        _ => true,
    }
}

/// The value a two-pass policy orders versions of a user by.
fn order_of(
    c: &Compiled,
    policy: DedupPolicy,
    row: &Row,
    m: &Mapped,
) -> Result<Option<i64>, Error> {
    let column = match policy {
        DedupPolicy::KeepNewest => c.config.dedup.newest.clone(),
        DedupPolicy::KeepLastLogin => c.config.dedup.last_login.clone(),
        _ => return Ok(None),
    };
    match column {
        Some(col) => match row.get(&col) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => mapping::to_millis(v, None, chrono::FixedOffset::east_opt(0).expect("utc"))
                .map(Some)
                .map_err(|message| Error::Row {
                    row: row.number,
                    column: col,
                    message,
                }),
        },
        None => Ok(match policy {
            DedupPolicy::KeepNewest => m.updated_at,
            _ => m.user.get("lastLoginInstant").and_then(|v| v.as_i64()),
        }),
    }
}

/// What the command line lays over the mapping.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// Registers every user to this application (with the roles the mapping gives).
    pub application: Option<uuid::Uuid>,
    pub dedup: Option<DedupPolicy>,
}

/// The mapping a run uses: the preset's, with the user's file laid over it key by key, then the
/// command line's overrides. Registrations whose roles name no application are left out (a
/// preset reads roles, but only the user knows the application), so the roles stay in `data`.
pub fn build_mapping(
    preset: Option<&str>,
    user_config: Option<&str>,
    overrides: &Overrides,
) -> Result<Compiled, Error> {
    let parse = |text: &str, what: &str| -> Result<toml::Table, Error> {
        text.parse::<toml::Table>()
            .map_err(|e| Error::Config(format!("{what}: {e}")))
    };
    let mut table = match preset {
        Some(p) => parse(p, "the preset's mapping")?,
        None => toml::Table::new(),
    };
    if let Some(c) = user_config {
        presets::merge(&mut table, parse(c, "the mapping file")?);
    }
    if preset.is_none() && user_config.is_none() {
        return Err(Error::Config(
            "say how to map: --from PRESET, --config mapping.toml, or both".into(),
        ));
    }
    let mut mapping: mapping::Mapping = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| Error::Config(format!("the mapping: {}", e.message())))?;
    if let Some(app) = overrides.application {
        mapping
            .registrations
            .get_or_insert_with(Default::default)
            .application = Some(app);
    }
    if let Some(r) = &mapping.registrations {
        if r.application.is_none() && r.role_map.is_empty() {
            mapping.registrations = None;
        }
    }
    if let Some(p) = overrides.dedup {
        mapping.dedup.policy = p;
    }
    Compiled::new(mapping)
}
