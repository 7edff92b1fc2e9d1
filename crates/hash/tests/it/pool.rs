//! The hashing pool: bounded, off the runtime, results come back.

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use portcullis_hash::{hash_password, verify, HashPool, PoolBusy};

#[tokio::test]
async fn results_come_back() {
    let pool = HashPool::new(2, 8);
    assert_eq!(pool.run(|| 2 + 2).await, Ok(4));
    let credential = pool
        .run(|| hash_password("bcrypt", Some(4), b"pw").unwrap())
        .await
        .unwrap();
    assert!(pool.run(move || verify(&credential, b"pw")).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_on_pool_threads_not_runtime_threads() {
    let pool = HashPool::new(2, 8);
    let runtime_thread = std::thread::current().id();
    let (name, id) = pool
        .run(|| {
            let t = std::thread::current();
            (t.name().map(str::to_string), t.id())
        })
        .await
        .unwrap();
    assert_ne!(id, runtime_thread);
    assert!(name.unwrap().starts_with("portcullis-hash-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_answers_busy_instead_of_queueing_without_bound() {
    let pool = HashPool::new(1, 2);
    let gate = Arc::new(Barrier::new(2));
    // One job occupies the only worker until the gate opens...
    let g = gate.clone();
    let running = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(move || g.wait()).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...two more fill the queue...
    let queued: Vec<_> = (0..2)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move || i).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...and the next is refused at once.
    assert_eq!(pool.run(|| 99).await, Err(PoolBusy));
    gate.wait();
    running.await.unwrap().unwrap();
    for (i, q) in queued.into_iter().enumerate() {
        assert_eq!(q.await.unwrap(), Ok(i));
    }
    // Once drained, the pool takes work again.
    assert_eq!(pool.run(|| 7).await, Ok(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_set_of_threads_runs_every_job() {
    let pool = HashPool::new(2, 256);
    let names = Arc::new(Mutex::new(HashSet::new()));
    let jobs: Vec<_> = (0..100)
        .map(|_| {
            let pool = pool.clone();
            let names = names.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let name = std::thread::current().name().unwrap().to_string();
                    names.lock().unwrap().insert(name);
                })
                .await
            })
        })
        .collect();
    for j in jobs {
        j.await.unwrap().unwrap();
    }
    assert!(names.lock().unwrap().len() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_run_in_parallel() {
    // Both jobs wait for each other: this finishes only if two workers run at once.
    let pool = HashPool::new(2, 4);
    let gate = Arc::new(Barrier::new(2));
    let (a, b) = (gate.clone(), gate);
    let both = async { tokio::join!(pool.run(move || a.wait()), pool.run(move || b.wait())) };
    let (ra, rb) = tokio::time::timeout(Duration::from_secs(10), both)
        .await
        .expect("the two workers did not run in parallel");
    ra.unwrap();
    rb.unwrap();
}

#[tokio::test]
async fn a_panicking_job_does_not_kill_the_pool() {
    let pool = HashPool::new(1, 4);
    assert_eq!(
        pool.run(|| -> u32 { panic!("job bug") }).await,
        Err(PoolBusy)
    );
    assert_eq!(pool.run(|| 1).await, Ok(1));
}

#[test]
fn for_this_machine_has_a_thread_per_core() {
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(HashPool::for_this_machine().workers(), cores);
}

fn on_a_pool_thread() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with("portcullis-hash-"))
}

#[tokio::test]
async fn a_kind_measured_cheap_runs_on_the_callers_thread_and_a_slow_one_stays_on_the_pool() {
    let pool = HashPool::new(1, 4);
    // Unmeasured: the pool.
    assert!(pool.run_as("cheap", on_a_pool_thread).await.unwrap());
    // Measured at well under INLINE_BELOW: here.
    assert!(pool.runs_inline("cheap"));
    assert!(!pool.run_as("cheap", on_a_pool_thread).await.unwrap());
    let slow = || {
        std::thread::sleep(portcullis_hash::INLINE_BELOW * 4);
        on_a_pool_thread()
    };
    for _ in 0..3 {
        assert!(pool.run_as("slow", slow).await.unwrap());
    }
    assert!(!pool.runs_inline("slow"));
}

#[tokio::test]
async fn new_passwords_of_a_cheap_scheme_hash_here_and_argon2id_on_the_pool() {
    let pool = HashPool::new(1, 4);
    let cheap = |pool: HashPool| async move {
        pool.hash_password("salted-sha256".into(), Some(1), b"pw".to_vec())
            .await
            .unwrap()
            .unwrap()
    };
    // The first run is on the pool and also builds the scheme registry; the second is timed alone.
    for _ in 0..2 {
        assert!(verify(&cheap(pool.clone()).await, b"pw"));
    }
    assert!(pool.runs_inline("hash salted-sha256:1"));
    assert!(verify(&cheap(pool.clone()).await, b"pw"));
    let argon = pool
        .hash_password(
            portcullis_hash::DEFAULT_SCHEME.into(),
            None,
            "pw".to_string(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(verify(&argon, b"pw"));
    assert!(!pool.runs_inline(&format!("hash {}:0", portcullis_hash::DEFAULT_SCHEME)));
    // An unknown scheme is an error, not a panic.
    assert!(pool
        .hash_password("no-such-scheme".into(), None, "pw".to_string())
        .await
        .unwrap()
        .is_err());
}
