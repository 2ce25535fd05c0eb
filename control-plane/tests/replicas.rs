//! Control planes on PostgreSQL (a throwaway server of the test's own): replicas that share
//! tokens, revisions, nodes and tails; readiness that follows the database; migrations that
//! refuse a newer schema; and a single-machine platform imported into PostgreSQL.

mod common;
#[path = "common/postgres.rs"]
mod postgres;

use std::path::Path;
use std::time::Duration;

use common::{Api, EventStream, HELLO, NodeSession, config, wait_for};
use postgres::TempPostgres;
use skiff_control_plane::{ControlPlane, SCHEMA_VERSION, StoreSpec};
use skiff_protocol::{NodeList, SyncEvent, TailEvent};

const WAIT: Duration = Duration::from_secs(10);

async fn postgres() -> TempPostgres {
    tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .expect("joins")
        .expect("a throwaway PostgreSQL")
}

/// A replica with its own data directory on the database at `url`.
async fn replica(dir: &Path, url: &str) -> ControlPlane {
    let mut config = config(dir);
    config.store = Some(StoreSpec::Postgres(url.to_string()));
    ControlPlane::start(config).await.expect("replica starts")
}

/// A new, empty database on `server`; its URL.
async fn database(server: &TempPostgres, name: &str) -> String {
    let (client, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .expect("connects");
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("creates a database");
    drop(client);
    let _ = driver.await;
    let url = server.url();
    format!("{}/{name}", url.rsplit_once('/').expect("a database").0)
}

/// The update or snapshot a node's stream carries next, skipping tail events.
async fn next_revision(session: &mut NodeSession) -> u64 {
    loop {
        match session.stream.expect_data::<SyncEvent>(WAIT).await {
            SyncEvent::Snapshot { revision, .. } | SyncEvent::Update { revision, .. } => {
                return revision;
            }
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_tokens_revisions_nodes_and_tails() {
    let server = postgres().await;
    let (dir1, dir2) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let cp1 = replica(dir1.path(), &server.url()).await;
    let cp2 = replica(dir2.path(), &server.url()).await;

    // The first replica made the tokens; the second knows only their hashes, and accepts them.
    assert!(!cp1.admin_token().is_empty());
    assert_eq!(cp2.admin_token(), "");
    assert!(!dir2.path().join("admin.token").exists());
    let admin1 = Api::admin(&cp1);
    let mut admin2 = Api::with_token(&cp2, cp1.admin_token());
    let mut nodes2 = Api::with_token(&cp2, cp1.node_token());
    assert_eq!(
        admin2
            .get("/v1/scripts")
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );

    // A node enrolled on one replica is accepted on the other with the same credential.
    let nodes1 = Api::node(&cp1);
    let mut n1 = NodeSession::open(&nodes1, "n1", 0)
        .await
        .expect("n1 on replica 1");
    let first = next_revision(&mut n1).await;
    nodes2.credentials = nodes1.credentials.clone();
    let mut n2 = NodeSession::open(&nodes2, "n1-twin", 0)
        .await
        .expect("a node on replica 2");
    let _ = next_revision(&mut n2).await;
    drop(n1);
    let mut n1 = NodeSession::open(&nodes2, "n1", first)
        .await
        .expect("n1 moves to replica 2");

    // A deploy on replica 1 reaches a node on replica 2 at once.
    let deployed = admin1.deploy("hello", HELLO).await;
    for session in [&mut n1, &mut n2] {
        let mut revision = next_revision(session).await;
        if revision == 0 {
            // The empty snapshot a node subscribing from 0 gets first.
            revision = next_revision(session).await;
        }
        assert_eq!(revision, deployed.revision);
    }

    // Replica 1's long poll waits for the nodes on replica 2.
    let poll = {
        let admin1 = admin1.clone();
        let revision = deployed.revision;
        tokio::spawn(async move {
            admin1
                .json::<NodeList>(&format!("/v1/nodes?revision={revision}&timeout_ms=20000"))
                .await
        })
    };
    assert_eq!(n1.ack(&nodes2, "n1", deployed.revision).await, 204);
    assert_eq!(n2.ack(&nodes2, "n1-twin", deployed.revision).await, 204);
    let list = tokio::time::timeout(WAIT, poll)
        .await
        .expect("the long poll returns once the nodes on the other replica acked")
        .expect("joins");
    let cp2_url = cp2.url();
    for node in &list.nodes {
        assert!(node.connected, "{node:?}");
        assert_eq!(node.revision, deployed.revision, "{node:?}");
        assert_eq!(node.replica.as_deref(), Some(cp2_url.as_str()), "{node:?}");
    }
    assert_eq!(list.nodes.len(), 2);

    // Concurrent changes on both replicas never share a revision.
    let mut writers = Vec::new();
    for n in 0..10 {
        for api in [admin1.clone(), admin2.clone()] {
            writers.push(tokio::spawn(async move {
                let response = api
                    .put(&format!("/v1/scripts/hello/secrets/S{n}"))
                    .json(&serde_json::json!({ "value": "x" }))
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(response.status(), 200);
                response.json::<serde_json::Value>().await.expect("JSON")["revision"]
                    .as_u64()
                    .expect("a revision")
            }));
        }
    }
    let mut revisions = Vec::new();
    for writer in writers {
        revisions.push(writer.await.expect("joins"));
    }
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), 20, "{revisions:?}");

    // A tail on replica 2 is heard by a node on replica 1, and gets that node's logs.
    admin2.token = cp1.admin_token().to_string();
    let mut tail = EventStream::open(admin2.get("/v1/scripts/hello/tail"))
        .await
        .expect("tail opens on replica 2");
    let mut n3 = NodeSession::open(&nodes1, "n3", 0)
        .await
        .expect("n3 on replica 1");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut tailed = None;
    while tailed.is_none() && tokio::time::Instant::now() < deadline {
        if let Ok(Some(SyncEvent::Tail { scripts })) = n3
            .stream
            .next_data::<SyncEvent>(Duration::from_millis(500))
            .await
            && scripts == ["hello"]
        {
            tailed = Some(());
        }
    }
    assert!(
        tailed.is_some(),
        "the node on replica 1 hears the tail on replica 2"
    );
    let event = TailEvent {
        script: "hello".into(),
        version: deployed.version.id.clone(),
        node: "n3".into(),
        level: "log".into(),
        time_ms: 1,
        message: "across replicas".into(),
        invocation: None,
    };
    let posted = n3
        .sign(nodes1.post("/v1/logs"))
        .json(&vec![event.clone()])
        .send()
        .await
        .expect("sent");
    assert_eq!(posted.status(), 204);
    let received: TailEvent = tail.expect_data(WAIT).await;
    assert_eq!(received, event);

    drop((n1, n2, n3, tail));
    cp2.shutdown().await;
    cp1.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_and_writes_fail_clearly_while_it_is_down() {
    let mut server = postgres().await;
    let dir = tempfile::tempdir().expect("dir");
    let cp = replica(dir.path(), &server.url()).await;
    let admin = Api::admin(&cp);
    admin.deploy("hello", HELLO).await;
    let health = |api: Api| async move {
        let response = api.get("/healthz").send().await.expect("sent");
        response.status().as_u16()
    };
    assert_eq!(health(admin.clone()).await, 200);

    tokio::task::block_in_place(|| server.stop());
    let down = wait_for(WAIT, || {
        let admin = admin.clone();
        async move { (health(admin).await == 503).then_some(()) }
    })
    .await;
    assert!(
        down.is_some(),
        "/healthz says 503 while the database is down"
    );
    let started = std::time::Instant::now();
    let response = admin
        .put("/v1/scripts/hello/secrets/KEY")
        .json(&serde_json::json!({ "value": "v" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let body = response.text().await.expect("body");
    assert!(body.contains("the store is unavailable"), "{body}");

    tokio::task::block_in_place(|| server.start_again()).expect("starts again");
    let up = wait_for(Duration::from_secs(20), || {
        let admin = admin.clone();
        async move {
            let response = admin
                .put("/v1/scripts/hello/secrets/KEY")
                .json(&serde_json::json!({ "value": "v" }))
                .send()
                .await
                .ok()?;
            (response.status() == 200).then_some(())
        }
    })
    .await;
    assert!(up.is_some(), "writes work again once the database is back");
    assert_eq!(health(admin).await, 200);
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused_and_a_sqlite_platform_imports_whole() {
    let server = postgres().await;

    // --migrate-only, then a schema from the future.
    let future = database(&server, "future").await;
    let spec = StoreSpec::Postgres(future.clone());
    assert_eq!(
        skiff_control_plane::migrate_only(&spec)
            .await
            .expect("migrates"),
        SCHEMA_VERSION
    );
    let (client, connection) = tokio_postgres::connect(&future, tokio_postgres::NoTls)
        .await
        .expect("connects");
    let driver = tokio::spawn(connection);
    client
        .execute(
            "UPDATE schema_version SET version = $1",
            &[&((SCHEMA_VERSION + 1) as i64)],
        )
        .await
        .expect("a newer schema");
    drop(client);
    let _ = driver.await;
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    cfg.store = Some(spec);
    let refused = ControlPlane::start(cfg).await.err().expect("refused");
    assert!(
        refused
            .to_string()
            .contains("newer than this skiff understands"),
        "{refused}"
    );

    // A single-machine platform with a script and a secret moves over; its admin token works
    // on the new store, and the revisions carry on.
    let old = tempfile::tempdir().expect("dir");
    let cp = common::start(old.path()).await;
    let admin = Api::admin(&cp);
    let deployed = admin.deploy("hello", HELLO).await;
    let token = cp.admin_token().to_string();
    cp.shutdown().await;
    let target = database(&server, "moved").await;
    let imported = skiff_control_plane::import(
        &StoreSpec::Sqlite(old.path().join("control.db")),
        &StoreSpec::Postgres(target.clone()),
    )
    .await
    .expect("imports");
    assert_eq!(imported.revision, deployed.revision);

    let new_dir = tempfile::tempdir().expect("dir");
    let cp = replica(new_dir.path(), &target).await;
    let admin = Api::with_token(&cp, &token);
    let versions: skiff_protocol::VersionList = admin.json("/v1/scripts/hello/versions").await;
    assert_eq!(versions.versions[0].id, deployed.version.id);
    let again = admin.deploy("hello", HELLO).await;
    assert_eq!(again.revision, deployed.revision + 1);
    cp.shutdown().await;
}
