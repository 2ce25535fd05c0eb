//! Helpers shared by the integration tests: a control plane on 127.0.0.1:0 in a temporary
//! data directory, an admin client, uploads, and a raw server-sent-events reader.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use skiff_control_plane::{ControlConfig, ControlPlane};
use skiff_protocol::{Binding, UploadMetadata};

pub const HELLO: &str =
    "export default { fetch(req, env) { return new Response('hello ' + env.GREETING); } };\n";

pub fn config(dir: &Path) -> ControlConfig {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
    ControlConfig::new(listen, dir.to_path_buf())
}

pub async fn start(dir: &Path) -> ControlPlane {
    ControlPlane::start(config(dir))
        .await
        .expect("control plane starts")
}

/// Talks to one control plane with one token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    /// The credentials of the nodes this API enrolled, by node id.
    pub credentials: Arc<Mutex<HashMap<String, String>>>,
}

impl Api {
    pub fn admin(cp: &ControlPlane) -> Self {
        Self::with_token(cp, cp.admin_token())
    }

    pub fn node(cp: &ControlPlane) -> Self {
        Self::with_token(cp, cp.node_token())
    }

    pub fn with_token(cp: &ControlPlane, token: &str) -> Self {
        Self {
            base: format!("http://{}", cp.addr()),
            token: token.to_string(),
            http: reqwest::Client::new(),
            credentials: Arc::default(),
        }
    }

    /// Enrolls `node` with this API's token (the shared node token); the answer as sent.
    pub async fn enroll(&self, node: &str) -> reqwest::Response {
        self.post("/v1/nodes/enroll")
            .json(&skiff_protocol::EnrollRequest {
                node: node.to_string(),
            })
            .send()
            .await
            .expect("enrollment sent")
    }

    /// The API of node `node`, with its own credential: enrolled now, or earlier by this API.
    pub async fn as_node(&self, node: &str) -> Result<Api> {
        let known = self
            .credentials
            .lock()
            .expect("credentials")
            .get(node)
            .cloned();
        let credential = match known {
            Some(credential) => credential,
            None => {
                let response = self.enroll(node).await;
                let status = response.status();
                if !status.is_success() {
                    bail!("enrolling {node}: {status}: {}", response.text().await?);
                }
                let enrollment: skiff_protocol::Enrollment = response.json().await?;
                self.credentials
                    .lock()
                    .expect("credentials")
                    .insert(node.to_string(), enrollment.credential.clone());
                enrollment.credential
            }
        };
        Ok(Api {
            token: credential,
            credentials: Arc::default(),
            ..self.clone()
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(&self.token)
    }

    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.put(self.url(path)).bearer_auth(&self.token)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(&self.token)
    }

    /// Uploads `modules` (path, source) with `metadata`.
    pub async fn upload_with(
        &self,
        name: &str,
        metadata: &UploadMetadata,
        modules: &[(&str, &str)],
    ) -> Result<reqwest::Response> {
        let mut form = Form::new().text("metadata", serde_json::to_string(metadata)?);
        for (path, source) in modules {
            let part = Part::text(source.to_string())
                .file_name(path.to_string())
                .mime_str("application/javascript+module")?;
            form = form.part(path.to_string(), part);
        }
        Ok(self
            .put(&format!("/v1/scripts/{name}"))
            .multipart(form)
            .send()
            .await?)
    }

    /// Uploads one module `index.js` with a `GREETING` var.
    pub async fn upload(&self, name: &str, source: &str) -> Result<reqwest::Response> {
        let metadata = UploadMetadata {
            main_module: "index.js".into(),
            bindings: vec![Binding::PlainText {
                name: "GREETING".into(),
                text: "world".into(),
            }],
            ..UploadMetadata::default()
        };
        self.upload_with(name, &metadata, &[("index.js", source)])
            .await
    }

    /// Uploads and expects 201, returning the answer.
    pub async fn deploy(&self, name: &str, source: &str) -> skiff_protocol::UploadResponse {
        let response = self.upload(name, source).await.expect("upload sent");
        let status = response.status();
        let text = response.text().await.expect("upload answer");
        assert_eq!(status, 201, "upload of {name}: {text}");
        serde_json::from_str(&text).expect("UploadResponse")
    }

    pub async fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.get(path).send().await.expect("GET sent");
        let status = response.status();
        let text = response.text().await.expect("GET answer");
        assert!(status.is_success(), "GET {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("GET {path}: {err}: {text}"))
    }
}

/// A raw `text/event-stream` reader: frames separated by a blank line.
pub struct EventStream {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl EventStream {
    pub async fn open(request: reqwest::RequestBuilder) -> Result<Self> {
        Ok(Self::open_with_headers(request).await?.0)
    }

    /// Like `open`, also returning the response headers.
    pub async fn open_with_headers(
        request: reqwest::RequestBuilder,
    ) -> Result<(Self, reqwest::header::HeaderMap)> {
        let response = request.send().await?;
        if !response.status().is_success() {
            bail!(
                "event stream: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if content_type != "text/event-stream" {
            bail!("event stream answered with content type {content_type:?}");
        }
        let headers = response.headers().clone();
        Ok((
            Self {
                body: response.bytes_stream().boxed(),
                buffer: String::new(),
            },
            headers,
        ))
    }

    /// The next frame (comment frames included), or None when `wait` passes first.
    pub async fn next_frame(&mut self, wait: Duration) -> Result<Option<String>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame = self.buffer[..end].to_string();
                self.buffer.drain(..end + 2);
                return Ok(Some(frame));
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => bail!("event stream ended"),
                Ok(Some(chunk)) => self.buffer.push_str(std::str::from_utf8(&chunk?)?),
            }
        }
    }

    /// The next `data:` payload parsed as `T`, skipping comments; None when `wait` passes.
    pub async fn next_data<T: serde::de::DeserializeOwned>(
        &mut self,
        wait: Duration,
    ) -> Result<Option<T>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(frame) = self.next_frame(left).await? else {
                return Ok(None);
            };
            if frame.starts_with(':') {
                continue;
            }
            let data = frame
                .strip_prefix("data: ")
                .with_context(|| format!("frame without data: {frame:?}"))?;
            return Ok(Some(serde_json::from_str(data)?));
        }
    }

    /// Like `next_data`, failing when nothing arrives within `wait`.
    pub async fn expect_data<T: serde::de::DeserializeOwned>(&mut self, wait: Duration) -> T {
        self.next_data(wait)
            .await
            .expect("event stream readable")
            .expect("an event before the deadline")
    }
}

/// A node's open sync stream and the session it was given: node requests carry both headers,
/// and the node's credential.
pub struct NodeSession {
    pub stream: EventStream,
    pub node: String,
    pub session: String,
    pub credential: String,
}

impl NodeSession {
    /// Subscribes as `node` from `since`, enrolling it first with `api`'s shared node token
    /// unless `api` enrolled it before.
    pub async fn open(api: &Api, node: &str, since: u64) -> Result<Self> {
        let api = api.as_node(node).await?;
        let (stream, headers) = EventStream::open_with_headers(
            api.get(&format!("/v1/sync?since={since}"))
                .header("x-skiff-node", node),
        )
        .await?;
        let session = headers
            .get("x-skiff-session")
            .and_then(|v| v.to_str().ok())
            .context("the sync stream names no session")?
            .to_string();
        Ok(Self {
            stream,
            node: node.to_string(),
            session,
            credential: api.token,
        })
    }

    /// `request` with this node's credential (in place of the token it had) and this
    /// session's `x-skiff-node` and `x-skiff-session`.
    pub fn sign(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let (client, request) = request.build_split();
        let mut request = request.expect("a well-formed request");
        let bearer = format!("Bearer {}", self.credential);
        request.headers_mut().insert(
            reqwest::header::AUTHORIZATION,
            bearer.parse().expect("a header value"),
        );
        reqwest::RequestBuilder::from_parts(client, request)
            .header("x-skiff-node", &self.node)
            .header("x-skiff-session", &self.session)
    }

    /// Acknowledges `revision` for node `id` through this session; the answer's status.
    pub async fn ack(&self, api: &Api, id: &str, revision: u64) -> reqwest::StatusCode {
        self.sign(api.post(&format!("/v1/nodes/{id}/ack")))
            .json(&skiff_protocol::Ack { revision })
            .send()
            .await
            .expect("ack sent")
            .status()
    }
}

/// Polls `check` until it returns Some or `wait` passes.
pub async fn wait_for<T, F, Fut>(wait: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
