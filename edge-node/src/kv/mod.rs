//! Workers KV on a node: [`NodeKv`], the [`KvStore`] every isolate of the node reads and
//! writes through.
//!
//! Reads are served from the node's [`KvReplica`] with no network round trip; only a value too
//! large to have travelled in a sync event is fetched from the control plane, once, at its first
//! read. A write goes to the control plane, which commits it, answers with the change and its
//! revision, and pushes it to every node over the sync channel; the writing node applies the
//! answer at once, so it reads its own write. With the control plane unreachable, reads go on
//! from the replica and writes fail with a clear error: nothing is written anywhere, nothing is
//! lost silently. A node without a control plane (`skiff dev`, a node serving a directory)
//! writes to its replica directly.

mod replica;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use skiff_protocol::kv::{KvChange, KvEntry, KvListPage, KvRefusal, KvWriteResponse};
use skiff_runtime::{KvError, KvFuture, KvPut, KvStore, KvValue};

pub use replica::{KvReplica, ReplicaError};

use crate::sync::ControlPlane;

/// How long a KV request to the control plane may take; past it, the write fails (and may or
/// may not have been made: the sync stream tells every node either way).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The header of a value's answer that carries its metadata.
const METADATA_HEADER: &str = "cf-kv-metadata";
/// The header of a value's answer that carries the revision of its write.
const REVISION_HEADER: &str = "x-skiff-kv-revision";

/// The KV store of one node.
pub struct NodeKv {
    replica: Arc<KvReplica>,
    /// Where writes go; `None` for a node without a control plane.
    control: Option<ControlPlane>,
    /// The last revision a control-plane-less node gave one of its own writes.
    local_revision: AtomicU64,
}

impl NodeKv {
    /// A store whose writes go to the control plane `control`.
    pub(crate) fn synced(replica: Arc<KvReplica>, control: ControlPlane) -> Self {
        Self {
            replica,
            control: Some(control),
            local_revision: AtomicU64::new(0),
        }
    }

    /// A store of its own (no control plane): writes go to the replica directly.
    pub fn local(replica: Arc<KvReplica>) -> Self {
        let last = replica.max_revision().unwrap_or(0);
        Self {
            replica,
            control: None,
            local_revision: AtomicU64::new(last),
        }
    }

    fn apply_local(
        &self,
        namespace: &str,
        key: &str,
        entry: Option<KvEntry>,
    ) -> Result<(), KvError> {
        let revision = self.local_revision.fetch_add(1, Ordering::AcqRel) + 1;
        self.replica
            .apply(&[KvChange {
                namespace: namespace.to_string(),
                key: key.to_string(),
                revision,
                entry,
            }])
            .map_err(unavailable)
    }
}

fn unavailable(err: impl std::fmt::Display) -> KvError {
    KvError::Unavailable(err.to_string())
}

fn unreachable(err: reqwest::Error) -> KvError {
    if err.is_timeout() {
        return KvError::Unavailable(format!(
            "the control plane did not answer within {REQUEST_TIMEOUT:?}; the write may or may \
             not have been made: {err}"
        ));
    }
    KvError::Unavailable(format!(
        "the control plane is unreachable, nothing was written: {err}"
    ))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The path of a key's value at the control plane (the key percent-encoded whole).
fn value_path(namespace: &str, key: &str) -> String {
    format!(
        "/v1/kv/namespaces/{}/values/{}",
        encode(namespace),
        encode(key)
    )
}

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A control plane's refusal (4xx with an `ErrorBody`) or failure, as a [`KvError`].
async fn refusal(response: reqwest::Response) -> KvError {
    let status = response.status();
    let message = response
        .json::<skiff_protocol::ErrorBody>()
        .await
        .map(|body| body.error)
        .unwrap_or_else(|_| status.to_string());
    if status == reqwest::StatusCode::FORBIDDEN {
        return KvError::Unavailable(format!(
            "this node is not connected to the control plane right now, nothing was written \
             ({message})"
        ));
    }
    if status.is_client_error() {
        KvError::Refused(KvRefusal {
            status: status.as_u16(),
            message,
        })
    } else {
        KvError::Unavailable(format!("the control plane answered {status}: {message}"))
    }
}

impl KvStore for NodeKv {
    fn get(&self, namespace: &str, key: &str) -> KvFuture<Option<KvValue>> {
        let found = match self.replica.get(namespace, key, now()) {
            Ok(found) => found,
            Err(err) => return Box::pin(std::future::ready(Err(unavailable(err)))),
        };
        let Some(found) = found else {
            return Box::pin(std::future::ready(Ok(None)));
        };
        if let Some(value) = found.value {
            return Box::pin(std::future::ready(Ok(Some(KvValue {
                value,
                metadata: found.metadata,
            }))));
        }
        // A large value this node has not read before.
        let Some(control) = self.control.clone() else {
            return Box::pin(std::future::ready(Err(KvError::Unavailable(
                "a large value is missing from this node's replica".into(),
            ))));
        };
        let replica = self.replica.clone();
        let (namespace, key) = (namespace.to_string(), key.to_string());
        Box::pin(async move {
            let response = control
                .request(reqwest::Method::GET, &value_path(&namespace, &key))
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(unreachable)?;
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !response.status().is_success() {
                return Err(refusal(response).await);
            }
            // Read with the value, so that both are of one revision (metadata is UTF-8 JSON).
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| String::from_utf8(v.as_bytes().to_vec()).ok())
            };
            let revision = header(REVISION_HEADER).and_then(|r| r.parse::<u64>().ok());
            let metadata = header(METADATA_HEADER);
            let value: Bytes = response.bytes().await.map_err(unreachable)?;
            if let Some(revision) = revision
                && let Err(err) = replica.fill(&namespace, &key, revision, &value)
            {
                tracing::warn!(%err, "could not keep a fetched KV value");
            }
            Ok(Some(KvValue { value, metadata }))
        })
    }

    fn put(&self, namespace: &str, key: &str, put: KvPut) -> KvFuture<()> {
        let Some(control) = self.control.clone() else {
            let entry = KvEntry {
                value: Some(base64_encode(&put.value)),
                size: put.value.len() as u64,
                metadata: put.metadata,
                expiration: put.expiration,
            };
            return Box::pin(std::future::ready(self.apply_local(
                namespace,
                key,
                Some(entry),
            )));
        };
        let replica = self.replica.clone();
        let path = value_path(namespace, key);
        Box::pin(async move {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(expiration) = put.expiration {
                query.push(("expiration", expiration.to_string()));
            }
            if let Some(metadata) = &put.metadata {
                query.push(("metadata", metadata.clone()));
            }
            let request = control
                .request(reqwest::Method::PUT, &path)
                .query(&query)
                .body(put.value.clone());
            let change = write(request).await?;
            apply_written(&replica, &change, Some(&put.value));
            Ok(())
        })
    }

    fn delete(&self, namespace: &str, key: &str) -> KvFuture<()> {
        let Some(control) = self.control.clone() else {
            return Box::pin(std::future::ready(self.apply_local(namespace, key, None)));
        };
        let replica = self.replica.clone();
        let path = value_path(namespace, key);
        Box::pin(async move {
            let change = write(control.request(reqwest::Method::DELETE, &path)).await?;
            apply_written(&replica, &change, None);
            Ok(())
        })
    }

    fn list(
        &self,
        namespace: &str,
        prefix: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> KvFuture<KvListPage> {
        let page = self
            .replica
            .list(namespace, prefix, limit, cursor.as_deref(), now())
            .map_err(unavailable);
        Box::pin(std::future::ready(page))
    }
}

/// Sends a write to the control plane; the change it committed.
async fn write(request: reqwest::RequestBuilder) -> Result<KvChange, KvError> {
    let response = request
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    let written: KvWriteResponse = response.json().await.map_err(unreachable)?;
    Ok(written.change)
}

/// Applies the control plane's answer to this node's own write at once (the sync stream
/// brings the same change again, which then finds nothing to do). A value too large for the
/// answer is filled in from the bytes the node sent.
fn apply_written(replica: &KvReplica, change: &KvChange, sent: Option<&Bytes>) {
    if let Err(err) = replica.apply(std::slice::from_ref(change)) {
        tracing::warn!(%err, "could not apply this node's own KV write; sync brings it");
        return;
    }
    let missing = change.entry.as_ref().is_some_and(|e| e.value.is_none());
    if let (true, Some(sent)) = (missing, sent)
        && let Err(err) = replica.fill(&change.namespace, &change.key, change.revision, sent)
    {
        tracing::warn!(%err, "could not keep a written KV value");
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
