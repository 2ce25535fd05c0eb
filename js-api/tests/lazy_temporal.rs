//! `Temporal` is built on first use (v8x patch "Temporal is built on first use"): until a
//! worker touches it, `globalThis.Temporal` and `Date.prototype.toTemporalInstant` are
//! accessors, and the polyfill's functions are not in the runtime's heap. Touching either
//! builds it; assigning either first replaces it without building anything.

mod common;

use common::{current_thread_tokio, new_runtime, run_json, startup_snapshot};
use deno_core::JsRuntime;
use skiff_js_api::boot;

/// Bytecode functions in the runtime's heap (the engine's census, `function_records`).
fn functions(runtime: &mut JsRuntime) -> usize {
    let isolate = runtime.v8_isolate();
    (0..isolate.number_of_heap_spaces())
        .filter_map(|index| isolate.get_heap_space_statistics(index))
        .find(|space| space.space_name().to_string_lossy() == "function_records")
        .map(|space| space.physical_space_size())
        .expect("the engine's census has a function_records space")
}

fn runtime(snapshot: Option<&'static [u8]>) -> JsRuntime {
    let mut runtime = new_runtime(snapshot);
    boot(&mut runtime).expect("boots");
    runtime
}

const KINDS: &str = r#"({
  temporal: Object.keys(Object.getOwnPropertyDescriptor(globalThis, "Temporal")).join(),
  instant: Object.keys(Object.getOwnPropertyDescriptor(Date.prototype, "toTemporalInstant")).join(),
})"#;

#[test]
fn temporal_is_built_when_first_touched_and_not_before() {
    let snapshot = startup_snapshot();
    let tokio = current_thread_tokio();
    let _entered = tokio.enter();
    let lazy = serde_json::json!({
        "temporal": "get,set,enumerable,configurable",
        "instant": "get,set,enumerable,configurable",
    });
    let built = serde_json::json!({
        "temporal": "value,writable,enumerable,configurable",
        "instant": "value,writable,enumerable,configurable",
    });

    for (kind, snapshot) in [("fresh", None), ("restored", Some(snapshot))] {
        // Untouched, then touched: the polyfill's hundreds of functions arrive on first use.
        let mut untouched = runtime(snapshot);
        assert_eq!(run_json(&mut untouched, "probe", KINDS), lazy, "{kind}");
        let before = functions(&mut untouched);
        let used = run_json(
            &mut untouched,
            "probe",
            r#"[
              Temporal.PlainDate.from("2020-06-26").add({ days: 7 }).toString(),
              new Date(0).toTemporalInstant().toString(),
              String(Temporal),
              typeof new Intl.DateTimeFormat("en-US").format(Temporal.Instant.fromEpochMilliseconds(0)),
            ]"#,
        );
        assert_eq!(
            used,
            serde_json::json!([
                "2020-07-03",
                "1970-01-01T00:00:00Z",
                "[object Temporal]",
                "string"
            ]),
            "{kind}"
        );
        assert_eq!(run_json(&mut untouched, "probe", KINDS), built, "{kind}");
        let after = functions(&mut untouched);
        assert!(
            after > before + 500,
            "{kind}: {before} functions before Temporal was touched, {after} after"
        );

        // Assigned before use: the worker's value stays, even once the polyfill is built
        // for `toTemporalInstant`.
        let mut assigned = runtime(snapshot);
        let out = run_json(
            &mut assigned,
            "probe",
            r#"globalThis.Temporal = 42;
            [Temporal, Object.keys(Object.getOwnPropertyDescriptor(globalThis, "Temporal")).join(),
             new Date(0).toTemporalInstant().epochMilliseconds, Temporal]"#,
        );
        assert_eq!(
            out,
            serde_json::json!([42, "value,writable,enumerable,configurable", 0, 42]),
            "{kind}"
        );

        // A worker's CommonJS- or AMD-looking globals do not take the polyfill.
        let mut commonjs = runtime(snapshot);
        let out = run_json(
            &mut commonjs,
            "probe",
            r#"globalThis.exports = {};
            globalThis.module = { exports: globalThis.exports };
            globalThis.define = () => { throw new Error("define called"); };
            globalThis.define.amd = true;
            [Temporal.Duration.from({ hours: 2 }).total("minutes"), Object.keys(exports).length]"#,
        );
        assert_eq!(out, serde_json::json!([120, 0]), "{kind}");
    }
}
