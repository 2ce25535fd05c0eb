//! Nodes given several control-plane URLs (`SyncConfig::with_replicas`), against real control
//! planes (`skiff_control_plane::ControlPlane` on SQLite, each in a directory of its own): a
//! dead address in the list, first or last, only costs a retry, and bundles, acks and KV writes
//! go to the replica whose stream is open; a node never applies a revision below the one it
//! has; a node whose control plane goes away moves to the next URL and resumes from its
//! revision.
//!
//! Two control planes that share no store are not replicas: the one a node moves to knows
//! neither its credential (the node enrolls again there) nor the revisions it applied. That is
//! what makes the second one behind, or, after enough deployments, ahead.

mod common;

use std::path::Path;

use common::*;
use reqwest::multipart::{Form, Part};
use skiff_control_plane::{ControlConfig, ControlPlane};
use skiff_edge_node::{SyncConfig, SyncReport};
use skiff_protocol::kv::{CreateKvNamespace, KvNamespaceInfo};
use skiff_protocol::{Binding, UploadMetadata, UploadResponse};

/// The node token every control plane of these tests accepts, as if they were replicas.
const NODE_TOKEN: &str = "skiff_node_failover-test-token";

/// A control plane on 127.0.0.1:0 with its data in a temporary directory.
struct Control {
    plane: ControlPlane,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Control {
    /// Starts a control plane whose node token is [`NODE_TOKEN`] (a token file in the data
    /// directory is the token on SQLite).
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("node.token"), NODE_TOKEN).expect("node token");
        let config = ControlConfig::new("127.0.0.1:0".parse().expect("addr"), dir.path().into());
        let plane = ControlPlane::start(config)
            .await
            .expect("control plane starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Self {
            plane,
            http,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        self.plane.url()
    }

    fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url()))
            .bearer_auth(self.plane.admin_token())
    }

    /// Uploads `source` as script `name` (deployed at once) with `bindings`; its revision.
    async fn deploy_with(&self, name: &str, source: &str, bindings: Vec<Binding>) -> u64 {
        let metadata = UploadMetadata {
            main_module: "index.js".into(),
            bindings,
            ..UploadMetadata::default()
        };
        let module = Part::text(source.to_string())
            .file_name("index.js")
            .mime_str("application/javascript+module")
            .expect("mime");
        let form = Form::new()
            .text(
                "metadata",
                serde_json::to_string(&metadata).expect("metadata"),
            )
            .part("index.js", module);
        let response = self
            .admin(reqwest::Method::PUT, &format!("/v1/scripts/{name}"))
            .multipart(form)
            .send()
            .await
            .expect("upload sent");
        assert_eq!(response.status(), 201, "upload of {name}");
        let uploaded: UploadResponse = response.json().await.expect("UploadResponse");
        uploaded.revision
    }

    async fn deploy(&self, name: &str, source: &str) -> u64 {
        self.deploy_with(name, source, Vec::new()).await
    }

    async fn create_namespace(&self, title: &str) -> String {
        let response = self
            .admin(reqwest::Method::POST, "/v1/kv/namespaces")
            .json(&CreateKvNamespace {
                title: title.into(),
            })
            .send()
            .await
            .expect("namespace created");
        assert_eq!(response.status(), 201);
        let namespace: KvNamespaceInfo = response.json().await.expect("KvNamespaceInfo");
        namespace.id
    }

    /// The value of `key` in `namespace`, if it has one.
    async fn kv_value(&self, namespace: &str, key: &str) -> Option<String> {
        let path = format!("/v1/kv/namespaces/{namespace}/values/{key}");
        let response = self
            .admin(reqwest::Method::GET, &path)
            .send()
            .await
            .expect("KV read");
        if response.status() == 404 {
            return None;
        }
        assert!(response.status().is_success(), "{}", response.status());
        Some(response.text().await.expect("value"))
    }
}

/// A worker that answers `text`.
fn answer(text: &str) -> String {
    format!("export default {{ fetch() {{ return new Response({text:?}); }} }};")
}

/// An address nothing listens on: a port the kernel gave out and took back.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}", listener.local_addr().expect("addr"))
}

/// A node syncing from `urls` in this order, with its data in `data` and an admin listener.
async fn start_node(urls: &[String], data: &Path) -> TestNode {
    start_synced(SyncConfig::with_replicas(urls, NODE_TOKEN, data).expect("sync config")).await
}

/// GET `path` on the node's admin listener, as text.
async fn admin_page(node: &TestNode, path: &str) -> String {
    let admin = node.node.admin_addr().expect("admin listener");
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("http://{admin}{path}"))
        .send()
        .await
        .expect("admin page");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.text().await.expect("admin page body")
}

/// The node's `GET /sync`.
async fn sync_report(node: &TestNode) -> SyncReport {
    serde_json::from_str(&admin_page(node, "/sync").await).expect("the /sync answer")
}

/// The revisions in the node's history, oldest first.
fn history(report: &SyncReport) -> Vec<u64> {
    report.applied.iter().map(|a| a.revision).collect()
}

#[tokio::test]
async fn a_dead_address_first_or_last_in_the_list_only_costs_a_retry() {
    let live = Control::start().await;
    let namespace = live.create_namespace("failover").await;
    let writer = "export default { async fetch(request, env) { \
                  await env.KV.put('written', 'by the node'); return new Response('stored'); } };";
    let binding = Binding::KvNamespace {
        name: "KV".into(),
        namespace_id: namespace.clone(),
    };
    live.deploy_with("writer", writer, vec![binding]).await;
    let revision = live
        .deploy("hello", &answer("hello from the live one"))
        .await;

    let (live_first, dead_first) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let nodes = [
        start_node(&[live.url(), dead_url()], live_first.path()).await,
        start_node(&[dead_url(), live.url()], dead_first.path()).await,
    ];
    for node in &nodes {
        wait_for_revision(node, revision).await;
        assert_eq!(
            node.get("hello", "/").await,
            (200, "hello from the live one".into())
        );
        // The acks went to the replica whose stream is open, with its session.
        wait_until(
            || sync_status(node).acked_revision() == revision,
            "the ack of the revision",
        )
        .await;
        let report = sync_report(node).await;
        assert!(report.connected);
        assert_eq!(report.control, Some(live.url()));
        assert_eq!(report.revision, revision);
        assert_eq!(history(&report), [revision]);
    }

    // A KV write from the node whose first URL is dead reaches the live control plane.
    assert_eq!(nodes[1].get("writer", "/").await, (200, "stored".into()));
    assert_eq!(
        live.kv_value(&namespace, "written").await.as_deref(),
        Some("by the node")
    );
    for node in nodes {
        node.node.shutdown().await;
    }
}

#[tokio::test]
async fn a_control_plane_behind_the_node_is_refused() {
    let ahead = Control::start().await;
    ahead.deploy("kept", &answer("kept v1")).await;
    let applied = ahead.deploy("kept", &answer("kept v2")).await;
    let behind = Control::start().await;
    let lower = behind.deploy("other", &answer("from behind")).await;
    assert!(lower < applied);

    let data = tempfile::tempdir().expect("tempdir");
    let node = start_node(&[ahead.url(), behind.url()], data.path()).await;
    wait_for_revision(&node, applied).await;
    assert_eq!(node.get("kept", "/").await, (200, "kept v2".into()));

    // The only other URL answers with a snapshot at its own, lower revision.
    ahead.plane.shutdown().await;
    wait_until(
        || sync_status(&node).refused_backwards() > 0,
        "a refused snapshot",
    )
    .await;
    assert_eq!(sync_status(&node).revision(), applied);
    assert_eq!(node.get("kept", "/").await, (200, "kept v2".into()));
    assert_eq!(node.get("other", "/").await.0, 404, "nothing of it applied");

    let metrics = admin_page(&node, "/metrics").await;
    let refused = metrics
        .lines()
        .find_map(|line| line.strip_prefix("skiff_sync_refused_backwards_total "))
        .and_then(|count| count.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no refusal counter in {metrics}"));
    assert!(refused > 0, "{metrics}");
    let report = sync_report(&node).await;
    assert_eq!(report.revision, applied);
    assert_eq!(history(&report).last(), Some(&applied));
    assert!(history(&report).iter().all(|&r| r <= applied), "{report:?}");

    // State persisted at the applied revision: a restart with only the lower control plane
    // still serves it.
    node.node.shutdown().await;
    let restarted = start_node(&[behind.url()], data.path()).await;
    assert_eq!(sync_status(&restarted).revision(), applied);
    wait_until(
        || sync_status(&restarted).refused_backwards() > 0,
        "a refused snapshot after the restart",
    )
    .await;
    assert_eq!(restarted.get("kept", "/").await, (200, "kept v2".into()));
    assert_eq!(sync_status(&restarted).revision(), applied);
    restarted.node.shutdown().await;
    behind.plane.shutdown().await;
}

#[tokio::test]
async fn a_node_moves_to_the_next_control_plane_and_resumes_from_its_revision() {
    let first = Control::start().await;
    let left = first.deploy("hello", &answer("from the first")).await;
    let second = Control::start().await;

    let data = tempfile::tempdir().expect("tempdir");
    let node = start_node(&[first.url(), second.url()], data.path()).await;
    wait_for_revision(&node, left).await;
    assert_eq!(node.get("hello", "/").await, (200, "from the first".into()));
    assert_eq!(sync_status(&node).control(), Some(first.url()));

    // The second control plane gets past the node's revision; when the first goes away, the
    // node resumes there from the revision it has, and gets what changed after it.
    let mut revision = 0;
    while revision <= left {
        revision = second.deploy("hello", &answer("from the second")).await;
    }
    assert_eq!(
        sync_status(&node).revision(),
        left,
        "the node still syncs from the first"
    );
    first.plane.shutdown().await;
    wait_for_revision(&node, revision).await;
    assert_eq!(
        node.get("hello", "/").await,
        (200, "from the second".into())
    );
    wait_until(
        || sync_status(&node).acked_revision() == revision,
        "the ack on the second control plane",
    )
    .await;
    let report = sync_report(&node).await;
    assert_eq!(report.control, Some(second.url()));
    assert_eq!(history(&report), [left, revision]);
    assert!(
        report.applied.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
        "{report:?}"
    );
    node.node.shutdown().await;
    second.plane.shutdown().await;
}
