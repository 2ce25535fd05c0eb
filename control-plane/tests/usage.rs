//! Usage metering over real HTTP: a node posts batches of per-minute aggregates, each batch is
//! counted once (also across a restart of the control plane), and the admin's report adds
//! them up per minute, hour or day with percentiles from the merged CPU histograms.

mod common;

use std::time::Duration;

use common::{Api, NodeSession, config};
use reqwest::StatusCode;
use skiff_control_plane::ControlPlane;
use skiff_protocol::usage::{Outcome, UsageAggregate, UsageBatch, UsageReport};

const MINUTE: u64 = 60_000;
const HOUR: u64 = 3_600_000;
const DAY: u64 = 86_400_000;

/// A day boundary well in the past (2026-01-01T00:00Z).
const T0: u64 = 1_767_225_600_000;

async fn start(dir: &std::path::Path) -> ControlPlane {
    ControlPlane::start(config(dir)).await.expect("starts")
}

/// `requests` invocations of `script` in the minute at `minute_ms`, taking 100 µs, 200 µs,
/// ... of CPU each.
fn aggregate(script: &str, minute_ms: u64, requests: u64) -> UsageAggregate {
    let mut aggregate = UsageAggregate {
        script: script.into(),
        minute_ms,
        scheduled: 1,
        wall_us: requests * 2000,
        request_bytes: 10 * requests,
        response_bytes: 100 * requests,
        subrequests: 1,
        ..UsageAggregate::default()
    };
    aggregate.outcomes.insert(Outcome::Ok, requests - 1);
    aggregate.outcomes.insert(Outcome::ExceededCpu, 1);
    for n in 1..=requests {
        aggregate.cpu_us += n * 100;
        aggregate.cpu_histogram.record(n * 100);
    }
    aggregate
}

async fn post(api: &Api, node: &NodeSession, batch: &UsageBatch) -> StatusCode {
    node.sign(api.post("/v1/usage"))
        .json(batch)
        .send()
        .await
        .expect("usage sent")
        .status()
}

async fn report(admin: &Api, query: &str) -> UsageReport {
    admin.json(&format!("/v1/usage?{query}")).await
}

#[tokio::test]
async fn each_batch_counts_once_and_the_report_adds_up_by_period() {
    let dir = tempfile::tempdir().expect("dir");
    let cp = start(dir.path()).await;
    let admin = Api::admin(&cp);
    let nodes = Api::node(&cp);
    let node = NodeSession::open(&nodes, "n1", 0)
        .await
        .expect("subscribes");

    let first = UsageBatch {
        id: "batch-1".into(),
        aggregates: vec![
            aggregate("app", T0 + MINUTE, 1000),
            // A script that does not exist (any more) is still counted.
            aggregate("gone", T0 + MINUTE, 10),
        ],
    };
    assert_eq!(post(&nodes, &node, &first).await, StatusCode::NO_CONTENT);
    assert_eq!(post(&nodes, &node, &first).await, StatusCode::NO_CONTENT);
    let by_minute = report(&admin, &format!("since_ms={T0}&by=minute")).await;
    let rows: Vec<_> = by_minute
        .rows
        .iter()
        .map(|r| (r.script.as_str(), r.start_ms, r.requests, r.errors))
        .collect();
    assert_eq!(
        rows,
        [("app", T0 + MINUTE, 1000, 1), ("gone", T0 + MINUTE, 10, 1)]
    );
    let app = &by_minute.totals[0];
    assert_eq!(app.cpu_ms, 1000.0 * 1001.0 / 2.0 * 100.0 / 1000.0);
    assert_eq!((app.request_bytes, app.response_bytes), (10_000, 100_000));
    assert_eq!(app.outcomes.get(&Outcome::ExceededCpu), Some(&1));
    assert!(
        (app.cpu_ms_p50 / 50.0 - 1.0).abs() < 0.1,
        "p50 {}",
        app.cpu_ms_p50
    );
    assert!(
        (app.cpu_ms_p99 / 99.0 - 1.0).abs() < 0.1,
        "p99 {}",
        app.cpu_ms_p99
    );

    // The control plane restarts on the same store; the node sends the batch again.
    let credentials = nodes.credentials.clone();
    drop(node);
    cp.shutdown().await;
    let cp = start(dir.path()).await;
    let admin = Api::admin(&cp);
    let mut nodes = Api::node(&cp);
    nodes.credentials = credentials;
    let node = NodeSession::open(&nodes, "n1", 0)
        .await
        .expect("subscribes again");
    assert_eq!(post(&nodes, &node, &first).await, StatusCode::NO_CONTENT);
    let again = report(&admin, &format!("since_ms={T0}&by=minute&script=app")).await;
    assert_eq!(again.rows.len(), 1);
    assert_eq!(
        again.rows[0].requests, 1000,
        "the resent batch counted once"
    );

    // Another batch: the same minute merges, and later minutes, hours and days add rows.
    let second = UsageBatch {
        id: "batch-2".into(),
        aggregates: vec![
            aggregate("app", T0 + MINUTE, 1000),
            aggregate("app", T0 + 2 * MINUTE, 2),
            aggregate("app", T0 + HOUR + 5 * MINUTE, 3),
            aggregate("app", T0 + DAY + 7 * MINUTE, 4),
        ],
    };
    assert_eq!(post(&nodes, &node, &second).await, StatusCode::NO_CONTENT);
    let count = |report: &UsageReport| -> Vec<(u64, u64)> {
        report
            .rows
            .iter()
            .map(|r| (r.start_ms, r.requests))
            .collect()
    };
    let app = |by: &str| format!("since_ms={T0}&by={by}&script=app");
    assert_eq!(
        count(&report(&admin, &app("minute")).await),
        [
            (T0 + MINUTE, 2000),
            (T0 + 2 * MINUTE, 2),
            (T0 + HOUR + 5 * MINUTE, 3),
            (T0 + DAY + 7 * MINUTE, 4)
        ]
    );
    assert_eq!(
        count(&report(&admin, &app("hour")).await),
        [(T0, 2002), (T0 + HOUR, 3), (T0 + DAY, 4)]
    );
    let by_day = report(&admin, &app("day")).await;
    assert_eq!(count(&by_day), [(T0, 2005), (T0 + DAY, 4)]);
    assert_eq!(by_day.totals.len(), 1);
    assert_eq!(by_day.totals[0].requests, 2009);
    assert_eq!(by_day.totals[0].scheduled, 5);
    // The merged histogram still gives the median of 1000 + 1000 runs from 0.1 to 100 ms.
    assert!((by_day.rows[0].cpu_ms_p50 / 50.0 - 1.0).abs() < 0.1);
    // since_ms leaves out what came before.
    assert_eq!(
        count(&report(&admin, &format!("since_ms={}&by=day&script=app", T0 + DAY)).await),
        [(T0 + DAY, 4)]
    );
    cp.shutdown().await;
}

#[tokio::test]
async fn bad_usage_requests_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let cp = start(dir.path()).await;
    let admin = Api::admin(&cp);
    let nodes = Api::node(&cp);
    let node = NodeSession::open(&nodes, "n1", 0)
        .await
        .expect("subscribes");

    let status = admin
        .get("/v1/usage?by=week")
        .send()
        .await
        .expect("sent")
        .status();
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let too_many = UsageBatch {
        id: "big".into(),
        aggregates: (0..1001)
            .map(|n| aggregate("app", T0 + n * MINUTE, 2))
            .collect(),
    };
    assert_eq!(
        post(&nodes, &node, &too_many).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Without the node's session: refused, nothing stored.
    let small = UsageBatch {
        id: "small".into(),
        aggregates: vec![aggregate("app", T0, 2)],
    };
    let status = nodes
        .post("/v1/usage")
        .json(&small)
        .send()
        .await
        .expect("sent")
        .status();
    assert!(status == StatusCode::FORBIDDEN, "{status}");
    // The admin token may not post usage.
    let status = admin
        .post("/v1/usage")
        .json(&small)
        .send()
        .await
        .expect("sent")
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let report = report(&admin, &format!("since_ms={T0}")).await;
    assert!(report.rows.is_empty(), "{report:?}");
    assert_eq!(report.by, "hour");
    let _ = tokio::time::timeout(Duration::from_secs(5), cp.shutdown()).await;
}
