//! `POST /api/user/import`: the big-bang migration's bulk load, one transaction per request; its
//! asynchronous form, import jobs (`/api/user/import/job`); and `DELETE /api/user/bulk`.

use super::wrap;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, uuid, Caller, ImportJson, PathId, QueryParams, RawBody};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use portcullis_domain::{BulkDeleteRequest, Errors, JobInput};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// Imports every user of the request or none: validation (with indexed field errors), hashing of
/// plaintext passwords on the pool, then one transaction. Success is a 200 with an empty body, as
/// FusionAuth answers: its documented curl loop compares the body and status code to `200`.
/// With `upsert` (ours) the answer counts them: `{"usersCreated": n, "usersUpdated": m}`.
///
/// The body is read as a stream within the node's import budget ([`ImportJson`]): a request the
/// node cannot hold now is a 503 with `Retry-After`.
pub async fn import(
    State(s): State<AppState>,
    c: Caller,
    ImportJson { body, share }: ImportJson,
) -> ApiResult<Response> {
    let summary = s.identity.import_json(c.scope, body).await;
    drop(share);
    let summary = summary?;
    Ok(if summary.upsert {
        Json(summary).into_response()
    } else {
        StatusCode::OK.into_response()
    })
}

/// What tells a file job from a body job.
#[derive(Deserialize)]
struct JobProbe {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    users: Option<serde::de::IgnoredAny>,
}

fn bad_file(message: String) -> ApiError {
    ApiError::bad_request(Errors::default().field("file", "[invalid]file", message))
}

/// The file a job may read: an absolute path to a file inside the configured import directory,
/// after symbolic links and `..` are resolved. One answer for missing and forbidden files, so the
/// endpoint tells nothing about files elsewhere on the server.
pub(crate) fn allowed_file(
    dir: Option<&std::path::Path>,
    path: &str,
) -> Result<std::path::PathBuf, String> {
    let Some(dir) = dir else {
        return Err("This server reads no job files: start it with --import-dir (PORTCULLIS_IMPORT_DIR) naming the directory they are in, or send the users in the body.".into());
    };
    let p = std::path::Path::new(path);
    let outside = || {
        format!("[{path}] is not a readable file inside the import directory [{}]: give an absolute path to a file in it.", dir.display())
    };
    if !p.is_absolute() {
        return Err(outside());
    }
    let (Ok(dir), Ok(file)) = (std::fs::canonicalize(dir), std::fs::canonicalize(p)) else {
        return Err(outside());
    };
    if file.starts_with(&dir) && file.is_file() {
        Ok(file)
    } else {
        Err(outside())
    }
}

/// Queues an import job: the import's body (stored until the job runs), or `{"file": "/path"}`
/// naming a file in the server's import directory. Answers 202 with the queued job.
pub async fn queue_job(
    State(s): State<AppState>,
    c: Caller,
    RawBody(bytes): RawBody,
) -> ApiResult<Response> {
    let probe: JobProbe = parse_json(&bytes)?;
    let job = match probe.file {
        Some(path) => {
            if probe.users.is_some() {
                return Err(bad_file(
                    "Give the users in [users] or a [file] to read them from, not both.".into(),
                ));
            }
            let file = allowed_file(s.config.import_dir.as_deref(), &path).map_err(bad_file)?;
            s.identity
                .queue_import_job(c.scope, JobInput::File(file.to_string_lossy().into_owned()))
                .await?
        }
        None => {
            // The body parsed as JSON, so it is UTF-8.
            let text = String::from_utf8_lossy(&bytes).into_owned();
            drop(bytes);
            s.identity
                .queue_import_job(c.scope, JobInput::Body(text))
                .await?
        }
    };
    s.wake_import_jobs();
    Ok((StatusCode::ACCEPTED, wrap("job", job)).into_response())
}

/// `GET /api/user/import/job/{jobId}`: the job's state, counts and, when it failed, the errors
/// the synchronous import would have answered.
pub async fn get_job(
    State(s): State<AppState>,
    c: Caller,
    PathId(id): PathId<Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(wrap("job", s.identity.import_job(c.scope, id).await?))
}

fn flag(name: &str, v: &str) -> ApiResult<bool> {
    v.parse().map_err(|_| {
        ApiError::bad_request(Errors::default().field(
            name,
            &format!("[invalid]{name}"),
            format!("[{v}] is not true or false."),
        ))
    })
}

/// `DELETE /api/user/bulk?queryString=...&userId=...&dryRun=&hardDelete=true`: FusionAuth's
/// bulk delete, hard delete only. Without `hardDelete=true` (FusionAuth would then deactivate)
/// it is refused, so a script that means to deactivate never deletes; `dryRun=true` only counts.
pub async fn bulk_delete(
    State(s): State<AppState>,
    c: Caller,
    QueryParams(pairs): QueryParams<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let mut req = BulkDeleteRequest::default();
    let mut hard = false;
    for (k, v) in pairs {
        match k.as_str() {
            "queryString" => req.query_string = Some(v),
            "userId" | "userIds" => {
                for one in v.split(',').filter(|x| !x.is_empty()) {
                    req.user_ids.push(uuid(one, "userId")?);
                }
            }
            "dryRun" => req.dry_run = flag("dryRun", &v)?,
            "hardDelete" => hard = flag("hardDelete", &v)?,
            _ => {}
        }
    }
    if !hard && !req.dry_run {
        return Err(ApiError::bad_request(Errors::default().field(
            "hardDelete",
            "[missing]hardDelete",
            "Bulk delete removes users for good: send hardDelete=true (deactivating in bulk is not supported), or dryRun=true to count them first.",
        )));
    }
    let outcome = s.identity.bulk_delete_users(c.scope, req).await?;
    Ok(Json(
        serde_json::to_value(outcome).expect("answers serialize"),
    ))
}
