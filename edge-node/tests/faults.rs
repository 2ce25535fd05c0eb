//! Platform faults and tenant faults through a real node: a platform fault passes, a tenant's
//! load failure is remembered for its version only. Its own test binary, because the injected
//! fault is process-wide.

mod common;

use std::sync::atomic::Ordering;

use common::{script_dir, start_with};
use skiff_runtime::{ScriptBundle, fault};

const HELLO: &str = r#"export default { fetch() { return new Response("hello"); } };"#;

/// Throws at top level: the version can never load.
const THROWS: &str =
    r#"missingGlobal.x; export default { fetch() { return new Response("never"); } };"#;

#[tokio::test]
async fn an_engine_boot_failure_passes_and_a_tenant_load_failure_is_remembered_per_version() {
    let node = start_with(
        script_dir(&[("hello", HELLO), ("broken", THROWS)]),
        |config| config.warm_on_start = false,
    )
    .await;
    let registry = node.node.registry();
    let cold_starts = || registry.counters().cold_starts.load(Ordering::SeqCst);

    // The engine fails to boot: a generic 503, and nothing about the version is remembered.
    fault::fail_engine_boots(1);
    let (status, body) = node.get("hello", "/").await;
    assert_eq!((status, body.trim()), (503, "Worker unavailable"));
    assert!(
        !body.contains("injected"),
        "the detail reached the client: {body}"
    );
    // The engine boots again: the same version serves.
    assert_eq!(node.get("hello", "/").await, (200, "hello".into()));

    // The tenant's own load failure: 503, and the version is not booted again.
    let before = cold_starts();
    let (status, body) = node.get("broken", "/").await;
    assert_eq!((status, body.trim()), (503, "Worker failed to start"));
    for _ in 0..3 {
        let (status, _) = node.get("broken", "/").await;
        assert_eq!(status, 503);
    }
    assert_eq!(
        cold_starts(),
        before + 1,
        "the failed version was booted again"
    );

    // A new version of the script loads.
    registry.replace(ScriptBundle::single("broken", HELLO));
    assert_eq!(node.get("broken", "/").await, (200, "hello".into()));
}
