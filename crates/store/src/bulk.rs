//! The bulk paths: one import's write (one transaction, open while the request is parsed:
//! created users a slice at a time through multi-row INSERTs or binary COPY, then updated users
//! rewritten, events appended, an import job's end recorded), the look-up an upsert matches
//! against, and bulk deletes as set-based statements — one per table, never one per user.

use super::{backend, bulk_insert, id_of, json, Arg, Dialect, Row, SqlStore, Tx};
use portcullis_domain::event::EventText;
use portcullis_domain::import::jobs::JobClaim;
use portcullis_domain::import::NewUserRow;
use portcullis_domain::{BulkDelete, Event, ImportWriter, StoreResult, StoredUser, User};
use portcullis_hash::Credential;
use std::collections::HashMap;
use uuid::Uuid;

/// Parameters per `IN (...)` list in look-ups.
const IN_CHUNK: usize = 1000;

/// The tables and columns an import fills, in the order their values are given.
const USERS: &str = "users (id, tenant_id, email_lower, username_lower, body, pw_scheme, pw_factor, pw_salt, pw_hash, insert_instant)";
const REGISTRATIONS: &str = "registrations (id, tenant_id, user_id, application_id, body)";
const MEMBERS: &str = "group_members (id, tenant_id, group_id, user_id, body)";

/// New users per multi-row statement or COPY of an import (see `SqlImport::created`).
const WRITE_SLICE: usize = 5_000;

/// New users an import hands its writer at a time. SQLite's writer is the busiest thread of an
/// import and waits for each request's first slice and writes its last alone, so its slices are
/// small: while it writes one, the parse builds the next in about the same time. A COPY on
/// PostgreSQL is a round trip, worth more rows.
pub(crate) fn import_slice(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Sqlite => 500,
        Dialect::Postgres => portcullis_domain::import::SLICE,
    }
}

/// A registration's or membership's row: id, tenant, then user and application (a
/// registration) or group and user (a membership), then its body.
type Child<'a> = (Uuid, Uuid, Uuid, Uuid, std::borrow::Cow<'a, str>);

/// Users per transaction of a large delete on SQLite (`SqlStore::delete_users_sliced`).
pub(crate) const DELETE_SLICE: usize = 50_000;

/// `$from, $from+1, ...` for `n` parameters.
pub(crate) fn in_list(n: usize, from: usize) -> String {
    (0..n)
        .map(|i| format!("${}", i + from))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The credential columns of a `users` row.
pub(crate) fn credential_of(row: &Row) -> StoreResult<Option<Credential>> {
    let scheme: Option<String> = row.get("pw_scheme")?;
    Ok(match scheme {
        Some(scheme) => Some(Credential {
            scheme,
            factor: row.get::<Option<i64>>("pw_factor")?.unwrap_or(0) as u32,
            salt: row.get::<Option<String>>("pw_salt")?.unwrap_or_default(),
            hash: row.get::<Option<String>>("pw_hash")?.unwrap_or_default(),
        }),
        None => None,
    })
}

/// Appends events inside a transaction.
pub(crate) async fn insert_events(
    dialect: Dialect,
    tx: &mut Tx,
    events: &[Event],
) -> StoreResult<()> {
    let texts: Vec<EventText> = events.iter().map(EventText::from).collect();
    insert_event_texts(dialect, tx, &texts).await
}

/// Appends events already in their text form inside a transaction.
pub(crate) async fn insert_event_texts(
    dialect: Dialect,
    tx: &mut Tx,
    events: &[EventText],
) -> StoreResult<()> {
    bulk_insert(
        dialect,
        tx,
        "events (id, tenant_id, type, create_instant, body, login_user_id)",
        6,
        events,
        |e| {
            vec![
                e.id.to_string().into(),
                e.tenant_id.map(|t| t.to_string()).into(),
                e.kind.clone().into(),
                e.create_instant.into(),
                e.body.clone().into(),
                e.login_user.map(|u| u.to_string()).into(),
            ]
        },
    )
    .await?;
    // The receivers a transaction level already called have the event: their attempts are
    // written as succeeded here, and the fan-out's insert of the same (event, webhook) is a
    // no-op, so the worker never sends it to them again.
    for e in events {
        for w in &e.delivered {
            tx.write(
                "INSERT INTO webhook_attempts (id, event_id, webhook_id, tenant_id, event_type, \
                 status, attempts, next_attempt_at, window_start, event_instant, insert_instant, \
                 last_attempt_instant, delivered_instant) \
                 VALUES ($1, $2, $3, $4, $5, 'succeeded', 1, $6, $6, $6, $6, $6, $6) \
                 ON CONFLICT (event_id, webhook_id) DO NOTHING",
                &[
                    portcullis_domain::new_id().to_string().into(),
                    e.id.to_string().into(),
                    w.to_string().into(),
                    e.tenant_id.map(|t| t.to_string()).into(),
                    e.kind.clone().into(),
                    e.create_instant.into(),
                ],
            )
            .await?;
        }
    }
    Ok(())
}

/// One import's open transaction: new users a slice at a time as the request is read, then
/// the updated users, the events and a job's end, and the commit.
struct SqlImport {
    dialect: Dialect,
    tx: Tx,
    /// New users written so far, for a job's counts.
    created: usize,
}

#[async_trait::async_trait]
impl ImportWriter for SqlImport {
    async fn created(&mut self, rows: &[NewUserRow]) -> StoreResult<()> {
        // A slice's users, then their registrations and memberships: the rows built for the
        // statements stay one slice's worth.
        for slice in rows.chunks(WRITE_SLICE) {
            write_users(&mut self.tx, slice).await?;
            let mut regs: Vec<Child> = Vec::new();
            let mut members: Vec<Child> = Vec::new();
            for r in slice {
                for (id, app, body) in r.registrations() {
                    regs.push((id, r.tenant_id, r.id, app, body.into()));
                }
                for (id, group, body) in r.memberships() {
                    members.push((id, r.tenant_id, group, r.id, body.into()));
                }
            }
            write_children(&mut self.tx, &regs, &members).await?;
            self.created += slice.len();
        }
        Ok(())
    }

    async fn finish(
        self: Box<Self>,
        updated: &[StoredUser],
        events: &[EventText],
        job: Option<&JobClaim>,
    ) -> StoreResult<()> {
        let SqlImport {
            dialect,
            mut tx,
            created,
        } = *self;
        // Updated users: their row, then their whole lists of registrations and memberships
        // (stored ones kept, given ones merged in by the domain) are written again.
        for s in updated {
            tx.write_owned(super::UPDATE_USER, super::update_user_args(s))
                .await?;
        }
        let ids: Vec<String> = updated.iter().map(|s| id_of(s.user.id)).collect();
        for chunk in ids.chunks(IN_CHUNK) {
            for table in ["registrations", "group_members"] {
                let sql = format!(
                    "DELETE FROM {table} WHERE user_id IN ({})",
                    in_list(chunk.len(), 1)
                );
                let args: Vec<Arg> = chunk.iter().map(|i| Arg::from(i.clone())).collect();
                tx.write(&sql, &args).await?;
            }
        }
        let some = |id: Option<Uuid>| id.expect("the service sets ids before storing");
        let (mut regs, mut members): (Vec<Child>, Vec<Child>) = Default::default();
        for s in updated {
            let (tenant, user) = (some(s.user.tenant_id), some(s.user.id));
            for r in &s.user.registrations {
                let body = json(r).into();
                regs.push((some(r.id), tenant, user, some(r.application_id), body));
            }
            for m in &s.user.memberships {
                let body = json(m).into();
                members.push((some(m.id), tenant, some(m.group_id), user, body));
            }
        }
        write_children(&mut tx, &regs, &members).await?;
        insert_event_texts(dialect, &mut tx, events).await?;
        if let Some(job) = job {
            // Last, so the job's row is locked only for the commit: its claim is renewed
            // meanwhile, and a release waiting on the lock then finds the job ended.
            let ended = tx
                .write(
                    "UPDATE import_jobs SET state = 'succeeded', users_total = $3, \
                     users_created = $4, users_updated = $5, finish_instant = $6, body = NULL, \
                     claimed_until = NULL \
                     WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
                    args![
                        job.id.to_string(),
                        job.node.clone(),
                        (created + updated.len()) as i64,
                        created as i64,
                        updated.len() as i64,
                        portcullis_domain::now_millis(),
                    ],
                )
                .await?;
            if ended != 1 {
                // Dropped uncommitted: nothing of the import is written.
                return Err(backend(format!(
                    "the import job [{}] is no longer claimed by this node: another node runs it",
                    job.id
                )));
            }
        }
        tx.commit().await
    }
}

/// New users' rows: binary COPY on PostgreSQL, its bulk path; multi-row INSERTs on SQLite.
async fn write_users(tx: &mut Tx, rows: &[NewUserRow]) -> StoreResult<()> {
    tx.insert_rows(USERS, 10, rows, |r, out| {
        let c = r.credential();
        out.id(r.id);
        out.id(r.tenant_id);
        out.text(r.email_lower());
        out.text(r.username_lower());
        out.text(Some(r.body()));
        out.text(c.map(|c| c.0));
        out.int(c.map(|c| c.1 as i64));
        out.text(c.map(|c| c.2));
        out.text(c.map(|c| c.3));
        out.int(Some(r.insert_instant));
    })
    .await
    .map(|_| ())
}

/// Registrations' and memberships' rows, as [`write_users`] writes users'.
async fn write_children(tx: &mut Tx, regs: &[Child<'_>], members: &[Child<'_>]) -> StoreResult<()> {
    for (head, rows) in [(REGISTRATIONS, regs), (MEMBERS, members)] {
        tx.insert_rows(head, 5, rows, |c, out| {
            out.id(c.0);
            out.id(c.1);
            out.id(c.2);
            out.id(c.3);
            out.text(Some(&c.4));
        })
        .await?;
    }
    Ok(())
}

impl SqlStore {
    /// `SELECT {select} FROM users WHERE [tenant_id = $1 AND] {column} IN (...)` for every
    /// value, a query per [`IN_CHUNK`] values.
    pub(crate) async fn users_where_in(
        &self,
        select: &str,
        tenant: Option<Uuid>,
        column: &str,
        values: &[String],
    ) -> StoreResult<Vec<Row>> {
        let mut rows = Vec::new();
        let first = if tenant.is_some() { 2 } else { 1 };
        for chunk in values.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT {select} FROM users WHERE {}{column} IN ({})",
                if tenant.is_some() {
                    "tenant_id = $1 AND "
                } else {
                    ""
                },
                in_list(chunk.len(), first)
            );
            let mut args: Vec<Arg> = tenant
                .map(|t| Arg::from(t.to_string()))
                .into_iter()
                .collect();
            args.extend(chunk.iter().map(|v| Arg::from(v.clone())));
            rows.extend(self.db.read(&sql, &args).await?);
        }
        Ok(rows)
    }

    pub(crate) async fn begin_import(&self) -> StoreResult<Box<dyn ImportWriter>> {
        Ok(Box::new(SqlImport {
            dialect: self.dialect,
            tx: self.db.begin_long().await?,
            created: 0,
        }))
    }

    pub(crate) async fn find_users_in(
        &self,
        tenant: Uuid,
        ids: &[Uuid],
        emails: &[String],
        usernames: &[String],
    ) -> StoreResult<Vec<StoredUser>> {
        let mut found: HashMap<Uuid, StoredUser> = HashMap::new();
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        for (column, values) in [
            ("id", &ids),
            ("email_lower", &emails.to_vec()),
            ("username_lower", &usernames.to_vec()),
        ] {
            for row in self
                .users_where_in(
                    "body, pw_scheme, pw_factor, pw_salt, pw_hash",
                    Some(tenant),
                    column,
                    values,
                )
                .await?
            {
                let user: User = super::body(&row)?;
                let credential = credential_of(&row)?;
                if let Some(id) = user.id {
                    found.entry(id).or_insert(StoredUser { user, credential });
                }
            }
        }
        // Registrations and memberships of every found user, a query per thousand users.
        let keys: Vec<String> = found.keys().map(Uuid::to_string).collect();
        for chunk in keys.chunks(IN_CHUNK) {
            let args: Vec<Arg> = chunk.iter().map(|k| Arg::from(k.clone())).collect();
            for table in ["registrations", "group_members"] {
                let sql = format!(
                    "SELECT user_id, body FROM {table} WHERE user_id IN ({}) ORDER BY id",
                    in_list(chunk.len(), 1)
                );
                for row in self.db.read(&sql, &args).await? {
                    let user_id: String = row.get("user_id")?;
                    let Some(s) = Uuid::parse_str(&user_id)
                        .ok()
                        .and_then(|id| found.get_mut(&id))
                    else {
                        continue;
                    };
                    if table == "registrations" {
                        s.user.registrations.push(super::body(&row)?);
                    } else {
                        s.user.memberships.push(super::body(&row)?);
                    }
                }
            }
        }
        Ok(found.into_values().collect())
    }

    pub(crate) async fn delete_users_where(
        &self,
        tenant: Uuid,
        what: &BulkDelete,
        dry_run: bool,
        id_limit: usize,
    ) -> StoreResult<(u64, Vec<Uuid>)> {
        let (cond, args) = self.selection(tenant, what);
        let mut tx = self.db.begin_long().await?;
        let ids_sql = format!("SELECT id FROM users WHERE {cond} ORDER BY id LIMIT {id_limit}");
        let mut ids = Vec::new();
        for row in tx.read(&ids_sql, &args).await? {
            let id: String = row.get("id")?;
            ids.extend(Uuid::parse_str(&id).ok());
        }
        if dry_run {
            let rows = tx
                .read(
                    &format!("SELECT COUNT(*) AS n FROM users WHERE {cond}"),
                    &args,
                )
                .await?;
            let n: i64 = match rows.first() {
                Some(row) => row.get("n")?,
                None => 0,
            };
            return Ok((n as u64, ids));
        }
        // SQLite: in slices of users, each its own transaction (see `delete_users_sliced`).
        // PostgreSQL: one statement, its cascade taking the rows hanging off the users (faster
        // there than deleting them first: 33,600 against 23,700 users/s, bench tenant-delete).
        if self.dialect == Dialect::Sqlite {
            drop(tx);
            let n = self.delete_users_sliced(&cond, &args).await?;
            return Ok((n, ids));
        }
        let n = tx
            .write(&format!("DELETE FROM users WHERE {cond}"), &args)
            .await?;
        tx.commit().await?;
        Ok((n, ids))
    }

    /// SQLite: deletes the users `cond` selects with everything hanging off them; answers how
    /// many. Each transaction takes a set of users' memberships, registrations, refresh tokens
    /// and change-password ids first, one statement per table (faster than SQLite's per-row
    /// cascade: 24,500 against 16,400 users/s), then the users: a user goes whole or not at
    /// all.
    ///
    /// More than [`DELETE_SLICE`] users go in slices of that many, each its own transaction,
    /// taken in the order the users were stored (`rowid`, which for imported users is also the
    /// order of their time-ordered ids and of their registrations' rows): each slice then
    /// touches neighbouring pages of every table instead of pages all over them, and the
    /// checkpointer empties the WAL between slices. (One transaction for a million users made
    /// a WAL far larger than the page cache, and SQLite spent its time looking pages up in it.
    /// A slice picked through the email index would take its users in random order and scan
    /// that index anew each time; `NOT INDEXED` with a `rowid` cursor scans the table once.) A
    /// delete stopped part-way has removed whole users only, and running it again finishes it.
    pub(crate) async fn delete_users_sliced(&self, cond: &str, args: &[Arg]) -> StoreResult<u64> {
        let count = self
            .db
            .read(
                &format!("SELECT COUNT(*) AS n FROM users WHERE {cond}"),
                args,
            )
            .await?;
        let sliced = match count.first() {
            Some(row) => row.get::<i64>("n")? as usize > self.delete_slice,
            None => false,
        };
        let mut total = 0;
        // The last `rowid` a slice took: the next one starts after it (a scan in `rowid`
        // order, no index, so that it never sorts).
        let mut after = 0i64;
        loop {
            let mut tx = self.db.begin_long().await?;
            tx.write(
                "CREATE TEMP TABLE IF NOT EXISTS doomed_users \
                 (id TEXT PRIMARY KEY, rid INTEGER NOT NULL)",
                &[],
            )
            .await?;
            tx.write("DELETE FROM doomed_users", &[]).await?;
            let pick = if sliced {
                format!(
                    "INSERT INTO doomed_users SELECT id, rowid FROM users NOT INDEXED \
                     WHERE rowid > {after} AND {cond} ORDER BY rowid LIMIT {}",
                    self.delete_slice
                )
            } else {
                format!("INSERT INTO doomed_users SELECT id, rowid FROM users WHERE {cond}")
            };
            let picked = tx.write(&pick, args).await? as usize;
            if sliced {
                let last = tx
                    .read("SELECT MAX(rid) AS last FROM doomed_users", &[])
                    .await?;
                if let Some(Some(last)) = last
                    .first()
                    .map(|r| r.get::<Option<i64>>("last"))
                    .transpose()?
                {
                    after = last;
                }
            }
            for table in [
                "group_members",
                "registrations",
                "refresh_tokens",
                "change_password_ids",
                "two_factor_rows",
                "oauth_codes",
                "sso_sessions",
            ] {
                tx.write(
                    &format!("DELETE FROM {table} WHERE user_id IN (SELECT id FROM doomed_users)"),
                    &[],
                )
                .await?;
            }
            total += tx
                .write(
                    "DELETE FROM users WHERE id IN (SELECT id FROM doomed_users)",
                    &[],
                )
                .await?;
            tx.write("DELETE FROM doomed_users", &[]).await?;
            tx.commit().await?;
            if !sliced || picked < self.delete_slice {
                return Ok(total);
            }
        }
    }

    /// The `WHERE` condition (parameter `$1` is the tenant) selecting `what`'s users.
    fn selection(&self, tenant: Uuid, what: &BulkDelete) -> (String, Vec<Arg>) {
        let mut cond = String::from("users.tenant_id = $1");
        let mut args: Vec<Arg> = vec![tenant.to_string().into()];
        if let Some(ids) = &what.ids {
            if ids.is_empty() {
                cond.push_str(" AND 1 = 0");
            } else {
                let from = args.len() + 1;
                cond.push_str(&format!(" AND users.id IN ({})", in_list(ids.len(), from)));
                args.extend(ids.iter().map(|i| Arg::from(i.to_string())));
            }
        }
        if let Some(filter) = &what.filter {
            let mut c = super::search::Cond::new(self.dialect, args);
            let f = c.pred(filter);
            cond.push_str(&format!(" AND ({f})"));
            args = c.args;
        }
        (cond, args)
    }
}
