//! An isolate's event queue: the requests and scheduled events the runtime sends it, and the
//! counts of what it is busy with, readable from any thread.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use deno_core::ByteString;
use tokio::sync::{mpsc, oneshot};

use crate::body::BodyReceiver;
use crate::meter::Meter;

/// An HTTP request for the tenant's fetch handler.
#[derive(Debug)]
pub struct FetchRequest {
    pub method: String,
    /// The absolute URL, e.g. `https://hello.localhost/path?q`.
    pub url: String,
    pub headers: Vec<(String, Vec<u8>)>,
    /// `None` for a request without a body (GET, HEAD, or an empty body).
    pub body: Option<BodyReceiver>,
    /// The invocation's usage meter, if the caller meters it.
    pub meter: Option<Meter>,
}

/// A cron trigger for the tenant's scheduled handler (Cloudflare's `ScheduledController`).
#[derive(Debug)]
pub struct ScheduledRequest {
    /// The cron expression that fired, as configured (`controller.cron`).
    pub cron: String,
    /// When it was due, in milliseconds since the Unix epoch (`controller.scheduledTime`).
    pub scheduled_time_ms: u64,
    /// The invocation's usage meter, if the caller meters it.
    pub meter: Option<Meter>,
}

/// How a scheduled invocation went, once its handler and its `waitUntil` work have settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduledResult {
    /// False if the handler threw or its promise rejected, or the script has no scheduled
    /// handler.
    pub ok: bool,
    /// The script called `noRetry()` (or has no scheduled handler): a failure is not to be
    /// retried.
    pub no_retry: bool,
}

/// The status, headers and body of a tenant's response.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(ByteString, ByteString)>,
    pub body: ResponseBody,
    /// The exact length of a streamed body, when the worker promised one (a
    /// `FixedLengthStream`): the node sends it as `content-length`.
    pub length: Option<u64>,
}

/// A response body: complete, a stream of chunks that ends when the sender is dropped, or
/// (with status 101) the client end of a `WebSocketPair`, for the node to join to the client.
#[derive(Debug)]
pub enum ResponseBody {
    Full(Bytes),
    Stream(BodyReceiver),
    WebSocket(crate::WebSocketPipe),
}

/// An event queued for an isolate, with the place its outcome goes.
#[derive(Debug)]
pub(crate) enum QueuedEvent {
    Fetch {
        request: FetchRequest,
        respond: oneshot::Sender<ResponseHead>,
    },
    Scheduled {
        request: ScheduledRequest,
        respond: oneshot::Sender<ScheduledResult>,
    },
}

impl QueuedEvent {
    /// True once whoever sent the event stopped waiting for its outcome.
    pub(crate) fn abandoned(&self) -> bool {
        match self {
            QueuedEvent::Fetch { respond, .. } => respond.is_closed(),
            QueuedEvent::Scheduled { respond, .. } => respond.is_closed(),
        }
    }
}

/// How long an isolate may keep taking up new requests in one go. Past its turn, it lets the
/// other isolates on its thread run before it takes the next one, so that a busy tenant with a
/// full queue cannot hold its thread for as long as its queue stays full.
const TURN: Duration = Duration::from_millis(1);

/// What an isolate is busy with, readable from any thread.
#[derive(Debug, Default)]
pub struct IsolateLoad {
    in_flight: AtomicUsize,
    submitted: AtomicU64,
    accepted: AtomicU64,
    /// When the isolate's current turn on its thread began, in nanoseconds after [`epoch`].
    turn_began: AtomicU64,
}

impl IsolateLoad {
    /// Requests, scheduled events and `waitUntil` tasks accepted and not yet finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Events sent to the isolate since it started.
    pub fn submitted(&self) -> u64 {
        self.submitted.load(Ordering::Acquire)
    }

    /// Events the isolate has taken from its queue since it started.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Acquire)
    }

    /// Marks the start of a turn: the runtime calls this each time it polls the isolate.
    pub fn begin_turn(&self) {
        self.turn_began
            .store(nanos_since_epoch(), Ordering::Release);
    }

    /// True once the current turn has lasted [`TURN`].
    pub(crate) fn turn_over(&self) -> bool {
        let began = self.turn_began.load(Ordering::Acquire);
        nanos_since_epoch().saturating_sub(began) >= TURN.as_nanos() as u64
    }

    pub(crate) fn accept(&self) {
        self.accepted.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a WebSocket message the worker takes as an event submitted and accepted, so it
    /// adds a request's CPU allowance to the busy period (see `runtime/src/limits.rs`).
    pub(crate) fn accept_socket_message(&self) {
        self.submitted.fetch_add(1, Ordering::AcqRel);
        self.accepted.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn end(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A fixed instant of this process, for turn times that fit an atomic.
fn nanos_since_epoch() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos().try_into().unwrap_or(u64::MAX)
}

/// The runtime's end of an isolate's event queue.
#[derive(Clone, Debug)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<QueuedEvent>,
    load: Arc<IsolateLoad>,
}

impl EventSender {
    /// Queues a request for the isolate; the receiver resolves with the response head, or
    /// fails if the isolate stops first. Fails at once, giving the request back, when the
    /// isolate is gone.
    pub fn send(
        &self,
        request: FetchRequest,
    ) -> Result<oneshot::Receiver<ResponseHead>, FetchRequest> {
        let (respond, response) = oneshot::channel();
        match self.queue(QueuedEvent::Fetch { request, respond }) {
            Ok(()) => Ok(response),
            Err(QueuedEvent::Fetch { request, .. }) => Err(request),
            Err(QueuedEvent::Scheduled { .. }) => unreachable!("the event queued was a fetch"),
        }
    }

    /// Queues a scheduled event for the isolate; the receiver resolves once its handler and
    /// `waitUntil` work have settled, or fails if the isolate stops first. Fails at once,
    /// giving the request back, when the isolate is gone.
    pub fn send_scheduled(
        &self,
        request: ScheduledRequest,
    ) -> Result<oneshot::Receiver<ScheduledResult>, ScheduledRequest> {
        let (respond, result) = oneshot::channel();
        match self.queue(QueuedEvent::Scheduled { request, respond }) {
            Ok(()) => Ok(result),
            Err(QueuedEvent::Scheduled { request, .. }) => Err(request),
            Err(QueuedEvent::Fetch { .. }) => unreachable!("the event queued was scheduled"),
        }
    }

    fn queue(&self, event: QueuedEvent) -> Result<(), QueuedEvent> {
        self.load.submitted.fetch_add(1, Ordering::AcqRel);
        self.tx.send(event).map_err(|err| {
            self.load.submitted.fetch_sub(1, Ordering::AcqRel);
            err.0
        })
    }

    /// What the isolate is busy with; holding it does not keep the queue open.
    pub fn load(&self) -> &Arc<IsolateLoad> {
        &self.load
    }

    /// True once the isolate has stopped taking events.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The isolate's end of its event queue; given to [`crate::extensions`].
#[derive(Debug)]
pub struct EventReceiver {
    pub(crate) rx: mpsc::UnboundedReceiver<QueuedEvent>,
    pub(crate) load: Arc<IsolateLoad>,
}

/// A connected event queue for one isolate.
pub fn event_channel() -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let load = Arc::new(IsolateLoad::default());
    (
        EventSender {
            tx,
            load: load.clone(),
        },
        EventReceiver { rx, load },
    )
}
