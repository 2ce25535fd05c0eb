//! The node side over real HTTP: the sync channel, bundles by hash, acks and the node long
//! poll, and tail fan-out.

mod common;

use std::time::Duration;

use common::{Api, EventStream, HELLO, NodeSession, start, wait_for};
use skiff_protocol::{Bundle, NodeList, SecretValue, SyncEvent, TailEvent, UploadMetadata};

const WAIT: Duration = Duration::from_secs(10);

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

async fn subscribe(node: &Api, id: &str, since: u64) -> EventStream {
    let node = node.as_node(id).await.expect("enrolled");
    EventStream::open(
        node.get(&format!("/v1/sync?since={since}"))
            .header("x-skiff-node", id),
    )
    .await
    .expect("sync stream opens")
}

#[tokio::test]
async fn snapshot_then_updates_then_deletion() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    let first = api.deploy("hello", HELLO).await;
    api.put("/v1/scripts/hello/secrets/TOKEN")
        .json(&SecretValue {
            value: "tok".into(),
        })
        .send()
        .await
        .expect("sent");

    let mut stream = subscribe(&node, "n1", 0).await;
    let SyncEvent::Snapshot {
        revision, scripts, ..
    } = stream.expect_data(WAIT).await
    else {
        panic!("the first event for since=0 is a snapshot");
    };
    assert_eq!(revision, 2);
    assert_eq!(scripts.len(), 1);
    let hello = &scripts[0];
    assert_eq!(hello.name, "hello");
    assert_eq!(hello.versions, vec![first.version.clone()]);
    assert_eq!(hello.deployment, first.deployment);
    assert_eq!(hello.secrets.get("TOKEN").map(String::as_str), Some("tok"));

    let second = api.deploy("other", HELLO).await;
    let SyncEvent::Update {
        revision, changes, ..
    } = stream.expect_data(WAIT).await
    else {
        panic!("an update follows a new upload");
    };
    assert_eq!(revision, second.revision);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].name, "other");
    let state = changes[0].state.as_ref().expect("deployed");
    assert_eq!(state.versions[0].id, second.version.id);

    let deleted = api.delete("/v1/scripts/hello").send().await.expect("sent");
    assert_eq!(deleted.status(), 200);
    let SyncEvent::Update { changes, .. } = stream.expect_data(WAIT).await else {
        panic!("an update follows a deletion");
    };
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].name, "hello");
    assert_eq!(changes[0].state, None);

    // A node ahead of the control plane gets a snapshot too.
    let mut ahead = subscribe(&node, "n2", 1000).await;
    let SyncEvent::Snapshot { scripts, .. } = ahead.expect_data(WAIT).await else {
        panic!("a node ahead of the control plane gets a snapshot");
    };
    let names: Vec<_> = scripts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["other"]);
    cp.shutdown().await;
}

#[tokio::test]
async fn a_current_node_hears_nothing_until_a_change() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    api.deploy("a", HELLO).await;
    let b = api.deploy("b", HELLO).await;

    // Behind by one: an update with just the script changed since.
    let mut behind = subscribe(&node, "behind", b.revision - 1).await;
    let SyncEvent::Update {
        revision, changes, ..
    } = behind.expect_data(WAIT).await
    else {
        panic!("a node behind gets an update");
    };
    assert_eq!(revision, b.revision);
    let names: Vec<_> = changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["b"]);

    let mut current = subscribe(&node, "current", b.revision).await;
    let quiet: Option<SyncEvent> = current
        .next_data(Duration::from_millis(500))
        .await
        .expect("stream readable");
    assert_eq!(quiet, None, "no event for a node that is up to date");

    let change: skiff_protocol::ChangeResponse = api
        .put("/v1/scripts/a/secrets/KEY")
        .json(&SecretValue { value: "v".into() })
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("ChangeResponse");
    let SyncEvent::Update {
        revision, changes, ..
    } = current.expect_data(WAIT).await
    else {
        panic!("an update after the change");
    };
    assert_eq!(revision, change.revision);
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].state.as_ref().expect("state").secrets["KEY"],
        "v"
    );
    cp.shutdown().await;
}

#[tokio::test]
async fn bundles_are_served_by_hash_and_verify() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let metadata = UploadMetadata {
        main_module: "index.js".into(),
        ..UploadMetadata::default()
    };
    let response = api
        .upload_with(
            "hello",
            &metadata,
            &[
                ("index.js", "import './lib.js';\nexport default {};\n"),
                ("lib.js", "globalThis.loaded = true;\n"),
            ],
        )
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let upload: skiff_protocol::UploadResponse = response.json().await.expect("json");
    let hash = upload.version.bundle;
    let node = Api::node(&cp);
    let session = NodeSession::open(&node, "n1", 0).await.expect("session");
    let bytes = session
        .sign(node.get(&format!("/v1/bundles/{hash}")))
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("bundle bytes");
    let bundle = Bundle::from_verified_bytes(&bytes, &hash).expect("bundle verifies");
    assert_eq!(bundle.main_module, "index.js");
    assert_eq!(bundle.modules["lib.js"], "globalThis.loaded = true;\n");
    assert_eq!(upload.version.size, bundle.size() as u64);

    let missing = session
        .sign(node.get(&format!("/v1/bundles/{}", "0".repeat(64))))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 404);
    cp.shutdown().await;
}

#[tokio::test]
async fn acks_show_in_nodes_and_end_the_long_poll() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    let upload = api.deploy("hello", HELLO).await;
    let mut session = NodeSession::open(&node, "n1", 0).await.expect("session");
    let _snapshot: SyncEvent = session.stream.expect_data(WAIT).await;

    let nodes: NodeList = api.json("/v1/nodes").await;
    assert_eq!(nodes.revision, upload.revision);
    assert_eq!(nodes.nodes.len(), 1);
    assert!(nodes.nodes[0].connected);
    assert_eq!(nodes.nodes[0].revision, 0);

    // Not acknowledged yet: the long poll times out with the node behind.
    let waited: NodeList = api
        .json(&format!(
            "/v1/nodes?revision={}&timeout_ms=200",
            upload.revision
        ))
        .await;
    assert_eq!(waited.nodes[0].revision, 0);

    let poll = tokio::spawn({
        let api = api.clone();
        let revision = upload.revision;
        async move {
            api.json::<NodeList>(&format!("/v1/nodes?revision={revision}&timeout_ms=30000"))
                .await
        }
    });
    assert_eq!(session.ack(&node, "n1", upload.revision).await, 204);
    let answered = tokio::time::timeout(WAIT, poll)
        .await
        .expect("the long poll ends once the node acked")
        .expect("task");
    assert_eq!(answered.nodes[0].revision, upload.revision);
    assert!(answered.nodes[0].last_seen_ms > 0);

    // A node that is gone no longer holds the long poll.
    drop(session);
    let gone = wait_for(WAIT, || async {
        let nodes: NodeList = api.json("/v1/nodes").await;
        (!nodes.nodes[0].connected).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the node shows disconnected once its stream closed"
    );
    let immediate: NodeList = tokio::time::timeout(
        WAIT,
        api.json(&format!(
            "/v1/nodes?revision={}&timeout_ms=30000",
            upload.revision + 5
        )),
    )
    .await
    .expect("no connected node to wait for");
    assert_eq!(immediate.nodes.len(), 1);
    cp.shutdown().await;
}

#[tokio::test]
async fn tail_fans_out_and_nodes_hear_the_tailed_set() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    api.deploy("hello", HELLO).await;
    api.deploy("other", HELLO).await;
    let mut session = NodeSession::open(&node, "n1", 0).await.expect("session");
    let _snapshot: SyncEvent = session.stream.expect_data(WAIT).await;

    let mut tail = EventStream::open(api.get("/v1/scripts/hello/tail"))
        .await
        .expect("tail opens");
    let SyncEvent::Tail { scripts } = session.stream.expect_data(WAIT).await else {
        panic!("a tail event once someone tails");
    };
    assert_eq!(scripts, vec!["hello"]);

    // A node connecting now hears the tailed set on connect.
    let mut late = subscribe(&node, "n2", 0).await;
    let _snapshot: SyncEvent = late.expect_data(WAIT).await;
    let SyncEvent::Tail { scripts } = late.expect_data(WAIT).await else {
        panic!("a tail event on connect");
    };
    assert_eq!(scripts, vec!["hello"]);

    let event = |script: &str, message: &str| TailEvent {
        script: script.into(),
        version: "v1".into(),
        node: "n1".into(),
        level: "log".into(),
        time_ms: 1,
        message: message.into(),
        invocation: None,
    };
    // A batch naming a script nobody tails is refused whole.
    let posted = session
        .sign(node.post("/v1/logs"))
        .json(&vec![
            event("other", "not for you"),
            event("hello", "hi there"),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(posted.status(), 403);
    let posted = session
        .sign(node.post("/v1/logs"))
        .json(&vec![event("hello", "hi there")])
        .send()
        .await
        .expect("sent");
    assert_eq!(posted.status(), 204);
    let received: TailEvent = tail.expect_data(WAIT).await;
    assert_eq!(received, event("hello", "hi there"));

    drop(tail);
    let SyncEvent::Tail { scripts } = session.stream.expect_data(Duration::from_secs(40)).await
    else {
        panic!("a tail event once nobody tails");
    };
    assert_eq!(scripts, Vec::<String>::new());
    cp.shutdown().await;
}

#[tokio::test]
async fn bursts_arrive_whole_and_gradual_deployments_carry_both_versions() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    let v1 = api.deploy("hello", HELLO).await;
    let v2 = api.deploy("hello", "export default {};\n").await;
    let mut stream = subscribe(&node, "n1", v2.revision).await;

    let mut last = 0;
    for i in 0..5 {
        let change: skiff_protocol::ChangeResponse = api
            .put(&format!("/v1/scripts/hello/secrets/KEY_{i}"))
            .json(&SecretValue {
                value: format!("v{i}"),
            })
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("ChangeResponse");
        last = change.revision;
    }
    // However the burst was split into events, the last one is at the last revision and
    // carries every secret.
    let mut events = 0;
    let state = loop {
        let SyncEvent::Update {
            revision,
            mut changes,
            ..
        } = stream.expect_data(WAIT).await
        else {
            panic!("updates only");
        };
        events += 1;
        assert!(revision <= last);
        if revision == last {
            break changes.pop().and_then(|c| c.state).expect("state");
        }
    };
    assert!(events <= 5);
    assert_eq!(state.secrets.len(), 5);

    let split = skiff_protocol::DeploymentRequest {
        versions: vec![
            skiff_protocol::DeployedVersion {
                version_id: v1.version.id.clone(),
                percentage: 90.0,
            },
            skiff_protocol::DeployedVersion {
                version_id: v2.version.id.clone(),
                percentage: 10.0,
            },
        ],
    };
    let response = api
        .post("/v1/scripts/hello/deployments")
        .json(&split)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let SyncEvent::Update { changes, .. } = stream.expect_data(WAIT).await else {
        panic!("an update for the deployment");
    };
    let state = changes[0].state.as_ref().expect("state");
    assert_eq!(state.deployment.versions, split.versions);
    let ids: Vec<_> = state.versions.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, vec![v1.version.id.as_str(), v2.version.id.as_str()]);
    cp.shutdown().await;
}

/// Every stream reaches the last of a rapid burst of changes: the update a stream is handed
/// (read once for all of them) always reaches the latest revision it was woken for, so no
/// stream is left behind waiting for a change that was already made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_reaches_the_last_change_of_a_burst() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    api.deploy("hello", HELLO).await;
    let mut sessions = Vec::new();
    for n in 0..12 {
        let mut session = NodeSession::open(&node, &format!("n{n}"), 0)
            .await
            .expect("session");
        let _snapshot: SyncEvent = session.stream.expect_data(WAIT).await;
        sessions.push(session);
    }
    // Ten writers at once: streams wake at different moments between the commits.
    let writers: Vec<_> = (0..10)
        .map(|w| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut last = 0;
                for i in 0..30 {
                    let response = api
                        .put(&format!("/v1/scripts/hello/secrets/S{w}_{i}"))
                        .json(&SecretValue { value: "v".into() })
                        .send()
                        .await
                        .expect("sent");
                    assert_eq!(response.status(), 200);
                    let body: serde_json::Value = response.json().await.expect("JSON");
                    last = body["revision"].as_u64().expect("a revision");
                }
                last
            })
        })
        .collect();
    let mut last = 0;
    for writer in writers {
        last = last.max(writer.await.expect("joins"));
    }
    for session in &mut sessions {
        let mut reached = 0;
        while reached < last {
            match session.stream.next_data::<SyncEvent>(WAIT).await {
                Ok(Some(SyncEvent::Update { revision, .. })) => reached = revision,
                Ok(Some(_)) => {}
                other => panic!(
                    "node {} stopped at revision {reached} of {last}: {other:?}",
                    session.node
                ),
            }
        }
    }
    cp.shutdown().await;
}
