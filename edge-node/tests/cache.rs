//! The isolate cache: LRU eviction under a memory budget, idle eviction, many scripts, and
//! version swaps under load.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use skiff_runtime::{IsolateOptions, ScriptBundle, WorkerPool};

/// Each script counts its own requests: a fresh isolate answers 1.
fn counter(name: &str) -> String {
    format!(
        "let n = 0; export default {{ fetch() {{ n++; return new Response('{name} ' + n); }} }};"
    )
}

/// The engine heap of an isolate of `source`, measured on a pool of its own.
async fn heap_bytes_of(source: &str) -> u64 {
    let pool = WorkerPool::new(1).expect("pool");
    let isolate = pool
        .load(
            Arc::new(ScriptBundle::single("probe", source)),
            IsolateOptions::new("probe"),
        )
        .await
        .expect("loads");
    tokio::time::timeout(Duration::from_secs(10), isolate.heap_measured())
        .await
        .expect("the heap is measured") as u64
}

/// The engine heap of one counter isolate.
async fn counter_heap_bytes() -> u64 {
    heap_bytes_of(&counter("probe")).await
}

#[tokio::test]
async fn the_least_recently_used_isolate_is_evicted_under_a_memory_budget() {
    let heap = counter_heap_bytes().await;
    let scripts: Vec<(String, String)> = ["a", "b", "c"]
        .iter()
        .map(|n| (n.to_string(), counter(n)))
        .collect();
    let refs: Vec<(&str, &str)> = scripts
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .collect();
    let node = start_with(script_dir(&refs), |config| {
        // Room for two isolates, not three.
        config.cache.memory_bytes = heap * 5 / 2;
    })
    .await;
    let registry = node.node.registry().clone();
    // Let the start-up warming finish, then use a and b (a first, so it is the older).
    wait_for_cached(&node, 2, "start-up warming to fill the budget").await;
    // moka records reads and applies evictions in batches; settling after each request makes
    // the order of use exact.
    let get = |name: &'static str| {
        let (node, registry) = (&node, &registry);
        async move {
            let body = node.get(name, "/").await.1;
            registry.run_pending_evictions().await;
            body
        }
    };
    assert_eq!(get("a").await, "a 1");
    assert_eq!(get("b").await, "b 1");
    assert_eq!(get("b").await, "b 2");
    // c needs room: a, least recently used, goes.
    assert_eq!(get("c").await.split(' ').next(), Some("c"));
    assert_eq!(get("b").await, "b 3", "b stayed");
    assert_eq!(
        node.get("a", "/").await.1,
        "a 1",
        "a was evicted and booted again"
    );
    assert!(
        registry
            .counters()
            .evictions
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

/// A counter whose top level keeps about 10 MB of objects.
const BIG: &str = r#"
    const kept = Array.from({ length: 100000 }, (_, i) => ({ i, s: "item " + i }));
    let n = 0;
    export default { fetch() { n++; return new Response("big " + n); } };"#;

#[tokio::test]
async fn an_isolate_is_weighed_again_once_its_heap_is_measured() {
    let small = counter_heap_bytes().await;
    let big = heap_bytes_of(BIG).await;
    assert!(big > small * 2, "small {small}, big {big}");
    let node = start_with(
        script_dir(&[("small", &counter("small")), ("big", BIG)]),
        |config| {
            config.warm_on_start = false;
            // Room for both as they enter the cache from warm runtimes (each weighing about
            // `small`, the estimate), and for big alone, but not for both once measured.
            config.cache.memory_bytes = big + small / 2;
        },
    )
    .await;
    let pool = node.node.registry().pool();
    let warm = |count: usize| move || pool.warm_pool_size() >= count;
    wait_until(warm(2), "the warm pool").await;
    assert_eq!(node.get("small", "/").await.1, "small 1");
    wait_until(warm(1), "a warm runtime for big").await;
    assert_eq!(node.get("big", "/").await.1, "big 1");
    wait_for_cached(&node, 1, "big's measured heap to push small out").await;
    assert_eq!(
        node.get("big", "/").await.1,
        "big 2",
        "big stayed running through its reweighing"
    );
    assert_eq!(
        node.get("small", "/").await.1,
        "small 1",
        "small was evicted"
    );
}

#[tokio::test]
async fn an_idle_isolate_is_evicted_after_its_ttl() {
    let node = start_with(script_dir(&[("idle", &counter("idle"))]), |config| {
        config.cache.idle_ttl = Duration::from_millis(200);
    })
    .await;
    assert_eq!(node.get("idle", "/").await.1, "idle 1");
    wait_for_cached(&node, 0, "the idle isolate's eviction").await;
    assert_eq!(node.get("idle", "/").await.1, "idle 1", "a fresh isolate");
}

#[tokio::test]
async fn two_hundred_scripts_all_answer() {
    let scripts: Vec<(String, String)> = (0..200)
        .map(|i| (format!("s{i}"), counter(&format!("s{i}"))))
        .collect();
    let refs: Vec<(&str, &str)> = scripts
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .collect();
    let node = start_with(script_dir(&refs), |_| {}).await;
    let names: Vec<&str> = refs.iter().map(|(n, _)| *n).collect();
    let client = node.client(&names);
    for round in 1..=2 {
        let requests = names.iter().map(|name| {
            let client = client.clone();
            let url = node.url(name, "/");
            async move { client.get(url).send().await?.text().await }
        });
        let bodies = futures::future::join_all(requests).await;
        for (name, body) in names.iter().zip(bodies) {
            assert_eq!(body.expect("answered"), format!("{name} {round}"));
        }
    }
    assert_eq!(node.node.registry().cached_isolates(), 200);
}

#[tokio::test]
async fn a_version_swap_under_load_fails_no_request() {
    let version = |v: u32| {
        format!(
            "export default {{ async fetch() {{ await new Promise((r) => setTimeout(r, 2)); return new Response('v{v}'); }} }};"
        )
    };
    let node = start(&[("swap", &version(1))]).await;
    let registry = node.node.registry().clone();
    let client = node.client(&["swap"]);
    let url = node.url("swap", "/");
    let load = (0..8).map(|_| {
        let client = client.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..60 {
                let res = client.get(&url).send().await.expect("request");
                assert_eq!(res.status(), 200, "no request fails during a swap");
                seen.push(res.text().await.expect("body"));
            }
            seen
        })
    });
    let load: Vec<_> = load.collect();
    for v in 2..=4 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        registry
            .install(ScriptBundle::single("swap", version(v)))
            .await
            .expect("new version loads");
    }
    let mut seen = Vec::new();
    for task in load {
        seen.extend(task.await.expect("task"));
    }
    assert!(
        seen.iter()
            .all(|b| ["v1", "v2", "v3", "v4"].contains(&b.as_str())),
        "{seen:?}"
    );
    assert_eq!(node.get("swap", "/").await.1, "v4");
}
