//! The tenant global scope: every WinterTC minimum common API name is there and works, and no
//! internal is.

use std::sync::Arc;

use skiff_runtime::{
    FetchRequest, IsolateHandle, IsolateOptions, LogSink, ResponseBody, ScriptBundle, WorkerPool,
};

const PROBE: &str = r#"
const names = [
  "AbortController", "AbortSignal", "Blob", "ByteLengthQueuingStrategy", "CompressionStream",
  "CountQueuingStrategy", "Crypto", "CryptoKey", "DecompressionStream", "DOMException",
  "ErrorEvent", "Event", "EventTarget", "File", "FormData", "Headers", "PromiseRejectionEvent",
  "ReadableByteStreamController", "ReadableStream", "ReadableStreamBYOBReader",
  "ReadableStreamBYOBRequest", "ReadableStreamDefaultController", "ReadableStreamDefaultReader",
  "Request", "Response", "SubtleCrypto", "TextDecoder", "TextDecoderStream", "TextEncoder",
  "TextEncoderStream", "TransformStream", "TransformStreamDefaultController", "URL", "URLPattern",
  "URLSearchParams", "WebAssembly", "WritableStream", "WritableStreamDefaultController",
  "WritableStreamDefaultWriter", "atob", "btoa", "console", "crypto", "fetch", "navigator",
  "performance", "queueMicrotask", "setTimeout", "clearTimeout", "setInterval", "clearInterval",
  "structuredClone",
];
async function checks() {
  const out = {};
  out.missing = names.filter((n) => typeof globalThis[n] === "undefined");
  out.internals = ["Deno", "__bootstrap", "__skiff", "__skiffBoot", "gc"].filter((n) => n in globalThis);
  out.globalIsEventTarget = globalThis instanceof EventTarget;
  let heard = false;
  globalThis.addEventListener("ping", () => { heard = true; });
  globalThis.dispatchEvent(new Event("ping"));
  out.globalDispatch = heard;
  out.userAgent = navigator.userAgent;
  out.timeOrigin = typeof performance.timeOrigin === "number" && performance.timeOrigin > 0;
  out.now = typeof performance.now() === "number";
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc"));
  out.sha256 = [...new Uint8Array(digest)].slice(0, 4).map((b) => b.toString(16).padStart(2, "0")).join("");
  out.uuid = /^[0-9a-f-]{36}$/.test(crypto.randomUUID());
  out.clone = structuredClone(new Map([[1, { a: [1n] }]])).get(1).a[0] === 1n;
  const compressed = new Blob(["hello hello hello"]).stream().pipeThrough(new CompressionStream("gzip"));
  out.gzip = await new Response(compressed.pipeThrough(new DecompressionStream("gzip"))).text();
  out.pattern = new URLPattern({ pathname: "/u/:id" }).exec("https://x.test/u/42")?.pathname.groups.id;
  out.base64 = atob(btoa("skiff"));
  const reader = new ReadableStream({ type: "bytes", start(c) { c.enqueue(new Uint8Array([1, 2, 3])); c.close(); } })
    .getReader({ mode: "byob" });
  out.byob = (await reader.read(new Uint8Array(8))).value.length;
  out.timer = await new Promise((resolve) => setTimeout(() => resolve("fired"), 1));
  out.micro = await new Promise((resolve) => queueMicrotask(() => resolve("ran")));
  out.wasm = typeof WebAssembly.Module === "function";
  const form = new FormData();
  form.append("k", "v");
  out.form = form.get("k");
  out.abort = (() => { const c = new AbortController(); c.abort(); return c.signal.aborted; })();
  let text = "";
  for await (const chunk of new Blob(["é"]).stream().pipeThrough(new TextDecoderStream())) text += chunk;
  out.textStream = text;
  try { atob("*"); out.atobError = "none"; } catch (e) { out.atobError = `${e instanceof DOMException} ${e.name}`; }
  const channel = new MessageChannel();
  out.message = await new Promise((resolve) => {
    channel.port2.onmessage = (e) => { resolve(e.data.hello); channel.port1.close(); channel.port2.close(); };
    channel.port1.postMessage({ hello: "port" });
  });
  const xs = Array.from({ length: 10000 }, () => Math.random());
  const mean = xs.reduce((a, b) => a + b) / xs.length;
  out.random = xs.every((x) => x >= 0 && x < 1) && Math.abs(mean - 0.5) < 0.02 &&
    new Set(xs).size === xs.length && Math.random.name === "random";
  return out;
}
const random = Math.random();
export default {
  async fetch(req) {
    if (new URL(req.url).pathname === "/random") return new Response(`${random} ${crypto.randomUUID()}`);
    return Response.json(await checks());
  },
};
"#;

fn get(path: &str) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: format!("http://globals.localhost{path}"),
        headers: vec![],
        body: None,
        meter: None,
    }
}

async fn load(pool: &WorkerPool) -> IsolateHandle {
    pool.load(
        Arc::new(ScriptBundle::single("globals", PROBE)),
        IsolateOptions {
            log: LogSink::new("globals", Arc::new(|e| eprintln!("tenant: {}", e.message))),
            ..IsolateOptions::new("globals")
        },
    )
    .await
    .expect("loads")
}

async fn text(isolate: &IsolateHandle, path: &str) -> String {
    let head = isolate.fetch(get(path)).await.expect("response");
    assert_eq!(head.status, 200);
    let ResponseBody::Full(body) = head.body else {
        panic!("a complete body");
    };
    String::from_utf8(body.to_vec()).expect("utf-8")
}

/// Waits (at most 120 s) until runtimes boot from the process's startup snapshot.
async fn wait_for_snapshot() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !skiff_runtime::snapshot_ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot after 120 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn check_globals(pool: &WorkerPool) {
    let isolate = load(pool).await;
    let out: serde_json::Value = serde_json::from_str(&text(&isolate, "/").await).expect("json");
    let expected = serde_json::json!({
        "missing": [], "internals": [], "globalIsEventTarget": true, "globalDispatch": true,
        "userAgent": "Cloudflare-Workers", "timeOrigin": true, "now": true, "sha256": "ba7816bf",
        "uuid": true, "clone": true, "gzip": "hello hello hello", "pattern": "42",
        "base64": "skiff", "byob": 3, "timer": "fired", "micro": "ran", "wasm": true,
        "form": "v", "abort": true, "textStream": "é",
        "atobError": "true InvalidCharacterError", "message": "port", "random": true,
    });
    assert_eq!(out, expected);
}

#[tokio::test]
async fn wintertc_globals_are_present_and_work() {
    let pool = WorkerPool::with_warm(1, 0).expect("pool");
    check_globals(&pool).await;
}

/// Runtimes created from the process's startup snapshot get the same global scope, and no two
/// share their random state.
#[tokio::test]
async fn the_startup_snapshot_gives_the_same_globals_and_fresh_randomness() {
    let pool = WorkerPool::with_warm(1, 0).expect("pool");
    wait_for_snapshot().await;
    check_globals(&pool).await;
    let one = text(&load(&pool).await, "/random").await;
    let two = text(&load(&pool).await, "/random").await;
    let (random_one, uuid_one) = one.split_once(' ').expect("two values");
    let (random_two, uuid_two) = two.split_once(' ').expect("two values");
    assert_ne!(
        random_one, random_two,
        "Math.random state restored from the snapshot"
    );
    assert_ne!(uuid_one, uuid_two);
}

const SOURCES: &str = r#"// line 1
function tenantFn(a) { return a + 1; }
function boom() { return new Error("x"); }
export default {
  fetch() {
    return Response.json({
      own: tenantFn.toString(),
      arrow: ((x) => x * 2).toString(),
      clone: Response.prototype.clone.toString(),
      get: Headers.prototype.get.toString(),
      stack: boom().stack,
      internal: (() => { try { new Response(null, { status: 9999 }); } catch (e) { return e.stack; } })(),
    });
  },
};
"#;

/// The startup snapshot leaves out the source text and the line tables of the runtime's own
/// functions (they print as native functions do, and their stack frames have no location, as
/// native frames do), while the tenant's code, compiled after the restore, keeps its source
/// and its lines.
#[tokio::test]
async fn runtime_functions_keep_no_source_and_tenant_functions_keep_theirs() {
    let pool = WorkerPool::with_warm(1, 0).expect("pool");
    wait_for_snapshot().await;
    let isolate = pool
        .load(
            Arc::new(ScriptBundle::single("sources", SOURCES)),
            IsolateOptions::new("sources"),
        )
        .await
        .expect("loads");
    let out: serde_json::Value = serde_json::from_str(&text(&isolate, "/").await).expect("json");
    assert_eq!(out["own"], "function tenantFn(a) { return a + 1; }");
    assert_eq!(out["arrow"], "(x) => x * 2");
    assert_eq!(out["clone"], "function clone() {\n    [native code]\n}");
    assert_eq!(out["get"], "function get() {\n    [native code]\n}");
    let stack = out["stack"].as_str().expect("a stack");
    assert!(
        stack.contains("at boom (file:///bundle/index.js:3:26)"),
        "{stack}"
    );
    let internal = out["internal"].as_str().expect("a stack");
    assert!(
        internal.starts_with("RangeError: The status provided (9999)")
            && internal.contains("file:///bundle/index.js:12:")
            && internal.contains(" (<anonymous>)")
            && !internal.contains("ext:"),
        "{internal}"
    );
}
