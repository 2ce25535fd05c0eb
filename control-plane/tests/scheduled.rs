//! Cron triggers end to end: fake nodes (plain HTTP clients holding a sync stream) get the
//! ticks of a deployed script's crons from a control plane whose scheduler clock runs 60 times
//! faster than real time, report them, and see them handed over, retried or missed.

mod common;
#[path = "common/postgres.rs"]
mod postgres;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::{Api, HELLO, NodeSession, config, wait_for};
use postgres::TempPostgres;
use reqwest::StatusCode;
use skiff_control_plane::{ControlPlane, StoreSpec};
use skiff_protocol::usage::Outcome;
use skiff_protocol::{
    Binding, ScheduledReport, ScheduledTick, SyncEvent, UploadMetadata, UploadResponse,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(20);

/// At 60, a scheduler minute is a real second.
const SPEED: f64 = 60.0;

async fn start_fast(dir: &Path, store: Option<StoreSpec>) -> ControlPlane {
    let mut config = config(dir);
    config.clock_speed = SPEED;
    config.store = store;
    ControlPlane::start(config).await.expect("starts")
}

async fn deploy_cron(api: &Api, name: &str, crons: &[&str]) -> UploadResponse {
    let metadata = UploadMetadata {
        main_module: "index.js".into(),
        bindings: vec![Binding::PlainText {
            name: "GREETING".into(),
            text: "world".into(),
        }],
        crons: crons.iter().map(|c| c.to_string()).collect(),
        ..UploadMetadata::default()
    };
    let response = api
        .upload_with(name, &metadata, &[("index.js", HELLO)])
        .await
        .expect("upload sent");
    let status = response.status();
    let text = response.text().await.expect("answer");
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).expect("UploadResponse")
}

/// What a fake node needs to report: its id, credential and session.
#[derive(Clone)]
struct Reporter {
    api: Api,
    node: String,
    credential: String,
    session: String,
}

impl Reporter {
    async fn report(&self, id: &str, outcome: Outcome, no_retry: bool) -> StatusCode {
        self.api
            .http
            .post(self.api.url(&format!("/v1/scheduled/{id}")))
            .bearer_auth(&self.credential)
            .header("x-skiff-node", &self.node)
            .header("x-skiff-session", &self.session)
            .json(&ScheduledReport { outcome, no_retry })
            .send()
            .await
            .expect("report sent")
            .status()
    }
}

/// A fake node: its stream is read on a task that passes every tick on, with the node's id.
struct FakeNode {
    reporter: Reporter,
    reader: JoinHandle<()>,
}

impl FakeNode {
    async fn connect(
        node_api: &Api,
        id: &str,
        ticks: mpsc::UnboundedSender<(String, ScheduledTick)>,
    ) -> Self {
        let mut session = NodeSession::open(node_api, id, 0)
            .await
            .expect("the node subscribes");
        let reporter = Reporter {
            api: node_api.clone(),
            node: id.to_string(),
            credential: session.credential.clone(),
            session: session.session.clone(),
        };
        let node = id.to_string();
        let reader = tokio::spawn(async move {
            while let Ok(Some(event)) = session
                .stream
                .next_data::<SyncEvent>(Duration::from_secs(3600))
                .await
            {
                if let SyncEvent::Scheduled(tick) = event
                    && ticks.send((node.clone(), tick)).is_err()
                {
                    break;
                }
            }
        });
        Self { reporter, reader }
    }

    /// Closes the node's stream (the node goes away).
    fn disconnect(&self) {
        self.reader.abort();
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn next_tick(
    ticks: &mut mpsc::UnboundedReceiver<(String, ScheduledTick)>,
) -> (String, ScheduledTick) {
    tokio::time::timeout(WAIT, ticks.recv())
        .await
        .expect("a tick before the deadline")
        .expect("the readers run")
}

#[derive(Debug, serde::Deserialize)]
struct TickStatus {
    id: String,
    scheduled_time_ms: u64,
    state: String,
    node: Option<String>,
    attempts: u64,
    outcome: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Schedules {
    ticks: Vec<TickStatus>,
}

async fn tick_status(admin: &Api, script: &str, id: &str) -> Option<TickStatus> {
    admin
        .json::<Schedules>(&format!("/v1/scripts/{script}/schedules"))
        .await
        .ticks
        .into_iter()
        .find(|t| t.id == id)
}

/// Waits until tick `id` of `script` is in `state`.
async fn wait_state(admin: &Api, script: &str, id: &str, state: &str) -> TickStatus {
    wait_for(WAIT, || async {
        tick_status(admin, script, id)
            .await
            .filter(|t| t.state == state)
    })
    .await
    .unwrap_or_else(|| panic!("tick {id} never became {state}"))
}

/// Each tick goes to one node, once; reports are taken from that node only.
async fn ticks_reach_one_node_each(admin: &Api, nodes: [&Api; 2]) {
    deploy_cron(admin, "every-minute", &["* * * * *"]).await;
    let (tx, mut ticks) = mpsc::unbounded_channel();
    let n1 = FakeNode::connect(nodes[0], "n1", tx.clone()).await;
    let n2 = FakeNode::connect(nodes[1], "n2", tx).await;
    let reporters: BTreeMap<String, Reporter> = [
        ("n1".to_string(), n1.reporter.clone()),
        ("n2".to_string(), n2.reporter.clone()),
    ]
    .into();

    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut times = BTreeSet::new();
    let mut reported = Vec::new();
    while seen.len() < 6 {
        let (node, tick) = next_tick(&mut ticks).await;
        assert_eq!(
            (tick.script.as_str(), tick.cron.as_str()),
            ("every-minute", "* * * * *")
        );
        assert_eq!(tick.scheduled_time_ms % 60_000, 0, "{tick:?}");
        seen.entry(tick.id.clone()).or_default().push(node.clone());
        times.insert(tick.scheduled_time_ms);
        if reported.is_empty() {
            // Only the node the tick went to may report it; an unknown tick is 404.
            let other = if node == "n1" { "n2" } else { "n1" };
            assert_eq!(
                reporters[other].report(&tick.id, Outcome::Ok, false).await,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                reporters[&node]
                    .report("no-such-tick", Outcome::Ok, false)
                    .await,
                StatusCode::NOT_FOUND
            );
        }
        assert_eq!(
            reporters[&node].report(&tick.id, Outcome::Ok, false).await,
            StatusCode::NO_CONTENT
        );
        reported.push(tick.id.clone());
    }
    for (id, nodes) in &seen {
        assert_eq!(nodes.len(), 1, "tick {id} went to {nodes:?}");
    }
    assert_eq!(times.len(), seen.len(), "one tick per scheduled time");
    for id in &reported[..4] {
        let status = wait_state(admin, "every-minute", id, "done").await;
        assert_eq!(status.attempts, 1);
        assert_eq!(status.outcome.as_deref(), Some("ok"));
    }
    drop((n1, n2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tick_goes_to_exactly_one_connected_node() {
    let dir = tempfile::tempdir().expect("dir");
    let cp = start_fast(dir.path(), None).await;
    let admin = Api::admin(&cp);
    let nodes = Api::node(&cp);
    ticks_reach_one_node_each(&admin, [&nodes, &nodes]).await;

    let schedules: serde_json::Value = admin.json("/v1/scripts/every-minute/schedules").await;
    let schedule = &schedules["schedules"][0];
    assert_eq!(schedule["cron"], "* * * * *");
    assert!(
        schedule["created_on"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{schedules}"
    );
    assert!(schedule["modified_on"].is_string(), "{schedules}");
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_postgres_deliver_each_tick_once() {
    let server = tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .expect("joins")
        .expect("a throwaway PostgreSQL");
    let (dir1, dir2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let store = Some(StoreSpec::Postgres(server.url()));
    let cp1 = start_fast(dir1.path(), store.clone()).await;
    let cp2 = start_fast(dir2.path(), store).await;
    let admin = Api::admin(&cp1);
    let nodes1 = Api::node(&cp1);
    let mut nodes2 = Api::with_token(&cp2, cp1.node_token());
    nodes2.credentials = nodes1.credentials.clone();
    ticks_reach_one_node_each(&admin, [&nodes1, &nodes2]).await;
    cp1.shutdown().await;
    cp2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_whose_node_leaves_goes_to_another_node() {
    let dir = tempfile::tempdir().expect("dir");
    let cp = start_fast(dir.path(), None).await;
    let admin = Api::admin(&cp);
    let nodes = Api::node(&cp);
    // A tick every five real seconds: time to hand one over before the next.
    deploy_cron(&admin, "five", &["*/5 * * * *"]).await;
    let (tx, mut ticks) = mpsc::unbounded_channel();
    let n1 = FakeNode::connect(&nodes, "n1", tx.clone()).await;
    let n2 = FakeNode::connect(&nodes, "n2", tx).await;

    let (first_node, tick) = next_tick(&mut ticks).await;
    let (leaving, staying) = if first_node == "n1" {
        (&n1, &n2)
    } else {
        (&n2, &n1)
    };
    leaving.disconnect();
    let (node, again) = next_tick(&mut ticks).await;
    assert_eq!(again, tick, "the same tick comes again");
    assert_eq!(node, staying.reporter.node);
    assert_eq!(
        staying.reporter.report(&tick.id, Outcome::Ok, false).await,
        StatusCode::NO_CONTENT
    );
    let status = wait_state(&admin, "five", &tick.id, "done").await;
    assert_eq!(status.attempts, 2);
    assert_eq!(status.node.as_deref(), Some(node.as_str()));
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_connects_late_gets_only_the_latest_tick() {
    let dir = tempfile::tempdir().expect("dir");
    let cp = start_fast(dir.path(), None).await;
    let admin = Api::admin(&cp);
    let nodes = Api::node(&cp);
    deploy_cron(&admin, "backlog", &["* * * * *"]).await;
    // Several ticks fall due with no node connected.
    let waiting = wait_for(WAIT, || async {
        let ticks = admin
            .json::<Schedules>("/v1/scripts/backlog/schedules")
            .await
            .ticks;
        (ticks.len() >= 3).then_some(ticks)
    })
    .await
    .expect("ticks are created while no node is connected");
    assert!(waiting.iter().all(|t| t.attempts == 0), "{waiting:?}");
    let newest_before = waiting
        .iter()
        .map(|t| t.scheduled_time_ms)
        .max()
        .unwrap_or(0);

    let (tx, mut ticks) = mpsc::unbounded_channel();
    let node = FakeNode::connect(&nodes, "late", tx).await;
    let (_, first) = next_tick(&mut ticks).await;
    assert!(
        first.scheduled_time_ms >= newest_before,
        "{first:?} is older than the backlog"
    );
    assert_eq!(
        node.reporter.report(&first.id, Outcome::Ok, false).await,
        StatusCode::NO_CONTENT
    );
    let all = admin
        .json::<Schedules>("/v1/scripts/backlog/schedules")
        .await
        .ticks;
    for tick in all
        .iter()
        .filter(|t| t.scheduled_time_ms < first.scheduled_time_ms)
    {
        assert_eq!(tick.state, "missed", "{tick:?}");
        assert_eq!(tick.attempts, 0, "{tick:?}");
    }
    // The next two ticks are new ones: the first is not sent again.
    for _ in 0..2 {
        let (_, next) = next_tick(&mut ticks).await;
        assert!(next.scheduled_time_ms > first.scheduled_time_ms, "{next:?}");
        node.reporter.report(&next.id, Outcome::Ok, false).await;
    }
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tick_is_retried_unless_no_retry() {
    let dir = tempfile::tempdir().expect("dir");
    let cp = start_fast(dir.path(), None).await;
    let admin = Api::admin(&cp);
    let nodes = Api::node(&cp);
    deploy_cron(&admin, "flaky", &["*/5 * * * *"]).await;
    let (tx, mut ticks) = mpsc::unbounded_channel();
    let n1 = FakeNode::connect(&nodes, "n1", tx.clone()).await;
    let n2 = FakeNode::connect(&nodes, "n2", tx).await;
    let reporter = |node: &str| {
        if node == "n1" {
            n1.reporter.clone()
        } else {
            n2.reporter.clone()
        }
    };

    // A failure without noRetry: the tick comes again, on the other node.
    let (first_node, tick) = next_tick(&mut ticks).await;
    assert_eq!(
        reporter(&first_node)
            .report(&tick.id, Outcome::Exception, false)
            .await,
        StatusCode::NO_CONTENT
    );
    let (second_node, again) = next_tick(&mut ticks).await;
    assert_eq!(again, tick, "a failed tick is retried");
    assert_ne!(second_node, first_node, "the retry goes to the other node");

    // A failure with noRetry: finished, never sent again.
    assert_eq!(
        reporter(&second_node)
            .report(&tick.id, Outcome::Exception, true)
            .await,
        StatusCode::NO_CONTENT
    );
    let status = wait_state(&admin, "flaky", &tick.id, "failed").await;
    assert_eq!(status.attempts, 2);
    assert_eq!(status.outcome.as_deref(), Some("exception"));
    let (_, next) = next_tick(&mut ticks).await;
    assert_ne!(
        next.id, tick.id,
        "a tick reported with noRetry is not run again"
    );
    assert!(next.scheduled_time_ms > tick.scheduled_time_ms);
    cp.shutdown().await;
}

#[tokio::test]
async fn an_upload_with_a_bad_cron_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let cp = start_fast(dir.path(), None).await;
    let admin = Api::admin(&cp);
    for bad in ["61 * * * *", "* * * *", "0 0 30 2 *"] {
        let metadata = UploadMetadata {
            main_module: "index.js".into(),
            crons: vec!["*/5 * * * *".into(), bad.into()],
            ..UploadMetadata::default()
        };
        let response = admin
            .upload_with("bad-cron", &metadata, &[("index.js", HELLO)])
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "{bad}");
        let body: skiff_protocol::ErrorBody = response.json().await.expect("an error body");
        assert!(body.error.contains(&format!("{bad:?}")), "{}", body.error);
    }
    let scripts: Vec<skiff_protocol::ScriptSummary> = admin.json("/v1/scripts").await;
    assert!(scripts.is_empty(), "nothing was stored");
    cp.shutdown().await;
}
