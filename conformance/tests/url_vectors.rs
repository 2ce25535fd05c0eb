//! The tenant global's `URL` and `URLSearchParams` against the WPT URL test vectors in
//! `tests/data/` (see its README), through a real edge node: the checks run in a worker
//! (`url_vectors/worker.js`), each vector file is posted to it (`POST /SUITE`), and the failures are judged
//! against `expectations/url-vectors.json` (unexpected failures and unexpected passes both fail).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use skiff_conformance::expectations;
use skiff_edge_node::{DirectorySource, EdgeNode, NodeConfig};

const SUITES: &[&str] = &[
    "urltestdata",
    "setters_tests",
    "toascii",
    "IdnaTestV2",
    "percent-encoding",
];

#[derive(Deserialize)]
struct Case {
    name: String,
    ok: bool,
    message: Option<String>,
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_vectors_match_expectations() -> Result<()> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scripts = tempfile::tempdir()?;
    std::fs::copy(
        manifest.join("tests/url_vectors/worker.js"),
        scripts.path().join("urls.js"),
    )?;
    let mut config = NodeConfig::new("127.0.0.1:0".parse()?);
    config.threads = 1;
    // One request checks thousands of vectors: lift the per-request CPU limit a tenant has.
    config.isolate_limits.cpu = std::time::Duration::from_secs(120);
    config.limits.wall_clock = std::time::Duration::from_secs(300);
    config.log = Arc::new(|event| eprintln!("worker log: {}", event.message));
    let node = EdgeNode::start(config, &DirectorySource::new(scripts.path())).await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .resolve("urls.localhost", node.http_addr())
        .build()?;
    let url = format!("http://urls.localhost:{}/", node.http_addr().port());

    let mut run = BTreeMap::new();
    let mut counts = Vec::new();
    for suite in SUITES {
        let path = data_dir().join(format!("{suite}.json"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        // Sent as they are: some vectors hold lone surrogates (`\uD800`), which serde_json refuses.
        let res = client
            .post(format!("{url}{suite}"))
            .header("content-type", "application/json")
            .body(text)
            .send()
            .await?;
        let status = res.status();
        let body = res.text().await?;
        assert!(status.is_success(), "{suite}: HTTP {status}: {body}");
        let cases: Vec<Case> = serde_json::from_str(&body).context("the worker's answer")?;
        assert!(cases.len() >= 5, "{suite}: only {} cases ran", cases.len());
        counts.push(format!("{suite}: {}", cases.len()));
        let outcomes: Vec<(String, bool, String)> = cases
            .into_iter()
            .map(|c| (c.name, c.ok, c.message.unwrap_or_default()))
            .collect();
        run.insert(suite.to_string(), outcomes);
    }
    node.shutdown().await;

    let expectations_path = manifest.join("expectations/url-vectors.json");
    let expected = expectations::load(&expectations_path)?;
    if std::env::var_os("SKIFF_UPDATE_EXPECTATIONS").is_some() {
        expectations::save(
            &expectations_path,
            &expectations::from_run(&expected, &run, |_, _, description| description.to_string()),
        )?;
        return Ok(());
    }
    let verdict = expectations::judge(&expected, &run);
    let mut problems = Vec::new();
    for (suite, name, what) in &verdict.unexpected_failures {
        problems.push(format!("unexpected failure: {suite} :: {name} :: {what}"));
    }
    for (suite, name) in &verdict.unexpected_passes {
        problems.push(format!(
            "unexpected pass (remove it from the list): {suite} :: {name}"
        ));
    }
    for (suite, name) in &verdict.stale {
        problems.push(format!("listed but not run: {suite} :: {name}"));
    }
    assert!(
        problems.is_empty(),
        "URL vectors ({}) do not match {}:\n{}",
        counts.join(", "),
        expectations_path.display(),
        problems.join("\n")
    );
    Ok(())
}
