//! WebSockets: the two ends of a `WebSocketPair`, the pipe that carries a pair's client end
//! out of the isolate when a worker answers with `new Response(null, { status: 101,
//! webSocket })`, and the worker's own connections to servers ([`outgoing`]).
//!
//! A pair is two [`SocketEnd`] resources joined by two [`Lane`]s, one per direction. The
//! worker accepts one end (`server.accept()`) and sends and receives on it through the ops
//! below; the other end either goes out in a 101 response, where its lanes become the node's
//! [`WebSocketPipe`] to the real client, or is accepted in the isolate as well. A socket the
//! worker opens itself (`new WebSocket(url)`, or `fetch()` with `Upgrade: websocket`) is one
//! [`SocketEnd`] whose lanes lead to a task on the isolate's thread that speaks to the server;
//! the same ops serve it. On the wire, [`join`] carries messages between a connection and a
//! pair of lanes, for the node's sockets and the worker's own alike; it leaves the answer to a
//! peer's Close to the worker's end, so that an end accepted with `allowHalfOpen` chooses when
//! to send it.
//!
//! A lane holds what its sender has sent and its receiver has not taken yet, counted in bytes:
//! the isolate's `send()` cannot wait, so a lane that holds more than [`MAX_BUFFERED`] refuses
//! a send; the node waits instead ([`Lane::send`]), so a worker that stops reading slows its
//! client down rather than filling memory. Each message the worker takes from a lane counts as
//! a request for the CPU watchdog (see `runtime/src/limits.rs`): a socket's events are billed
//! like requests, and a long conversation is not killed for the CPU of all its messages.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use deno_core::{AsyncRefCell, JsBuffer, OpState, RcRef, Resource, ResourceId, ToJsBuffer, op2};
use deno_error::JsErrorBox;
use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::memory::ExternalMemory;

mod join;
pub(crate) mod outgoing;

pub use join::{Role, join};

/// The largest message, either way (Cloudflare's limit for a WebSocket message).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The most a lane holds before a send is refused (the isolate) or waits (the node).
pub const MAX_BUFFERED: usize = 16 * MAX_MESSAGE_BYTES;

/// One WebSocket message, or the close that ends a direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsMessage {
    Text(String),
    Binary(Bytes),
    /// A Close frame: its code and reason (no code: 1005, none given).
    Close(Option<u16>, String),
}

impl WsMessage {
    fn weight(&self) -> usize {
        match self {
            WsMessage::Text(text) => text.len(),
            WsMessage::Binary(bytes) => bytes.len(),
            WsMessage::Close(_, reason) => reason.len(),
        }
    }
}

struct LaneState {
    buffered: AtomicUsize,
    drained: Notify,
    /// The isolate whose memory what this lane holds is charged to: set for the lanes of a
    /// pair while both ends are in the isolate, so that a worker cannot park messages outside
    /// its memory limit. Taken off when an end leaves for the node ([`LaneState::uncharge`]):
    /// the count may change only on the isolate's thread.
    charged: std::sync::Mutex<Option<Arc<ExternalMemory>>>,
}

impl LaneState {
    fn charged(&self) -> Option<Arc<ExternalMemory>> {
        self.charged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops charging the isolate, and gives back what the lane holds now.
    fn uncharge(&self) {
        let taken = self
            .charged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(memory) = taken {
            memory.sub(self.buffered.load(Ordering::Acquire));
        }
    }
}

impl std::fmt::Debug for LaneState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaneState")
            .field("buffered", &self.buffered)
            .field("charged", &self.charged().is_some())
            .finish()
    }
}

impl Drop for LaneState {
    fn drop(&mut self) {
        self.uncharge();
    }
}

/// The sending side of one direction of a socket.
#[derive(Debug, Clone)]
pub struct Lane {
    tx: mpsc::UnboundedSender<WsMessage>,
    state: Arc<LaneState>,
}

/// The receiving side of one direction of a socket.
#[derive(Debug)]
pub struct LaneReceiver {
    rx: mpsc::UnboundedReceiver<WsMessage>,
    state: Arc<LaneState>,
}

/// One direction of a socket, charged to nobody (as the node's are once an end leaves).
#[cfg(test)]
fn lane() -> (Lane, LaneReceiver) {
    charged_lane(None)
}

/// One direction of a socket; what it holds is charged to `charged`, if given.
fn charged_lane(charged: Option<Arc<ExternalMemory>>) -> (Lane, LaneReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Arc::new(LaneState {
        buffered: AtomicUsize::new(0),
        drained: Notify::new(),
        charged: std::sync::Mutex::new(charged),
    });
    (
        Lane {
            tx,
            state: state.clone(),
        },
        LaneReceiver { rx, state },
    )
}

/// Why a message was not sent.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The receiving side is gone.
    Closed,
    /// The lane holds [`MAX_BUFFERED`] bytes already.
    Full,
}

impl Lane {
    /// Sends `message` now, unless the lane is full or its receiver gone.
    pub fn try_send(&self, message: WsMessage) -> Result<(), SendError> {
        let weight = message.weight();
        if self.state.buffered.load(Ordering::Acquire) + weight > MAX_BUFFERED
            && !matches!(message, WsMessage::Close(..))
        {
            return Err(SendError::Full);
        }
        self.state.buffered.fetch_add(weight, Ordering::AcqRel);
        let charged = self.state.charged();
        if let Some(memory) = &charged {
            memory.add(weight);
        }
        self.tx.send(message).map_err(|_| {
            self.state.buffered.fetch_sub(weight, Ordering::AcqRel);
            if let Some(memory) = &charged {
                memory.sub(weight);
            }
            SendError::Closed
        })
    }

    /// Sends `message` once the lane has room for it; fails only when the receiver is gone.
    pub async fn send(&self, message: WsMessage) -> Result<(), SendError> {
        loop {
            let drained = self.state.drained.notified();
            match self.try_send(message.clone()) {
                Err(SendError::Full) => {
                    tokio::select! {
                        () = drained => {}
                        () = self.tx.closed() => return Err(SendError::Closed),
                    }
                }
                result => return result,
            }
        }
    }

    /// Resolves once the receiving side is gone.
    #[cfg(test)]
    async fn closed(&self) {
        self.tx.closed().await;
    }
}

impl LaneReceiver {
    /// The next message, or `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<WsMessage> {
        let message = self.rx.recv().await?;
        self.state
            .buffered
            .fetch_sub(message.weight(), Ordering::AcqRel);
        if let Some(memory) = self.state.charged() {
            memory.sub(message.weight());
        }
        self.state.drained.notify_waiters();
        Some(message)
    }
}

/// The client end of a pair, as it leaves the isolate in a 101 response: what the worker
/// sends (`outgoing`) and where the client's messages go (`incoming`). The node drops all
/// three when the connection ends; the worker then sees its socket close, and its invocation
/// ends when `held` goes.
#[derive(Debug)]
pub struct WebSocketPipe {
    pub outgoing: LaneReceiver,
    pub incoming: Lane,
    pub held: HeldSocket,
}

/// Held by the node for as long as it serves a socket.
#[derive(Debug)]
pub struct HeldSocket {
    #[expect(dead_code, reason = "only its drop matters")]
    released: oneshot::Sender<()>,
    /// For a socket the worker opened itself and passed on in a 101: its connection's hold
    /// (see [`SocketEnd`]'s `connection`).
    #[expect(dead_code, reason = "only its drop matters")]
    connection: Option<oneshot::Sender<()>>,
    /// For a socket another worker answered a service binding with, passed on: that worker's
    /// hold on it (see [`SocketEnd::from_pipe`]).
    #[expect(dead_code, reason = "only its drop matters")]
    upstream: Option<Box<HeldSocket>>,
}

/// What an end of a pair is charged to its isolate's memory while it exists, besides the
/// messages its lanes hold: a worker that makes pairs in a loop meets its memory limit.
const END_CHARGE: usize = 1024;

/// One end of a pair, in the isolate's resource table.
pub(crate) struct SocketEnd {
    /// To the other end; `None` once this end sent its Close.
    tx: RefCell<Option<Lane>>,
    rx: AsyncRefCell<Option<LaneReceiver>>,
    memory: Arc<ExternalMemory>,
    /// For a socket the worker opened itself: its connection's task ends a grace period after
    /// this goes (with the end, or with the pipe of the 101 that took the end's lanes), even if
    /// the server stopped reading or never answers a Close.
    connection: RefCell<Option<oneshot::Sender<()>>>,
    /// For a socket another worker answered a service binding with: that worker's hold on it,
    /// which ends its invocation when it goes.
    upstream: RefCell<Option<HeldSocket>>,
}

impl Drop for SocketEnd {
    fn drop(&mut self) {
        self.memory.sub(END_CHARGE);
    }
}

impl Resource for SocketEnd {
    fn name(&self) -> Cow<'_, str> {
        "skiffWebSocket".into()
    }
}

impl SocketEnd {
    fn new(tx: Lane, rx: LaneReceiver, memory: Arc<ExternalMemory>) -> Self {
        memory.add(END_CHARGE);
        Self {
            tx: RefCell::new(Some(tx)),
            rx: AsyncRefCell::new(Some(rx)),
            memory,
            connection: RefCell::new(None),
            upstream: RefCell::new(None),
        }
    }

    /// The end, in the caller's isolate, of a socket that another worker answered a service
    /// binding's request with: it sends into that worker's lanes and reads what it sends. The
    /// lanes stay uncharged, as they are once they leave an isolate: the other worker's thread
    /// counts into them.
    pub(crate) fn from_pipe(pipe: WebSocketPipe, memory: Arc<ExternalMemory>) -> Self {
        let WebSocketPipe {
            outgoing,
            incoming,
            held,
        } = pipe;
        let end = Self::new(incoming, outgoing, memory);
        *end.upstream.borrow_mut() = Some(held);
        end
    }

    /// The end of a socket the worker opened itself; its connection's task holds the other
    /// side of `connection`.
    fn connected(
        tx: Lane,
        rx: LaneReceiver,
        memory: Arc<ExternalMemory>,
        connection: oneshot::Sender<()>,
    ) -> Self {
        let end = Self::new(tx, rx, memory);
        *end.connection.borrow_mut() = Some(connection);
        end
    }

    /// This end's lanes, for a 101 response, and what resolves once the node lets go of
    /// them; `None` if it has been read from or closed.
    pub(crate) fn into_pipe(self: Rc<Self>) -> Option<(WebSocketPipe, oneshot::Receiver<()>)> {
        let incoming = self.tx.borrow_mut().take()?;
        let outgoing = RcRef::map(&self, |end| &end.rx).try_borrow_mut()?.take()?;
        // From here on the node sends into and takes from these lanes, on its own threads.
        incoming.state.uncharge();
        outgoing.state.uncharge();
        let (held, released) = oneshot::channel();
        let pipe = WebSocketPipe {
            outgoing,
            incoming,
            held: HeldSocket {
                released: held,
                connection: self.connection.borrow_mut().take(),
                upstream: self.upstream.borrow_mut().take().map(Box::new),
            },
        };
        Some((pipe, released))
    }
}

/// A new pair: the resource ids of its two ends.
#[op2]
#[serde]
pub fn op_skiff_ws_pair(state: &mut OpState) -> (ResourceId, ResourceId) {
    let memory = crate::external_memory(state);
    // Both lanes are charged while both ends are in the isolate (see `LaneState::charged`).
    let (to_b, from_a) = charged_lane(Some(memory.clone()));
    let (to_a, from_b) = charged_lane(Some(memory.clone()));
    let a = state
        .resource_table
        .add(SocketEnd::new(to_b, from_b, memory.clone()));
    let b = state
        .resource_table
        .add(SocketEnd::new(to_a, from_a, memory));
    (a, b)
}

fn send(state: &OpState, rid: ResourceId, message: WsMessage) -> Result<bool, JsErrorBox> {
    let end = state
        .resource_table
        .get::<SocketEnd>(rid)
        .map_err(JsErrorBox::from_err)?;
    let tx = end.tx.borrow();
    let Some(tx) = tx.as_ref() else {
        return Ok(false);
    };
    match tx.try_send(message) {
        Ok(()) => Ok(true),
        // The other side is gone: as the standard has it, the message is dropped quietly.
        Err(SendError::Closed) => Ok(false),
        Err(SendError::Full) => Err(JsErrorBox::generic(
            "WebSocket send buffer is full: the other side is not reading (16 MiB queued)",
        )),
    }
}

/// Sends a text message from end `rid`. False if the other side is gone.
#[op2(fast)]
pub fn op_skiff_ws_send_text(
    state: &mut OpState,
    #[smi] rid: ResourceId,
    #[string] text: String,
) -> Result<bool, JsErrorBox> {
    send(state, rid, WsMessage::Text(text))
}

/// Sends a binary message from end `rid`. False if the other side is gone.
#[op2]
pub fn op_skiff_ws_send_binary(
    state: &mut OpState,
    #[smi] rid: ResourceId,
    #[buffer] data: JsBuffer,
) -> Result<bool, JsErrorBox> {
    send(state, rid, WsMessage::Binary(Bytes::copy_from_slice(&data)))
}

/// Sends a Close from end `rid` (code 0: none) and ends its sending side.
#[op2(fast)]
pub fn op_skiff_ws_close(
    state: &mut OpState,
    #[smi] rid: ResourceId,
    #[smi] code: u32,
    #[string] reason: String,
) -> Result<(), JsErrorBox> {
    let end = state
        .resource_table
        .get::<SocketEnd>(rid)
        .map_err(JsErrorBox::from_err)?;
    if let Some(tx) = end.tx.borrow_mut().take() {
        let code = u16::try_from(code).ok().filter(|&code| code != 0);
        let _ = tx.try_send(WsMessage::Close(code, reason));
    }
    Ok(())
}

/// What end `rid` received, as the JavaScript side gets it.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SocketEvent {
    Text {
        data: String,
    },
    Binary {
        data: ToJsBuffer,
    },
    Close {
        code: u16,
        reason: String,
    },
    /// The other side went away without a Close.
    Gone,
}

/// The next thing end `rid` receives. Each message counts as a request for the isolate's CPU
/// allowance (see the module doc).
#[op2]
#[serde]
pub async fn op_skiff_ws_next(
    state: Rc<RefCell<OpState>>,
    #[smi] rid: ResourceId,
) -> Result<SocketEvent, JsErrorBox> {
    let end = state
        .borrow()
        .resource_table
        .get::<SocketEnd>(rid)
        .map_err(JsErrorBox::from_err)?;
    let mut rx = RcRef::map(&end, |end| &end.rx).borrow_mut().await;
    let Some(receiver) = rx.as_mut() else {
        return Ok(SocketEvent::Gone);
    };
    let message = receiver.recv().await;
    if message.is_some() {
        crate::ops::count_socket_message(&state.borrow());
    }
    Ok(match message {
        Some(WsMessage::Text(data)) => SocketEvent::Text { data },
        Some(WsMessage::Binary(data)) => SocketEvent::Binary {
            data: data.to_vec().into(),
        },
        Some(WsMessage::Close(code, reason)) => {
            *rx = None;
            SocketEvent::Close {
                code: code.unwrap_or(1005),
                reason,
            }
        }
        None => {
            *rx = None;
            SocketEvent::Gone
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_lane_refuses_the_isolate_and_holds_the_node_back() {
        let (tx, mut rx) = lane();
        let big = WsMessage::Binary(Bytes::from(vec![0; MAX_MESSAGE_BYTES]));
        for _ in 0..16 {
            tx.try_send(big.clone()).expect("room");
        }
        assert_eq!(tx.try_send(big.clone()), Err(SendError::Full));
        // A Close always fits: it must be able to end a socket whose lane is full.
        tx.try_send(WsMessage::Close(Some(1000), String::new()))
            .expect("close");
        let waiting = tokio::spawn({
            let tx = tx.clone();
            let big = big.clone();
            async move { tx.send(big).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the node waits for room");
        assert_eq!(rx.recv().await, Some(big));
        waiting
            .await
            .expect("joined")
            .expect("sent once there was room");
    }

    #[tokio::test]
    async fn a_lane_without_receiver_says_so() {
        let (tx, rx) = lane();
        drop(rx);
        assert_eq!(
            tx.try_send(WsMessage::Text("x".into())),
            Err(SendError::Closed)
        );
        tx.closed().await;
    }
}
