//! Scheduled handlers (cron triggers): module and service-worker syntax, outcomes, `noRetry()`,
//! `waitUntil` work, a missing handler and the CPU limit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{get, text, wait_until_idle};
use skiff_runtime::{
    IsolateHandle, IsolateLimits, IsolateOptions, LimitKind, LogEvent, LogSink, RuntimeError,
    ScheduledRequest, ScheduledResult, ScriptBundle, WorkerPool,
};

/// 2026-01-01T00:00:00Z.
const SCHEDULED_TIME: u64 = 1_767_225_600_000;

fn cron(expression: &str) -> ScheduledRequest {
    ScheduledRequest {
        cron: expression.into(),
        scheduled_time_ms: SCHEDULED_TIME,
        meter: None,
    }
}

type Logs = Arc<Mutex<Vec<LogEvent>>>;

async fn load_with(
    pool: &WorkerPool,
    bundle: ScriptBundle,
    limits: IsolateLimits,
) -> (IsolateHandle, Logs) {
    let logs: Logs = Arc::default();
    let sink_logs = logs.clone();
    let options = IsolateOptions {
        log: LogSink::new(
            &bundle.name,
            Arc::new(move |e| sink_logs.lock().expect("logs").push(e)),
        ),
        limits,
        ..IsolateOptions::new(&bundle.name)
    };
    let isolate = pool.load(Arc::new(bundle), options).await.expect("loads");
    (isolate, logs)
}

async fn load(pool: &WorkerPool, name: &str, source: &str) -> (IsolateHandle, Logs) {
    load_with(
        pool,
        ScriptBundle::single(name, source),
        IsolateLimits::default(),
    )
    .await
}

fn messages(logs: &Logs) -> Vec<String> {
    logs.lock()
        .expect("logs")
        .iter()
        .map(|e| e.message.clone())
        .collect()
}

async fn run(isolate: &IsolateHandle, request: ScheduledRequest) -> ScheduledResult {
    tokio::time::timeout(Duration::from_secs(20), isolate.scheduled(request))
        .await
        .expect("the scheduled event finishes")
        .expect("it runs")
}

#[tokio::test]
async fn a_module_handler_sees_cron_time_and_env() {
    let pool = WorkerPool::new(1).expect("pool");
    let mut bundle = ScriptBundle::single(
        "cron",
        r#"export default {
            fetch() { return new Response("fetch"); },
            async scheduled(controller, env, ctx) {
                await null;
                console.log(JSON.stringify([controller.cron, controller.scheduledTime,
                    typeof controller.scheduledTime, env.WHO, typeof ctx.waitUntil,
                    typeof ctx.passThroughOnException, controller.constructor.name]));
            },
        };"#,
    );
    bundle.env.insert("WHO".into(), "the cron".into());
    let (isolate, logs) = load_with(&pool, bundle, IsolateLimits::default()).await;
    let result = run(&isolate, cron("*/5 * * * *")).await;
    assert_eq!(
        result,
        ScheduledResult {
            ok: true,
            no_retry: false
        }
    );
    assert_eq!(
        messages(&logs),
        vec![format!(
            r#"["*/5 * * * *",{SCHEDULED_TIME},"number","the cron","function","function","ScheduledController"]"#
        )]
    );
    // The same isolate still answers requests, and counts the event as one it was sent.
    assert_eq!(
        text(&isolate.fetch(get("/")).await.expect("fetch")),
        "fetch"
    );
    assert_eq!(isolate.requests(), 2);
    wait_until_idle(&isolate).await;
}

#[tokio::test]
async fn a_service_worker_listener_gets_a_scheduled_event() {
    let pool = WorkerPool::new(1).expect("pool");
    let (isolate, logs) = load(
        &pool,
        "sw",
        r#"addEventListener("scheduled", (event) => {
            event.waitUntil((async () => {
                console.log(JSON.stringify([event.type, event.cron, event.scheduledTime,
                    event instanceof ScheduledEvent, event instanceof Event]));
            })());
        });
        let constructed;
        try { new ScheduledEvent("scheduled"); constructed = "yes"; } catch (e) { constructed = e.name; }
        console.log("constructor: " + constructed);"#,
    )
    .await;
    let result = run(&isolate, cron("0 0 * * *")).await;
    assert!(result.ok && !result.no_retry, "{result:?}");
    assert_eq!(
        messages(&logs),
        vec![
            "constructor: TypeError".to_string(),
            format!(r#"["scheduled","0 0 * * *",{SCHEDULED_TIME},true,true]"#),
        ]
    );
}

#[tokio::test]
async fn no_retry_is_reported_from_the_controller_and_the_event() {
    let pool = WorkerPool::new(1).expect("pool");
    let (module, _) = load(
        &pool,
        "no-retry",
        r#"export default { scheduled(controller) {
            if (controller.cron === "stop") controller.noRetry();
            throw new Error("failed");
        } };"#,
    )
    .await;
    assert_eq!(
        run(&module, cron("stop")).await,
        ScheduledResult {
            ok: false,
            no_retry: true
        }
    );
    assert_eq!(
        run(&module, cron("go on")).await,
        ScheduledResult {
            ok: false,
            no_retry: false
        },
        "noRetry() belongs to its own event"
    );
    let (listener, _) = load(
        &pool,
        "no-retry-sw",
        r#"addEventListener("scheduled", (event) => { event.noRetry(); });"#,
    )
    .await;
    assert_eq!(
        run(&listener, cron("x")).await,
        ScheduledResult {
            ok: true,
            no_retry: true
        }
    );
}

#[tokio::test]
async fn a_throwing_or_rejecting_handler_fails_and_is_logged() {
    let pool = WorkerPool::new(1).expect("pool");
    let (module, logs) = load(
        &pool,
        "throws",
        r#"export default { async scheduled(controller) {
            await null;
            if (controller.cron === "reject") throw new Error("rejected " + controller.cron);
            if (controller.cron === "ok") return;
        } };"#,
    )
    .await;
    assert!(!run(&module, cron("reject")).await.ok);
    assert!(run(&module, cron("ok")).await.ok);
    let logged = messages(&logs);
    assert!(
        logged
            .iter()
            .any(|m| m.starts_with("Uncaught Error: rejected reject")),
        "{logged:?}"
    );
    let (listener, logs) = load(
        &pool,
        "throws-sw",
        r#"addEventListener("scheduled", () => { throw new Error("listener threw"); });"#,
    )
    .await;
    assert!(!run(&listener, cron("x")).await.ok);
    let logged = messages(&logs);
    assert_eq!(
        logged
            .iter()
            .filter(|m| m.contains("listener threw"))
            .count(),
        1,
        "logged once: {logged:?}"
    );
}

#[tokio::test]
async fn a_script_without_a_scheduled_handler_fails_with_workerds_message() {
    let pool = WorkerPool::new(1).expect("pool");
    let (module, logs) = load(
        &pool,
        "fetch-only",
        r#"export default { fetch() { return new Response("ok"); } };"#,
    )
    .await;
    assert_eq!(
        run(&module, cron("* * * * *")).await,
        ScheduledResult {
            ok: false,
            no_retry: true
        }
    );
    let logged = messages(&logs);
    assert!(
        logged.iter().any(
            |m| m.starts_with("Uncaught Error: Handler does not export a scheduled() function")
        ),
        "{logged:?}"
    );
    let (listener, logs) = load(
        &pool,
        "fetch-only-sw",
        r#"addEventListener("fetch", (e) => e.respondWith(new Response("ok")));"#,
    )
    .await;
    assert!(!run(&listener, cron("* * * * *")).await.ok);
    let logged = messages(&logs);
    assert!(
        logged
            .iter()
            .any(|m| m
                .starts_with("Uncaught Error: No event listener registered for scheduled events.")),
        "{logged:?}"
    );
}

#[tokio::test]
async fn wait_until_work_finishes_before_the_result() {
    let pool = WorkerPool::new(1).expect("pool");
    let (isolate, logs) = load(
        &pool,
        "wait-until",
        r#"export default { scheduled(controller, env, ctx) {
            ctx.waitUntil(new Promise((resolve) => setTimeout(() => {
                console.log("first");
                resolve();
            }, 30)));
            ctx.waitUntil(new Promise((resolve) => setTimeout(() => {
                console.log("second");
                // Started by the waitUntil work itself: still part of the invocation.
                ctx.waitUntil(new Promise((done) => setTimeout(() => { console.log("third"); done(); }, 30)));
                resolve();
            }, 60)));
            console.log("handler");
        } };"#,
    )
    .await;
    assert!(run(&isolate, cron("* * * * *")).await.ok);
    assert_eq!(messages(&logs), vec!["handler", "first", "second", "third"]);
    assert_eq!(isolate.in_flight(), 0);
}

#[tokio::test]
async fn an_endless_scheduled_handler_is_stopped_by_the_cpu_limit() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = IsolateLimits {
        cpu: Duration::from_millis(50),
        ..IsolateLimits::default()
    };
    let source = r#"export default {
        fetch() { return new Response("alive"); },
        scheduled() { while (true) {} },
    };"#;
    let (isolate, _) = load_with(&pool, ScriptBundle::single("spin", source), limits).await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), isolate.scheduled(cron("spin")))
        .await
        .expect("stopped in bounded time");
    match outcome {
        Err(RuntimeError::Limit {
            kind: LimitKind::Cpu,
            startup: false,
            ..
        }) => {}
        other => panic!("expected the CPU limit, got {other:?}"),
    }
    assert!(isolate.is_closed());
    let (again, _) = load_with(&pool, ScriptBundle::single("spin", source), limits).await;
    assert_eq!(text(&again.fetch(get("/")).await.expect("fetch")), "alive");
}
