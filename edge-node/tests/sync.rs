//! Config sync against a fake control plane: snapshots and updates served over HTTP, verified
//! bundles, acks, reconnection from the applied revision, restarts without the control plane,
//! gradual rollouts and tail forwarding.

mod common;
#[path = "common/fake_control.rs"]
mod fake_control;

use std::path::Path;

use common::*;
use fake_control::{FakeControl, Script, TOKEN, Version};
use std::sync::{Arc, Mutex};

use skiff_edge_node::{EdgeNode, NodeConfig, SyncConfig};

/// A worker that answers `NAME TAG A B` from its env.
fn worker(name: &str, tag: &str) -> String {
    format!(
        "export default {{ fetch(request, env) {{ return new Response(`{name} {tag} ${{env.A ?? ''}} ${{env.B ?? ''}}`.trim()); }} }};"
    )
}

/// Starts a node that syncs from `control` and keeps its state in `data`.
async fn synced_node(control: &str, data: &Path) -> TestNode {
    start_synced(SyncConfig::new(control, TOKEN, data).expect("sync config")).await
}

async fn metrics(node: &TestNode) -> String {
    let admin = node.node.admin_addr().expect("admin listener");
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body")
}

#[tokio::test]
async fn snapshots_and_updates_are_served_and_acknowledged() {
    let control = FakeControl::start().await;
    let v1 = worker("hello", "v1");
    control.deploy(
        "hello",
        &[Version {
            source: &v1,
            percentage: 100.0,
            vars: &[("A", "var"), ("B", "b")],
        }],
        &[("A", "secret")],
    );
    let other = worker("other", "v1");
    let revision = control.deploy("other", &[Version::all(&other)], &[]);
    let data = tempfile::tempdir().expect("tempdir");
    let node = synced_node(&control.url(), data.path()).await;

    wait_for_revision(&node, revision).await;
    assert_eq!(
        node.get("hello", "/").await,
        (200, "hello v1 secret b".into())
    );
    assert_eq!(node.get("other", "/").await, (200, "other v1".into()));
    assert_eq!(control.sync_requests(), vec![0], "a fresh node asks from 0");
    wait_until(|| control.acks().contains(&revision), "the snapshot's ack").await;
    let node_id = std::fs::read_to_string(data.path().join("node-id")).expect("node id");
    assert_eq!(control.acking_nodes()[0], node_id.trim());

    // An update replaces the version.
    let v2 = worker("hello", "v2");
    let revision = control.deploy("hello", &[Version::all(&v2)], &[]);
    wait_for_revision(&node, revision).await;
    assert_eq!(node.get("hello", "/").await, (200, "hello v2".into()));
    wait_until(|| control.acks().contains(&revision), "the update's ack").await;

    // A deletion: the host is no longer served.
    let revision = control.delete("other");
    wait_for_revision(&node, revision).await;
    assert_eq!(node.get("other", "/").await.0, 404);
    assert_eq!(node.get("hello", "/").await.0, 200);
    wait_until(|| control.acks().contains(&revision), "the deletion's ack").await;
    let acks = control.acks();
    assert!(
        acks.windows(2).all(|w| w[0] <= w[1]),
        "acks in order: {acks:?}"
    );

    let page = metrics(&node).await;
    assert!(
        page.contains(&format!("skiff_sync_revision {revision}")),
        "{page}"
    );
    assert!(page.contains("skiff_sync_connected 1"), "{page}");

    // A reconnection asks from the last applied revision.
    control.drop_streams();
    wait_until(|| control.sync_requests().len() >= 2, "a reconnection").await;
    assert_eq!(control.sync_requests()[1], revision);
    assert_eq!(node.get("hello", "/").await, (200, "hello v2".into()));

    // The state on disk names the revision and the scripts; the bundles are stored by hash.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.path().join("state.json")).expect("state.json"))
            .expect("state parses");
    assert_eq!(state["revision"], revision);
    assert_eq!(state["scripts"].as_array().map(Vec::len), Some(1));
    let hash = fake_control::bundle(&v2).hash();
    assert!(data.path().join(format!("bundles/{hash}.json")).is_file());
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_bundle_with_a_wrong_hash_is_refused_and_nothing_of_its_event_applies() {
    let control = FakeControl::start().await;
    let v1 = worker("hello", "v1");
    let first = control.deploy("hello", &[Version::all(&v1)], &[]);
    let data = tempfile::tempdir().expect("tempdir");
    let node = synced_node(&control.url(), data.path()).await;
    wait_for_revision(&node, first).await;
    assert_eq!(node.get("hello", "/").await, (200, "hello v1".into()));

    // One event: hello v2 (tampered on the way) and a new script (intact).
    let v2 = worker("hello", "v2");
    let fresh = worker("fresh", "v1");
    control.tamper(&v2, true);
    let second = control.deploy_many(&[
        Script {
            name: "hello",
            versions: &[Version::all(&v2)],
            secrets: &[],
        },
        Script {
            name: "fresh",
            versions: &[Version::all(&fresh)],
            secrets: &[],
        },
    ]);
    wait_until(
        || control.sync_requests().len() >= 3,
        "reconnections after the refused bundle",
    )
    .await;
    assert!(
        control.sync_requests()[1..]
            .iter()
            .all(|&since| since == first),
        "reconnections ask from the applied revision: {:?}",
        control.sync_requests()
    );
    assert_eq!(node.get("hello", "/").await, (200, "hello v1".into()));
    assert_eq!(node.get("fresh", "/").await.0, 404, "nothing of the event");
    assert_eq!(sync_status(&node).revision(), first);
    assert!(!control.acks().contains(&second));

    // The right bytes arrive: the node catches up.
    control.tamper(&v2, false);
    wait_for_revision(&node, second).await;
    assert_eq!(node.get("hello", "/").await, (200, "hello v2".into()));
    assert_eq!(node.get("fresh", "/").await, (200, "fresh v1".into()));
    wait_until(|| control.acks().contains(&second), "the ack").await;
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_restarted_node_serves_its_persisted_scripts_without_the_control_plane() {
    let control = FakeControl::start().await;
    let source = worker("kept", "v1");
    let revision = control.deploy(
        "kept",
        &[Version {
            source: &source,
            percentage: 100.0,
            vars: &[("A", "a")],
        }],
        &[("B", "s")],
    );
    let data = tempfile::tempdir().expect("tempdir");
    let node = synced_node(&control.url(), data.path()).await;
    wait_for_revision(&node, revision).await;
    node.node.shutdown().await;
    let url = control.url();
    control.stop();
    drop(control);

    let node = synced_node(&url, data.path()).await;
    assert_eq!(sync_status(&node).revision(), revision);
    assert_eq!(node.get("kept", "/").await, (200, "kept v1 a s".into()));
    assert!(!sync_status(&node).connected());
    let page = metrics(&node).await;
    assert!(page.contains("skiff_sync_connected 0"), "{page}");
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_snapshot_removes_the_scripts_it_does_not_list() {
    let control = FakeControl::start().await;
    let (x, y) = (worker("x", "v1"), worker("y", "v1"));
    control.deploy("x", &[Version::all(&x)], &[]);
    control.deploy("y", &[Version::all(&y)], &[]);
    let revision = control.deploy("y", &[Version::all(&worker("y", "v2"))], &[]);
    let data = tempfile::tempdir().expect("tempdir");
    let node = synced_node(&control.url(), data.path()).await;
    wait_for_revision(&node, revision).await;
    node.node.shutdown().await;

    // Another control plane, ahead of the node's revision, which answers with a snapshot
    // (one behind it would be refused: tests/failover.rs).
    let other = FakeControl::start().await;
    let z = worker("z", "v1");
    let mut snapshot = 0;
    while snapshot <= revision {
        snapshot = other.deploy("z", &[Version::all(&z)], &[]);
    }
    other.snapshots_only();
    let mut config = NodeConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.threads = 1;
    config.sync = Some(SyncConfig::new(other.url(), TOKEN, data.path()).expect("sync config"));
    let node = TestNode {
        node: EdgeNode::start_synced(config).await.expect("node starts"),
        logs: Arc::new(Mutex::new(Vec::new())),
        dir: tempfile::tempdir().expect("tempdir"),
    };
    wait_until(|| other.acks().contains(&snapshot), "the snapshot's ack").await;
    assert_eq!(other.sync_requests(), vec![revision]);
    assert_eq!(sync_status(&node).revision(), snapshot);
    assert_eq!(node.get("x", "/").await.0, 404);
    assert_eq!(node.get("y", "/").await.0, 404);
    assert_eq!(node.get("z", "/").await, (200, "z v1".into()));
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_90_10_split_lands_within_a_few_percent() {
    let control = FakeControl::start().await;
    let (old, new) = (worker("split", "old"), worker("split", "new"));
    let revision = control.deploy(
        "split",
        &[
            Version {
                source: &old,
                percentage: 90.0,
                vars: &[],
            },
            Version {
                source: &new,
                percentage: 10.0,
                vars: &[],
            },
        ],
        &[],
    );
    let data = tempfile::tempdir().expect("tempdir");
    let node = synced_node(&control.url(), data.path()).await;
    wait_for_revision(&node, revision).await;

    let client = node.client(&["split"]);
    let url = node.url("split", "/");
    let mut new_count = 0;
    for _ in 0..1000 {
        let res = client.get(&url).send().await.expect("request");
        assert_eq!(res.status(), 200);
        match res.text().await.expect("body").as_str() {
            "split new" => new_count += 1,
            "split old" => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        (60..=140).contains(&new_count),
        "the 10 % version served {new_count} of 1000"
    );

    // Back to one version: the other leaves the deployment.
    let revision = control.deploy("split", &[Version::all(&new)], &[]);
    wait_for_revision(&node, revision).await;
    for _ in 0..20 {
        assert_eq!(node.get("split", "/").await.1, "split new");
    }
    node.node.shutdown().await;
}

#[tokio::test]
async fn tail_forwards_log_events_of_tailed_scripts_only() {
    let control = FakeControl::start().await;
    let logger = |name: &str| {
        format!(
            "export default {{ fetch() {{ console.log('{name} says hi'); return new Response('ok'); }} }};"
        )
    };
    let (a, b) = (logger("a"), logger("b"));
    control.deploy("a", &[Version::all(&a)], &[]);
    let revision = control.deploy("b", &[Version::all(&b)], &[]);
    let data = tempfile::tempdir().expect("tempdir");
    let node = synced_node(&control.url(), data.path()).await;
    wait_for_revision(&node, revision).await;
    control.tail(&["a"]);

    // b logs before a on every round, so b's events would be in a batch before a's.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !control.logs().iter().any(|e| e.script == "a") {
        assert!(tokio::time::Instant::now() < deadline, "no forwarded log");
        assert_eq!(node.get("b", "/").await.0, 200);
        assert_eq!(node.get("a", "/").await.0, 200);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let logs = control.logs();
    assert!(logs.iter().all(|e| e.script == "a"), "{logs:?}");
    let event = &logs[0];
    assert_eq!(event.message, "a says hi");
    assert_eq!(event.level, "log");
    let node_id = std::fs::read_to_string(data.path().join("node-id")).expect("node id");
    assert_eq!(event.node, node_id.trim());
    // The node's own log hook still sees every script.
    node.wait_for_log("b says hi").await;
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_version_that_fails_to_load_does_not_take_the_node_down() {
    let control = FakeControl::start().await;
    let fine = worker("fine", "v1");
    control.deploy("fine", &[Version::all(&fine)], &[]);
    let revision = control.deploy(
        "broken",
        &[Version::all("throw new Error('top-level failure');")],
        &[],
    );
    let data = tempfile::tempdir().expect("tempdir");
    let node = synced_node(&control.url(), data.path()).await;
    wait_for_revision(&node, revision).await;
    wait_until(|| control.acks().contains(&revision), "the ack").await;
    assert_eq!(node.get("broken", "/").await.0, 503);
    assert_eq!(node.get("fine", "/").await, (200, "fine v1".into()));
    node.node.shutdown().await;
}
