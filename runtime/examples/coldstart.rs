//! Cold-start figures: loads 200 distinct hello-world bundles one at a time and prints the
//! p50/p99 of load + first response, with the warm pool off and on, and the memory each
//! isolate and each warm runtime costs.
//!
//! ```text
//! cargo run --release -p skiff-runtime --example coldstart            # every mode
//! cargo run --release -p skiff-runtime --example coldstart -- warm    # one mode
//! ```
//!
//! Modes (each runs in its own process, so that RSS figures do not mix):
//! - `cold`: no warm pool; every load boots its runtime.
//! - `warm`: 2 warm runtimes per thread; each load arrives once the pool is full again (or
//!   after a second): cold starts spaced out, as they mostly are on a node.
//! - `burst`: 2 warm runtimes per thread, loads back to back with no pause: the pool refills
//!   only in lulls, so most loads find it empty.

use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_runtime::{
    FetchRequest, IsolateHandle, IsolateOptions, LogSink, ResponseBody, ScriptBundle, WorkerPool,
};

const SCRIPTS: usize = 200;
const WARM_PER_THREAD: usize = 2;

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn wait_for_warm(pool: &WorkerPool, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.warm_pool_size() < at_least && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn load_and_fetch(pool: &WorkerPool, i: usize) -> IsolateHandle {
    let name = format!("hello{i}");
    let source = format!(
        "export default {{ fetch(req, env) {{ return new Response(`Hello World {i} ${{env.GREETING}}`); }} }};"
    );
    let mut bundle = ScriptBundle::single(&name, source);
    bundle.env.insert("GREETING".into(), "hi".into());
    let options = IsolateOptions {
        log: LogSink::new(&name, Arc::new(|_| {})),
        ..IsolateOptions::new(&name)
    };
    let isolate = pool
        .load(Arc::new(bundle), options)
        .await
        .expect("the script loads");
    let head = isolate
        .fetch(FetchRequest {
            method: "GET".into(),
            url: format!("http://{name}.localhost/"),
            headers: vec![],
            body: None,
            meter: None,
        })
        .await
        .expect("a response");
    let ResponseBody::Full(body) = head.body else {
        panic!("a complete body");
    };
    assert_eq!(body, format!("Hello World {i} hi").as_bytes());
    isolate
}

async fn run(mode: &str) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let warm = if mode == "cold" { 0 } else { WARM_PER_THREAD };
    let rss_start = rss_bytes();
    let pool = WorkerPool::with_warm(threads, warm).expect("pool");
    wait_for_warm(&pool, warm * threads).await;
    // Let the refill tasks finish and the allocator settle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_ready = rss_bytes();

    let mut times = Vec::with_capacity(SCRIPTS);
    let mut handles = Vec::with_capacity(SCRIPTS);
    let started = Instant::now();
    for i in 0..SCRIPTS {
        if mode == "warm" {
            // A lull long enough for the refills to finish (threads near the end of their
            // creation budget do not refill, hence the cap).
            let deadline = Instant::now() + Duration::from_secs(1);
            while pool.warm_pool_size() < warm * threads && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let t = Instant::now();
        handles.push(load_and_fetch(&pool, i).await);
        times.push(t.elapsed());
    }
    let total = started.elapsed();
    let warm_starts = pool.warm_starts();
    let rss_loaded = rss_bytes();
    let mut heap = 0;
    for handle in &handles {
        heap += handle.heap_measured().await;
    }
    times.sort();
    println!(
        "{mode:>5}: threads {threads}, warm/thread {warm}: load+first response over {SCRIPTS} scripts: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, mean {:.1} ms; {warm_starts} warm starts; \
         wall {:.1} s",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1]),
        ms(times.iter().sum::<Duration>()) / times.len() as f64,
        total.as_secs_f64(),
    );
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    if warm > 0 {
        println!(
            "{mode:>5}: RSS of the pool with {} warm runtimes: {:.1} MiB ({:.1} MiB each, threads included)",
            warm * threads,
            mib(rss_ready.saturating_sub(rss_start)),
            mib(rss_ready.saturating_sub(rss_start)) / (warm * threads) as f64,
        );
    }
    println!(
        "{mode:>5}: RSS per live isolate {:.2} MiB ({} isolates, {:.1} MiB over the ready pool); engine heap per isolate {:.2} MiB",
        mib(rss_loaded.saturating_sub(rss_ready)) / SCRIPTS as f64,
        SCRIPTS,
        mib(rss_loaded.saturating_sub(rss_ready)),
        mib(heap) / SCRIPTS as f64,
    );
    drop(handles);
    drop(pool);
}

fn main() {
    let mode = std::env::args().nth(1);
    match mode.as_deref() {
        Some(mode @ ("cold" | "warm" | "burst")) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio");
            runtime.block_on(run(mode));
        }
        Some(other) => {
            eprintln!("unknown mode {other:?}: cold, warm or burst");
            std::process::exit(2);
        }
        None => {
            let exe = std::env::current_exe().expect("own path");
            for mode in ["cold", "warm", "burst"] {
                let status = std::process::Command::new(&exe)
                    .arg(mode)
                    .status()
                    .expect("run a mode");
                assert!(status.success(), "mode {mode} failed");
            }
        }
    }
}
