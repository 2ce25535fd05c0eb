//! The warm pool: runtimes booted ahead of time serve tenants exactly as freshly booted ones
//! do (their own env, script name, limits), are refilled after a take, and count against a
//! thread's creation budget.

use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{get, text};
use skiff_runtime::{
    IsolateHandle, IsolateLimits, IsolateOptions, LimitKind, LogEvent, LogSink, RuntimeError,
    ScriptBundle, WorkerPool,
};

/// Waits until the pool has `size` warm runtimes ready.
async fn warm_pool_reaches(pool: &WorkerPool, size: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while pool.warm_pool_size() != size {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the warm pool stayed at {} instead of {size}",
            pool.warm_pool_size()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn load_with(
    pool: &WorkerPool,
    bundle: ScriptBundle,
    options: IsolateOptions,
) -> Result<IsolateHandle, RuntimeError> {
    pool.load(Arc::new(bundle), options).await
}

const HELLO: &str = r#"export default { fetch() { return new Response("hello"); } };"#;

#[tokio::test]
async fn warm_runtimes_serve_each_tenant_with_its_own_env_and_name() {
    let pool = WorkerPool::with_warm(1, 2).expect("pool");
    warm_pool_reaches(&pool, 2).await;
    // Let the warm runtimes age, so that a timeOrigin taken at boot would show.
    tokio::time::sleep(Duration::from_millis(400)).await;

    let logs: Arc<Mutex<Vec<LogEvent>>> = Arc::default();
    let source = r#"
        const startedAt = performance.now();
        console.log("top level");
        export default { fetch(req, env) {
            console.log(`serving ${env.NAME}`);
            return Response.json({ name: env.NAME, keys: Object.keys(env), startedAt });
        } };"#;
    let mut isolates = Vec::new();
    for name in ["alpha", "beta"] {
        let mut bundle = ScriptBundle::single(name, source);
        bundle.env.insert("NAME".into(), name.into());
        let sink_logs = logs.clone();
        let options = IsolateOptions {
            log: LogSink::new(
                name,
                Arc::new(move |e| sink_logs.lock().expect("logs").push(e)),
            ),
            ..IsolateOptions::new(name)
        };
        isolates.push(load_with(&pool, bundle, options).await.expect("loads"));
    }
    assert_eq!(pool.warm_starts(), 2, "both loads took a warm runtime");

    for (isolate, name) in isolates.iter().zip(["alpha", "beta"]) {
        let head = isolate.fetch(get("/")).await.expect("response");
        assert_eq!(head.status, 200);
        let out: serde_json::Value = serde_json::from_str(&text(&head)).expect("json");
        assert_eq!(out["name"], name);
        assert_eq!(out["keys"], serde_json::json!(["NAME"]));
        let started_at = out["startedAt"].as_f64().expect("a number");
        assert!(
            started_at < 300.0,
            "performance.now() counts from the tenant's start, not the boot: {started_at}"
        );
    }
    let logs = logs.lock().expect("logs");
    let lines: Vec<(&str, &str)> = logs
        .iter()
        .map(|e| (e.script.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("alpha", "top level"),
            ("beta", "top level"),
            ("alpha", "serving alpha"),
            ("beta", "serving beta"),
        ]
    );
}

#[tokio::test]
async fn a_load_takes_a_warm_runtime_and_the_pool_refills() {
    let pool = WorkerPool::with_warm(1, 1).expect("pool");
    warm_pool_reaches(&pool, 1).await;
    for round in 1..=3 {
        let isolate = load_with(
            &pool,
            ScriptBundle::single(&format!("s{round}"), HELLO),
            IsolateOptions::new("s"),
        )
        .await
        .expect("loads");
        assert_eq!(
            pool.warm_starts(),
            round,
            "round {round} took the warm runtime"
        );
        assert_eq!(
            text(&isolate.fetch(get("/")).await.expect("answers")),
            "hello"
        );
        warm_pool_reaches(&pool, 1).await;
    }

    // Without a warm pool every load boots its own runtime.
    let cold = WorkerPool::with_warm(1, 0).expect("pool");
    let isolate = load_with(
        &cold,
        ScriptBundle::single("c", HELLO),
        IsolateOptions::new("c"),
    )
    .await
    .expect("loads");
    assert_eq!(
        text(&isolate.fetch(get("/")).await.expect("answers")),
        "hello"
    );
    assert_eq!((cold.warm_starts(), cold.warm_pool_size()), (0, 0));
}

#[tokio::test]
async fn a_top_level_infinite_loop_on_a_warm_runtime_is_refused_and_idle_ones_are_not_charged() {
    let pool = WorkerPool::with_warm(1, 2).expect("pool");
    warm_pool_reaches(&pool, 2).await;
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        load_with(
            &pool,
            ScriptBundle::single("stuck", "while (true) {}\nexport default {};"),
            IsolateOptions::new("stuck"),
        ),
    )
    .await
    .expect("refused in bounded time");
    match result {
        Err(err @ RuntimeError::Limit { startup: true, .. }) => assert!(
            err.to_string()
                .contains("startup exceeded the CPU time limit"),
            "{err}"
        ),
        other => panic!("expected a startup limit error, got {other:?}"),
    }
    assert_eq!(pool.warm_starts(), 1);
    assert_eq!(pool.limit_kills().get(LimitKind::Cpu), 1);

    // The other warm runtime sat through the loop; it was never charged for it, and serves
    // work close to the per-request limit.
    let source = r#"export default { fetch() {
        const end = Date.now() + 30; while (Date.now() < end) {}
        return new Response("worked");
    } };"#;
    let isolate = load_with(
        &pool,
        ScriptBundle::single("worker", source),
        IsolateOptions::new("worker"),
    )
    .await
    .expect("loads");
    assert_eq!(pool.warm_starts(), 2);
    let head = isolate.fetch(get("/")).await.expect("answers");
    assert_eq!((head.status, text(&head)), (200, "worked".to_string()));
    assert_eq!(pool.limit_kills().get(LimitKind::Cpu), 1);
}

#[tokio::test]
async fn a_memory_bomb_on_a_warm_runtime_gets_503_and_the_pool_keeps_working() {
    let pool = WorkerPool::with_warm(1, 1).expect("pool");
    let limits = IsolateLimits {
        memory: 32 * 1024 * 1024,
        cpu: Duration::from_secs(10),
        ..IsolateLimits::default()
    };
    let options = |name: &str| IsolateOptions {
        limits,
        ..IsolateOptions::new(name)
    };
    // Warm runtimes follow the heap limit loads ask for: the first load with 32 MiB boots its
    // own runtime, and the ones booted after it have the 32 MiB limit.
    let neighbour = load_with(
        &pool,
        ScriptBundle::single("neighbour", HELLO),
        options("n"),
    )
    .await
    .expect("loads");
    warm_pool_reaches(&pool, 1).await;
    let starts = pool.warm_starts();

    let source = r#"export default { fetch(req) {
        if (new URL(req.url).pathname === "/bomb") {
            const hoard = [];
            for (let i = 0; i < 200000; i++) hoard.push({ i, s: "item " + i });
            while (true) hoard.push(new Uint8Array(1 << 20));
        }
        return new Response("fine");
    } };"#;
    let bomb = load_with(&pool, ScriptBundle::single("bomb", source), options("bomb"))
        .await
        .expect("loads");
    assert_eq!(
        pool.warm_starts(),
        starts + 1,
        "the bomb runs on a warm runtime"
    );
    let head = tokio::time::timeout(Duration::from_secs(30), bomb.fetch(get("/bomb")))
        .await
        .expect("stopped in bounded time")
        .expect("answered");
    assert_eq!(head.status, 503);
    assert!(
        text(&head).contains("Worker exceeded memory limit"),
        "{}",
        text(&head)
    );
    assert!(bomb.is_closed());
    assert_eq!(pool.limit_kills().get(LimitKind::Memory), 1);

    assert_eq!(
        text(&neighbour.fetch(get("/")).await.expect("answers")),
        "hello"
    );
    warm_pool_reaches(&pool, 1).await;
    let again = load_with(&pool, ScriptBundle::single("bomb", source), options("bomb"))
        .await
        .expect("reloads");
    assert_eq!(text(&again.fetch(get("/")).await.expect("answers")), "fine");
}

/// A one-thread pool that keeps taking warm runtimes goes through several thread retirements;
/// pre-booted runtimes count against each thread's budget (see pool.rs), and every isolate
/// answers with its own code.
#[tokio::test]
async fn warm_runtimes_count_against_the_thread_budget() {
    let pool = WorkerPool::with_warm(1, 2).expect("pool");
    let mut handles = Vec::new();
    for i in 0..100 {
        if i % 4 == 0 {
            // Near the end of a thread's budget its warm set is not refilled, so wait for one
            // warm runtime rather than two.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while pool.warm_pool_size() == 0 {
                assert!(tokio::time::Instant::now() < deadline, "no warm runtime");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let source = format!("export default {{ fetch() {{ return new Response('{i}'); }} }};");
        let handle = load_with(
            &pool,
            ScriptBundle::single(&format!("w{i}"), source),
            IsolateOptions::new("w"),
        )
        .await
        .expect("loads");
        assert_eq!(
            text(&handle.fetch(get("/")).await.expect("answers")),
            i.to_string()
        );
        if i % 3 == 0 {
            handle.shutdown();
        } else {
            handles.push(handle);
        }
    }
    assert!(
        pool.warm_starts() >= 25,
        "only {} warm starts",
        pool.warm_starts()
    );
    assert_eq!(pool.isolates_per_thread().len(), 1);
    for handle in &handles {
        assert_eq!(handle.fetch(get("/")).await.expect("answers").status, 200);
    }
}
