//! The workers in-process: how a set of workers stops, and each worker over SQLite and
//! PostgreSQL (several nodes being several stores on one database).

mod cleanup;
mod import_jobs;
mod reset_mail;
mod stopping;

use portcullis_domain::Identity;
use portcullis_hash::HashPool;
use portcullis_store::testing::TestDb;
use portcullis_store::SqlStore;
use std::sync::Arc;
use std::time::Duration;

/// The identity service of one node over `store`, with the default tenant and application.
pub async fn node(store: SqlStore) -> Identity {
    let identity = Identity::new(Arc::new(store), HashPool::new(2, 64));
    identity.ensure_defaults().await.unwrap();
    identity
}

/// A second node's store on `db`'s database.
pub async fn second_store(db: &TestDb) -> SqlStore {
    SqlStore::connect_in_schema(&db.url, db.schema())
        .await
        .unwrap()
}

/// Waits up to `limit` for `cond`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + limit;
    while !cond().await {
        assert!(tokio::time::Instant::now() < end, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
