//! The `skiff` binary as a user runs it: `skiff node` with SIGTERM, `skiff dev` with vars,
//! reload on change and load errors.

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
