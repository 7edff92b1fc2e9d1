//! Events and asynchronous import jobs on SQL (migration `0004_events_jobs.sql`).

use super::{backend, Arg, Row, SqlStore, SCOPED};
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
        rows.iter()
            .map(|row| {
                let tenant: Option<String> = row.get("tenant_id")?;
                let body: String = row.get("body")?;
                Ok(Event {
                    id: uuid(row, "id")?,
                    tenant_id: tenant.and_then(|t| Uuid::parse_str(&t).ok()),
                    kind: row.get("type")?,
                    create_instant: row.get("create_instant")?,
                    body: serde_json::from_str(&body).map_err(backend)?,
                })
            })
            .collect()
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

    pub(crate) async fn claim_job(
        &self,
        now: Millis,
    ) -> StoreResult<Option<(ImportJob, Option<String>)>> {
        loop {
            let rows = self.db.read(
                "SELECT id FROM import_jobs WHERE state = 'queued' ORDER BY insert_instant, id LIMIT 1",
                &[],
            )
            .await?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let id: String = row.get("id")?;
            // Only one node's UPDATE finds the job still queued.
            let won = self.exec(
                "UPDATE import_jobs SET state = 'running', start_instant = $2 WHERE id = $1 AND state = 'queued'",
                args![id.clone(), now],
            )
            .await?
                == 1;
            if !won {
                continue;
            }
            let rows = self
                .db
                .read(
                    &format!("SELECT {JOB_COLUMNS}, body FROM import_jobs WHERE id = $1"),
                    args![id],
                )
                .await?;
            let row = rows
                .first()
                .ok_or_else(|| backend("a claimed job vanished"))?;
            let body: Option<String> = row.get("body")?;
            return Ok(Some((job_of(row)?, body)));
        }
    }

    pub(crate) async fn finish_job(&self, job: &ImportJob) -> StoreResult<()> {
        self.exec(
                "UPDATE import_jobs SET state = $2, users_total = $3, users_created = $4, users_updated = $5, \
                 errors = $6, finish_instant = $7, body = NULL WHERE id = $1",
            &[
                Arg::Text(Some(job.id.to_string())),
                Arg::Text(Some(job.state.as_str().into())),
                Arg::OptInt(job.users_total.map(|n| n as i64)),
                Arg::Int(job.users_created as i64),
                Arg::Int(job.users_updated as i64),
                Arg::Text(job.errors.as_ref().map(super::json)),
                Arg::OptInt(job.finish_instant),
            ],
        )
        .await
        .map(|_| ())
    }

    pub(crate) async fn requeue_jobs(&self) -> StoreResult<u64> {
        self.exec(
            "UPDATE import_jobs SET state = 'queued', start_instant = NULL WHERE state = 'running'",
            &[],
        )
        .await
    }
}
