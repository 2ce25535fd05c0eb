//! A runtime restored from the startup snapshot has the same intrinsics as one bootstrapped
//! from scratch: every global, its prototype, and what each of them inherits from; and in both
//! the native error constructors inherit from `Error`.

mod common;

use common::{current_thread_tokio, new_runtime, startup_snapshot};
use deno_core::{JsRuntime, serde_v8, v8};
use skiff_js_api::boot;

/// Names every global and its `prototype`, plus intrinsics no global names, then describes what
/// each inherits from by those names.
const PROTOTYPE_GRAPH: &str = r#"
(() => {
  const names = new Map([[Function.prototype, "Function.prototype"], [Object.prototype, "Object.prototype"]]);
  const name = (value, as) => { if (!names.has(value)) names.set(value, as); };
  // The engine's own globals (`__v8x...`) differ between the two by design.
  for (const key of Object.getOwnPropertyNames(globalThis).filter((k) => !k.startsWith("__v8x"))) {
    const value = Object.getOwnPropertyDescriptor(globalThis, key).value;
    if ((typeof value !== "function" && typeof value !== "object") || value === null) continue;
    name(value, key);
    if (typeof value.prototype === "object" && value.prototype !== null) name(value.prototype, `${key}.prototype`);
  }
  name(Object.getPrototypeOf(Uint8Array), "%TypedArray%");
  name(Object.getPrototypeOf(function* () {}).constructor, "%GeneratorFunction%");
  name(Object.getPrototypeOf(async function () {}).constructor, "%AsyncFunction%");
  name(Object.getPrototypeOf(async function* () {}).constructor, "%AsyncGeneratorFunction%");
  name(Object.getPrototypeOf([][Symbol.iterator]()), "%ArrayIteratorPrototype%");
  const graph = {};
  for (const [value, key] of names) {
    const parent = Object.getPrototypeOf(value);
    graph[key] = parent === null ? null : (names.get(parent) ?? `unnamed ${typeof parent}`);
  }
  return graph;
})()
"#;

fn prototype_graph(runtime: &mut JsRuntime) -> serde_json::Value {
    boot(runtime).expect("boots");
    let graph = runtime
        .execute_script("prototype-graph", PROTOTYPE_GRAPH)
        .expect("runs");
    deno_core::scope!(scope, runtime);
    let graph = v8::Local::new(scope, graph);
    serde_v8::from_v8(scope, graph).expect("a JSON object")
}

#[test]
fn a_restored_runtime_has_the_intrinsics_of_a_fresh_one() {
    let snapshot = startup_snapshot();
    let tokio = current_thread_tokio();
    let _entered = tokio.enter();

    let fresh = prototype_graph(&mut new_runtime(None));
    let restored = prototype_graph(&mut new_runtime(Some(snapshot)));

    assert!(
        fresh.as_object().expect("an object").len() > 200,
        "every global is described"
    );
    for error in ["TypeError", "RangeError", "InternalError", "AggregateError"] {
        assert_eq!(fresh[error], "Error", "{error} in a fresh runtime");
    }
    assert_eq!(restored, fresh);
}
