//! Events and asynchronous import jobs on SQL (migrations `0004_events_jobs.sql`, and
//! `0007_claims_cleanup.sql` for the nodes' claims on jobs).

use super::{backend, Arg, Dialect, Row, SqlStore, SCOPED};
use portcullis_domain::{Errors, Event, ImportJob, JobState, Millis, Scope, StoreResult};
use uuid::Uuid;

const JOB_COLUMNS: &str = "id, tenant_id, state, file, users_total, users_created, users_updated, errors, insert_instant, start_instant, finish_instant";

fn uuid(row: &Row, col: &str) -> StoreResult<Uuid> {
    let s: String = row.get(col)?;
    Uuid::parse_str(&s).map_err(backend)
}

fn job_of(row: &Row) -> StoreResult<ImportJob> {
    let state: String = row.get("state")?;
    let errors: Option<String> = row.get("errors")?;
    let errors: Option<Errors> = errors
        .map(|e| serde_json::from_str(&e))
        .transpose()
        .map_err(backend)?;
    let created: i64 = row.get("users_created")?;
    let updated: i64 = row.get("users_updated")?;
    let succeeded = state == "succeeded";
    Ok(ImportJob {
        id: uuid(row, "id")?,
        tenant_id: uuid(row, "tenant_id")?,
        state: JobState::parse(&state)
            .ok_or_else(|| backend(format!("unknown job state [{state}]")))?,
        file: row.get("file")?,
        users_total: row.get::<Option<i64>>("users_total")?.map(|n| n as u64),
        users_done: if succeeded {
            (created + updated) as u64
        } else {
            0
        },
        users_created: created as u64,
        users_updated: updated as u64,
        errors,
        insert_instant: row.get("insert_instant")?,
        start_instant: row.get("start_instant")?,
        finish_instant: row.get("finish_instant")?,
    })
}

fn event_of(row: &Row) -> StoreResult<Event> {
    let tenant: Option<String> = row.get("tenant_id")?;
    let body: String = row.get("body")?;
    Ok(Event {
        id: uuid(row, "id")?,
        tenant_id: tenant.and_then(|t| Uuid::parse_str(&t).ok()),
        kind: row.get("type")?,
        create_instant: row.get("create_instant")?,
        body: serde_json::from_str(&body).map_err(backend)?,
        delivered: Vec::new(),
    })
}

impl SqlStore {
    pub(crate) async fn append(&self, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        super::bulk::insert_events(self.dialect, &mut tx, events).await?;
        tx.commit().await
    }

    pub(crate) async fn read_events(
        &self,
        tenant: Option<Uuid>,
        kind: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Event>> {
        let rows = self
            .db
            .read(
                "SELECT id, tenant_id, type, create_instant, body FROM events \
                 WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR type = $2) \
                 ORDER BY seq DESC LIMIT $3",
                &[
                    Arg::Text(tenant.map(|t| t.to_string())),
                    Arg::Text(kind.map(str::to_string)),
                    Arg::Int(limit as i64),
                ],
            )
            .await?;
        rows.iter().map(event_of).collect()
    }

    /// The user's latest sign-in events, newest first: an index range over the events' own
    /// `login_user_id`, however many events the outbox holds.
    pub(crate) async fn read_login_events(
        &self,
        user: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<Event>> {
        let rows = self
            .db
            .read(
                "SELECT id, tenant_id, type, create_instant, body FROM events \
                 WHERE login_user_id = $1 ORDER BY seq DESC LIMIT $2",
                &[Arg::Text(Some(user.to_string())), Arg::Int(limit as i64)],
            )
            .await?;
        rows.iter().map(event_of).collect()
    }

    pub(crate) async fn insert_job(&self, job: &ImportJob, body: Option<&str>) -> StoreResult<()> {
        self.exec(
                "INSERT INTO import_jobs (id, tenant_id, state, file, body, users_total, insert_instant) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                Arg::Text(Some(job.id.to_string())),
                Arg::Text(Some(job.tenant_id.to_string())),
                Arg::Text(Some(job.state.as_str().into())),
                Arg::Text(job.file.clone()),
                Arg::Text(body.map(str::to_string)),
                Arg::OptInt(job.users_total.map(|n| n as i64)),
                Arg::Int(job.insert_instant),
            ],
        )
        .await
        .map(|_| ())
    }

    pub(crate) async fn job(&self, scope: Scope, id: Uuid) -> StoreResult<Option<ImportJob>> {
        let rows = self
            .db
            .read(
                &format!("SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = $1 AND {SCOPED}"),
                &[
                    Arg::Text(Some(id.to_string())),
                    Arg::Text(scope.tenant.map(|t| t.to_string())),
                ],
            )
            .await?;
        rows.first().map(job_of).transpose()
    }

    pub(crate) async fn recent_jobs(
        &self,
        scope: Scope,
        limit: usize,
    ) -> StoreResult<Vec<ImportJob>> {
        let rows = self
            .db
            .read(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM import_jobs WHERE ($1 IS NULL OR tenant_id = $1) \
                     ORDER BY insert_instant DESC, id DESC LIMIT $2"
                ),
                &[
                    Arg::Text(scope.tenant.map(|t| t.to_string())),
                    Arg::from(i64::try_from(limit).unwrap_or(i64::MAX)),
                ],
            )
            .await?;
        rows.iter().map(job_of).collect()
    }

    pub(crate) async fn claim_job(
        &self,
        node: &str,
        now: Millis,
        until: Millis,
    ) -> StoreResult<Option<(ImportJob, Option<String>)>> {
        // One statement picks and marks the job, so two nodes cannot take the same one. On
        // PostgreSQL the pick locks its row and skips rows another node's pick has locked, so
        // nodes asking at once get different jobs instead of waiting on one; SQLite runs one
        // writer at a time.
        let skip_locked = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE import_jobs SET state = 'running', start_instant = $1, claimed_by = $2, \
             claimed_until = $3 \
             WHERE state = 'queued' AND id = (SELECT id FROM import_jobs WHERE state = 'queued' \
             ORDER BY insert_instant, id LIMIT 1{skip_locked}) \
             RETURNING {JOB_COLUMNS}, body"
        );
        let rows = self
            .db
            .write_returning(&sql, args![now, node.to_string(), until])
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let body: Option<String> = row.get("body")?;
        Ok(Some((job_of(row)?, body)))
    }

    pub(crate) async fn renew_job(&self, id: Uuid, node: &str, until: Millis) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE import_jobs SET claimed_until = $3 \
                 WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
                args![id.to_string(), node.to_string(), until],
            )
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn finish_job(&self, job: &ImportJob, node: &str) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE import_jobs SET state = $2, users_total = $3, users_created = $4, \
                 users_updated = $5, errors = $6, finish_instant = $7, body = NULL, \
                 claimed_until = NULL \
                 WHERE id = $1 AND claimed_by = $8 AND state = 'running'",
                &[
                    Arg::Text(Some(job.id.to_string())),
                    Arg::Text(Some(job.state.as_str().into())),
                    Arg::OptInt(job.users_total.map(|n| n as i64)),
                    Arg::Int(job.users_created as i64),
                    Arg::Int(job.users_updated as i64),
                    Arg::Text(job.errors.as_ref().map(super::json)),
                    Arg::OptInt(job.finish_instant),
                    Arg::Text(Some(node.to_string())),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn release_job(&self, id: Uuid, node: &str) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE import_jobs SET state = 'queued', start_instant = NULL, \
                 claimed_by = NULL, claimed_until = NULL \
                 WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
                args![id.to_string(), node.to_string()],
            )
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn requeue_jobs(&self, now: Millis) -> StoreResult<u64> {
        // A job running without a claim is one a node started before claims existed.
        self.exec(
            "UPDATE import_jobs SET state = 'queued', start_instant = NULL, claimed_by = NULL, \
             claimed_until = NULL \
             WHERE state = 'running' AND (claimed_until IS NULL OR claimed_until < $1)",
            args![now],
        )
        .await
    }
}
