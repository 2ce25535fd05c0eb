//! WebSocket upgrades: a request that asks for one (RFC 6455 4.2.1 over HTTP/1.1, or RFC 8441's
//! extended CONNECT over HTTP/2) reaches its worker like any other, in the HTTP/1.1 form (a GET
//! with `Upgrade: websocket`, which Workers code checks for); a worker that answers with
//! `new Response(null, { status: 101, webSocket: client })` gets the connection. The node sends
//! the handshake's 101 (a 200 over HTTP/2), takes the connection (or the stream) from hyper
//! and joins it, as the server's side, to the client end's lanes ([`WebSocketPipe`];
//! `skiff_runtime::join_websocket`, which also serves the worker's own outgoing sockets):
//! client messages go to the worker, the worker's to the client, until both sides have closed,
//! the connection drops or the node stops. The client's Close is answered by the worker's end:
//! at once with the same code, or, for an end accepted with `allowHalfOpen`, when the worker
//! closes it.
//!
//! A message above 1 MiB, either way, closes the socket with 1009 (Cloudflare's limit). The
//! worker's side is held back when the client does not read (the lanes are bounded), and
//! the client's when the worker does not. Open sockets are counted (`skiff_websockets_open`)
//! and, with the connections, held to the node's connection limit.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderValue, Method, StatusCode, Version, request::Parts};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use skiff_runtime::{WebSocketPipe, WebSocketRole, join_websocket};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::metrics::ConnectionMetrics;

/// A request's ask for a WebSocket: its key (none over HTTP/2) and the connection hyper hands
/// over after the 101.
pub(crate) struct Upgrade {
    key: Option<HeaderValue>,
    on_upgrade: OnUpgrade,
}

/// Takes the upgrade out of `parts` if the request asks for a WebSocket: `GET` over HTTP/1.1
/// with `Upgrade: websocket`, `Connection: upgrade`, `Sec-WebSocket-Version: 13` and a key, or
/// an HTTP/2 extended CONNECT (see [`extended_connect`]).
pub(crate) fn requested(parts: &mut Parts) -> Option<Upgrade> {
    if parts.method == Method::CONNECT && parts.version == Version::HTTP_2 {
        return extended_connect(parts);
    }
    let headers = &parts.headers;
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let asks = parts.method == Method::GET
        && has_token(UPGRADE, "websocket")
        && has_token(CONNECTION, "upgrade")
        && headers
            .get(SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v.as_bytes() == b"13");
    let key = headers.get(SEC_WEBSOCKET_KEY)?.clone();
    if !asks {
        return None;
    }
    let on_upgrade = parts.extensions.remove::<OnUpgrade>()?;
    Some(Upgrade {
        key: Some(key),
        on_upgrade,
    })
}

/// RFC 8441: over HTTP/2 a WebSocket is a CONNECT whose `:protocol` is `websocket`, with
/// `Sec-WebSocket-Version: 13` and no key. The request is rewritten into the HTTP/1.1 form
/// for the worker: a GET with `Upgrade: websocket` and `Connection: upgrade`.
fn extended_connect(parts: &mut Parts) -> Option<Upgrade> {
    let protocol = parts.extensions.get::<hyper::ext::Protocol>()?;
    let asks = protocol.as_str().eq_ignore_ascii_case("websocket")
        && parts
            .headers
            .get(SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v.as_bytes() == b"13");
    if !asks {
        return None;
    }
    let on_upgrade = parts.extensions.remove::<OnUpgrade>()?;
    parts.method = Method::GET;
    parts
        .headers
        .insert(UPGRADE, HeaderValue::from_static("websocket"));
    parts
        .headers
        .insert(CONNECTION, HeaderValue::from_static("upgrade"));
    Some(Upgrade {
        key: None,
        on_upgrade,
    })
}

/// The open sockets of a node: counted in the connection metrics, ended when the node stops.
#[derive(Clone)]
pub(crate) struct Sockets {
    metrics: Arc<ConnectionMetrics>,
    stop: watch::Receiver<bool>,
}

impl Sockets {
    pub(crate) fn new(metrics: Arc<ConnectionMetrics>, stop: watch::Receiver<bool>) -> Self {
        Self { metrics, stop }
    }

    /// Sockets open now.
    pub(crate) fn open(&self) -> u64 {
        self.metrics.websockets_open.load(Ordering::Relaxed)
    }
}

impl Upgrade {
    /// The 101 that completes the handshake (over HTTP/2, a 200; the worker's own headers are
    /// added by the caller), after which the connection is joined to `pipe` on a task of its
    /// own; `done` goes when the socket ends (the invocation's usage record is then complete).
    pub(crate) fn accept<T: Send + 'static>(
        self,
        pipe: WebSocketPipe,
        sockets: &Sockets,
        done: T,
    ) -> http::response::Builder {
        let key = self.key.clone();
        let sockets = sockets.clone();
        sockets
            .metrics
            .websockets_open
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            match self.on_upgrade.await {
                Ok(upgraded) => join(TokioIo::new(upgraded), pipe, sockets.stop.clone()).await,
                Err(err) => tracing::debug!(%err, "the WebSocket upgrade failed"),
            }
            sockets
                .metrics
                .websockets_open
                .fetch_sub(1, Ordering::Relaxed);
            drop(done);
        });
        match key {
            Some(key) => http::Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(UPGRADE, "websocket")
                .header(CONNECTION, "upgrade")
                .header(SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes())),
            None => http::Response::builder().status(StatusCode::OK),
        }
    }
}

/// Carries messages between the client's connection and the worker's lanes until the
/// socket ends (`skiff_runtime::join_websocket`), or the node stops.
async fn join<S>(io: S, pipe: WebSocketPipe, mut stop: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let WebSocketPipe {
        outgoing,
        incoming,
        held: _held,
    } = pipe;
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    join_websocket(io, WebSocketRole::Server, outgoing, incoming, stopped).await;
}
