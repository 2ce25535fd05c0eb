//! Connections: the accept loop (with its cap on open connections and its back-off when the
//! process runs out of file descriptors), and the life of one connection, bounded by a
//! handshake timeout before its first request and an idle timeout between requests.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::limits::Limits;
use crate::metrics::ConnectionMetrics;
use crate::server::{NodeBody, Shared};

/// After an idle connection was asked to close (GOAWAY for HTTP/2), how long it may take
/// before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The slots of open connections, shared by the listeners; shutdown waits for all of them.
pub(crate) struct Slots {
    semaphore: Arc<Semaphore>,
    max: u32,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Self {
        let max = u32::try_from(max.max(1)).unwrap_or(u32::MAX);
        Self {
            semaphore: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    fn try_take(&self, metrics: &Arc<ConnectionMetrics>) -> Option<Slot> {
        let permit = self.semaphore.clone().try_acquire_owned().ok()?;
        metrics.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            _permit: permit,
            metrics: metrics.clone(),
        })
    }

    /// Resolves once every connection has closed.
    pub(crate) async fn all_closed(&self) {
        let _ = self.semaphore.acquire_many(self.max).await;
    }
}

/// One open connection's slot, given back (and uncounted) when the connection ends.
struct Slot {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<ConnectionMetrics>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.metrics.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A warning at most once a second, saying how many were left out in between.
#[derive(Default)]
struct RateLimitedWarning {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedWarning {
    /// The number of warnings left out since the last one, if this one may be logged.
    fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The accept loop's pause after errors that say the process (or system) is out of
/// resources: it grows from 10 ms to 1 s while they last, so that a full descriptor table
/// does not turn the loop into a busy spin.
#[derive(Default)]
struct AcceptBackoff {
    delay: Duration,
    warning: RateLimitedWarning,
}

impl AcceptBackoff {
    const MIN: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
    }

    /// How long to wait after `err`. Errors of one connection (reset before it was
    /// accepted) need no pause: pausing on them would let a client slow down accepting.
    fn failed(&mut self, err: &io::Error) -> Option<Duration> {
        if matches!(
            err.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock
        ) {
            return None;
        }
        self.delay = (self.delay * 2).clamp(Self::MIN, Self::MAX);
        if let Some(suppressed) = self.warning.allow() {
            tracing::warn!(%err, suppressed, retry_in = ?self.delay, "accept failed");
        }
        Some(self.delay)
    }
}

/// What one listener serves its connections with.
pub(crate) struct Listener {
    pub listener: TcpListener,
    pub tls: Option<TlsAcceptor>,
    pub shared: Arc<Shared>,
    pub slots: Arc<Slots>,
    pub stop: watch::Receiver<bool>,
}

/// Accepts connections until `stop` flips, serving each on its own task.
pub(crate) async fn serve(listener: Listener) {
    let Listener {
        listener,
        tls,
        shared,
        slots,
        mut stop,
    } = listener;
    let builder = Arc::new(builder(&shared.limits));
    let scheme = if tls.is_some() { "https" } else { "http" };
    let metrics = shared.metrics.connections.clone();
    let mut backoff = AcceptBackoff::default();
    let mut refusals = RateLimitedWarning::default();
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            Err(err) => {
                metrics.accept_errors.fetch_add(1, Ordering::Relaxed);
                if let Some(delay) = backoff.failed(&err) {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.wait_for(|stop| *stop) => return,
                    }
                }
                continue;
            }
        };
        let Some(slot) = slots.try_take(&metrics) else {
            // Past the cap: refused at once, so the client learns it now and the backlog
            // keeps moving. A plaintext client is told why, with a 503, when a place for
            // that is free; otherwise (and over TLS, where the handshake alone would hold
            // the socket) the connection is just closed.
            match (&tls, refusing.clone().try_acquire_owned()) {
                (None, Ok(permit)) => {
                    tokio::spawn(refuse(stream, permit));
                }
                _ => drop(stream),
            }
            metrics.refused.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = refusals.allow() {
                tracing::warn!(
                    max = shared.limits.connections.max_connections,
                    suppressed,
                    "connection limit reached; refusing connections"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            shared: shared.clone(),
            builder: builder.clone(),
            scheme,
            stop: stop.clone(),
            _slot: slot,
        };
        tokio::spawn(connection.run(stream, tls.clone(), peer));
    }
}

/// How many connections past the cap may be answered 503 at once; past that they are closed
/// without an answer, so refusing stays cheap whatever the flood.
const REFUSING_AT_ONCE: usize = 32;

/// How long a refused connection is kept to read the client's request: closing a socket with
/// unread data resets it, and a reset can overtake the 503 before the client reads it.
const REFUSAL_LINGER: Duration = Duration::from_millis(250);

const REFUSAL: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain;charset=UTF-8\r\n\
content-length: 17\r\nretry-after: 1\r\nconnection: close\r\n\r\nNode at capacity\n";

/// Answers a connection past the cap with 503 and closes it, within [`REFUSAL_LINGER`].
async fn refuse(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// hyper's settings, from the node's limits.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let connections = &limits.connections;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own ceilings sit above Skiff's limits so that the service answers with the
    // precise status; past them hyper answers 431 itself.
    let head_room = limits.max_url_bytes + limits.max_header_bytes + 16 * 1024;
    builder
        .http1()
        .max_buf_size(head_room.max(8192))
        .max_headers(4096)
        .timer(hyper_util::rt::TokioTimer::new())
        // hyper starts this timer when it waits for a request head, which on a kept-alive
        // connection is as soon as the previous response is out.
        .header_read_timeout(connections.idle_timeout);
    builder
        .http2()
        .max_header_list_size(u32::try_from(head_room).unwrap_or(u32::MAX))
        .max_concurrent_streams(connections.h2_max_concurrent_streams)
        .max_pending_accept_reset_streams(connections.h2_max_pending_accept_reset_streams)
        .max_local_error_reset_streams(connections.h2_max_local_error_reset_streams)
        .keep_alive_interval(connections.h2_keep_alive_interval)
        .keep_alive_timeout(connections.h2_keep_alive_interval)
        // RFC 8441: WebSockets over HTTP/2 (see websocket.rs).
        .enable_connect_protocol()
        .timer(hyper_util::rt::TokioTimer::new());
    builder
}

/// One accepted connection and what it needs.
struct Connection {
    shared: Arc<Shared>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    scheme: &'static str,
    stop: watch::Receiver<bool>,
    /// Its place among the open connections, given back when the connection ends.
    _slot: Slot,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>, peer: std::net::SocketAddr) {
        let limits = &self.shared.limits.connections;
        let handshake_deadline = Instant::now() + limits.handshake_timeout;
        let metrics = self.shared.metrics.connections.clone();
        let send_timeout = limits.send_timeout;
        let stream = SendDeadline::new(stream, send_timeout, metrics.send_timeouts.clone());
        let result = match tls {
            None => self.serve(TokioIo::new(stream), handshake_deadline).await,
            Some(acceptor) => {
                match tokio::time::timeout_at(handshake_deadline, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => self.serve(TokioIo::new(stream), handshake_deadline).await,
                    Ok(Err(err)) => {
                        tracing::debug!(%peer, %err, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        metrics.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        };
        if let Err(err) = result {
            tracing::debug!(%peer, %err, "connection ended with an error");
        }
    }

    /// Serves HTTP on `io` until the client closes it, it outstays a timeout, or the node
    /// stops (then in-flight requests finish first).
    async fn serve<I>(
        mut self,
        io: TokioIo<I>,
        handshake_deadline: Instant,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let service = {
            let shared = self.shared.clone();
            let activity = activity.clone();
            let scheme = self.scheme;
            hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let busy = activity.begin();
                let shared = shared.clone();
                async move {
                    let response = crate::server::handle(shared, scheme, req).await?;
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| TrackedBody { body, _busy: busy }),
                    )
                }
            })
        };
        let metrics = self.shared.metrics.connections.clone();
        let idle_timeout = self.shared.limits.connections.idle_timeout;
        let conn = self.builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(conn);
        // When to look at the connection's activity next: at the handshake deadline, and at
        // least once an idle timeout (a request may have come and gone before the deadline).
        let mut check_at = Some(handshake_deadline.min(Instant::now() + idle_timeout));
        let mut stopping = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => return result,
                _ = self.stop.wait_for(|stop| *stop), if !stopping => {
                    conn.as_mut().graceful_shutdown();
                    stopping = true;
                    check_at = None;
                }
                _ = sleep_until(check_at) => {
                    let now = Instant::now();
                    match activity.idle_since() {
                        // A close was asked for CLOSE_GRACE ago (or it never had a request).
                        _ if stopping => return Ok(()),
                        Idle::Never if now < handshake_deadline => {
                            check_at = Some(handshake_deadline.min(now + idle_timeout));
                        }
                        Idle::Never => {
                            metrics.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                            return Ok(());
                        }
                        Idle::Busy => check_at = Some(now + idle_timeout),
                        Idle::Since(since) if now < since + idle_timeout => {
                            check_at = Some(since + idle_timeout);
                        }
                        Idle::Since(_) => {
                            metrics.idle_timeouts.fetch_add(1, Ordering::Relaxed);
                            conn.as_mut().graceful_shutdown();
                            stopping = true;
                            check_at = Some(now + CLOSE_GRACE);
                        }
                    }
                }
            }
        }
    }
}

/// A connection's socket whose writes fail once one has waited [`SendDeadline::timeout`] for
/// the client to read. hyper has no send timeout of its own; with this, a client that stops
/// reading a response loses its connection instead of keeping it (and the response's
/// producer) for as long as it likes.
struct SendDeadline<S> {
    inner: S,
    timeout: Duration,
    /// The deadline of the write that waits, reset (not remade) each time a write starts
    /// waiting; `waiting` says whether it is armed.
    deadline: Pin<Box<tokio::time::Sleep>>,
    waiting: bool,
    timeouts: Arc<AtomicU64>,
}

impl<S> SendDeadline<S> {
    fn new(inner: S, timeout: Duration, timeouts: Arc<AtomicU64>) -> Self {
        Self {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            waiting: false,
            timeouts,
        }
    }

    /// `result` of a write, flush or vectored write of `inner`: a pending one waits for the
    /// deadline (and fails past it), one that made progress clears it.
    fn deadline<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.waiting = false;
            return result;
        }
        if !self.waiting {
            let at = Instant::now() + self.timeout;
            self.deadline.as_mut().reset(at);
            self.waiting = true;
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not read what the node sent",
                )))
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SendDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SendDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.deadline(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.deadline(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.deadline(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether a connection has requests in flight, and since when it has had none.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the last request ended, plus one; 0 before any.
    last_end: AtomicU64,
}

enum Idle {
    /// No request has come yet.
    Never,
    Busy,
    Since(Instant),
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    fn idle_since(&self) -> Idle {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Idle::Busy;
        }
        match self.last_end.load(Ordering::Relaxed) {
            0 => Idle::Never,
            ms => Idle::Since(self.opened + Duration::from_millis(ms - 1)),
        }
    }
}

/// A request in flight: from hyper handing it over until its response body is done.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let ms = self.0.opened.elapsed().as_millis() as u64 + 1;
        self.0.last_end.store(ms, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct TrackedBody {
    body: NodeBody,
    _busy: Busy,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, io::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_grows_to_a_second_and_resets() {
        let mut backoff = AcceptBackoff::default();
        // EMFILE on Linux.
        let emfile = io::Error::from_raw_os_error(24);
        let delays: Vec<_> = (0..10).filter_map(|_| backoff.failed(&emfile)).collect();
        assert_eq!(delays[0], Duration::from_millis(10));
        assert_eq!(delays[1], Duration::from_millis(20));
        assert_eq!(*delays.last().expect("delays"), Duration::from_secs(1));
        backoff.succeeded();
        assert_eq!(backoff.failed(&emfile), Some(Duration::from_millis(10)));
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.failed(&aborted), None);
    }

    #[test]
    fn warnings_are_limited_to_one_a_second_with_a_count() {
        let mut warning = RateLimitedWarning::default();
        assert_eq!(warning.allow(), Some(0));
        for _ in 0..1000 {
            assert_eq!(warning.allow(), None);
        }
        warning.last = Some(Instant::now() - Duration::from_secs(2));
        assert_eq!(warning.allow(), Some(1000));
    }
}
