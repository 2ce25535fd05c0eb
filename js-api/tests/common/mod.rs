//! What the js-api tests that run runtimes share.

// Each test file compiles this module on its own and uses only some of it.
#![allow(dead_code)]

use deno_core::{JsRuntime, RuntimeOptions, serde_v8, v8};
use skiff_js_api::{create_snapshot, event_channel, extensions};

/// A current-thread Tokio runtime for a test to enter: a booted runtime's dispatch loop starts
/// an async op, which needs one.
pub fn current_thread_tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// A startup snapshot, made on a thread of its own as the runtime crate makes it, and kept for
/// the life of the test process (runtimes restored from it refer to it).
pub fn startup_snapshot() -> &'static [u8] {
    let snapshot = std::thread::spawn(create_snapshot)
        .join()
        .expect("the snapshot thread")
        .expect("a snapshot");
    Box::leak(snapshot)
}

/// A runtime with Skiff's extensions, restored from `snapshot` if one is given, not booted.
pub fn new_runtime(snapshot: Option<&'static [u8]>) -> JsRuntime {
    let (_events, inbox) = event_channel();
    JsRuntime::new(RuntimeOptions {
        extensions: extensions(inbox),
        startup_snapshot: snapshot,
        ..Default::default()
    })
}

/// Runs `code` as a script and returns its value as JSON.
pub fn run_json(
    runtime: &mut JsRuntime,
    name: &'static str,
    code: &'static str,
) -> serde_json::Value {
    let value = runtime.execute_script(name, code).expect("runs");
    deno_core::scope!(scope, runtime);
    let value = v8::Local::new(scope, value);
    serde_v8::from_v8(scope, value).expect("a JSON value")
}
