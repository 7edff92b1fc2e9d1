//! `import-jobs`: this node's share of the import-job queue (`domain::jobs`), one job at a time.
//! Each round first puts back in the queue the jobs whose node stopped without finishing them
//! (their claim has ended), then claims the oldest queued job and runs it, renewing the claim
//! while it runs. It looks for work when a job is queued on this node and every few seconds,
//! for jobs queued on other nodes and claims that ended.

use crate::{Shutdown, Worker};
use futures_util::future::BoxFuture;
use portcullis_domain::import::jobs::CLAIM_MILLIS;
use portcullis_domain::Identity;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

const NAME: &str = "import-jobs";

/// How often the queue is looked at without a wake-up.
const POLL: Duration = Duration::from_secs(5);

/// How often a running job's claim is renewed: a few renewals fit in one claim, so one that
/// is late (a busy database) does not lose it.
const RENEW_EVERY: Duration = Duration::from_millis(CLAIM_MILLIS as u64 / 4);

type ReadFile = Arc<dyn Fn(String) -> BoxFuture<'static, Result<Vec<u8>, String>> + Send + Sync>;

pub struct ImportJobs {
    identity: Identity,
    node: String,
    wake: Arc<Notify>,
    read_file: ReadFile,
    poll: Duration,
}

impl ImportJobs {
    /// The worker of node `node` (a name no other live node has), woken by `wake` when a job is
    /// queued on this node; `read_file` reads a file job's file.
    pub fn new<F, Fut>(identity: Identity, node: &str, wake: Arc<Notify>, read_file: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, String>> + Send + 'static,
    {
        Self {
            identity,
            node: node.to_string(),
            wake,
            read_file: Arc::new(move |path| Box::pin(read_file(path))),
            poll: POLL,
        }
    }

    /// Looks at the queue every `poll` without a wake-up (tests: less than `POLL`).
    pub fn poll_every(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Puts abandoned jobs back in the queue, then claims and runs one job; answers whether one
    /// ran to its end.
    async fn round(&self, shutdown: &Shutdown) -> Result<bool, String> {
        let identity = &self.identity;
        let requeued = identity
            .requeue_abandoned_import_jobs()
            .await
            .map_err(|e| e.to_string())?;
        if requeued > 0 {
            tracing::info!(
                jobs = requeued,
                "import jobs whose node stopped without finishing them are queued again"
            );
        }
        let Some(job) = identity
            .claim_import_job(&self.node)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(false);
        };
        let id = job.id();
        // Renewals and the run on tasks of their own: an import busy on its thread (SQLite's
        // writes run on the caller's) holds neither the renewals nor the give-up back.
        let _renewing = AbortOnDrop(tokio::spawn(renew(identity.clone(), id, self.node.clone())));
        let mut run = AbortOnDrop(tokio::spawn({
            let (identity, node, read) =
                (identity.clone(), self.node.clone(), self.read_file.clone());
            async move {
                identity
                    .run_import_job(job, &node, move |path| read(path))
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }));
        tokio::select! {
            ended = &mut run.0 => ended.map_err(|e| format!("the import job's run failed: {e}"))?.map(|_| true),
            _ = shutdown.give_up() => {
                // Stopped at its next await: an import not yet committed rolls back. One that
                // committed recorded the job's end with its users, so the release below (which
                // waits for that transaction) finds the job ended and leaves it.
                run.0.abort();
                if identity
                    .release_import_job(id, &self.node)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    tracing::info!(job = %id, "import job unfinished at shutdown: queued again");
                }
                Ok(false)
            }
        }
    }
}

impl Worker for ImportJobs {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(&mut self, shutdown: &Shutdown) -> Result<(), String> {
        while !shutdown.is_stopping() {
            match self.round(shutdown).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(worker = NAME, error = %e, "import jobs: the round failed; the next one tries again")
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
                _ = shutdown.stopping() => {}
            }
        }
        Ok(())
    }
}

/// Renews the node's claim on job `id` until aborted.
async fn renew(identity: Identity, id: Uuid, node: String) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        match identity.renew_import_job_claim(id, &node).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = %id, "import job: its claim ended before a renewal; another node may run it");
                return;
            }
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "import job: the claim was not renewed; the next renewal tries again")
            }
        }
    }
}

/// A task that ends with its handle: a worker stopped where it was takes its job's run and
/// renewals with it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
