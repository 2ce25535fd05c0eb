//! The `skiff` binary as a user runs it: `skiff node` with SIGTERM, its log in a pipe, `skiff
//! dev` with vars, reload on change and load errors, and the deploy commands' errors without a
//! control plane.

mod common;

use common::{Skiff, client};

#[test]
fn node_finishes_in_flight_requests_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
    std::fs::write(
        dir.path().join("scripts/slow.js"),
        r#"export default { async fetch() {
            console.log("slow request started");
            await new Promise((r) => setTimeout(r, 500));
            return new Response("finished");
        } };"#,
    )
    .expect("write");
    let mut node = Skiff::spawn(
        &["node", "--listen", "127.0.0.1:0", "--scripts", "scripts"],
        dir.path(),
    );
    let port = Skiff::port_from(&node.wait_for("listening on http://"));
    let request = std::thread::spawn(move || {
        client("slow.localhost", port)
            .get(format!("http://slow.localhost:{port}/"))
            .send()
            .and_then(|r| r.text())
    });
    node.wait_for("slow request started");
    node.signal(libc::SIGTERM);
    let body = request
        .join()
        .expect("thread")
        .expect("in-flight request completes");
    assert_eq!(body, "finished");
    let status = node.child.wait().expect("exits");
    assert!(status.success(), "{status:?}");
}

/// The node's metric `name` from the admin listener on `admin`, once it is served.
fn metric(admin: u16, name: &str) -> u64 {
    let metrics = reqwest::blocking::get(format!("http://127.0.0.1:{admin}/metrics"))
        .and_then(|r| r.text())
        .expect("metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

/// The scheduling policies of process `pid`'s threads named `name` (/proc's `stat`, field 41).
fn policies_of(pid: u32, name: &str) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the process's threads");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
        .filter_map(|stat| {
            let (head, rest) = stat.rsplit_once(')')?;
            (head.split_once('(')?.1 == name).then_some(())?;
            // Fields from the third (state) on follow the name.
            rest.split_whitespace().nth(41 - 3)?.parse().ok()
        })
        .collect()
}

#[test]
fn node_runs_half_the_cores_as_network_threads_unless_told() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    for (flags, io_threads, isolate_threads) in [
        (&[][..], cores.div_ceil(2), cores),
        (&["--io-threads", "3", "--threads", "2"][..], 3, 2),
    ] {
        let mut args = vec![
            "node",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--scripts",
            "scripts",
        ];
        args.extend_from_slice(flags);
        let mut node = Skiff::spawn(&args, dir.path());
        let line = node.wait_for("metrics on http://");
        let admin = Skiff::port_from(line.trim_end_matches("/metrics"));
        assert_eq!(metric(admin, "skiff_io_threads"), io_threads, "{flags:?}");
        assert_eq!(
            metric(admin, "skiff_isolate_threads"),
            isolate_threads,
            "{flags:?}"
        );
        let network = policies_of(node.child.id(), "skiff-io").len();
        assert!(network as u64 >= io_threads, "{flags:?}");
        node.signal(libc::SIGTERM);
        assert!(node.child.wait().expect("exits").success());
    }
}

/// A busy network thread runs batched (it does not preempt an isolate's JavaScript when it
/// wakes); an idle one, and the isolate threads always, run as ordinary threads.
#[test]
fn busy_network_threads_run_batched_and_idle_ones_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
    std::fs::write(
        dir.path().join("scripts/hello.js"),
        "export default { fetch() { return new Response('hello'); } };",
    )
    .expect("write");
    let mut node = Skiff::spawn(
        &["node", "--listen", "127.0.0.1:0", "--scripts", "scripts"],
        dir.path(),
    );
    let port = Skiff::port_from(&node.wait_for("listening on http://"));
    let pid = node.child.id();
    let other = libc::SCHED_OTHER as u32;
    let batch = libc::SCHED_BATCH as u32;
    assert!(policies_of(pid, "skiff-io").iter().all(|p| *p == other));

    // Load from four clients until a network thread is batched (at most 30 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let busy = std::sync::atomic::AtomicBool::new(true);
    let batched = std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let client = client("hello.localhost", port);
                while busy.load(std::sync::atomic::Ordering::Relaxed)
                    && std::time::Instant::now() < deadline
                {
                    let _ = client
                        .get(format!("http://hello.localhost:{port}/"))
                        .send()
                        .and_then(|r| r.bytes());
                }
            });
        }
        let mut batched = false;
        while !batched && std::time::Instant::now() < deadline {
            batched = policies_of(pid, "skiff-io").contains(&batch);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        busy.store(false, std::sync::atomic::Ordering::Relaxed);
        batched
    });
    assert!(batched, "no network thread was batched under load");
    let isolates = policies_of(pid, "skiff-isolates-");
    assert!(!isolates.is_empty() && isolates.iter().all(|p| *p == other));

    // Requests now and then: each wakes a network thread, which finds itself idle.
    let client = client("hello.localhost", port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while policies_of(pid, "skiff-io").contains(&batch) {
        assert!(
            std::time::Instant::now() < deadline,
            "a network thread stayed batched when idle"
        );
        std::thread::sleep(std::time::Duration::from_millis(150));
        let _ = client.get(format!("http://hello.localhost:{port}/")).send();
    }
}

#[test]
fn node_log_in_a_pipe_has_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
    std::fs::write(
        dir.path().join("scripts/hello.js"),
        r#"export default { fetch() {
            console.warn("hello from the worker");
            return new Response("hello");
        } };"#,
    )
    .expect("write");
    let mut node = Skiff::spawn(
        &["node", "--listen", "127.0.0.1:0", "--scripts", "scripts"],
        dir.path(),
    );
    let port = Skiff::port_from(&node.wait_for("listening on http://"));
    let body = client("hello.localhost", port)
        .get(format!("http://hello.localhost:{port}/"))
        .send()
        .and_then(|r| r.text())
        .expect("request");
    assert_eq!(body, "hello");
    // The tenant's line goes through the node's log, with the event's level and fields.
    let line = node.wait_for("hello from the worker");
    assert!(line.contains("INFO") && line.contains("warn"), "{line}");
    let coloured: Vec<&String> = node.seen().iter().filter(|l| l.contains("\x1b[")).collect();
    assert!(coloured.is_empty(), "colour codes in a pipe: {coloured:?}");
}

#[test]
fn dev_serves_vars_reloads_and_reports_errors_with_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("worker.js");
    std::fs::write(
        &script,
        r#"export default { fetch(req, env) { console.warn("serving", env.WHO); return new Response("v1 " + env.WHO); } };"#,
    )
    .expect("write");
    let mut dev = Skiff::spawn(
        &["dev", "worker.js", "--port", "0", "--var", "WHO=world"],
        dir.path(),
    );
    let port = Skiff::port_from(&dev.wait_for("ready on http://"));
    let http = client("127.0.0.1", port);
    let get = || {
        http.get(format!("http://127.0.0.1:{port}/"))
            .send()
            .and_then(|r| r.text())
            .expect("request")
    };
    assert_eq!(get(), "v1 world");
    let line = dev.wait_for("serving world");
    assert!(line.contains("warn"), "{line}");

    // A change is picked up without a restart.
    std::fs::write(
        &script,
        r#"export default { fetch() { return new Response("v2"); } };"#,
    )
    .expect("write");
    dev.wait_for("reloaded");
    assert_eq!(get(), "v2");

    // A broken change is reported with file and line, and the last good version keeps serving.
    std::fs::write(
        &script,
        "export default {\n  fetch() {\n    return new Response(\"x\";\n  }\n};\n",
    )
    .expect("write");
    let error = dev.wait_for("worker.js:3");
    assert!(error.contains("worker.js:3"), "{error}");
    assert_eq!(get(), "v2");
}

/// `skiff dev` in a folder with only a `wrangler.toml`: `--env staging` serves the staging vars
/// (not the top-level ones), `.dev.vars` still gives secrets, and an unsupported key is warned
/// about once, by name.
#[test]
fn dev_reads_wrangler_toml_and_its_environments() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    std::fs::write(
        dir.path().join("wrangler.toml"),
        "name = \"shop\"\nmain = \"src/worker.js\"\nworkers_dev = true\n\
         [vars]\nGREETING = \"hello\"\nTOP = \"top\"\n\
         [env.staging.vars]\nGREETING = \"staging hello\"\n",
    )
    .expect("write config");
    std::fs::write(dir.path().join(".dev.vars"), "TOKEN=t0k3n\n").expect("write .dev.vars");
    std::fs::write(
        dir.path().join("src/worker.js"),
        "export default { fetch(req, env) { return new Response(`${env.GREETING}|${env.TOP}|${env.TOKEN}`); } };",
    )
    .expect("write module");
    let mut dev = Skiff::spawn(&["dev", "--port", "0", "--env", "staging"], dir.path());
    let warning = dev.wait_for("workers_dev");
    assert!(
        warning.contains("wrangler.toml: `workers_dev` is not supported by Skiff"),
        "{warning}"
    );
    let port = Skiff::port_from(&dev.wait_for("ready on http://"));
    let body = client("127.0.0.1", port)
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .and_then(|r| r.text())
        .expect("request");
    assert_eq!(body, "staging hello|undefined|t0k3n");
}

/// `skiff dev` gives a worker its KV namespaces in a local file that outlives the process
/// (`--persist-to`), and its service bindings to other projects (`--service NAME=PATH`).
#[test]
fn dev_keeps_kv_across_restarts_and_serves_service_bindings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = dir.path().join("app");
    let auth = dir.path().join("auth");
    std::fs::create_dir_all(app.join("src")).expect("mkdir");
    std::fs::create_dir_all(auth.join("src")).expect("mkdir");
    std::fs::write(
        app.join("wrangler.toml"),
        "name = \"app\"\nmain = \"src/index.js\"\n\
         [[kv_namespaces]]\nbinding = \"STORE\"\nid = \"local-store\"\n\
         [[services]]\nbinding = \"AUTH\"\nservice = \"auth\"\n",
    )
    .expect("write config");
    std::fs::write(
        app.join("src/index.js"),
        r#"export default { async fetch(request, env) {
            const url = new URL(request.url);
            if (url.pathname === "/count") {
                const count = Number(await env.STORE.get("count") ?? "0") + 1;
                await env.STORE.put("count", String(count));
                return new Response(String(count));
            }
            const answer = await env.AUTH.fetch("https://auth/");
            return new Response(`auth says ${await answer.text()}`);
        } };"#,
    )
    .expect("write module");
    std::fs::write(
        auth.join("skiff.toml"),
        "name = \"auth\"\nmain = \"src/index.js\"\n",
    )
    .expect("write config");
    std::fs::write(
        auth.join("src/index.js"),
        "export default { fetch() { return new Response('yes'); } };",
    )
    .expect("write module");
    let state = dir.path().join("state");
    let state_arg = state.to_str().expect("utf-8 path");
    let auth_arg = format!("auth={}", auth.to_str().expect("utf-8 path"));
    let args = [
        "dev",
        "app",
        "--port",
        "0",
        "--persist-to",
        state_arg,
        "--service",
        &auth_arg,
    ];
    let get = |port: u16, path: &str| {
        client("127.0.0.1", port)
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .and_then(|r| r.text())
            .expect("request")
    };
    let mut dev = Skiff::spawn(&args, dir.path());
    let port = Skiff::port_from(&dev.wait_for("ready on http://"));
    assert_eq!(get(port, "/count"), "1");
    assert_eq!(get(port, "/count"), "2");
    assert_eq!(get(port, "/"), "auth says yes");
    drop(dev);

    let mut dev = Skiff::spawn(&args, dir.path());
    let port = Skiff::port_from(&dev.wait_for("ready on http://"));
    assert_eq!(get(port, "/count"), "3", "the count survived the restart");
    assert!(state.join("kv.db").exists());
}

/// Runs `skiff ARGS` in `dir` with the control plane at `url` and `token`; exit status and
/// everything it printed.
fn run_platform_command(
    args: &[&str],
    dir: &std::path::Path,
    url: &str,
    token: &str,
) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .current_dir(dir)
        .env("SKIFF_CONTROL_URL", url)
        .env("SKIFF_API_TOKEN", token)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("skiff runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn deploy_errors_say_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A port nothing listens on: bind one, then close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let unreachable = format!("http://{closed}");

    let (ok, text) = run_platform_command(&["deploy"], dir.path(), &unreachable, "t");
    assert!(!ok);
    assert!(
        text.contains("no skiff.toml") && text.contains("skiff init"),
        "{text}"
    );
    assert!(!text.contains("backtrace"), "{text}");

    let (ok, text) = run_platform_command(&["init", "site"], dir.path(), &unreachable, "t");
    assert!(ok, "{text}");
    let project = dir.path().join("site");
    for file in ["skiff.toml", "src/index.ts", "tsconfig.json", ".gitignore"] {
        assert!(project.join(file).is_file(), "init wrote no {file}");
    }

    let (ok, text) = run_platform_command(&["deploy"], &project, &unreachable, "t");
    assert!(!ok);
    assert!(
        text.contains("cannot reach the control plane") && text.contains("SKIFF_CONTROL_URL"),
        "{text}"
    );

    let (ok, text) = run_platform_command(&["deploy"], &project, &unreachable, "");
    assert!(!ok);
    assert!(text.contains("SKIFF_API_TOKEN"), "{text}");

    // A secret's value never comes from the command line.
    let (ok, text) = run_platform_command(
        &["secret", "put", "KEY", "value"],
        &project,
        &unreachable,
        "t",
    );
    assert!(!ok, "{text}");
}
