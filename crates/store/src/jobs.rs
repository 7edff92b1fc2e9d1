//! Events and asynchronous import jobs on SQL (migration `0004_events_jobs.sql`).

use super::{backend, bind_all, db_err, Arg, SqlStore, SCOPED};
use portcullis_domain::{Errors, Event, ImportJob, JobState, Millis, Scope, StoreResult};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

const JOB_COLUMNS: &str = "id, tenant_id, state, file, users_total, users_created, users_updated, errors, insert_instant, start_instant, finish_instant";

fn uuid(row: &AnyRow, col: &str) -> StoreResult<Uuid> {
    let s: String = row.try_get(col).map_err(backend)?;
    Uuid::parse_str(&s).map_err(backend)
}

fn job_of(row: &AnyRow) -> StoreResult<ImportJob> {
    let state: String = row.try_get("state").map_err(backend)?;
    let errors: Option<String> = row.try_get("errors").map_err(backend)?;
    let errors: Option<Errors> = errors
        .map(|e| serde_json::from_str(&e))
        .transpose()
        .map_err(backend)?;
    let created: i64 = row.try_get("users_created").map_err(backend)?;
    let updated: i64 = row.try_get("users_updated").map_err(backend)?;
    let succeeded = state == "succeeded";
    Ok(ImportJob {
        id: uuid(row, "id")?,
        tenant_id: uuid(row, "tenant_id")?,
        state: JobState::parse(&state)
            .ok_or_else(|| backend(format!("unknown job state [{state}]")))?,
        file: row.try_get("file").map_err(backend)?,
        users_total: row
            .try_get::<Option<i64>, _>("users_total")
            .map_err(backend)?
            .map(|n| n as u64),
        users_done: if succeeded {
            (created + updated) as u64
        } else {
            0
        },
        users_created: created as u64,
        users_updated: updated as u64,
        errors,
        insert_instant: row.try_get("insert_instant").map_err(backend)?,
        start_instant: row.try_get("start_instant").map_err(backend)?,
        finish_instant: row.try_get("finish_instant").map_err(backend)?,
    })
}

impl SqlStore {
    pub(crate) async fn append(&self, events: &[Event]) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        super::bulk::insert_events(self.dialect, &mut tx, events).await?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn read_events(
        &self,
        tenant: Option<Uuid>,
        kind: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Event>> {
        let rows = bind_all(
            sqlx::query(
                "SELECT id, tenant_id, type, create_instant, body FROM events \
                 WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR type = $2) \
                 ORDER BY seq DESC LIMIT $3",
            ),
            &[
                Arg::Text(tenant.map(|t| t.to_string())),
                Arg::Text(kind.map(str::to_string)),
                Arg::Int(limit as i64),
            ],
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let tenant: Option<String> = row.try_get("tenant_id").map_err(backend)?;
                let body: String = row.try_get("body").map_err(backend)?;
                Ok(Event {
                    id: uuid(row, "id")?,
                    tenant_id: tenant.and_then(|t| Uuid::parse_str(&t).ok()),
                    kind: row.try_get("type").map_err(backend)?,
                    create_instant: row.try_get("create_instant").map_err(backend)?,
                    body: serde_json::from_str(&body).map_err(backend)?,
                })
            })
            .collect()
    }

    pub(crate) async fn insert_job(&self, job: &ImportJob, body: Option<&str>) -> StoreResult<()> {
        bind_all(
            sqlx::query(
                "INSERT INTO import_jobs (id, tenant_id, state, file, body, users_total, insert_instant) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            ),
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
        .execute(&self.writer)
        .await
        .map_err(db_err)
        .map(|_| ())
    }

    pub(crate) async fn job(&self, scope: Scope, id: Uuid) -> StoreResult<Option<ImportJob>> {
        let row = bind_all(
            sqlx::query(&format!(
                "SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = $1 AND {SCOPED}"
            )),
            &[
                Arg::Text(Some(id.to_string())),
                Arg::Text(scope.tenant.map(|t| t.to_string())),
            ],
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(job_of).transpose()
    }

    pub(crate) async fn claim_job(
        &self,
        now: Millis,
    ) -> StoreResult<Option<(ImportJob, Option<String>)>> {
        loop {
            let Some(row) = sqlx::query(
                "SELECT id FROM import_jobs WHERE state = 'queued' ORDER BY insert_instant, id LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            else {
                return Ok(None);
            };
            let id: String = row.try_get("id").map_err(backend)?;
            // Only one node's UPDATE finds the job still queued.
            let won = sqlx::query(
                "UPDATE import_jobs SET state = 'running', start_instant = $2 WHERE id = $1 AND state = 'queued'",
            )
            .bind(id.clone())
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(db_err)?
            .rows_affected()
                == 1;
            if !won {
                continue;
            }
            let row = sqlx::query(&format!(
                "SELECT {JOB_COLUMNS}, body FROM import_jobs WHERE id = $1"
            ))
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
            let body: Option<String> = row.try_get("body").map_err(backend)?;
            return Ok(Some((job_of(&row)?, body)));
        }
    }

    pub(crate) async fn finish_job(&self, job: &ImportJob) -> StoreResult<()> {
        bind_all(
            sqlx::query(
                "UPDATE import_jobs SET state = $2, users_total = $3, users_created = $4, users_updated = $5, \
                 errors = $6, finish_instant = $7, body = NULL WHERE id = $1",
            ),
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
        .execute(&self.writer)
        .await
        .map_err(db_err)
        .map(|_| ())
    }

    pub(crate) async fn requeue_jobs(&self) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE import_jobs SET state = 'queued', start_instant = NULL WHERE state = 'running'",
        )
        .execute(&self.writer)
        .await
        .map_err(db_err)?
        .rows_affected())
    }
}
