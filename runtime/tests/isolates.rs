//! Isolates on the worker pool: loading, dispatch, streaming, errors, and many per thread.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use skiff_runtime::{
    FetchRequest, IsolateOptions, LogEvent, LogSink, ResponseBody, ResponseHead, RuntimeError,
    ScriptBundle, WorkerPool, body_channel,
};

fn get(url: &str) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: url.into(),
        headers: vec![("host".into(), b"test.localhost".to_vec())],
        body: None,
        meter: None,
    }
}

async fn body_bytes(head: ResponseHead) -> Vec<u8> {
    match head.body {
        ResponseBody::Full(bytes) => bytes.to_vec(),
        ResponseBody::Stream(mut rx) => {
            let mut out = Vec::new();
            while let Some(chunk) = rx.recv().await {
                out.extend_from_slice(&chunk.expect("chunk"));
            }
            out
        }
        ResponseBody::WebSocket(_) => panic!("a WebSocket, not a body"),
    }
}

fn capture_logs(script: &str) -> (LogSink, Arc<Mutex<Vec<LogEvent>>>) {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink_logs = logs.clone();
    let sink = LogSink::new(
        script,
        Arc::new(move |e| sink_logs.lock().expect("logs").push(e)),
    );
    (sink, logs)
}

async fn load(pool: &WorkerPool, name: &str, source: &str) -> skiff_runtime::IsolateHandle {
    pool.load(
        Arc::new(ScriptBundle::single(name, source)),
        IsolateOptions::new(name),
    )
    .await
    .expect("script loads")
}

#[tokio::test]
async fn module_handler_answers() {
    let pool = WorkerPool::new(1).expect("pool");
    let isolate = load(
        &pool,
        "hello",
        r#"export default { async fetch(req, env, ctx) {
            const u = new URL(req.url);
            return new Response(`hi ${u.pathname} ${req.method} ${req.headers.get("host")}`, {
              status: 201, headers: { "x-skiff": "yes" } });
        } };"#,
    )
    .await;
    let head = isolate
        .fetch(get("http://test.localhost/a/b?c=1"))
        .await
        .expect("response");
    assert_eq!(head.status, 201);
    assert!(
        head.headers
            .iter()
            .any(|(k, v)| k.to_vec() == b"x-skiff" && v.to_vec() == b"yes")
    );
    assert_eq!(body_bytes(head).await, b"hi /a/b GET test.localhost");
}

#[tokio::test]
async fn request_body_streams_in_and_response_streams_out() {
    let pool = WorkerPool::new(1).expect("pool");
    let isolate = load(
        &pool,
        "echo",
        r#"export default { async fetch(req) {
            let n = 0;
            const reader = req.body.getReader();
            for (;;) { const { done, value } = await reader.read(); if (done) break; n += value.length; }
            const stream = new ReadableStream({
              i: 0,
              pull(c) { if (this.i++ < 3) c.enqueue(new TextEncoder().encode(`part${this.i};`)); else c.close(); },
            });
            return new Response(stream, { headers: { "x-len": String(n) } });
        } };"#,
    )
    .await;
    let (tx, rx) = body_channel(4);
    let mut request = get("http://echo.localhost/");
    request.method = "POST".into();
    request.body = Some(rx);
    let sender = tokio::spawn(async move {
        for _ in 0..10 {
            tx.send(Ok(Bytes::from(vec![b'x'; 1000])))
                .await
                .expect("send");
        }
    });
    let head = isolate.fetch(request).await.expect("response");
    sender.await.expect("sender");
    assert!(
        head.headers
            .iter()
            .any(|(k, v)| k.to_vec() == b"x-len" && v.to_vec() == b"10000")
    );
    assert!(matches!(head.body, ResponseBody::Stream(_)));
    assert_eq!(body_bytes(head).await, b"part1;part2;part3;");
}

#[tokio::test]
async fn thrown_error_gives_500_and_is_logged() {
    let pool = WorkerPool::new(1).expect("pool");
    let (log, logs) = capture_logs("boom");
    let mut options = IsolateOptions::new("boom");
    options.log = log;
    let isolate = pool
        .load(
            Arc::new(ScriptBundle::single(
                "boom",
                r#"let n = 0; export default { fetch() { if (n++ === 0) throw new Error("kaboom"); return new Response("fine"); } };"#,
            )),
            options,
        )
        .await
        .expect("loads");
    let head = isolate
        .fetch(get("http://boom.localhost/"))
        .await
        .expect("500");
    assert_eq!(head.status, 500);
    let head = isolate
        .fetch(get("http://boom.localhost/"))
        .await
        .expect("200");
    assert_eq!(head.status, 200);
    assert_eq!(body_bytes(head).await, b"fine");
    let logs = logs.lock().expect("logs");
    assert!(
        logs.iter()
            .any(|e| e.message.contains("kaboom") && e.message.contains("index.js")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn syntax_error_is_a_load_error_with_location() {
    let pool = WorkerPool::new(1).expect("pool");
    let err = pool
        .load(
            Arc::new(ScriptBundle::single(
                "bad",
                "export default {\n  fetch( {\n}",
            )),
            IsolateOptions::new("bad"),
        )
        .await
        .expect_err("must not load");
    match err {
        RuntimeError::Load { message, .. } => {
            assert!(message.contains("index.js"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn dozens_of_isolates_share_a_thread() {
    let pool = WorkerPool::new(1).expect("pool");
    let mut handles = Vec::new();
    for i in 0..40 {
        let source = format!(
            "globalThis.mine = {i}; export default {{ fetch() {{ return new Response(String(globalThis.mine)); }} }};"
        );
        handles.push(load(&pool, &format!("s{i}"), &source).await);
    }
    assert_eq!(pool.isolates(), 40);
    // Interleave requests across all of them, twice, and drop half in between.
    for round in 0..2 {
        for (i, handle) in handles.iter().enumerate() {
            let head = handle
                .fetch(get("http://x.localhost/"))
                .await
                .expect("response");
            assert_eq!(
                body_bytes(head).await,
                i.to_string().as_bytes(),
                "round {round}"
            );
        }
    }
    for handle in handles.iter().step_by(2) {
        handle.shutdown();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while pool.isolates() != 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "isolates did not stop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // New isolates created after others were dropped on the same thread work too, and the
    // survivors still answer with their own globals.
    for i in 40..50 {
        let source = format!(
            "globalThis.mine = {i}; export default {{ fetch() {{ return new Response(String(globalThis.mine)); }} }};"
        );
        handles.push(load(&pool, &format!("s{i}"), &source).await);
    }
    assert_eq!(pool.isolates(), 30);
    for (i, handle) in handles.iter().enumerate() {
        if i < 40 && i % 2 == 0 {
            assert!(handle.fetch(get("http://x.localhost/")).await.is_err());
            continue;
        }
        let head = handle
            .fetch(get("http://x.localhost/"))
            .await
            .expect("response");
        assert_eq!(body_bytes(head).await, i.to_string().as_bytes());
    }
}

/// The engine's per-thread native function table overflows after about 41 runtimes created on
/// one thread (see pool.rs); the pool retires threads before that, so a one-thread pool keeps
/// creating isolates indefinitely.
#[tokio::test]
async fn a_thread_budget_keeps_creating_isolates() {
    let pool = WorkerPool::new(1).expect("pool");
    create_100_isolates(&pool).await;
}

/// Runtimes restored from the startup snapshot register more native functions than fresh ones:
/// the thread budget must hold for them too.
#[tokio::test]
async fn the_thread_budget_holds_for_runtimes_from_the_snapshot() {
    let pool = WorkerPool::with_warm(1, 0).expect("pool");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !skiff_runtime::snapshot_ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    create_100_isolates(&pool).await;
}

/// Creates 100 isolates through `pool`, keeping two in three alive; every one must answer.
async fn create_100_isolates(pool: &WorkerPool) {
    let mut handles = Vec::new();
    for i in 0..100 {
        let source = format!("export default {{ fetch() {{ return new Response('{i}'); }} }};");
        let handle = load(pool, &format!("t{i}"), &source).await;
        let head = handle
            .fetch(get("http://t.localhost/"))
            .await
            .expect("response");
        assert_eq!(body_bytes(head).await, i.to_string().as_bytes());
        if i % 3 == 0 {
            handle.shutdown();
        } else {
            handles.push(handle);
        }
    }
    assert_eq!(pool.isolates_per_thread().len(), 1);
    for handle in &handles {
        let head = handle
            .fetch(get("http://t.localhost/"))
            .await
            .expect("response");
        assert_eq!(head.status, 200);
    }
}

/// Waits until `pool` has `count` warm runtimes ready.
async fn wait_for_warm(pool: &WorkerPool, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while pool.warm_pool_size() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the warm pool never filled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A tenant that keeps about 10 MB of objects from its top level.
const BIG_TOP_LEVEL: &str = r#"
    const kept = Array.from({ length: 100000 }, (_, i) => ({ i, s: "item " + i }));
    export default { fetch() { return new Response(String(kept.length)); } };"#;

/// An isolate made from a warm runtime first reports the heap of the runtime before any tenant
/// code, and measures its own heap once it has answered its first request, or has sat idle
/// for a moment: either way the measurement counts what the tenant's top level kept.
#[tokio::test]
async fn isolates_from_warm_runtimes_measure_their_heap() {
    let pool = WorkerPool::new(1).expect("pool");
    let measure = |isolate: skiff_runtime::IsolateHandle| async move {
        tokio::time::timeout(Duration::from_secs(10), isolate.heap_measured())
            .await
            .expect("the heap is measured")
    };
    wait_for_warm(&pool, 1).await;
    let hello = load(
        &pool,
        "hello",
        "export default { fetch() { return new Response('hi'); } };",
    )
    .await;
    let baseline = measure(hello).await;

    wait_for_warm(&pool, 1).await;
    let served = load(&pool, "served", BIG_TOP_LEVEL).await;
    let head = served
        .fetch(get("http://test.localhost/"))
        .await
        .expect("response");
    assert_eq!(body_bytes(head).await, b"100000");
    let measured = measure(served.clone()).await;
    assert!(served.is_heap_measured());
    assert!(
        measured > baseline + 4 * 1024 * 1024,
        "what the top level kept is counted: hello {baseline}, measured {measured}"
    );

    wait_for_warm(&pool, 1).await;
    let idle = load(&pool, "idle", BIG_TOP_LEVEL).await;
    let measured = measure(idle).await;
    assert!(
        measured > baseline + 4 * 1024 * 1024,
        "an isolate sent no request is measured too: hello {baseline}, measured {measured}"
    );

    // Whoever waits for a measurement stops waiting when the isolate stops.
    wait_for_warm(&pool, 1).await;
    let stopped = load(&pool, "stopped", BIG_TOP_LEVEL).await;
    stopped.shutdown();
    tokio::time::timeout(Duration::from_secs(10), stopped.heap_measured())
        .await
        .expect("resolves once the isolate has stopped");
}
