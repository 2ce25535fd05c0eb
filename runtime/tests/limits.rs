//! CPU and memory limits: a runaway or memory-hungry tenant is stopped with a 503 while the
//! tenants beside it on the same thread keep answering.

use std::sync::Arc;
use std::time::Duration;

use skiff_runtime::{
    FetchRequest, IsolateHandle, IsolateLimits, IsolateOptions, ResponseBody, ResponseHead,
    RuntimeError, ScriptBundle, WorkerPool,
};

fn get(path: &str) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: format!("http://t.localhost{path}"),
        headers: vec![],
        body: None,
    }
}

fn text(head: &ResponseHead) -> String {
    match &head.body {
        ResponseBody::Full(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        ResponseBody::Stream(_) => "<stream>".into(),
    }
}

async fn load(
    pool: &WorkerPool,
    name: &str,
    source: &str,
    limits: IsolateLimits,
) -> Result<IsolateHandle, RuntimeError> {
    let options = IsolateOptions {
        limits,
        ..IsolateOptions::new(name)
    };
    pool.load(Arc::new(ScriptBundle::single(name, source)), options)
        .await
}

const SPIN: &str = r#"export default { fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/spin") { while (true) {} }
    if (path === "/burn") { const end = Date.now() + 15; while (Date.now() < end) {} }
    return new Response("ok " + path);
} };"#;

const HELLO: &str = r#"export default { fetch() { return new Response("neighbour"); } };"#;

/// Sends requests to `neighbour` one after another (each must answer 200) until `during` has
/// finished and at least one neighbour request was sent while it ran; returns its result.
async fn neighbour_keeps_answering<T: Send + 'static>(
    neighbour: &IsolateHandle,
    during: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let during = tokio::spawn(during);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut answered = 0;
    while answered == 0 || !during.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the neighbour test ran too long"
        );
        let head = neighbour
            .fetch(get("/"))
            .await
            .expect("the neighbour answers");
        assert_eq!((head.status, text(&head)), (200, "neighbour".to_string()));
        answered += 1;
    }
    during.await.expect("task")
}

#[tokio::test]
async fn an_infinite_loop_gets_503_and_the_neighbour_keeps_answering() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = IsolateLimits::default();
    let spinner = load(&pool, "spinner", SPIN, limits).await.expect("loads");
    let neighbour = load(&pool, "neighbour", HELLO, limits)
        .await
        .expect("loads");
    assert_eq!(
        pool.isolates_per_thread(),
        vec![2],
        "both on the same thread"
    );

    // Work within the limit is fine.
    let head = spinner.fetch(get("/burn")).await.expect("burn");
    assert_eq!((head.status, text(&head)), (200, "ok /burn".to_string()));

    let spin = {
        let spinner = spinner.clone();
        async move { tokio::time::timeout(Duration::from_secs(10), spinner.fetch(get("/spin"))).await }
    };
    let head = neighbour_keeps_answering(&neighbour, spin).await;
    let head = head
        .expect("the spinner is stopped in bounded time")
        .expect("answered");
    assert_eq!(head.status, 503);
    assert!(
        text(&head).contains("Worker exceeded CPU time limit"),
        "{}",
        text(&head)
    );
    // The condemned isolate is gone; its script loads again fresh.
    assert!(spinner.is_closed());
    let again = load(&pool, "spinner", SPIN, limits).await.expect("reloads");
    let head = again.fetch(get("/")).await.expect("answers");
    assert_eq!(text(&head), "ok /");
}

#[tokio::test]
async fn a_memory_bomb_gets_503_and_the_isolate_is_replaced() {
    let pool = WorkerPool::new(1).expect("pool");
    // A generous CPU limit, so that the memory limit is the one that trips.
    let limits = IsolateLimits {
        memory: 32 * 1024 * 1024,
        cpu: Duration::from_secs(10),
        ..IsolateLimits::default()
    };
    let source = r#"export default { fetch(req) {
        if (new URL(req.url).pathname === "/bomb") {
            const hoard = [];
            // Many small objects, then large typed arrays: both count against the heap.
            for (let i = 0; i < 200000; i++) hoard.push({ i, s: "item " + i });
            while (true) hoard.push(new Uint8Array(1 << 20));
        }
        return new Response("fine");
    } };"#;
    let bomb = load(&pool, "bomb", source, limits).await.expect("loads");
    let neighbour = load(&pool, "neighbour", HELLO, limits)
        .await
        .expect("loads");
    let blow = {
        let bomb = bomb.clone();
        async move { tokio::time::timeout(Duration::from_secs(30), bomb.fetch(get("/bomb"))).await }
    };
    let head = neighbour_keeps_answering(&neighbour, blow).await;
    let head = head.expect("stopped in bounded time").expect("answered");
    assert_eq!(head.status, 503);
    assert!(
        text(&head).contains("Worker exceeded memory limit"),
        "{}",
        text(&head)
    );
    assert!(bomb.is_closed());
    let again = load(&pool, "bomb", source, limits).await.expect("reloads");
    assert_eq!(text(&again.fetch(get("/")).await.expect("answers")), "fine");
}

#[tokio::test]
async fn a_top_level_infinite_loop_is_refused_at_load() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = IsolateLimits::default();
    let load_result = tokio::time::timeout(
        Duration::from_secs(10),
        load(
            &pool,
            "stuck",
            "while (true) {}\nexport default {};",
            limits,
        ),
    )
    .await
    .expect("refused in bounded time");
    match load_result {
        Err(RuntimeError::Load { message, .. }) => {
            assert!(
                message.contains("startup exceeded the CPU time limit"),
                "{message}"
            )
        }
        other => panic!("expected a load error, got {other:?}"),
    }
    // The thread is free again.
    let neighbour = load(&pool, "neighbour", HELLO, limits)
        .await
        .expect("loads");
    assert_eq!(
        neighbour.fetch(get("/")).await.expect("answers").status,
        200
    );
}

#[tokio::test]
async fn concurrent_requests_share_a_busy_period_without_false_kills() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = IsolateLimits {
        cpu: Duration::from_millis(50),
        ..IsolateLimits::default()
    };
    // Each request burns ~30 ms of CPU after a timer: together they exceed one request's
    // budget but not their sum.
    let source = r#"export default { async fetch() {
        await new Promise((r) => setTimeout(r, 1));
        const end = Date.now() + 30; while (Date.now() < end) {}
        return new Response("done");
    } };"#;
    let isolate = load(&pool, "busy", source, limits).await.expect("loads");
    let requests = (0..4).map(|_| isolate.fetch(get("/")));
    for head in futures::future::join_all(requests).await {
        let head = head.expect("answered");
        assert_eq!((head.status, text(&head)), (200, "done".to_string()));
    }
}
