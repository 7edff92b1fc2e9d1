//! Asynchronous import jobs (ours, beside FusionAuth's Import API): `POST /api/user/import/job` queues one import
//! request and answers at once; a worker (`portcullis-workers`) takes queued jobs one at a time
//! and runs each through [`Identity::import_users`], all or nothing like the synchronous import,
//! recording the same counts or the same `fieldErrors`/`generalErrors` the synchronous import
//! would have answered.
//!
//! A job is a row: a body job stores its request until it ends (then the body is dropped); a file
//! job stores only the path of a file on the server. So jobs survive a restart.
//!
//! Several nodes share one queue. A node takes a job with a claim: its name and the instant the
//! claim ends (`claimed_by`, `claimed_until`), renewed while the job runs. Only one node's claim
//! succeeds, and only the node holding the claim records the job's end — a successful import
//! in its own transaction, so a job's users are never stored without its
//! end. A job whose claim has
//! ended was left by a node that stopped (a crash, or a shutdown that ran out of time) and goes
//! back to the queue to run again from scratch — the import is one transaction, so an
//! interrupted job wrote nothing and there is nothing half-done to resume. A job another live
//! node is running keeps a claim in the future and is left alone. Claims compare the nodes'
//! clocks, so nodes keep their clocks in step (NTP) to well within [`CLAIM_MILLIS`] minus the
//! renewal interval.
//!
//! Plaintext passwords are refused in a body job: its body would sit in the database until the
//! job runs, and no plaintext password is ever stored. Send hashes (`encryptionScheme`), use the
//! synchronous import, or a file job (the file is already on the server).

use crate::identity::{Identity, Result};
use crate::model::*;
use crate::{Error, Errors, ImportJob, JobState, Scope};
use std::future::Future;
use uuid::Uuid;

/// What a job imports.
pub enum JobInput {
    /// The import request's JSON text, checked now and stored until the job runs.
    Body(String),
    /// An absolute path on the server, already checked to be in the allowed directory.
    File(String),
}

impl Identity {
    /// Queues an import job in the scope's tenant.
    pub async fn queue_import_job(&self, scope: Scope, input: JobInput) -> Result<ImportJob> {
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
            JobInput::Body(text) => {
                // Read as a stream, one user at a time: the text is all this keeps.
                let flags = super::stream::flags_of_text(&text).map_err(super::invalid_json)?;
                if flags.users == 0 {
                    return Err(Error::field(
                        "users",
                        "[missing]users",
                        "The request has no users to import: give at least one in [users].",
                    ));
                }
                let mut errors = Errors::default();
                super::stream::users_of_text(&text, &mut |i, u| {
                    if u.user.password.is_some() && u.encryption_scheme.is_none() {
                        errors.add_field(
                            &format!("users[{i}].password"),
                            "[plaintext]users.password",
                            format!("users[{i}]: a job's body is stored until the job runs, and plaintext passwords are never stored. Send the hash with its encryptionScheme, import these users with POST /api/user/import, or queue a file job."),
                        );
                    }
                })
                .map_err(super::invalid_json)?;
                errors.into_result()?;
                job.users_total = Some(flags.users as u64);
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

    /// The `limit` newest import jobs of the scope, newest first, with their progress.
    pub async fn recent_import_jobs(&self, scope: Scope, limit: usize) -> Result<Vec<ImportJob>> {
        Ok(self.store().recent_import_jobs(scope, limit).await?)
    }

    /// Puts back in the queue the running jobs whose claim has ended: their node stopped
    /// without finishing them. They run again from the start: each wrote nothing.
    pub async fn requeue_abandoned_import_jobs(&self) -> Result<u64> {
        Ok(self.store().requeue_import_jobs(now_millis()).await?)
    }

    /// Takes the oldest queued job for `node`, claimed for [`CLAIM_MILLIS`]; `None` when the
    /// queue is empty. Of several nodes asking at once, each gets a different job.
    pub async fn claim_import_job(&self, node: &str) -> Result<Option<ClaimedJob>> {
        let now = now_millis();
        Ok(self
            .store()
            .claim_import_job(node, now, now.saturating_add(CLAIM_MILLIS))
            .await?
            .map(|(job, body)| ClaimedJob { job, body }))
    }

    /// Extends `node`'s claim on a running job by [`CLAIM_MILLIS`] from now; false when the node
    /// no longer holds it (its claim ended and another node took the job).
    pub async fn renew_import_job_claim(&self, id: Uuid, node: &str) -> Result<bool> {
        let until = now_millis().saturating_add(CLAIM_MILLIS);
        Ok(self.store().renew_import_job(id, node, until).await?)
    }

    /// Puts a job `node` holds back in the queue, unfinished (a shutdown that cannot wait for
    /// it); its import, stopped, wrote nothing. False when the node no longer holds it.
    pub async fn release_import_job(&self, id: Uuid, node: &str) -> Result<bool> {
        Ok(self.store().release_import_job(id, node).await?)
    }

    /// Runs a job `node` has claimed to its end and records the end (while the node still
    /// holds the claim: a successful import records it in its own transaction); answers the state it ended in, or `None` when the claim had ended
    /// meanwhile and nothing is recorded. `read_file` reads a file job's input (the domain
    /// does no I/O of its own).
    pub async fn run_import_job<F, Fut>(
        &self,
        claimed: ClaimedJob,
        node: &str,
        read_file: F,
    ) -> Result<Option<JobState>>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = std::result::Result<Vec<u8>, String>>,
    {
        let ClaimedJob { mut job, body } = claimed;
        tracing::info!(job = %job.id, node, "import job started");
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
            Ok(bytes) => {
                let body = super::ImportBody::from(bytes);
                // The job waits for its share of the node's import budget: the worker runs one
                // job at a time, so waiting holds nothing up but this node's queue.
                let _share = self.import_budget().wait_for(body.len()).await;
                if let Ok(flags) = super::stream::flags(&body) {
                    job.users_total = Some(flags.users as u64);
                }
                let claim = JobClaim {
                    id: job.id,
                    node: node.to_string(),
                };
                self.import_users_for(
                    Scope::tenant(job.tenant_id),
                    super::Input::Json(body),
                    Some(&claim),
                    &|e| {
                        Error::general(
                            "[invalidJSON]",
                            format!("The job's input is not an import request: {e}."),
                        )
                    },
                )
                .await
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(summary) => {
                // The import's transaction recorded the job's end with its users.
                tracing::info!(
                    job = %job.id,
                    state = JobState::Succeeded.as_str(),
                    users_created = summary.users_created,
                    users_updated = summary.users_updated,
                    "import job ended"
                );
                return Ok(Some(JobState::Succeeded));
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
        if !self.store().finish_import_job(&job, node).await? {
            // Its claim ended while it ran (the renewals stalled) and another node took it:
            // that node's run is the one recorded.
            tracing::warn!(job = %job.id, node, "import job ended after its claim ended; its end is not recorded");
            return Ok(None);
        }
        tracing::info!(job = %job.id, state = job.state.as_str(), "import job ended");
        Ok(Some(job.state))
    }
}

/// How long a claim on an import job lasts unless renewed: the time a node that stops without
/// finishing its job (a crash) keeps the job from the others. Its worker renews it well before
/// it ends, so a job that runs for hours keeps its claim.
pub const CLAIM_MILLIS: Millis = 20_000;

/// A node's claim on a running job, handed to the job's import so that the store records the
/// job's end in the import's own transaction, only while the node holds the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClaim {
    pub id: Uuid,
    pub node: String,
}

/// A job taken from the queue by [`Identity::claim_import_job`], with its stored body.
pub struct ClaimedJob {
    job: ImportJob,
    body: Option<String>,
}

impl ClaimedJob {
    pub fn id(&self) -> Uuid {
        self.job.id
    }
}
