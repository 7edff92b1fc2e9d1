//! The domain's [`SessionStore`] on SQL: signing keys, refresh tokens (SHA-256 only),
//! change-password ids, login-attempt counts (`0006_login_attempts.sql`) and locks
//! (`0003_login.sql`), and the deletes of their expired rows.

use super::{backend, Arg, Row, SqlStore};
use crate::db::{Col, Db};
use crate::lite::{self, Lite, LiteRow, Step, Written};
use crate::normalize_login_id;
use crate::Dialect;
use portcullis_domain::{
    AttemptCount, AttemptsBack, LoginLocks, Millis, RefreshTokens, SessionStore, StoreResult,
    StoredKey, StoredRefreshToken, TwoFactorRow,
};
use rusqlite::types::Value;
use uuid::Uuid;

fn text(row: &Row, col: &str) -> StoreResult<String> {
    row.get(col)
}

fn uuid(row: &Row, col: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(&text(row, col)?).map_err(backend)
}

fn int(row: &Row, col: &str) -> StoreResult<i64> {
    row.get(col)
}

/// Whether this count also sweeps the tenant's ended counts and locks: now and then, so that
/// login ids sprayed once each (never counted again) do not pile up.
pub(crate) fn sweep_now() -> bool {
    rand::random::<u8>() < 4
}

/// The statements that sweep `tenant`'s ended counts and locks.
pub(crate) fn sweep_attempts(tenant: &str, now: Millis) -> Vec<(String, Vec<Arg>)> {
    vec![
        (
            "DELETE FROM login_attempts WHERE tenant_id = $1 AND expires_instant <= $2".into(),
            vec![Arg::from(tenant.to_string()), Arg::from(now)],
        ),
        (
            "DELETE FROM login_locks WHERE tenant_id = $1 AND until_instant < $2".into(),
            vec![Arg::from(tenant.to_string()), Arg::from(now)],
        ),
    ]
}

/// The one statement that counts an attempt against each of `subjects` (consecutive repeats
/// counted once) and returns their counts; `None` for no subject.
pub(crate) fn count_attempts_statement(
    tenant: &str,
    subjects: &[String],
    now: Millis,
    window_end: Millis,
) -> Option<(String, Vec<Arg>)> {
    let mut subjects: Vec<&String> = subjects.iter().collect();
    subjects.dedup();
    if subjects.is_empty() {
        return None;
    }
    let rows = (0..subjects.len())
        .map(|i| format!("($1, ${}, 1, $3)", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    // One statement for every subject: PostgreSQL's row locks and SQLite's single writer
    // make each bump see all the earlier ones. Every right-hand side reads the row as it
    // was, so the window test is the same in both CASEs.
    let sql = format!(
        "INSERT INTO login_attempts (tenant_id, subject, n, expires_instant) VALUES {rows} \
         ON CONFLICT (tenant_id, subject) DO UPDATE SET \
         n = CASE WHEN login_attempts.expires_instant <= $2 THEN 1 \
             ELSE login_attempts.n + 1 END, \
         expires_instant = CASE WHEN login_attempts.expires_instant <= $2 \
             THEN excluded.expires_instant ELSE login_attempts.expires_instant END \
         RETURNING subject, n, expires_instant"
    );
    let mut args = vec![
        Arg::from(tenant.to_string()),
        Arg::from(now),
        Arg::from(window_end),
    ];
    args.extend(subjects.iter().map(|s| Arg::from((*s).clone())));
    Some((sql, args))
}

/// A row the count returned.
pub(crate) fn attempt_count(r: &Row) -> StoreResult<AttemptCount> {
    Ok(AttemptCount {
        subject: text(r, "subject")?,
        n: int(r, "n")?.max(0) as u64,
        expires_instant: int(r, "expires_instant")?,
    })
}

/// A login's read and, unless a lock holds, its count, in one turn of SQLite's writer
/// ([`portcullis_domain::Store::user_for_login_counted`]): the read on the writer's warm page
/// cache, and one hand-off for both where a reading connection would read the pages back from
/// the OS after every commit. The user's JSON is parsed after the turn, off the writer.
pub(crate) async fn read_and_count_lite(
    lite: &Lite,
    tenant: Uuid,
    login_id: &str,
    extra: Option<&str>,
    now: Millis,
    window_end: Option<Millis>,
) -> StoreResult<portcullis_domain::CountedLoginRead> {
    let key = normalize_login_id(login_id);
    let (read_sql, read_args) = crate::login_read(tenant, &key, extra, now);
    let t = tenant.to_string();
    let sweep = (window_end.is_some() && sweep_now()).then(|| sweep_attempts(&t, now));
    let extra = extra.map(str::to_string);
    let written = lite
        .submit_call(move |conn| {
            let mut rows = lite::query(conn, &read_sql, &read_args)?;
            let read = rows.len() as u64;
            let part = |r: &LiteRow| r.value("part").map(<i64 as Col>::of_lite);
            let mut locked = false;
            let mut user_id = None;
            for r in &rows {
                match part(r)? {
                    Some(0) => user_id = Some(r.value("id")?.clone()),
                    Some(3) => locked = !matches!(r.value("until_instant")?, Value::Null),
                    _ => {}
                }
            }
            if let Some(end) = window_end.filter(|_| !locked) {
                let subject = match user_id {
                    Some(Value::Text(id)) => {
                        portcullis_domain::user_subject(Uuid::parse_str(&id).map_err(backend)?)
                    }
                    _ => portcullis_domain::login_subject(None, &key),
                };
                let subjects: Vec<String> = std::iter::once(subject).chain(extra.clone()).collect();
                for (sql, args) in sweep.iter().flatten() {
                    lite::execute(conn, sql, args)?;
                }
                if let Some((sql, args)) = count_attempts_statement(&t, &subjects, now, end) {
                    rows.extend(lite::query(conn, &sql, &args)?);
                }
            }
            Ok(Written {
                changed: vec![read],
                rows,
            })
        })
        .await?;
    let read = written.changed.first().copied().unwrap_or(0) as usize;
    let mut rows = written.rows.into_iter().map(Row::Lite);
    let (user, lock_row) = crate::user_of_rows(rows.by_ref().take(read))?;
    let locks = crate::login_locks_of(lock_row)?;
    let counts = rows
        .map(|r| attempt_count(&r))
        .collect::<StoreResult<_>>()?;
    Ok((user, locks, counts))
}

fn key_of(row: &Row) -> StoreResult<StoredKey> {
    Ok(StoredKey {
        kid: text(row, "kid")?,
        tenant_id: uuid(row, "tenant_id")?,
        algorithm: text(row, "algorithm")?,
        secret: text(row, "secret")?,
        status: text(row, "status")?,
        insert_instant: int(row, "insert_instant")?,
        expires_instant: row.get("expires_instant")?,
    })
}

fn two_factor_of(row: &Row) -> StoreResult<TwoFactorRow> {
    Ok(TwoFactorRow {
        key: text(row, "token_key")?,
        kind: text(row, "kind")?,
        tenant_id: uuid(row, "tenant_id")?,
        user_id: uuid(row, "user_id")?,
        expires_instant: int(row, "expires_instant")?,
        data: text(row, "data")?,
    })
}

const TWO_FACTOR_COLUMNS: &str = "token_key, kind, tenant_id, user_id, expires_instant, data";

fn refresh_of(row: &Row) -> StoreResult<StoredRefreshToken> {
    Ok(StoredRefreshToken {
        id: uuid(row, "id")?,
        token_hash: text(row, "token_hash")?,
        family_id: uuid(row, "family_id")?,
        tenant_id: uuid(row, "tenant_id")?,
        user_id: uuid(row, "user_id")?,
        application_id: uuid(row, "application_id")?,
        start_instant: int(row, "start_instant")?,
        insert_instant: int(row, "insert_instant")?,
        expires_instant: int(row, "expires_instant")?,
        used_instant: row.get("used_instant")?,
    })
}

const KEY_COLUMNS: &str =
    "kid, tenant_id, algorithm, secret, status, insert_instant, expires_instant";
const REFRESH_COLUMNS: &str = "token_hash, id, family_id, tenant_id, user_id, application_id, \
                               start_instant, insert_instant, expires_instant, used_instant";

pub(crate) const INSERT_REFRESH_TOKEN: &str = "INSERT INTO refresh_tokens (token_hash, id, \
    family_id, tenant_id, user_id, application_id, start_instant, insert_instant, \
    expires_instant, used_instant) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)";

pub(crate) fn refresh_token_args(t: &StoredRefreshToken) -> Vec<Arg> {
    vec![
        t.token_hash.clone().into(),
        t.id.to_string().into(),
        t.family_id.to_string().into(),
        t.tenant_id.to_string().into(),
        t.user_id.to_string().into(),
        t.application_id.to_string().into(),
        t.start_instant.into(),
        t.insert_instant.into(),
        t.expires_instant.into(),
    ]
}

/// Rows the delete of expired rows removes per statement: on SQLite each statement holds the one
/// writer, so a backlog of millions goes in short writes that logins can queue between.
pub(crate) const CLEANUP_SLICE: i64 = 10_000;

impl SqlStore {
    /// Deletes the rows of `table` whose `expiry` column is at or before `now`, a slice of rows
    /// (picked by `key`, the primary key) per statement until none is left; answers how many.
    pub(crate) async fn delete_expired(
        &self,
        table: &str,
        key: &str,
        expiry: &str,
        now: Millis,
    ) -> StoreResult<u64> {
        let sql = format!(
            "DELETE FROM {table} WHERE ({key}) IN \
             (SELECT {key} FROM {table} WHERE {expiry} <= $1 LIMIT $2)"
        );
        let mut total = 0;
        loop {
            let n = self.exec(&sql, args![now, self.cleanup_slice]).await?;
            total += n;
            if n < self.cleanup_slice as u64 {
                return Ok(total);
            }
        }
    }
}

#[async_trait::async_trait]
impl SessionStore for SqlStore {
    async fn insert_signing_key(&self, k: &StoredKey) -> StoreResult<()> {
        self.exec(
            &format!(
                "INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)"
            ),
            args![
                k.kid.clone(),
                k.tenant_id.to_string(),
                k.algorithm.clone(),
                k.secret.clone(),
                k.status.clone(),
                k.insert_instant,
            ],
        )
        .await?;
        Ok(())
    }

    async fn signing_keys(&self, tenant: Option<Uuid>) -> StoreResult<Vec<StoredKey>> {
        let rows = self
            .db
            .read(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM signing_keys WHERE ($1 IS NULL OR tenant_id = $1) \
                     ORDER BY insert_instant, kid"
                ),
                args![tenant.map(|t| t.to_string())],
            )
            .await?;
        rows.iter().map(key_of).collect()
    }

    async fn signing_key(&self, kid: &str) -> StoreResult<Option<StoredKey>> {
        let rows = self
            .db
            .read(
                &format!("SELECT {KEY_COLUMNS} FROM signing_keys WHERE kid = $1"),
                args![kid.to_string()],
            )
            .await?;
        rows.first().map(key_of).transpose()
    }

    async fn retire_signing_key(&self, kid: &str, expires: Millis) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE signing_keys SET status = 'retiring', expires_instant = $1 WHERE kid = $2",
                args![expires, kid.to_string()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool> {
        let n = self
            .exec(
                "DELETE FROM signing_keys WHERE kid = $1",
                args![kid.to_string()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_expired_signing_keys(&self, now: Millis) -> StoreResult<u64> {
        self.exec(
            "DELETE FROM signing_keys WHERE status = 'retiring' AND expires_instant <= $1",
            args![now],
        )
        .await
    }

    async fn insert_refresh_token(&self, t: &StoredRefreshToken) -> StoreResult<()> {
        // One statement, no transaction: a grant pays one round trip for it.
        self.exec(INSERT_REFRESH_TOKEN, &refresh_token_args(t))
            .await?;
        Ok(())
    }

    async fn insert_refresh_tokens(&self, tokens: &[StoredRefreshToken]) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for t in tokens {
            tx.write_owned(INSERT_REFRESH_TOKEN, refresh_token_args(t))
                .await?;
        }
        tx.commit().await
    }

    async fn refresh_token(&self, token_hash: &str) -> StoreResult<Option<StoredRefreshToken>> {
        let rows = self
            .db
            .read(
                &format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1"),
                args![token_hash.to_string()],
            )
            .await?;
        rows.first().map(refresh_of).transpose()
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        now: Millis,
        next: &StoredRefreshToken,
    ) -> StoreResult<bool> {
        const TAKE: &str = "UPDATE refresh_tokens SET used_instant = $1 \
                            WHERE token_hash = $2 AND used_instant IS NULL";
        let taken = args![now, token_hash.to_string()];
        match &self.db {
            Db::Pg(..) => {
                // One statement: the insert happens only if the mark did.
                let mut args = refresh_token_args(next);
                args.extend(taken.iter().cloned());
                let sql = format!(
                    "WITH taken AS ({} RETURNING 1) INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, NULL FROM taken",
                    super::renumber(TAKE, 9)
                );
                Ok(self.exec(&sql, &args).await? == 1)
            }
            Db::Lite(lite) => {
                // One write in the writer's group commit: the successor goes in only if the
                // mark did.
                let changed = lite
                    .submit(vec![
                        Step {
                            sql: TAKE.into(),
                            args: taken.to_vec(),
                            stop_unless_changed: true,
                            returning: false,
                        },
                        Step::new(INSERT_REFRESH_TOKEN, refresh_token_args(next)),
                    ])
                    .await?;
                Ok(changed.len() == 2)
            }
        }
    }

    async fn delete_refresh_tokens(
        &self,
        tenant: Option<Uuid>,
        which: RefreshTokens<'_>,
    ) -> StoreResult<u64> {
        let t = tenant.map(|t| t.to_string());
        let (cond, a, b) = match which {
            RefreshTokens::Hash(h) => ("token_hash = $2", h.to_string(), None),
            RefreshTokens::Family(f) => ("family_id = $2", f.to_string(), None),
            RefreshTokens::User(u) => ("user_id = $2", u.to_string(), None),
            RefreshTokens::Application(a) => ("application_id = $2", a.to_string(), None),
            RefreshTokens::UserApplication(u, a) => (
                "user_id = $2 AND application_id = $3",
                u.to_string(),
                Some(a.to_string()),
            ),
        };
        let sql =
            format!("DELETE FROM refresh_tokens WHERE ($1 IS NULL OR tenant_id = $1) AND {cond}");
        match b {
            Some(b) => self.exec(&sql, args![t, a, b]).await,
            None => self.exec(&sql, args![t, a]).await,
        }
    }

    async fn insert_change_password_id(
        &self,
        id_hash: &str,
        tenant: Uuid,
        user: Uuid,
        expires: Millis,
    ) -> StoreResult<()> {
        self.exec(
            "INSERT INTO change_password_ids (id_hash, tenant_id, user_id, expires_instant) \
             VALUES ($1, $2, $3, $4)",
            args![
                id_hash.to_string(),
                tenant.to_string(),
                user.to_string(),
                expires
            ],
        )
        .await?;
        Ok(())
    }

    async fn change_password_id(&self, id_hash: &str) -> StoreResult<Option<(Uuid, Uuid, Millis)>> {
        let rows = self
            .db
            .read(
                "SELECT tenant_id, user_id, expires_instant FROM change_password_ids \
                 WHERE id_hash = $1",
                args![id_hash.to_string()],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok((
                    uuid(r, "tenant_id")?,
                    uuid(r, "user_id")?,
                    int(r, "expires_instant")?,
                ))
            })
            .transpose()
    }

    async fn delete_change_password_id(&self, id_hash: &str) -> StoreResult<bool> {
        let n = self
            .exec(
                "DELETE FROM change_password_ids WHERE id_hash = $1",
                args![id_hash.to_string()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn count_login_attempt(
        &self,
        tenant: Uuid,
        subjects: &[String],
        now: Millis,
        window_end: Millis,
    ) -> StoreResult<Vec<AttemptCount>> {
        let t = tenant.to_string();
        let Some((sql, args)) = count_attempts_statement(&t, subjects, now, window_end) else {
            return Ok(Vec::new());
        };
        if sweep_now() {
            self.batch(sweep_attempts(&t, now)).await?;
        }
        let rows = self.db.write_returning(&sql, &args).await?;
        rows.iter().map(attempt_count).collect()
    }

    async fn forget_login_attempts(&self, back: &AttemptsBack<'_>) -> StoreResult<()> {
        if let Some((sql, args)) = forget_attempts_part(back) {
            self.exec(&sql, &args).await?;
        }
        Ok(())
    }

    async fn lock_login(&self, tenant: Uuid, subject: &str, until: Millis) -> StoreResult<()> {
        let a = vec![
            Arg::from(tenant.to_string()),
            Arg::from(subject.to_string()),
            Arg::from(until),
        ];
        self.batch(vec![
            (
                "INSERT INTO login_locks (tenant_id, subject, until_instant) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, subject) DO UPDATE SET until_instant = excluded.until_instant"
                    .into(),
                a.clone(),
            ),
            (
                "UPDATE login_attempts SET expires_instant = $3 \
                 WHERE tenant_id = $1 AND subject = $2"
                    .into(),
                a,
            ),
        ])
        .await
    }

    async fn unlock_login(&self, tenant: Uuid, subject: &str) -> StoreResult<()> {
        let a = vec![
            Arg::from(tenant.to_string()),
            Arg::from(subject.to_string()),
        ];
        self.batch(vec![
            (
                "DELETE FROM login_locks WHERE tenant_id = $1 AND subject = $2".into(),
                a.clone(),
            ),
            (
                "DELETE FROM login_attempts WHERE tenant_id = $1 AND subject = $2".into(),
                a,
            ),
        ])
        .await
    }

    async fn login_locks(
        &self,
        tenant: Uuid,
        subjects: &[String],
        now: Millis,
    ) -> StoreResult<LoginLocks> {
        if subjects.is_empty() {
            return Ok(LoginLocks::default());
        }
        let list = (0..subjects.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT MAX(until_instant) AS until_instant FROM login_locks \
             WHERE tenant_id = $1 AND until_instant > $2 AND subject IN ({list})"
        );
        let mut args = vec![Arg::from(tenant.to_string()), Arg::from(now)];
        args.extend(subjects.iter().map(|s| Arg::from(s.clone())));
        let rows = self.db.read(&sql, &args).await?;
        let row = rows
            .first()
            .ok_or_else(|| backend("the lock check returned no row"))?;
        Ok(LoginLocks {
            locked_until: row.get("until_instant")?,
        })
    }

    async fn insert_two_factor_row(&self, r: &TwoFactorRow) -> StoreResult<bool> {
        let n = self
            .exec(
                &format!(
                    "INSERT INTO two_factor_rows ({TWO_FACTOR_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_key) DO NOTHING"
                ),
                args![
                    r.key.clone(),
                    r.kind.clone(),
                    r.tenant_id.to_string(),
                    r.user_id.to_string(),
                    r.expires_instant,
                    r.data.clone(),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn two_factor_row(
        &self,
        key: &str,
        kind: &str,
        now: Millis,
    ) -> StoreResult<Option<TwoFactorRow>> {
        let rows = self
            .db
            .read(
                &format!(
                    "SELECT {TWO_FACTOR_COLUMNS} FROM two_factor_rows \
                     WHERE token_key = $1 AND kind = $2 AND expires_instant > $3"
                ),
                args![key.to_string(), kind.to_string(), now],
            )
            .await?;
        rows.first().map(two_factor_of).transpose()
    }

    async fn take_two_factor_row(
        &self,
        key: &str,
        kind: &str,
        now: Millis,
    ) -> StoreResult<Option<TwoFactorRow>> {
        let rows = self
            .db
            .write_returning(
                &format!(
                    "DELETE FROM two_factor_rows WHERE token_key = $1 AND kind = $2 \
                     AND expires_instant > $3 RETURNING {TWO_FACTOR_COLUMNS}"
                ),
                args![key.to_string(), kind.to_string(), now],
            )
            .await?;
        rows.first().map(two_factor_of).transpose()
    }

    async fn delete_two_factor_rows(&self, user: Uuid, kind: &str) -> StoreResult<u64> {
        self.exec(
            "DELETE FROM two_factor_rows WHERE user_id = $1 AND kind = $2",
            args![user.to_string(), kind.to_string()],
        )
        .await
    }

    async fn set_two_factor(
        &self,
        user: Uuid,
        two_factor: &str,
        enrolled: bool,
        now: Millis,
    ) -> StoreResult<bool> {
        let body = match (self.dialect, enrolled) {
            (Dialect::Sqlite, false) => {
                "json_set(body, '$.twoFactor', json($2), '$.lastUpdateInstant', $3)"
            }
            (Dialect::Sqlite, true) => {
                "json_remove(json_set(body, '$.twoFactor', json($2), '$.lastUpdateInstant', $3), \
                 '$.data.twoFactorEnrolmentRequired')"
            }
            (Dialect::Postgres, false) => {
                "(body::jsonb || jsonb_build_object('twoFactor', ($2)::jsonb, \
                 'lastUpdateInstant', $3::bigint))::text"
            }
            (Dialect::Postgres, true) => {
                "((body::jsonb || jsonb_build_object('twoFactor', ($2)::jsonb, \
                 'lastUpdateInstant', $3::bigint)) #- '{data,twoFactorEnrolmentRequired}')::text"
            }
        };
        let n = self
            .exec(
                &format!("UPDATE users SET body = {body} WHERE id = $1"),
                args![user.to_string(), two_factor.to_string(), now],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_expired_two_factor_rows(&self, now: Millis) -> StoreResult<u64> {
        self.delete_expired("two_factor_rows", "token_key", "expires_instant", now)
            .await
    }

    async fn delete_expired_refresh_tokens(&self, now: Millis) -> StoreResult<u64> {
        self.delete_expired("refresh_tokens", "token_hash", "expires_instant", now)
            .await
    }

    async fn delete_expired_change_password_ids(&self, now: Millis) -> StoreResult<u64> {
        self.delete_expired("change_password_ids", "id_hash", "expires_instant", now)
            .await
    }

    async fn delete_ended_login_attempts(&self, now: Millis) -> StoreResult<u64> {
        let counts = self
            .delete_expired(
                "login_attempts",
                "tenant_id, subject",
                "expires_instant",
                now,
            )
            .await?;
        let locks = self
            .delete_expired("login_locks", "tenant_id, subject", "until_instant", now)
            .await?;
        Ok(counts + locks)
    }
}

/// The statement that takes attempts back (see `SessionStore::forget_login_attempts`); also a
/// part of a successful login's one write (`Store::record_login`). `None` when there is nothing
/// to take back.
pub(crate) fn forget_attempts_part(back: &AttemptsBack<'_>) -> Option<(String, Vec<Arg>)> {
    let all: Vec<&String> = back.reset.iter().chain(back.give_back).collect();
    if all.is_empty() {
        return None;
    }
    let params = |from: usize, n: usize| {
        (from..from + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let reset = if back.reset.is_empty() {
        "FALSE".to_string()
    } else {
        format!("subject IN ({})", params(2, back.reset.len()))
    };
    let sql = format!(
        "UPDATE login_attempts SET n = CASE WHEN {reset} THEN 0 ELSE n - 1 END \
         WHERE tenant_id = $1 AND n > 0 AND subject IN ({})",
        params(2, all.len())
    );
    let mut args = vec![Arg::from(back.tenant.to_string())];
    args.extend(all.into_iter().map(|s| Arg::from(s.clone())));
    Some((sql, args))
}
