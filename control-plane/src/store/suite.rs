//! The store suite: every case runs on SQLite and on PostgreSQL (a throwaway server of the
//! test's own), each case on a new, empty store.

use std::future::Future;
use std::pin::Pin;

use skiff_protocol::{DeployedVersion, Deployment, VersionInfo};

use super::*;
use crate::kv_store;

#[path = "../../tests/common/postgres.rs"]
mod postgres_server;

use postgres_server::TempPostgres;

/// Makes new, empty stores of one kind.
struct Stores {
    kind: &'static str,
    dir: tempfile::TempDir,
    postgres: Option<TempPostgres>,
    made: usize,
}

impl Stores {
    fn sqlite() -> Self {
        Self {
            kind: "sqlite",
            dir: tempfile::tempdir().expect("tempdir"),
            postgres: None,
            made: 0,
        }
    }

    fn postgres() -> Self {
        let server = TempPostgres::start().expect("a throwaway PostgreSQL");
        Self {
            kind: "postgres",
            dir: tempfile::tempdir().expect("tempdir"),
            postgres: Some(server),
            made: 0,
        }
    }

    /// The address of a new, empty store.
    async fn spec(&mut self) -> StoreSpec {
        self.made += 1;
        match &self.postgres {
            None => StoreSpec::Sqlite(self.dir.path().join(format!("case{}.db", self.made))),
            Some(server) => {
                let database = format!("case{}", self.made);
                let (client, connection) =
                    tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
                        .await
                        .expect("connects to the test server");
                let driver = tokio::spawn(connection);
                client
                    .batch_execute(&format!("CREATE DATABASE {database}"))
                    .await
                    .expect("creates a database");
                drop(client);
                let _ = driver.await;
                let url = server.url();
                let base = url.rsplit_once('/').expect("a database in the URL").0;
                StoreSpec::Postgres(format!("{base}/{database}"))
            }
        }
    }

    async fn open(&mut self) -> Store {
        let spec = self.spec().await;
        Store::open(&spec).await.expect("opens")
    }
}

type Case = for<'a> fn(&'a mut Stores) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

const CASES: &[(&str, Case)] = &[
    ("migrations", |s| Box::pin(migrations(s))),
    ("scripts", |s| Box::pin(scripts(s))),
    ("revisions", |s| Box::pin(revisions(s))),
    ("rollback", |s| Box::pin(rollback(s))),
    ("kv", |s| Box::pin(kv(s))),
    ("nodes", |s| Box::pin(nodes(s))),
    ("ticks", |s| Box::pin(ticks(s))),
    ("usage", |s| Box::pin(usage(s))),
    ("import", |s| Box::pin(import(s))),
];

async fn run_suite(mut stores: Stores) {
    for (name, case) in CASES {
        eprintln!("store suite on {}: {name}", stores.kind);
        case(&mut stores).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_sqlite() {
    run_suite(Stores::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_postgres() {
    let stores = tokio::task::spawn_blocking(Stores::postgres)
        .await
        .expect("starts");
    run_suite(stores).await;
}

/// A store opens at the current schema, opens again without migrating twice, and a schema
/// newer than this build is refused before anything is written.
async fn migrations(stores: &mut Stores) {
    let spec = stores.spec().await;
    let store = Store::open(&spec).await.expect("opens");
    let mut tx = store.read().await.expect("read");
    let version = tx
        .query_one("SELECT MAX(version) FROM schema_version", args![])
        .await
        .expect("a version")
        .uint(0)
        .expect("a number");
    tx.commit().await.expect("commit");
    assert_eq!(version, SCHEMA_VERSION);
    Store::open(&spec).await.expect("opens again");

    let mut tx = store.bookkeeping().await.expect("tx");
    tx.execute(
        "UPDATE schema_version SET version = $1",
        args![SCHEMA_VERSION + 1],
    )
    .await
    .expect("a newer version");
    tx.commit().await.expect("commit");
    match Store::open(&spec).await {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        Err(other) => panic!("refused for the wrong reason: {other}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

fn version_info(id: &str, script: &str, bundle: &str) -> VersionInfo {
    VersionInfo {
        id: id.into(),
        script: script.into(),
        bundle: bundle.into(),
        main_module: "index.js".into(),
        modules: vec!["index.js".into()],
        size: 42,
        vars: serde_json::Map::from_iter([("GREETING".to_string(), "hi".into())]),
        secret_names: vec!["TOKEN".into()],
        compatibility_date: Some("2026-01-01".into()),
        compatibility_flags: vec!["nodejs_compat".into()],
        routes: vec![],
        crons: vec!["*/5 * * * *".into()],
        bindings: vec![],
        created_ms: 1_700_000_000_000,
        startup_time_ms: 1.5,
    }
}

/// Deploys version `id` of `script` (bundle `bytes`) at 100 %; the revision.
async fn deploy(store: &Store, script: &str, id: &str, bytes: &[u8]) -> u64 {
    let hash = skiff_protocol::sha256_hex(bytes);
    let mut tx = store.write().await.expect("write");
    ensure_script(&mut tx, script).await.expect("script");
    put_bundle(&mut tx, &hash, bytes.to_vec())
        .await
        .expect("bundle");
    insert_version(&mut tx, &version_info(id, script, &hash))
        .await
        .expect("version");
    put_secret(&mut tx, script, "TOKEN", "s3cret")
        .await
        .expect("secret");
    let revision = log_change(&mut tx, script).await.expect("change");
    let deployment = Deployment {
        versions: vec![DeployedVersion {
            version_id: id.into(),
            percentage: 100.0,
        }],
        created_ms: 1,
    };
    insert_deployment(&mut tx, script, &deployment, revision)
        .await
        .expect("deployment");
    tx.commit().await.expect("commit");
    revision
}

/// Versions, deployments, secrets, bundles, snapshots and changes read back as written.
async fn scripts(stores: &mut Stores) {
    let store = stores.open().await;
    let r1 = deploy(&store, "api", "v1", b"one").await;
    let r2 = deploy(&store, "api", "v2", b"two").await;
    let r3 = deploy(&store, "web", "w1", b"three").await;
    assert!(r1 < r2 && r2 < r3, "{r1} {r2} {r3}");

    let mut tx = store.read().await.expect("read");
    let list = version_list(&mut tx, "api").await.expect("versions");
    assert_eq!(
        list.versions
            .iter()
            .map(|v| v.id.as_str())
            .collect::<Vec<_>>(),
        ["v2", "v1"],
        "newest first"
    );
    assert_eq!(
        list.versions[1],
        version_info("v1", "api", &skiff_protocol::sha256_hex(b"one"))
    );
    assert_eq!(
        list.deployment.expect("deployed").versions[0].version_id,
        "v2"
    );
    let hash = skiff_protocol::sha256_hex(b"two");
    assert_eq!(
        bundle(&mut tx, &hash).await.expect("bundle"),
        Some(b"two".to_vec())
    );
    let (revision, states) = snapshot(&mut tx).await.expect("snapshot");
    assert_eq!(revision, r3);
    assert_eq!(
        states.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["api", "web"]
    );
    assert_eq!(
        states[0].secrets.get("TOKEN").map(String::as_str),
        Some("s3cret")
    );
    let (_, changed) = changes(&mut tx, r2).await.expect("changes");
    assert_eq!(
        changed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["web"],
        "only what changed after r2"
    );
    assert!(version_list(&mut tx, "nope").await.is_err());
    tx.commit().await.expect("commit");

    let mut tx = store.write().await.expect("write");
    assert!(delete_script(&mut tx, "api").await.expect("delete"));
    assert!(!delete_script(&mut tx, "api").await.expect("twice"));
    log_change(&mut tx, "api").await.expect("change");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    assert_eq!(
        bundle(&mut tx, &hash).await.expect("bundle"),
        None,
        "its bundles go too"
    );
    let (_, changed) = changes(&mut tx, r3).await.expect("changes");
    assert_eq!(changed.len(), 1);
    assert!(
        changed[0].state.is_none(),
        "a deleted script's change has no state"
    );
    tx.commit().await.expect("commit");
}

/// Concurrent writers get distinct revisions, committed in the order they were handed out:
/// the log has no gaps.
async fn revisions(stores: &mut Stores) {
    let store = stores.open().await;
    let writers: Vec<_> = (0..24)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.write().await.expect("write");
                let revision = log_change(&mut tx, &format!("s{n}")).await.expect("change");
                tokio::task::yield_now().await;
                tx.commit().await.expect("commit");
                revision
            })
        })
        .collect();
    let mut revisions = Vec::new();
    for writer in writers {
        revisions.push(writer.await.expect("writer"));
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=24).collect::<Vec<u64>>());
}

/// A transaction dropped before its commit leaves nothing behind, and the store goes on.
async fn rollback(stores: &mut Stores) {
    let store = stores.open().await;
    {
        let mut tx = store.write().await.expect("write");
        ensure_script(&mut tx, "ghost").await.expect("script");
        log_change(&mut tx, "ghost").await.expect("change");
        // Dropped: not committed.
    }
    let mut tx = store
        .write()
        .await
        .expect("the store is usable after a drop");
    assert!(!script_exists(&mut tx, "ghost").await.expect("exists"));
    assert_eq!(current_revision(&mut tx).await.expect("revision"), 0);
    let revision = log_change(&mut tx, "real").await.expect("change");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    assert_eq!(current_revision(&mut tx).await.expect("revision"), revision);
    tx.commit().await.expect("commit");
}

/// KV keys list in byte order, pages by cursor, expire, and leave tombstones for the nodes.
async fn kv(stores: &mut Stores) {
    let store = stores.open().await;
    let mut tx = store.write().await.expect("write");
    let namespace = kv_store::create_namespace(&mut tx, "LINKS")
        .await
        .expect("namespace");
    assert!(
        kv_store::create_namespace(&mut tx, "LINKS").await.is_err(),
        "titles are unique"
    );
    for key in ["z", "a", "B", "é", "ab"] {
        kv_store::put(
            &mut tx,
            &namespace.id,
            key,
            key.as_bytes(),
            Some("{\"m\":1}"),
            None,
        )
        .await
        .expect("put");
    }
    kv_store::put(&mut tx, &namespace.id, "old", b"gone", None, Some(1))
        .await
        .expect("an expired put");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    let page = kv_store::list(&mut tx, &namespace.id, "", 1000, None)
        .await
        .expect("list");
    let names: Vec<_> = page.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        ["B", "a", "ab", "z", "é"],
        "byte order; expired keys left out"
    );
    let first = kv_store::list(&mut tx, &namespace.id, "", 2, None)
        .await
        .expect("page 1");
    assert!(!first.list_complete);
    let after = skiff_protocol::kv::decode_cursor(first.cursor.as_deref().expect("cursor"))
        .expect("our cursor");
    let second = kv_store::list(&mut tx, &namespace.id, "", 2, Some(&after))
        .await
        .expect("page 2");
    assert_eq!(second.keys[0].name, "ab");
    let prefixed = kv_store::list(&mut tx, &namespace.id, "a", 10, None)
        .await
        .expect("prefix");
    assert_eq!(prefixed.keys.len(), 2);
    let found = kv_store::get(&mut tx, &namespace.id, "é")
        .await
        .expect("get")
        .expect("found");
    assert_eq!(found.value, "é".as_bytes());
    assert_eq!(found.metadata.as_deref(), Some("{\"m\":1}"));
    assert!(
        kv_store::get(&mut tx, &namespace.id, "old")
            .await
            .expect("get")
            .is_none()
    );
    let since = current_revision(&mut tx).await.expect("revision");
    tx.commit().await.expect("commit");

    let mut tx = store.write().await.expect("write");
    let change = kv_store::delete(&mut tx, &namespace.id, "a")
        .await
        .expect("delete");
    assert!(change.entry.is_none());
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    let changes = kv_store::changes_since(&mut tx, since)
        .await
        .expect("changes");
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].key.as_str(), changes[0].entry.is_none()),
        ("a", true)
    );
    let live = kv_store::live_entries(&mut tx).await.expect("live");
    assert_eq!(live.len(), 4);
    tx.commit().await.expect("commit");
}

/// Nodes: limits, credentials, acks, which replica they are on, and when they stop counting.
async fn nodes(stores: &mut Stores) {
    use super::nodes::*;
    let store = stores.open().await;
    let live = Liveness {
        node_ttl_ms: 60_000,
        replica_gone_ms: 5_000,
    };
    let mut tx = store.bookkeeping().await.expect("tx");
    heartbeat(&mut tx, "r1", "http://replica-1")
        .await
        .expect("heartbeat");
    node_connected(&mut tx, "n1", Some("example.com"), "r1", 2)
        .await
        .expect("n1");
    node_connected(&mut tx, "n2", None, "r2", 2)
        .await
        .expect("n2");
    assert!(
        matches!(
            node_connected(&mut tx, "n3", None, "r1", 2).await,
            Err(StoreError::Full(_))
        ),
        "past max_nodes"
    );
    node_ack(&mut tx, "n1", 7).await.expect("ack");
    assert!(node_ack(&mut tx, "nobody", 1).await.is_err());
    enroll_node(&mut tx, "n1", "hash1", 5)
        .await
        .expect("enroll");
    assert!(matches!(
        enroll_node(&mut tx, "n1", "hash2", 5).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        credential_node(&mut tx, "hash1")
            .await
            .expect("lookup")
            .as_deref(),
        Some("n1")
    );
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    let list = super::nodes::nodes(&mut tx, live).await.expect("nodes");
    tx.commit().await.expect("commit");
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].revision, list[0].connected, list[0].zone.as_deref()),
        (7, true, Some("example.com"))
    );
    assert_eq!(list[0].replica.as_deref(), Some("http://replica-1"));
    assert!(!list[1].connected, "r2 never beat: not connected");

    let mut tx = store.bookkeeping().await.expect("tx");
    node_disconnected(&mut tx, "n1", "r-other")
        .await
        .expect("not its replica");
    tx.execute(
        "UPDATE nodes SET last_seen_ms = 0 WHERE id = $1",
        args!["n2"],
    )
    .await
    .expect("age n2");
    tx.commit().await.expect("commit");
    let mut tx = store.read().await.expect("read");
    let list = super::nodes::nodes(&mut tx, live).await.expect("nodes");
    tx.commit().await.expect("commit");
    assert_eq!(list.len(), 1, "n2 is past the TTL: {list:?}");
    assert!(
        list[0].connected,
        "a close on another replica leaves n1 connected"
    );

    let mut tx = store.bookkeeping().await.expect("tx");
    node_disconnected(&mut tx, "n1", "r1").await.expect("left");
    assert!(delete_node(&mut tx, "n1").await.expect("delete"));
    assert_eq!(
        credential_node(&mut tx, "hash1").await.expect("lookup"),
        None
    );
    tx.commit().await.expect("commit");
}

/// A tick is created once however often it falls due, a newer one makes the older missed,
/// and each change of a tick is a compare-and-set that a stale reader loses.
async fn ticks(stores: &mut Stores) {
    use super::ticks::*;
    use skiff_protocol::usage::Outcome;
    let store = stores.open().await;
    let mut tx = store.bookkeeping().await.expect("tx");
    let first = create_tick(&mut tx, "s", "* * * * *", 60_000)
        .await
        .expect("creates");
    assert_eq!(first, Some(tick_id("s", "* * * * *", 60_000)));
    assert_eq!(
        create_tick(&mut tx, "s", "* * * * *", 60_000)
            .await
            .expect("exists"),
        None
    );
    tx.commit().await.expect("commit");

    let mut tx = store.bookkeeping().await.expect("tx");
    let open = open_ticks(&mut tx).await.expect("open");
    assert_eq!(open.len(), 1);
    let stale = open[0].clone();
    assert!(assign(&mut tx, &stale, "n1").await.expect("assigns"));
    assert!(
        !assign(&mut tx, &stale, "n2").await.expect("loses"),
        "a stale assign"
    );
    let assigned = tick(&mut tx, &stale.id)
        .await
        .expect("reads")
        .expect("there");
    assert_eq!(
        (
            assigned.state.as_str(),
            assigned.node.as_deref(),
            assigned.attempts
        ),
        ("assigned", Some("n1"), 1)
    );
    // A failure to retry makes it pending again, still naming its last node.
    assert!(
        report(&mut tx, &assigned, Outcome::Exception, true)
            .await
            .expect("reports")
    );
    assert!(
        !report(&mut tx, &assigned, Outcome::Ok, false)
            .await
            .expect("stale")
    );
    let pending = tick(&mut tx, &stale.id)
        .await
        .expect("reads")
        .expect("there");
    assert_eq!(
        (
            pending.state.as_str(),
            pending.node.as_deref(),
            pending.outcome.as_deref()
        ),
        ("pending", Some("n1"), Some("exception"))
    );
    assert!(assign(&mut tx, &pending, "n2").await.expect("assigns"));
    let again = tick(&mut tx, &stale.id)
        .await
        .expect("reads")
        .expect("there");
    assert!(unassign(&mut tx, &again, 2).await.expect("takes back"));
    let failed = tick(&mut tx, &stale.id)
        .await
        .expect("reads")
        .expect("there");
    assert_eq!((failed.state.as_str(), failed.attempts), ("failed", 2));

    // A newer tick of the same cron makes an unfinished older one missed.
    create_tick(&mut tx, "s", "*/2 * * * *", 120_000)
        .await
        .expect("creates");
    create_tick(&mut tx, "s", "*/2 * * * *", 240_000)
        .await
        .expect("creates");
    let open = open_ticks(&mut tx).await.expect("open");
    assert_eq!(
        open.iter().map(|t| t.scheduled_time_ms).collect::<Vec<_>>(),
        [240_000]
    );
    let recent = recent_ticks(&mut tx, "s", 10).await.expect("recent");
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[1].state, "missed");
    assert_eq!(miss_overtaken(&mut tx).await.expect("none left"), 0);
    tx.commit().await.expect("commit");
}

/// Each batch is stored once, and batches stored at the same time (on PostgreSQL, on
/// separate connections) all add into the same minute.
async fn usage(stores: &mut Stores) {
    use skiff_protocol::usage::{Outcome, UsageAggregate};
    let store = stores.open().await;
    let one = |script: &str, micros: u64| {
        let mut aggregate = UsageAggregate {
            script: script.into(),
            minute_ms: 120_000 + 5,
            cpu_us: micros,
            ..UsageAggregate::default()
        };
        aggregate.outcomes.insert(Outcome::Ok, 1);
        aggregate.cpu_histogram.record(micros);
        aggregate
    };
    let mut writers = Vec::new();
    for n in 0..8u64 {
        let store = store.clone();
        // Half the batches list the rows in the other order.
        let mut aggregates = vec![one("a", 100 * (n + 1)), one("b", 1000)];
        if n % 2 == 1 {
            aggregates.reverse();
        }
        writers.push(tokio::spawn(async move {
            let mut tx = store.bookkeeping().await.expect("tx");
            let stored = super::usage::store_batch(&mut tx, &format!("b{n}"), "n1", &aggregates, 1)
                .await
                .expect("stores");
            tx.commit().await.expect("commit");
            stored
        }));
    }
    for writer in writers {
        assert!(writer.await.expect("joins"), "a new batch is stored");
    }
    let mut tx = store.bookkeeping().await.expect("tx");
    let again = super::usage::store_batch(&mut tx, "b3", "n1", &[one("a", 1)], 1)
        .await
        .expect("answers");
    assert!(!again, "a batch seen before changes nothing");
    tx.commit().await.expect("commit");

    let mut tx = store.read().await.expect("read");
    let minutes = super::usage::minutes(&mut tx, None, 0)
        .await
        .expect("minutes");
    let only_b = super::usage::minutes(&mut tx, Some("b"), 0)
        .await
        .expect("minutes");
    tx.commit().await.expect("commit");
    let summary: Vec<_> = minutes
        .iter()
        .map(|m| {
            (
                m.script.as_str(),
                m.minute_ms,
                m.requests(),
                m.cpu_histogram.count(),
            )
        })
        .collect();
    assert_eq!(summary, [("a", 120_000, 8, 8), ("b", 120_000, 8, 8)]);
    assert_eq!(minutes[0].cpu_us, 100 * 36);
    assert_eq!(only_b.len(), 1);
}

/// A SQLite store moves into an empty store whole, and its revisions carry on; a store that
/// is not empty is refused.
async fn import(stores: &mut Stores) {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = Store::open(&StoreSpec::Sqlite(dir.path().join("old.db")))
        .await
        .expect("old store");
    deploy(&source, "api", "v1", b"one").await;
    let last = deploy(&source, "api", "v2", b"two").await;
    let mut tx = source.write().await.expect("write");
    let namespace = kv_store::create_namespace(&mut tx, "KV")
        .await
        .expect("namespace");
    kv_store::put(&mut tx, &namespace.id, "k", &[0, 159, 255], None, None)
        .await
        .expect("binary value");
    tx.commit().await.expect("commit");

    let target = stores.open().await;
    let imported = import::import(&source, &target).await.expect("imports");
    assert_eq!(imported.revision, last + 1);
    assert!(
        imported.rows.contains(&("versions".to_string(), 2)),
        "{imported:?}"
    );
    let mut tx = target.read().await.expect("read");
    let (_, states) = snapshot(&mut tx).await.expect("snapshot");
    assert_eq!(states[0].versions[0].id, "v2");
    let value = kv_store::get(&mut tx, &namespace.id, "k")
        .await
        .expect("get")
        .expect("kv");
    assert_eq!(value.value, [0, 159, 255]);
    tx.commit().await.expect("commit");
    let next = deploy(&target, "api", "v3", b"three").await;
    assert_eq!(next, last + 2, "revisions carry on after the imported ones");
    assert!(
        matches!(
            import::import(&source, &target).await,
            Err(StoreError::Conflict(_))
        ),
        "a store with data is not overwritten"
    );
}

/// A SQLite database made before migrations were numbered (and before the `config` column)
/// migrates on open, and its versions read with an empty configuration.
#[tokio::test]
async fn a_sqlite_database_from_before_migrations_is_migrated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("control.db");
    {
        let old_schema = schema::SQLITE[0].replace(
            ",\n    config              TEXT NOT NULL DEFAULT '{}'  -- JSON: VersionConfig",
            "",
        );
        assert_ne!(old_schema, schema::SQLITE[0], "the column is in the schema");
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(&old_schema).expect("old schema");
        conn.execute_batch(
            "INSERT INTO scripts VALUES ('old', 0);
             INSERT INTO bundles VALUES ('h', x'00');
             INSERT INTO versions (id, script, bundle, main_module, modules, size, vars,
                 secret_names, compatibility_date, routes, startup_time_ms, created_ms)
             VALUES ('v1', 'old', 'h', 'index.js', '[]', 1, '{}', '[]', NULL, '[]', 1.0, 0);",
        )
        .expect("an old version");
    }
    let spec = StoreSpec::Sqlite(path);
    let store = Store::open(&spec).await.expect("opens and migrates");
    let mut tx = store.read().await.expect("read");
    let versions = versions(&mut tx, "old").await.expect("reads");
    tx.commit().await.expect("commit");
    assert_eq!(versions.len(), 1);
    assert!(versions[0].crons.is_empty() && versions[0].bindings.is_empty());
    Store::open(&spec)
        .await
        .expect("opens again without migrating twice");
}
