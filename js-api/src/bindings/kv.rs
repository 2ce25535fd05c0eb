//! Workers KV for tenants: the [`KvStore`] a node provides and the ops behind
//! `js/07_kv.js`'s `KVNamespace`.
//!
//! The ops check every limit (`skiff_protocol::kv`) before the store sees a request, so a
//! refused write reaches nobody and a tenant gets workerd's error text.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use deno_core::{JsBuffer, OpState, ToJsBuffer, op2};
use deno_error::JsErrorBox;
use serde::{Deserialize, Serialize};
use skiff_protocol::kv::{self as limits, KvListPage, KvRefusal};

use super::EnvBinding;

/// A value read from KV, with its metadata (JSON text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvValue {
    pub value: Bytes,
    pub metadata: Option<String>,
}

/// A write: the value, its metadata (JSON text) and its absolute expiration (seconds since
/// the Unix epoch), all within the limits already.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvPut {
    pub value: Bytes,
    pub metadata: Option<String>,
    pub expiration: Option<u64>,
}

/// Why a KV call failed.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// A limit or a malformed request, refused as Cloudflare's service refuses it.
    #[error("{0}")]
    Refused(KvRefusal),
    /// The store cannot be reached (a write while the control plane is down): nothing was
    /// written.
    #[error("503 {0}")]
    Unavailable(String),
}

pub type KvFuture<T> = Pin<Box<dyn Future<Output = Result<T, KvError>> + Send + 'static>>;

/// Where a node keeps KV namespaces. Reads should be local; a write is done (durable and
/// ordered among the writes of its key) when its future resolves.
pub trait KvStore: Send + Sync + 'static {
    fn get(&self, namespace: &str, key: &str) -> KvFuture<Option<KvValue>>;
    fn put(&self, namespace: &str, key: &str, put: KvPut) -> KvFuture<()>;
    fn delete(&self, namespace: &str, key: &str) -> KvFuture<()>;
    /// Keys with `prefix` after `cursor` (a key, already decoded), in key order, at most
    /// `limit`, without the expired ones.
    fn list(
        &self,
        namespace: &str,
        prefix: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> KvFuture<KvListPage>;
}

/// The store and namespace id a tenant's binding `name` stands for.
fn resolve(
    state: &Rc<RefCell<OpState>>,
    name: &str,
    method: &str,
) -> Result<(Arc<dyn KvStore>, String), JsErrorBox> {
    let state = state.borrow();
    let Some((node, tenant)) = crate::ops::configured(&state) else {
        return Err(JsErrorBox::generic(format!(
            "KV {method} failed: the isolate has no tenant"
        )));
    };
    let namespace = tenant.bindings.iter().find_map(|binding| match binding {
        EnvBinding::Kv {
            name: bound,
            namespace,
        } if bound == name => Some(namespace.clone()),
        _ => None,
    });
    let Some(namespace) = namespace else {
        return Err(JsErrorBox::type_error(format!(
            "{name} is not a KV namespace binding of this worker"
        )));
    };
    let Some(store) = node.bindings.kv.clone() else {
        return Err(JsErrorBox::generic(format!(
            "KV {method} failed: 503 KV is not available on this node"
        )));
    };
    Ok((store, namespace))
}

fn refused(method: &str, refusal: KvRefusal) -> JsErrorBox {
    JsErrorBox::generic(refusal.for_method(method))
}

fn failed(method: &str, err: KvError) -> JsErrorBox {
    match err {
        KvError::Refused(refusal) => refused(method, refusal),
        KvError::Unavailable(why) => JsErrorBox::generic(format!("KV {method} failed: 503 {why}")),
    }
}

#[derive(Serialize)]
pub struct KvValueForJs {
    value: ToJsBuffer,
    metadata: Option<String>,
}

/// `get` and `getWithMetadata`: the value's bytes and metadata, or `null`.
#[op2]
#[serde]
pub async fn op_skiff_kv_get(
    state: Rc<RefCell<OpState>>,
    #[string] binding: String,
    #[string] key: String,
    cache_ttl: Option<f64>,
) -> Result<Option<KvValueForJs>, JsErrorBox> {
    limits::check_key(&key).map_err(|r| refused("GET", r))?;
    if let Some(ttl) = cache_ttl {
        limits::check_cache_ttl(ttl).map_err(|r| refused("GET", r))?;
    }
    let (store, namespace) = resolve(&state, &binding, "GET")?;
    let found = store
        .get(&namespace, &key)
        .await
        .map_err(|err| failed("GET", err))?;
    Ok(found.map(|found| KvValueForJs {
        value: found.value.to_vec().into(),
        metadata: found.metadata,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvPutArgs {
    key: String,
    expiration: Option<f64>,
    expiration_ttl: Option<f64>,
    /// JSON text.
    metadata: Option<String>,
}

/// `put`: the value (already read into bytes by the JavaScript side) and its options.
#[op2]
pub async fn op_skiff_kv_put(
    state: Rc<RefCell<OpState>>,
    #[string] binding: String,
    #[serde] args: KvPutArgs,
    #[buffer] value: JsBuffer,
) -> Result<(), JsErrorBox> {
    limits::check_key(&args.key).map_err(|r| refused("PUT", r))?;
    limits::check_value_size(value.len()).map_err(|r| refused("PUT", r))?;
    if let Some(metadata) = &args.metadata {
        limits::check_metadata(metadata).map_err(|r| refused("PUT", r))?;
    }
    let expiration = limits::expiration_at(unix_now(), args.expiration, args.expiration_ttl)
        .map_err(|r| refused("PUT", r))?;
    let (store, namespace) = resolve(&state, &binding, "PUT")?;
    let put = KvPut {
        value: Bytes::copy_from_slice(&value),
        metadata: args.metadata,
        expiration,
    };
    drop(value);
    store
        .put(&namespace, &args.key, put)
        .await
        .map_err(|err| failed("PUT", err))
}

#[op2]
pub async fn op_skiff_kv_delete(
    state: Rc<RefCell<OpState>>,
    #[string] binding: String,
    #[string] key: String,
) -> Result<(), JsErrorBox> {
    limits::check_key(&key).map_err(|r| refused("DELETE", r))?;
    let (store, namespace) = resolve(&state, &binding, "DELETE")?;
    store
        .delete(&namespace, &key)
        .await
        .map_err(|err| failed("DELETE", err))
}

#[derive(Deserialize)]
pub struct KvListArgs {
    prefix: Option<String>,
    limit: Option<f64>,
    cursor: Option<String>,
}

/// `list`: one page, in Cloudflare's shape.
#[op2]
#[serde]
pub async fn op_skiff_kv_list(
    state: Rc<RefCell<OpState>>,
    #[string] binding: String,
    #[serde] args: KvListArgs,
) -> Result<KvListPage, JsErrorBox> {
    let limit = limits::check_list_limit(args.limit).map_err(|r| refused("LIST", r))?;
    let cursor = match args.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(limits::decode_cursor(cursor).ok_or_else(|| {
            JsErrorBox::generic("KV LIST failed: 400 Invalid cursor (it was not made by list())")
        })?),
    };
    let (store, namespace) = resolve(&state, &binding, "LIST")?;
    store
        .list(
            &namespace,
            args.prefix.as_deref().unwrap_or(""),
            limit,
            cursor,
        )
        .await
        .map_err(|err| failed("LIST", err))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
