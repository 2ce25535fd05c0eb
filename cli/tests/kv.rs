//! Workers KV through the whole platform: `skiff control`, `skiff node` processes and the CLI,
//! with a worker that drives `env.CONFIG` from its request's query.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::client;
use common::platform::{Platform, text};

/// A worker that runs one KV call per request, named by the path, and answers its result as
/// JSON (an exception as `{ error, name }`).
const KV_WORKER: &str = r#"
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const q = (name) => url.searchParams.get(name);
    const kv = env.CONFIG;
    const run = async () => {
      switch (url.pathname) {
        case "/put": {
          const options = {};
          if (q("ttl")) options.expirationTtl = Number(q("ttl"));
          if (q("meta")) options.metadata = JSON.parse(q("meta"));
          const kind = q("kind");
          const text = q("value");
          const value = kind === "bytes" ? new TextEncoder().encode(text)
            : kind === "stream" ? new Blob([text]).stream()
            : text;
          await kv.put(q("key"), value, options);
          return { ok: true };
        }
        case "/get": {
          const type = q("type") ?? "text";
          const value = await kv.get(q("key"), { type });
          if (type === "arrayBuffer") return { bytes: value === null ? null : value.byteLength };
          if (type === "stream") return { text: value === null ? null : await new Response(value).text() };
          return { value };
        }
        case "/meta":
          return await kv.getWithMetadata(q("key"));
        case "/list": {
          const options = {};
          if (q("prefix")) options.prefix = q("prefix");
          if (q("limit")) options.limit = Number(q("limit"));
          if (q("cursor")) options.cursor = q("cursor");
          return await kv.list(options);
        }
        case "/put-large": {
          // Over the 64 KiB that travel inside sync events: other nodes fetch it on first read.
          const size = Number(q("size"));
          await kv.put(q("key"), "x".repeat(size), { metadata: { label: "größe ✓" } });
          return { ok: true };
        }
        case "/metadata":
          return (await kv.getWithMetadata(q("key"))).metadata;
        case "/length": {
          const value = await kv.get(q("key"));
          return { length: value === null ? null : value.length };
        }
        case "/delete":
          await kv.delete(q("key"));
          return { ok: true };
        case "/limits": {
          // 26 MiB in two chunks: cheap to make, over the limit once both are read.
          const bigStream = () => new ReadableStream({
            start(controller) {
              controller.enqueue(new Uint8Array(13 * 1024 * 1024));
              controller.enqueue(new Uint8Array(13 * 1024 * 1024));
              controller.close();
            },
          });
          const attempts = {
            emptyKey: () => kv.get(""),
            dotKey: () => kv.put("..", "x"),
            longKey: () => kv.put("k".repeat(513), "x"),
            bigValue: () => kv.put("big", new Uint8Array(25 * 1024 * 1024 + 1)),
            bigStream: () => kv.put("big", bigStream()),
            bigMetadata: () => kv.put("meta", "x", { metadata: "m".repeat(1100) }),
            shortTtl: () => kv.put("ttl", "x", { expirationTtl: 59 }),
            pastExpiration: () => kv.put("exp", "x", { expiration: 1000 }),
            listLimit: () => kv.list({ limit: 1001 }),
            badType: () => kv.get("a", "blob"),
            badValue: () => kv.put("obj", { an: "object" }),
          };
          const results = {};
          const only = q("only");
          for (const [name, attempt] of Object.entries(attempts)) {
            if (only !== null && !only.split(",").includes(name)) continue;
            try {
              await attempt();
              results[name] = "accepted";
            } catch (error) {
              results[name] = `${error.name}: ${error.message}`;
            }
          }
          return results;
        }
      }
      return { error: "no such path" };
    };
    try {
      return Response.json(await run());
    } catch (error) {
      return Response.json({ error: error.message, name: error.name }, { status: 500 });
    }
  },
};
"#;

/// Creates namespace `title` with the CLI; its id.
fn create_namespace(platform: &Platform, title: &str) -> String {
    let out = platform.cli(
        &["kv", "namespace", "create", title],
        platform.dir.path(),
        "",
    );
    assert!(out.status.success(), "namespace create: {}", text(&out));
    let output = text(&out);
    let id = output
        .lines()
        .find_map(|line| line.strip_prefix("id = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no id in {output}"));
    id.to_string()
}

/// A project `name` whose worker is [`KV_WORKER`] with `CONFIG` bound to `namespace`.
fn kv_project(platform: &Platform, name: &str, namespace: &str) -> std::path::PathBuf {
    let dir = platform.project(name, KV_WORKER);
    let config = format!(
        "name = \"{name}\"\nmain = \"src/index.js\"\ncompatibility_date = \"2026-11-01\"\n\n\
         [[kv_namespaces]]\nbinding = \"CONFIG\"\nid = \"{namespace}\"\n"
    );
    std::fs::write(dir.join("skiff.toml"), config).expect("write config");
    dir
}

/// One request to `script` on node `index`: status and JSON body.
fn call(platform: &Platform, index: usize, script: &str, path: &str) -> (u16, serde_json::Value) {
    call_port(platform.node_port(index), script, path)
}

fn call_port(port: u16, script: &str, path: &str) -> (u16, serde_json::Value) {
    let host = format!("{script}.localhost");
    let response = client(&host, port)
        .get(format!("http://{host}:{port}{path}"))
        .send()
        .expect("request");
    let status = response.status().as_u16();
    let body = response.text().expect("body");
    let json = serde_json::from_str(&body).unwrap_or_else(|_| serde_json::json!({ "raw": body }));
    (status, json)
}

fn ok(platform: &Platform, index: usize, script: &str, path: &str) -> serde_json::Value {
    let (status, body) = call(platform, index, script, path);
    assert_eq!(status, 200, "{path} on node {index}: {body}");
    body
}

/// Waits until `path` on node `index` answers `expected`.
fn wait_for(
    platform: &Platform,
    index: usize,
    script: &str,
    path: &str,
    expected: &serde_json::Value,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = call(platform, index, script, path);
        if status == 200 && &body == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {index} answers {status} {body} to {path}, not {expected}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn deploy(platform: &Platform, project: &Path) {
    let out = platform.cli(&["deploy"], project, "");
    assert!(out.status.success(), "deploy: {}", text(&out));
}

#[test]
fn kv_reads_writes_and_lists_on_every_node() {
    let mut platform = Platform::start(2);
    let namespace = create_namespace(&platform, "config");
    let project = kv_project(&platform, "kv", &namespace);
    deploy(&platform, &project);

    // A key with the shortest TTL, written first: it expires while the rest runs.
    ok(&platform, 0, "kv", "/put?key=short&value=lived&ttl=60");
    let put_at = Instant::now();

    // Written on node 0, read on node 1 (and, from its replica, on node 0 at once).
    ok(&platform, 0, "kv", "/put?key=greeting&value=hello");
    assert_eq!(
        ok(&platform, 0, "kv", "/get?key=greeting"),
        serde_json::json!({ "value": "hello" })
    );
    wait_for(
        &platform,
        1,
        "kv",
        "/get?key=greeting",
        &serde_json::json!({ "value": "hello" }),
        Duration::from_secs(5),
    );
    assert_eq!(
        ok(&platform, 1, "kv", "/get?key=missing"),
        serde_json::json!({ "value": null })
    );

    // Every value type and read type.
    ok(&platform, 0, "kv", "/put?key=bytes&value=abc&kind=bytes");
    ok(
        &platform,
        0,
        "kv",
        "/put?key=streamed&value=flowing&kind=stream",
    );
    ok(&platform, 0, "kv", "/put?key=json&value=%7B%22n%22%3A3%7D");
    wait_for(
        &platform,
        1,
        "kv",
        "/get?key=json&type=json",
        &serde_json::json!({ "value": { "n": 3 } }),
        Duration::from_secs(5),
    );
    assert_eq!(
        ok(&platform, 1, "kv", "/get?key=bytes&type=arrayBuffer"),
        serde_json::json!({ "bytes": 3 })
    );
    assert_eq!(
        ok(&platform, 1, "kv", "/get?key=streamed&type=stream"),
        serde_json::json!({ "text": "flowing" })
    );

    // Metadata travels with the value.
    ok(
        &platform,
        0,
        "kv",
        "/put?key=tagged&value=v&meta=%7B%22owner%22%3A%22ops%22%7D",
    );
    wait_for(
        &platform,
        1,
        "kv",
        "/meta?key=tagged",
        &serde_json::json!({ "value": "v", "metadata": { "owner": "ops" }, "cacheStatus": null }),
        Duration::from_secs(5),
    );

    // A value too large for a sync event is fetched by the other node at its first read.
    ok(&platform, 0, "kv", "/put-large?key=large&size=200000");
    // Its first read on node 1 fetches it, with its (non-ASCII) metadata.
    wait_for(
        &platform,
        1,
        "kv",
        "/metadata?key=large",
        &serde_json::json!({ "label": "größe ✓" }),
        Duration::from_secs(5),
    );
    wait_for(
        &platform,
        1,
        "kv",
        "/length?key=large",
        &serde_json::json!({ "length": 200000 }),
        Duration::from_secs(5),
    );

    // Deletion reaches every node.
    ok(&platform, 1, "kv", "/delete?key=greeting");
    wait_for(
        &platform,
        0,
        "kv",
        "/get?key=greeting",
        &serde_json::json!({ "value": null }),
        Duration::from_secs(5),
    );

    // Every limit is refused with Cloudflare's error, and nothing is written.
    // The large values each in a request of their own, within the CPU limit.
    let limits = ok(
        &platform,
        0,
        "kv",
        "/limits?only=emptyKey,dotKey,longKey,bigMetadata,shortTtl,pastExpiration,listLimit,badType,badValue",
    );
    let big_value = ok(&platform, 0, "kv", "/limits?only=bigValue");
    let big_stream = ok(&platform, 0, "kv", "/limits?only=bigStream");
    let expect = |name: &str, message: &str| {
        let got = [&limits, &big_value, &big_stream]
            .iter()
            .find_map(|results| results[name].as_str())
            .unwrap_or_default();
        assert_eq!(got, message, "{name}: {limits} {big_value} {big_stream}");
    };
    expect("emptyKey", "TypeError: Key name cannot be empty.");
    expect("dotKey", "TypeError: \"..\" is not allowed as a key name.");
    expect(
        "longKey",
        "Error: KV PUT failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.",
    );
    expect(
        "bigValue",
        "Error: KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400.",
    );
    expect(
        "bigStream",
        "Error: KV PUT failed: 413 Value length of 27262976 exceeds limit of 26214400.",
    );
    expect(
        "bigMetadata",
        "Error: KV PUT failed: 413 Metadata length of 1102 exceeds limit of 1024.",
    );
    expect(
        "shortTtl",
        "Error: KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration TTL must be at least 60.",
    );
    expect(
        "pastExpiration",
        "Error: KV PUT failed: 400 Invalid expiration of 1000. Expiration times must be at least 60 seconds in the future.",
    );
    expect(
        "listLimit",
        "Error: KV LIST failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000.",
    );
    expect(
        "badType",
        "TypeError: Unknown response type. Possible types are \"text\", \"arrayBuffer\", \"json\", and \"stream\".",
    );
    expect(
        "badValue",
        "TypeError: KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.",
    );
    for key in ["big", "meta", "ttl", "exp", "obj"] {
        assert_eq!(
            ok(&platform, 0, "kv", &format!("/get?key={key}")),
            serde_json::json!({ "value": null }),
            "{key} was written"
        );
    }

    // The CLI sees what the workers wrote, and writes what they read.
    let namespace_flag = ["--namespace-id", namespace.as_str()];
    let out = platform.cli(
        &[&["kv", "key", "get", "tagged"][..], &namespace_flag].concat(),
        platform.dir.path(),
        "",
    );
    assert!(out.status.success(), "key get: {}", text(&out));
    assert_eq!(out.stdout, b"v");
    let value_file = platform.dir.path().join("value.txt");
    std::fs::write(&value_file, "from a file").expect("write value");
    let out = platform.cli(
        &[
            &["kv", "key", "put", "filed", "--path"][..],
            &[value_file.to_str().expect("utf-8 path")],
            &["--metadata", "{\"from\":\"cli\"}"],
            &namespace_flag,
        ]
        .concat(),
        platform.dir.path(),
        "",
    );
    assert!(out.status.success(), "key put: {}", text(&out));
    wait_for(
        &platform,
        1,
        "kv",
        "/meta?key=filed",
        &serde_json::json!({ "value": "from a file", "metadata": { "from": "cli" }, "cacheStatus": null }),
        Duration::from_secs(5),
    );
    let out = platform.cli(
        &[
            &["kv", "key", "list", "--prefix", "file"][..],
            &namespace_flag,
        ]
        .concat(),
        platform.dir.path(),
        "",
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        listed,
        serde_json::json!([{ "name": "filed", "metadata": { "from": "cli" } }])
    );

    // With the control plane down, reads go on from the node's replica; writes fail clearly.
    platform.stop_control();
    assert_eq!(
        ok(&platform, 1, "kv", "/get?key=tagged"),
        serde_json::json!({ "value": "v" })
    );
    let (status, failed) = call(&platform, 1, "kv", "/put?key=tagged&value=lost");
    assert_eq!(status, 500, "{failed}");
    let message = failed["error"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("KV PUT failed: 503") && message.contains("nothing was written"),
        "{failed}"
    );
    platform.start_control();
    wait_for(
        &platform,
        1,
        "kv",
        "/get?key=tagged",
        &serde_json::json!({ "value": "v" }),
        Duration::from_secs(5),
    );

    // The TTL key disappears at its expiration, from reads and from lists.
    let remaining = Duration::from_secs(62).saturating_sub(put_at.elapsed());
    wait_for(
        &platform,
        1,
        "kv",
        "/get?key=short",
        &serde_json::json!({ "value": null }),
        remaining + Duration::from_secs(10),
    );
    let listed = ok(&platform, 1, "kv", "/list?prefix=short");
    assert_eq!(listed["keys"], serde_json::json!([]), "{listed}");
}

#[test]
fn kv_lists_page_through_2500_keys_and_concurrent_writers_agree() {
    let platform = Platform::start(2);
    let namespace = create_namespace(&platform, "pages");
    let project = kv_project(&platform, "pages", &namespace);
    deploy(&platform, &project);

    // 2,500 keys through the admin API.
    let http = reqwest::blocking::Client::new();
    for i in 0..2500 {
        let response = http
            .put(format!(
                "{}/v1/kv/namespaces/{namespace}/values/item-{i:05}",
                platform.control_url()
            ))
            .bearer_auth(&platform.admin_token)
            .body(format!("{i}"))
            .send()
            .expect("put");
        assert_eq!(response.status(), 200, "item {i}");
    }
    for node in 0..2 {
        wait_for(
            &platform,
            node,
            "pages",
            "/get?key=item-02499",
            &serde_json::json!({ "value": "2499" }),
            Duration::from_secs(30),
        );
    }
    // Pages of at most 1,000 in key order, a cursor on every page but the last.
    let mut names = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let path = if cursor.is_empty() {
            "/list?prefix=item-".to_string()
        } else {
            format!("/list?prefix=item-&cursor={cursor}")
        };
        let page = ok(&platform, 1, "pages", &path);
        pages += 1;
        let keys = page["keys"].as_array().expect("keys");
        assert!(keys.len() <= 1000);
        names.extend(
            keys.iter()
                .map(|k| k["name"].as_str().expect("name").to_string()),
        );
        if page["list_complete"] == serde_json::json!(true) {
            assert!(page.get("cursor").is_none(), "{}", page["cursor"]);
            break;
        }
        cursor = page["cursor"].as_str().expect("cursor").to_string();
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..2500).map(|i| format!("item-{i:05}")).collect();
    assert_eq!(names, expected);
    let small = ok(&platform, 0, "pages", "/list?prefix=item-0249&limit=3");
    assert_eq!(small["keys"].as_array().map(Vec::len), Some(3), "{small}");

    // Two nodes write one key at the same time, many times: every node ends with one of the
    // two values, the same one.
    for round in 0..20 {
        let a = format!("a{round}");
        let b = format!("b{round}");
        let (port_0, port_1) = (platform.node_port(0), platform.node_port(1));
        std::thread::scope(|scope| {
            let first =
                scope.spawn(|| call_port(port_0, "pages", &format!("/put?key=race&value={a}")));
            let second =
                scope.spawn(|| call_port(port_1, "pages", &format!("/put?key=race&value={b}")));
            assert_eq!(first.join().expect("a").0, 200);
            assert_eq!(second.join().expect("b").0, 200);
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let on_0 = ok(&platform, 0, "pages", "/get?key=race")["value"].clone();
            let on_1 = ok(&platform, 1, "pages", "/get?key=race")["value"].clone();
            if on_0 == on_1 {
                assert!(
                    on_0 == a.as_str() || on_0 == b.as_str(),
                    "round {round}: {on_0}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: {on_0} vs {on_1}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn bindings_must_name_what_exists_and_service_bindings_work_on_synced_nodes() {
    let platform = Platform::start(1);
    let project = kv_project(&platform, "orphan", "no-such-namespace");
    let out = platform.cli(&["deploy"], &project, "");
    assert!(!out.status.success(), "deployed: {}", text(&out));
    assert!(
        text(&out).contains("no KV namespace with id \"no-such-namespace\""),
        "{}",
        text(&out)
    );

    let front = |service: &str| {
        let dir = platform.project(
            "front",
            "export default { async fetch(request, env) {\n\
               const answer = await env.AUTH.fetch(\"https://auth/check\");\n\
               return new Response(`auth: ${answer.status} ${await answer.text()}`);\n\
             } };\n",
        );
        std::fs::write(
            dir.join("skiff.toml"),
            format!(
                "name = \"front\"\nmain = \"src/index.js\"\n\n\
                 [[services]]\nbinding = \"AUTH\"\nservice = \"{service}\"\n"
            ),
        )
        .expect("write config");
        dir
    };
    let out = platform.cli(&["deploy"], &front("auth"), "");
    assert!(!out.status.success(), "deployed: {}", text(&out));
    assert!(
        text(&out).contains("no script named \"auth\" to bind as a service"),
        "{}",
        text(&out)
    );
    let auth = platform.project(
        "auth",
        "export default { fetch() { return new Response('granted'); } };\n",
    );
    deploy(&platform, &auth);
    deploy(&platform, &front("auth"));
    assert_eq!(
        platform.get(0, "front"),
        (200, "auth: 200 granted".to_string())
    );
}
