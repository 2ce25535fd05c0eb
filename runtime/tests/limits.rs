//! CPU and memory limits: a runaway or memory-hungry tenant is stopped with a 503 while the
//! tenants beside it on the same thread keep answering.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod common;

use common::{get, text};
use skiff_runtime::{
    IsolateHandle, IsolateLimits, IsolateOptions, Lane, RuntimeError, ScriptBundle, WorkerPool,
};

/// The default limits with `ms` of CPU per request, spelled out where a test depends on it.
fn cpu_limit(ms: u64) -> IsolateLimits {
    IsolateLimits {
        cpu: Duration::from_millis(ms),
        ..IsolateLimits::default()
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
    if (path === "/long") { const end = Date.now() + 40; while (Date.now() < end) {} }
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

/// Termination is only noticed between bytecodes, and `fill` on a huge array is one native call
/// that allocates as it goes: the memory limit has to stop it by failing its allocations. (When
/// the near-heap-limit callback raised the limit each time it was called, this request took
/// 1.6 GB and answered 200; in the node, a 4e8-element fill took 6 GB before the CPU limit
/// stopped it.)
#[tokio::test]
async fn a_native_call_that_keeps_allocating_is_stopped_at_the_memory_limit() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = IsolateLimits {
        memory: 32 * 1024 * 1024,
        cpu: Duration::from_secs(10),
        ..IsolateLimits::default()
    };
    let source = r#"export default { fetch() {
        const filled = new Array(1e8).fill(0);
        return new Response("filled " + filled.length);
    } };"#;
    let bomb = load(&pool, "fill", source, limits).await.expect("loads");
    let before = rss_bytes();
    let peak = Arc::new(AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let head = tokio::time::timeout(Duration::from_secs(30), bomb.fetch(get("/")))
        .await
        .expect("stopped in bounded time")
        .expect("answered");
    sampler.abort();
    assert_eq!(head.status, 503, "{}", text(&head));
    assert!(
        text(&head).contains("Worker exceeded memory limit"),
        "{}",
        text(&head)
    );
    // The filled array alone would be 1.6 GB; the isolate may use twice its 32 MiB limit.
    let grown = peak.load(Ordering::Relaxed).saturating_sub(before);
    assert!(
        grown < 512 * 1024 * 1024,
        "the process grew by {} MB",
        grown / (1024 * 1024)
    );
}

/// Holds `mb` MiB more on every request, in the engine heap (`/heap/N`) or in blob parts,
/// which live outside it (`/blob/N`, written 1 MiB at a time so that no large temporary
/// passes through the heap).
const SPLIT_HOARD: &str = r#"const held = [];
export default { fetch(req) {
    const [, where, mb] = new URL(req.url).pathname.split("/");
    for (let i = 0; i < Number(mb); i++) {
        const bytes = new Uint8Array(1 << 20).fill(i);
        held.push(where === "heap" ? bytes : new Blob([bytes]));
    }
    return new Response(`holding ${held.length} MiB`);
} };"#;

/// The heap and what the tenant holds outside it share one budget: 20 MiB in each is refused
/// under a 32 MiB limit, whichever comes first, though either alone is within it. (With a
/// budget of its own for external memory, both orders answered 200 and the isolate held
/// 40 MiB.)
#[tokio::test]
async fn heap_and_external_memory_share_one_limit() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = IsolateLimits {
        memory: 32 * 1024 * 1024,
        cpu: Duration::from_secs(10),
        ..IsolateLimits::default()
    };
    for (first, second) in [("heap", "blob"), ("blob", "heap")] {
        let hoard = load(&pool, "split", SPLIT_HOARD, limits)
            .await
            .expect("loads");
        let head = hoard
            .fetch(get(&format!("/{first}/20")))
            .await
            .expect("answers");
        assert_eq!(
            (head.status, text(&head)),
            (200, "holding 20 MiB".to_string()),
            "{first} alone is within the limit"
        );
        let head = hoard
            .fetch(get(&format!("/{second}/20")))
            .await
            .expect("answers");
        assert_eq!(head.status, 503, "{first} then {second}: {}", text(&head));
        assert!(
            text(&head).contains("Worker exceeded memory limit"),
            "{}",
            text(&head)
        );
        assert!(hoard.is_closed());
    }
    // Within the budget together, both kinds are fine.
    let hoard = load(&pool, "split", SPLIT_HOARD, limits)
        .await
        .expect("loads");
    for path in ["/heap/8", "/blob/8"] {
        let head = hoard.fetch(get(path)).await.expect("answers");
        assert_eq!(head.status, 200, "{path}: {}", text(&head));
    }
}

/// Imports 1 MiB HMAC keys without end: deno_crypto copies each key's bytes in its op and then
/// makes the `CryptoKey`'s native handle object there.
const KEY_LOOP: &str = r#"const held = [];
const raw = new Uint8Array(1 << 20).fill(5);
export default { async fetch() {
    while (true) {
        held.push(await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]));
    }
} };"#;

/// A termination that lands while an op is making a `CryptoKey` ends the request, not the
/// process. The engine layer refused the native constructor deno_core calls for the key's
/// handle object once termination was pending, and deno_core unwraps that call in a function
/// that cannot unwind: the whole process aborted (issue 12 item 0's `cppgc.rs` panic). The
/// memory limit terminates from inside such an op at every run (the key's bytes are charged
/// there); the CPU limit's watchdog lands anywhere, over many requests.
#[tokio::test]
async fn termination_while_an_op_makes_a_crypto_key_ends_only_the_request() {
    let pool = WorkerPool::new(1).expect("pool");
    let neighbour = load(&pool, "neighbour", HELLO, IsolateLimits::default())
        .await
        .expect("loads");
    let by_memory = IsolateLimits {
        memory: 32 * 1024 * 1024,
        cpu: Duration::from_secs(10),
        ..IsolateLimits::default()
    };
    let by_cpu = IsolateLimits {
        memory: 1024 * 1024 * 1024,
        cpu: Duration::from_millis(5),
        ..IsolateLimits::default()
    };
    for (limits, runs, message) in [
        (by_memory, 5, "Worker exceeded memory limit"),
        (by_cpu, 30, "Worker exceeded CPU time limit"),
    ] {
        for _ in 0..runs {
            let keys = load(&pool, "keys", KEY_LOOP, limits).await.expect("loads");
            let head = tokio::time::timeout(Duration::from_secs(30), keys.fetch(get("/")))
                .await
                .expect("stopped in bounded time")
                .expect("answered");
            assert_eq!(head.status, 503, "{}", text(&head));
            assert!(text(&head).contains(message), "{}", text(&head));
            let head = neighbour
                .fetch(get("/"))
                .await
                .expect("the neighbour answers");
            assert_eq!(text(&head), "neighbour");
        }
    }
}

/// This process's resident set, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("VmRSS")
        * 1024
}

/// The engine collects nothing while a module's top level runs unless the heap grows 16 MiB
/// past its threshold (vendor/README.md, "A module loads without collections"), so a top level
/// that makes far more cyclic garbage than the memory limit, keeping little, still loads.
#[tokio::test]
async fn a_top_level_that_makes_cyclic_garbage_loads_within_the_memory_limit() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = IsolateLimits {
        memory: 32 * 1024 * 1024,
        startup_cpu: Duration::from_secs(20),
        ..IsolateLimits::default()
    };
    // About 200 MiB of objects, each in a cycle with its neighbour, none kept.
    let source = r#"let kept = 0;
for (let i = 0; i < 4000; i++) {
    const a = { pad: new Array(6000).fill(i) };
    const b = { a };
    a.b = b;
    kept += a.pad.length > 0 ? 1 : 0;
}
export default { fetch() { return new Response("kept " + kept); } };"#;
    let churn = load(&pool, "churn", source, limits)
        .await
        .expect("loads within the memory limit");
    let head = churn.fetch(get("/")).await.expect("answers");
    assert_eq!((head.status, text(&head)), (200, "kept 4000".to_string()));
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
        Err(err @ RuntimeError::Limit { startup: true, .. }) => {
            assert!(
                err.to_string()
                    .contains("startup exceeded the CPU time limit"),
                "{err}"
            )
        }
        other => panic!("expected a startup limit error, got {other:?}"),
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
    let limits = cpu_limit(50);
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

#[tokio::test]
async fn a_steady_stream_of_requests_is_not_killed() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = cpu_limit(50);
    // Each request burns ~15 ms, well under its 50 ms. Three clients send their next request as
    // soon as the last one is answered, so the isolate always has one queued and takes it up
    // within the same poll: each one it takes up must bring its own budget into that poll.
    let isolate = load(&pool, "steady", SPIN, limits).await.expect("loads");
    let client = |isolate: IsolateHandle| async move {
        let mut statuses = Vec::new();
        for _ in 0..15 {
            let answer = isolate.fetch(get("/burn")).await;
            statuses.push(answer.map(|head| head.status).map_err(|e| e.to_string()));
        }
        statuses
    };
    let clients = (0..3).map(|_| tokio::spawn(client(isolate.clone())));
    let statuses: Vec<Result<u16, String>> = futures::future::join_all(clients)
        .await
        .into_iter()
        .flat_map(|statuses| statuses.expect("client finished"))
        .collect();
    assert_eq!(statuses.len(), 45);
    assert!(statuses.iter().all(|s| s == &Ok(200)), "{statuses:?}");
    assert_eq!(pool.limit_kills().get(skiff_runtime::LimitKind::Cpu), 0);
}

#[tokio::test]
async fn traffic_behind_an_infinite_loop_does_not_extend_it() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = cpu_limit(50);
    let isolate = load(&pool, "spin", SPIN, limits).await.expect("loads");
    let spin = tokio::spawn({
        let isolate = isolate.clone();
        async move { isolate.fetch(get("/spin")).await }
    });
    // Requests keep arriving while the loop runs (one every 5 ms, each worth 50 ms of CPU):
    // none is taken up, so none may lengthen the loop's allowance.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut queued = Vec::new();
    while !spin.is_finished() && tokio::time::Instant::now() < deadline {
        let isolate = isolate.clone();
        queued.push(tokio::spawn(async move { isolate.fetch(get("/")).await }));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(spin.is_finished(), "the loop still ran after 3 s");
    let head = spin.await.expect("joined").expect("answered");
    assert_eq!(head.status, 503, "{}", text(&head));
    assert_eq!(pool.limit_kills().get(skiff_runtime::LimitKind::Cpu), 1);
    drop(queued);
}

#[tokio::test]
async fn a_busy_tenant_does_not_starve_its_thread() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = IsolateLimits::default();
    let busy = load(&pool, "busy", SPIN, limits).await.expect("loads");
    let quiet = load(&pool, "quiet", HELLO, limits).await.expect("loads");
    assert_eq!(pool.isolates_per_thread(), vec![2], "one thread");
    // Two clients keep the busy tenant's queue full of 15 ms requests for about 1.5 s.
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let busy = busy.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    let head = busy.fetch(get("/burn")).await.expect("answered");
                    assert_eq!(head.status, 200);
                }
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    let mut answered = 0;
    while clients.iter().any(|c| !c.is_finished()) {
        let started = std::time::Instant::now();
        let head = tokio::time::timeout(Duration::from_secs(10), quiet.fetch(get("/")))
            .await
            .expect("the quiet tenant answers within 10 s")
            .expect("answered");
        assert_eq!(text(&head), "neighbour");
        slowest = slowest.max(started.elapsed());
        answered += 1;
    }
    for client in clients {
        client.await.expect("busy client");
    }
    // Each quiet request waits for at most the busy request running when it arrived (and the
    // machine's noise), not for the busy tenant's whole queue.
    assert!(
        answered >= 5,
        "only {answered} quiet requests during the load"
    );
    assert!(
        slowest < Duration::from_millis(400),
        "slowest quiet request: {slowest:?}"
    );
}

#[tokio::test]
async fn long_computations_make_an_isolate_hot_and_short_ones_do_not() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = IsolateLimits::default();
    let heavy = load(&pool, "heavy", SPIN, limits).await.expect("loads");
    let light = load(&pool, "light", HELLO, limits).await.expect("loads");
    for _ in 0..200 {
        assert_eq!(light.fetch(get("/")).await.expect("answered").status, 200);
    }
    assert!(!light.is_hot(), "200 short requests are not hot");
    // 20 requests of 15 ms: 300 ms of long slices, so at least 150 ms in one window.
    for _ in 0..20 {
        assert_eq!(
            heavy.fetch(get("/burn")).await.expect("answered").status,
            200
        );
    }
    assert!(heavy.is_hot());
    assert!(!light.is_hot());
}

#[tokio::test]
async fn a_dedicated_isolate_gets_a_thread_of_its_own_and_leaves_its_neighbours_alone() {
    let pool = WorkerPool::new(1).expect("pool");
    let options = |name: &str, lane: Lane| IsolateOptions {
        lane,
        ..IsolateOptions::new(name)
    };
    let bundle = |name: &str, source: &str| Arc::new(ScriptBundle::single(name, source));
    let busy = pool
        .load(bundle("busy", SPIN), options("busy", Lane::Dedicated))
        .await
        .expect("loads");
    let quiet = pool
        .load(bundle("quiet", HELLO), options("quiet", Lane::Shared))
        .await
        .expect("loads");
    assert_eq!(busy.lane(), Lane::Dedicated);
    assert_eq!(quiet.lane(), Lane::Shared);
    assert_eq!(pool.isolates_per_thread(), vec![1], "only quiet is shared");
    assert_eq!(pool.dedicated_threads(), 1);
    assert_eq!(pool.isolates(), 2);

    // Two clients keep the busy tenant computing; the quiet one is never behind it.
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let busy = busy.clone();
            tokio::spawn(async move {
                for _ in 0..15 {
                    let head = busy.fetch(get("/long")).await.expect("answered");
                    assert_eq!(head.status, 200);
                }
            })
        })
        .collect();
    let mut times = Vec::new();
    while clients.iter().any(|c| !c.is_finished()) {
        let started = std::time::Instant::now();
        let head = quiet.fetch(get("/")).await.expect("answered");
        assert_eq!(text(&head), "neighbour");
        times.push(started.elapsed());
    }
    for client in clients {
        client.await.expect("busy client");
    }
    times.sort();
    assert!(times.len() >= 10, "only {} quiet requests", times.len());
    let median = times[times.len() / 2];
    // On a shared thread, a quiet request arriving during a 40 ms computation waits for its
    // end (a median of about 40 ms in a probe); the margin is for a busy machine.
    assert!(
        median < Duration::from_millis(12),
        "quiet median {median:?}"
    );

    // The thread ends with its isolate.
    busy.shutdown();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while pool.dedicated_threads() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the thread lives on"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pool.isolates(), 1);
}

#[tokio::test]
async fn dedicated_threads_are_bounded() {
    let pool = WorkerPool::with_warm(1, 0).expect("pool");
    let mut lanes = Vec::new();
    let mut handles = Vec::new();
    for i in 0..=skiff_runtime::DEDICATED_PER_THREAD {
        let name = format!("s{i}");
        let options = IsolateOptions {
            lane: Lane::Dedicated,
            ..IsolateOptions::new(&name)
        };
        let handle = pool
            .load(Arc::new(ScriptBundle::single(&name, HELLO)), options)
            .await
            .expect("loads");
        lanes.push(handle.lane());
        handles.push(handle);
    }
    let dedicated = lanes.iter().filter(|&&l| l == Lane::Dedicated).count();
    assert_eq!(dedicated, skiff_runtime::DEDICATED_PER_THREAD);
    assert_eq!(lanes.last(), Some(&Lane::Shared), "the one past the bound");
    assert!(!pool.can_dedicate());
}

#[tokio::test]
async fn requests_near_the_limit_under_concurrency_are_not_killed() {
    let pool = WorkerPool::new(1).expect("pool");
    let limits = cpu_limit(50);
    // 35 ms of a 50 ms limit, two at a time. The interval keeps the isolate polled between
    // requests, so a request is often taken up in one poll and handled in the next: it must
    // bring its budget into the busy period it runs in.
    let source = r#"setInterval(() => {}, 1);
    export default { fetch() {
        const end = Date.now() + 35; while (Date.now() < end) {}
        return new Response("done");
    } };"#;
    let isolate = load(&pool, "near", source, limits).await.expect("loads");
    let mut statuses = Vec::new();
    // Each round starts a busy period afresh.
    for _ in 0..15 {
        let (a, b) = tokio::join!(isolate.fetch(get("/")), isolate.fetch(get("/")));
        for answer in [a, b] {
            statuses.push(answer.map(|head| head.status).map_err(|e| e.to_string()));
        }
    }
    assert!(statuses.iter().all(|s| s == &Ok(200)), "{statuses:?}");
    assert_eq!(pool.limit_kills().get(skiff_runtime::LimitKind::Cpu), 0);
}
