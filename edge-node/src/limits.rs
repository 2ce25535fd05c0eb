//! What the node bounds before any tenant code runs: request sizes and time, and connections.

use std::time::Duration;

/// How long a request may take to produce its response head, unless configured.
pub const DEFAULT_WALL_CLOCK: Duration = Duration::from_secs(30);

/// Input limits applied before any tenant code runs.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest request target (path and query), in bytes: longer gets 414.
    pub max_url_bytes: usize,
    /// Largest header section (names, values and separators), in bytes: larger gets 431.
    pub max_header_bytes: usize,
    /// Largest request body, in bytes: larger gets 413.
    pub max_body_bytes: u64,
    /// Longest a tenant may take to produce a response head: longer gets 503.
    pub wall_clock: Duration,
    /// Bounds on connections: how many, how long they may stay silent or idle, HTTP/2.
    pub connections: ConnectionLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_url_bytes: 16 * 1024,
            max_header_bytes: 64 * 1024,
            max_body_bytes: 100 * 1024 * 1024,
            wall_clock: DEFAULT_WALL_CLOCK,
            connections: ConnectionLimits::default(),
        }
    }
}

/// Bounds on connections, applied before and between requests.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Most connections open at once, over all listeners. A connection past it is closed as
    /// soon as it is accepted (and counted in `skiff_connections_refused_total`).
    pub max_connections: usize,
    /// Longest from accept to the first request head being in: the TLS handshake, protocol
    /// detection, the HTTP/2 preface and the head itself. Longer, the connection is closed.
    pub handshake_timeout: Duration,
    /// Longest a connection stays open with no request in flight. An HTTP/1.1 client also
    /// has to send its next request head within it.
    pub idle_timeout: Duration,
    /// Longest a write to the client may wait for the client to read: a client that stops
    /// reading a response would otherwise keep its connection, and the response's producer,
    /// for as long as it likes. Past it the connection is closed.
    pub send_timeout: Duration,
    /// HTTP/2 streams a client may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 streams a client may reset before the node took them up; past it the node
    /// sends GOAWAY (the "rapid reset" flood).
    pub h2_max_pending_accept_reset_streams: usize,
    /// HTTP/2 streams the node may reset for a client's protocol errors; past it the node
    /// sends GOAWAY.
    pub h2_max_local_error_reset_streams: usize,
    /// Interval of HTTP/2 keep-alive PINGs; a PING unanswered for as long closes the
    /// connection, so a vanished client does not hold its streams.
    pub h2_keep_alive_interval: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            h2_max_concurrent_streams: 100,
            h2_max_pending_accept_reset_streams: 20,
            h2_max_local_error_reset_streams: 1024,
            h2_keep_alive_interval: Duration::from_secs(20),
        }
    }
}
