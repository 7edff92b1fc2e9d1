//! `portcullis map`: legacy users (a SQL database, CSV, NDJSON or JSON) to FusionAuth import
//! batches through a preset and/or a mapping file (`portcullis-map`), then, with `--import`, the
//! batches loaded as `portcullis import DIR` loads them (progress bar, `--resume`).

use portcullis_map::mapping::DedupPolicy;
use portcullis_map::presets::{self, Params};
use portcullis_map::source::SourceSpec;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct MapArgs {
    /// The legacy data: sqlite://FILE, postgres://..., mysql://... (MariaDB too), or a .csv,
    /// .tsv, .ndjson/.jsonl or .json file.
    #[arg(long)]
    pub source: String,
    /// A preset for a known system: django, laravel, wordpress, supabase, keycloak, firebase,
    /// auth0, drupal7, cognito.
    #[arg(long = "from")]
    pub preset: Option<String>,
    /// The mapping file (TOML); laid over the preset's key by key when both are given.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The directory the batches, the manifest and the reports go to (must hold no import
    /// files). With --import and no --out, a directory beside the working directory is made.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Validate and report; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only users created or changed after this time (RFC 3339, or `YYYY-MM-DD[ HH:MM:SS]` UTC),
    /// as upsert batches; the summary prints the value for the next run.
    #[arg(long)]
    pub since: Option<String>,
    /// De-duplication of emails and usernames: keep-first, keep-newest, keep-last-login,
    /// drop-all (overrides the mapping's `[dedup] policy`).
    #[arg(long)]
    pub dedup: Option<String>,
    /// Register every user to this application, with the roles the mapping reads.
    #[arg(long)]
    pub application: Option<uuid::Uuid>,
    /// Users per import file.
    #[arg(long, default_value_t = portcullis_map::DEFAULT_BATCH)]
    pub batch_size: usize,
    /// Ask the import to check ids, emails and usernames against the users already stored.
    #[arg(long)]
    pub validate_db_constraints: bool,
    /// After the import, send each user without a password a set-password email (through the
    /// server's forgot-password flow; needs --url).
    #[arg(long)]
    pub send_set_password_email: bool,
    /// Firebase: the project's base64 signer key.
    #[arg(long, allow_hyphen_values = true)]
    pub firebase_signer_key: Option<String>,
    /// Firebase: the base64 salt separator.
    #[arg(long, allow_hyphen_values = true)]
    pub firebase_salt_separator: Option<String>,
    /// Firebase: the rounds.
    #[arg(long)]
    pub firebase_rounds: Option<u32>,
    /// Firebase: the memory cost.
    #[arg(long)]
    pub firebase_mem_cost: Option<u32>,
    /// Auth0: the password-hash export (NDJSON) to join to the user export.
    #[arg(long)]
    pub auth0_hashes: Option<PathBuf>,
    /// WordPress: the table prefix.
    #[arg(long)]
    pub wordpress_prefix: Option<String>,
    /// Import the batches right away (through --url/--api-key, or --database).
    #[arg(long)]
    pub import: bool,
    #[arg(
        long,
        env = "PORTCULLIS_URL",
        conflicts_with = "database",
        requires = "import"
    )]
    pub url: Option<String>,
    #[arg(
        long,
        env = "PORTCULLIS_API_KEY",
        requires = "url",
        allow_hyphen_values = true
    )]
    pub api_key: Option<String>,
    #[arg(long, env = "PORTCULLIS_DATABASE", requires = "import")]
    pub database: Option<String>,
    #[arg(long, requires = "import")]
    pub tenant_id: Option<uuid::Uuid>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

pub async fn run(args: MapArgs) -> Result<(), String> {
    let spec = SourceSpec::parse(&args.source).map_err(|e| e.to_string())?;
    let params = Params {
        firebase_signer_key: args.firebase_signer_key.clone(),
        firebase_salt_separator: args.firebase_salt_separator.clone(),
        firebase_rounds: args.firebase_rounds,
        firebase_mem_cost: args.firebase_mem_cost,
        auth0_hashes: args.auth0_hashes.clone(),
        wordpress_prefix: args.wordpress_prefix.clone(),
    };
    let preset = match &args.preset {
        Some(name) => Some(presets::load(name, &spec, &params).map_err(|e| e.to_string())?),
        None => None,
    };
    let user_config = match &args.config {
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let overrides = portcullis_map::Overrides {
        application: args.application,
        dedup: args
            .dedup
            .as_deref()
            .map(DedupPolicy::parse)
            .transpose()
            .map_err(|e| e.to_string())?,
    };
    let mapping = portcullis_map::build_mapping(
        preset.as_ref().map(|p| p.mapping.as_str()),
        user_config.as_deref(),
        &overrides,
    )
    .map_err(|e| e.to_string())?;
    let since = args
        .since
        .as_deref()
        .map(portcullis_map::mapping::parse_since)
        .transpose()
        .map_err(|e| e.to_string())?;
    if args.send_set_password_email && !(args.import && args.url.is_some()) {
        return Err("--send-set-password-email sends through the server: add --import --url URL --api-key KEY".into());
    }
    let out = match (&args.out, args.import && !args.dry_run) {
        (Some(o), _) => Some(o.clone()),
        (None, true) => Some(PathBuf::from(format!(
            "portcullis-map-{}",
            chrono_like_stamp()
        ))),
        (None, false) => None,
    };
    let quiet = args.quiet;
    let progress: Option<Box<dyn Fn(u64) + Send>> = if quiet {
        None
    } else {
        let last = std::sync::atomic::AtomicU64::new(0);
        Some(Box::new(move |n: u64| {
            if n / 100_000 != last.swap(n, std::sync::atomic::Ordering::Relaxed) / 100_000 {
                eprintln!("map: {n} rows read");
            }
        }))
    };
    let summary = portcullis_map::run(portcullis_map::Options {
        source: spec,
        mapping,
        prepare: preset.as_ref().and_then(|p| p.prepare.clone()),
        out: out.clone(),
        dry_run: args.dry_run,
        since,
        batch: args.batch_size,
        validate_db_constraints: args.validate_db_constraints,
        progress,
        preset: args.preset.clone(),
    })
    .await
    .map_err(|e| e.to_string())?;

    let rate = summary.rows_read as f64 / summary.seconds.max(1e-9);
    println!(
        "Mapped {} rows into {} users in {:.1} s ({rate:.0} rows/s): {} without a password, {} duplicates dropped{}",
        summary.rows_read,
        summary.users_written,
        summary.seconds,
        summary.without_password,
        summary.duplicates_dropped,
        if since.is_some() {
            format!(", {} unchanged since {}", summary.unchanged, summary.since.clone().unwrap_or_default())
        } else {
            String::new()
        }
    );
    match (&out, args.dry_run) {
        (_, true) => println!("Dry run: nothing written."),
        (Some(dir), false) => println!(
            "Wrote {} files to {} (manifest.toml; duplicates.csv; passwordless.csv)",
            summary.files.len(),
            dir.display()
        ),
        _ => {}
    }
    if let Some(next) = &summary.next_since {
        println!("Next run: --since {next}");
    }
    if let Some(advice) = preset.as_ref().and_then(|p| p.advice) {
        println!("{advice}");
    }

    if args.import && !args.dry_run && !summary.files.is_empty() {
        let dir = out.expect("an import has an output directory");
        crate::import::run(crate::import::ImportArgs {
            path: dir.clone(),
            url: args.url.clone(),
            api_key: args.api_key.clone(),
            database: args.database.clone(),
            tenant_id: args.tenant_id,
            resume: false,
            quiet,
        })
        .await
        .map_err(|e| {
            format!(
                "{e}\n(The batches stay in {}: `portcullis import {} --resume` continues.)",
                dir.display(),
                dir.display()
            )
        })?;
        if args.send_set_password_email {
            send_set_password_emails(&args, &dir).await?;
        }
    }
    Ok(())
}

/// Starts the forgot-password flow (FusionAuth's `sendSetPasswordEmail` outcome: an email with
/// a link to set a password) for each imported user without one, from `passwordless.csv`.
async fn send_set_password_emails(args: &MapArgs, dir: &std::path::Path) -> Result<(), String> {
    let url = args.url.as_deref().expect("checked before mapping");
    let key = args.api_key.as_deref().unwrap_or_default();
    let path = dir.join(portcullis_map::writer::PASSWORDLESS);
    let mut rd = csv::Reader::from_path(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let http = reqwest::Client::new();
    let mut sent = 0usize;
    for line in rd.records() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        // The email, else the username.
        let login_id = match (line.get(2), line.get(3)) {
            (Some(e), _) if !e.is_empty() => e.to_string(),
            (_, Some(u)) if !u.is_empty() => u.to_string(),
            _ => continue,
        };
        let mut req = http
            .post(format!(
                "{}/api/user/forgot-password",
                url.trim_end_matches('/')
            ))
            .header("Authorization", key)
            .json(&serde_json::json!({"loginId": login_id, "sendForgotPasswordEmail": true}));
        if let Some(t) = args.tenant_id {
            req = req.header("X-FusionAuth-TenantId", t.to_string());
        }
        let res = req
            .send()
            .await
            .map_err(|e| format!("the server did not answer: {e}"))?;
        if !res.status().is_success() {
            return Err(format!(
                "a set-password email was refused ({}), after {sent} sent",
                res.status()
            ));
        }
        sent += 1;
    }
    println!("Sent {sent} set-password emails.");
    Ok(())
}

/// Seconds since the epoch: a name no earlier run took.
fn chrono_like_stamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
