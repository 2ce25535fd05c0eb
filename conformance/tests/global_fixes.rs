//! The tenant global where Skiff's bootstrap corrects deno's web extensions (`atob`,
//! `structuredClone`, URL origins, `URLPattern`), checked through a real edge node: the checks run in
//! a worker (`global_fixes/worker.js`) and answer with their outcomes. The WPT run finds these
//! gaps; this test keeps them closed where CI has no WPT checkout.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use skiff_edge_node::{DirectorySource, EdgeNode, NodeConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_fixes_hold_in_the_tenant_global() -> Result<()> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scripts = tempfile::tempdir()?;
    std::fs::copy(
        manifest.join("tests/global_fixes/worker.js"),
        scripts.path().join("fixes.js"),
    )?;
    let mut config = NodeConfig::new("127.0.0.1:0".parse()?);
    config.threads = 1;
    config.log = Arc::new(|event| eprintln!("worker log: {}", event.message));
    let node = EdgeNode::start(config, &DirectorySource::new(scripts.path())).await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .resolve("fixes.localhost", node.http_addr())
        .build()?;
    let res = client
        .get(format!(
            "http://fixes.localhost:{}/",
            node.http_addr().port()
        ))
        .send()
        .await?;
    let status = res.status();
    let body = res.text().await?;
    node.shutdown().await;
    assert!(status.is_success(), "HTTP {status}: {body}");
    let out: serde_json::Value = serde_json::from_str(&body)?;

    let expected = serde_json::json!({
        "atobDash": ["DOMException", "InvalidCharacterError"],
        "atobUnderscore": ["DOMException", "InvalidCharacterError"],
        "atobWhitespace": ["ok", "abc"],
        "atobArity": [1, "atob"],
        "cloneURL": ["DOMException", "DataCloneError"],
        "cloneParams": ["DOMException", "DataCloneError"],
        "clonePlain": ["ok", "https://a.test/"],
        "cloneHeaders": ["DOMException", "DataCloneError"],
        "cloneNoArgument": ["TypeError", "TypeError"],
        "cloneBadOptions": ["TypeError", "TypeError"],
        "transfer": [0, 3, true, [1, 2, 3]],
        "transferDetached": ["DOMException", "DataCloneError"],
        "transferTwice": ["DOMException", "DataCloneError"],
        "transferTwiceKept": 1,
        "blobOrigins": ["https://a.test:8443", "null", "null", "null", "null"],
        "httpOrigin": "http://a.test:81",
        "originGetter": "get origin",
        "vFlag": [false, true],
        "vFlagIntersection": [{ "0": "1", "name": "x" }, false],
        "escapedPunctuator": true,
        "noInput": [true, false],
        "execNoInput": { "input": "", "groups": { "0": "" } },
        "namedWildcard": { "input": "a.test", "groups": { "domain": "a.test" } },
        "exec": [
            ["https://x.test/u/42?q"],
            { "input": "/u/42", "groups": { "id": "42" } },
            { "input": "q", "groups": { "0": "q" } },
        ],
        "execBase": ["/u/7", "https://x.test/"],
        "execDict": [{ "pathname": "/u/9", "hostname": "x.test", "protocol": "https" }],
        "ignoreCase": true,
        "badPattern": ["TypeError", "TypeError"],
        "badRegexp": ["TypeError", "TypeError"],
        "brand": ["TypeError", "TypeError"],
        "shape": [true, true, "[object URLPattern]", "/([[a-z]--a])", true, false],
        "patchedExec": { "x": "1" },
    });
    assert_eq!(out, expected);
    Ok(())
}
