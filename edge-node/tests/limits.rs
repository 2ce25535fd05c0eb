//! Tenant limits over HTTP: CPU, memory and wall clock.

mod common;

use std::time::Duration;

use common::*;

const NOISY: &str = r#"export default { async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/spin") { while (true) {} }
    if (path === "/bomb") { const hoard = []; let i = 0; while (true) hoard.push({ i: i++, s: "item " + i }); }
    if (path === "/hang") { await new Promise(() => {}); }
    return new Response("ok");
} };"#;
const QUIET: &str = r#"export default { fetch() { return new Response("quiet"); } };"#;

async fn node() -> TestNode {
    node_with_cpu(Duration::from_millis(50)).await
}

async fn node_with_cpu(cpu: Duration) -> TestNode {
    start_with(
        script_dir(&[("noisy", NOISY), ("quiet", QUIET)]),
        |config| {
            config.threads = 1; // both tenants on one thread
            config.isolate_limits.memory = 32 * 1024 * 1024;
            config.isolate_limits.cpu = cpu;
            config.limits.wall_clock = Duration::from_secs(5);
        },
    )
    .await
}

/// GETs `quiet` one request after another while `path` on `noisy` is pending; every quiet
/// request must succeed. Returns the noisy response.
async fn noisy_beside_quiet(node: &TestNode, path: &str) -> (u16, String) {
    let noisy = {
        let client = node.client(&["noisy"]);
        let url = node.url("noisy", path);
        tokio::spawn(async move {
            let res = client.get(url).send().await.expect("noisy request");
            (res.status().as_u16(), res.text().await.expect("body"))
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut quiet = 0;
    while quiet == 0 || !noisy.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the noisy request never ended"
        );
        assert_eq!(node.get("quiet", "/").await, (200, "quiet".to_string()));
        quiet += 1;
    }
    noisy.await.expect("task")
}

#[tokio::test]
async fn cpu_hog_gets_503_neighbour_unharmed_and_it_serves_again() {
    let node = node().await;
    let (status, body) = noisy_beside_quiet(&node, "/spin").await;
    assert_eq!(status, 503);
    assert!(body.contains("Worker exceeded CPU time limit"), "{body}");
    assert_eq!(node.get("noisy", "/").await, (200, "ok".to_string()));
    node.wait_for_log("Worker exceeded CPU time limit").await;
}

#[tokio::test]
async fn memory_bomb_gets_503_node_survives_and_it_serves_again() {
    // A generous CPU limit, so that the memory limit is the one that trips.
    let node = node_with_cpu(Duration::from_secs(10)).await;
    let (status, body) = noisy_beside_quiet(&node, "/bomb").await;
    assert_eq!(status, 503);
    assert!(body.contains("Worker exceeded memory limit"), "{body}");
    assert_eq!(node.get("noisy", "/").await, (200, "ok".to_string()));
}

#[tokio::test]
async fn a_request_that_never_answers_gets_503_at_the_wall_clock_limit() {
    let node = start_with(script_dir(&[("noisy", NOISY)]), |config| {
        config.limits.wall_clock = Duration::from_millis(300);
    })
    .await;
    let (status, body) = node.get("noisy", "/hang").await;
    assert_eq!(status, 503);
    assert!(body.contains("wall clock"), "{body}");
    assert_eq!(node.get("noisy", "/").await, (200, "ok".to_string()));
}

async fn metrics_page(admin: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body")
}

/// The value of the sample named exactly `name` (with its labels) on a metrics page.
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines().find_map(|l| {
        let value = l.strip_prefix(name)?.strip_prefix(' ')?;
        Some(value.trim().parse().expect("number"))
    })
}

#[tokio::test]
async fn metrics_count_requests_cold_starts_and_limit_kills() {
    let node = start_with(
        script_dir(&[("noisy", NOISY), ("quiet", QUIET)]),
        |config| {
            config.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
        },
    )
    .await;
    assert_eq!(node.get("quiet", "/").await.0, 200);
    assert_eq!(node.get("noisy", "/spin").await.0, 503);
    assert_eq!(node.get("nobody", "/").await.0, 404);
    let admin = node.node.admin_addr().expect("admin listener");
    let page = metrics_page(admin).await;
    let value = |line: &str| -> f64 {
        metric(&page, line).unwrap_or_else(|| panic!("no {line} in\n{page}"))
    };
    assert_eq!(value("skiff_limit_kills_total{kind=\"cpu\"}"), 1.0);
    assert_eq!(value("skiff_limit_kills_total{kind=\"memory\"}"), 0.0);
    assert!(value("skiff_cold_starts_total") >= 2.0);
    assert!(value("skiff_isolates_alive") >= 1.0);
    assert_eq!(
        value("skiff_request_duration_seconds_count{status=\"2xx\"}"),
        1.0
    );
    assert_eq!(
        value("skiff_request_duration_seconds_count{status=\"4xx\"}"),
        1.0
    );
    assert_eq!(
        value("skiff_request_duration_seconds_count{status=\"5xx\"}"),
        1.0
    );

    // Once the node is idle its threads pre-boot runtimes, and the page shows them.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let page = metrics_page(admin).await;
        let warm = metric(&page, "skiff_warm_pool_size").expect("skiff_warm_pool_size");
        if warm >= 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the warm pool stays empty"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_tenant_that_computes_for_long_is_moved_off_its_neighbours_thread() {
    const BURNER: &str = r#"export default { fetch() {
        const end = Date.now() + 40; while (Date.now() < end) {}
        return new Response("burnt");
    } };"#;
    let node = start_with(
        script_dir(&[("burner", BURNER), ("quiet", QUIET)]),
        |config| config.threads = 1, // both tenants start on one thread
    )
    .await;
    assert_eq!(node.get("quiet", "/").await, (200, "quiet".to_string()));
    let counters = || {
        node.node
            .registry()
            .counters()
            .moved_to_dedicated
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    // Two clients keep the burner busy until it has been moved and served 20 more requests
    // each; every one of its requests is answered, before, during and after the move.
    let moved = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let client = node.client(&["burner"]);
            let url = node.url("burner", "/");
            let moved = moved.clone();
            tokio::spawn(async move {
                let mut after = 0;
                for _ in 0..500 {
                    let res = client.get(&url).send().await.expect("burner request");
                    assert_eq!(res.status(), 200);
                    assert_eq!(res.text().await.expect("body"), "burnt");
                    if moved.load(std::sync::atomic::Ordering::Acquire) {
                        after += 1;
                        if after == 20 {
                            return;
                        }
                    }
                }
                panic!("the burner was never moved");
            })
        })
        .collect();
    wait_until(|| counters() == 1, "the burner to move").await;
    moved.store(true, std::sync::atomic::Ordering::Release);
    assert_eq!(node.node.registry().pool().dedicated_threads(), 1);

    // Now the quiet tenant no longer waits for the burner's 40 ms computations.
    let mut times = Vec::new();
    while clients.iter().any(|c| !c.is_finished()) {
        let started = std::time::Instant::now();
        assert_eq!(node.get("quiet", "/").await, (200, "quiet".to_string()));
        times.push(started.elapsed());
    }
    for client in clients {
        client.await.expect("burner client");
    }
    times.sort();
    assert!(times.len() >= 10, "only {} quiet requests", times.len());
    let median = times[times.len() / 2];
    assert!(
        median < Duration::from_millis(12),
        "quiet median {median:?}"
    );
}

/// Thousands of requests from 32 connections on a tenant whose computations get it moved to a
/// dedicated thread mid-load: every one is answered by the worker, none with a 503. Those
/// already queued for the old isolate when it is replaced are served by it; those sent to it
/// after it closed its queue go on to the new one.
#[tokio::test]
async fn no_request_fails_while_a_busy_isolate_moves() {
    const BURNER: &str = r#"export default { fetch() {
        const end = Date.now() + 3; while (Date.now() < end) {}
        return new Response("burnt");
    } };"#;
    const CONNECTIONS: usize = 32;
    const REQUESTS_EACH: usize = 100;
    let node = start_with(script_dir(&[("burner", BURNER)]), |config| {
        config.threads = 1;
    })
    .await;
    let client = node.client(&["burner"]);
    let url = node.url("burner", "/");
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for _ in 0..REQUESTS_EACH {
                    let res = client.get(&url).send().await.expect("burner request");
                    let status = res.status().as_u16();
                    let body = res.text().await.expect("body");
                    if status != 200 || body != "burnt" {
                        failures.push(format!("{status} {body}"));
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = Vec::new();
    for client in clients {
        failures.extend(client.await.expect("client task"));
    }
    let moved = node
        .node
        .registry()
        .counters()
        .moved_to_dedicated
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(moved, 1, "the burner was moved {moved} times");
    assert!(
        failures.is_empty(),
        "{} of {} requests failed, the first: {:?}",
        failures.len(),
        CONNECTIONS * REQUESTS_EACH,
        failures.first()
    );
}
