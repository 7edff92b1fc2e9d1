//! Pool throughput against the ideal: `workers` × the single-thread rate of the same job.
//!
//! `cargo bench -p portcullis-hash --bench pool` prints a table with the ratio (target ≥ 90%).
//! Set POOL_BENCH_JOBS to change the number of jobs per measurement (default 40) and
//! POOL_BENCH_ROUNDS the number of interleaved rounds (default 5). Each rate is the best round:
//! on a shared machine other processes only ever slow a round down, so the best round is the
//! closest to the machine's real figure, for both sides of the comparison alike.

use std::time::{Duration, Instant};

use portcullis_hash::{hash_password, verify, Credential, HashPool};

/// This process' CPU time (user + system) in seconds, from /proc/self/stat (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn single_thread_rate(credential: &Credential, jobs: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..jobs {
        std::hint::black_box(verify(credential, b"pool bench"));
    }
    jobs as f64 / start.elapsed().as_secs_f64()
}

fn pool_rate(
    runtime: &tokio::runtime::Runtime,
    pool: &HashPool,
    credential: &Credential,
    jobs: usize,
) -> f64 {
    runtime.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..jobs)
            .map(|_| {
                let pool = pool.clone();
                let credential = credential.clone();
                tokio::spawn(
                    async move { pool.run(move || verify(&credential, b"pool bench")).await },
                )
            })
            .collect();
        for h in handles {
            h.await.unwrap().expect("the queue is sized for every job");
        }
        jobs as f64 / start.elapsed().as_secs_f64()
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list; there are no criterion benches here.
    }
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let jobs = env("POOL_BENCH_JOBS", 40);
    let rounds = env("POOL_BENCH_ROUNDS", 5);
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let workers = 2;
    let pool = HashPool::new(workers, jobs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cases = [
        (
            "argon2id default (m=19MiB t=2)",
            hash_password("argon2id", None, b"x").unwrap(),
        ),
        (
            "bcrypt cost 10",
            hash_password("bcrypt", Some(10), b"x").unwrap(),
        ),
        (
            "pbkdf2-sha256 27,500",
            hash_password("salted-pbkdf2-hmac-sha256", Some(27_500), b"x").unwrap(),
        ),
    ];
    println!(
        "pool throughput: {workers} workers, {jobs} jobs per run, best of {rounds} interleaved rounds, cores = {}, loadavg before: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load()
    );
    println!("| job | single thread (verifies/s) | ideal = {workers} × single | pool (verifies/s) | pool / ideal | CPU-s per verify, pool / single |");
    println!("|---|---|---|---|---|---|");
    for (name, credential) in &cases {
        // Warm up both paths once.
        single_thread_rate(credential, 2);
        pool_rate(&runtime, &pool, credential, workers * 2);
        let (mut single, mut pooled) = (0f64, 0f64);
        let (mut single_cpu, mut pool_cpu) = (0f64, 0f64);
        for _ in 0..rounds {
            let c0 = cpu_seconds();
            single = single.max(single_thread_rate(credential, jobs));
            let c1 = cpu_seconds();
            pooled = pooled.max(pool_rate(&runtime, &pool, credential, jobs));
            let c2 = cpu_seconds();
            single_cpu += c1 - c0;
            pool_cpu += c2 - c1;
        }
        // CPU time per verify does not depend on what else the machine runs: a ratio near 100%
        // means the pool adds no work of its own, whatever the wall-clock figure.
        let cpu_ratio = 100.0 * pool_cpu / single_cpu.max(f64::EPSILON);
        let ideal = single * workers as f64;
        println!(
            "| {name} | {single:.1} | {ideal:.1} | {pooled:.1} | {:.0}% | {cpu_ratio:.0}% |",
            100.0 * pooled / ideal
        );
    }
    println!("loadavg after: {}", load());
    std::thread::sleep(Duration::from_millis(10));
}
