//! The event stream: one subscription at a time, on one replica of the control plane at a
//! time, moving to the next replica with backoff whenever it ends; each event applied to the
//! registry, persisted and acknowledged, unless it would take the node backwards.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use skiff_protocol::{
    Bundle, SESSION_HEADER, ScriptState, SseParser, SyncEvent, TailEvent, ZONE_HEADER,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::client::ControlPlane;
use super::deploy::{needed_bundles, script_versions};
use super::scheduled::TickRunner;
use super::store::{SavedState, Store, secure_dir};
use super::tail::{TailSet, forward_logs};
use super::usage::Shipper;
use super::{SyncConfig, SyncError, SyncStatus};
use crate::kv::KvReplica;
use crate::registry::ScriptRegistry;
use crate::usage::Usage;

/// A subscription that hears nothing (not even a ping) for this long is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Reconnection delays: doubling from the first to the cap after each round of the replicas
/// that all failed, plus up to half again of jitter.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// The delay between attempts while the control plane refuses the node token.
const REFUSED_RETRY: Duration = Duration::from_secs(30);
/// A subscription that lasted this long (or applied an event) resets the backoff.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);
/// How long acknowledging a change waits for its new versions to boot.
pub(super) const WARM_BEFORE_ACK: Duration = Duration::from_secs(2);
/// Bounds of a single server-sent event (a snapshot carries every script's state).
const MAX_EVENT_BYTES: usize = 256 * 1024 * 1024;

/// Parses one event's data. Events of a type this node does not know (from a newer control
/// plane) are skipped; a malformed event of a known type is an error.
fn parse_event(data: &str) -> Result<Option<SyncEvent>, SyncError> {
    match serde_json::from_str(data) {
        Ok(event) => Ok(Some(event)),
        Err(err) => {
            let kind = serde_json::from_str::<serde_json::Value>(data)
                .ok()
                .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string));
            match kind.as_deref() {
                Some(kind) if !["snapshot", "update", "tail", "scheduled"].contains(&kind) => {
                    tracing::debug!(kind, "skipping a sync event of an unknown type");
                    Ok(None)
                }
                _ => Err(SyncError::Event(err.to_string())),
            }
        }
    }
}

/// Keeps the registry in step with the control plane.
pub(crate) struct SyncClient {
    control: ControlPlane,
    store: Store,
    registry: Arc<ScriptRegistry>,
    kv: Arc<KvReplica>,
    status: Arc<SyncStatus>,
    tailed: Arc<TailSet>,
    /// What the registry serves from sync, by script name.
    scripts: BTreeMap<String, ScriptState>,
    /// The revision applied and persisted.
    revision: u64,
    /// A subscription silent for this long is dropped.
    idle_timeout: Duration,
    /// The zone the node serves, named on the sync request (`None` if not a valid header).
    zone: Option<HeaderValue>,
    /// Runs the cron ticks the control plane gives this node.
    ticks: Arc<TickRunner>,
    /// Ships the usage aggregates (taken by [`SyncClient::spawn`]).
    shipper: Option<Shipper>,
    usage_period: Duration,
}

/// The running sync tasks of a node.
pub(crate) struct SyncTasks {
    stop: watch::Sender<bool>,
    sync: JoinHandle<()>,
    logs: JoinHandle<()>,
    usage: JoinHandle<()>,
}

impl SyncTasks {
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.sync.await;
        self.logs.abort();
        // It ships what is left, within its own bound.
        let _ = self.usage.await;
    }
}

/// The parts of the node the sync client keeps in step and feeds.
pub(crate) struct Serving {
    pub(crate) registry: Arc<ScriptRegistry>,
    pub(crate) kv: Arc<KvReplica>,
    pub(crate) tailed: Arc<TailSet>,
    pub(crate) usage: Arc<Usage>,
    /// How long a cron tick may run.
    pub(crate) wall_clock: Duration,
}

impl SyncClient {
    /// Loads the persisted state into `registry`. A script whose bundles are missing or
    /// damaged is left out, and the client then asks the control plane for a snapshot.
    pub(crate) fn restore(
        config: &SyncConfig,
        zone: &str,
        control: ControlPlane,
        serving: Serving,
    ) -> Result<Self, SyncError> {
        let Serving {
            registry,
            kv,
            tailed,
            usage,
            wall_clock,
        } = serving;
        let store = Store {
            dir: config.data_dir.clone(),
        };
        secure_dir(&store.dir)?;
        let saved = match store.load_state() {
            Ok(saved) => saved,
            Err(err) => {
                tracing::warn!(%err, "cannot read the persisted sync state; starting empty");
                SavedState::default()
            }
        };
        let mut revision = saved.revision;
        let mut scripts = BTreeMap::new();
        let mut changes = Vec::new();
        for state in saved.scripts {
            let name = state.name.clone();
            let versions = needed_bundles(&name, &state).and_then(|hashes| {
                let bundles = hashes
                    .into_iter()
                    .map(|hash| Ok((hash.clone(), store.read_bundle_blocking(&hash)?)))
                    .collect::<Result<HashMap<_, _>, SyncError>>()?;
                script_versions(&name, &state, &bundles)
            });
            match versions {
                Ok(versions) => {
                    changes.push((name.clone(), Some(versions)));
                    scripts.insert(name, state);
                }
                Err(err) => {
                    tracing::warn!(script = %name, %err, "cannot restore the script; asking for a snapshot");
                    revision = 0;
                }
            }
        }
        tracing::info!(
            revision,
            scripts = scripts.len(),
            "restored the persisted sync state"
        );
        registry.apply(changes);
        let status = Arc::new(SyncStatus::default());
        status.revision.store(revision, Ordering::Relaxed);
        let zone = HeaderValue::from_str(&zone.to_ascii_lowercase())
            .inspect_err(|_| {
                tracing::warn!(zone, "the zone is not a valid header value; not sending it")
            })
            .ok();
        let ticks = Arc::new(TickRunner::new(registry.clone(), usage.clone(), wall_clock));
        let shipper = Shipper::new(control.clone(), usage, &config.node_id);
        Ok(Self {
            ticks,
            shipper: Some(shipper),
            usage_period: config.usage_period,
            control,
            store,
            registry,
            kv,
            status,
            tailed,
            scripts,
            revision,
            idle_timeout: IDLE_TIMEOUT,
            zone,
        })
    }

    pub(crate) fn status(&self) -> Arc<SyncStatus> {
        self.status.clone()
    }

    /// Starts the subscription and the tail forwarder.
    pub(crate) fn spawn(mut self, tail_events: mpsc::Receiver<TailEvent>) -> SyncTasks {
        let (stop, stop_rx) = watch::channel(false);
        let logs = tokio::spawn(forward_logs(self.control.clone(), tail_events));
        let usage = match self.shipper.take() {
            Some(shipper) => tokio::spawn(shipper.run(self.usage_period, stop_rx.clone())),
            None => tokio::spawn(async {}),
        };
        let sync = tokio::spawn(self.run(stop_rx));
        SyncTasks {
            stop,
            sync,
            logs,
            usage,
        }
    }

    /// Subscribes, applies events, and moves to the next replica with backoff whenever the
    /// subscription ends, until `stop` flips.
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = BACKOFF_FIRST;
        // Subscriptions that ended in a row without being healthy; each full round of the
        // replicas doubles the backoff, so that one replica down does not slow reaching the
        // others.
        let mut failures = 0;
        loop {
            let started = Instant::now();
            let mut applied = false;
            let control = self.control.replica();
            let result = tokio::select! {
                result = self.session(&mut applied) => result,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            self.status.set_control(None);
            self.control.next_replica();
            let err = match result {
                Ok(never) => match never {},
                Err(err) => err,
            };
            if applied || started.elapsed() >= HEALTHY_SESSION {
                backoff = BACKOFF_FIRST;
                failures = 0;
            }
            let delay = if let SyncError::Refused(_) | SyncError::Enroll(_) = err {
                tracing::error!(%err, %control, "config sync cannot subscribe; retrying in {REFUSED_RETRY:?}");
                REFUSED_RETRY
            } else {
                let jitter = backoff.mul_f64(fastrand::f64() / 2.0);
                tracing::warn!(%err, revision = self.revision, %control, "config sync interrupted; reconnecting");
                let delay = backoff + jitter;
                failures += 1;
                if failures % self.control.replica_count() == 0 {
                    backoff = (backoff * 2).min(BACKOFF_CAP);
                }
                delay
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One subscription to the replica in use, from connect to the error that ends it.
    async fn session(&mut self, applied: &mut bool) -> Result<Infallible, SyncError> {
        self.control.ensure_enrolled().await?;
        let control = self.control.replica();
        let mut request = self
            .control
            .request(
                reqwest::Method::GET,
                &format!("/v1/sync?since={}", self.revision),
            )
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(zone) = &self.zone {
            request = request.header(ZONE_HEADER, zone.clone());
        }
        self.control.set_session(None);
        let response = match self.control.send("the sync subscription", request).await {
            Err(SyncError::Refused(StatusCode::UNAUTHORIZED)) if self.control.enrolled() => {
                // The control plane no longer knows this node's credential: an admin deleted
                // the node. It enrolls again, as a node that was forgotten syncs again.
                tracing::warn!("the control plane refused this node's credential; enrolling again");
                self.control.forget_credential().await?;
                return Err(SyncError::Closed);
            }
            result => result?,
        };
        let session = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        if session.is_none() {
            tracing::warn!(
                "the control plane named no sync session; its bundles, acks and logs may be refused"
            );
        }
        self.control.set_session(session);
        self.status.set_control(Some(&control));
        // The control plane repeats the tailed set on connect when it is not empty.
        self.tailed.set([]);
        tracing::info!(since = self.revision, %control, "config sync connected");
        if self.status.acked_revision() < self.revision {
            self.ack().await;
        }
        let mut body = response.bytes_stream();
        let mut parser = SseParser::new(MAX_EVENT_BYTES);
        loop {
            let chunk = match tokio::time::timeout(self.idle_timeout, body.next()).await {
                Err(_) => return Err(SyncError::Idle(self.idle_timeout)),
                Ok(None) => return Err(SyncError::Closed),
                Ok(Some(chunk)) => chunk?,
            };
            for data in parser.push(&chunk).map_err(SyncError::Event)? {
                let Some(event) = parse_event(&data)? else {
                    continue;
                };
                let changes_config = !matches!(event, SyncEvent::Tail { .. });
                self.handle(event).await?;
                *applied |= changes_config;
            }
        }
    }

    async fn handle(&mut self, event: SyncEvent) -> Result<(), SyncError> {
        match event {
            // A replica behind this node (or a control plane restored from an old backup):
            // applying it would undo changes the node already serves and acknowledged.
            SyncEvent::Snapshot { revision, .. } | SyncEvent::Update { revision, .. }
                if revision < self.revision =>
            {
                self.status.count_refused_backwards();
                Err(SyncError::Behind {
                    revision,
                    applied: self.revision,
                })
            }
            SyncEvent::Scheduled(tick) => {
                self.ticks.start(tick, self.control.clone());
                Ok(())
            }
            SyncEvent::Tail { scripts } => {
                tracing::info!(?scripts, "tailed scripts");
                self.tailed.set(scripts);
                Ok(())
            }
            SyncEvent::Snapshot {
                revision,
                scripts,
                kv,
            } => {
                // KV first: once the scripts' state is persisted at `revision`, the replica
                // must hold everything up to it too.
                self.kv
                    .replace(revision, &kv)
                    .map_err(|err| SyncError::Event(err.to_string()))?;
                let next = scripts.into_iter().map(|s| (s.name.clone(), s)).collect();
                self.apply(revision, next).await
            }
            SyncEvent::Update {
                revision,
                changes,
                kv,
            } => {
                self.kv
                    .apply(&kv)
                    .map_err(|err| SyncError::Event(err.to_string()))?;
                let mut next = self.scripts.clone();
                for change in changes {
                    match change.state {
                        Some(state) => next.insert(change.name, state),
                        None => next.remove(&change.name),
                    };
                }
                self.apply(revision, next).await
            }
        }
    }

    /// Makes `next` what the node serves at `revision`: fetches the missing bundles, swaps
    /// every changed script at once, persists, acknowledges.
    async fn apply(
        &mut self,
        revision: u64,
        next: BTreeMap<String, ScriptState>,
    ) -> Result<(), SyncError> {
        let names: BTreeSet<&String> = self.scripts.keys().chain(next.keys()).collect();
        let changed: Vec<(&String, Option<&ScriptState>)> = names
            .into_iter()
            .filter(|name| self.scripts.get(*name) != next.get(*name))
            .map(|name| (name, next.get(name)))
            .collect();
        if changed.is_empty() {
            // Only KV changed (already applied): persist the revision and acknowledge it.
            self.persist(revision, 0).await?;
            self.ack().await;
            return Ok(());
        }

        let mut hashes = BTreeSet::new();
        for (name, state) in &changed {
            if let Some(state) = state {
                hashes.extend(needed_bundles(name, state)?);
            }
        }
        let mut bundles = HashMap::new();
        for hash in hashes {
            let bundle = self.bundle(&hash).await?;
            bundles.insert(hash, bundle);
        }
        let mut changes = Vec::with_capacity(changed.len());
        for (name, state) in &changed {
            let versions = match state {
                Some(state) => Some(script_versions(name, state, &bundles)?),
                None => None,
            };
            changes.push(((*name).clone(), versions));
        }
        let warm: Vec<String> = changes
            .iter()
            .filter(|(_, versions)| versions.is_some())
            .map(|(name, _)| name.clone())
            .collect();

        self.registry.apply(changes);
        self.scripts = next;
        // On failure the registry already serves `next`; reconnecting from the old revision
        // makes the control plane resend it, which finds nothing to change and persists again.
        self.persist(revision, warm.len()).await?;
        let keep = self
            .scripts
            .iter()
            .flat_map(|(name, state)| needed_bundles(name, state).unwrap_or_default())
            .collect();
        self.store.prune_bundles(keep).await;

        // Boot the new versions before acknowledging, so that "live on every node" means the
        // next request finds a ready isolate (with the warm pool, a few milliseconds each). A
        // slow boot does not hold the ack back for long: it goes on in the background.
        if !warm.is_empty() {
            let registry = self.registry.clone();
            let boots = tokio::spawn(async move {
                futures::future::join_all(warm.iter().map(|name| registry.warm(name))).await;
            });
            let _ = tokio::time::timeout(WARM_BEFORE_ACK, boots).await;
        }
        self.ack().await;
        Ok(())
    }

    /// Persists the scripts served now as the state at `revision`, which is then the applied
    /// one (recorded in the status's history when it is new); `changed` scripts changed.
    async fn persist(&mut self, revision: u64, changed: usize) -> Result<(), SyncError> {
        let saved = SavedState {
            revision,
            scripts: self.scripts.values().cloned().collect(),
        };
        self.store.save_state(&saved).await?;
        if revision != self.revision {
            let at_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            self.status.record_applied(revision, at_ms);
            tracing::info!(
                revision,
                control = %self.control.replica(),
                changed,
                scripts = self.scripts.len(),
                "applied revision"
            );
        }
        self.revision = revision;
        Ok(())
    }

    /// The bundle `hash`, from the data directory or fetched, verified and stored.
    async fn bundle(&self, hash: &str) -> Result<Bundle, SyncError> {
        if let Some(bundle) = self.store.read_bundle(hash).await {
            return Ok(bundle);
        }
        let bytes = self.control.fetch_bundle(hash).await?;
        let bundle = Bundle::from_verified_bytes(&bytes, hash).map_err(SyncError::Bundle)?;
        self.store.write_bundle(hash, bytes).await?;
        Ok(bundle)
    }

    /// Acknowledges the applied revision; a failure is logged and retried on reconnect.
    async fn ack(&self) {
        match self.control.ack(self.revision).await {
            Ok(()) => self.status.acked.store(self.revision, Ordering::Relaxed),
            Err(err) => tracing::warn!(%err, revision = self.revision, "ack failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;

    /// A control plane that accepts sync subscriptions, answers their headers and then stays
    /// silent; counts the subscriptions and keeps the last request head.
    async fn silent_control_plane() -> (String, Arc<AtomicU64>, Arc<std::sync::Mutex<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let subscriptions = Arc::new(AtomicU64::new(0));
        let head = Arc::new(std::sync::Mutex::new(String::new()));
        let (counter, last_head) = (subscriptions.clone(), head.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (counter, last_head) = (counter.clone(), last_head.clone());
                tokio::spawn(async move {
                    let mut request = [0; 4096];
                    let read = stream.read(&mut request).await.unwrap_or(0);
                    *last_head.lock().expect("head") =
                        String::from_utf8_lossy(&request[..read]).to_ascii_lowercase();
                    counter.fetch_add(1, Ordering::Relaxed);
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    let _ = stream.write_all(head.as_bytes()).await;
                    // Hold the connection open, saying nothing.
                    let _ = stream.read(&mut request).await;
                });
            }
        });
        (url, subscriptions, head)
    }

    /// A client of `config` (enrolled already: every request is a subscription) whose
    /// subscriptions are dropped after 200 ms of silence, with its status.
    fn silent_client(config: &SyncConfig, zone: &str) -> (SyncClient, Arc<SyncStatus>) {
        std::fs::write(config.data_dir.join("node-credential"), "credential").expect("credential");
        let registry = Arc::new(ScriptRegistry::new(
            skiff_runtime::WorkerPool::new(1).expect("pool"),
            crate::registry::IsolateDefaults {
                outbound: Default::default(),
                wait_until: Duration::from_secs(1),
                limits: Default::default(),
                log: Arc::new(|_| {}),
                bindings: Default::default(),
            },
            Default::default(),
        ));
        let control = ControlPlane::new(config).expect("client");
        let kv = Arc::new(KvReplica::in_memory().expect("replica"));
        let serving = Serving {
            registry,
            kv,
            tailed: Arc::default(),
            usage: Arc::default(),
            wall_clock: Duration::from_secs(30),
        };
        let mut client = SyncClient::restore(config, zone, control, serving).expect("restores");
        client.idle_timeout = Duration::from_millis(200);
        let status = client.status();
        (client, status)
    }

    #[tokio::test]
    async fn a_silent_subscription_is_dropped_and_renewed() {
        let (url, subscriptions, head) = silent_control_plane().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = SyncConfig::new(url, "token", dir.path()).expect("config");
        let (client, status) = silent_client(&config, "Edge.Example");
        let (_queue, events) = mpsc::channel(1);
        let tasks = client.spawn(events);
        let deadline = Instant::now() + Duration::from_secs(10);
        while subscriptions.load(Ordering::Relaxed) < 3 {
            assert!(Instant::now() < deadline, "no renewed subscription");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(status.revision(), 0);
        let head = head.lock().expect("head").clone();
        assert!(head.starts_with("get /v1/sync?since=0 "), "{head}");
        assert!(
            head.contains(&format!("{ZONE_HEADER}: edge.example\r\n")),
            "the zone is named: {head}"
        );
        tasks.stop().await;
    }

    #[tokio::test]
    async fn subscriptions_go_round_the_replicas() {
        let (first, first_count, _) = silent_control_plane().await;
        let (second, second_count, _) = silent_control_plane().await;
        let dead = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}", listener.local_addr().expect("addr"))
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let config =
            SyncConfig::with_replicas([first, dead, second], "token", dir.path()).expect("config");
        let (client, _status) = silent_client(&config, "localhost");
        let (_queue, events) = mpsc::channel(1);
        let tasks = client.spawn(events);
        let deadline = Instant::now() + Duration::from_secs(10);
        while first_count.load(Ordering::Relaxed) < 2 || second_count.load(Ordering::Relaxed) < 2 {
            assert!(
                Instant::now() < deadline,
                "not every live replica was tried twice"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // In order: first, dead, second, first, ...: the first is never more than one ahead.
        let (first, second) = (
            first_count.load(Ordering::Relaxed),
            second_count.load(Ordering::Relaxed),
        );
        assert!(first == second || first == second + 1, "{first} {second}");
        tasks.stop().await;
    }

    #[test]
    fn a_sync_config_needs_a_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let none: [&str; 0] = [];
        assert!(matches!(
            SyncConfig::with_replicas(none, "token", dir.path()),
            Err(SyncError::NoControlUrl)
        ));
        assert!(matches!(
            SyncConfig::with_replicas(["http://a", " "], "token", dir.path()),
            Err(SyncError::NoControlUrl)
        ));
        let config = SyncConfig::with_replicas(["http://a/", "http://b"], "token", dir.path())
            .expect("config");
        assert_eq!(config.control_urls, ["http://a", "http://b"]);
    }

    #[test]
    fn unknown_event_types_are_skipped() {
        let tail = parse_event(r#"{"type":"tail","scripts":["a"]}"#).expect("parses");
        assert!(matches!(tail, Some(SyncEvent::Tail { .. })));
        assert!(matches!(parse_event(r#"{"type":"drain"}"#), Ok(None)));
        assert!(parse_event(r#"{"type":"update","revision":"x"}"#).is_err());
        assert!(parse_event("not json").is_err());
    }
}
