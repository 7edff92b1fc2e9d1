//! The domain's [`WebhookStore`] on SQL (`0011_webhooks.sql`): webhooks, the fan-out of the
//! `events` outbox into one attempt row per event and webhook, and the nodes' claims on
//! attempts (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite the one writer, and a claim's
//! row in `webhook_claims`), so two nodes never make the same attempt, and the attempts'
//! outcomes, many in one transaction (the worker records them in batches).

use super::{backend, id_of, json, Arg, Dialect, Row, SqlStore};
use crate::db::{Col, Db};
use crate::lite::{self, Lite, Written};
use portcullis_domain::webhooks::{
    AttemptEnd, AttemptQuery, AttemptStatus, ClaimedAttempt, EndedAttempt, EventLog, OutboxStats,
    WebhookAttempt,
};
use portcullis_domain::{Millis, StoreResult, Webhook, WebhookStore};
use uuid::Uuid;

const ATTEMPT_COLUMNS: &str = "id, event_id, webhook_id, tenant_id, event_type, status, attempts, \
     next_attempt_at, window_start, last_status, last_error, event_instant, last_attempt_instant, \
     delivered_instant";

/// Claims due attempts on PostgreSQL. The choice is an array built once, before the update: as
/// `id IN (subquery)` PostgreSQL may run the subquery again per row it updates, and take more
/// rows than the limit; as a join, the plan cached for any limit hashes the whole table, every
/// attempt ever made. `= ANY` finds the chosen rows on the primary key. `FOR UPDATE` rechecks
/// each chosen row as it locks it. It is planned at each claim
/// ([`Db::write_returning_planned`](crate::db::Db::write_returning_planned)): a plan cached
/// while the table held a handful of attempts finds the chosen ones by scanning every row
/// (163 ms a claim on 20,000 attempts).
///
/// The claim writes its end to `claim_until`, which no index holds, and skips attempts whose
/// claim has not ended: the row's new version stays on its page (a HOT update,
/// `0018_webhook_claim_in_place.sql`) and no index gets an entry. Claimed attempts stay in the
/// due index, ahead of the rest, until their ends take them out; the claim reads past them, a
/// few hundred at most per node.
const CLAIM_POSTGRES: &str = "UPDATE webhook_attempts SET claim_until = $1, claimed_by = $2, \
     last_attempt_instant = $3 \
     WHERE id = ANY(ARRAY(SELECT id FROM webhook_attempts WHERE webhook_id = $4 \
     AND status = 'pending' AND next_attempt_at <= $3 \
     AND (claim_until IS NULL OR claim_until <= $3) \
     ORDER BY next_attempt_at, id LIMIT $5 FOR UPDATE SKIP LOCKED)) \
     RETURNING id, event_id, event_type, attempts + 1 AS attempts, window_start, event_instant, \
     (SELECT body FROM events WHERE events.id = webhook_attempts.event_id) AS body";

/// Chooses the attempts a claim takes on SQLite: due, pending and not under a live claim (in
/// `webhook_claims`, `0018_webhook_claims.sql`), with the count each will have once made. The
/// one writer runs the choice and the claims' rows together: nothing to check again. Claimed
/// attempts stay in the due index, ahead of the rest; the claim skips them by their rowids, a
/// few hundred at most, where moving each within the index would cost two index writes.
const CLAIM_SQLITE: &str = "SELECT a.rowid AS attempt, a.id, a.event_id, a.event_type, \
     a.attempts + 1 AS attempts, a.window_start, a.event_instant, \
     (SELECT body FROM events WHERE events.id = a.event_id) AS body \
     FROM webhook_attempts a WHERE a.webhook_id = $1 AND a.status = 'pending' \
     AND a.next_attempt_at <= $2 AND NOT EXISTS (SELECT 1 FROM webhook_claims c \
       WHERE c.attempt = a.rowid AND c.until_instant > $2) \
     ORDER BY a.next_attempt_at, a.rowid LIMIT $3";

/// Records one claim on SQLite, replacing an ended one of the same attempt.
const CLAIM_ROW_SQLITE: &str = "INSERT OR REPLACE INTO webhook_claims \
     (attempt, node, until_instant, attempts, claimed_instant) VALUES ($1, $2, $3, $4, $5)";

/// Records an end on SQLite, only while `node`'s claim of the attempt is the one the end is
/// of (no later claim replaced it). The row is found by its rowid; its id is checked too, as a
/// deleted attempt's rowid may be given to a new one. The attempt's last try is the claim's
/// instant.
const FINISH_SQLITE: &str = "UPDATE webhook_attempts SET status = $1, next_attempt_at = $2, \
     last_status = $3, last_error = $4, delivered_instant = $5, attempts = $6, \
     last_attempt_instant = (SELECT c.claimed_instant FROM webhook_claims c \
       WHERE c.attempt = $9), claimed_by = NULL \
     WHERE rowid = $9 AND id = $7 AND status = 'pending' AND EXISTS (SELECT 1 \
       FROM webhook_claims c WHERE c.attempt = $9 AND c.node = $8 AND c.attempts = $6)";

/// Removes the claim of an attempt whose end [`FINISH_SQLITE`] recorded.
const UNCLAIM_SQLITE: &str = "DELETE FROM webhook_claims WHERE attempt = $1";

/// The outbox's counts. `status <> 'succeeded'` is the condition of the index of open
/// attempts: written out, it lets the planner count on that index rather than on the table.
const OUTBOX_STATS: &str = "SELECT (SELECT COUNT(*) FROM events WHERE seq > \
       (SELECT seq FROM webhook_cursor WHERE name = 'events')) AS events_pending, \
     (SELECT COUNT(*) FROM webhook_attempts WHERE status <> 'succeeded' \
       AND status = 'pending') AS attempts_pending, \
     (SELECT COUNT(*) FROM webhook_attempts WHERE status <> 'succeeded' \
       AND status = 'failed') AS attempts_failed, \
     (SELECT MIN(event_instant) FROM webhook_attempts WHERE status <> 'succeeded' \
       AND status = 'pending') AS oldest";

/// Makes dead-lettered attempts due again, found on the index of open attempts (see
/// [`OUTBOX_STATS`]).
const RETRY_FAILED: &str = "UPDATE webhook_attempts SET status = 'pending', \
     next_attempt_at = $1, window_start = $1, claimed_by = NULL \
     WHERE status <> 'succeeded' AND status = 'failed' \
     AND ($2 IS NULL OR id = $2) AND ($3 IS NULL OR webhook_id = $3)";

/// Records a batch of ends on PostgreSQL in one statement, the batch one JSON parameter. The
/// rows are found by their ids alone. Every change of `status` clears `claimed_by`, so a claim
/// still held is an attempt still pending; a condition on `status` would let the planner start
/// from the status index, whose statistics say pending rows are few (they are, until a
/// backlog), and then match every end of the batch against every pending row.
const FINISH_POSTGRES: &str = "UPDATE webhook_attempts a SET status = v.status, \
     next_attempt_at = v.next, last_status = v.last_status, \
     last_error = v.error, delivered_instant = v.delivered, claimed_by = NULL, \
     claim_until = NULL, attempts = v.attempts \
     FROM jsonb_to_recordset($1::jsonb) AS v(i BIGINT, id TEXT, \
       attempts BIGINT, status TEXT, next BIGINT, last_status BIGINT, \
       error TEXT, delivered BIGINT) \
     WHERE a.id = v.id AND a.claimed_by = $2 AND a.attempts = v.attempts - 1 \
     RETURNING v.i";

fn uuid(row: &Row, col: &str) -> StoreResult<Uuid> {
    let s: String = row.get(col)?;
    Uuid::parse_str(&s).map_err(backend)
}

fn attempt_of(row: &Row) -> StoreResult<WebhookAttempt> {
    let status: String = row.get("status")?;
    let tenant: Option<String> = row.get("tenant_id")?;
    Ok(WebhookAttempt {
        id: uuid(row, "id")?,
        event_id: uuid(row, "event_id")?,
        webhook_id: uuid(row, "webhook_id")?,
        tenant_id: tenant.and_then(|t| Uuid::parse_str(&t).ok()),
        event_type: row.get("event_type")?,
        status: AttemptStatus::parse(&status)
            .ok_or_else(|| backend(format!("unknown attempt status [{status}]")))?,
        attempts: row.get("attempts")?,
        event_instant: row.get("event_instant")?,
        next_attempt_instant: row.get("next_attempt_at")?,
        last_attempt_instant: row.get("last_attempt_instant")?,
        delivered_instant: row.get("delivered_instant")?,
        last_status: row.get("last_status")?,
        last_error: row.get("last_error")?,
    })
}

fn event_log_of(row: &Row) -> StoreResult<EventLog> {
    Ok(EventLog {
        id: uuid(row, "id")?,
        insert_instant: row.get("insert_instant")?,
        kind: row.get("type")?,
        message: row.get("message")?,
    })
}

#[async_trait::async_trait]
impl WebhookStore for SqlStore {
    async fn insert_webhook(&self, w: &Webhook, secret: &str) -> StoreResult<()> {
        self.exec(
            "INSERT INTO webhooks (id, body, secret, insert_instant) VALUES ($1, $2, $3, $4)",
            args![
                id_of(w.id),
                json(w),
                secret.to_string(),
                w.insert_instant.unwrap_or(0)
            ],
        )
        .await
        .map(|_| ())
    }

    async fn webhook(&self, id: Uuid) -> StoreResult<Option<Webhook>> {
        self.one(
            "SELECT body FROM webhooks WHERE id = $1",
            args![id.to_string()],
        )
        .await
    }

    async fn webhook_secret(&self, id: Uuid) -> StoreResult<Option<String>> {
        let rows = self
            .db
            .read(
                "SELECT secret FROM webhooks WHERE id = $1",
                args![id.to_string()],
            )
            .await?;
        rows.first().map(|r| r.get("secret")).transpose()
    }

    async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        self.fetch_bodies("SELECT body FROM webhooks ORDER BY insert_instant, id", &[])
            .await
    }

    async fn update_webhook(&self, w: &Webhook) -> StoreResult<()> {
        self.exec(
            "UPDATE webhooks SET body = $2 WHERE id = $1",
            args![id_of(w.id), json(w)],
        )
        .await
        .map(|_| ())
    }

    async fn delete_webhook(&self, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let id = id.to_string();
        tx.write(
            "DELETE FROM webhook_attempts WHERE webhook_id = $1",
            args![id.clone()],
        )
        .await?;
        let n = tx
            .write("DELETE FROM webhooks WHERE id = $1", args![id])
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn fan_out_events(
        &self,
        now: Millis,
        limit: usize,
        gap_wait: Millis,
    ) -> StoreResult<usize> {
        let mut tx = self.db.begin().await?;
        // Taking the cursor's row first makes nodes fan out one at a time (PostgreSQL's row
        // lock; SQLite's one writer), so an event gets its attempts once.
        tx.write(
            "UPDATE webhook_cursor SET seq = seq WHERE name = 'events'",
            &[],
        )
        .await?;
        let cursor: i64 = match tx
            .read("SELECT seq FROM webhook_cursor WHERE name = 'events'", &[])
            .await?
            .first()
        {
            Some(r) => r.get("seq")?,
            None => return Ok(0),
        };
        let rows = tx
            .read(
                "SELECT seq, id, tenant_id, type, create_instant FROM events WHERE seq > $1 \
                 ORDER BY seq LIMIT $2",
                args![cursor, limit as i64],
            )
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let webhooks: Vec<Webhook> = tx
            .read("SELECT body FROM webhooks", &[])
            .await?
            .iter()
            .map(super::body)
            .collect::<StoreResult<_>>()?;
        let mut last = cursor;
        let mut moved = 0;
        // PostgreSQL's attempts go in one statement at the end (a statement each is a round
        // trip each); SQLite's one by one, in-process.
        let mut batch: Vec<serde_json::Value> = Vec::new();
        for row in &rows {
            let seq: i64 = row.get("seq")?;
            let created: i64 = row.get("create_instant")?;
            // A sequence number not yet visible is a transaction still committing, or one rolled
            // back: wait for it a while before reading past it, so no event is skipped.
            if seq != last + 1 && now - created < gap_wait {
                break;
            }
            let tenant: Option<String> = row.get("tenant_id")?;
            let kind: String = row.get("type")?;
            let tenant_id = tenant.as_deref().and_then(|t| Uuid::parse_str(t).ok());
            let event_id: String = row.get("id")?;
            for w in webhooks.iter().filter(|w| w.wants(&kind, tenant_id)) {
                if self.dialect == Dialect::Postgres {
                    batch.push(
                        serde_json::json!({"id": portcullis_domain::new_id().to_string(),
                        "event_id": event_id, "webhook_id": id_of(w.id), "tenant_id": tenant,
                        "event_type": kind, "event_instant": created}),
                    );
                    continue;
                }
                tx.write(
                    "INSERT INTO webhook_attempts (id, event_id, webhook_id, tenant_id, \
                     event_type, status, attempts, next_attempt_at, window_start, event_instant, \
                     insert_instant) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $7, $6) \
                     ON CONFLICT (event_id, webhook_id) DO NOTHING",
                    args![
                        portcullis_domain::new_id().to_string(),
                        event_id.clone(),
                        id_of(w.id),
                        tenant.clone(),
                        kind.clone(),
                        now,
                        created
                    ],
                )
                .await?;
            }
            last = seq;
            moved += 1;
        }
        if !batch.is_empty() {
            tx.write(
                "INSERT INTO webhook_attempts (id, event_id, webhook_id, tenant_id, \
                 event_type, status, attempts, next_attempt_at, window_start, event_instant, \
                 insert_instant) \
                 SELECT v.id, v.event_id, v.webhook_id, v.tenant_id, v.event_type, 'pending', 0, \
                 $2, $2, v.event_instant, $2 \
                 FROM jsonb_to_recordset($1::jsonb) AS v(id TEXT, event_id TEXT, \
                   webhook_id TEXT, tenant_id TEXT, event_type TEXT, event_instant BIGINT) \
                 ON CONFLICT (event_id, webhook_id) DO NOTHING",
                args![serde_json::Value::Array(batch).to_string(), now],
            )
            .await?;
        }
        if moved > 0 {
            tx.write(
                "UPDATE webhook_cursor SET seq = $1 WHERE name = 'events'",
                args![last],
            )
            .await?;
            tx.commit().await?;
        }
        Ok(moved)
    }

    async fn claim_attempts(
        &self,
        webhook: Uuid,
        node: &str,
        now: Millis,
        until: Millis,
        limit: usize,
    ) -> StoreResult<Vec<ClaimedAttempt>> {
        let rows = match &self.db {
            Db::Lite(lite) => claim_lite(lite, webhook, node, now, until, limit).await?,
            _ => {
                // The body comes back with the rows, in the same statement.
                self.db
                    .write_returning_planned(
                        CLAIM_POSTGRES,
                        args![
                            until,
                            node.to_string(),
                            now,
                            webhook.to_string(),
                            limit as i64
                        ],
                    )
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                let body: Option<String> = r.get("body")?;
                Ok(ClaimedAttempt {
                    id: uuid(r, "id")?,
                    event_id: uuid(r, "event_id")?,
                    webhook_id: webhook,
                    event_type: r.get("event_type")?,
                    attempts: r.get("attempts")?,
                    window_start: r.get("window_start")?,
                    event_instant: r.get("event_instant")?,
                    body: body.unwrap_or_default(),
                    row: match self.dialect {
                        Dialect::Sqlite => Some(r.get("attempt")?),
                        Dialect::Postgres => None,
                    },
                })
            })
            .collect()
    }

    async fn finish_attempts(&self, node: &str, ended: &[EndedAttempt]) -> StoreResult<Vec<bool>> {
        if ended.is_empty() {
            return Ok(Vec::new());
        }
        // Each end's new state: status, when it is next due, the receiver's status, the error,
        // when it was delivered.
        let state = |at: Millis, end: &AttemptEnd| match end {
            AttemptEnd::Delivered { status } => {
                ("succeeded", at, Some(*status as i64), None, Some(at))
            }
            AttemptEnd::Retry { at, status, error } => (
                "pending",
                *at,
                status.map(|s| s as i64),
                Some(error.clone()),
                None,
            ),
            AttemptEnd::Dead { status, error } => (
                "failed",
                at,
                status.map(|s| s as i64),
                Some(error.clone()),
                None,
            ),
        };
        let mut tx = self.db.begin().await?;
        let recorded = match self.dialect {
            // One statement for the whole batch: a statement per end is a round trip per end.
            Dialect::Postgres => {
                let rows: Vec<serde_json::Value> = ended
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let (status, next, last_status, error, delivered) = state(e.at, &e.end);
                        serde_json::json!({"i": i, "id": e.attempt.id.to_string(),
                            "attempts": e.attempt.attempts, "status": status, "next": next,
                            "last_status": last_status, "error": error, "delivered": delivered})
                    })
                    .collect();
                let done = tx
                    .read(
                        FINISH_POSTGRES,
                        args![serde_json::Value::Array(rows).to_string(), node.to_string()],
                    )
                    .await?;
                let mut recorded = vec![false; ended.len()];
                for r in &done {
                    let i: i64 = r.get("i")?;
                    if let Some(slot) = recorded.get_mut(i as usize) {
                        *slot = true;
                    }
                }
                recorded
            }
            // In-process statements: two per end cost no round trip.
            Dialect::Sqlite => {
                let mut recorded = Vec::with_capacity(ended.len());
                for e in ended {
                    let a = &e.attempt;
                    let (status, next, last_status, error, delivered) = state(e.at, &e.end);
                    let n = tx
                        .write(
                            FINISH_SQLITE,
                            &[
                                Arg::from(status.to_string()),
                                Arg::Int(next),
                                Arg::OptInt(last_status),
                                Arg::Text(error),
                                Arg::OptInt(delivered),
                                Arg::Int(a.attempts),
                                Arg::from(a.id.to_string()),
                                Arg::from(node.to_string()),
                                Arg::OptInt(a.row),
                            ],
                        )
                        .await?;
                    if n == 1 {
                        tx.write(UNCLAIM_SQLITE, &[Arg::OptInt(a.row)]).await?;
                    }
                    recorded.push(n == 1);
                }
                recorded
            }
        };
        // A dead letter is logged in the Event Log, in the same transaction.
        for (e, _) in ended.iter().zip(&recorded).filter(|(_, r)| **r) {
            let (AttemptEnd::Dead { error, .. }, a) = (&e.end, &e.attempt) else {
                continue;
            };
            tx.write(
                "INSERT INTO event_logs (id, insert_instant, type, message) \
                 VALUES ($1, $2, 'Error', $3)",
                args![
                    portcullis_domain::new_id().to_string(),
                    e.at,
                    format!(
                        "Webhook [{}] dead-lettered event [{}] of type [{}] after {} attempt(s): {error}",
                        a.webhook_id, a.event_id, a.event_type, a.attempts
                    )
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(recorded)
    }

    async fn attempt(&self, id: Uuid) -> StoreResult<Option<WebhookAttempt>> {
        let rows = self
            .db
            .read(
                &format!("SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE id = $1"),
                args![id.to_string()],
            )
            .await?;
        rows.first().map(attempt_of).transpose()
    }

    async fn attempts(&self, q: &AttemptQuery, limit: usize) -> StoreResult<Vec<WebhookAttempt>> {
        let rows = self
            .db
            .read(
                &format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts \
                     WHERE ($1 IS NULL OR webhook_id = $1) AND ($2 IS NULL OR event_type = $2) \
                     AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR event_id = $4) \
                     ORDER BY event_instant DESC, id DESC LIMIT $5"
                ),
                &[
                    Arg::Text(q.webhook_id.map(|w| w.to_string())),
                    Arg::Text(q.event_type.clone()),
                    Arg::Text(q.status.clone()),
                    Arg::Text(q.event_id.map(|e| e.to_string())),
                    Arg::Int(limit as i64),
                ],
            )
            .await?;
        rows.iter().map(attempt_of).collect()
    }

    async fn retry_attempts(
        &self,
        id: Option<Uuid>,
        webhook: Option<Uuid>,
        now: Millis,
    ) -> StoreResult<u64> {
        self.exec(
            RETRY_FAILED,
            &[
                Arg::Int(now),
                Arg::Text(id.map(|i| i.to_string())),
                Arg::Text(webhook.map(|w| w.to_string())),
            ],
        )
        .await
    }

    async fn event_logs(&self, kind: Option<&str>, limit: usize) -> StoreResult<Vec<EventLog>> {
        let rows = self
            .db
            .read(
                "SELECT id, insert_instant, type, message FROM event_logs \
                 WHERE ($1 IS NULL OR type = $1) ORDER BY insert_instant DESC, id DESC LIMIT $2",
                &[Arg::Text(kind.map(str::to_string)), Arg::Int(limit as i64)],
            )
            .await?;
        rows.iter().map(event_log_of).collect()
    }

    async fn event_log(&self, id: Uuid) -> StoreResult<Option<EventLog>> {
        let rows = self
            .db
            .read(
                "SELECT id, insert_instant, type, message FROM event_logs WHERE id = $1",
                args![id.to_string()],
            )
            .await?;
        rows.first().map(event_log_of).transpose()
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        let rows = self.db.read(OUTBOX_STATS, &[]).await?;
        let Some(r) = rows.first() else {
            return Ok(OutboxStats::default());
        };
        Ok(OutboxStats {
            events_pending: r.get("events_pending")?,
            attempts_pending: r.get("attempts_pending")?,
            attempts_failed: r.get("attempts_failed")?,
            oldest_pending: r.get("oldest")?,
        })
    }
}

/// A claim on SQLite in one turn of the writer: the choice ([`CLAIM_SQLITE`]) and a row in
/// `webhook_claims` per chosen attempt, in the same transaction.
async fn claim_lite(
    lite: &Lite,
    webhook: Uuid,
    node: &str,
    now: Millis,
    until: Millis,
    limit: usize,
) -> StoreResult<Vec<Row>> {
    let choose = args![webhook.to_string(), now, limit as i64].to_vec();
    let node = node.to_string();
    let written = lite
        .submit_call(move |conn| {
            let rows = lite::query(conn, CLAIM_SQLITE, &choose)?;
            for r in &rows {
                let int = |column| {
                    i64::of_lite(r.value(column)?)
                        .ok_or_else(|| backend(format!("a claimed attempt without {column}")))
                };
                let claim = [
                    Arg::Int(int("attempt")?),
                    Arg::from(node.clone()),
                    Arg::Int(until),
                    Arg::Int(int("attempts")?),
                    Arg::Int(now),
                ];
                lite::execute(conn, CLAIM_ROW_SQLITE, &claim)?;
            }
            Ok(Written {
                changed: vec![rows.len() as u64],
                rows,
            })
        })
        .await?;
    Ok(written.rows.into_iter().map(Row::Lite).collect())
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::TestDb;

    /// The plans PostgreSQL makes for a claim and a batch of ends when a backlog has built up
    /// since the table's statistics were taken (they said every attempt had succeeded), and for
    /// a claim once they know the backlog. None may read the whole table (every attempt ever
    /// made) nor match the batch against every pending row; all find their rows on the primary
    /// key.
    #[tokio::test]
    async fn claims_and_ends_find_their_rows_by_id_on_a_backlog_the_statistics_do_not_know() {
        let db = TestDb::postgres().await;
        let store = &db.store;
        let hook = Uuid::new_v4().to_string();
        let insert = |status: &str, n: u32, claimed: &str| {
            format!(
                "INSERT INTO webhook_attempts (id, event_id, webhook_id, event_type, status, \
                 attempts, next_attempt_at, window_start, claimed_by, event_instant, \
                 insert_instant) SELECT gen_random_uuid()::text, gen_random_uuid()::text, \
                 '{hook}', 'user.create', '{status}', 1, g, g, {claimed}, g, g \
                 FROM generate_series(1, {n}) g"
            )
        };
        db.execute(&insert("succeeded", 20_000, "NULL"))
            .await
            .unwrap();
        db.execute("ANALYZE webhook_attempts").await.unwrap();
        db.execute(&insert("pending", 5_000, "'n'")).await.unwrap();
        db.execute(&insert("pending", 25_000, "NULL"))
            .await
            .unwrap();

        let plan = |rows: Vec<Row>| {
            rows.iter()
                .map(|r| r.get::<String>("QUERY PLAN").unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let claim_args = args![
            10_000_i64,
            "m".to_string(),
            9_000_i64,
            hook.clone(),
            500_i64
        ];
        let explain_claim = format!("EXPLAIN {CLAIM_POSTGRES}");
        let mut tx = store.db.begin().await.unwrap();
        // The plan a cached statement ends up with, whatever its arguments.
        tx.write("SET LOCAL plan_cache_mode = force_generic_plan", &[])
            .await
            .unwrap();
        let claim = plan(tx.read(&explain_claim, claim_args).await.unwrap());
        let ids = tx
            .read(
                "SELECT id FROM webhook_attempts WHERE claimed_by = 'n' LIMIT 1000",
                &[],
            )
            .await
            .unwrap();
        let ends: Vec<serde_json::Value> = ids
            .iter()
            .enumerate()
            .map(|(i, r)| {
                serde_json::json!({"i": i, "id": r.get::<String>("id").unwrap(), "attempts": 1,
                    "status": "succeeded", "next": 1, "last_status": 204, "error": null,
                    "delivered": 1})
            })
            .collect();
        let finish = plan(
            tx.read(
                &format!("EXPLAIN {FINISH_POSTGRES}"),
                args![serde_json::Value::Array(ends).to_string(), "n".to_string()],
            )
            .await
            .unwrap(),
        );
        // And once the statistics know the backlog: a generic plan expects a claim of
        // thousands.
        tx.write("ANALYZE webhook_attempts", &[]).await.unwrap();
        let known = plan(tx.read(&explain_claim, claim_args).await.unwrap());
        // Ended before any assertion: an open transaction would hold the schema's drop.
        tx.commit().await.unwrap();
        assert!(!known.contains("Seq Scan"), "claim plan:\n{known}");
        assert!(!claim.contains("Seq Scan"), "claim plan:\n{claim}");
        assert!(
            claim.contains("webhook_attempts_pkey"),
            "claim plan:\n{claim}"
        );
        assert!(!finish.contains("Seq Scan"), "finish plan:\n{finish}");
        assert!(!finish.contains("status_ix"), "finish plan:\n{finish}");
        assert!(
            finish.contains("webhook_attempts_pkey"),
            "finish plan:\n{finish}"
        );
    }

    /// `n` pending attempts of webhook `hook`, due at 1 to `n`, written without the store.
    async fn pending_attempts(db: &TestDb, hook: Uuid, n: u32) {
        db.execute(&format!(
            "INSERT INTO webhook_attempts (id, event_id, webhook_id, event_type, status, \
             attempts, next_attempt_at, window_start, event_instant, insert_instant) \
             SELECT gen_random_uuid()::text, gen_random_uuid()::text, '{hook}', 'user.create', \
             'pending', 0, g, g, g, g FROM generate_series(1, {n}) g"
        ))
        .await
        .unwrap();
    }

    /// PostgreSQL's counters of `webhook_attempts` (`pg_stat_user_tables`), the first being
    /// `n_tup_upd`, once it counts at least `updates` (a connection publishes its counters once
    /// it has been idle a moment), or after 30 s.
    async fn updates_counted<const N: usize>(
        store: &SqlStore,
        updates: i64,
        columns: [&str; N],
    ) -> [i64; N] {
        let sql = format!(
            "SELECT {} FROM pg_stat_user_tables WHERE relid = 'webhook_attempts'::regclass",
            columns.join(", ")
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let rows = store.db.read(&sql, &[]).await.unwrap();
            let counts = columns.map(|c| rows[0].get::<i64>(c).unwrap());
            if counts[0] >= updates || std::time::Instant::now() > deadline {
                return counts;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// A claim made many times on an empty table (where a cached plan would settle on reading
    /// the whole table), then on thousands of attempts the statistics have not seen, still
    /// finds them on the primary key: PostgreSQL's own counters show no row of the table read by
    /// a sequential scan (those of the empty table read none).
    #[tokio::test]
    async fn a_claim_first_made_on_an_empty_table_does_not_scan_it_once_it_fills() {
        let db = TestDb::postgres().await;
        let store = &db.store;
        let hook = Uuid::new_v4();
        for _ in 0..20 {
            let none = store
                .claim_attempts(hook, "n", 9_000, 10_000, 500)
                .await
                .unwrap();
            assert!(none.is_empty());
        }
        pending_attempts(&db, hook, 20_000).await;
        let mut claimed = 0;
        for _ in 0..5 {
            claimed += store
                .claim_attempts(hook, "n", 9_000, 10_000, 500)
                .await
                .unwrap()
                .len();
        }
        assert_eq!(claimed, 2_500);
        let [updated, read] =
            updates_counted(store, claimed as i64, ["n_tup_upd", "seq_tup_read"]).await;
        assert!(updated >= 2_500, "the claims' counters never showed up");
        assert_eq!(read, 0, "a claim read the whole table");
    }

    /// A claim on PostgreSQL writes the rows' new versions on their own pages and adds no
    /// index entry (a HOT update): PostgreSQL's counters show most of the claims' updates as
    /// such (a page's rows claimed together may not all fit on it). Claims back to back take
    /// each attempt once: the next reads past those still claimed.
    #[tokio::test]
    async fn a_claim_on_postgres_adds_no_index_entries() {
        let db = TestDb::postgres().await;
        let store = &db.store;
        let hook = Uuid::new_v4();
        pending_attempts(&db, hook, 20_000).await;
        let mut ids = std::collections::HashSet::new();
        for _ in 0..5 {
            for a in store
                .claim_attempts(hook, "n", 30_000, 40_000, 500)
                .await
                .unwrap()
            {
                assert!(ids.insert(a.id), "an attempt claimed twice");
            }
        }
        assert_eq!(ids.len(), 2_500);
        let [updated, hot] = updates_counted(store, 2_500, ["n_tup_upd", "n_tup_hot_upd"]).await;
        assert!(updated >= 2_500, "the claims' counters never showed up");
        assert!(
            hot * 4 >= updated * 3,
            "{hot} of {updated} claimed rows written in place"
        );
    }

    /// On SQLite a claim (without sorting), an end and the removal of its claim, the outbox's
    /// counts and a retry of the dead letters find their rows on the indexes of open attempts,
    /// and a webhook's deletion on the webhook's index: none reads the table, every attempt ever
    /// made.
    #[tokio::test]
    async fn sqlite_finds_open_attempts_on_their_own_indexes() {
        let db = TestDb::sqlite().await;
        let plan = |sql: String, args: Vec<Arg>| {
            let db = &db;
            async move {
                db.store
                    .db
                    .read(&format!("EXPLAIN QUERY PLAN {sql}"), &args)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String>("detail").unwrap())
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        };
        let claim = plan(
            CLAIM_SQLITE.into(),
            args!["w".to_string(), 1_i64, 10_i64].to_vec(),
        )
        .await;
        assert!(
            claim.contains("webhook_attempts_due_ix (webhook_id=? AND next_attempt_at<?)")
                && claim.contains("SEARCH c USING INTEGER PRIMARY KEY (rowid=?)")
                && !claim.contains("TEMP B-TREE"),
            "claim plan:\n{claim}"
        );
        let finish = plan(
            FINISH_SQLITE.into(),
            vec![
                Arg::from("succeeded".to_string()),
                Arg::Int(1),
                Arg::OptInt(None),
                Arg::Text(None),
                Arg::OptInt(None),
                Arg::Int(1),
                Arg::from("a".to_string()),
                Arg::from("n".to_string()),
                Arg::Int(1),
            ],
        )
        .await;
        assert!(!finish.contains("SCAN"), "finish plan:\n{finish}");
        let unclaim = plan(UNCLAIM_SQLITE.into(), vec![Arg::Int(1)]).await;
        assert!(!unclaim.contains("SCAN"), "unclaim plan:\n{unclaim}");
        let stats = plan(OUTBOX_STATS.into(), vec![]).await;
        assert_eq!(
            stats.matches("webhook_attempts_open_ix").count(),
            3,
            "outbox plan:\n{stats}"
        );
        let retry = plan(
            RETRY_FAILED.into(),
            vec![Arg::Int(1), Arg::Text(None), Arg::Text(None)],
        )
        .await;
        assert!(
            retry.contains("USING INDEX webhook_attempts_open_ix"),
            "retry plan:\n{retry}"
        );
        let delete = plan(
            "DELETE FROM webhook_attempts WHERE webhook_id = $1".into(),
            args!["w".to_string()].to_vec(),
        )
        .await;
        assert!(
            delete.contains("INDEX webhook_attempts_webhook_ix (webhook_id=?)"),
            "delete plan:\n{delete}"
        );
        for p in [&claim, &finish, &unclaim, &stats, &retry, &delete] {
            assert!(!p.contains("SCAN webhook_attempts"), "plan:\n{p}");
        }
    }

    /// On SQLite a deleted attempt takes its claim with it, so an attempt given the same rowid
    /// later starts unclaimed; another attempt's claim stays.
    #[tokio::test]
    async fn sqlite_a_deleted_attempt_takes_its_claim_with_it() {
        let db = TestDb::sqlite().await;
        for (rowid, hook) in [(1, "w"), (2, "v")] {
            db.execute(&format!(
                "INSERT INTO webhook_attempts (rowid, id, event_id, webhook_id, event_type, \
                 status, next_attempt_at, window_start, event_instant, insert_instant) \
                 VALUES ({rowid}, 'a{rowid}', 'e{rowid}', '{hook}', 'user.create', 'pending', \
                 1, 1, 1, 1)"
            ))
            .await
            .unwrap();
            db.execute(&format!(
                "INSERT INTO webhook_claims (attempt, node, until_instant, attempts, \
                 claimed_instant) VALUES ({rowid}, 'n', 99, 1, 1)"
            ))
            .await
            .unwrap();
        }
        db.execute("DELETE FROM webhook_attempts WHERE webhook_id = 'w'")
            .await
            .unwrap();
        let left = db
            .store
            .db
            .read("SELECT attempt FROM webhook_claims", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<i64>("attempt").unwrap())
            .collect::<Vec<_>>();
        assert_eq!(left, vec![2]);
    }
}
