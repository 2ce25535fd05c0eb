//! The admin listener (`NodeConfig::admin_listen`): `GET /metrics`, the Prometheus page of
//! `metrics.rs`, and on a node that syncs `GET /sync`, the subscription's state as JSON
//! ([`SyncReport`](crate::SyncReport): the applied and acknowledged revisions, the replica in
//! use, the last applied revisions with their times). Anything else is 404.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use skiff_runtime::ResponseCache;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::{self, RequestMetrics};
use crate::registry::ScriptRegistry;
use crate::sync::SyncStatus;

/// What the admin pages read.
#[derive(Clone)]
struct Admin {
    registry: Arc<ScriptRegistry>,
    requests: Arc<RequestMetrics>,
    sync: Option<Arc<SyncStatus>>,
    response_cache: Arc<ResponseCache>,
}

impl Admin {
    async fn answer(&self, path: &str) -> Response<Full<Bytes>> {
        match (path, &self.sync) {
            ("/metrics", _) => {
                // The cache counts lazily; settle it so the page is current.
                self.registry.run_pending_evictions().await;
                let page = metrics::render(
                    &self.registry,
                    &self.requests,
                    self.sync.as_deref(),
                    &self.response_cache,
                );
                with_type(page.into_bytes(), "text/plain; version=0.0.4")
            }
            ("/sync", Some(sync)) => match serde_json::to_vec(&sync.report()) {
                Ok(body) => with_type(body, "application/json"),
                Err(err) => {
                    tracing::error!(%err, "cannot serialise the sync status");
                    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
                }
            },
            _ => plain(StatusCode::NOT_FOUND, "not found\n"),
        }
    }
}

fn with_type(body: Vec<u8>, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

/// Serves the admin pages on `listener` until `stop` flips.
pub(crate) async fn serve(
    listener: TcpListener,
    registry: Arc<ScriptRegistry>,
    requests: Arc<RequestMetrics>,
    sync: Option<Arc<SyncStatus>>,
    response_cache: Arc<ResponseCache>,
    mut stop: watch::Receiver<bool>,
) {
    let admin = Admin {
        registry,
        requests,
        sync,
        response_cache,
    };
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "admin accept failed");
                    continue;
                }
            },
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(admin.answer(req.uri().path()).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
