//! Hostile tenants and the logs: a message cannot forge lines in the node's log, cannot be
//! larger than the per-message cap, and one invocation cannot log more than its budget (the
//! rest is dropped and counted).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{get, text};
use skiff_runtime::{
    IsolateHandle, IsolateLimits, IsolateOptions, LogEvent, LogSink, MAX_INVOCATION_LOG_BYTES,
    MAX_MESSAGE_BYTES, ScriptBundle, WorkerPool, log_messages_dropped_total,
};

const LOGGER: &str = r#"
export default {
  fetch(req) {
    const url = new URL(req.url);
    switch (url.pathname) {
      case "/forge":
        console.log("a\nFORGED line \x1b]0;retitled\x07 \x1b[2J");
        break;
      case "/huge":
        console.log("x".repeat(10 * 1024 * 1024));
        break;
      case "/flood":
        for (let i = 0; i < 100000; i++) console.log("line " + i);
        break;
      case "/one":
        console.log("after the flood");
        break;
    }
    return new Response("ok");
  },
};
"#;

/// A `tracing` writer into a shared buffer: what the node's log would show.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn load(pool: &WorkerPool, log: LogSink) -> IsolateHandle {
    pool.load(
        Arc::new(ScriptBundle::single("logger", LOGGER)),
        IsolateOptions {
            log,
            // The flood takes a while to format; the CPU limit is not what is tested here.
            limits: IsolateLimits {
                cpu: Duration::from_secs(20),
                ..IsolateLimits::default()
            },
            ..IsolateOptions::new("logger")
        },
    )
    .await
    .expect("loads")
}

async fn request(isolate: &IsolateHandle, path: &str) {
    let head = isolate.fetch(get(path)).await.expect("response");
    assert_eq!(head.status, 200, "{}", text(&head));
}

/// The node logs tenant events through `tracing` (`LogSink::tracing`): a message with a newline
/// and terminal escapes is one line there, with both escaped.
#[tokio::test]
async fn a_tenant_newline_cannot_forge_a_line_in_the_node_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let pool = WorkerPool::with_warm(1, 0).expect("pool");
    let isolate = load(&pool, LogSink::tracing("logger")).await;
    request(&isolate, "/forge").await;
    let output = String::from_utf8(captured.0.lock().expect("buffer").clone()).expect("utf-8");
    let lines: Vec<&str> = output.lines().filter(|l| l.contains("FORGED")).collect();
    assert_eq!(lines.len(), 1, "{output}");
    assert!(
        lines[0].contains(r"a\nFORGED line \u{1b}]0;retitled\u{7} \u{1b}[2J"),
        "{output}"
    );
    assert!(!output.contains('\u{1b}'), "{output:?}");
    assert!(!output.lines().any(|l| l.starts_with("FORGED")), "{output}");
}

fn collecting() -> (LogSink, Arc<Mutex<Vec<LogEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let log = LogSink::new(
        "logger",
        Arc::new(move |event| sink.lock().expect("events").push(event)),
    );
    (log, events)
}

#[tokio::test]
async fn a_10_mb_message_is_truncated() {
    let pool = WorkerPool::with_warm(1, 0).expect("pool");
    let (log, events) = collecting();
    let isolate = load(&pool, log).await;
    request(&isolate, "/huge").await;
    let events = events.lock().expect("events");
    assert_eq!(events.len(), 1);
    let message = &events[0].message;
    assert!(message.len() < MAX_MESSAGE_BYTES + 100, "{}", message.len());
    assert!(message.starts_with("xxxx"));
    assert!(message.ends_with("[message truncated at 131072 bytes]"));
}

#[tokio::test]
async fn a_flood_of_logs_is_capped_per_invocation_and_counted() {
    let pool = WorkerPool::with_warm(1, 0).expect("pool");
    let (log, events) = collecting();
    let isolate = load(&pool, log).await;
    let dropped_before = log_messages_dropped_total();
    request(&isolate, "/flood").await;
    let logged: Vec<LogEvent> = events.lock().expect("events").clone();
    let bytes: usize = logged.iter().map(|e| e.message.len()).sum();
    assert!(bytes <= MAX_INVOCATION_LOG_BYTES, "{bytes}");
    assert!(
        logged.len() > 1000 && logged.len() < 5000,
        "{}",
        logged.len()
    );
    let last = logged.last().expect("events");
    assert!(
        last.message.starts_with("Log limit reached"),
        "{}",
        last.message
    );
    assert!(
        !logged.iter().any(|e| e.message == "line 99999"),
        "the end of the flood was dropped"
    );
    let dropped = log_messages_dropped_total() - dropped_before;
    assert!(
        dropped >= (100_000 - logged.len()) as u64,
        "{dropped} counted as dropped"
    );
    // The next request has a budget of its own.
    request(&isolate, "/one").await;
    let events = events.lock().expect("events");
    assert_eq!(
        events.last().map(|e| e.message.as_str()),
        Some("after the flood")
    );
}
