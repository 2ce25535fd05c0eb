//! Requests to the control plane, with the node's credential and its open sync session.
//!
//! A node enrolls once: it presents the shared node token to `POST /v1/nodes/enroll` and keeps
//! the credential it is given in `DATA_DIR/node-credential` (mode 0600). Every other request
//! presents that credential, which the control plane binds to this node's id.
//!
//! The control plane may run as several replicas; the client talks to one at a time, the one
//! the sync loop chose ([`ControlPlane::next_replica`]). Requests go there with the session of
//! the stream open on it: a session is valid only on the replica that gave it.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::StatusCode;
use skiff_protocol::usage::UsageBatch;
use skiff_protocol::{
    Ack, EnrollRequest, Enrollment, NODE_ID_HEADER, SESSION_HEADER, ScheduledReport, TailEvent,
};

use super::store::{io_error, write_atomically};
use super::{SyncConfig, SyncError};

/// Time limit of a bundle fetch, an ack, a log batch and an enrollment.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The replica requests go to, and the session of the sync stream open on it.
#[derive(Default)]
struct Stream {
    /// An index into `ControlPlane::replicas` (never empty).
    replica: usize,
    session: Option<String>,
}

/// Requests to the control plane, with the node's credentials and its open sync session.
#[derive(Clone)]
pub(crate) struct ControlPlane {
    http: reqwest::Client,
    /// The replicas' base URLs (no trailing `/`), in the order they are tried.
    replicas: Arc<[String]>,
    /// The shared node token: it only enrolls.
    token: String,
    node: String,
    /// This node's own credential, once enrolled; kept at `credential_path`.
    credential: Arc<RwLock<Option<String>>>,
    credential_path: PathBuf,
    /// The replica in use and the session its sync stream was given (`x-skiff-session`),
    /// under one lock so that a request never pairs one replica's URL with another's session.
    stream: Arc<RwLock<Stream>>,
}

impl ControlPlane {
    pub(crate) fn new(config: &SyncConfig) -> Result<Self, SyncError> {
        if config.control_urls.is_empty() {
            return Err(SyncError::NoControlUrl);
        }
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
        let credential_path = config.data_dir.join("node-credential");
        let credential = match std::fs::read_to_string(&credential_path) {
            Ok(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
            Ok(_) => None,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(io_error(&credential_path)(err)),
        };
        Ok(Self {
            http: builder.build()?,
            replicas: config
                .control_urls
                .iter()
                .map(|url| url.trim_end_matches('/').to_string())
                .collect(),
            token: config.node_token.clone(),
            node: config.node_id.clone(),
            credential: Arc::new(RwLock::new(credential)),
            credential_path,
            stream: Arc::default(),
        })
    }

    /// How many replicas the node knows.
    pub(super) fn replica_count(&self) -> usize {
        self.replicas.len()
    }

    /// The base URL of the replica in use.
    pub(super) fn replica(&self) -> String {
        let stream = self.stream.read().unwrap_or_else(|e| e.into_inner());
        self.replicas[stream.replica].clone()
    }

    /// Moves to the next replica (round the list), with no session.
    pub(super) fn next_replica(&self) {
        let mut stream = self.stream.write().unwrap_or_else(|e| e.into_inner());
        stream.replica = (stream.replica + 1) % self.replicas.len();
        stream.session = None;
    }

    fn credential(&self) -> Option<String> {
        self.credential
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Enrolls this node unless it has its credential already.
    pub(super) async fn ensure_enrolled(&self) -> Result<(), SyncError> {
        if self.credential().is_some() {
            return Ok(());
        }
        let request = self
            .http
            .post(format!("{}/v1/nodes/enroll", self.replica()))
            .bearer_auth(&self.token)
            .timeout(REQUEST_TIMEOUT)
            .json(&EnrollRequest {
                node: self.node.clone(),
            });
        let response = request.send().await?;
        match response.status() {
            status if status.is_success() => {}
            status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                return Err(SyncError::Refused(status));
            }
            StatusCode::CONFLICT => {
                let message = response.text().await.unwrap_or_default();
                return Err(SyncError::Enroll(message));
            }
            status => {
                return Err(SyncError::Status {
                    what: "the enrollment".into(),
                    status,
                });
            }
        }
        let enrollment: Enrollment = response.json().await?;
        write_atomically(
            self.credential_path.clone(),
            enrollment.credential.clone().into_bytes(),
        )
        .await?;
        *self.credential.write().unwrap_or_else(|e| e.into_inner()) = Some(enrollment.credential);
        tracing::info!(node = %self.node, control = %self.replica(), "enrolled with the control plane");
        Ok(())
    }

    /// Forgets a credential the control plane no longer accepts (an admin deleted this node),
    /// so that the next subscription enrolls again.
    pub(super) async fn forget_credential(&self) -> Result<(), SyncError> {
        *self.credential.write().unwrap_or_else(|e| e.into_inner()) = None;
        match tokio::fs::remove_file(&self.credential_path).await {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(io_error(&self.credential_path)(err))
            }
            _ => Ok(()),
        }
    }

    /// Whether the node holds a credential now.
    pub(super) fn enrolled(&self) -> bool {
        self.credential().is_some()
    }

    /// Records the session of the stream just opened on the replica in use (or none).
    pub(super) fn set_session(&self, session: Option<String>) {
        self.stream
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .session = session;
    }

    /// A request to the replica in use, with the node's credential and the session of the
    /// stream open on that replica, if one is.
    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let (base, session) = {
            let stream = self.stream.read().unwrap_or_else(|e| e.into_inner());
            (
                self.replicas[stream.replica].clone(),
                stream.session.clone(),
            )
        };
        let request = self
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(self.credential().as_deref().unwrap_or(&self.token))
            .header(NODE_ID_HEADER, &self.node);
        match session {
            Some(session) => request.header(SESSION_HEADER, session),
            None => request,
        }
    }

    /// Sends `request`; refusals of the token and other failures become errors.
    pub(super) async fn send(
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

    pub(super) async fn fetch_bundle(&self, hash: &str) -> Result<Vec<u8>, SyncError> {
        let request = self
            .request(reqwest::Method::GET, &format!("/v1/bundles/{hash}"))
            .timeout(REQUEST_TIMEOUT);
        let response = self.send(&format!("bundle {hash}"), request).await?;
        Ok(response.bytes().await?.to_vec())
    }

    pub(super) async fn ack(&self, revision: u64) -> Result<(), SyncError> {
        let path = format!("/v1/nodes/{}/ack", self.node);
        let request = self
            .request(reqwest::Method::POST, &path)
            .timeout(REQUEST_TIMEOUT)
            .json(&Ack { revision });
        self.send("the ack", request).await.map(drop)
    }

    pub(super) async fn post_logs(&self, events: &[TailEvent]) -> Result<(), SyncError> {
        let request = self
            .request(reqwest::Method::POST, "/v1/logs")
            .timeout(REQUEST_TIMEOUT)
            .json(events);
        self.send("tail events", request).await.map(drop)
    }

    pub(super) async fn post_usage(&self, batch: &UsageBatch) -> Result<(), SyncError> {
        let request = self
            .request(reqwest::Method::POST, "/v1/usage")
            .timeout(REQUEST_TIMEOUT)
            .json(batch);
        self.send("usage", request).await.map(drop)
    }

    pub(super) async fn report_scheduled(
        &self,
        id: &str,
        report: &ScheduledReport,
    ) -> Result<(), SyncError> {
        let request = self
            .request(reqwest::Method::POST, &format!("/v1/scheduled/{id}"))
            .timeout(REQUEST_TIMEOUT)
            .json(report);
        self.send("the scheduled tick's report", request)
            .await
            .map(drop)
    }
}
