//! Hostile tenants against the bindings: a script reaches only the KV namespaces and services
//! its own configuration binds. It cannot make a binding object, borrow a binding's methods for
//! a forged one, or name a namespace by id; what it reads from KV counts toward its memory.

mod common;

use common::{start_with, write};

fn project(dir: &std::path::Path, name: &str, source: &str, config: &str) {
    write(
        &dir.join(name).join("skiff.toml"),
        &format!("name = \"{name}\"\nmain = \"index.js\"\n{config}"),
    );
    write(&dir.join(name).join("index.js"), source);
}

/// Tries each attack and answers what happened to it.
const PROBE: &str = r#"
const attempt = async (run) => {
  try { return `succeeded: ${JSON.stringify(await run())}`; }
  catch (error) { return `${error.name}: ${error.message}`; }
};
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/bomb") {
      // Each read brings 8 MiB into the isolate; holding them passes the 32 MiB limit.
      const held = [];
      for (let i = 0; i < 16; i++) held.push(await env.MINE.get("big", "arrayBuffer"));
      return new Response(`held ${held.length}`);
    }
    const kvProto = Object.getPrototypeOf(env.MINE);
    const fetcherProto = Object.getPrototypeOf(env.AUTH);
    const results = {
      constructKv: await attempt(() => new env.MINE.constructor(undefined, "MINE")),
      constructFetcher: await attempt(() => new env.AUTH.constructor(undefined, "AUTH")),
      forgedGet: await attempt(() => kvProto.get.call({}, "secret")),
      forgedFetch: await attempt(() => fetcherProto.fetch.call({}, "https://other/")),
      ownCopy: await attempt(() => env.MINE.get("secret")),
      notABinding: typeof env.OTHER,
    };
    return Response.json(results);
  },
};
"#;

const OWNER: &str = r#"
export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === "/big") {
      await env.STORE.put("big", new Uint8Array(8 * 1024 * 1024));
      return new Response("stored");
    }
    await env.STORE.put("secret", "owner's secret");
    return new Response(await env.STORE.get("secret"));
  },
};
"#;

#[tokio::test]
async fn bindings_reach_only_what_the_script_binds() {
    let dir = tempfile::tempdir().expect("tempdir");
    project(
        dir.path(),
        "owner",
        OWNER,
        "[[kv_namespaces]]\nbinding = \"STORE\"\nid = \"owner-ns\"\n",
    );
    project(
        dir.path(),
        "prober",
        PROBE,
        "[[kv_namespaces]]\nbinding = \"MINE\"\nid = \"prober-ns\"\n\
         [[services]]\nbinding = \"AUTH\"\nservice = \"owner\"\n",
    );
    project(
        dir.path(),
        "hoarder",
        PROBE,
        "[[kv_namespaces]]\nbinding = \"MINE\"\nid = \"owner-ns\"\n\
         [[services]]\nbinding = \"AUTH\"\nservice = \"owner\"\n",
    );
    let node = start_with(dir, |config| {
        config.isolate_limits.memory = 32 * 1024 * 1024;
        // Copying 8 MiB reads is CPU too: room enough that memory is the limit reached.
        config.isolate_limits.cpu = std::time::Duration::from_secs(2);
    })
    .await;
    assert_eq!(
        node.get("owner", "/").await,
        (200, "owner's secret".to_string())
    );

    let (status, body) = node.get("prober", "/").await;
    assert_eq!(status, 200, "{body}");
    let results: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(results["constructKv"], "TypeError: Illegal constructor");
    assert_eq!(
        results["constructFetcher"],
        "TypeError: Illegal constructor"
    );
    // Private fields: another object cannot borrow a binding's methods.
    for forged in ["forgedGet", "forgedFetch"] {
        let outcome = results[forged].as_str().unwrap_or_default();
        assert!(outcome.starts_with("TypeError"), "{forged}: {outcome}");
    }
    // Its own namespace holds nothing of the owner's, and no other binding is in reach.
    assert_eq!(results["ownCopy"], "succeeded: null");
    assert_eq!(results["notABinding"], "undefined");

    // Values read from KV are the isolate's memory: past its limit it is stopped, alone.
    assert_eq!(node.get("owner", "/big").await, (200, "stored".to_string()));
    assert_eq!(
        node.get("hoarder", "/bomb").await,
        (503, "Worker exceeded memory limit\n".to_string())
    );
    assert_eq!(
        node.get("owner", "/").await,
        (200, "owner's secret".to_string())
    );
}
