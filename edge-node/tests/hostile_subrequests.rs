//! Hostile tenants and subrequests: fetches made outside any request (from callbacks the
//! script's top level set up: timers, message ports) are counted against a budget of their
//! own; a worker fetching itself is stopped by the hop header (`cf-ew-via`) after 16
//! invocations; and the outbound guard refuses the special-purpose address ranges, the IPv6
//! forms that carry an IPv4 address included.

mod common;

use std::time::Duration;

use common::{TestNode, script_dir, start_with};

/// A node whose only script answers every request with `body`.
async fn local_origin(body: &str) -> TestNode {
    let source = format!("export default {{ fetch() {{ return new Response({body:?}); }} }};");
    start_with(script_dir(&[("origin", &source)]), |config| {
        config.default_script = Some("origin".into());
    })
    .await
}

/// A worker whose top level sets up a timer and a message port that fetch `target` once it is
/// known: 60 attempts each, counted by outcome.
const BACKGROUND: &str = r#"
let target = null;
const counts = { ok: 0, refused: 0, other: "" };
async function attempt() {
  try {
    await (await fetch(target)).text();
    counts.ok++;
  } catch (e) {
    if (String(e.message).includes("Too many subrequests")) counts.refused++;
    else counts.other = String(e);
  }
}
let ticks = 0;
const interval = setInterval(() => {
  if (target === null) return;
  if (++ticks >= 60) clearInterval(interval);
  attempt();
}, 1);
const { port1, port2 } = new MessageChannel();
port1.onmessage = () => attempt();
export default {
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/start") {
      target = url.searchParams.get("target");
      for (let i = 0; i < 60; i++) port2.postMessage(i);
      return new Response("started");
    }
    if (url.pathname === "/own") {
      // A request's own budget is not the background's.
      let ok = 0;
      for (let i = 0; i < 3; i++) { await (await fetch(target)).text(); ok++; }
      return new Response(String(ok));
    }
    return Response.json(counts);
  },
};
"#;

async fn counts(node: &TestNode) -> serde_json::Value {
    let (status, body) = node.get("bg", "/counts").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("json")
}

#[tokio::test]
async fn fetches_outside_any_request_share_one_budget() {
    let origin = local_origin("o").await;
    let origin_url = format!("http://127.0.0.1:{}/", origin.node.http_addr().port());
    let node = start_with(script_dir(&[("bg", BACKGROUND)]), |config| {
        config.outbound.allow_private = true;
        config.outbound.subrequests = 20;
    })
    .await;
    let (status, body) = node.get("bg", &format!("/start?target={origin_url}")).await;
    assert_eq!((status, body.as_str()), (200, "started"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let settled = loop {
        let out = counts(&node).await;
        if out["ok"].as_u64().unwrap_or(0) + out["refused"].as_u64().unwrap_or(0) >= 120 {
            break out;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the background fetches did not finish: {out}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(settled["ok"], 20, "{settled}");
    assert_eq!(settled["refused"], 100, "{settled}");
    assert_eq!(settled["other"], "", "{settled}");
    let (status, body) = node.get("bg", &format!("/own?target={origin_url}")).await;
    assert_eq!((status, body.as_str()), (200, "3"));
}

/// Answers with its depth, then the status and body of the same request one level deeper;
/// it tries to reset the hop header to a large value on the way.
const SELF_FETCH: &str = r#"
export default {
  async fetch(req) {
    const url = new URL(req.url);
    const depth = Number(url.searchParams.get("depth") ?? 0);
    url.searchParams.set("depth", String(depth + 1));
    const res = await fetch(url.toString(), { headers: { "CF-EW-Via": "1000", "cf-ew-via": "99" } });
    return new Response(`${depth} ${res.status} ${await res.text()}`);
  },
};
"#;

#[tokio::test]
async fn a_worker_fetching_itself_is_stopped_after_16_invocations() {
    let node = start_with(script_dir(&[("loop", SELF_FETCH)]), |config| {
        config.outbound.allow_private = true;
        config.default_script = Some("loop".into());
    })
    .await;
    let base = format!("http://127.0.0.1:{}/", node.node.http_addr().port());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let body = client
        .get(format!("{base}?depth=0"))
        .send()
        .await
        .expect("the chain ends")
        .text()
        .await
        .expect("body");
    let mut chain = String::new();
    for depth in 0..16 {
        chain.push_str(&format!("{depth} {} ", if depth == 15 { 508 } else { 200 }));
    }
    chain.push_str("error code: 1019\n");
    assert_eq!(body, chain);
    node.wait_for_log("worker loop limit").await;

    // A request that arrives with no invocations left never reaches the worker; one with 2
    // left runs two levels.
    for (hops, body) in [
        ("0", "error code: 1019\n"),
        ("2", "0 200 1 508 error code: 1019\n"),
    ] {
        let res = client
            .get(format!("{base}?depth=0"))
            .header("cf-ew-via", hops)
            .send()
            .await
            .expect("response");
        let status = res.status().as_u16();
        assert_eq!(res.text().await.expect("body"), body);
        assert_eq!(status, if hops == "0" { 508 } else { 200 });
    }
}

/// Addresses that are not public unicast, spelled as the review did and as their neighbours.
const PROBE: &str = r#"
export default {
  async fetch(req) {
    const out = {};
    for (const target of [
      "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b:1::1]/",
      "http://[2002:7f00:1::1]/", "http://[::127.0.0.1]/", "http://[::ffff:7f00:1]/",
      "http://[2001::1]/", "http://[ff02::1]/", "http://[2001:db8::1]/",
      "http://100.64.0.1/", "http://198.18.0.1/", "http://240.0.0.1/", "http://224.0.0.1/",
      "http://192.0.0.1/", "http://0.1.2.3/", "http://203.0.113.5/",
    ]) {
      try { await fetch(target); out[target] = "reached"; } catch (e) { out[target] = `${e.name}: ${e.message}`; }
    }
    return Response.json(out);
  },
};
"#;

#[tokio::test]
async fn the_outbound_guard_refuses_special_purpose_ranges() {
    let node = start_with(script_dir(&[("probe", PROBE)]), |_| {}).await;
    let (status, body) = node.get("probe", "/").await;
    assert_eq!(status, 200, "{body}");
    let out: serde_json::Value = serde_json::from_str(&body).expect("json");
    let results = out.as_object().expect("an object");
    assert_eq!(results.len(), 16, "{out}");
    for (target, result) in results {
        let result = result.as_str().unwrap_or_default();
        assert!(
            result.starts_with("TypeError") && result.contains("refused"),
            "{target}: {result}"
        );
    }
}
