//! An isolate's request queue through a real node: it is bounded, and a request whose client
//! went away before the script took it never runs.

mod common;

use std::time::{Duration, Instant};

use common::{script_dir, start_with};
use skiff_runtime::{IsolateHandle, IsolateLimits};
use tokio::io::AsyncWriteExt;

/// Counts the requests its handler ran; `/busy` keeps the isolate busy for 400 ms.
const COUNTER: &str = r#"let runs = 0;
export default { fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/count") return new Response(String(runs));
    runs++;
    if (path === "/busy") {
        const end = Date.now() + 400;
        while (Date.now() < end) {}
    }
    return new Response("ok");
} };"#;

/// A node on one isolate thread whose isolates queue at most 2 requests, and the counter's
/// isolate on it.
async fn counter_node() -> (common::TestNode, IsolateHandle) {
    let node = start_with(script_dir(&[("counter", COUNTER)]), |config| {
        config.threads = 1;
        config.isolate_limits = IsolateLimits {
            cpu: Duration::from_secs(2),
            queued_requests: 2,
            ..IsolateLimits::default()
        };
    })
    .await;
    let isolate = node
        .node
        .registry()
        .isolate("counter")
        .await
        .expect("deployed")
        .expect("loads");
    (node, isolate)
}

/// Waits, up to 10 s, until `check` holds.
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_full_queue_answers_503_at_once() {
    let (node, isolate) = counter_node().await;
    let client = node.client(&["counter"]);
    let get = |path: &str| client.get(node.url("counter", path)).send();

    let busy = tokio::spawn(get("/busy"));
    wait_for("the busy request to run", || isolate.in_flight() == 1).await;
    let queued = [tokio::spawn(get("/a")), tokio::spawn(get("/b"))];
    wait_for("two queued requests", || isolate.queued() == 2).await;

    let started = Instant::now();
    let (status, body) = node.get("counter", "/c").await;
    assert_eq!((status, body.trim()), (503, "Worker overloaded"));
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "the refusal waited"
    );

    assert_eq!(busy.await.expect("joins").expect("answers").status(), 200);
    for request in queued {
        assert_eq!(
            request.await.expect("joins").expect("answers").status(),
            200
        );
    }
    assert_eq!(node.get("counter", "/count").await.1, "3");
}

#[tokio::test]
async fn a_request_whose_client_is_gone_never_runs() {
    let (node, isolate) = counter_node().await;
    let client = node.client(&["counter"]);
    let busy = tokio::spawn(client.get(node.url("counter", "/busy")).send());
    wait_for("the busy request to run", || isolate.in_flight() == 1).await;

    // A client sends a request that queues behind the busy one, then hangs up.
    let mut stream = tokio::net::TcpStream::connect(node.node.http_addr())
        .await
        .expect("connects");
    stream
        .write_all(b"GET /gone HTTP/1.1\r\nhost: counter.localhost\r\n\r\n")
        .await
        .expect("writes");
    wait_for("the request to queue", || isolate.queued() == 1).await;
    drop(stream);

    assert_eq!(busy.await.expect("joins").expect("answers").status(), 200);
    wait_for("the queue to empty", || isolate.queued() == 0).await;
    assert_eq!(node.get("counter", "/count").await.1, "1");
}
