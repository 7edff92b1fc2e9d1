//! The domain's [`OAuthStore`] on SQL (`0008_oauth.sql`): authorization codes and SSO sessions,
//! each kept as the SHA-256 of its secret, and the delete of expired ones.

use super::{backend, Arg, Row, SqlStore};
use portcullis_domain::oauth::{OAuthStore, SsoSessions, StoredCode, StoredSso};
use portcullis_domain::{Millis, StoreResult};
use uuid::Uuid;

const CODE_COLUMNS: &str = "code_hash, tenant_id, application_id, user_id, redirect_uri, \
    code_challenge, nonce, scope, sid, auth_time, expires_instant, family_id";
const SSO_COLUMNS: &str = "id_hash, sid, tenant_id, user_id, auth_time, expires_instant";

fn uuid(row: &Row, col: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(&row.get::<String>(col)?).map_err(backend)
}

fn code_of(row: &Row) -> StoreResult<StoredCode> {
    Ok(StoredCode {
        code_hash: row.get("code_hash")?,
        tenant_id: uuid(row, "tenant_id")?,
        application_id: uuid(row, "application_id")?,
        user_id: uuid(row, "user_id")?,
        redirect_uri: row.get("redirect_uri")?,
        code_challenge: row.get("code_challenge")?,
        nonce: row.get("nonce")?,
        scope: row.get("scope")?,
        sid: uuid(row, "sid")?,
        auth_time: row.get("auth_time")?,
        expires_instant: row.get("expires_instant")?,
        family_id: uuid(row, "family_id")?,
    })
}

fn sso_of(row: &Row) -> StoreResult<StoredSso> {
    Ok(StoredSso {
        id_hash: row.get("id_hash")?,
        sid: uuid(row, "sid")?,
        tenant_id: uuid(row, "tenant_id")?,
        user_id: uuid(row, "user_id")?,
        auth_time: row.get("auth_time")?,
        expires_instant: row.get("expires_instant")?,
    })
}

#[async_trait::async_trait]
impl OAuthStore for SqlStore {
    async fn insert_oauth_code(&self, c: &StoredCode) -> StoreResult<()> {
        self.exec(
            &format!(
                "INSERT INTO oauth_codes ({CODE_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ),
            args![
                c.code_hash.clone(),
                c.tenant_id.to_string(),
                c.application_id.to_string(),
                c.user_id.to_string(),
                c.redirect_uri.clone(),
                c.code_challenge.clone(),
                c.nonce.clone(),
                c.scope.clone(),
                c.sid.to_string(),
                c.auth_time,
                c.expires_instant,
                c.family_id.to_string(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn use_oauth_code(
        &self,
        code_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<(StoredCode, bool)>> {
        // The mark and the read of the first use are one statement, so of two exchanges at
        // once exactly one gets the row back.
        let first = self
            .db
            .write_returning(
                &format!(
                    "UPDATE oauth_codes SET used_instant = $1 \
                     WHERE code_hash = $2 AND used_instant IS NULL RETURNING {CODE_COLUMNS}"
                ),
                args![now, code_hash.to_string()],
            )
            .await?;
        if let Some(r) = first.first() {
            return Ok(Some((code_of(r)?, true)));
        }
        // Not the first use: the replay is recorded before the answer, so the first use finds
        // it once its tokens are written, whichever of the two ran first.
        let again = self
            .db
            .write_returning(
                &format!(
                    "UPDATE oauth_codes SET replayed_instant = COALESCE(replayed_instant, $1) \
                     WHERE code_hash = $2 RETURNING {CODE_COLUMNS}"
                ),
                args![now, code_hash.to_string()],
            )
            .await?;
        again.first().map(|r| Ok((code_of(r)?, false))).transpose()
    }

    async fn oauth_code_replayed(&self, code_hash: &str) -> StoreResult<bool> {
        let rows = self
            .db
            .read(
                "SELECT replayed_instant FROM oauth_codes WHERE code_hash = $1",
                args![code_hash.to_string()],
            )
            .await?;
        match rows.first() {
            Some(r) => Ok(r.get::<Option<i64>>("replayed_instant")?.is_some()),
            None => Ok(false),
        }
    }

    async fn insert_sso_session(&self, s: &StoredSso) -> StoreResult<()> {
        self.exec(
            &format!("INSERT INTO sso_sessions ({SSO_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
            args![
                s.id_hash.clone(),
                s.sid.to_string(),
                s.tenant_id.to_string(),
                s.user_id.to_string(),
                s.auth_time,
                s.expires_instant,
            ],
        )
        .await?;
        Ok(())
    }

    async fn sso_session(&self, id_hash: &str) -> StoreResult<Option<StoredSso>> {
        let rows = self
            .db
            .read(
                &format!("SELECT {SSO_COLUMNS} FROM sso_sessions WHERE id_hash = $1"),
                args![id_hash.to_string()],
            )
            .await?;
        rows.first().map(sso_of).transpose()
    }

    async fn end_sso_sessions(&self, which: SsoSessions<'_>) -> StoreResult<u64> {
        let (cond, arg) = match which {
            SsoSessions::Hash(h) => ("id_hash = $1", h.to_string()),
            SsoSessions::Sid(s) => ("sid = $1", s.to_string()),
            SsoSessions::User(u) => ("user_id = $1", u.to_string()),
        };
        self.exec(
            &format!("DELETE FROM sso_sessions WHERE {cond}"),
            args![arg],
        )
        .await
    }

    async fn delete_expired_oauth_rows(&self, now: Millis) -> StoreResult<u64> {
        let codes = self
            .delete_expired("oauth_codes", "code_hash", "expires_instant", now)
            .await?;
        let sessions = self
            .delete_expired("sso_sessions", "id_hash", "expires_instant", now)
            .await?;
        Ok(codes + sessions)
    }
}
