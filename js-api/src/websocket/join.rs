//! One socket's conversation: messages between a tungstenite socket (a client's connection at
//! the node, or a server the worker connected to) and the lanes of the worker's end.

use std::future::Future;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{Lane, LaneReceiver, MAX_MESSAGE_BYTES, WsMessage};

/// What tungstenite reserves to read a socket's frames into, at first.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// tungstenite's settings for a socket joined to a worker: messages and frames up to
/// Cloudflare's limit, and a small read buffer to start with (tungstenite reserves 128 KiB by
/// default; most sockets carry small messages, and it grows for the large ones).
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
}

/// Carries messages between `socket` and the worker's end, whose messages come from
/// `outgoing` and to which the peer's go through `incoming`, until either side closes, the
/// connection drops or `stop` resolves (then the peer gets a 1001 Close).
///
/// The peer's Close reaches the worker, and tungstenite answers it at once; a Close the worker
/// sends after that is not sent again. A message above 1 MiB from the peer closes the socket
/// with 1009 both ways. When the worker's end goes without a Close (its isolate stopped), the
/// peer gets a 1011 Close.
pub async fn join<S>(
    socket: WebSocketStream<S>,
    mut outgoing: LaneReceiver,
    incoming: Lane,
    stop: impl Future<Output = ()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut to_peer, mut from_peer) = socket.split();
    let mut worker_open = true;
    // Set once the peer's Close has been answered: nothing more may be sent.
    let mut peer_closed = false;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            frame = from_peer.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if incoming.send(WsMessage::Text(text.as_str().to_owned())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Binary(data))) => {
                    if incoming.send(WsMessage::Binary(data)).await.is_err() {
                        break;
                    }
                }
                // tungstenite answers the Close itself; the worker hears of it. The answer is
                // only queued: it goes out now, before anything the worker sends next (which
                // tungstenite would refuse on a closing socket, ending the connection with the
                // answer still unsent).
                Some(Ok(Message::Close(frame))) => {
                    peer_closed = true;
                    let _ = to_peer.flush().await;
                    let (code, reason) = match frame {
                        Some(frame) => (Some(u16::from(frame.code)), frame.reason.as_str().to_owned()),
                        None => (None, String::new()),
                    };
                    let _ = incoming.send(WsMessage::Close(code, reason)).await;
                }
                Some(Ok(_)) => {}
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                    let _ = incoming
                        .send(WsMessage::Close(Some(1009), "Message too big".into()))
                        .await;
                    let _ = to_peer.send(close(1009, "Message too big")).await;
                    break;
                }
                Some(Err(err)) => {
                    tracing::debug!(%err, "WebSocket connection failed");
                    break;
                }
                None => break,
            },
            message = outgoing.recv(), if worker_open => {
                let sent = match message {
                    Some(WsMessage::Text(text)) => to_peer.send(Message::text(text)).await,
                    Some(WsMessage::Binary(data)) => to_peer.send(Message::binary(data)).await,
                    // The peer's Close was answered already.
                    Some(WsMessage::Close(..)) if peer_closed => {
                        worker_open = false;
                        Ok(())
                    }
                    Some(WsMessage::Close(code, reason)) => {
                        worker_open = false;
                        let frame = code.map(|code| CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        });
                        to_peer.send(Message::Close(frame)).await
                    }
                    // The worker's end is gone (its isolate stopped): the socket ends.
                    None => {
                        let _ = to_peer.send(close(1011, "The worker went away")).await;
                        break;
                    }
                };
                if sent.is_err() {
                    break;
                }
            }
            () = &mut stop => {
                let _ = to_peer.send(close(1001, "The server is going away")).await;
                break;
            }
        }
    }
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}
