//! `portcullis import PATH`: the big-bang load of a directory of FusionAuth import files (each a
//! `{"users": [...]}` request), file by file in name order, each file one all-or-nothing import.
//!
//! It stops at the first file that fails, with the server's error, and records each file that
//! landed in `PATH/.portcullis-import-done` so `--resume` continues after the last one.

use indicatif::{ProgressBar, ProgressStyle};
use portcullis_domain::{Identity, Scope};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// A JSON file, or a directory whose *.json files are imported in name order.
    pub path: PathBuf,
    /// Import through a running server's API at this URL (e.g. http://127.0.0.1:9011).
    #[arg(long, env = "PORTCULLIS_URL", conflicts_with = "database")]
    pub url: Option<String>,
    /// The API key for --url (needs POST on /api/user/import).
    #[arg(
        long,
        env = "PORTCULLIS_API_KEY",
        requires = "url",
        allow_hyphen_values = true
    )]
    pub api_key: Option<String>,
    /// Import straight into this store (sqlite://FILE or postgres://...), no server needed.
    #[arg(long, env = "PORTCULLIS_DATABASE")]
    pub database: Option<String>,
    /// The tenant to import into (needed when there are several).
    #[arg(long)]
    pub tenant_id: Option<uuid::Uuid>,
    /// Skip the files a previous run imported (listed in PATH/.portcullis-import-done).
    #[arg(long)]
    pub resume: bool,
    /// Do not draw a progress bar (for logs).
    #[arg(long)]
    pub quiet: bool,
}

/// Where the users go.
enum Target {
    Api {
        http: reqwest::Client,
        url: String,
        key: String,
        tenant: Option<uuid::Uuid>,
    },
    Store {
        identity: Identity,
        scope: Scope,
    },
}

impl Target {
    /// Imports one file's body; the error says what the server or the store answered.
    async fn import(&self, body: Vec<u8>) -> Result<(), String> {
        match self {
            Target::Api {
                http,
                url,
                key,
                tenant,
            } => {
                // A node that holds all the imports it can answers 429 or 503 with Retry-After:
                // the file is sent again after that long, as many times as it takes within
                // `BUSY_TRIES`.
                let mut tries = 0;
                loop {
                    let mut req = http
                        .post(format!("{}/api/user/import", url.trim_end_matches('/')))
                        .header("Authorization", key)
                        .header("Content-Type", "application/json")
                        .body(body.clone());
                    if let Some(t) = tenant {
                        req = req.header("X-FusionAuth-TenantId", t.to_string());
                    }
                    let res = req
                        .send()
                        .await
                        .map_err(|e| format!("the server did not answer: {e}"))?;
                    let status = res.status();
                    if status.is_success() {
                        return Ok(());
                    }
                    tries += 1;
                    if let Some(wait) = retry_after(&res).filter(|_| tries < BUSY_TRIES) {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    let text = res.text().await.unwrap_or_default();
                    return Err(format!("the server answered {status}: {text}"));
                }
            }
            Target::Store { identity, scope } => identity
                .import_json(*scope, body.into())
                .await
                .map(|_| ())
                .map_err(|e| match e {
                    portcullis_domain::Error::Invalid(errors) => {
                        serde_json::to_string_pretty(&errors).unwrap_or_default()
                    }
                    other => other.to_string(),
                }),
        }
    }
}

/// How many times one file is sent to a server that answers it is busy.
const BUSY_TRIES: u32 = 100;

/// How long a busy server asks to wait (429 or 503 with `Retry-After` in seconds), at most a
/// minute; `None` for any other answer.
fn retry_after(res: &reqwest::Response) -> Option<std::time::Duration> {
    let busy = matches!(
        res.status(),
        reqwest::StatusCode::TOO_MANY_REQUESTS | reqwest::StatusCode::SERVICE_UNAVAILABLE
    );
    let secs: u64 = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    busy.then(|| std::time::Duration::from_secs(secs.clamp(1, 60)))
}

/// The files to import, in name order.
fn files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(format!("{} holds no .json files", path.display()));
    }
    Ok(out)
}

fn done_file(path: &Path) -> PathBuf {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    dir.join(".portcullis-import-done")
}

/// Counts a file's users without building them.
fn count_users(bytes: &[u8]) -> Result<usize, String> {
    #[derive(Deserialize)]
    struct Count {
        #[serde(default)]
        users: Vec<IgnoredAny>,
    }
    serde_json::from_slice::<Count>(bytes)
        .map(|c| c.users.len())
        .map_err(|e| format!("not a valid import request: {e}"))
}

pub async fn run(args: ImportArgs) -> Result<(), String> {
    let target = match (&args.url, &args.database) {
        (Some(url), _) => Target::Api {
            http: reqwest::Client::new(),
            url: url.clone(),
            key: args
                .api_key
                .clone()
                .ok_or("--url needs --api-key (or PORTCULLIS_API_KEY)")?,
            tenant: args.tenant_id,
        },
        (None, Some(db)) => {
            let store = portcullis_store::SqlStore::connect(db)
                .await
                .map_err(|e| e.to_string())?;
            let identity = Identity::new(
                Arc::new(store),
                portcullis_hash::HashPool::for_this_machine(),
            );
            identity
                .ensure_defaults()
                .await
                .map_err(|e| e.to_string())?;
            Target::Store {
                identity,
                scope: Scope {
                    tenant: args.tenant_id,
                },
            }
        }
        (None, None) => {
            return Err("say where to import: --url URL --api-key KEY, or --database URL".into())
        }
    };

    let all = files(&args.path)?;
    let done_path = done_file(&args.path);
    let done: Vec<String> = if args.resume {
        std::fs::read_to_string(&done_path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    } else {
        let _ = std::fs::remove_file(&done_path);
        Vec::new()
    };
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let todo: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| !done.contains(&name(p)))
        .collect();
    if todo.is_empty() {
        println!(
            "Nothing to import: every file is listed in {}",
            done_path.display()
        );
        return Ok(());
    }

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} users  {per_sec}  ETA {eta}  {msg}")
            .expect("a valid template"),
    );
    let started = std::time::Instant::now();
    let mut total = 0usize;
    for (i, path) in todo.iter().enumerate() {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let n = count_users(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        bar.inc_length(n as u64);
        bar.set_message(format!("file {}/{}: {}", i + 1, todo.len(), name(path)));
        if let Err(e) = target.import(bytes).await {
            bar.abandon();
            return Err(format!(
                "{} was not imported (nothing from it was written): {e}\nFix it, then run again with --resume to continue from this file.",
                path.display()
            ));
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&done_path)
            .map_err(|e| format!("cannot record progress in {}: {e}", done_path.display()))?;
        writeln!(f, "{}", name(path)).map_err(|e| e.to_string())?;
        bar.inc(n as u64);
        total += n;
    }
    bar.finish();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "Imported {total} users from {} files in {secs:.1} s ({:.0} users/s)",
        todo.len(),
        total as f64 / secs.max(1e-9)
    );
    Ok(())
}
