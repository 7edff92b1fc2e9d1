//! Asynchronous import jobs (ours, MISSION §5): `POST /api/user/import/job` queues one import
//! request and answers at once; a runner takes queued jobs one at a time and runs each through
//! [`Identity::import_users`], all or nothing like the synchronous import, recording the same
//! counts or the same `fieldErrors`/`generalErrors` the synchronous import would have answered.
//!
//! A job is a row: a body job stores its request until it ends (then the body is dropped); a file
//! job stores only the path of a file on the server. So jobs survive a restart: on start-up jobs
//! left `running` go back to `queued` and run again from scratch — the import is one transaction,
//! so an interrupted job wrote nothing and there is nothing half-done to resume. (With several
//! nodes on one database, a node that starts also requeues a job another live node is running;
//! the second run then fails on duplicates and nothing is written twice, but the job's recorded
//! state is the last run's. Owner and heartbeat columns would tell the two cases apart.)
//!
//! Plaintext passwords are refused in a body job: its body would sit in the database until the
//! job runs, and no plaintext password is ever stored. Send hashes (`encryptionScheme`), use the
//! synchronous import, or a file job (the file is already on the server).

use crate::identity::{Identity, Result};
use crate::model::*;
use crate::{Error, Errors, ImportJob, ImportRequest, JobState, Scope};
use std::future::Future;
use uuid::Uuid;

/// What a job imports.
pub enum JobInput<'a> {
    /// The import request, parsed (to check it now) and as the text to store.
    Body {
        request: &'a ImportRequest,
        text: String,
    },
    /// An absolute path on the server, already checked to be in the allowed directory.
    File(String),
}

impl Identity {
    /// Queues an import job in the scope's tenant.
    pub async fn queue_import_job(&self, scope: Scope, input: JobInput<'_>) -> Result<ImportJob> {
        let tenant = self.resolve_tenant(scope, None).await?;
        let mut job = ImportJob {
            id: crate::new_id(),
            tenant_id: tenant,
            state: JobState::Queued,
            file: None,
            users_total: None,
            users_done: 0,
            users_created: 0,
            users_updated: 0,
            errors: None,
            insert_instant: now_millis(),
            start_instant: None,
            finish_instant: None,
        };
        let body = match input {
            JobInput::Body { request, text } => {
                if request.users.is_empty() {
                    return Err(Error::field(
                        "users",
                        "[missing]users",
                        "The request has no users to import: give at least one in [users].",
                    ));
                }
                let mut errors = Errors::default();
                for (i, u) in request.users.iter().enumerate() {
                    if u.user.password.is_some() && u.encryption_scheme.is_none() {
                        errors.add_field(
                            &format!("users[{i}].password"),
                            "[plaintext]users.password",
                            format!("users[{i}]: a job's body is stored until the job runs, and plaintext passwords are never stored. Send the hash with its encryptionScheme, import these users with POST /api/user/import, or queue a file job."),
                        );
                    }
                }
                errors.into_result()?;
                job.users_total = Some(request.users.len() as u64);
                Some(text)
            }
            JobInput::File(path) => {
                job.file = Some(path);
                None
            }
        };
        self.store()
            .insert_import_job(&job, body.as_deref())
            .await?;
        Ok(job)
    }

    pub async fn import_job(&self, scope: Scope, id: Uuid) -> Result<ImportJob> {
        self.store()
            .import_job(scope, id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Puts jobs that a stopped process left running back in the queue (call once at start-up,
    /// before the runner starts). They run again from the start: each wrote nothing.
    pub async fn requeue_import_jobs(&self) -> Result<u64> {
        Ok(self.store().requeue_import_jobs().await?)
    }

    /// Runs the oldest queued job, if there is one, to its end; answers whether one ran.
    /// `read_file` reads a file job's input (the domain does no I/O of its own).
    pub async fn run_next_import_job<F, Fut>(&self, read_file: F) -> Result<bool>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = std::result::Result<Vec<u8>, String>>,
    {
        let Some((mut job, body)) = self.store().claim_import_job(now_millis()).await? else {
            return Ok(false);
        };
        tracing::info!(job = %job.id, "import job started");
        let input = match (job.file.clone(), body) {
            (Some(path), _) => read_file(path.clone()).await.map_err(|e| {
                Error::general(
                    "[FileUnreadable]",
                    format!("The job's file [{path}] cannot be read: {e}. Put the file back (or queue a new job) and try again."),
                )
            }),
            (None, Some(text)) => Ok(text.into_bytes()),
            (None, None) => Err(Error::general(
                "[JobBodyMissing]",
                "The job's request body is no longer stored: queue the import again.",
            )),
        };
        let outcome = match input {
            Ok(bytes) => match serde_json::from_slice::<ImportRequest>(&bytes) {
                Ok(req) => {
                    job.users_total = Some(req.users.len() as u64);
                    self.import_users(Scope::tenant(job.tenant_id), req).await
                }
                Err(e) => Err(Error::general(
                    "[invalidJSON]",
                    format!("The job's input is not an import request: {e}."),
                )),
            },
            Err(e) => Err(e),
        };
        match outcome {
            Ok(summary) => {
                job.state = JobState::Succeeded;
                job.users_created = summary.users_created as u64;
                job.users_updated = summary.users_updated as u64;
                job.users_done = job.users_created + job.users_updated;
            }
            Err(e) => {
                job.state = JobState::Failed;
                job.errors = Some(match e {
                    Error::Invalid(errors) => errors,
                    Error::Store(m) => {
                        tracing::error!(job = %job.id, error = %m, "import job failed in the store");
                        Errors::default().general(
                            "[InternalError]",
                            "The import failed in the database; nothing was imported. See the server log.",
                        )
                    }
                    other => Errors::default().general("[ImportJobFailed]", other.to_string()),
                });
            }
        }
        job.finish_instant = Some(now_millis());
        tracing::info!(job = %job.id, state = job.state.as_str(), "import job ended");
        self.store().finish_import_job(&job).await?;
        Ok(true)
    }
}
