//! Requests to the control plane, with the node's credentials and its open sync session.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::StatusCode;
use skiff_protocol::{Ack, NODE_ID_HEADER, SESSION_HEADER, TailEvent};

use super::{SyncConfig, SyncError};

/// Time limit of a bundle fetch, an ack and a log batch.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Requests to the control plane, with the node's credentials and its open sync session.
#[derive(Clone)]
pub(super) struct ControlPlane {
    http: reqwest::Client,
    pub(super) base: String,
    token: String,
    node: String,
    /// The session the open sync stream was given (`x-skiff-session`), if one is open.
    session: Arc<RwLock<Option<String>>>,
}

impl ControlPlane {
    pub(super) fn new(config: &SyncConfig) -> Result<Self, SyncError> {
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

    pub(super) fn set_session(&self, session: Option<String>) {
        *self.session.write().unwrap_or_else(|e| e.into_inner()) = session;
    }

    pub(super) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
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
