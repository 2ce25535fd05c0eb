//! Config sync: the client that keeps a node's scripts in step with the control plane.
//!
//! The node holds one long-lived `GET /v1/sync?since=R` (server-sent events, see the
//! `skiff-protocol` crate's `PROTOCOL.md`), where R is the last revision it applied and
//! persisted, on one replica of the control plane at a time ([`SyncConfig::control_urls`]):
//! when the stream ends or cannot open, the next attempt goes to the next replica, round the
//! list. A node never goes backwards: a `snapshot` or `update` below R (from a replica that is
//! behind, or a control plane restored from an old backup) is refused, counted in
//! [`SyncStatus::refused_backwards`], and the node tries the next replica.
//! For each `snapshot` or `update` it fetches the bundles it lacks by sha256
//! (`/v1/bundles/{hash}`), verifies and stores them under `DATA_DIR/bundles/`, and only once
//! every bundle of the event is present swaps the deployments in the [`ScriptRegistry`] (one
//! lock for the whole event), persists `DATA_DIR/state.json` atomically and acknowledges the
//! revision. A failed fetch applies nothing and reconnects from the old revision. The new
//! versions' isolates boot before the ack, which waits for them at most
//! [`session::WARM_BEFORE_ACK`]; a slower boot goes on in the background.
//!
//! At start the node loads the persisted state first, so it serves what it had even when the
//! control plane is unreachable. Log events of the scripts named by the latest `tail` event
//! are forwarded to `POST /v1/logs` in batches.
//!
//! The sync stream's answer names a session (`x-skiff-session`); bundle fetches, acks, log
//! posts and KV requests carry it and go to the replica of that stream, and the control plane
//! refuses them without it. The credential from enrolling (once, at whichever replica answers)
//! is valid on every replica, which share one store. The data directory holds
//! the scripts' secrets (in `state.json`): it is made 0700 and its files 0600 at every start,
//! whatever the umask, and every file is written 0600. An `https://` control plane is checked
//! against the built-in web roots, or against [`SyncConfig::control_ca`] when it is set.
//!
//! One file per job: `store.rs` (the data directory), `client.rs` (requests to the control
//! plane), `session.rs` (the event stream and applying its events), `deploy.rs` (sync state
//! into registry deployments), `tail.rs` (forwarding log events of tailed scripts),
//! `scheduled.rs` (running the cron ticks the control plane gives the node), `usage.rs`
//! (shipping usage aggregates).
//!
//! [`ScriptRegistry`]: crate::ScriptRegistry

mod client;
mod deploy;
mod scheduled;
mod session;
mod status;
mod store;
mod tail;
mod usage;

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;

pub(crate) use client::ControlPlane;
pub(crate) use session::{Serving, SyncClient, SyncTasks};
pub use status::{AppliedRevision, SyncReport, SyncStatus};
pub use store::load_or_create_node_id;

pub(crate) use tail::{TailSet, tail_hook};

/// How a node reaches the control plane.
#[derive(Clone)]
pub struct SyncConfig {
    /// Base URLs of the control plane's replicas, e.g. `http://127.0.0.1:8700`, in the order
    /// they are tried (never empty; see [`SyncConfig::with_replicas`]).
    pub control_urls: Vec<String>,
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
    /// How often the node ships its usage aggregates (`POST /v1/usage`).
    pub usage_period: Duration,
}

/// How often a node ships its usage, unless configured.
pub const DEFAULT_USAGE_PERIOD: Duration = Duration::from_secs(10);

impl SyncConfig {
    /// A configuration for a control plane at one URL, whose node id is the one stored in
    /// `data_dir` (created on first use).
    pub fn new(
        control_url: impl Into<String>,
        node_token: impl Into<String>,
        data_dir: impl Into<PathBuf>,
    ) -> Result<Self, SyncError> {
        Self::with_replicas([control_url], node_token, data_dir)
    }

    /// Like [`SyncConfig::new`], for a control plane whose replicas are at `control_urls`
    /// (tried in this order). An empty list, or an empty URL in it, is an error.
    pub fn with_replicas(
        control_urls: impl IntoIterator<Item = impl Into<String>>,
        node_token: impl Into<String>,
        data_dir: impl Into<PathBuf>,
    ) -> Result<Self, SyncError> {
        let control_urls: Vec<String> = control_urls
            .into_iter()
            .map(|url| url.into().trim().trim_end_matches('/').to_string())
            .collect();
        if control_urls.is_empty() || control_urls.iter().any(String::is_empty) {
            return Err(SyncError::NoControlUrl);
        }
        let data_dir = data_dir.into();
        let node_id = load_or_create_node_id(&data_dir)?;
        Ok(Self {
            control_urls,
            node_token: node_token.into(),
            data_dir,
            node_id,
            control_ca: None,
            usage_period: DEFAULT_USAGE_PERIOD,
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
            .field("control_urls", &self.control_urls)
            .field("node_token", &"<redacted>")
            .field("data_dir", &self.data_dir)
            .field("node_id", &self.node_id)
            .field("control_ca", &self.control_ca.is_some())
            .field("usage_period", &self.usage_period)
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
    #[error("the control plane refused to enroll this node: {0}")]
    Enroll(String),
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
    #[error(
        "the control plane sent revision {revision}, behind the revision {applied} this node \
         applied; refused"
    )]
    Behind { revision: u64, applied: u64 },
    #[error("no control plane URL")]
    NoControlUrl,
}
