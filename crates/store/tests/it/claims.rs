//! Import jobs claimed by nodes: one statement takes a job for one node, only the holder of a
//! claim renews, finishes or releases it, and only ended claims go back to the queue.

use crate::tenant;
use portcullis_domain::*;
use portcullis_store::testing::{Backend, TestDb};
use portcullis_store::SqlStore;
use std::collections::HashSet;
use uuid::Uuid;

async fn queue(store: &SqlStore, t: Uuid, at: Millis) -> Uuid {
    let job = ImportJob {
        id: Uuid::new_v4(),
        tenant_id: t,
        state: JobState::Queued,
        file: None,
        users_total: Some(1),
        users_done: 0,
        users_created: 0,
        users_updated: 0,
        errors: None,
        insert_instant: at,
        start_instant: None,
        finish_instant: None,
    };
    store
        .insert_import_job(&job, Some(r#"{"users": []}"#))
        .await
        .unwrap();
    job.id
}

async fn state(store: &SqlStore, id: Uuid) -> JobState {
    store
        .import_job(Scope::ALL, id)
        .await
        .unwrap()
        .unwrap()
        .state
}

pub async fn only_the_node_holding_a_claim_renews_finishes_or_releases_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = &db.store;
    let t = tenant(&db, "t").await;
    let now = now_millis();
    let first = queue(store, t, 1).await;
    let second = queue(store, t, 2).await;

    let (job, body) = store
        .claim_import_job("a", now, now + 20_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.id, first, "the oldest job first");
    assert_eq!(job.state, JobState::Running);
    assert_eq!(body.as_deref(), Some(r#"{"users": []}"#));
    let (other, _) = store
        .claim_import_job("b", now, now + 20_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.id, second);
    assert!(store
        .claim_import_job("c", now, now + 20_000)
        .await
        .unwrap()
        .is_none());

    assert!(!store
        .renew_import_job(first, "b", now + 40_000)
        .await
        .unwrap());
    assert!(store
        .renew_import_job(first, "a", now + 40_000)
        .await
        .unwrap());
    // Live claims stay where they are.
    assert_eq!(store.requeue_import_jobs(now + 30_000).await.unwrap(), 1);
    assert_eq!(
        state(store, second).await,
        JobState::Queued,
        "b's claim ended"
    );
    assert_eq!(state(store, first).await, JobState::Running, "a renewed");

    let mut done = job.clone();
    done.state = JobState::Succeeded;
    done.finish_instant = Some(now);
    assert!(!store.finish_import_job(&done, "b").await.unwrap());
    assert_eq!(state(store, first).await, JobState::Running);
    assert!(store.finish_import_job(&done, "a").await.unwrap());
    assert_eq!(state(store, first).await, JobState::Succeeded);
    assert!(
        !store.finish_import_job(&done, "a").await.unwrap(),
        "a job ends once"
    );

    let (again, _) = store
        .claim_import_job("c", now, now + 20_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, second, "the requeued job is taken again");
    assert!(!store.release_import_job(second, "b").await.unwrap());
    assert!(store.release_import_job(second, "c").await.unwrap());
    assert_eq!(state(store, second).await, JobState::Queued);
}

/// Several nodes (stores of their own on one database) asking at once each get different
/// jobs, and every job is taken once.
pub async fn nodes_claiming_at_once_never_take_the_same_job(backend: Backend) {
    let db = TestDb::new(backend).await;
    let t = tenant(&db, "t").await;
    const JOBS: usize = 60;
    for i in 0..JOBS {
        queue(&db.store, t, i as Millis).await;
    }
    let mut nodes = Vec::new();
    for n in 0..4 {
        let store = SqlStore::connect_in_schema(&db.url, db.schema())
            .await
            .unwrap();
        nodes.push(tokio::spawn(async move {
            let now = now_millis();
            let mut taken = Vec::new();
            while let Some((job, _)) = store
                .claim_import_job(&format!("node{n}"), now, now + 20_000)
                .await
                .unwrap()
            {
                taken.push(job.id);
            }
            taken
        }));
    }
    let mut all = Vec::new();
    for n in nodes {
        all.extend(n.await.unwrap());
    }
    let distinct: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(all.len(), JOBS, "every job taken once: {all:?}");
    assert_eq!(distinct.len(), JOBS);
}
