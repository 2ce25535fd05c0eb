//! One socket's conversation on the wire: frames between a WebSocket connection (a client's
//! connection at the node, or a server the worker connected to) and the lanes of the worker's
//! end, in fastwebsockets' framing.
//!
//! The closing handshake is ours, not the library's: a peer's Close goes to the worker, and the
//! next Close the worker sends is the answer. An end accepted without `allowHalfOpen` answers
//! at once with the peer's code and reason (`js/03_websocket.js`); a half-open one may send more
//! messages first, then its own code and reason. Once both Closes have gone, a server ends the
//! connection and a client waits for the server to (RFC 6455 7.1.1). Every wait of the closing
//! handshake is bounded by [`CLOSE_TIMEOUT`]: a peer that never answers the worker's Close, or a
//! server that never hangs up, holds the connection no longer than that.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use fastwebsockets::{
    CloseCode, Frame, OpCode, Payload, WebSocket, WebSocketError, WebSocketRead, WebSocketWrite,
};
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Duration, Instant};

pub use fastwebsockets::Role;

use super::{Lane, LaneReceiver, MAX_MESSAGE_BYTES, WsMessage};

/// The longest wait in a closing handshake: for the peer's answer to our Close, for a server to
/// end the connection after both Closes, and for a Close to be written to a peer that does not
/// read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

const TOO_BIG: &str = "Message too big";
const WORKER_GONE: &str = "The worker went away";
const GOING_AWAY: &str = "The server is going away";

/// Carries messages between the connection `io`, whose WebSocket handshake is done and on
/// which this end plays `role`, and the worker's end, whose messages come from `outgoing` and
/// to which the peer's go through `incoming`; until both sides have closed, the connection
/// drops or `stop` resolves (then the peer gets a 1001 Close).
///
/// A message above 1 MiB from the peer closes the socket with 1009 both ways. A peer that
/// breaks the protocol gets a 1002 Close (1007 for text that is not UTF-8), and the worker
/// hears that the connection failed. When the worker's end goes without a Close (its isolate
/// stopped), the peer gets a 1011 Close. Pings are answered here.
pub async fn join<S>(
    io: S,
    role: Role,
    mut outgoing: LaneReceiver,
    incoming: Lane,
    stop: impl Future<Output = ()>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut socket = WebSocket::after_handshake(io, role);
    socket.set_auto_close(false);
    socket.set_auto_pong(false);
    // fastwebsockets refuses a frame of `max_message_size` bytes or more; a message of
    // exactly the limit is allowed.
    socket.set_max_message_size(MAX_MESSAGE_BYTES + 1);
    let (reader, writer) = socket.split(tokio::io::split);
    let mut to_peer = Peer { socket: writer };
    let from_peer = PeerFrames::new(reader).into_stream();
    // Armed when our Close goes out before the peer's: how long the peer has to answer.
    let answer_by = tokio::time::sleep(CLOSE_TIMEOUT);
    tokio::pin!(from_peer, answer_by, stop);
    let mut worker_open = true;
    // Set once the peer's Close is in: nothing more comes from it.
    let mut peer_closed = false;
    while !(peer_closed && to_peer.closed()) {
        tokio::select! {
            read = from_peer.next(), if !peer_closed => match read {
                Some(Ok(Read::Message(message))) => {
                    if incoming.send(message).await.is_err() && !to_peer.closed() {
                        to_peer.close(Some(1011), WORKER_GONE).await;
                        break;
                    }
                }
                Some(Ok(Read::Ping(payload))) => {
                    let pong = Frame::pong(payload.into());
                    if !to_peer.closed() && to_peer.send(pong).await.is_err() {
                        break;
                    }
                }
                // The worker hears it, and its next Close is the answer.
                Some(Ok(Read::Close(code, reason))) => {
                    peer_closed = true;
                    let heard = incoming.send(WsMessage::Close(code, reason)).await.is_ok();
                    if !heard && !to_peer.closed() {
                        to_peer.close(Some(1011), WORKER_GONE).await;
                    }
                }
                Some(Err(Failure::TooBig)) => {
                    let _ = incoming
                        .send(WsMessage::Close(Some(1009), TOO_BIG.into()))
                        .await;
                    to_peer.close(Some(1009), TOO_BIG).await;
                    break;
                }
                Some(Err(Failure::Protocol(code, reason))) => {
                    tracing::debug!(code, reason, "the WebSocket peer broke the protocol");
                    to_peer.close(Some(code), reason).await;
                    break;
                }
                Some(Err(Failure::Lost(err))) => {
                    tracing::debug!(%err, "WebSocket connection failed");
                    break;
                }
                None => break,
            },
            message = outgoing.recv(), if worker_open => match message {
                Some(WsMessage::Text(text)) => {
                    if to_peer.send(Frame::text(text.into_bytes().into())).await.is_err() {
                        break;
                    }
                }
                Some(WsMessage::Binary(data)) => {
                    if to_peer.send(Frame::binary(Payload::Borrowed(&data))).await.is_err() {
                        break;
                    }
                }
                // The answer to the peer's Close, or the start of the closing handshake.
                Some(WsMessage::Close(code, reason)) => {
                    worker_open = false;
                    if !to_peer.close(code, &reason).await {
                        break;
                    }
                    answer_by.as_mut().reset(Instant::now() + CLOSE_TIMEOUT);
                }
                // The worker's end is gone (its isolate stopped): the socket ends.
                None => {
                    to_peer.close(Some(1011), WORKER_GONE).await;
                    break;
                }
            },
            () = &mut answer_by, if to_peer.closed() && !peer_closed => {
                tracing::debug!("the WebSocket peer did not answer a Close");
                break;
            }
            () = &mut stop => {
                to_peer.close(Some(1001), GOING_AWAY).await;
                break;
            }
        }
    }
    if role == Role::Client && peer_closed && to_peer.closed() {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Some(Ok(_)) = from_peer.next().await {}
        })
        .await;
    }
}

/// The writing half of the connection.
struct Peer<W> {
    socket: WebSocketWrite<W>,
}

impl<W: AsyncWrite + Unpin> Peer<W> {
    /// Whether our Close has gone out (nothing may follow it).
    fn closed(&self) -> bool {
        self.socket.is_closed()
    }

    /// Writes `frame` and flushes it; fails once our Close has gone out.
    async fn send(&mut self, frame: Frame<'_>) -> Result<(), WebSocketError> {
        self.socket.write_frame(frame).await?;
        self.socket.flush().await
    }

    /// Sends our Close (no code: an empty one), unless it has gone out already; within
    /// [`CLOSE_TIMEOUT`], for a peer that does not read. False if it could not be sent.
    async fn close(&mut self, code: Option<u16>, reason: &str) -> bool {
        if self.closed() {
            return true;
        }
        let frame = match code {
            Some(code) => Frame::close(code, reason.as_bytes()),
            None => Frame::close_raw(Payload::Borrowed(&[])),
        };
        matches!(
            tokio::time::timeout(CLOSE_TIMEOUT, self.send(frame)).await,
            Ok(Ok(()))
        )
    }
}

/// What the peer sent, as the loop takes it.
enum Read {
    Message(WsMessage),
    Ping(Vec<u8>),
    /// Its Close: code (none given: `None`) and reason.
    Close(Option<u16>, String),
}

/// Why the peer's side ended.
enum Failure {
    /// A message above [`MAX_MESSAGE_BYTES`].
    TooBig,
    /// A frame the protocol forbids: the code and reason of the Close the peer gets.
    Protocol(u16, &'static str),
    /// The connection failed or ended without a Close.
    Lost(WebSocketError),
}

const PROTOCOL_ERROR: Failure = Failure::Protocol(1002, "Protocol error");
const INVALID_UTF8: Failure = Failure::Protocol(1007, "Invalid UTF-8");

impl From<WebSocketError> for Failure {
    fn from(err: WebSocketError) -> Self {
        match err {
            WebSocketError::FrameTooLarge => Failure::TooBig,
            WebSocketError::InvalidUTF8 => INVALID_UTF8,
            WebSocketError::ReservedBitsNotZero
            | WebSocketError::InvalidValue
            | WebSocketError::ControlFrameFragmented
            | WebSocketError::PingFrameTooLarge => PROTOCOL_ERROR,
            err => Failure::Lost(err),
        }
    }
}

/// The reading half of the connection, which puts fragmented messages together.
///
/// fastwebsockets' `FragmentCollector` is not used: it bounds each frame but not the message
/// they add up to, and takes a text message that ends inside a character.
struct PeerFrames<R> {
    socket: WebSocketRead<R>,
    /// A message whose first frames are in: whether it is text, and its bytes so far.
    partial: Option<(bool, Vec<u8>)>,
}

impl<R: AsyncRead + Unpin> PeerFrames<R> {
    fn new(socket: WebSocketRead<R>) -> Self {
        Self {
            socket,
            partial: None,
        }
    }

    /// The frames as a stream, which a `select!` may stop polling mid-frame without losing
    /// any (a frame read, unlike the stream, cannot be cancelled safely). It never ends: after
    /// a failure, it fails again.
    fn into_stream(self) -> impl Stream<Item = Result<Read, Failure>> {
        futures::stream::unfold(self, |mut frames| async move {
            let read = frames.next().await;
            Some((read, frames))
        })
    }

    async fn next(&mut self) -> Result<Read, Failure> {
        // With the automatic answers off, fastwebsockets has nothing to send by itself.
        let mut nothing_to_send = |_| std::future::ready(Ok::<(), Infallible>(()));
        loop {
            let frame = self.socket.read_frame(&mut nothing_to_send).await?;
            let (fin, opcode) = (frame.fin, frame.opcode);
            match (opcode, self.partial.as_mut()) {
                (OpCode::Text | OpCode::Binary, Some(_)) => return Err(PROTOCOL_ERROR),
                (OpCode::Text | OpCode::Binary, None) if fin => {
                    return message(opcode == OpCode::Text, bytes(frame.payload));
                }
                (OpCode::Text | OpCode::Binary, None) => {
                    self.partial = Some((opcode == OpCode::Text, Vec::from(frame.payload)));
                }
                (OpCode::Continuation, None) => return Err(PROTOCOL_ERROR),
                (OpCode::Continuation, Some((_, data))) => {
                    if data.len() + frame.payload.len() > MAX_MESSAGE_BYTES {
                        return Err(Failure::TooBig);
                    }
                    data.extend_from_slice(&frame.payload);
                    if fin && let Some((text, data)) = self.partial.take() {
                        return message(text, Bytes::from(data));
                    }
                }
                (OpCode::Ping, _) => return Ok(Read::Ping(Vec::from(frame.payload))),
                (OpCode::Pong, _) => {}
                (OpCode::Close, _) => return close_frame(&frame.payload),
            }
        }
    }
}

fn bytes(payload: Payload<'_>) -> Bytes {
    match payload {
        Payload::Bytes(bytes) => bytes.freeze(),
        other => Bytes::from(Vec::from(other)),
    }
}

fn message(text: bool, data: Bytes) -> Result<Read, Failure> {
    if !text {
        return Ok(Read::Message(WsMessage::Binary(data)));
    }
    let text = String::from_utf8(Vec::from(data)).map_err(|_| INVALID_UTF8)?;
    Ok(Read::Message(WsMessage::Text(text)))
}

/// A Close frame's code and reason, checked as RFC 6455 5.5 and 7.4 require.
fn close_frame(payload: &[u8]) -> Result<Read, Failure> {
    match payload {
        [] => Ok(Read::Close(None, String::new())),
        [high, low, reason @ ..] if payload.len() <= 125 => {
            let code = u16::from_be_bytes([*high, *low]);
            if !CloseCode::from(code).is_allowed() {
                return Err(PROTOCOL_ERROR);
            }
            let reason = std::str::from_utf8(reason).map_err(|_| INVALID_UTF8)?;
            Ok(Read::Close(Some(code), reason.to_owned()))
        }
        _ => Err(PROTOCOL_ERROR),
    }
}

#[cfg(test)]
mod tests {
    use futures::SinkExt;
    use tokio::io::DuplexStream;
    use tokio::task::JoinHandle;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role as PeerRole;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode as Op};
    use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame as RawFrame};

    use super::super::lane;
    use super::*;

    /// A socket joined in `role` over an in-memory connection: its peer (tungstenite, in the
    /// other role), the worker's lanes (to the peer, from the peer) and the join's task.
    struct Joined {
        peer: WebSocketStream<DuplexStream>,
        to_peer: Lane,
        from_peer: LaneReceiver,
        task: JoinHandle<()>,
    }

    async fn joined(role: Role) -> Joined {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (to_peer, outgoing) = lane();
        let (incoming, from_peer) = lane();
        let task = tokio::spawn(join(ours, role, outgoing, incoming, std::future::pending()));
        let peer_role = match role {
            Role::Server => PeerRole::Client,
            Role::Client => PeerRole::Server,
        };
        let peer = WebSocketStream::from_raw_socket(theirs, peer_role, None).await;
        Joined {
            peer,
            to_peer,
            from_peer,
            task,
        }
    }

    fn close(code: u16, reason: &str) -> Message {
        Message::Close(Some(CloseFrame {
            code: code.into(),
            reason: reason.into(),
        }))
    }

    async fn next(peer: &mut WebSocketStream<DuplexStream>) -> Option<Message> {
        tokio::time::timeout(Duration::from_secs(10), peer.next())
            .await
            .expect("the peer hears something within 10 s")
            .map(|message| message.expect("a message"))
    }

    #[tokio::test(start_paused = true)]
    async fn the_peer_s_close_is_answered_by_the_worker_s_close_when_it_comes() {
        let mut socket = joined(Role::Server).await;
        socket.peer.send(close(1000, "")).await.expect("close");
        assert_eq!(
            socket.from_peer.recv().await,
            Some(WsMessage::Close(Some(1000), String::new()))
        );
        // Nothing answers it until the worker does: a half-open end may go on sending.
        let early = tokio::time::timeout(Duration::from_secs(60), socket.peer.next()).await;
        assert!(early.is_err(), "no answer before the worker's: {early:?}");
        socket
            .to_peer
            .try_send(WsMessage::Text("bye".into()))
            .expect("send");
        socket
            .to_peer
            .try_send(WsMessage::Close(Some(4000), "done".into()))
            .expect("close");
        assert_eq!(next(&mut socket.peer).await, Some(Message::text("bye")));
        assert_eq!(next(&mut socket.peer).await, Some(close(4000, "done")));
        assert_eq!(next(&mut socket.peer).await, None, "the server hangs up");
        socket.task.await.expect("joined");
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_answers_the_worker_s_close_is_let_go() {
        let socket = joined(Role::Server).await;
        let started = Instant::now();
        socket
            .to_peer
            .try_send(WsMessage::Close(Some(1000), String::new()))
            .expect("close");
        tokio::time::timeout(CLOSE_TIMEOUT * 2, socket.task)
            .await
            .expect("the connection ends")
            .expect("joined");
        assert!(
            started.elapsed() >= CLOSE_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
        drop(socket.peer);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_waits_for_the_server_to_hang_up_but_not_forever() {
        for hangs_up in [true, false] {
            let mut socket = joined(Role::Client).await;
            let started = Instant::now();
            socket
                .to_peer
                .try_send(WsMessage::Close(Some(4001), "bye".into()))
                .expect("close");
            // tungstenite's server answers the Close as it reads it, with the same code.
            assert_eq!(next(&mut socket.peer).await, Some(close(4001, "bye")));
            let _ = socket.peer.flush().await;
            assert_eq!(
                socket.from_peer.recv().await,
                Some(WsMessage::Close(Some(4001), "bye".into()))
            );
            let held = tokio::time::timeout(Duration::from_secs(1), &mut socket.task).await;
            assert!(held.is_err(), "the client waits for the server to hang up");
            if hangs_up {
                drop(socket.peer);
                socket.task.await.expect("joined");
                assert!(started.elapsed() < CLOSE_TIMEOUT, "{:?}", started.elapsed());
            } else {
                socket.task.await.expect("joined");
                assert!(
                    started.elapsed() >= CLOSE_TIMEOUT,
                    "{:?}",
                    started.elapsed()
                );
            }
        }
    }

    #[tokio::test]
    async fn fragments_make_one_message_up_to_the_limit() {
        let mut socket = joined(Role::Server).await;
        let fragment =
            |data: Vec<u8>, opcode, fin| Message::Frame(RawFrame::message(data, opcode, fin));
        // "hé!", cut inside the "é".
        for message in [
            fragment(vec![b'h', 0xC3], Op::Data(Data::Text), false),
            fragment(vec![0xA9], Op::Data(Data::Continue), false),
            fragment(vec![b'!'], Op::Data(Data::Continue), true),
        ] {
            socket.peer.send(message).await.expect("send");
        }
        assert_eq!(
            socket.from_peer.recv().await,
            Some(WsMessage::Text("hé!".into()))
        );
        let half = MAX_MESSAGE_BYTES / 2;
        for message in [
            fragment(vec![1; half], Op::Data(Data::Binary), false),
            fragment(vec![2; half], Op::Data(Data::Continue), true),
        ] {
            socket.peer.send(message).await.expect("send");
        }
        let Some(WsMessage::Binary(whole)) = socket.from_peer.recv().await else {
            panic!("expected the whole message");
        };
        assert_eq!(whole.len(), MAX_MESSAGE_BYTES);
        // One byte more, in three frames each below the limit.
        for message in [
            fragment(vec![1; half], Op::Data(Data::Binary), false),
            fragment(vec![2; half], Op::Data(Data::Continue), false),
            fragment(vec![3], Op::Data(Data::Continue), true),
        ] {
            socket.peer.send(message).await.expect("send");
        }
        let too_big = Some(WsMessage::Close(Some(1009), TOO_BIG.into()));
        assert_eq!(socket.from_peer.recv().await, too_big);
        assert_eq!(next(&mut socket.peer).await, Some(close(1009, TOO_BIG)));
        socket.task.await.expect("joined");
    }

    #[tokio::test]
    async fn a_peer_that_breaks_the_protocol_gets_1002_or_1007() {
        let frame =
            |data: Vec<u8>, opcode, fin| Message::Frame(RawFrame::message(data, opcode, fin));
        let close_frame = |payload: Vec<u8>| frame(payload, Op::Control(Control::Close), true);
        let mut bad_utf8_reason = 1000u16.to_be_bytes().to_vec();
        bad_utf8_reason.push(0xFF);
        for (messages, code) in [
            (vec![close_frame(1005u16.to_be_bytes().to_vec())], 1002),
            (vec![close_frame(999u16.to_be_bytes().to_vec())], 1002),
            (vec![close_frame(vec![3])], 1002),
            (vec![close_frame(bad_utf8_reason)], 1007),
            (vec![frame(vec![0xFF], Op::Data(Data::Text), true)], 1007),
            (vec![frame(vec![1], Op::Data(Data::Continue), true)], 1002),
            // A text message that ends inside a character.
            (
                vec![
                    frame(vec![b'h', 0xC3], Op::Data(Data::Text), false),
                    frame(vec![], Op::Data(Data::Continue), true),
                ],
                1007,
            ),
            // A new message before the last one ended.
            (
                vec![
                    frame(vec![1], Op::Data(Data::Binary), false),
                    frame(vec![2], Op::Data(Data::Binary), true),
                ],
                1002,
            ),
        ] {
            let mut socket = joined(Role::Server).await;
            for message in messages {
                socket.peer.send(message).await.expect("send");
            }
            let Some(Message::Close(Some(frame))) = next(&mut socket.peer).await else {
                panic!("expected a Close");
            };
            assert_eq!(u16::from(frame.code), code);
            // The worker hears that the connection failed: its lane ends without a Close.
            assert_eq!(socket.from_peer.recv().await, None);
            socket.task.await.expect("joined");
        }
    }

    #[tokio::test]
    async fn pings_are_answered_and_a_vanished_worker_gets_1011() {
        let mut socket = joined(Role::Server).await;
        socket
            .peer
            .send(Message::Ping(Bytes::from_static(b"are you there")))
            .await
            .expect("ping");
        assert_eq!(
            next(&mut socket.peer).await,
            Some(Message::Pong(Bytes::from_static(b"are you there")))
        );
        drop(socket.to_peer);
        assert_eq!(next(&mut socket.peer).await, Some(close(1011, WORKER_GONE)));
        socket.task.await.expect("joined");
    }
}
