//! The domain's [`ConnectorStore`] on SQL: connector resources and the daily migration counters
//! (migration `0005_connectors.sql`).

use super::{backend, id_of, json, Arg, SqlStore};
use portcullis_domain::migration::connectors::{Connector, ConnectorCount, ConnectorStore};
use portcullis_domain::{StoreResult, StoredUser};
use uuid::Uuid;

const BUMP: &str = "INSERT INTO connector_stats (tenant_id, connector_id, day, outcome, n) \
                    VALUES ($1, $2, $3, $4, 1) \
                    ON CONFLICT (tenant_id, connector_id, day, outcome) \
                    DO UPDATE SET n = connector_stats.n + 1";

const BUMP_MIGRATED_AND_LOGIN: &str =
    "INSERT INTO connector_stats (tenant_id, connector_id, day, outcome, n) \
     VALUES ($1, $2, $3, 'migrated', 1), ($4, $5, $6, 'login', 1) \
     ON CONFLICT (tenant_id, connector_id, day, outcome) \
     DO UPDATE SET n = connector_stats.n + 1";

#[async_trait::async_trait]
impl ConnectorStore for SqlStore {
    async fn insert_connector(&self, c: &Connector) -> StoreResult<()> {
        let _invalidate = self.invalidates();
        self.exec(
            "INSERT INTO connectors (id, body, insert_instant) VALUES ($1, $2, $3)",
            args![id_of(c.id), json(c), c.insert_instant.unwrap_or(0)],
        )
        .await
        .map(|_| ())
        .map_err(|e| match e {
            portcullis_domain::StoreError::Duplicate(_) => {
                portcullis_domain::StoreError::Duplicate("connector.id")
            }
            e => e,
        })
    }

    async fn connector(&self, id: Uuid) -> StoreResult<Option<Connector>> {
        // Every slow-migration login reads its connector: from the per-node cache (a round
        // trip saved), refreshed like the tenants' (see `cache`).
        if let Some(c) = self.cache.connector(id) {
            return Ok(Some(c));
        }
        let generation = self.cache.generation();
        let found: Option<Connector> = self
            .one(
                "SELECT body FROM connectors WHERE id = $1",
                args![id.to_string()],
            )
            .await?;
        if let Some(c) = &found {
            self.cache.put_connector(generation, c.clone());
        }
        Ok(found)
    }

    async fn connectors(&self) -> StoreResult<Vec<Connector>> {
        self.fetch_bodies(
            "SELECT body FROM connectors ORDER BY insert_instant, id",
            &[],
        )
        .await
    }

    async fn update_connector(&self, c: &Connector) -> StoreResult<()> {
        let _invalidate = self.invalidates();
        self.exec(
            "UPDATE connectors SET body = $2 WHERE id = $1",
            args![id_of(c.id), json(c)],
        )
        .await
        .map(|_| ())
    }

    async fn delete_connector(&self, id: Uuid) -> StoreResult<bool> {
        let _invalidate = self.invalidates();
        let mut tx = self.db.begin().await?;
        let id = id.to_string();
        tx.write(
            "DELETE FROM connector_stats WHERE connector_id = $1",
            args![id.clone()],
        )
        .await?;
        let n = tx
            .write("DELETE FROM connectors WHERE id = $1", args![id])
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn insert_migrated_user(
        &self,
        su: &StoredUser,
        day: i64,
        events: &[portcullis_domain::Event],
    ) -> StoreResult<()> {
        let (tenant, connector) = (id_of(su.user.tenant_id), id_of(su.user.connector_id));
        // The user, the events and both counters (the migration is also the login the
        // connector served) as one batch: on PostgreSQL one statement (its parts as CTEs, atomic
        // on its own), on SQLite one transaction.
        let mut parts = super::insert_user_parts(su);
        parts.extend(events.iter().map(super::event_part));
        parts.push((
            BUMP_MIGRATED_AND_LOGIN.into(),
            vec![
                Arg::from(tenant.clone()),
                Arg::from(connector.clone()),
                Arg::from(day),
                Arg::from(tenant),
                Arg::from(connector),
                Arg::from(day),
            ],
        ));
        self.batch(parts).await
    }

    async fn count_connector(
        &self,
        tenant: Uuid,
        connector: Uuid,
        day: i64,
        outcome: &str,
    ) -> StoreResult<()> {
        self.exec(
            BUMP,
            args![
                tenant.to_string(),
                connector.to_string(),
                day,
                outcome.to_string()
            ],
        )
        .await
        .map(|_| ())
    }

    async fn connector_counts(&self, tenant: Option<Uuid>) -> StoreResult<Vec<ConnectorCount>> {
        let rows = self
            .db
            .read(
                "SELECT tenant_id, connector_id, day, outcome, n FROM connector_stats \
                 WHERE ($1 IS NULL OR tenant_id = $1) ORDER BY day, tenant_id, connector_id, outcome",
                args![tenant.map(|t| t.to_string())],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let id = |c: &str| -> StoreResult<Uuid> {
                    let s: String = r.get(c)?;
                    Uuid::parse_str(&s).map_err(backend)
                };
                Ok(ConnectorCount {
                    tenant_id: id("tenant_id")?,
                    connector_id: id("connector_id")?,
                    day: r.get("day")?,
                    outcome: r.get("outcome")?,
                    count: r.get("n")?,
                })
            })
            .collect()
    }
}
