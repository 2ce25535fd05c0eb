//! The KV endpoints: namespaces and keys for the admin (`skiff kv ...`), and the values for
//! nodes, which write through here on their tenants' behalf and fetch the values too large to
//! travel in sync events.
//!
//! A write commits with its revision and is then published: every node's sync stream carries
//! it as an `update` within milliseconds. A refused write (a limit, an unknown namespace)
//! changes nothing. The limits and their messages are `skiff_protocol::kv`'s, the same the
//! tenant API checks.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use skiff_protocol::kv::{
    self as limits, CreateKvNamespace, KvListPage, KvNamespaceInfo, KvRefusal, KvWriteResponse,
};
use skiff_protocol::{ChangeResponse, NODE_ID_HEADER};

use crate::error::ApiError;
use crate::extract::{JsonBody, QueryArgs};
use crate::kv_store;
use crate::state::AppState;
use crate::store;

/// The header of a value's answer that carries its metadata (JSON), as Cloudflare's API does.
pub const METADATA_HEADER: &str = "cf-kv-metadata";
/// The header of a value's answer that carries the revision of its write.
pub const REVISION_HEADER: &str = "x-skiff-kv-revision";
/// The header of a value's answer that carries its expiration (seconds since the epoch).
pub const EXPIRATION_HEADER: &str = "x-skiff-kv-expiration";

fn refused(refusal: KvRefusal) -> ApiError {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError::new(status, refusal.message)
}

/// A node's request must come from its open sync session; the admin's needs none.
fn check_caller(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key(NODE_ID_HEADER) {
        crate::sync::node_session(state, headers)?;
    }
    Ok(())
}

pub async fn list_namespaces(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<KvNamespaceInfo>>, ApiError> {
    let mut tx = state.store.read().await?;
    let namespaces = kv_store::namespaces(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(namespaces))
}

pub async fn create_namespace(
    State(state): State<Arc<AppState>>,
    JsonBody(request): JsonBody<CreateKvNamespace>,
) -> Result<(StatusCode, Json<KvNamespaceInfo>), ApiError> {
    let title = request.title.trim().to_string();
    if title.is_empty() || title.len() > limits::MAX_TITLE_BYTES {
        return Err(ApiError::bad_request(format!(
            "a namespace title is 1 to {} bytes",
            limits::MAX_TITLE_BYTES
        )));
    }
    let mut tx = state.store.write().await?;
    let namespace = kv_store::create_namespace(&mut tx, &title).await?;
    tx.commit().await?;
    tracing::info!(namespace = %namespace.id, title = %namespace.title, "KV namespace created");
    Ok((StatusCode::CREATED, Json(namespace)))
}

pub async fn delete_namespace(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let mut tx = state.store.write().await?;
    let revision = match kv_store::delete_namespace(&mut tx, &id).await? {
        Some(revision) => revision,
        None => store::current_revision(&mut tx).await?,
    };
    tx.commit().await?;
    state.published(revision);
    Ok(Json(ChangeResponse {
        revision,
        deployment: None,
    }))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    prefix: String,
    limit: Option<f64>,
    cursor: Option<String>,
}

pub async fn list_keys(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    QueryArgs(query): QueryArgs<ListQuery>,
) -> Result<Json<KvListPage>, ApiError> {
    let limit = limits::check_list_limit(query.limit).map_err(refused)?;
    let after = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(
            limits::decode_cursor(cursor)
                .ok_or_else(|| ApiError::bad_request("invalid cursor (it was not made by list)"))?,
        ),
    };
    let mut tx = state.store.read().await?;
    let page = kv_store::list(&mut tx, &id, &query.prefix, limit, after.as_deref()).await?;
    tx.commit().await?;
    Ok(Json(page))
}

pub async fn get_value(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_caller(&state, &headers)?;
    limits::check_key(&key).map_err(refused)?;
    let mut tx = state.store.read().await?;
    let found = kv_store::get(&mut tx, &id, &key).await?;
    tx.commit().await?;
    let found = found.ok_or_else(|| ApiError::not_found(format!("key not found: {key:?}")))?;
    let mut response = (
        [(CONTENT_TYPE, "application/octet-stream")],
        Bytes::from(found.value),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Some(value) = found
        .metadata
        .as_deref()
        .and_then(|m| HeaderValue::from_bytes(m.as_bytes()).ok())
    {
        headers.insert(METADATA_HEADER, value);
    }
    headers.insert(REVISION_HEADER, HeaderValue::from(found.revision));
    if let Some(expiration) = found.expiration {
        headers.insert(EXPIRATION_HEADER, HeaderValue::from(expiration));
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct PutQuery {
    expiration: Option<f64>,
    expiration_ttl: Option<f64>,
    /// JSON text.
    metadata: Option<String>,
}

pub async fn put_value(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, key)): Path<(String, String)>,
    QueryArgs(query): QueryArgs<PutQuery>,
    body: Bytes,
) -> Result<Json<KvWriteResponse>, ApiError> {
    check_caller(&state, &headers)?;
    limits::check_key(&key).map_err(refused)?;
    limits::check_value_size(body.len()).map_err(refused)?;
    if let Some(metadata) = &query.metadata {
        limits::check_metadata(metadata).map_err(refused)?;
    }
    let expiration = if headers.contains_key(NODE_ID_HEADER) && query.expiration_ttl.is_none() {
        // A node's write was checked by the tenant API when it was made, and carries the
        // absolute expiration it computed then: the 60 s rule, checked again a moment
        // later, would refuse a TTL of exactly 60.
        match query.expiration {
            Some(at) if at.is_finite() && at > 0.0 => Some(at as u64),
            Some(at) => return Err(ApiError::bad_request(format!("invalid expiration {at}"))),
            None => None,
        }
    } else {
        limits::expiration_at(
            store::now_ms() / 1000,
            query.expiration,
            query.expiration_ttl,
        )
        .map_err(refused)?
    };
    let mut tx = state.store.write().await?;
    let metadata = query.metadata.as_deref();
    let change = kv_store::put(&mut tx, &id, &key, &body, metadata, expiration).await?;
    tx.commit().await?;
    state.published(change.revision);
    Ok(Json(KvWriteResponse { change }))
}

pub async fn delete_value(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<KvWriteResponse>, ApiError> {
    check_caller(&state, &headers)?;
    limits::check_key(&key).map_err(refused)?;
    let mut tx = state.store.write().await?;
    let change = kv_store::delete(&mut tx, &id, &key).await?;
    tx.commit().await?;
    state.published(change.revision);
    Ok(Json(KvWriteResponse { change }))
}
