//! Config sync: the client that keeps a node's scripts in step with the control plane.
//!
//! The node holds one long-lived `GET /v1/sync?since=R` (server-sent events, see the
//! `skiff-protocol` crate's `PROTOCOL.md`), where R is the last revision it applied and
//! persisted. For each `snapshot` or `update` it fetches the bundles it lacks by sha256
//! (`/v1/bundles/{hash}`), verifies and stores them under `DATA_DIR/bundles/`, and only once
//! every bundle of the event is present swaps the deployments in the [`ScriptRegistry`] (one
//! lock for the whole event), persists `DATA_DIR/state.json` atomically and acknowledges the
//! revision. A failed fetch applies nothing and reconnects from the old revision. The new
//! versions' isolates boot in the background after the swap; acks do not wait for them.
//!
//! At start the node loads the persisted state first, so it serves what it had even when the
//! control plane is unreachable. Log events of the scripts named by the latest `tail` event
//! are forwarded to `POST /v1/logs` in batches.
//!
//! The sync stream's answer names a session (`x-skiff-session`); bundle fetches, acks and log
//! posts carry it, and the control plane refuses them without it. The data directory holds
//! the scripts' secrets (in `state.json`): it is made 0700 and its files 0600 at every start,
//! whatever the umask, and every file is written 0600. An `https://` control plane is checked
//! against the built-in web roots, or against [`SyncConfig::control_ca`] when it is set.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use skiff_protocol::{
    Ack, Bundle, NODE_ID_HEADER, SESSION_HEADER, ScriptState, SseParser, SyncEvent, TailEvent,
};
use skiff_runtime::{LogEvent, ScriptBundle};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::registry::{Deployment, LogHook, ScriptRegistry};

/// A subscription that hears nothing (not even a ping) for this long is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Reconnection delays: doubling from the first to the cap, plus up to half again of jitter.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// The delay between attempts while the control plane refuses the node token.
const REFUSED_RETRY: Duration = Duration::from_secs(30);
/// A subscription that lasted this long (or applied an event) resets the backoff.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);
/// How long acknowledging a change waits for its new versions to boot.
const WARM_BEFORE_ACK: Duration = Duration::from_secs(2);
/// Bounds of a single server-sent event (a snapshot carries every script's state).
const MAX_EVENT_BYTES: usize = 256 * 1024 * 1024;
/// Time limit of a bundle fetch, an ack and a log batch.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Tail forwarding: queued events (beyond them, events are dropped), batch size and period.
const TAIL_QUEUE: usize = 4096;
const TAIL_BATCH: usize = 100;
const TAIL_PERIOD: Duration = Duration::from_millis(100);

/// How a node reaches the control plane.
#[derive(Clone)]
pub struct SyncConfig {
    /// Base URL of the control plane, e.g. `http://127.0.0.1:8700`.
    pub control_url: String,
    /// The node token (`Authorization: Bearer`).
    pub node_token: String,
    /// Where the node keeps `state.json`, `bundles/` and `node-id`.
    pub data_dir: PathBuf,
    /// The node's name towards the control plane (`x-skiff-node`); see
    /// [`load_or_create_node_id`].
    pub node_id: String,
    /// PEM certificates to trust for an `https://` control plane, besides the built-in roots
    /// (a private CA, or the control plane's self-signed certificate).
    pub control_ca: Option<Vec<u8>>,
}

impl SyncConfig {
    /// A configuration whose node id is the one stored in `data_dir` (created on first use).
    pub fn new(
        control_url: impl Into<String>,
        node_token: impl Into<String>,
        data_dir: impl Into<PathBuf>,
    ) -> Result<Self, SyncError> {
        let data_dir = data_dir.into();
        let node_id = load_or_create_node_id(&data_dir)?;
        Ok(Self {
            control_url: control_url.into(),
            node_token: node_token.into(),
            data_dir,
            node_id,
            control_ca: None,
        })
    }

    /// Trusts the PEM certificates in `pem` for the control plane's TLS.
    pub fn with_control_ca(mut self, pem: Vec<u8>) -> Self {
        self.control_ca = Some(pem);
        self
    }
}

impl std::fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncConfig")
            .field("control_url", &self.control_url)
            .field("node_token", &"<redacted>")
            .field("data_dir", &self.data_dir)
            .field("node_id", &self.node_id)
            .field("control_ca", &self.control_ca.is_some())
            .finish()
    }
}

/// Config sync failed; the client logs it and reconnects.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    State { path: PathBuf, message: String },
    #[error("control plane unreachable: {0}")]
    Http(#[from] reqwest::Error),
    #[error(
        "the control plane refused the node token ({0}); check --node-token-file or SKIFF_NODE_TOKEN"
    )]
    Refused(StatusCode),
    #[error("the control plane answered {status} to {what}")]
    Status { what: String, status: StatusCode },
    #[error("{0}")]
    Bundle(String),
    #[error("the control plane CA certificates: {0}")]
    Ca(String),
    #[error("malformed sync event: {0}")]
    Event(String),
    #[error("no sync event or ping for {0:?}")]
    Idle(Duration),
    #[error("the control plane closed the sync stream")]
    Closed,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SyncError + '_ {
    move |source| SyncError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the node id from `DATA_DIR/node-id`, or creates it (32 random hex digits) so that the
/// node keeps its name across restarts.
pub fn load_or_create_node_id(data_dir: &Path) -> Result<String, SyncError> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_error(&path)(err)),
    }
    secure_dir(data_dir)?;
    let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    write_atomically_blocking(&path, id.as_bytes())?;
    Ok(id)
}

/// The mode of the data directory and its subdirectories.
const DIR_MODE: u32 = 0o700;
/// The mode of every file in the data directory.
const FILE_MODE: u32 = 0o600;

/// Creates `dir` if needed and makes it and what is in it private: directories 0700 and
/// files 0600, one level of subdirectories deep (`bundles/`).
fn secure_dir(dir: &Path) -> Result<(), SyncError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir).map_err(io_error(dir))?;
    set_mode(dir, DIR_MODE)?;
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_error(&path))?;
        if kind.is_file() {
            set_mode(&path, FILE_MODE)?;
        } else if kind.is_dir() {
            set_mode(&path, DIR_MODE)?;
            for inner in std::fs::read_dir(&path).map_err(io_error(&path))? {
                let inner = inner.map_err(io_error(&path))?;
                if inner.file_type().is_ok_and(|kind| kind.is_file()) {
                    set_mode(&inner.path(), FILE_MODE)?;
                }
            }
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), SyncError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(io_error(path))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The subscription as metrics and tests see it.
#[derive(Debug, Default)]
pub struct SyncStatus {
    revision: AtomicU64,
    acked: AtomicU64,
    connected: AtomicBool,
}

impl SyncStatus {
    /// The revision the node applied and persisted.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Relaxed)
    }

    /// The last revision the control plane accepted an ack for.
    pub fn acked_revision(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Whether the sync stream is open now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// What `DATA_DIR/state.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SavedState {
    revision: u64,
    scripts: Vec<ScriptState>,
}

/// The node's data directory: `state.json` and `bundles/<sha256>.json`.
#[derive(Clone)]
struct Store {
    dir: PathBuf,
}

impl Store {
    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn bundles_dir(&self) -> PathBuf {
        self.dir.join("bundles")
    }

    fn bundle_path(&self, hash: &str) -> PathBuf {
        self.bundles_dir().join(format!("{hash}.json"))
    }

    /// The persisted state; empty when there is none yet.
    fn load_state(&self) -> Result<SavedState, SyncError> {
        let path = self.state_path();
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SavedState::default());
            }
            Err(err) => return Err(io_error(&path)(err)),
        };
        serde_json::from_slice(&text).map_err(|err| SyncError::State {
            path,
            message: err.to_string(),
        })
    }

    /// A stored bundle, verified again; `None` if absent or damaged.
    async fn read_bundle(&self, hash: &str) -> Option<Bundle> {
        let bytes = tokio::fs::read(self.bundle_path(hash)).await.ok()?;
        match Bundle::from_verified_bytes(&bytes, hash) {
            Ok(bundle) => Some(bundle),
            Err(message) => {
                tracing::warn!(%message, "stored bundle is damaged; fetching it again");
                None
            }
        }
    }

    fn read_bundle_blocking(&self, hash: &str) -> Result<Bundle, SyncError> {
        let path = self.bundle_path(hash);
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        Bundle::from_verified_bytes(&bytes, hash)
            .map_err(|message| SyncError::State { path, message })
    }

    async fn write_bundle(&self, hash: &str, bytes: Vec<u8>) -> Result<(), SyncError> {
        let dir = self.bundles_dir();
        let mut builder = tokio::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(DIR_MODE);
        builder.create(&dir).await.map_err(io_error(&dir))?;
        write_atomically(self.bundle_path(hash), bytes).await
    }

    async fn save_state(&self, state: &SavedState) -> Result<(), SyncError> {
        let bytes = serde_json::to_vec(state).map_err(|err| SyncError::State {
            path: self.state_path(),
            message: err.to_string(),
        })?;
        write_atomically(self.state_path(), bytes).await
    }

    /// Deletes stored bundles that `keep` does not name (best effort).
    async fn prune_bundles(&self, keep: HashSet<String>) {
        let dir = self.bundles_dir();
        let _ = tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let hash = name.strip_suffix(".json").unwrap_or(&name);
                if !keep.contains(hash) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        })
        .await;
    }
}

/// Writes `path` through `path.tmp`, fsync and rename, so that a crash leaves the old file or
/// the new one.
async fn write_atomically(path: PathBuf, bytes: Vec<u8>) -> Result<(), SyncError> {
    tokio::task::spawn_blocking(move || write_atomically_blocking(&path, &bytes))
        .await
        .map_err(|err| SyncError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(err),
        })?
}

fn write_atomically_blocking(path: &Path, bytes: &[u8]) -> Result<(), SyncError> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // The state holds the scripts' secrets: readable by the node's user only (also when a
    // stale temporary file was left with another mode).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
            .map_err(io_error(&tmp))?;
    }
    file.write_all(bytes).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    // Make the rename itself durable.
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// A bundle address as the protocol spells it: 64 lowercase hex digits (it becomes a file
/// name, so nothing else may pass).
fn is_sha256_hex(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The bundle hashes `state`'s deployment needs.
fn needed_bundles(name: &str, state: &ScriptState) -> Result<Vec<String>, SyncError> {
    state
        .deployment
        .versions
        .iter()
        .map(|deployed| {
            let version = state
                .versions
                .iter()
                .find(|v| v.id == deployed.version_id)
                .ok_or_else(|| {
                    SyncError::Event(format!(
                        "script {name}: the deployment names version {} but the event does not carry it",
                        deployed.version_id
                    ))
                })?;
            if !is_sha256_hex(&version.bundle) {
                return Err(SyncError::Event(format!(
                    "script {name}: version {} has a malformed bundle hash {:?}",
                    version.id, version.bundle
                )));
            }
            Ok(version.bundle.clone())
        })
        .collect()
}

/// The registry's view of `state`: each deployed version as a bundle with its id, its `env`
/// ([`skiff_protocol::worker_env`]) and its percentage.
fn script_versions(
    name: &str,
    state: &ScriptState,
    bundles: &HashMap<String, Bundle>,
) -> Result<Deployment, SyncError> {
    let mut versions = Vec::with_capacity(state.deployment.versions.len());
    for deployed in &state.deployment.versions {
        let missing = || SyncError::Event(format!("script {name}: incomplete deployment"));
        let version = state
            .versions
            .iter()
            .find(|v| v.id == deployed.version_id)
            .ok_or_else(missing)?;
        let bundle = bundles.get(&version.bundle).ok_or_else(missing)?;
        let env = skiff_protocol::worker_env(version.vars.clone(), &state.secrets);
        versions.push((
            ScriptBundle {
                name: name.to_string(),
                main_module: bundle.main_module.clone(),
                modules: bundle.modules.clone(),
                env,
                version: Some(version.id.clone()),
            },
            deployed.percentage,
        ));
    }
    Ok(versions)
}

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
                Some(kind) if !["snapshot", "update", "tail"].contains(&kind) => {
                    tracing::debug!(kind, "skipping a sync event of an unknown type");
                    Ok(None)
                }
                _ => Err(SyncError::Event(err.to_string())),
            }
        }
    }
}

/// The scripts whose log events go to the control plane.
#[derive(Default)]
pub(crate) struct TailSet {
    scripts: RwLock<HashSet<String>>,
    /// Whether `scripts` is non-empty: the log hook's fast path.
    any: AtomicBool,
}

impl TailSet {
    fn set(&self, scripts: impl IntoIterator<Item = String>) {
        let mut tailed = self.scripts.write().unwrap_or_else(|e| e.into_inner());
        *tailed = scripts.into_iter().collect();
        self.any.store(!tailed.is_empty(), Ordering::Relaxed);
    }

    fn contains(&self, script: &str) -> bool {
        self.any.load(Ordering::Relaxed)
            && self
                .scripts
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(script)
    }
}

/// Wraps the node's log hook: events of tailed scripts are also queued for the control plane
/// (dropped when the queue is full, so an isolate's thread never waits on the network).
pub(crate) fn tail_hook(
    inner: LogHook,
    tailed: Arc<TailSet>,
    node: String,
) -> (LogHook, mpsc::Receiver<TailEvent>) {
    let (queue, events) = mpsc::channel(TAIL_QUEUE);
    let hook: LogHook = Arc::new(move |event: LogEvent| {
        if tailed.contains(&event.script) {
            let _ = queue.try_send(TailEvent {
                script: event.script.clone(),
                version: event.version.clone(),
                node: node.clone(),
                level: event.level.as_str().to_string(),
                time_ms: event.time_ms,
                message: event.message.clone(),
            });
        }
        inner(event);
    });
    (hook, events)
}

/// Requests to the control plane, with the node's credentials and its open sync session.
#[derive(Clone)]
struct ControlPlane {
    http: reqwest::Client,
    base: String,
    token: String,
    node: String,
    /// The session the open sync stream was given (`x-skiff-session`), if one is open.
    session: Arc<RwLock<Option<String>>>,
}

impl ControlPlane {
    fn new(config: &SyncConfig) -> Result<Self, SyncError> {
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
        if let Some(pem) = &config.control_ca {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|err| SyncError::Ca(err.to_string()))?;
            if certs.is_empty() {
                return Err(SyncError::Ca("no certificate in the PEM".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self {
            http: builder.build()?,
            base: config.control_url.trim_end_matches('/').to_string(),
            token: config.node_token.clone(),
            node: config.node_id.clone(),
            session: Arc::default(),
        })
    }

    fn set_session(&self, session: Option<String>) {
        *self.session.write().unwrap_or_else(|e| e.into_inner()) = session;
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header(NODE_ID_HEADER, &self.node);
        match &*self.session.read().unwrap_or_else(|e| e.into_inner()) {
            Some(session) => request.header(SESSION_HEADER, session),
            None => request,
        }
    }

    /// Sends `request`; refusals of the token and other failures become errors.
    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SyncError> {
        let response = request.send().await?;
        match response.status() {
            status if status.is_success() => Ok(response),
            status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                Err(SyncError::Refused(status))
            }
            status => Err(SyncError::Status {
                what: what.to_string(),
                status,
            }),
        }
    }

    async fn fetch_bundle(&self, hash: &str) -> Result<Vec<u8>, SyncError> {
        let request = self
            .request(reqwest::Method::GET, &format!("/v1/bundles/{hash}"))
            .timeout(REQUEST_TIMEOUT);
        let response = self.send(&format!("bundle {hash}"), request).await?;
        Ok(response.bytes().await?.to_vec())
    }

    async fn ack(&self, revision: u64) -> Result<(), SyncError> {
        let path = format!("/v1/nodes/{}/ack", self.node);
        let request = self
            .request(reqwest::Method::POST, &path)
            .timeout(REQUEST_TIMEOUT)
            .json(&Ack { revision });
        self.send("the ack", request).await.map(drop)
    }

    async fn post_logs(&self, events: &[TailEvent]) -> Result<(), SyncError> {
        let request = self
            .request(reqwest::Method::POST, "/v1/logs")
            .timeout(REQUEST_TIMEOUT)
            .json(events);
        self.send("tail events", request).await.map(drop)
    }
}

/// Keeps the registry in step with the control plane.
pub(crate) struct SyncClient {
    control: ControlPlane,
    store: Store,
    registry: Arc<ScriptRegistry>,
    status: Arc<SyncStatus>,
    tailed: Arc<TailSet>,
    /// What the registry serves from sync, by script name.
    scripts: BTreeMap<String, ScriptState>,
    /// The revision applied and persisted.
    revision: u64,
    /// A subscription silent for this long is dropped.
    idle_timeout: Duration,
}

/// The running sync tasks of a node.
pub(crate) struct SyncTasks {
    stop: watch::Sender<bool>,
    sync: JoinHandle<()>,
    logs: JoinHandle<()>,
}

impl SyncTasks {
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.sync.await;
        self.logs.abort();
    }
}

impl SyncClient {
    /// Loads the persisted state into `registry`. A script whose bundles are missing or
    /// damaged is left out, and the client then asks the control plane for a snapshot.
    pub(crate) fn restore(
        config: &SyncConfig,
        registry: Arc<ScriptRegistry>,
        tailed: Arc<TailSet>,
    ) -> Result<Self, SyncError> {
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
        Ok(Self {
            control: ControlPlane::new(config)?,
            store,
            registry,
            status,
            tailed,
            scripts,
            revision,
            idle_timeout: IDLE_TIMEOUT,
        })
    }

    pub(crate) fn status(&self) -> Arc<SyncStatus> {
        self.status.clone()
    }

    /// Starts the subscription and the tail forwarder.
    pub(crate) fn spawn(self, tail_events: mpsc::Receiver<TailEvent>) -> SyncTasks {
        let (stop, stop_rx) = watch::channel(false);
        let logs = tokio::spawn(forward_logs(self.control.clone(), tail_events));
        let sync = tokio::spawn(self.run(stop_rx));
        SyncTasks { stop, sync, logs }
    }

    /// Subscribes, applies events, and reconnects with backoff until `stop` flips.
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = BACKOFF_FIRST;
        loop {
            let started = Instant::now();
            let mut applied = false;
            let result = tokio::select! {
                result = self.session(&mut applied) => result,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            self.control.set_session(None);
            self.status.connected.store(false, Ordering::Relaxed);
            let err = match result {
                Ok(never) => match never {},
                Err(err) => err,
            };
            if applied || started.elapsed() >= HEALTHY_SESSION {
                backoff = BACKOFF_FIRST;
            }
            let delay = if let SyncError::Refused(_) = err {
                tracing::error!(%err, control = %self.control.base, "config sync cannot subscribe; retrying in {REFUSED_RETRY:?}");
                REFUSED_RETRY
            } else {
                let jitter = backoff.mul_f64(fastrand::f64() / 2.0);
                tracing::warn!(%err, revision = self.revision, "config sync interrupted; reconnecting");
                let delay = backoff + jitter;
                backoff = (backoff * 2).min(BACKOFF_CAP);
                delay
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One subscription, from connect to the error that ends it.
    async fn session(&mut self, applied: &mut bool) -> Result<Infallible, SyncError> {
        let request = self
            .control
            .request(
                reqwest::Method::GET,
                &format!("/v1/sync?since={}", self.revision),
            )
            .header(reqwest::header::ACCEPT, "text/event-stream");
        self.control.set_session(None);
        let response = self.control.send("the sync subscription", request).await?;
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
        self.status.connected.store(true, Ordering::Relaxed);
        // The control plane repeats the tailed set on connect when it is not empty.
        self.tailed.set([]);
        tracing::info!(since = self.revision, "config sync connected");
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
            SyncEvent::Tail { scripts } => {
                tracing::info!(?scripts, "tailed scripts");
                self.tailed.set(scripts);
                Ok(())
            }
            SyncEvent::Snapshot { revision, scripts } => {
                let next = scripts.into_iter().map(|s| (s.name.clone(), s)).collect();
                self.apply(revision, next).await
            }
            SyncEvent::Update { revision, changes } => {
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
        let saved = SavedState {
            revision,
            scripts: self.scripts.values().cloned().collect(),
        };
        // On failure the registry already serves `next`; reconnecting from the old revision
        // makes the control plane resend it, which finds nothing to change and persists again.
        self.store.save_state(&saved).await?;
        self.revision = revision;
        self.status.revision.store(revision, Ordering::Relaxed);
        tracing::info!(
            revision,
            changed = warm.len(),
            scripts = self.scripts.len(),
            "config applied"
        );
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

/// Posts queued tail events in batches of up to [`TAIL_BATCH`], at most every
/// [`TAIL_PERIOD`]. A failed post drops its batch.
async fn forward_logs(control: ControlPlane, mut events: mpsc::Receiver<TailEvent>) {
    let mut batch = Vec::with_capacity(TAIL_BATCH);
    while let Some(first) = events.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + TAIL_PERIOD;
        while batch.len() < TAIL_BATCH {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => batch.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(err) = control.post_logs(&batch).await {
            tracing::debug!(%err, events = batch.len(), "tail events dropped");
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control plane that accepts sync subscriptions, answers their headers and then stays
    /// silent; counts the subscriptions.
    async fn silent_control_plane() -> (String, Arc<AtomicU64>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let subscriptions = Arc::new(AtomicU64::new(0));
        let counter = subscriptions.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut request = [0; 4096];
                    let _ = stream.read(&mut request).await;
                    counter.fetch_add(1, Ordering::Relaxed);
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    let _ = stream.write_all(head.as_bytes()).await;
                    // Hold the connection open, saying nothing.
                    let _ = stream.read(&mut request).await;
                });
            }
        });
        (url, subscriptions)
    }

    #[tokio::test]
    async fn a_silent_subscription_is_dropped_and_renewed() {
        let (url, subscriptions) = silent_control_plane().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = SyncConfig::new(url, "token", dir.path()).expect("config");
        let registry = Arc::new(ScriptRegistry::new(
            skiff_runtime::WorkerPool::new(1).expect("pool"),
            crate::registry::IsolateDefaults {
                outbound: Default::default(),
                wait_until: Duration::from_secs(1),
                limits: Default::default(),
                log: Arc::new(|_| {}),
            },
            Default::default(),
        ));
        let mut client = SyncClient::restore(&config, registry, Arc::default()).expect("restores");
        client.idle_timeout = Duration::from_millis(200);
        let status = client.status();
        let (_queue, events) = mpsc::channel(1);
        let tasks = client.spawn(events);
        let deadline = Instant::now() + Duration::from_secs(10);
        while subscriptions.load(Ordering::Relaxed) < 3 {
            assert!(Instant::now() < deadline, "no renewed subscription");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(status.revision(), 0);
        tasks.stop().await;
    }

    #[test]
    fn unknown_event_types_are_skipped() {
        let tail = parse_event(r#"{"type":"tail","scripts":["a"]}"#).expect("parses");
        assert!(matches!(tail, Some(SyncEvent::Tail { .. })));
        assert!(matches!(parse_event(r#"{"type":"drain"}"#), Ok(None)));
        assert!(parse_event(r#"{"type":"update","revision":"x"}"#).is_err());
        assert!(parse_event("not json").is_err());
    }

    #[test]
    fn node_id_is_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let id = load_or_create_node_id(&data).expect("created");
        assert_eq!(id.len(), 32);
        assert_eq!(load_or_create_node_id(&data).expect("read"), id);
    }

    #[test]
    fn bundle_hashes_must_be_hex() {
        assert!(is_sha256_hex(&"ab".repeat(32)));
        assert!(!is_sha256_hex(&format!("../{}", "a".repeat(61))));
        assert!(!is_sha256_hex(&"AB".repeat(32)));
    }
}
