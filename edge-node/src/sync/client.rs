//! Requests to the control plane, with the node's credential and its open sync session.
//!
//! A node enrolls once: it presents the shared node token to `POST /v1/nodes/enroll` and keeps
//! the credential it is given in `DATA_DIR/node-credential` (mode 0600). Every other request
//! presents that credential, which the control plane binds to this node's id.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::StatusCode;
use skiff_protocol::{Ack, EnrollRequest, Enrollment, NODE_ID_HEADER, SESSION_HEADER, TailEvent};

use super::store::{io_error, write_atomically};
use super::{SyncConfig, SyncError};

/// Time limit of a bundle fetch, an ack, a log batch and an enrollment.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Requests to the control plane, with the node's credentials and its open sync session.
#[derive(Clone)]
pub(crate) struct ControlPlane {
    http: reqwest::Client,
    pub(super) base: String,
    /// The shared node token: it only enrolls.
    token: String,
    node: String,
    /// This node's own credential, once enrolled; kept at `credential_path`.
    credential: Arc<RwLock<Option<String>>>,
    credential_path: PathBuf,
    /// The session the open sync stream was given (`x-skiff-session`), if one is open.
    session: Arc<RwLock<Option<String>>>,
}

impl ControlPlane {
    pub(crate) fn new(config: &SyncConfig) -> Result<Self, SyncError> {
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
            base: config.control_url.trim_end_matches('/').to_string(),
            token: config.node_token.clone(),
            node: config.node_id.clone(),
            credential: Arc::new(RwLock::new(credential)),
            credential_path,
            session: Arc::default(),
        })
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
            .post(format!("{}/v1/nodes/enroll", self.base))
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
        tracing::info!(node = %self.node, "enrolled with the control plane");
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

    pub(super) fn set_session(&self, session: Option<String>) {
        *self.session.write().unwrap_or_else(|e| e.into_inner()) = session;
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.credential().as_deref().unwrap_or(&self.token))
            .header(NODE_ID_HEADER, &self.node);
        match &*self.session.read().unwrap_or_else(|e| e.into_inner()) {
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
}
