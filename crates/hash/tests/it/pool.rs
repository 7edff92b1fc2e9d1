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

#[test]
fn verifies_far_costlier_than_the_tenant_scheme_take_the_costly_lane() {
    use portcullis_hash::{parse_import, Lane};
    let pbkdf2_at_the_limits = parse_import(
        "pbkdf2",
        None,
        None,
        &format!(
            "$pbkdf2-sha1$i=10000000,l=128$c2FsdHNhbHRzYWx0${}",
            "A".repeat(171)
        ),
    )
    .unwrap();
    let pool = HashPool::new(1, 1);
    let lane = |c: &portcullis_hash::Credential, scheme: &str, factor: Option<u32>| {
        pool.lane_for(c, scheme, factor)
    };
    assert_eq!(lane(&pbkdf2_at_the_limits, "argon2id", None), Lane::Costly);
    let bcrypt_10 = hash_password("bcrypt", Some(10), b"pw").unwrap();
    assert_eq!(
        lane(&bcrypt_10, "argon2id", None),
        Lane::Main,
        "a legacy hash about as costly as the tenant's stays on the main lane"
    );
    // A bcrypt string at cost 13 (made at cost 4, its cost digits changed: it only needs to
    // parse).
    let cheap = hash_password("bcrypt", Some(4), b"pw").unwrap();
    let bcrypt_13 = parse_import(
        "bcrypt",
        None,
        None,
        &cheap.hash.replacen("$04$", "$13$", 1),
    )
    .unwrap();
    assert_eq!(lane(&bcrypt_13, "argon2id", None), Lane::Costly);
    assert_eq!(
        lane(&bcrypt_13, "bcrypt", Some(13)),
        Lane::Main,
        "the tenant's own cost"
    );
    assert_eq!(
        lane(&bcrypt_13, "unknown", None),
        Lane::Costly,
        "measured against the default scheme"
    );
    let broken = portcullis_hash::Credential {
        scheme: "bcrypt".into(),
        factor: 31,
        salt: String::new(),
        hash: "$2b$31$nonsense".into(),
    };
    assert_eq!(lane(&broken, "argon2id", None), Lane::Main, "fails at once");
    let pool = HashPool::new(2, 8);
    assert_eq!(
        pool.for_verify(&pbkdf2_at_the_limits, "argon2id", None)
            .lane(),
        Lane::Costly
    );
    assert_eq!(
        pool.for_verify(&bcrypt_10, "argon2id", None).lane(),
        Lane::Main
    );
    assert_eq!((pool.workers(), pool.costly_workers()), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_costly_lane_answers_busy_and_leaves_every_main_worker_free() {
    use portcullis_hash::Lane;
    let pool = HashPool::new(2, 8);
    let costly = pool.on(Lane::Costly);
    let gate = Arc::new(Barrier::new(2));
    // The costly lane's one thread is held until the gate opens...
    let g = gate.clone();
    let running = tokio::spawn({
        let costly = costly.clone();
        async move { costly.run(move || g.wait()).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...its queue (8 per thread) fills...
    let queued: Vec<_> = (0..8)
        .map(|i| {
            let costly = costly.clone();
            tokio::spawn(async move { costly.run(move || i).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...and the next costly job is refused at once,
    assert_eq!(costly.run(|| 99).await, Err(PoolBusy));
    // while both main workers still run jobs, side by side.
    let both = Arc::new(Barrier::new(2));
    let main_jobs: Vec<_> = (0..2)
        .map(|_| {
            let (pool, both) = (pool.clone(), both.clone());
            tokio::spawn(async move { pool.run(move || both.wait().is_leader()).await })
        })
        .collect();
    let leaders = tokio::time::timeout(Duration::from_secs(5), async {
        let mut n = 0;
        for j in main_jobs {
            n += usize::from(j.await.unwrap().unwrap());
        }
        n
    })
    .await
    .expect("the main lane is not held by the costly jobs");
    assert_eq!(leaders, 1);
    gate.wait();
    running.await.unwrap().unwrap();
    for (i, q) in queued.into_iter().enumerate() {
        assert_eq!(q.await.unwrap(), Ok(i));
    }
}
