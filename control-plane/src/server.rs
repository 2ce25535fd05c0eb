//! The control plane's HTTP(S) server: the accept loop, TLS, and the connection limits that
//! keep slow or silent clients from pinning it.
//!
//! Each connection is served by hyper (HTTP/1.1, or HTTP/2 by ALPN or preface) and watched by a
//! small state machine over its activity:
//!
//! - a new connection must send its first byte (over TLS: finish its handshake) within the
//!   first-byte timeout;
//! - once bytes of a request head arrive on a connection with no request in progress, the
//!   whole head must follow within the header-read timeout;
//! - a keep-alive connection with no request in progress is closed after the idle timeout.
//!
//! A request is in progress from the moment hyper hands it to the router until its response
//! body has been sent, so a long-lived event stream (the nodes' sync channel, `skiff tail`)
//! never counts as idle. Past the cap on open connections a new connection is closed at once.
//! Accept errors (such as running out of file descriptors) back off and are logged at most
//! once per [`LOG_EVERY`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::error::ControlError;

/// The longest a connection may take to finish once asked to close (it gets a GOAWAY or a
/// `connection: close` first).
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How often a repeated warning (accept errors, refused connections) is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(5);
/// Back-off after a failed accept: doubling from the first to the cap.
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_CAP: Duration = Duration::from_secs(1);
/// HTTP/2 limits: concurrent streams per connection and the size of a header list.
const H2_MAX_STREAMS: u32 = 128;
const H2_MAX_HEADER_LIST: u32 = 64 * 1024;
/// How long shutdown waits for open connections to finish.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Limits on the control plane's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most; past it new ones are closed at once.
    pub max_connections: usize,
    /// Time from accept to the first byte (plain) or to the end of the TLS handshake.
    pub first_byte: Duration,
    /// Time from the first byte of a request head to its end.
    pub header_read: Duration,
    /// Time a keep-alive connection may sit with no request in progress.
    pub idle: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            first_byte: Duration::from_secs(10),
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

/// The certificate chain and key of an HTTPS control plane, as PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Counters of the server's limits.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicUsize,
    accepted: AtomicU64,
    refused: AtomicU64,
    timed_out: AtomicU64,
    handshake_failed: AtomicU64,
    accept_errors: AtomicU64,
}

impl ConnectionStats {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections accepted and served since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed at once because the cap was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Connections closed by the first-byte, header-read or idle timeout.
    pub fn timed_out(&self) -> u64 {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// TLS handshakes that failed or did not finish in time.
    pub fn handshake_failed(&self) -> u64 {
        self.handshake_failed.load(Ordering::Relaxed)
    }

    /// Failed accepts (such as file descriptors running out).
    pub fn accept_errors(&self) -> u64 {
        self.accept_errors.load(Ordering::Relaxed)
    }
}

/// Reads the PEM files into a rustls acceptor offering HTTP/2 and HTTP/1.1 by ALPN.
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ControlError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|err| ControlError::Tls(format!("{}: {err}", path.display())))
    };
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let certs = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| ControlError::Tls(format!("{}: {err}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(ControlError::Tls(format!(
            "{}: no certificate in the PEM file",
            files.cert.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|err| ControlError::Tls(format!("{}: {err}", files.key.display())))?
        .ok_or_else(|| {
            ControlError::Tls(format!(
                "{}: no private key in the PEM file",
                files.key.display()
            ))
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ControlError::Tls(err.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| ControlError::Tls(err.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Logs a repeated warning at most once per [`LOG_EVERY`], with how many were held back.
#[derive(Default)]
struct RateLimitedLog {
    last: Mutex<Option<Instant>>,
    held_back: AtomicU64,
}

impl RateLimitedLog {
    fn warn(&self, message: &str, detail: &dyn std::fmt::Display) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(now);
        let held_back = self.held_back.swap(0, Ordering::Relaxed);
        tracing::warn!(%detail, held_back, "{message}");
    }
}

/// Everything the accept loop hands to its connections.
pub(crate) struct Server {
    pub app: Router,
    pub tls: Option<TlsAcceptor>,
    pub limits: ConnectionLimits,
    pub stats: Arc<ConnectionStats>,
    pub stop: watch::Receiver<bool>,
}

/// Accepts connections until `stop` flips, then waits (a while) for the open ones to finish.
pub(crate) async fn serve(listener: TcpListener, server: Server) {
    let Server {
        app,
        tls,
        limits,
        stats,
        mut stop,
    } = server;
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let builder = Arc::new(builder());
    let accept_log = RateLimitedLog::default();
    let refused_log = RateLimitedLog::default();
    let mut backoff = ACCEPT_BACKOFF_FIRST;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF_FIRST;
                accepted
            }
            Err(err) => {
                stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                accept_log.warn("accepting a connection failed; backing off", &err);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|stop| *stop) => break,
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_CAP);
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            refused_log.warn(
                "connection refused: the control plane has the most open connections it allows",
                &format_args!("{peer} (limit {max})"),
            );
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let connection = Connection {
            app: app.clone(),
            tls: tls.clone(),
            limits,
            stats: stats.clone(),
            builder: builder.clone(),
            stop: stop.clone(),
            peer,
        };
        tokio::spawn(async move {
            connection.run(stream).await;
            connection.stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_WAIT, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = stats.open(),
            "connections still open after {SHUTDOWN_WAIT:?}; leaving them"
        );
    }
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Head and idle timeouts are the connection watchdog's (hyper's own header timer would
    // also run while a keep-alive connection is idle).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(256 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST);
    builder
}

struct Connection {
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    stats: Arc<ConnectionStats>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
}

impl Connection {
    async fn run(&self, stream: TcpStream) {
        let activity = Arc::new(Activity::new());
        match &self.tls {
            None => {
                self.serve(Counted::new(stream, activity.clone()), activity)
                    .await
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                match tokio::time::timeout(self.limits.first_byte, handshake).await {
                    Ok(Ok(stream)) => {
                        activity.restart();
                        self.serve(Counted::new(stream, activity.clone()), activity)
                            .await;
                    }
                    Ok(Err(err)) => {
                        self.stats.handshake_failed.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(peer = %self.peer, %err, "TLS handshake failed");
                    }
                    Err(_) => {
                        self.stats.handshake_failed.fetch_add(1, Ordering::Relaxed);
                        self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(peer = %self.peer, "TLS handshake timed out");
                    }
                }
            }
        }
    }

    async fn serve<S>(&self, io: Counted<S>, activity: Arc<Activity>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let app = self.app.clone();
        let tracker = activity.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = InFlight::start(tracker.clone());
            let mut app = app.clone();
            async move {
                let request = request.map(Body::new);
                let response = match tower_service::Service::call(&mut app, request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, std::convert::Infallible>(response.map(|body| Tracked {
                    body,
                    _in_flight: in_flight,
                }))
            }
        });
        let conn = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut stop = self.stop.clone();
        let mut closing: Option<tokio::time::Instant> = None;
        let tick = self.tick();
        loop {
            let closing_at = closing;
            let grace_over = async move {
                match closing_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(peer = %self.peer, %err, "connection ended with an error");
                    }
                    return;
                }
                _ = tokio::time::sleep(tick), if closing.is_none() => {
                    if let Some(reason) = activity.expired(&self.limits) {
                        self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(peer = %self.peer, reason, "closing the connection");
                        conn.as_mut().graceful_shutdown();
                        closing = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                    }
                }
                _ = stop.wait_for(|stop| *stop), if closing.is_none() => {
                    // Requests in flight finish (event streams end on the same signal).
                    conn.as_mut().graceful_shutdown();
                    closing = Some(tokio::time::Instant::now() + SHUTDOWN_WAIT);
                }
                _ = grace_over => return,
            }
        }
    }

    /// How often the watchdog looks at the connection: a fifth of the shortest timeout.
    fn tick(&self) -> Duration {
        let shortest = self
            .limits
            .first_byte
            .min(self.limits.header_read)
            .min(self.limits.idle);
        (shortest / 5).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

/// What the watchdog knows about one connection.
struct Activity {
    /// Requests whose response has not been sent completely.
    in_flight: AtomicUsize,
    /// Bytes read from the connection so far.
    read: AtomicU64,
    idle: Mutex<IdleMark>,
}

/// Where the current idle period began.
struct IdleMark {
    since: Instant,
    /// `Activity::read` when it began: more means a request head has started.
    read_at_start: u64,
    /// When the first byte of the next head was noticed.
    head_started: Option<Instant>,
    /// Whether the connection has served a request (idle, not first-byte, timeout).
    served: bool,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            read: AtomicU64::new(0),
            idle: Mutex::new(IdleMark {
                since: Instant::now(),
                read_at_start: 0,
                head_started: None,
                served: false,
            }),
        }
    }

    fn mark(&self) -> std::sync::MutexGuard<'_, IdleMark> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the first-byte period again (after a TLS handshake).
    fn restart(&self) {
        let mut mark = self.mark();
        mark.since = Instant::now();
        mark.read_at_start = self.read.load(Ordering::Relaxed);
        mark.head_started = None;
    }

    /// Why the connection should close now, if it should.
    fn expired(&self, limits: &ConnectionLimits) -> Option<&'static str> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let now = Instant::now();
        let mut mark = self.mark();
        if self.read.load(Ordering::Relaxed) > mark.read_at_start {
            let started = *mark.head_started.get_or_insert(now);
            return (now.duration_since(started) >= limits.header_read)
                .then_some("header-read timeout");
        }
        let (limit, reason) = if mark.served {
            (limits.idle, "idle timeout")
        } else {
            (limits.first_byte, "first-byte timeout")
        };
        (now.duration_since(mark.since) >= limit).then_some(reason)
    }
}

/// A request in progress on a connection, until its response body is dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        let mut mark = activity.mark();
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            mark.since = Instant::now();
            mark.read_at_start = activity.read.load(Ordering::Relaxed);
            mark.head_started = None;
            mark.served = true;
        }
    }
}

/// A response body that keeps its request counted as in progress until it is dropped.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A stream that counts the bytes read from it.
struct Counted<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Counted<S> {
    fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            self.activity.read.fetch_add(read as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 1,
            first_byte: Duration::from_millis(50),
            header_read: Duration::from_millis(50),
            idle: Duration::from_secs(3600),
        }
    }

    #[test]
    fn a_request_in_progress_is_never_idle() {
        let activity = Arc::new(Activity::new());
        let request = InFlight::start(activity.clone());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(activity.expired(&limits()), None);
        drop(request);
        // Served once: the idle timeout (an hour) applies now, not the first-byte one.
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(activity.expired(&limits()), None);
    }

    #[test]
    fn silence_and_slow_heads_expire() {
        let activity = Activity::new();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(activity.expired(&limits()), Some("first-byte timeout"));
        activity.restart();
        activity.read.fetch_add(3, Ordering::Relaxed);
        assert_eq!(activity.expired(&limits()), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(activity.expired(&limits()), Some("header-read timeout"));
    }
}
