//! `skiff nodes list` against the platform as a user runs it: `skiff control` and a
//! `skiff node --zone` process syncing from it.

mod common;

use std::time::{Duration, Instant};

use common::platform::{Platform, text};
use skiff_protocol::NodeList;

fn nodes_json(platform: &Platform) -> NodeList {
    let out = platform.cli(
        &["nodes", "list", "--format", "json"],
        platform.dir.path(),
        "",
    );
    assert!(
        out.status.success(),
        "nodes list --format json: {}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).expect("nodes list --format json is a NodeList")
}

/// The table's row of node `id`, split into its cells.
fn row(table: &str, id: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|line| line.starts_with(id))
        .unwrap_or_else(|| panic!("no row for {id} in {table}"));
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn nodes_list_shows_the_zone_revision_and_replica_of_each_node() {
    let mut platform = Platform::start(0);
    let node = platform.add_node_with(&["--zone", "edge.test"]);
    let project = platform.project(
        "hello",
        "export default { fetch() { return new Response('hi'); } };\n",
    );
    let out = platform.cli(&["deploy"], &project, "");
    assert!(
        out.status.success() && text(&out).contains("Live on 1/1 nodes"),
        "deploy: {}",
        text(&out)
    );
    let id = platform.node_id(node);
    // What the node itself says it applied, on its admin listener.
    let sync = platform.node_sync(node);
    let revision = sync["revision"].as_u64().expect("the node's revision");
    assert!(revision > 0, "{sync}");
    assert_eq!(sync["connected"], true, "{sync}");
    assert_eq!(sync["control"], platform.control_url(), "{sync}");

    let out = platform.cli(&["nodes", "list"], platform.dir.path(), "");
    assert!(out.status.success(), "nodes list: {}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["id", "zone", "revision", "replica", "last", "seen"],
        "{table}"
    );
    let cells = row(&table, &id);
    assert_eq!(
        cells[..4],
        [
            id.clone(),
            "edge.test".into(),
            revision.to_string(),
            platform.control_url()
        ],
        "{table}"
    );
    assert!(
        cells[4].ends_with('s') && cells[5] == "ago",
        "seen seconds ago: {table}"
    );

    let list = nodes_json(&platform);
    let listed = list
        .nodes
        .iter()
        .find(|n| n.id == id)
        .expect("the node is listed");
    assert!(listed.connected);
    assert_eq!(listed.zone.as_deref(), Some("edge.test"));
    assert_eq!(listed.revision, revision);
    assert_eq!(listed.replica, Some(platform.control_url()));

    // A stopped node stays listed (until --node-ttl), with no replica.
    platform.stop_node(node);
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes_json(&platform)
        .nodes
        .iter()
        .any(|n| n.id == id && n.connected)
    {
        assert!(
            Instant::now() < deadline,
            "the node still counts as connected"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = platform.cli(&["nodes", "list"], platform.dir.path(), "");
    assert!(out.status.success(), "nodes list: {}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(row(&table, &id)[3], "-", "{table}");
}
