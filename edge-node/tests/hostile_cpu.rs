//! The hostile-tenant suite: the CPU limit covers all tenant code, at all times (issue 12,
//! item 4), through a real node over real sockets. Work after the response (`waitUntil`,
//! timers) and work with no request at all (a top-level interval) is charged and killed like
//! a request's, and termination lands promptly even inside long native calls.

mod common;

use std::time::{Duration, Instant};

use common::{script_dir, start_with};
use skiff_runtime::IsolateLimits;

/// 50 ms of CPU per request, Cloudflare's standard figure and the node's default.
fn limits() -> IsolateLimits {
    IsolateLimits {
        cpu: Duration::from_millis(50),
        ..IsolateLimits::default()
    }
}

const CPU_KILLED: &str = "Worker exceeded CPU time limit; the isolate was stopped";

/// A burn of `ms` milliseconds of wall time (all CPU on an otherwise idle thread).
const BURN: &str = "function burn(ms) { const end = Date.now() + ms; while (Date.now() < end) {} }";

#[tokio::test]
async fn wait_until_is_charged_to_its_request_and_does_not_leak_the_budget() {
    let script = format!(
        r#"{BURN}
export default {{ async fetch(req, env, ctx) {{
    const path = new URL(req.url).pathname;
    if (path === "/wait") ctx.waitUntil(Promise.resolve());
    if (path === "/busy") burn(1500);
    return new Response("ok " + path);
}} }};"#
    );
    let node = start_with(script_dir(&[("w", &script)]), |c| {
        c.isolate_limits = limits();
    })
    .await;

    assert_eq!(node.get("w", "/wait").await, (200, "ok /wait".into()));
    // The waitUntil work ended: the isolate's busy period did too, so cheap requests after it
    // do not pile up allowance for an expensive one.
    for _ in 0..40 {
        assert_eq!(node.get("w", "/cheap").await, (200, "ok /cheap".into()));
    }
    let started = Instant::now();
    let (status, body) = node.get("w", "/busy").await;
    assert_eq!(
        (status, body.trim()),
        (503, "Worker exceeded CPU time limit")
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(!node.logged("Illegal invocation"));
}

#[tokio::test]
async fn wait_until_work_past_the_limit_is_killed() {
    let script = format!(
        r#"{BURN}
export default {{ fetch(req, env, ctx) {{
    ctx.waitUntil((async () => {{ await new Promise((r) => setTimeout(r, 20)); burn(3000); }})());
    return new Response("answered");
}} }};"#
    );
    let node = start_with(script_dir(&[("w", &script)]), |c| {
        c.isolate_limits = limits();
    })
    .await;
    let started = Instant::now();
    assert_eq!(node.get("w", "/").await, (200, "answered".into()));
    node.wait_for_log(CPU_KILLED).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "waitUntil work ran {:?} before it was killed",
        started.elapsed()
    );
}

#[tokio::test]
async fn timer_callbacks_after_the_response_share_one_allowance() {
    // Each callback burns 20 ms, under the 50 ms limit; the chain would burn 4 s in all.
    let script = format!(
        r#"{BURN}
let done = 0;
function step() {{ burn(20); done += 1; if (done < 200) setTimeout(step, 1); }}
export default {{ fetch(req) {{
    if (new URL(req.url).pathname === "/count") return new Response(String(done));
    setTimeout(step, 1);
    return new Response("chain started");
}} }};"#
    );
    let node = start_with(script_dir(&[("t", &script)]), |c| {
        c.isolate_limits = limits();
    })
    .await;
    let started = Instant::now();
    assert_eq!(node.get("t", "/").await, (200, "chain started".into()));
    node.wait_for_log(CPU_KILLED).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the chain ran {:?} before it was killed",
        started.elapsed()
    );
    // The next request boots a fresh isolate, with no chain running.
    assert_eq!(node.get("t", "/count").await, (200, "0".into()));
}

#[tokio::test]
async fn an_interval_set_at_top_level_is_limited_without_any_request() {
    let script = format!(
        r#"{BURN}
setInterval(() => burn(10), 5);
export default {{ fetch() {{ return new Response("ok"); }} }};"#
    );
    let node = start_with(script_dir(&[("i", &script)]), |c| {
        c.isolate_limits = limits();
    })
    .await;
    // The node boots every script's isolate at start; nobody sends a request.
    node.wait_for_log(CPU_KILLED).await;
}

#[tokio::test]
async fn a_loop_of_long_native_calls_is_terminated_promptly() {
    // Each indexOf walks 2 million elements without calling back into JavaScript.
    let script = r#"const big = new Array(2e6).fill(1);
export default { fetch(req) {
    if (new URL(req.url).pathname === "/scan") { for (;;) big.indexOf(2); }
    return new Response("neighbour");
} };"#;
    let node = start_with(script_dir(&[("n", script), ("h", script)]), |c| {
        c.isolate_limits = limits();
        c.threads = 1;
    })
    .await;
    // Both isolates are loaded on the one thread before the scan starts.
    assert_eq!(node.get("h", "/").await, (200, "neighbour".into()));
    assert_eq!(node.get("n", "/").await, (200, "neighbour".into()));

    let started = Instant::now();
    let scan = {
        let client = node.client(&["n"]);
        let url = node.url("n", "/scan");
        tokio::spawn(async move {
            let res = client.get(url).send().await.expect("request");
            (res.status().as_u16(), res.text().await.expect("body"))
        })
    };
    let (status, body) = scan.await.expect("task");
    let killed_after = started.elapsed();
    assert_eq!(
        (status, body.trim()),
        (503, "Worker exceeded CPU time limit")
    );
    // Target: under 200 ms for a 50 ms limit; the bound leaves room for a busy CI machine.
    assert!(
        killed_after < Duration::from_millis(600),
        "{killed_after:?}"
    );
    // The neighbour on the same thread answers at once afterwards.
    let started = Instant::now();
    assert_eq!(node.get("h", "/").await, (200, "neighbour".into()));
    assert!(started.elapsed() < Duration::from_millis(500));
    println!("a scanning loop was terminated {killed_after:?} after it started");
}

#[tokio::test]
async fn single_long_native_calls_are_terminated_promptly() {
    // Each route is one native call that runs for seconds without calling back into
    // JavaScript: a sort that compares numbers as strings, a typed array's numeric sort, the
    // stringifying of a small graph whose objects are shared (its text doubles with every
    // level), and a regexp that backtracks exponentially, tested and replaced (the engine runs
    // a regexp that starts with a character from each place that character occurs, and
    // replaces with a plain regexp without exec). The data is built at top level, under a
    // generous startup allowance.
    let script = r#"const strings = Array.from({ length: 3e6 }, (_, i) => (i * 7919) % 3e6);
const floats = new Float64Array(12e6);
for (let i = 0; i < floats.length; i++) floats[i] = (i * 7919) % 1e6;
let shared = {};
for (let i = 0; i < 40; i++) shared = [shared, shared];
const backtracks = "a" + "b".repeat(40);
export default { fetch(req) {
    switch (new URL(req.url).pathname) {
        case "/sort": strings.sort(); break;
        case "/typed-sort": floats.sort(); break;
        case "/stringify": JSON.stringify(shared); break;
        case "/regexp": /a(b+b+)+c/.test(backtracks); break;
        case "/replace": backtracks.replace(/a(b+b+)+c/g, ""); break;
    }
    return new Response("neighbour");
} };"#;
    let routes = ["/sort", "/typed-sort", "/stringify", "/regexp", "/replace"];
    let names = ["n0", "n1", "n2", "n3", "n4", "h"];
    let scripts: Vec<_> = names.iter().map(|name| (*name, script)).collect();
    let node = start_with(script_dir(&scripts), |c| {
        c.isolate_limits = IsolateLimits {
            startup_cpu: Duration::from_secs(20),
            memory: 1024 * 1024 * 1024,
            ..limits()
        };
        c.threads = 1;
    })
    .await;
    for name in names {
        assert_eq!(node.get(name, "/").await, (200, "neighbour".into()));
    }
    for (route, name) in routes.iter().zip(names) {
        let started = Instant::now();
        let (status, body) = node.get(name, route).await;
        let killed_after = started.elapsed();
        assert_eq!(
            (status, body.trim()),
            (503, "Worker exceeded CPU time limit"),
            "{route}"
        );
        // Target: under 200 ms for a 50 ms limit; the bound leaves room for a busy CI machine.
        assert!(
            killed_after < Duration::from_millis(600),
            "{route}: {killed_after:?}"
        );
        let started = Instant::now();
        assert_eq!(node.get("h", "/").await, (200, "neighbour".into()));
        assert!(started.elapsed() < Duration::from_millis(500), "{route}");
        println!("{route} was terminated {killed_after:?} after it started");
    }
}

#[tokio::test]
async fn rsa_key_generation_past_4096_bits_is_refused() {
    // deno_crypto generates RSA keys on a blocking thread, off the isolate's CPU clock; 8192
    // bits took over 30 s of a core. The modulus is read once, so a getter cannot show the
    // check one value and the generation another.
    let script = r#"export default { async fetch(req) {
    let reads = 0;
    const algorithm = {
        name: "RSASSA-PKCS1-v1_5",
        get modulusLength() { return reads++ === 0 ? 8192 : 2048; },
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
    };
    const started = Date.now();
    try {
        await crypto.subtle.generateKey(algorithm, false, ["sign"]);
        return new Response("generated");
    } catch (e) {
        return new Response(`${e.name} after ${Date.now() - started} ms: ${e.message}`);
    }
} };"#;
    let node = start_with(script_dir(&[("rsa", script)]), |c| {
        c.isolate_limits = limits();
    })
    .await;
    let (status, body) = node.get("rsa", "/").await;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("OperationError after ")
            && body.ends_with(
                "RSA keys of more than 4096 bits cannot be generated (modulusLength 8192)"
            ),
        "{body}"
    );
}

#[tokio::test]
async fn a_body_whose_producer_loops_is_cut_and_its_thread_serves_on() {
    // The producer runs while the body streams: the head has gone out, and the limit ends the
    // body, which the client sees end (before the fix it waited for a body that no runtime
    // would feed again). Producers: a stream's pull, an HTMLRewriter handler, and one that
    // loops inside an async handler the rewriter awaits.
    let script = r#"export default { fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/") return new Response("neighbour");
    if (path === "/pull") {
        let n = 0;
        return new Response(new ReadableStream({ pull(c) {
            if (n++ > 2) for (;;) {}
            c.enqueue(new TextEncoder().encode("<p>one</p>"));
        } }));
    }
    const page = new Response("<p>one</p>".repeat(1000), { headers: { "content-type": "text/html" } });
    const spin = path === "/sync"
        ? { element() { for (;;) {} } }
        : { async element(el) { await null; for (;;) {} } };
    return new HTMLRewriter().on("p", spin).transform(page);
} };"#;
    let node = start_with(script_dir(&[("r", script), ("h", script)]), |c| {
        c.isolate_limits = limits();
        c.threads = 1;
    })
    .await;
    assert_eq!(node.get("h", "/").await, (200, "neighbour".into()));
    for path in ["/pull", "/sync", "/async"] {
        assert_eq!(node.get("r", "/").await, (200, "neighbour".into()));
        let started = Instant::now();
        let res = node
            .client(&["r"])
            .get(node.url("r", path))
            .send()
            .await
            .expect("request");
        // The body never completes: it is cut (an error) or ends short of the page.
        let body = res.text().await.unwrap_or_default();
        assert!(!body.contains("one</p><p>one</p>"), "{path}: {body:.80}");
        let killed_after = started.elapsed();
        assert!(
            killed_after < Duration::from_millis(1500),
            "{path}: {killed_after:?}"
        );
        // The thread is free again: the neighbour answers at once.
        let started = Instant::now();
        assert_eq!(node.get("h", "/").await, (200, "neighbour".into()));
        assert!(started.elapsed() < Duration::from_millis(500), "{path}");
    }
    node.wait_for_log(CPU_KILLED).await;
}
