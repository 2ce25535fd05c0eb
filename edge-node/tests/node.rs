//! The edge node over real HTTP on port 0: handler syntaxes, env, waitUntil, streaming,
//! errors, isolation between tenants, and what tenants must not reach.

mod common;

use common::*;
use futures::StreamExt;

/// A node on loopback that answers `body` on any host.
async fn local_origin(body: &str) -> TestNode {
    let source = format!("export default {{ fetch() {{ return new Response({body:?}); }} }};");
    start_with(script_dir(&[("origin", &source)]), |config| {
        config.default_script = Some("origin".into());
    })
    .await
}

const HELLO: &str = r#"export default { fetch(req) { return new Response("hello " + new URL(req.url).pathname); } };"#;

#[tokio::test]
async fn module_and_service_worker_syntax() {
    let node = start(&[
        ("hello", HELLO),
        (
            "sw",
            r#"addEventListener("fetch", (e) => e.respondWith(new Response("sw " + e.request.method)));"#,
        ),
    ])
    .await;
    let client = node.client(&["hello", "sw"]);
    let res = client
        .get(node.url("hello", "/x"))
        .send()
        .await
        .expect("hello");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), "hello /x");
    let res = client.post(node.url("sw", "/")).send().await.expect("sw");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), "sw POST");
}

#[tokio::test]
async fn env_carries_vars_json_vars_and_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("envy/skiff.toml"),
        "[vars]\nGREETING = \"hi\"\nCONFIG = { retries = 3, tags = [\"a\", \"b\"] }\n",
    );
    write(&dir.path().join("envy/.dev.vars"), "API_KEY=s3cret\n");
    write(
        &dir.path().join("envy/index.js"),
        r#"export default { fetch(req, env) {
            return Response.json({ g: env.GREETING, r: env.CONFIG.retries, t: env.CONFIG.tags, k: env.API_KEY });
        } };"#,
    );
    let node = start_with(dir, |_| {}).await;
    let res = node
        .client(&["envy"])
        .get(node.url("envy", "/"))
        .send()
        .await
        .expect("envy");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({ "g": "hi", "r": 3, "t": ["a", "b"], "k": "s3cret" })
    );
}

#[tokio::test]
async fn wait_until_finishes_after_the_response() {
    // The waitUntil work blocks on a promise that only a later request releases, so the first
    // response can only have been sent while that work was still pending.
    let node = start(&[(
        "later",
        r#"
        let state = "idle";
        let release;
        export default { async fetch(req, env, ctx) {
            const path = new URL(req.url).pathname;
            if (path === "/start") {
                state = "pending";
                const gate = new Promise((resolve) => { release = resolve; });
                ctx.waitUntil(gate.then(async () => {
                    await new Promise((r) => setTimeout(r, 10));
                    state = "done";
                    console.log("waitUntil finished");
                }));
                return new Response("started");
            }
            if (path === "/release") { release(); return new Response("released"); }
            return new Response(state);
        } };"#,
    )])
    .await;
    let get = |path| node.get("later", path);
    assert_eq!(get("/start").await, (200, "started".to_string()));
    assert_eq!(get("/status").await, (200, "pending".to_string()));
    assert_eq!(get("/release").await, (200, "released".to_string()));
    node.wait_for_log("waitUntil finished").await;
    assert_eq!(get("/status").await, (200, "done".to_string()));
}

#[tokio::test]
async fn five_megabytes_stream_in_chunks() {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/streaming/index.js"
    ))
    .expect("example");
    let node = start(&[("streaming", &source)]).await;
    let res = node
        .client(&["streaming"])
        .get(node.url("streaming", "/?mb=5"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert!(
        res.content_length().is_none(),
        "a stream has no length up front"
    );
    let mut stream = res.bytes_stream();
    let (mut total, mut chunks) = (0usize, 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        assert!(chunk.iter().all(|&b| b == b'a'));
        total += chunk.len();
        chunks += 1;
    }
    assert_eq!(total, 5 * 1024 * 1024);
    assert!(chunks > 10, "only {chunks} chunks");
}

#[tokio::test]
async fn a_throw_gives_500_and_the_next_request_succeeds() {
    let node = start(&[(
        "flaky",
        r#"export default { fetch(req) {
            if (new URL(req.url).searchParams.has("boom")) throw new Error("tenant bug");
            return new Response("ok");
        } };"#,
    )])
    .await;
    let client = node.client(&["flaky"]);
    let res = client
        .get(node.url("flaky", "/?boom"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 500);
    let body = res.text().await.expect("body");
    assert!(
        !body.contains("tenant bug"),
        "the error must not leak to the client: {body}"
    );
    let res = client
        .get(node.url("flaky", "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), "ok");
    assert!(
        node.logged("tenant bug"),
        "the error goes to the script's log"
    );
    assert!(
        node.logged("flaky.js") || node.logged("index.js"),
        "with its stack"
    );
}

#[tokio::test]
async fn rejected_promise_gives_500() {
    let node = start(&[(
        "rejects",
        r#"export default { fetch() { return Promise.reject(new TypeError("nope")); } };"#,
    )])
    .await;
    let res = node
        .client(&["rejects"])
        .get(node.url("rejects", "/"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 500);
    node.wait_for_log("nope").await;
}

#[tokio::test]
async fn scripts_do_not_see_each_others_globals() {
    let node = start(&[
        (
            "a",
            r#"export default { fetch() { globalThis.secret = "from a"; Object.prototype.polluted = 1; return new Response("set"); } };"#,
        ),
        (
            "b",
            r#"export default { fetch() { return new Response(`${typeof globalThis.secret} ${typeof ({}).polluted}`); } };"#,
        ),
    ])
    .await;
    let client = node.client(&["a", "b"]);
    let res = client.get(node.url("a", "/")).send().await.expect("a");
    assert_eq!(res.text().await.expect("body"), "set");
    let res = client.get(node.url("b", "/")).send().await.expect("b");
    assert_eq!(res.text().await.expect("body"), "undefined undefined");
}

#[tokio::test]
async fn tenants_cannot_reach_internals_files_or_the_host() {
    // A local origin the tenant will try to reach. Every address tried is on this machine.
    let origin = local_origin("origin secret").await;
    let origin_url = format!("http://127.0.0.1:{}/", origin.node.http_addr().port());
    let probe = r#"
        export default { async fetch(req) {
            const target = new URL(req.url).searchParams.get("target");
            const out = {
                deno: typeof Deno,
                bootstrap: typeof globalThis.__bootstrap,
                core: typeof globalThis.Deno?.core,
                names: Object.getOwnPropertyNames(globalThis).filter((n) => /deno|bootstrap|ops/i.test(n)),
            };
            for (const [key, url] of [["file", "file:///etc/passwd"], ["local", target], ["localhost", target.replace("127.0.0.1", "localhost")], ["v6", "http://[::1]:8080/"]]) {
                try {
                    const r = await fetch(url);
                    out[key] = "reached " + (await r.text());
                } catch (e) {
                    out[key] = e.name + ": " + e.message;
                }
            }
            return Response.json(out);
        } };"#;
    let node = start(&[("probe", probe)]).await;
    let res = node
        .client(&["probe"])
        .get(node.url("probe", &format!("/?target={origin_url}")))
        .send()
        .await
        .expect("probe");
    let out: serde_json::Value = res.json().await.expect("json");
    assert_eq!(out["deno"], "undefined", "{out}");
    assert_eq!(out["bootstrap"], "undefined", "{out}");
    assert_eq!(out["core"], "undefined", "{out}");
    assert_eq!(out["names"], serde_json::json!([]), "{out}");
    for key in ["file", "local", "localhost", "v6"] {
        let result = out[key].as_str().unwrap_or_default();
        assert!(result.starts_with("TypeError"), "{key}: {result}");
        if key != "file" {
            assert!(result.contains("refused"), "{key}: {result}");
        }
        assert!(!result.contains("origin secret"), "{key}: {result}");
    }

    // With the node's explicit allowance the same fetch reaches the origin.
    let allowed = start_with(script_dir(&[("probe", probe)]), |config| {
        config.outbound.allow_private = true;
    })
    .await;
    let res = allowed
        .client(&["probe"])
        .get(allowed.url("probe", &format!("/?target={origin_url}")))
        .send()
        .await
        .expect("probe");
    let out: serde_json::Value = res.json().await.expect("json");
    assert_eq!(out["local"], "reached origin secret", "{out}");
    assert!(
        out["file"]
            .as_str()
            .unwrap_or_default()
            .starts_with("TypeError"),
        "{out}"
    );
}

#[tokio::test]
async fn subrequests_are_capped_per_request() {
    let origin = local_origin("o").await;
    let origin_url = format!("http://127.0.0.1:{}/", origin.node.http_addr().port());
    let script = r#"export default { async fetch(req) {
        const target = new URL(req.url).searchParams.get("target");
        let ok = 0, error = "";
        for (let i = 0; i < 5; i++) {
            try { await (await fetch(target)).text(); ok++; } catch (e) { error = e.message; }
        }
        return new Response(`${ok} ${error}`);
    } };"#;
    let node = start_with(script_dir(&[("fan", script)]), |config| {
        config.outbound.allow_private = true;
        config.outbound.subrequests = 3;
    })
    .await;
    let client = node.client(&["fan"]);
    for _ in 0..2 {
        // Each incoming request has its own budget.
        let body = client
            .get(node.url("fan", &format!("/?target={origin_url}")))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        assert!(body.starts_with("3 Too many subrequests"), "{body}");
    }
}

#[tokio::test]
async fn runaway_recursion_is_an_error_not_a_crash() {
    let node = start(&[(
        "deep",
        r#"function down(n) { return down(n + 1) + 1; }
        export default { fetch(req) {
            if (new URL(req.url).pathname === "/caught") {
                try { down(0); } catch (e) { return new Response("caught " + e.name); }
            }
            if (new URL(req.url).pathname === "/uncaught") down(0);
            return new Response("alive");
        } };"#,
    )])
    .await;
    let get = |path| node.get("deep", path);
    assert_eq!(get("/caught").await, (200, "caught RangeError".to_string()));
    assert_eq!(get("/uncaught").await.0, 500);
    assert_eq!(get("/").await, (200, "alive".to_string()));
}

#[tokio::test]
async fn a_script_that_fails_to_load_answers_503_and_is_not_reloaded_per_request() {
    let node = start(&[
        (
            "broken",
            r#"console.log("booting broken"); throw new Error("top-level failure");
            export default { fetch() { return new Response("never"); } };"#,
        ),
        ("fine", HELLO),
    ])
    .await;
    for _ in 0..3 {
        let (status, body) = node.get("broken", "/").await;
        assert_eq!(status, 503);
        assert!(!body.contains("top-level failure"), "{body}");
    }
    let boots = node
        .logs
        .lock()
        .expect("logs")
        .iter()
        .filter(|e| e.message.contains("booting broken"))
        .count();
    assert_eq!(boots, 1, "the failed version is loaded once");
    assert_eq!(node.get("fine", "/x").await, (200, "hello /x".to_string()));
}
