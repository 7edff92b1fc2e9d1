//! The domain's [`ThemeStore`] on SQL (`0009_themes.sql`): the hosted pages' themes, one row
//! each, read by id within the caller's tenant.

use super::{id_of, json, scope_param, Arg, SqlStore, SCOPED};
use portcullis_domain::{Scope, StoreResult, Theme, ThemeStore};
use uuid::Uuid;

#[async_trait::async_trait]
impl ThemeStore for SqlStore {
    async fn insert_theme(&self, t: &Theme) -> StoreResult<()> {
        self.exec(
            "INSERT INTO themes (id, tenant_id, body, insert_instant) VALUES ($1, $2, $3, $4)",
            args![
                id_of(t.id),
                id_of(t.tenant_id),
                json(t),
                t.insert_instant.unwrap_or(0)
            ],
        )
        .await
        .map(|_| ())
    }

    async fn theme(&self, scope: Scope, id: Uuid) -> StoreResult<Option<Theme>> {
        self.scoped("themes", scope, id).await
    }

    async fn themes(&self, scope: Scope) -> StoreResult<Vec<Theme>> {
        self.scoped_all("themes", scope).await
    }

    async fn update_theme(&self, t: &Theme) -> StoreResult<()> {
        self.exec(
            "UPDATE themes SET body = $2 WHERE id = $1",
            args![id_of(t.id), json(t)],
        )
        .await
        .map(|_| ())
    }

    async fn delete_theme(&self, scope: Scope, id: Uuid) -> StoreResult<bool> {
        Ok(self
            .exec(
                &format!("DELETE FROM themes WHERE id = $1 AND {SCOPED}"),
                args![Some(id.to_string()), scope_param(scope)],
            )
            .await?
            > 0)
    }
}
