//! The whole platform as a user runs it: `skiff control`, three `skiff node` processes syncing
//! from it, and the CLI deploying to them, all on loopback with ports picked by the kernel.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::platform::{Platform, text};
use common::{Skiff, client};

fn answer(body: &str) -> String {
    format!("export default {{ fetch() {{ return new Response({body:?}); }} }};\n")
}

/// The version ids of `name`, newest first, from `skiff versions list --format json`.
fn version_ids(platform: &Platform, project: &Path) -> Vec<String> {
    let out = platform.cli(&["versions", "list", "--format", "json"], project, "");
    assert!(out.status.success(), "versions list: {}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    list["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn deploys_reach_every_node_and_roll_back() {
    let platform = Platform::start(3);
    let project = platform.project("hello", &answer("v1"));

    let out = platform.cli(&["deploy"], &project, "");
    let output = text(&out);
    assert!(out.status.success(), "deploy: {output}");
    assert!(output.contains("Live on 3/3 nodes"), "{output}");
    assert!(output.contains("startup"), "{output}");
    // `deploy` returned after every node acknowledged: each already serves the new version.
    for node in 0..3 {
        assert_eq!(platform.get(node, "hello"), (200, "v1".to_string()));
    }

    std::fs::write(project.join("src/index.js"), answer("v2")).expect("write");
    let out = platform.cli(&["deploy"], &project, "");
    assert!(out.status.success(), "second deploy: {}", text(&out));
    for node in 0..3 {
        assert_eq!(platform.get(node, "hello"), (200, "v2".to_string()));
    }

    let out = platform.cli(&["rollback"], &project, "");
    assert!(out.status.success(), "rollback: {}", text(&out));
    assert!(text(&out).contains("Live on 3/3 nodes"), "{}", text(&out));
    for node in 0..3 {
        assert_eq!(platform.get(node, "hello"), (200, "v1".to_string()));
    }

    // A gradual rollout: 90 % v1, 10 % v2, over 1,000 requests spread across the nodes.
    let ids = version_ids(&platform, &project);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let (v2, v1) = (&ids[0], &ids[1]);
    let out = platform.cli(
        &[
            "versions",
            "deploy",
            &format!("{v1}@90"),
            &format!("{v2}@10"),
        ],
        &project,
        "",
    );
    assert!(out.status.success(), "versions deploy: {}", text(&out));
    let mut v2_answers = 0;
    for i in 0..1000 {
        let (status, body) = platform.get(i % 3, "hello");
        assert_eq!(status, 200);
        match body.as_str() {
            "v1" => {}
            "v2" => v2_answers += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        (60..=140).contains(&v2_answers),
        "v2 answered {v2_answers} of 1000 requests at 10 %"
    );

    let out = platform.cli(&["delete", "hello"], &project, "");
    assert!(out.status.success(), "delete: {}", text(&out));
    for node in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while platform.get(node, "hello").0 != 404 {
            assert!(Instant::now() < deadline, "node {node} still serves hello");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn nodes_catch_up_after_joining_restarting_and_losing_the_control_plane() {
    let mut platform = Platform::start(1);
    let project = platform.project("app", &answer("one"));
    let out = platform.cli(&["deploy"], &project, "");
    assert!(out.status.success(), "deploy: {}", text(&out));

    // A node started after the deploy catches up.
    let late = platform.add_node();
    platform.wait_for_body(late, "app", "one");

    // A node that was down while a change was made catches up when it comes back.
    platform.stop_node(late);
    std::fs::write(project.join("src/index.js"), answer("two")).expect("write");
    let out = platform.cli(&["deploy"], &project, "");
    assert!(out.status.success(), "deploy: {}", text(&out));
    assert_eq!(platform.get(0, "app"), (200, "two".to_string()));
    platform.start_node(late);
    platform.wait_for_body(late, "app", "two");

    // With the control plane down, nodes keep serving, also after their own restart.
    platform.stop_control();
    assert_eq!(platform.get(late, "app"), (200, "two".to_string()));
    platform.stop_node(0);
    platform.start_node(0);
    platform.wait_for_body(0, "app", "two");

    // The control plane comes back: the nodes reconnect and get the next change.
    platform.start_control();
    std::fs::write(project.join("src/index.js"), answer("three")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = platform.cli(&["deploy", "--wait-secs", "20"], &project, "");
        let output = text(&out);
        assert!(out.status.success(), "deploy: {output}");
        if output.contains("Live on 2/2 nodes") {
            break;
        }
        // The nodes may not have reconnected yet; deploying the same code again is harmless.
        assert!(
            Instant::now() < deadline,
            "nodes did not reconnect: {output}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for node in 0..2 {
        assert_eq!(platform.get(node, "app"), (200, "three".to_string()));
    }
}

#[test]
fn secrets_reach_env_but_never_the_api() {
    let platform = Platform::start(1);
    let project = platform.project(
        "vault",
        "export default { fetch(req, env) { return new Response(`${env.GREETING}:${env.API_KEY}`); } };\n",
    );
    let out = platform.cli(&["deploy"], &project, "");
    assert!(out.status.success(), "deploy: {}", text(&out));
    assert_eq!(
        platform.get(0, "vault"),
        (200, "Hello:undefined".to_string())
    );

    let secret = "s3cret-value-4711";
    let out = platform.cli(
        &["secret", "put", "API_KEY"],
        &project,
        &format!("{secret}\n"),
    );
    assert!(out.status.success(), "secret put: {}", text(&out));
    platform.wait_for_body(0, "vault", &format!("Hello:{secret}"));

    let out = platform.cli(&["secret", "list"], &project, "");
    assert!(text(&out).contains("API_KEY"), "{}", text(&out));
    for args in [
        &["secret", "list"][..],
        &["versions", "list"],
        &["versions", "list", "--format", "json"],
    ] {
        let out = platform.cli(args, &project, "");
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains(secret), "{args:?} shows the secret");
    }
    for path in [
        "/v1/scripts",
        "/v1/scripts/vault/versions",
        "/v1/scripts/vault/secrets",
    ] {
        let (status, body) = platform.api(reqwest::Method::GET, path);
        assert_eq!(status, 200, "{path}");
        assert!(!body.contains(secret), "{path} shows the secret: {body}");
    }

    let out = platform.cli(&["secret", "delete", "API_KEY"], &project, "");
    assert!(out.status.success(), "secret delete: {}", text(&out));
    platform.wait_for_body(0, "vault", "Hello:undefined");
}

#[test]
fn bad_uploads_and_tokens_are_refused_and_store_nothing() {
    let platform = Platform::start(1);
    let scripts_before = platform.api(reqwest::Method::GET, "/v1/scripts");

    let project = platform.project("guarded", &answer("ok"));
    let out = platform.cli_with_token(&["deploy"], &project, "", "not-a-token");
    assert!(!out.status.success());
    assert!(text(&out).contains("401"), "{}", text(&out));
    let out = platform.cli_with_token(&["deploy"], &project, "", &platform.node_token);
    assert!(!out.status.success());
    assert!(text(&out).contains("403"), "{}", text(&out));

    let broken = platform.project(
        "broken",
        "export default {\n  fetch() {\n    return new Response(\"x\";\n  }\n};\n",
    );
    // The CLI's bundler finds it first, with file, line and column...
    let out = platform.cli(&["deploy"], &broken, "");
    assert!(!out.status.success());
    assert!(text(&out).contains("src/index.js:3:"), "{}", text(&out));
    // ...and the control plane refuses it too when it arrives unbundled.
    let out = platform.cli(&["deploy", "--no-bundle"], &broken, "");
    assert!(!out.status.success());
    assert!(text(&out).contains("line 3"), "{}", text(&out));

    let huge = platform.project(
        "huge",
        &format!(
            // Exported, so that the bundler keeps it (it folds `pad.length` and drops the rest).
            "export const pad = \"{}\";\nexport default {{ fetch() {{ return new Response(pad.length); }} }};\n",
            "x".repeat(11 * 1024 * 1024)
        ),
    );
    let out = platform.cli(&["deploy"], &huge, "");
    assert!(!out.status.success());
    assert!(text(&out).contains("at most 10.0 MiB"), "{}", text(&out));
    // The control plane's own 413 for the same bundle, past the CLI's check.
    let module = std::fs::read_to_string(huge.join("src/index.js")).expect("read");
    let form = reqwest::blocking::multipart::Form::new()
        .part(
            "metadata",
            reqwest::blocking::multipart::Part::text(r#"{"main_module":"index.js"}"#),
        )
        .part("index.js", reqwest::blocking::multipart::Part::text(module));
    let response = reqwest::blocking::Client::new()
        .put(format!("{}/v1/scripts/huge", platform.control_url()))
        .bearer_auth(&platform.admin_token)
        .multipart(form)
        .send();
    // The control plane answers 413 before reading the whole body; the client may see the
    // answer or, still writing, a closed connection. Either way nothing may be stored.
    if let Ok(response) = response {
        assert_eq!(response.status().as_u16(), 413);
    }

    // A multipart body cut off in the middle of a module part.
    let boundary = "skiffboundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\
         Content-Type: application/json\r\n\r\n{{\"main_module\":\"index.js\"}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"index.js\"; filename=\"index.js\"\r\n\
         Content-Type: application/javascript+module\r\n\r\nexport default {{ fetch() {{ return new Resp"
    );
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", platform.control_port)).expect("connect");
    write!(
        stream,
        "PUT /v1/scripts/truncated HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n{body}",
        platform.admin_token,
        body.len() + 500
    )
    .expect("send");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut reply);
    drop(stream);

    assert_eq!(
        platform.api(reqwest::Method::GET, "/v1/scripts"),
        scripts_before,
        "a refused upload changed the scripts"
    );
    let (status, _) = platform.api(reqwest::Method::GET, "/v1/scripts/truncated/versions");
    assert_eq!(status, 404);
    assert_eq!(platform.get(0, "guarded").0, 404);
}

#[test]
fn tail_streams_console_output_from_the_nodes() {
    let platform = Platform::start(2);
    let project = platform.project(
        "chatty",
        "export default { fetch(req) { console.log('hello from', new URL(req.url).pathname); return new Response('ok'); } };\n",
    );
    let out = platform.cli(&["deploy"], &project, "");
    assert!(out.status.success(), "deploy: {}", text(&out));

    let mut tail = Skiff::spawn_with_env(
        &["tail", "chatty", "--format", "json"],
        &project,
        &[
            ("SKIFF_CONTROL_URL", &platform.control_url()),
            ("SKIFF_API_TOKEN", &platform.admin_token),
        ],
    );
    // The nodes learn about the tail over their sync channel; keep asking until a line arrives.
    let (tx, rx) = std::sync::mpsc::channel();
    let ports = [platform.node_port(0), platform.node_port(1)];
    let requests = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while rx.try_recv().is_err() && Instant::now() < deadline {
            for port in ports {
                let _ = client("chatty.localhost", port)
                    .get(format!("http://chatty.localhost:{port}/path-{port}"))
                    .send();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let line = tail.wait_for("hello from");
    let _ = tx.send(());
    requests.join().expect("request thread");
    let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON tail event");
    assert_eq!(event["script"], "chatty");
    // The version that logged it, as `skiff versions list` names it.
    assert_eq!(
        event["version"],
        version_ids(&platform, &project)[0],
        "{event}"
    );
    assert_eq!(event["level"], "log");
    assert!(
        event["node"].as_str().is_some_and(|n| !n.is_empty()),
        "{event}"
    );
    assert!(
        event["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("hello from /path-")),
        "{event}"
    );
}

/// A Workers project with only a `wrangler.jsonc` deploys as it is: its name and vars, an
/// unsupported key warned about by name (the deploy still succeeds), and `--env staging`
/// deploying `<name>-staging` with the staging vars and none of the top-level ones.
#[test]
fn a_wrangler_project_deploys_with_its_environments() {
    let platform = Platform::start(1);
    let project = platform.dir.path().join("projects/shop");
    std::fs::create_dir_all(project.join("src")).expect("mkdir");
    // Bound namespaces must exist: made as a user would, and its id put in the config.
    let out = platform.cli(&["kv", "namespace", "create", "CONFIG"], &project, "");
    assert!(out.status.success(), "namespace create: {}", text(&out));
    let namespace = text(&out)
        .lines()
        .find_map(|line| {
            line.strip_prefix("id = \"")?
                .strip_suffix('"')
                .map(str::to_string)
        })
        .expect("the namespace id");
    std::fs::write(
        project.join("wrangler.jsonc"),
        r#"{
  // As `wrangler init` writes it, trailing commas and all.
  "$schema": "node_modules/wrangler/config-schema.json",
  "name": "shop",
  "main": "src/index.js",
  "compatibility_date": "2026-11-01",
  "observability": { "enabled": true },
  "compatibility_flags": ["nodejs_compat"],
  "triggers": { "crons": ["*/5 * * * *"] },
  "kv_namespaces": [{ "binding": "CONFIG", "id": "NAMESPACE" }],
  "services": [{ "binding": "AUTH", "service": "shop" }],
  "vars": { "GREETING": "hello", "ONLY_TOP": "top", },
  "env": {
    "staging": { "vars": { "GREETING": "hi from staging" } },
  },
}"#
        .replace("NAMESPACE", &namespace),
    )
    .expect("write config");
    std::fs::write(
        project.join("src/index.js"),
        "export default { fetch(req, env) { return new Response(`${env.GREETING}:${env.ONLY_TOP}`); } };\n",
    )
    .expect("write module");

    let out = platform.cli(&["deploy"], &project, "");
    assert!(out.status.success(), "deploy: {}", text(&out));
    let warning =
        "warning: wrangler.jsonc: `observability` is not supported by Skiff and was ignored";
    assert_eq!(
        text(&out).matches(warning).count(),
        1,
        "one warning naming the key: {}",
        text(&out)
    );
    assert_eq!(platform.get(0, "shop"), (200, "hello:top".to_string()));
    // The crons, the flags and the bindings are stored with the version.
    let out = platform.cli(&["versions", "list", "--format", "json"], &project, "");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let version = &listed["versions"][0];
    assert_eq!(version["crons"], serde_json::json!(["*/5 * * * *"]));
    assert_eq!(
        version["compatibility_flags"],
        serde_json::json!(["nodejs_compat"])
    );
    assert_eq!(
        version["bindings"],
        serde_json::json!([
            { "type": "kv_namespace", "name": "CONFIG", "namespace_id": namespace },
            { "type": "service", "name": "AUTH", "service": "shop" },
        ])
    );

    let out = platform.cli(&["deploy", "--env", "staging"], &project, "");
    assert!(out.status.success(), "deploy --env staging: {}", text(&out));
    assert_eq!(
        platform.get(0, "shop-staging"),
        (200, "hi from staging:undefined".to_string())
    );

    let out = platform.cli(&["deploy", "--env", "qa"], &project, "");
    assert!(!out.status.success(), "an environment that is not there");
    assert!(text(&out).contains("[env.qa]"), "{}", text(&out));
}

/// Copies the project at `source` (relative to this crate) into the platform's folder as
/// `name`, installs its packages with [`npm_project`] and deploys it; the project's folder.
fn deploy_npm_project(platform: &Platform, source: &str, name: &str) -> PathBuf {
    let project = platform.dir.path().join("projects").join(name);
    std::fs::create_dir_all(&project).expect("mkdir");
    npm_project(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(source),
        &project,
    );
    let out = platform.cli(&["deploy"], &project, "");
    assert!(out.status.success(), "deploy: {}", text(&out));
    project
}

/// Copies the project at `from` (leaving out `node_modules`) to `to` and installs its packages
/// from the npm registry with `npm ci`, as its committed lockfile pins them.
fn npm_project(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read project") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == "node_modules" {
            continue;
        }
        let target = to.join(&name);
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            npm_project(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
    if !to.join("package-lock.json").exists() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(to)
        .output()
        .expect("npm runs (scripts/setup.sh installs it)");
    assert!(out.status.success(), "npm ci: {}", text(&out));
}

/// A request to `script` on node `index`: status and body.
fn send(
    platform: &Platform,
    index: usize,
    script: &str,
    method: reqwest::Method,
    path: &str,
    json: Option<&str>,
) -> (u16, String) {
    let port = platform.node_port(index);
    let host = format!("{script}.localhost");
    let mut request = client(&host, port).request(method, format!("http://{host}:{port}{path}"));
    if let Some(body) = json {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.text().expect("body"))
}

/// The hono example, its packages installed from npm by its lockfile, deployed through a real
/// control plane to a node: every route answers as it should, its middleware included.
#[test]
fn the_hono_example_deploys_from_npm_and_answers_every_route() {
    let platform = Platform::start(1);
    let project = deploy_npm_project(&platform, "../examples/hono-ts", "hono-ts");
    let get = |path| send(&platform, 0, "hono-ts", reqwest::Method::GET, path, None);
    assert_eq!(get("/"), (200, "Hello from Hono!".to_string()));
    assert_eq!(
        get("/users/7"),
        (200, r#"{"id":7,"name":"user 7"}"#.to_string())
    );
    assert_eq!(
        get("/users/x"),
        (400, r#"{"error":"id must be a number"}"#.to_string())
    );
    assert_eq!(
        get("/hello/Ada"),
        (
            200,
            "<html><body><h1>Hello, Ada!</h1></body></html>".to_string()
        )
    );
    assert_eq!(
        get("/nope"),
        (404, r#"{"error":"no route for /nope"}"#.to_string())
    );
    let posted = send(
        &platform,
        0,
        "hono-ts",
        reqwest::Method::POST,
        "/items",
        Some(r#"{"name":"pen","tags":["blue"]}"#),
    );
    assert_eq!(
        posted,
        (201, r#"{"id":1,"name":"pen","tags":["blue"]}"#.to_string())
    );
    // The middleware ran: the timing header is there.
    let port = platform.node_port(0);
    let response = client("hono-ts.localhost", port)
        .get(format!("http://hono-ts.localhost:{port}/"))
        .send()
        .expect("request");
    assert!(response.headers().contains_key("x-response-time"));

    let out = platform.cli(&["deploy", "--env", "staging"], &project, "");
    assert!(out.status.success(), "deploy --env staging: {}", text(&out));
    assert_eq!(
        send(
            &platform,
            0,
            "hono-ts-staging",
            reqwest::Method::GET,
            "/",
            None
        ),
        (200, "Hello from staging!".to_string())
    );
}

/// itty-router, zod and jose from npm (a committed lockfile): routes with params, validation
/// that names the bad fields, and JWTs signed then verified with HS256 and ES256.
#[test]
fn a_project_of_npm_packages_routes_validates_and_signs() {
    let platform = Platform::start(1);
    deploy_npm_project(&platform, "tests/fixtures/npm-packages", "packages");
    let call = |method, path, body| send(&platform, 0, "packages", method, path, body);
    assert_eq!(
        call(reqwest::Method::GET, "/items/42", None),
        (200, r#"{"id":"42"}"#.to_string())
    );
    assert_eq!(
        call(
            reqwest::Method::POST,
            "/orders",
            Some(r#"{"item":"pen","quantity":2}"#)
        ),
        (
            200,
            r#"{"ordered":{"item":"pen","quantity":2}}"#.to_string()
        )
    );
    assert_eq!(
        call(
            reqwest::Method::POST,
            "/orders",
            Some(r#"{"item":"","quantity":-1}"#)
        ),
        (
            400,
            r#"{"status":400,"issues":["item","quantity"]}"#.to_string()
        )
    );
    assert_eq!(
        call(reqwest::Method::GET, "/jwt/hs256", None),
        (
            200,
            r#"{"alg":"HS256","sub":"user-1","role":"admin","tampered":"rejected"}"#.to_string()
        )
    );
    assert_eq!(
        call(reqwest::Method::GET, "/jwt/es256", None),
        (
            200,
            r#"{"alg":"ES256","scope":"read","parts":3}"#.to_string()
        )
    );
}

/// A TypeScript worker deployed through the control plane throws: `skiff tail` shows the
/// stack with the project's `.ts` file and line, from the source map stored with the version.
#[test]
fn tail_shows_a_typescript_stack_with_its_own_lines() {
    let platform = Platform::start(1);
    let project = platform.dir.path().join("projects/thrower");
    std::fs::create_dir_all(project.join("src")).expect("mkdir");
    std::fs::write(
        project.join("wrangler.toml"),
        "name = \"thrower\"\nmain = \"src/index.ts\"\n",
    )
    .expect("write config");
    std::fs::write(
        project.join("src/index.ts"),
        "type Env = Record<string, string>;\n\
         export default {\n  fetch(request: Request, env: Env): Response {\n    \
         throw new TypeError(`no route for ${new URL(request.url).pathname}`);\n  },\n};\n",
    )
    .expect("write module");
    let out = platform.cli(&["deploy"], &project, "");
    assert!(out.status.success(), "deploy: {}", text(&out));

    let mut tail = Skiff::spawn_with_env(
        &["tail", "thrower"],
        &project,
        &[
            ("SKIFF_CONTROL_URL", &platform.control_url()),
            ("SKIFF_API_TOKEN", &platform.admin_token),
        ],
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let port = platform.node_port(0);
    let requests = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while rx.try_recv().is_err() && Instant::now() < deadline {
            let _ = client("thrower.localhost", port)
                .get(format!("http://thrower.localhost:{port}/missing"))
                .send();
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let line = tail.wait_for("no route for /missing");
    let _ = tx.send(());
    requests.join().expect("request thread");
    assert!(line.contains("src/index.ts:4:11"), "{line}");
}
