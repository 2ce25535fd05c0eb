//! This process among the control plane's replicas: how what one replica does reaches the
//! others, and how each replica shows that it is alive.
//!
//! A replica *announces* a note ([`announce`]): on PostgreSQL with `NOTIFY`, which every
//! replica's listener hears (this one's too); on SQLite, where there is only this replica,
//! straight to its own task. The replica task ([`spawn`]) acts on each note:
//!
//! - `revision:N`: wake the sync streams (a change committed on some replica);
//! - `nodes`: wake the node long polls (an ack, a node connected or left);
//! - `tail`: read again which scripts are tailed on any replica, for the sync streams;
//! - `log:ID`: pass the stored batch of log events ID to this replica's tail subscribers;
//! - `revoke:NODE`: stop accepting that node's credential;
//! - `scheduled`: a cron tick was assigned or reported: wake the scheduler ([`crate::cron`]),
//!   which delivers the ticks of this replica's nodes.
//!
//! A notification can be lost (the listener's connection dropped), so every second the task
//! also reads the latest revision and the tailed scripts, and writes this replica's heartbeat
//! (which keeps its nodes "seen"). A replica whose heartbeat is older than
//! [`REPLICA_GONE`] is gone: its nodes no longer count as connected.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use skiff_protocol::TailEvent;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::StoreError;
use crate::state::AppState;
use crate::store::{self, Store, Tx, args};

/// How often a replica writes its heartbeat and catches up on what it may have missed.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A replica silent for this long is gone. Its nodes' "last seen" is its last heartbeat.
pub const REPLICA_GONE: Duration = Duration::from_secs(5);

/// Gone replicas and old log events are deleted after this long.
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// This replica: its id (new at every start), the URL nodes and admins reach it at, and the
/// channel its notes arrive on.
pub struct Replica {
    pub id: String,
    pub url: String,
    bus: mpsc::UnboundedSender<Option<String>>,
}

/// The receiving end of a replica's notes; `None` means some may have been missed.
pub type Notes = mpsc::UnboundedReceiver<Option<String>>;

impl Replica {
    pub fn new(url: String) -> (Self, Notes) {
        let (bus, notes) = mpsc::unbounded_channel();
        let replica = Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            url,
            bus,
        };
        (replica, notes)
    }
}

/// Tells every replica (this one included) `note`.
pub fn announce(state: &AppState, note: String) {
    match &state.store {
        Store::Sqlite(_) => {
            let _ = state.replica.bus.send(Some(note));
        }
        Store::Postgres(_) => {
            let store = state.store.clone();
            tokio::spawn(async move {
                if let Err(err) = notify(&store, &note).await {
                    tracing::warn!(error = %err, %note, "could not notify the other replicas");
                }
            });
        }
    }
}

async fn notify(store: &Store, note: &str) -> Result<(), StoreError> {
    let mut tx = store.bookkeeping().await?;
    notify_in(&mut tx, note).await?;
    tx.commit().await
}

/// Sends `note` to every replica when `tx` (on PostgreSQL) commits.
pub async fn notify_in(tx: &mut Tx, note: &str) -> Result<(), StoreError> {
    tx.execute(
        "SELECT pg_notify($1, $2)",
        args![store::postgres::CHANNEL, note],
    )
    .await?;
    Ok(())
}

/// Records that `node`'s last sync stream on this replica closed.
pub fn node_left(state: &Arc<AppState>, node: &str) {
    let state = state.clone();
    let node = node.to_string();
    tokio::spawn(async move {
        let result = async {
            let mut tx = state.store.bookkeeping().await?;
            store::nodes::node_disconnected(&mut tx, &node, &state.replica.id).await?;
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => announce(&state, "nodes".into()),
            Err(err) => {
                tracing::warn!(node = %node, error = %err, "could not record a node leaving")
            }
        }
    });
}

/// Writes this replica's heartbeat (before it serves anything, and then every second).
pub async fn heartbeat(state: &AppState) -> Result<(), StoreError> {
    let mut tx = state.store.bookkeeping().await?;
    store::nodes::heartbeat(&mut tx, &state.replica.id, &state.replica.url).await?;
    tx.commit().await
}

/// Leaves the replicas: this one's nodes are no longer connected, its tail subscriptions end.
pub async fn leave(state: &AppState) -> Result<(), StoreError> {
    let mut tx = state.store.bookkeeping().await?;
    let id = &state.replica.id;
    tx.execute(
        "DELETE FROM tail_subscriptions WHERE replica = $1",
        args![id],
    )
    .await?;
    tx.execute(
        "UPDATE nodes SET replica = NULL, last_seen_ms = $2 WHERE replica = $1",
        args![id, store::now_ms()],
    )
    .await?;
    tx.execute("DELETE FROM replicas WHERE id = $1", args![id])
        .await?;
    tx.commit().await?;
    if let Store::Postgres(_) = state.store {
        notify(&state.store, "nodes").await?;
        notify(&state.store, "tail").await?;
    }
    Ok(())
}

/// Starts the replica task (and, on PostgreSQL, its listener); both end when the control
/// plane shuts down.
pub fn spawn(state: Arc<AppState>, notes: Notes) -> JoinHandle<()> {
    if let Store::Postgres(pg) = &state.store {
        tokio::spawn(pg.clone().listen(state.replica.bus.clone()));
    }
    tokio::spawn(run(state, notes))
}

async fn run(state: Arc<AppState>, mut notes: Notes) {
    let mut shutdown = state.shutdown.subscribe();
    let mut subscriptions = state.tail_subscribers.subscribe();
    let mut ticker = tokio::time::interval(HEARTBEAT);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        let result = tokio::select! {
            _ = crate::sync::stopped(&mut shutdown) => break,
            note = notes.recv() => match note {
                Some(note) => on_note(&state, note).await,
                None => break,
            },
            changed = subscriptions.changed() => {
                if changed.is_err() {
                    break;
                }
                let scripts = subscriptions.borrow_and_update().clone();
                store_subscriptions(&state, &scripts).await
            }
            _ = ticker.tick() => {
                ticks += 1;
                on_tick(&state, ticks).await
            }
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "replica bookkeeping failed; retrying on the next beat");
        }
    }
}

async fn on_note(state: &AppState, note: Option<String>) -> Result<(), StoreError> {
    let Some(note) = note else {
        // Notifications may have been missed: catch up on everything they carry.
        state.tokens.forget_credentials();
        state.node_event();
        return catch_up(state).await;
    };
    let (kind, arg) = note.split_once(':').unwrap_or((note.as_str(), ""));
    match kind {
        "revision" => {
            if let Ok(revision) = arg.parse() {
                state.published(revision);
            }
        }
        "nodes" => state.node_event(),
        "tail" => refresh_tailed(state).await?,
        "log" => {
            if let Ok(id) = arg.parse() {
                deliver_logs(state, id).await?;
            }
        }
        "revoke" => state.tokens.revoke(arg),
        "scheduled" => state.scheduler_wake.notify_one(),
        _ => tracing::debug!(%note, "ignoring a note of an unknown kind"),
    }
    Ok(())
}

async fn on_tick(state: &AppState, ticks: u64) -> Result<(), StoreError> {
    heartbeat(state).await?;
    catch_up(state).await?;
    if ticks.is_multiple_of(30) {
        let mut tx = state.store.bookkeeping().await?;
        store::nodes::forget_stale(&mut tx, FORGET_AFTER.as_millis() as u64).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Reads the latest revision and the tailed scripts.
async fn catch_up(state: &AppState) -> Result<(), StoreError> {
    let mut tx = state.store.read().await?;
    let revision = store::current_revision(&mut tx).await?;
    tx.commit().await?;
    state.published(revision);
    refresh_tailed(state).await
}

async fn refresh_tailed(state: &AppState) -> Result<(), StoreError> {
    let mut tx = state.store.read().await?;
    let scripts = store::nodes::tailed_scripts(&mut tx, REPLICA_GONE.as_millis() as u64).await?;
    tx.commit().await?;
    state.tailed.send_if_modified(|current| {
        if *current != scripts {
            *current = scripts;
            true
        } else {
            false
        }
    });
    Ok(())
}

async fn store_subscriptions(
    state: &AppState,
    scripts: &BTreeMap<String, usize>,
) -> Result<(), StoreError> {
    let mut tx = state.store.bookkeeping().await?;
    store::nodes::set_tail_subscriptions(&mut tx, &state.replica.id, scripts).await?;
    tx.commit().await?;
    announce(state, "tail".into());
    Ok(())
}

/// Passes log events from nodes to this replica's tail subscribers: straight away on SQLite,
/// through the store (so that every replica's subscribers get them) on PostgreSQL.
pub async fn publish_logs(state: &AppState, events: Vec<TailEvent>) -> Result<(), StoreError> {
    match state.store {
        Store::Sqlite(_) => {
            for event in events {
                // No subscriber is not an error: the events are simply not wanted.
                let _ = state.tail.send(Arc::new(event));
            }
        }
        Store::Postgres(_) => {
            let batch = serde_json::to_string(&events)?;
            let script = events.first().map_or("", |e| e.script.as_str());
            let mut tx = state.store.bookkeeping().await?;
            let id = store::nodes::add_tail_event(&mut tx, script, &batch).await?;
            tx.commit().await?;
            announce(state, format!("log:{id}"));
        }
    }
    Ok(())
}

async fn deliver_logs(state: &AppState, id: i64) -> Result<(), StoreError> {
    if state.tail.receiver_count() == 0 {
        return Ok(());
    }
    let mut tx = state.store.read().await?;
    let batch = store::nodes::tail_event(&mut tx, id).await?;
    tx.commit().await?;
    let Some(batch) = batch else {
        return Ok(());
    };
    for event in serde_json::from_str::<Vec<TailEvent>>(&batch)? {
        let _ = state.tail.send(Arc::new(event));
    }
    Ok(())
}
