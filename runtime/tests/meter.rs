//! Usage meters: each invocation's share of its isolate's CPU, its subrequests, its exception,
//! the limit that stopped it, and a callback that runs once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::{get, text};
use skiff_runtime::{
    FetchRequest, IsolateHandle, IsolateLimits, IsolateOptions, Meter, MeterReading, MeterStop,
    OutboundPolicy, ScheduledRequest, ScriptBundle, WorkerPool,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const BURN: &str = r#"export default {
    async fetch(req, env, ctx) {
        const url = new URL(req.url);
        const ms = Number(url.searchParams.get("burn") ?? 0);
        const end = performance.now() + ms;
        while (performance.now() < end) {}
        if (url.pathname === "/throw") throw new Error("metered failure");
        if (url.pathname === "/spin") { while (true) {} }
        const target = url.searchParams.get("fetch");
        if (target !== null) {
            await (await fetch(target)).text();
            await (await fetch(target)).text();
            ctx.waitUntil(fetch(target).then((r) => r.text()));
        }
        return new Response("done");
    },
    scheduled() {
        const end = performance.now() + 20;
        while (performance.now() < end) {}
    },
};"#;

/// The tests burn CPU by the clock and read their pool thread's CPU by its name, so they take
/// turns (each drops its pool, which joins the thread, before the next begins).
static TURNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The CPU the (one) pool thread has run so far, from the kernel's scheduler statistics.
///
/// The handlers burn 20 ms by the clock; on a machine shared with other work the thread may
/// get less CPU than that in those 20 ms, so the meters are compared with what the thread
/// actually ran (20 ms when it had a core to itself), and with 20 ms as an upper bound.
fn pool_thread_cpu() -> Duration {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("tasks") {
        let path = task.expect("task").path();
        let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        // "skiff-isolates-0", cut to the kernel's 15 characters.
        if name.trim() == "skiff-isolates-" {
            let stat = std::fs::read_to_string(path.join("schedstat")).expect("schedstat");
            let nanos: u64 = stat
                .split_whitespace()
                .next()
                .and_then(|field| field.parse().ok())
                .expect("on-CPU nanoseconds");
            found.push(Duration::from_nanos(nanos));
        }
    }
    assert_eq!(found.len(), 1, "exactly one pool thread");
    found[0]
}

async fn load(pool: &WorkerPool, limits: IsolateLimits) -> IsolateHandle {
    let options = IsolateOptions {
        limits,
        outbound: OutboundPolicy {
            allow_private: true,
            ..OutboundPolicy::default()
        },
        ..IsolateOptions::new("metered")
    };
    pool.load(Arc::new(ScriptBundle::single("metered", BURN)), options)
        .await
        .expect("loads")
}

/// One test's isolate, alone on its pool's one thread (no warm runtimes: none is booted on the
/// thread while it is measured), and the readings of the meters it hands out.
struct Metered {
    isolate: IsolateHandle,
    pool: WorkerPool,
    readings: mpsc::UnboundedSender<MeterReading>,
    done: mpsc::UnboundedReceiver<MeterReading>,
    /// How many times meters' callbacks ran.
    calls: Arc<AtomicUsize>,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Metered {
    async fn start(limits: IsolateLimits) -> Self {
        let turn = TURNS.lock().await;
        let pool = WorkerPool::with_warm(1, 0).expect("pool");
        let isolate = load(&pool, limits).await;
        let (readings, done) = mpsc::unbounded_channel();
        Self {
            isolate,
            pool,
            readings,
            done,
            calls: Arc::default(),
            _turn: turn,
        }
    }

    /// A meter whose reading comes out of [`Metered::reading`].
    fn meter(&self) -> Meter {
        let readings = self.readings.clone();
        let calls = self.calls.clone();
        Meter::new(move |reading| {
            calls.fetch_add(1, Ordering::SeqCst);
            let _ = readings.send(reading.clone());
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The next meter reading.
    async fn reading(&mut self) -> MeterReading {
        tokio::time::timeout(Duration::from_secs(20), self.done.recv())
            .await
            .expect("the meter is done in time")
            .expect("a reading")
    }
}

fn metered_get(path: &str, meter: &Meter) -> FetchRequest {
    FetchRequest {
        meter: Some(meter.clone()),
        ..get(path)
    }
}

fn assert_near(actual: Duration, expected: Duration, what: &str) {
    let (low, high) = (expected.mul_f64(0.8), expected.mul_f64(1.2));
    assert!(
        actual >= low && actual <= high,
        "{what}: {actual:?} is not within 20% of {expected:?}"
    );
}

/// `metered` is within 20% of the CPU the thread ran (`thread`), which the clock-timed burn
/// of `burned` bounds from above.
fn assert_charged(metered: Duration, thread: Duration, burned: Duration, what: &str) {
    assert_near(metered, thread, what);
    assert!(
        metered <= burned.mul_f64(1.2),
        "{what}: {metered:?} is more than the {burned:?} burned"
    );
}

#[tokio::test]
async fn a_request_is_charged_its_own_cpu() {
    let mut metered = Metered::start(IsolateLimits::default()).await;
    let meter = metered.meter();
    let before = pool_thread_cpu();
    let head = metered
        .isolate
        .fetch(metered_get("/?burn=20", &meter))
        .await
        .expect("answered");
    assert_eq!((head.status, text(&head)), (200, "done".to_string()));
    meter.set_status(head.status);
    meter.set_response_bytes(5);
    // The node's clone goes once its body is sent; the isolate's once the invocation is over.
    drop(meter);
    let reading = metered.reading().await;
    let thread = pool_thread_cpu() - before;
    assert_charged(
        reading.cpu,
        thread,
        Duration::from_millis(20),
        "one request",
    );
    assert_eq!(reading.status, Some(200));
    assert_eq!(reading.response_bytes, 5);
    assert!(!reading.exception && reading.stopped_by.is_none() && !reading.canceled);
    assert_eq!(reading.subrequests, 0);
    assert!(reading.started.elapsed() >= Duration::from_millis(20));
    // Exactly once, also after the isolate is gone.
    metered.isolate.shutdown();
    let Metered {
        isolate,
        pool,
        mut done,
        calls,
        ..
    } = metered;
    drop(isolate);
    drop(pool);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(done.try_recv().is_err());
}

#[tokio::test]
async fn concurrent_requests_split_the_isolates_cpu() {
    let mut metered = Metered::start(IsolateLimits::default()).await;
    let before = pool_thread_cpu();
    let requests: Vec<_> = (0..10)
        .map(|_| {
            let isolate = metered.isolate.clone();
            let request = metered_get("/?burn=20", &metered.meter());
            tokio::spawn(async move { isolate.fetch(request).await.map(|head| head.status) })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.expect("task").expect("answered"), 200);
    }
    let mut total = Duration::ZERO;
    for _ in 0..10 {
        let reading = metered.reading().await;
        assert!(!reading.exception);
        total += reading.cpu;
    }
    let thread = pool_thread_cpu() - before;
    assert_charged(
        total,
        thread,
        Duration::from_millis(200),
        "ten requests together",
    );
    assert_eq!(metered.calls(), 10);
}

/// A loopback HTTP server answering every request "ok"; its URL.
async fn origin() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    format!("http://{address}/")
}

#[tokio::test]
async fn subrequests_are_counted_with_those_of_wait_until() {
    let mut metered = Metered::start(IsolateLimits::default()).await;
    let origin = origin().await;
    let head = metered
        .isolate
        .fetch(metered_get(&format!("/?fetch={origin}"), &metered.meter()))
        .await
        .expect("answered");
    assert_eq!(head.status, 200);
    let reading = metered.reading().await;
    assert_eq!(reading.subrequests, 3, "two awaited, one in waitUntil");
    assert_eq!(
        metered.isolate.in_flight(),
        0,
        "the waitUntil fetch was done first"
    );
}

#[tokio::test]
async fn an_exception_is_flagged() {
    let mut metered = Metered::start(IsolateLimits::default()).await;
    let head = metered
        .isolate
        .fetch(metered_get("/throw", &metered.meter()))
        .await
        .expect("answered");
    assert_eq!(head.status, 500);
    assert!(metered.reading().await.exception);
    let head = metered
        .isolate
        .fetch(metered_get("/", &metered.meter()))
        .await
        .expect("answered");
    assert_eq!(head.status, 200);
    assert!(!metered.reading().await.exception);
}

#[tokio::test]
async fn a_request_in_flight_when_the_cpu_limit_hits_is_stopped_by_it() {
    let limits = IsolateLimits {
        cpu: Duration::from_millis(50),
        ..IsolateLimits::default()
    };
    let mut metered = Metered::start(limits).await;
    let head = tokio::time::timeout(
        Duration::from_secs(10),
        metered
            .isolate
            .fetch(metered_get("/spin", &metered.meter())),
    )
    .await
    .expect("stopped in bounded time")
    .expect("answered");
    assert_eq!(head.status, 503);
    let reading = metered.reading().await;
    assert_eq!(reading.stopped_by, Some(MeterStop::Cpu));
    assert!(
        reading.cpu >= Duration::from_millis(40),
        "charged what it spent: {:?}",
        reading.cpu
    );
    assert!(metered.isolate.is_closed());
    assert_eq!(metered.calls(), 1);
}

#[tokio::test]
async fn a_scheduled_event_is_metered() {
    let mut metered = Metered::start(IsolateLimits::default()).await;
    let before = pool_thread_cpu();
    let result = metered
        .isolate
        .scheduled(ScheduledRequest {
            cron: "* * * * *".into(),
            scheduled_time_ms: 0,
            meter: Some(metered.meter()),
        })
        .await
        .expect("runs");
    assert!(result.ok);
    let reading = metered.reading().await;
    let thread = pool_thread_cpu() - before;
    assert_charged(
        reading.cpu,
        thread,
        Duration::from_millis(20),
        "a scheduled event",
    );
    assert!(!reading.exception);
    assert_eq!(metered.calls(), 1);
}
