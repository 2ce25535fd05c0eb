//! Probe: do deno_core startup snapshots work on the QuickJS backend with Skiff's extensions,
//! and what do they save? Boots runtimes plainly and from a snapshot and prints the times.
//!
//! ```text
//! cargo run --release -p skiff-js-api --example snapshot_probe
//! ```

use std::time::{Duration, Instant};

use std::sync::Arc;

use deno_core::{Extension, ExtensionFileSource, JsRuntime, JsRuntimeForSnapshot, RuntimeOptions};

/// Loads the same deno scripts as Skiff's bootstrap and defines a few globals, without the
/// dispatch loop (a pending async function cannot be part of a snapshot).
const PROBE_BOOT: &str = r#"
import { core, internals } from "ext:core/mod.js";
internals.__telemetry ??= { TRACING_ENABLED: false, PROPAGATORS: [], DID_NOT_ENTER: {},
  builtinTracer: () => undefined, enterSpan: () => undefined, exitSpan: () => {},
  ContextManager: { active: () => undefined } };
internals.__telemetryUtil ??= { updateSpanFromClientResponse: () => {},
  updateSpanFromError: () => {}, updateSpanFromRequest: () => {} };
const load = (s) => core.loadExtScript(s);
load("ext:deno_webidl/00_webidl.js");
const url = load("ext:deno_web/00_url.js");
load("ext:deno_web/01_urlpattern.js");
load("ext:deno_web/01_console.js");
load("ext:deno_web/01_dom_exception.js");
load("ext:deno_web/02_event.js");
load("ext:deno_web/02_structured_clone.js");
load("ext:deno_web/02_timers.js");
load("ext:deno_web/03_abort_signal.js");
load("ext:deno_web/04_global_interfaces.js");
load("ext:deno_web/05_base64.js");
const streams = load("ext:deno_web/06_streams.js");
const encoding = load("ext:deno_web/08_text_encoding.js");
load("ext:deno_web/09_file.js");
load("ext:deno_web/13_message_port.js");
load("ext:deno_web/14_compression.js");
load("ext:deno_web/15_performance.js");
load("ext:deno_fetch/20_headers.js");
load("ext:deno_fetch/21_formdata.js");
load("ext:deno_fetch/22_body.js");
load("ext:deno_fetch/23_request.js");
const response = load("ext:deno_fetch/23_response.js");
load("ext:deno_fetch/26_fetch.js");
const cryptoMod = load("ext:deno_crypto/00_crypto.js");
globalThis.URL = url.URL;
globalThis.Response = response.Response;
globalThis.TextEncoder = encoding.TextEncoder;
globalThis.ReadableStream = streams.ReadableStream;
Object.defineProperty(globalThis, "crypto", { get: () => cryptoMod.crypto });
"#;

/// Skiff's extensions with its bootstrap replaced by [`PROBE_BOOT`].
fn probe_extensions() -> Vec<Extension> {
    let (_events, inbox) = skiff_js_api::event_channel();
    let mut extensions = skiff_js_api::extensions(inbox);
    extensions.pop();
    extensions.push(Extension {
        name: "snapshot_probe",
        deps: &[
            "deno_webidl",
            "deno_web",
            "deno_net",
            "deno_fetch",
            "deno_crypto",
        ],
        esm_files: vec![ExtensionFileSource::new_computed(
            "ext:snapshot_probe/boot.js",
            Arc::from(PROBE_BOOT),
        )]
        .into(),
        esm_entry_point: Some("ext:snapshot_probe/boot.js"),
        ..Default::default()
    });
    extensions
}

const CHECK: &str = r#"[typeof Response, typeof URL, new URL("http://a.test/b?c").pathname,
  typeof TextEncoder, typeof crypto?.subtle, typeof ReadableStream].join(",")"#;

fn check(runtime: &mut JsRuntime) -> String {
    match runtime.execute_script("probe", CHECK) {
        Ok(value) => {
            deno_core::scope!(scope, runtime);
            let local = deno_core::v8::Local::new(scope, value);
            local.to_rust_string_lossy(scope)
        }
        Err(err) => format!("error: {err}"),
    }
}

fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let _guard = tokio.enter();

    let mut plain = Vec::new();
    let mut plain_check = String::new();
    let mut plain_heap = 0;
    // One runtime first, so that per-process costs are not counted per runtime.
    std::mem::forget(JsRuntime::new(RuntimeOptions {
        extensions: probe_extensions(),
        ..Default::default()
    }));
    let rss = rss_kib();
    for _ in 0..5 {
        let started = Instant::now();
        let mut runtime = JsRuntime::new(RuntimeOptions {
            extensions: probe_extensions(),
            ..Default::default()
        });
        plain.push(started.elapsed());
        plain_check = check(&mut runtime);
        plain_heap = runtime.v8_isolate().get_heap_statistics().total_heap_size();
        // Engines are left alive: dropping one that is not the current isolate asserts.
        std::mem::forget(runtime);
    }
    println!(
        "plain boot: median {:?}, RSS {} KiB each, engine heap {} KiB ({plain_check})",
        median(plain),
        (rss_kib() - rss) / 5,
        plain_heap / 1024
    );

    let started = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let runtime = JsRuntimeForSnapshot::new(RuntimeOptions {
            extensions: probe_extensions(),
            ..Default::default()
        });
        runtime.snapshot()
    }));
    let snapshot = match result {
        Ok(snapshot) => snapshot,
        Err(_) => {
            println!("snapshot creation panicked");
            return;
        }
    };
    println!(
        "snapshot: {} bytes, created in {:?}",
        snapshot.len(),
        started.elapsed()
    );
    let snapshot: &'static [u8] = Box::leak(snapshot);

    let mut restored = Vec::new();
    let mut restored_check = String::new();
    let mut restored_heap = 0;
    let rss = rss_kib();
    for _ in 0..5 {
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            JsRuntime::try_new(RuntimeOptions {
                extensions: probe_extensions(),
                startup_snapshot: Some(snapshot),
                ..Default::default()
            })
        }));
        let elapsed = started.elapsed();
        match result {
            Ok(Ok(mut runtime)) => {
                restored.push(elapsed);
                restored_check = check(&mut runtime);
                restored_heap = runtime.v8_isolate().get_heap_statistics().total_heap_size();
                std::mem::forget(runtime);
            }
            Ok(Err(err)) => {
                println!("restore failed after {elapsed:?}: {err}");
                return;
            }
            Err(_) => {
                println!("restore panicked after {elapsed:?}");
                return;
            }
        }
    }
    println!(
        "boot from snapshot: median {:?}, engine heap {} KiB ({restored_check}); RSS not \
         comparable here ({} KiB each: the allocator reuses what snapshot creation freed)",
        median(restored),
        restored_heap / 1024,
        (rss_kib() - rss) / 5
    );
}
