//! The HTTP side of a request: input limits, routing, and the bridge between hyper and
//! isolates, including the node's framing of tenants' responses. Connections are `conn.rs`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use skiff_runtime::{BodyReceiver, FetchRequest, ResponseBody, RuntimeError, body_channel};
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::limits::Limits;
use crate::registry::ScriptRegistry;
use crate::usage::{MeterGuard, Trigger};

/// How many request body chunks may wait between hyper and the isolate.
const REQUEST_BODY_CHUNKS: usize = 8;

/// Everything a connection's requests need.
pub(crate) struct Shared {
    pub registry: Arc<ScriptRegistry>,
    pub zone: String,
    pub limits: Limits,
    /// The script for hosts outside the zone (`skiff dev` serves one script on any host).
    pub default_script: Option<String>,
    pub metrics: Arc<crate::metrics::RequestMetrics>,
    /// `/__scheduled` (and `/cdn-cgi/handler/scheduled`) fire the script's scheduled handler
    /// (`skiff dev --test-scheduled`).
    pub test_scheduled: bool,
    /// The WebSockets workers hold open.
    pub sockets: crate::websocket::Sockets,
}

/// A response body: empty, complete, or streamed from an isolate (metered, for a tenant's
/// response: see [`MeteredStream`]).
pub enum NodeBody {
    Full(Option<Bytes>),
    Stream(BodyReceiver),
    Metered(MeteredStream),
}

/// A tenant's streamed response body, counting the bytes it sends. Dropped before its end,
/// the client went away: the invocation is `canceled`.
pub struct MeteredStream {
    rx: BodyReceiver,
    guard: MeterGuard,
    bytes: u64,
    ended: bool,
    /// The length the worker promised (a `FixedLengthStream`), sent as `content-length`.
    length: Option<u64>,
}

impl Drop for MeteredStream {
    fn drop(&mut self) {
        let meter = self.guard.meter();
        meter.set_response_bytes(self.bytes);
        if !self.ended {
            meter.set_canceled();
        }
    }
}

impl Body for NodeBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            NodeBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            NodeBody::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| c.map(Frame::data))),
            NodeBody::Metered(stream) => match stream.rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    stream.bytes += chunk.len() as u64;
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
                Poll::Ready(Some(Err(err))) => {
                    // The tenant's stream failed: not the client's doing.
                    stream.ended = true;
                    Poll::Ready(Some(Err(err)))
                }
                Poll::Ready(None) => {
                    stream.ended = true;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, NodeBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            NodeBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            NodeBody::Full(None) => SizeHint::with_exact(0),
            NodeBody::Metered(MeteredStream {
                length: Some(length),
                ..
            }) => SizeHint::with_exact(*length),
            NodeBody::Stream(_) | NodeBody::Metered(_) => SizeHint::default(),
        }
    }
}

/// A 413 for a body the node did not read to its end: the connection cannot carry another
/// request, so the client is told not to reuse it.
fn payload_too_large(max: u64) -> Response<NodeBody> {
    let mut response = plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Request body larger than {max} bytes"),
    );
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response<NodeBody> {
    let mut message = message.into();
    message.push('\n');
    let mut response = Response::new(NodeBody::Full(Some(Bytes::from(message))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The host a request is for, without port, lowercased: `Host` for HTTP/1, `:authority` for
/// HTTP/2.
fn request_host(req: &Request<Incoming>) -> Option<(String, String)> {
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })?;
    let host = without_port(&authority)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    Some((host, authority))
}

fn without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        // An IPv6 literal: `[::1]:8080`.
        return authority
            .split_once(']')
            .map_or(authority, |(host, _)| &host[1..]);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// `NAME.<zone>` -> `NAME` (one label only).
pub(crate) fn script_for_host<'a>(host: &'a str, zone: &str) -> Option<&'a str> {
    let name = host.strip_suffix(zone)?.strip_suffix('.')?;
    (!name.is_empty() && !name.contains('.')).then_some(name)
}

fn header_bytes(req: &Request<Incoming>) -> usize {
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// One request, from hyper to the tenant and back, timed for the metrics.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    scheme: &'static str,
    req: Request<Incoming>,
) -> Result<Response<NodeBody>, Infallible> {
    let started = std::time::Instant::now();
    let response = route(&shared, scheme, req).await;
    shared.metrics.record(response.status(), started.elapsed());
    Ok(response)
}

async fn route(
    shared: &Arc<Shared>,
    scheme: &'static str,
    req: Request<Incoming>,
) -> Response<NodeBody> {
    let limits = &shared.limits;
    let target_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target_len > limits.max_url_bytes {
        return plain(StatusCode::URI_TOO_LONG, "URI too long");
    }
    if header_bytes(&req) > limits.max_header_bytes {
        return plain(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request header fields too large",
        );
    }
    let Some((host, authority)) = request_host(&req) else {
        return plain(StatusCode::BAD_REQUEST, "Missing Host header");
    };
    let script = script_for_host(&host, &shared.zone)
        .filter(|s| shared.registry.contains(s))
        .or(shared.default_script.as_deref());
    let Some(script) = script else {
        return plain(
            StatusCode::NOT_FOUND,
            format!("No worker is deployed at {host}"),
        );
    };
    let declared_length = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > limits.max_body_bytes) {
        return payload_too_large(limits.max_body_bytes);
    }

    if shared.test_scheduled && crate::scheduled::TEST_PATHS.contains(&req.uri().path()) {
        return test_scheduled(shared, script, req.uri().query()).await;
    }
    let span =
        tracing::info_span!("request", script, method = %req.method(), path = req.uri().path());
    let script = script.to_string();
    let target = Target {
        script,
        host,
        authority,
        declared_length,
        scheme,
    };
    dispatch(shared, target, req).instrument(span).await
}

/// Fires `script`'s scheduled handler and answers its outcome (`ok`: 200, else 500), as
/// wrangler's `--test-scheduled` does.
async fn test_scheduled(shared: &Shared, script: &str, query: Option<&str>) -> Response<NodeBody> {
    let (cron, time) = crate::scheduled::test_params(query);
    let report = crate::scheduled::run(
        &shared.registry,
        &shared.metrics.usage,
        script,
        &cron,
        time,
        shared.limits.wall_clock,
    )
    .await;
    let status = if report.outcome == skiff_protocol::usage::Outcome::Ok {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    plain(status, report.outcome.as_str())
}

/// Where a request goes, once the limits and routing have passed it.
struct Target {
    script: String,
    host: String,
    authority: String,
    declared_length: Option<u64>,
    scheme: &'static str,
}

/// Runs the request through the script's isolate and turns its answer into a response.
async fn dispatch(shared: &Shared, target: Target, req: Request<Incoming>) -> Response<NodeBody> {
    let Target {
        script,
        host,
        authority,
        declared_length,
        scheme,
    } = target;
    let limits = &shared.limits;
    let isolate = match shared.registry.isolate(&script).await {
        Some(Ok(isolate)) => isolate,
        Some(Err(err)) => return error_response(&err),
        None => {
            return plain(
                StatusCode::NOT_FOUND,
                format!("No worker is deployed at {host}"),
            );
        }
    };

    let metered = shared
        .metrics
        .usage
        .meter(&script, isolate.version(), Trigger::Fetch);
    // Until the response is handed to hyper, this request's future being dropped means the
    // client went away.
    let canceled = CancelOnDrop(Some(metered.meter().clone()));
    let (mut parts, incoming) = req.into_parts();
    let upgrade = crate::websocket::requested(&mut parts);
    // CONNECT asks for a tunnel, which no worker serves (Fetch forbids the method); a
    // WebSocket's extended CONNECT has just become a GET.
    if parts.method == Method::CONNECT {
        metered.discard();
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT is only served for WebSockets",
        );
    }
    // Open sockets and connections (this request's among them) together stay within the
    // node's connection limit: a socket outlives its connection's slot.
    if upgrade.is_some()
        && shared.sockets.open() + shared.metrics.connections.open.load(Ordering::Relaxed)
            > limits.connections.max_connections as u64
    {
        metered.discard();
        return plain(StatusCode::SERVICE_UNAVAILABLE, "Too many open WebSockets");
    }
    let is_head = parts.method == Method::HEAD;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{scheme}://{authority}{path}");
    let mut headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect();
    if !parts.headers.contains_key(HOST) {
        headers.push(("host".into(), authority.as_bytes().to_vec()));
    }
    let has_body = match declared_length {
        Some(length) => length > 0,
        None => parts.headers.contains_key(TRANSFER_ENCODING) || !incoming.is_end_stream(),
    };
    let (body, overflow) = if has_body {
        let (tx, rx) = body_channel(REQUEST_BODY_CHUNKS);
        let (overflow_tx, overflow_rx) = oneshot::channel();
        tokio::spawn(forward_body(
            incoming,
            tx,
            limits.max_body_bytes,
            overflow_tx,
            metered.meter().clone(),
        ));
        (Some(rx), Some(overflow_rx))
    } else {
        (None, None)
    };

    let request = FetchRequest {
        method: parts.method.as_str().to_string(),
        url,
        headers,
        body,
        meter: Some(metered.meter().clone()),
    };
    let response = async {
        let Some(mut overflow) = overflow else {
            return Some(isolate.fetch(request).await);
        };
        let head = tokio::select! {
            biased;
            Ok(()) = &mut overflow => return None,
            head = isolate.fetch(request) => head,
        };
        // The overflow is signalled before the tenant sees its body fail, so a tenant that
        // answered because of that failure is overruled here: the client gets the 413.
        if overflow.try_recv().is_ok() {
            return None;
        }
        Some(head)
    };
    let response = tokio::time::timeout(limits.wall_clock, response).await;
    canceled.disarm();
    let Ok(response) = response else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Worker exceeded wall clock time limit",
        );
    };
    let head = match response {
        None => {
            return payload_too_large(limits.max_body_bytes);
        }
        Some(Err(err)) => {
            if !matches!(err, RuntimeError::Limit { startup: false, .. }) {
                // The request never ran: nothing to meter.
                metered.discard();
            }
            return error_response(&err);
        }
        Some(Ok(head)) => head,
    };
    if let ResponseBody::WebSocket(_) = head.body {
        return websocket_response(shared, head, upgrade, metered);
    }
    into_response(head, is_head, Some(metered))
}

/// Completes the WebSocket handshake with the worker's 101 and its headers, and joins the
/// connection to the worker's socket (see `websocket.rs`). The invocation's usage record is
/// complete when the socket ends. A 101 to a request that asked for no WebSocket is the
/// worker's error: 500.
fn websocket_response(
    shared: &Shared,
    head: skiff_runtime::ResponseHead,
    upgrade: Option<crate::websocket::Upgrade>,
    metered: MeterGuard,
) -> Response<NodeBody> {
    let ResponseBody::WebSocket(pipe) = head.body else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let Some(upgrade) = upgrade else {
        tracing::info!(
            "a worker returned a WebSocket in a response to a request which did not contain the \
             header \"Upgrade: websocket\""
        );
        metered.meter().set_status(500);
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    metered.meter().set_status(101);
    let mut builder = upgrade.accept(pipe, &shared.sockets, metered);
    for (name, value, framing) in worker_headers(head.headers) {
        if !framing && name != http::header::SEC_WEBSOCKET_ACCEPT {
            builder = builder.header(name, value);
        }
    }
    builder
        .body(NodeBody::Full(None))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"))
}

/// Marks an invocation `canceled` if dropped before [`CancelOnDrop::disarm`].
struct CancelOnDrop(Option<skiff_runtime::Meter>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(meter) = self.0.take() {
            meter.set_canceled();
        }
    }
}

/// The answer to a request whose worker failed it. Every runtime error is mapped here, and
/// only here. The tenant's faults are named as Cloudflare names them; a platform fault gets a
/// generic 503 and its detail goes to the log only.
fn error_response(err: &RuntimeError) -> Response<NodeBody> {
    let (status, message) = error_answer(err);
    plain(status, message)
}

/// The status and message of [`error_response`] (a service binding's caller gets the same).
pub(crate) fn error_answer(err: &RuntimeError) -> (StatusCode, &'static str) {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    match err {
        RuntimeError::Load { .. } | RuntimeError::Limit { startup: true, .. } => {
            tracing::debug!(%err, "worker failed to start");
            (status, "Worker failed to start")
        }
        RuntimeError::Limit { kind, .. } => (status, kind.message()),
        RuntimeError::Overloaded { .. } => (status, "Worker overloaded"),
        RuntimeError::IsolateGone { .. } => (status, "Worker unavailable"),
        RuntimeError::Platform { .. } | RuntimeError::PoolGone => {
            tracing::error!(%err, "platform fault");
            (status, "Worker unavailable")
        }
    }
}

/// A worker's response headers that parse (the others are dropped), each with whether it
/// frames the message or belongs to the connection ([`is_connection_header`], or named by the
/// worker's `connection` value): those never reach the wire as the worker set them.
fn worker_headers(
    headers: Vec<(skiff_runtime::ByteString, skiff_runtime::ByteString)>,
) -> impl Iterator<Item = (HeaderName, HeaderValue, bool)> {
    let nominated = nominated_connection_headers(&headers);
    headers.into_iter().filter_map(move |(name, value)| {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&name),
            HeaderValue::from_bytes(&value),
        ) else {
            tracing::debug!("dropping an invalid response header");
            return None;
        };
        let framing = is_connection_header(&name) || nominated.contains(&name);
        Some((name, value, framing))
    })
}

/// Response headers that frame a message or belong to one connection (RFC 9110 7.6.1,
/// RFC 9112 6): the node frames every response itself, so a tenant's values never reach the
/// wire. A `content-length` set by the tenant would otherwise let its body run into the next
/// response on a keep-alive connection.
fn is_connection_header(name: &HeaderName) -> bool {
    matches!(
        *name,
        CONTENT_LENGTH | TRANSFER_ENCODING | CONNECTION | UPGRADE | TE | TRAILER
    ) || {
        let name = name.as_str();
        name == "keep-alive" || name.starts_with("proxy-")
    }
}

/// The headers a response's `Connection` values name: they belong to that one connection too
/// (RFC 9110 7.6.1), so they are dropped with it.
fn nominated_connection_headers<B: AsRef<[u8]>>(headers: &[(B, B)]) -> Vec<HeaderName> {
    headers
        .iter()
        .filter(|(name, _)| name.as_ref().eq_ignore_ascii_case(b"connection"))
        .flat_map(|(_, value)| value.as_ref().split(|&b| b == b','))
        .filter_map(|token| HeaderName::from_bytes(token.trim_ascii()).ok())
        .collect()
}

/// A `content-length` value that is one decimal number (what a HEAD or 304 response may
/// carry to describe the body it does not send).
fn valid_content_length(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= 19 && value.iter().all(u8::is_ascii_digit)
}

/// Turns a tenant's answer into the response hyper sends. The tenant chooses the status, the
/// end-to-end headers and the body; the node chooses the framing: hyper writes
/// `content-length` from the body's exact size, or chunks it. Responses that carry no body
/// (to HEAD, 204, 304) lose the tenant's body here, for HTTP/2 as for HTTP/1.1.
fn into_response(
    head: skiff_runtime::ResponseHead,
    is_head: bool,
    metered: Option<MeterGuard>,
) -> Response<NodeBody> {
    let status = match StatusCode::from_u16(head.status) {
        // A final response: 1xx would announce a protocol switch or another response.
        Ok(status) if (200..=599).contains(&status.as_u16()) => status,
        _ => return plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
    };
    if let Some(metered) = &metered {
        metered.meter().set_status(status.as_u16());
    }
    let bodiless =
        is_head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    // HEAD and 304 may announce the length of the body they stand for.
    let length_allowed = is_head || status == StatusCode::NOT_MODIFIED;
    let (body, body_len) = match head.body {
        ResponseBody::Full(bytes) if bodiless => (NodeBody::Full(None), Some(bytes.len())),
        ResponseBody::Stream(_) if bodiless => (NodeBody::Full(None), None),
        // Only `dispatch` answers with a socket; a 101 never gets this far (see above).
        ResponseBody::WebSocket(_) => (NodeBody::Full(None), None),
        ResponseBody::Full(bytes) if bytes.is_empty() => (NodeBody::Full(None), None),
        ResponseBody::Full(bytes) => {
            if let Some(metered) = &metered {
                metered.meter().set_response_bytes(bytes.len() as u64);
            }
            (NodeBody::Full(Some(bytes)), None)
        }
        ResponseBody::Stream(rx) => match metered {
            Some(guard) => (
                NodeBody::Metered(MeteredStream {
                    rx,
                    guard,
                    bytes: 0,
                    ended: false,
                    length: head.length,
                }),
                None,
            ),
            None => (NodeBody::Stream(rx), None),
        },
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let response_headers = response.headers_mut();
    let mut length_set = false;
    for (name, value, framing) in worker_headers(head.headers) {
        if framing {
            if name == CONTENT_LENGTH
                && length_allowed
                && !length_set
                && valid_content_length(value.as_bytes())
            {
                response_headers.insert(CONTENT_LENGTH, value);
                length_set = true;
            }
            continue;
        }
        response_headers.append(name, value);
    }
    // A HEAD answered with a body: the length of that body, as a GET would have had it.
    if let (Some(len), false, true) = (body_len, length_set, is_head) {
        response_headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    response
}

/// Copies a request body from hyper into the isolate's channel, stopping at `max` bytes, and
/// meters the bytes it copied.
async fn forward_body(
    incoming: Incoming,
    tx: skiff_runtime::BodySender,
    max: u64,
    overflow: oneshot::Sender<()>,
    meter: skiff_runtime::Meter,
) {
    let copied = copy_body(incoming, tx, max, overflow).await;
    meter.set_request_bytes(copied);
}

/// [`forward_body`]'s copy; returns the bytes it passed on.
async fn copy_body(
    mut incoming: Incoming,
    tx: skiff_runtime::BodySender,
    max: u64,
    overflow: oneshot::Sender<()>,
) -> u64 {
    let mut total: u64 = 0;
    while let Some(frame) = incoming.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(err) => {
                let _ = tx.send(Err(std::io::Error::other(err))).await;
                return total;
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let len = data.len() as u64;
        if total + len > max {
            let _ = overflow.send(());
            let _ = tx
                .send(Err(std::io::Error::other(
                    "request body exceeds the node's limit",
                )))
                .await;
            return total;
        }
        if tx.send(Ok(data)).await.is_err() {
            return total;
        }
        total += len;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_scripts() {
        assert_eq!(
            script_for_host("hello.localhost", "localhost"),
            Some("hello")
        );
        assert_eq!(script_for_host("a.b.localhost", "localhost"), None);
        assert_eq!(script_for_host("localhost", "localhost"), None);
        assert_eq!(script_for_host("hello.example.com", "localhost"), None);
        assert_eq!(script_for_host("xlocalhost", "localhost"), None);
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(without_port("hello.localhost:8080"), "hello.localhost");
        assert_eq!(without_port("hello.localhost"), "hello.localhost");
        assert_eq!(without_port("[::1]:8080"), "::1");
    }
}
