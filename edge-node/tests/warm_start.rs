//! Warming at start: a node boots at most `warm_at_start` isolates, the scripts that were
//! busiest before its restart first.

mod common;

use std::time::{Duration, Instant};

use common::{script_dir, start_with};

const HELLO: &str = r#"export default { fetch() { return new Response("hello"); } };"#;

const SCRIPTS: [&str; 6] = ["s0", "s1", "s2", "s3", "s4", "s5"];

fn scripts() -> tempfile::TempDir {
    let scripts: Vec<(&str, &str)> = SCRIPTS.iter().map(|name| (*name, HELLO)).collect();
    script_dir(&scripts)
}

/// Waits, up to 20 s, until the node has `count` isolates cached; their scripts.
async fn cached(node: &common::TestNode, count: u64) -> Vec<String> {
    let registry = node.node.registry();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        registry.run_pending_evictions().await;
        if registry.cached_isolates() == count {
            let mut names = registry.busiest_scripts(usize::MAX);
            names.sort();
            return names;
        }
        assert!(
            Instant::now() < deadline,
            "{} cached",
            registry.cached_isolates()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_restart_warms_what_was_busiest_and_no_more() {
    let data = tempfile::tempdir().expect("tempdir");
    let hot = data.path().join("hot-scripts.json");
    let configure = |config: &mut skiff_edge_node::NodeConfig| {
        config.warm_at_start = 2;
        config.hot_list = Some(hot.clone());
    };

    // Nothing remembered: the first two by name.
    let first = start_with(scripts(), configure).await;
    assert_eq!(cached(&first, 2).await, ["s0", "s1"]);
    for _ in 0..3 {
        assert_eq!(first.get("s4", "/").await.0, 200);
    }
    assert_eq!(first.get("s5", "/").await.0, 200);
    first.node.shutdown().await;
    let remembered: Vec<String> =
        serde_json::from_slice(&std::fs::read(&hot).expect("the hot list")).expect("json");
    assert_eq!(remembered[..2], ["s4", "s5"], "{remembered:?}");

    // After the restart: the busiest two, and nothing else.
    let second = start_with(scripts(), configure).await;
    assert_eq!(cached(&second, 2).await, ["s4", "s5"]);
}
