//! A busy script version runs more than one isolate: another starts on a second thread when
//! requests wait in the first, requests spread over both, and the extra is let go once idle.

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;

/// Each isolate names itself once, at its top level; every request computes for a fraction of
/// a millisecond (short slices: the isolate is busy without being hot, so it is not moved).
const BUSY: &str = r#"const me = crypto.randomUUID();
export default { fetch() {
    let s = 0;
    for (let i = 0; i < 10000; i++) s = (s + i * 7) % 1000003;
    return new Response(`${me} ${s}`);
} };"#;

/// Sends `each` requests from each of `connections` clients at once; returns the isolate
/// names the answers carried. Every answer must be a 200.
async fn load(node: &TestNode, connections: usize, each: usize) -> HashSet<String> {
    let client = node.client(&["busy"]);
    let url = node.url("busy", "/");
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let mut names = HashSet::new();
                for _ in 0..each {
                    let res = client.get(&url).send().await.expect("request");
                    assert_eq!(res.status(), 200);
                    let body = res.text().await.expect("body");
                    names.insert(body.split(' ').next().expect("a name").to_string());
                }
                names
            })
        })
        .collect();
    let mut names = HashSet::new();
    for task in tasks {
        names.extend(task.await.expect("client task"));
    }
    names
}

#[tokio::test]
async fn a_busy_version_gets_a_second_isolate_and_lets_it_go_when_idle() {
    let node = start_with(script_dir(&[("busy", BUSY)]), |config| {
        config.threads = 2;
        config.cache.scale_in_after = Duration::from_millis(500);
    })
    .await;
    let counters = || node.node.registry().counters();
    let names = load(&node, 16, 100).await;
    assert_eq!(counters().moved_to_dedicated.load(Ordering::Relaxed), 0);
    assert!(counters().scaled_out.load(Ordering::Relaxed) >= 1);
    assert_eq!(names.len(), 2, "answered by {names:?}");

    // Idle now: the extra goes, and a light load stays on one isolate.
    wait_until(
        || node.node.registry().extra_isolates() == 0,
        "the extra isolate to be let go",
    )
    .await;
    assert_eq!(
        counters().scaled_in.load(Ordering::Relaxed),
        counters().scaled_out.load(Ordering::Relaxed)
    );
    let names = load(&node, 1, 20).await;
    assert_eq!(names.len(), 1, "answered by {names:?}");
}

#[tokio::test]
async fn one_isolate_per_version_when_the_cap_is_one() {
    let node = start_with(script_dir(&[("busy", BUSY)]), |config| {
        config.threads = 2;
        config.cache.isolates_per_version = 1;
    })
    .await;
    let names = load(&node, 16, 100).await;
    let counters = node.node.registry().counters();
    assert_eq!(counters.moved_to_dedicated.load(Ordering::Relaxed), 0);
    assert_eq!(names.len(), 1, "answered by {names:?}");
    assert_eq!(counters.scaled_out.load(Ordering::Relaxed), 0);
}
