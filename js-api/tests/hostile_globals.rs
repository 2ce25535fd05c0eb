//! Hostile tenants and the engine: a booted runtime, fresh or restored from the startup
//! snapshot, has exactly the documented global scope, and nothing reachable from it (by own
//! properties, accessors and prototypes) is one of the engine layer's internals: its
//! `__v8x...` names, `gc`, `ShadowRealm`, or the getter and setter of the async context that
//! carries a request's budgets. `Temporal`, `Intl.DateTimeFormat` and `Atomics.waitAsync`
//! still work; `Atomics.wait`, which would block the isolate's thread without spending CPU,
//! throws.

use std::time::Duration;

mod common;

use common::{current_thread_tokio, new_runtime, run_json, startup_snapshot};
use deno_core::JsRuntime;
use skiff_js_api::boot;

/// The global scope a worker sees: ECMAScript's globals as the engine provides them, then the
/// web and Workers globals of `js/04_globals.js` and `js/08_cache.js` (README: "The global
/// scope"). The one engine name left is `__v8xTemporalTimeZone` (see `hideEngineInternals` in
/// `js/06_engine.js`).
const DOCUMENTED_GLOBALS: &[&str] = &[
    // ECMAScript
    "AggregateError",
    "Array",
    "ArrayBuffer",
    "AsyncDisposableStack",
    "Atomics",
    "BigInt",
    "BigInt64Array",
    "BigUint64Array",
    "Boolean",
    "DataView",
    "Date",
    "DisposableStack",
    "Error",
    "EvalError",
    "FinalizationRegistry",
    "Float16Array",
    "Float32Array",
    "Float64Array",
    "Function",
    "Infinity",
    "Int16Array",
    "Int32Array",
    "Int8Array",
    "InternalError",
    "Intl",
    "Iterator",
    "JSON",
    "Map",
    "Math",
    "NaN",
    "Number",
    "Object",
    "Promise",
    "Proxy",
    "RangeError",
    "ReferenceError",
    "Reflect",
    "RegExp",
    "Set",
    "SharedArrayBuffer",
    "String",
    "SuppressedError",
    "Symbol",
    "SyntaxError",
    "Temporal",
    "TypeError",
    "URIError",
    "Uint16Array",
    "Uint32Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "WeakMap",
    "WeakRef",
    "WeakSet",
    "WebAssembly",
    "decodeURI",
    "decodeURIComponent",
    "encodeURI",
    "encodeURIComponent",
    "escape",
    "eval",
    "globalThis",
    "isFinite",
    "isNaN",
    "parseFloat",
    "parseInt",
    "undefined",
    "unescape",
    // Web and Workers
    "AbortController",
    "AbortSignal",
    "Blob",
    "ByteLengthQueuingStrategy",
    "Cache",
    "CacheStorage",
    "CloseEvent",
    "Cloudflare",
    "CompressionStream",
    "CountQueuingStrategy",
    "Crypto",
    "CryptoKey",
    "CustomEvent",
    "DOMException",
    "DecompressionStream",
    "ErrorEvent",
    "Event",
    "EventTarget",
    "FetchEvent",
    "File",
    "FixedLengthStream",
    "FormData",
    "HTMLRewriter",
    "Headers",
    "IdentityTransformStream",
    "MessageChannel",
    "MessageEvent",
    "MessagePort",
    "Navigator",
    "Performance",
    "PerformanceEntry",
    "PerformanceMark",
    "PerformanceMeasure",
    "PromiseRejectionEvent",
    "ReadableByteStreamController",
    "ReadableStream",
    "ReadableStreamBYOBReader",
    "ReadableStreamBYOBRequest",
    "ReadableStreamDefaultController",
    "ReadableStreamDefaultReader",
    "Request",
    "Response",
    "ScheduledEvent",
    "SubtleCrypto",
    "TextDecoder",
    "TextDecoderStream",
    "TextEncoder",
    "TextEncoderStream",
    "TransformStream",
    "TransformStreamDefaultController",
    "URL",
    "URLPattern",
    "URLSearchParams",
    "WebSocket",
    "WebSocketPair",
    "WritableStream",
    "WritableStreamDefaultController",
    "WritableStreamDefaultWriter",
    "atob",
    "btoa",
    "caches",
    "clearInterval",
    "clearTimeout",
    "console",
    "crypto",
    "fetch",
    "navigator",
    "performance",
    "queueMicrotask",
    "reportError",
    "scheduler",
    "self",
    "setInterval",
    "setTimeout",
    "structuredClone",
    // The engine's time-zone lookup behind Intl.DateTimeFormat and Temporal.
    "__v8xTemporalTimeZone",
];

/// Lists the global names, then walks everything reachable from the global object (own
/// properties' values and accessors, getters of the global itself, prototypes) and reports
/// each `__v8x` key and each function named like an engine internal, with its path.
const PROBE: &str = r#"
(() => {
  const globals = Object.getOwnPropertyNames(globalThis).sort();
  const internals = new Set([
    "gc", "ShadowRealm", "getContinuationPreservedEmbedderData",
    "setContinuationPreservedEmbedderData", "hasOwnEnumProperty", "getOwnPropertyKeys",
  ]);
  const found = [];
  const seen = new Set();
  const queue = [[globalThis, "globalThis"]];
  const visit = (value, path) => {
    if ((typeof value === "object" || typeof value === "function") && value !== null && !seen.has(value)) {
      queue.push([value, path]);
    }
  };
  while (queue.length > 0 && seen.size < 100000) {
    const [value, path] = queue.shift();
    if (seen.has(value)) continue;
    seen.add(value);
    if (typeof value === "function") {
      const name = Object.getOwnPropertyDescriptor(value, "name")?.value;
      if (internals.has(name)) found.push(`${path} is ${name}`);
    }
    let keys;
    try { keys = Reflect.ownKeys(value); } catch { continue; }
    for (const key of keys) {
      const name = typeof key === "symbol" ? `[${key.description}]` : key;
      const at = `${path}.${name}`;
      if (name.includes("__v8x") && at !== "globalThis.__v8xTemporalTimeZone") found.push(at);
      let descriptor;
      try { descriptor = Object.getOwnPropertyDescriptor(value, key); } catch { continue; }
      visit(descriptor.value, at);
      visit(descriptor.get, `${at}<get>`);
      visit(descriptor.set, `${at}<set>`);
      if (value === globalThis && descriptor.get) {
        try { visit(descriptor.get.call(globalThis), at); } catch {}
      }
    }
    try { visit(Object.getPrototypeOf(value), `${path}.__proto__`); } catch {}
  }

  const checks = {};
  const attempt = (name, f) => { try { checks[name] = f(); } catch (e) { checks[name] = `${e.name}: ${e.message}`; } };
  attempt("temporal", () => Temporal.ZonedDateTime.from("2020-06-26T12:00[Europe/Berlin]").offset);
  attempt("instant", () => typeof Temporal.Now.instant().epochMilliseconds);
  attempt("dateTimeFormat", () => new Intl.DateTimeFormat("en-US", { timeZone: "Asia/Tokyo" }).resolvedOptions().timeZone);
  const view = new Int32Array(new SharedArrayBuffer(16));
  attempt("notEqual", () => Atomics.waitAsync(view, 0, 1).value);
  attempt("immediateTimeout", () => Atomics.waitAsync(view, 0, 0, 0).value);
  attempt("notifyFloat", () => Atomics.notify(new Float64Array(2), 0));
  attempt("waitAsync", () => {
    const waiting = Atomics.waitAsync(view, 1, 0);
    waiting.value.then((v) => { globalThis.woken = v; });
    const timed = Atomics.waitAsync(view, 2, 0, 20);
    timed.value.then((v) => { globalThis.timedOut = v; });
    return `${waiting.async} ${Atomics.notify(view, 1)}`;
  });
  attempt("wait", () => { const t = Date.now(); const r = Atomics.wait(view, 3, 0, 200); return `${r} ${Date.now() - t}`; });
  attempt("importSource", () => typeof __v8x_import_source);
  return { globals, found, checks, reached: seen.size };
})()
"#;

fn probe(runtime: &mut JsRuntime, tokio: &tokio::runtime::Runtime) -> serde_json::Value {
    boot(runtime).expect("boots");
    let mut out = run_json(runtime, "probe", PROBE);
    // Let the waiters settle: the bootstrap's dispatch loop keeps the event loop pending, so it
    // runs until the deadline.
    tokio.block_on(async {
        let _ = tokio::time::timeout(
            Duration::from_millis(300),
            runtime.run_event_loop(Default::default()),
        )
        .await;
    });
    out["settled"] = run_json(
        runtime,
        "settled",
        "({ woken: globalThis.woken, timedOut: globalThis.timedOut })",
    );
    out
}

#[test]
fn fresh_and_restored_runtimes_show_only_the_documented_global_scope() {
    let snapshot = startup_snapshot();
    let tokio = current_thread_tokio();
    let _entered = tokio.enter();
    let fresh = probe(&mut new_runtime(None), &tokio);
    let restored = probe(&mut new_runtime(Some(snapshot)), &tokio);
    let mut documented: Vec<&str> = DOCUMENTED_GLOBALS.to_vec();
    documented.sort_unstable();
    for (kind, out) in [("fresh", &fresh), ("restored", &restored)] {
        let globals: Vec<&str> = out["globals"]
            .as_array()
            .expect("names")
            .iter()
            .filter_map(|n| n.as_str())
            .collect();
        let extra: Vec<&&str> = globals.iter().filter(|n| !documented.contains(n)).collect();
        let missing: Vec<&&str> = documented.iter().filter(|n| !globals.contains(n)).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{kind}: undocumented globals {extra:?}, missing globals {missing:?}"
        );
        assert_eq!(
            out["found"],
            serde_json::json!([]),
            "{kind}: engine internals reachable"
        );
        assert!(
            out["reached"].as_u64().unwrap_or(0) > 1000,
            "{kind}: {}",
            out["reached"]
        );
        assert_eq!(
            out["checks"],
            serde_json::json!({
                "temporal": "+02:00",
                "instant": "number",
                "dateTimeFormat": "Asia/Tokyo",
                "notEqual": "not-equal",
                "immediateTimeout": "timed-out",
                "notifyFloat": "TypeError: Atomics.notify: the view must be an Int32Array or a BigInt64Array",
                "waitAsync": "true 1",
                "wait": "TypeError: Atomics.wait cannot be called in this context",
                "importSource": "undefined",
            }),
            "{kind}"
        );
        assert_eq!(
            out["settled"],
            serde_json::json!({ "woken": "ok", "timedOut": "timed-out" }),
            "{kind}"
        );
    }
}
