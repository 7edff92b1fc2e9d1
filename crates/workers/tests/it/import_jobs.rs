//! The import-job worker: several nodes on one database run each job once; a job whose node
//! stopped without finishing it (its claim ended) runs again, one another node is running is
//! left alone; at shutdown the job in hand is finished when it fits in the grace time and
//! queued again when it does not.

use crate::{eventually, node, second_store};
use portcullis_domain::*;
use portcullis_store::testing::{Backend, TestDb};
use portcullis_workers::{ImportJobs, Workers};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use uuid::Uuid;

portcullis_store::on_both_backends!(
    two_nodes_run_each_job_once,
    a_job_whose_claim_ended_runs_again_and_a_live_claim_is_left_alone,
    a_job_in_hand_at_shutdown_is_finished_within_the_grace_time,
    a_job_longer_than_the_grace_time_is_queued_again_and_runs_later,
    an_import_whose_claim_ended_writes_nothing,
);

/// An import request of `n` users (with hashes: nothing to hash) named after `file`.
fn request(file: &str, n: usize) -> Vec<u8> {
    let bcrypt = "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e";
    let users: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"email": format!("{file}-{i}@example.com"), "password": bcrypt, "encryptionScheme": "bcrypt"}))
        .collect();
    serde_json::to_vec(&serde_json::json!({ "users": users })).unwrap()
}

/// The files the jobs read, served from memory after `delay`, each read counted by node.
#[derive(Clone, Default)]
struct Files {
    reads: Arc<Mutex<HashMap<String, Vec<&'static str>>>>,
}

impl Files {
    fn worker(&self, identity: &Identity, node: &'static str, delay: Duration) -> ImportJobs {
        let reads = self.reads.clone();
        ImportJobs::new(
            identity.clone(),
            node,
            Arc::new(Notify::new()),
            move |path: String| {
                reads
                    .lock()
                    .unwrap()
                    .entry(path.clone())
                    .or_default()
                    .push(node);
                async move {
                    tokio::time::sleep(delay).await;
                    Ok(request(&path, 20))
                }
            },
        )
        .poll_every(Duration::from_millis(50))
    }

    fn reads(&self, path: &str) -> Vec<&'static str> {
        self.reads
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
    }
}

async fn queue(identity: &Identity, file: &str) -> Uuid {
    identity
        .queue_import_job(Scope::ALL, JobInput::File(file.into()))
        .await
        .unwrap()
        .id
}

async fn state(identity: &Identity, id: Uuid) -> JobState {
    identity.import_job(Scope::ALL, id).await.unwrap().state
}

async fn ended(identity: &Identity, id: Uuid) {
    eventually(Duration::from_secs(60), "the job's end", || async {
        matches!(
            state(identity, id).await,
            JobState::Succeeded | JobState::Failed
        )
    })
    .await;
    assert_eq!(state(identity, id).await, JobState::Succeeded);
}

async fn two_nodes_run_each_job_once(b: Backend) {
    let db = TestDb::new(b).await;
    let a = node(db.store.clone()).await;
    let b = node(second_store(&db).await).await;
    let files = Files::default();
    let mut jobs = Vec::new();
    for i in 0..16 {
        let file = format!("jobs{i}");
        jobs.push((queue(&a, &file).await, file));
    }
    // Each job takes a while, so both nodes find work while the other is busy.
    let mut on_a = Workers::new(Duration::from_secs(5));
    on_a.spawn(files.worker(&a, "a", Duration::from_millis(100)));
    let mut on_b = Workers::new(Duration::from_secs(5));
    on_b.spawn(files.worker(&b, "b", Duration::from_millis(100)));
    for (id, _) in &jobs {
        ended(&a, *id).await;
    }
    on_a.stop().await;
    on_b.stop().await;
    let mut by = HashMap::new();
    for (_, file) in &jobs {
        let reads = files.reads(file);
        assert_eq!(reads.len(), 1, "{file} ran once: {reads:?}");
        *by.entry(reads[0]).or_insert(0) += 1;
    }
    assert!(
        by.contains_key("a") && by.contains_key("b"),
        "both nodes ran jobs: {by:?}"
    );
    let users = a
        .store()
        .find_users(
            a.resolve_tenant(Scope::ALL, None).await.unwrap(),
            &[],
            &["jobs15-19@example.com".to_string()],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
}

async fn a_job_whose_claim_ended_runs_again_and_a_live_claim_is_left_alone(b: Backend) {
    let db = TestDb::new(b).await;
    let identity = node(db.store.clone()).await;
    let files = Files::default();
    let abandoned = queue(&identity, "abandoned").await;
    // Queued later, so taken second.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let elsewhere = queue(&identity, "elsewhere").await;
    let store = identity.store();
    let now = now_millis();
    // A node that died a minute ago, and one running its job now.
    let (job, _) = store
        .claim_import_job("dead", now - 60_000, now - 40_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.id, abandoned);
    let (job, _) = store
        .claim_import_job("alive", now, now + 3_600_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.id, elsewhere);

    let mut workers = Workers::new(Duration::from_secs(5));
    workers.spawn(files.worker(&identity, "here", Duration::ZERO));
    ended(&identity, abandoned).await;
    // Several more rounds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    workers.stop().await;
    assert_eq!(files.reads("abandoned"), vec!["here"]);
    assert_eq!(state(&identity, elsewhere).await, JobState::Running);
    assert!(files.reads("elsewhere").is_empty());
}

async fn a_job_in_hand_at_shutdown_is_finished_within_the_grace_time(b: Backend) {
    let db = TestDb::new(b).await;
    let identity = node(db.store.clone()).await;
    let files = Files::default();
    let id = queue(&identity, "slow").await;
    let mut workers = Workers::new(Duration::from_secs(10));
    workers.spawn(files.worker(&identity, "here", Duration::from_millis(500)));
    eventually(Duration::from_secs(10), "the job's start", || async {
        state(&identity, id).await == JobState::Running
    })
    .await;
    workers.stop().await;
    assert_eq!(state(&identity, id).await, JobState::Succeeded);
}

async fn a_job_longer_than_the_grace_time_is_queued_again_and_runs_later(b: Backend) {
    let db = TestDb::new(b).await;
    let identity = node(db.store.clone()).await;
    let files = Files::default();
    let id = queue(&identity, "long").await;
    let mut workers = Workers::new(Duration::from_secs(1));
    workers.spawn(files.worker(&identity, "first", Duration::from_secs(3600)));
    eventually(Duration::from_secs(10), "the job's start", || async {
        state(&identity, id).await == JobState::Running
    })
    .await;
    let stopping = Instant::now();
    workers.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(1),
        "{:?}",
        stopping.elapsed()
    );
    assert_eq!(state(&identity, id).await, JobState::Queued);

    let mut workers = Workers::new(Duration::from_secs(5));
    workers.spawn(files.worker(&identity, "next", Duration::ZERO));
    ended(&identity, id).await;
    workers.stop().await;
    assert_eq!(files.reads("long"), vec!["first", "next"]);
}

/// A node whose claim ended while its job ran (another node took the job) writes none of the
/// job's users: the job's end and its users commit together, under the claim.
async fn an_import_whose_claim_ended_writes_nothing(b: Backend) {
    let db = TestDb::new(b).await;
    let identity = node(db.store.clone()).await;
    let id = queue(&identity, "taken").await;
    let by_a = identity.claim_import_job("a").await.unwrap().unwrap();
    assert!(identity.release_import_job(id, "a").await.unwrap());
    let by_b = identity.claim_import_job("b").await.unwrap().unwrap();
    let read = |path: String| async move { Ok(request(&path, 20)) };
    assert_eq!(
        identity.run_import_job(by_a, "a", read).await.unwrap(),
        None
    );
    let tenant = identity.resolve_tenant(Scope::ALL, None).await.unwrap();
    let emails = ["taken-0@example.com".to_string()];
    assert!(identity
        .store()
        .find_users(tenant, &[], &emails, &[])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(state(&identity, id).await, JobState::Running, "b's, still");
    assert_eq!(
        identity.run_import_job(by_b, "b", read).await.unwrap(),
        Some(JobState::Succeeded)
    );
    let job = identity.import_job(Scope::ALL, id).await.unwrap();
    assert_eq!((job.users_created, job.users_done), (20, 20));
    assert_eq!(
        identity
            .store()
            .find_users(tenant, &[], &emails, &[])
            .await
            .unwrap()
            .len(),
        1
    );
}
