//! Where a hello-world isolate's memory goes: loads N distinct hello-world scripts (200 unless
//! given) the way a node does (warm runtimes from the startup snapshot), sends each one request,
//! and prints the engine's census by category for one of them, its engine heap, and the
//! process's RSS per isolate, whose part outside the engine heap is the rest of the table.
//!
//! ```text
//! cargo run --release -p skiff-runtime --example census          # 200 scripts
//! cargo run --release -p skiff-runtime --example census -- 1000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_runtime::{
    FetchRequest, IsolateHandle, IsolateOptions, LogSink, ResponseBody, ScriptBundle, WorkerPool,
    snapshot_ready,
};

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

async fn until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn load_and_fetch(pool: &WorkerPool, i: usize) -> IsolateHandle {
    let name = format!("hello{i}");
    let source =
        format!("export default {{ fetch() {{ return new Response(\"hello {i}\\n\"); }} }};");
    let options = IsolateOptions {
        log: LogSink::new(&name, Arc::new(|_| {})),
        heap_census: i == 0,
        ..IsolateOptions::new(&name)
    };
    let isolate = pool
        .load(Arc::new(ScriptBundle::single(&name, source)), options)
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
    assert_eq!(body, format!("hello {i}\n").as_bytes());
    isolate
}

async fn run(scripts: usize) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = WorkerPool::with_warm(threads, WARM_PER_THREAD).expect("pool");
    // Runtimes boot from the startup snapshot once it is ready, as on a node that has run for
    // a few seconds; the warm runtimes booted before then are used up by a first batch.
    until(
        "the startup snapshot",
        Duration::from_secs(120),
        snapshot_ready,
    )
    .await;
    let mut first = Vec::new();
    for i in 0..threads * WARM_PER_THREAD {
        first.push(load_and_fetch(&pool, scripts + i).await);
    }
    for isolate in &first {
        isolate.shutdown();
    }
    drop(first);
    let full = threads * WARM_PER_THREAD;
    until("the warm pool", Duration::from_secs(60), || {
        pool.warm_pool_size() >= full
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_ready = rss_bytes();

    let mut handles = Vec::with_capacity(scripts);
    for i in 0..scripts {
        handles.push(load_and_fetch(&pool, i).await);
    }
    let mut heap = 0;
    for handle in &handles {
        heap += handle.heap_measured().await;
    }
    // The warm pool refills behind the last loads: RSS is read once it is full again.
    until("the warm pool", Duration::from_secs(60), || {
        pool.warm_pool_size() >= full
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_loaded = rss_bytes();

    let kib = |b: usize| b as f64 / 1024.0;
    let census = handles[0].heap_census();
    assert!(!census.is_empty(), "the engine took no census");
    let engine: usize = census.iter().map(|space| space.bytes).sum();
    println!("engine memory of one hello-world isolate after its first request, by category:");
    println!(
        "{:<18} {:>9} {:>11} {:>7}",
        "category", "count", "KiB", "share"
    );
    for space in &census {
        println!(
            "{:<18} {:>9} {:>11.1} {:>6.1}%",
            space.name,
            space.count,
            kib(space.bytes),
            100.0 * space.bytes as f64 / engine.max(1) as f64
        );
    }
    println!("{:<18} {:>9} {:>11.1}", "engine total", "", kib(engine));
    let per_isolate = rss_loaded.saturating_sub(rss_ready) / scripts;
    let mean_heap = heap / scripts;
    println!(
        "over {scripts} isolates: RSS {:.2} MiB per isolate, of which engine heap {:.2} MiB (mean) \
         and outside it {:.2} MiB",
        kib(per_isolate) / 1024.0,
        kib(mean_heap) / 1024.0,
        kib(per_isolate.saturating_sub(mean_heap)) / 1024.0,
    );
    // Out at once, the isolates still loaded: tearing them down measures nothing, and a heap
    // profiler run over this example then reports what they hold as still allocated at exit.
    std::process::exit(0);
}

fn main() {
    let scripts = std::env::args()
        .nth(1)
        .map(|n| n.parse::<usize>().expect("a number of scripts"))
        .unwrap_or(200)
        .max(1);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
        .block_on(run(scripts));
}
