//! What every request handler shares: the store, the tokens, the validation pool, the open
//! sync sessions (with the cron ticks queued for each), and the in-memory signals that wake
//! sync streams, node long-polls, tail subscribers and the cron scheduler. [`crate::replica`] keeps the signals in step with the other replicas.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use skiff_protocol::{ScheduledTick, TailEvent};
use skiff_runtime::WorkerPool;
use tokio::sync::{Notify, broadcast, mpsc, watch};

use crate::ControlConfig;
use crate::acks::Acks;
use crate::auth::Tokens;
use crate::replica::Replica;
use crate::store::Store;

/// How many log events a slow tail subscriber may fall behind before it misses some.
const TAIL_BUFFER: usize = 1024;

/// Tick deliveries a sync session remembers (to send each attempt once).
const MAX_DELIVERED: usize = 4096;

pub struct AppState {
    pub config: ControlConfig,
    pub store: Store,
    /// Node acks, written in batches.
    pub acks: Acks,
    /// This process among the control plane's replicas.
    pub replica: Replica,
    pub tokens: Arc<Tokens>,
    /// One thread; loads each upload once before it is accepted.
    pub pool: WorkerPool,
    /// The latest committed revision; sync streams wait on it.
    pub revision: watch::Sender<u64>,
    /// Bumped on every ack, node connect and disconnect; node long-polls wait on it.
    pub node_events: watch::Sender<u64>,
    /// Open sync streams per node id, on this replica.
    connected: Mutex<BTreeMap<String, usize>>,
    /// Open sync sessions by session id.
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Node requests refused for naming no open session or another node's.
    pub refused_node_requests: AtomicU64,
    /// Log events refused (their batch named a script that is not tailed, or another node).
    pub refused_log_events: AtomicU64,
    /// Log events from nodes, to tail subscribers.
    pub tail: broadcast::Sender<Arc<TailEvent>>,
    /// Open tail subscriptions per script, on this replica (the replica task stores them).
    pub tail_subscribers: watch::Sender<BTreeMap<String, usize>>,
    /// The scripts with at least one tail subscriber on any replica; sync streams wait on it.
    pub tailed: watch::Sender<Vec<String>>,
    /// Set when the control plane shuts down: open streams end.
    pub shutdown: watch::Sender<bool>,
    /// Update frames by the revision they start after, shared by the sync streams
    /// (`sync::shared_update`).
    pub updates: tokio::sync::Mutex<HashMap<u64, (u64, Option<Bytes>)>>,
    /// Wakes the cron scheduler (`cron.rs`): a tick was assigned or reported somewhere.
    pub scheduler_wake: Notify,
}

impl AppState {
    pub fn new(
        config: ControlConfig,
        store: Store,
        replica: Replica,
        tokens: Tokens,
        pool: WorkerPool,
        revision: u64,
    ) -> Self {
        Self {
            config,
            acks: Acks::start(store.clone()),
            store,
            replica,
            tokens: Arc::new(tokens),
            pool,
            revision: watch::Sender::new(revision),
            node_events: watch::Sender::new(0),
            connected: Mutex::default(),
            sessions: Mutex::default(),
            refused_node_requests: AtomicU64::new(0),
            refused_log_events: AtomicU64::new(0),
            tail: broadcast::Sender::new(TAIL_BUFFER),
            tail_subscribers: watch::Sender::new(BTreeMap::new()),
            tailed: watch::Sender::new(Vec::new()),
            shutdown: watch::Sender::new(false),
            updates: tokio::sync::Mutex::default(),
            scheduler_wake: Notify::new(),
        }
    }

    /// Announces a committed revision to the sync streams.
    pub fn published(&self, revision: u64) {
        self.revision.send_if_modified(|current| {
            if revision > *current {
                *current = revision;
                true
            } else {
                false
            }
        });
    }

    pub fn node_event(&self) {
        self.node_events.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Opens a sync session of `node` (which may acknowledge up to `acknowledgeable` from
    /// the start) and marks the node connected, until the guard is dropped.
    pub fn open_session(self: &Arc<Self>, node: &str, acknowledgeable: u64) -> SessionGuard {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            // No system randomness: still unique, though guessable by whoever holds the node
            // token (which can open sessions anyway).
            bytes = uuid::Uuid::new_v4().into_bytes();
        }
        let (ticks, scheduled) = mpsc::unbounded_channel();
        let session = Arc::new(Session {
            id: hex::encode(bytes),
            node: node.to_string(),
            sent: AtomicU64::new(acknowledgeable),
            ticks,
            delivered: Mutex::default(),
        });
        lock(&self.sessions).insert(session.id.clone(), session.clone());
        *lock(&self.connected).entry(node.to_string()).or_default() += 1;
        self.node_event();
        SessionGuard {
            state: self.clone(),
            session,
            scheduled: Some(scheduled),
        }
    }

    /// The open sync sessions of `node` on this replica.
    pub fn sessions_of(&self, node: &str) -> Vec<Arc<Session>> {
        lock(&self.sessions)
            .values()
            .filter(|session| session.node == node)
            .cloned()
            .collect()
    }

    /// The open session `id` of `node`, if there is one.
    pub fn session(&self, id: &str, node: &str) -> Option<Arc<Session>> {
        lock(&self.sessions)
            .get(id)
            .filter(|session| session.node == node)
            .cloned()
    }

    /// The nodes with a sync stream open on this replica.
    pub fn connected_nodes(&self) -> BTreeSet<String> {
        lock(&self.connected).keys().cloned().collect()
    }

    /// Counts a tail subscriber of `script` until the guard is dropped.
    pub fn tail_subscribed(self: &Arc<Self>, script: &str) -> TailGuard {
        self.tail_subscribers.send_modify(|subscribers| {
            *subscribers.entry(script.to_string()).or_default() += 1;
        });
        TailGuard {
            state: self.clone(),
            script: script.to_string(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn decrement(map: &mut BTreeMap<String, usize>, key: &str) {
    if let Some(count) = map.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            map.remove(key);
        }
    }
}

/// One open sync stream of a node: its id (sent to the node in the `x-skiff-session`
/// response header) and the newest revision sent to it, the most the node may acknowledge.
pub struct Session {
    pub id: String,
    pub node: String,
    sent: AtomicU64,
    /// Cron ticks for the stream to send.
    ticks: mpsc::UnboundedSender<ScheduledTick>,
    /// The (tick id, attempt) pairs sent on this stream already.
    delivered: Mutex<BTreeSet<(String, u64)>>,
}

impl Session {
    /// The newest revision the stream has sent (or that the node had when it subscribed).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    /// Records that the stream is about to send `revision`.
    pub fn sending(&self, revision: u64) {
        self.sent.fetch_max(revision, Ordering::AcqRel);
    }

    /// Queues attempt `attempt` of `tick` on the stream, unless this stream has had it.
    pub fn deliver(&self, tick: ScheduledTick, attempt: u64) {
        let mut delivered = lock(&self.delivered);
        if delivered.len() >= MAX_DELIVERED {
            // A long-lived stream forgets; a tick sent twice is run once (the node dedupes).
            delivered.clear();
        }
        if delivered.insert((tick.id.clone(), attempt)) {
            let _ = self.ticks.send(tick);
        }
    }
}

/// A node's open sync stream: its session is open and the node connected until it drops.
pub struct SessionGuard {
    state: Arc<AppState>,
    pub session: Arc<Session>,
    scheduled: Option<mpsc::UnboundedReceiver<ScheduledTick>>,
}

impl SessionGuard {
    /// The cron ticks queued for this stream (once; later calls get a closed channel).
    pub fn scheduled(&mut self) -> mpsc::UnboundedReceiver<ScheduledTick> {
        self.scheduled
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1)
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        lock(&self.state.sessions).remove(&self.session.id);
        let node = &self.session.node;
        let last = {
            let mut connected = lock(&self.state.connected);
            decrement(&mut connected, node);
            !connected.contains_key(node)
        };
        if last {
            crate::replica::node_left(&self.state, node);
        }
        self.state.node_event();
    }
}

/// An open tail subscription.
pub struct TailGuard {
    state: Arc<AppState>,
    script: String,
}

impl Drop for TailGuard {
    fn drop(&mut self) {
        self.state
            .tail_subscribers
            .send_modify(|subscribers| decrement(subscribers, &self.script));
    }
}
