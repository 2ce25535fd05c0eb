//! WebSockets over HTTP/2 (RFC 8441) through a real node: a client on one HTTP/2 connection
//! asks with an extended CONNECT (`:protocol` websocket), the worker sees the request as it
//! would over HTTP/1.1 (a GET with `Upgrade: websocket`) and answers with a `WebSocketPair`,
//! and messages and closes flow over the HTTP/2 stream while the connection keeps serving
//! ordinary requests.

mod common;

use bytes::Bytes;
use common::*;
use futures::SinkExt;
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

/// Reports what it saw of the request, then echoes; "close" closes with 4000.
const ECHO: &str = r#"export default { fetch(request) {
    if (request.headers.get("upgrade") !== "websocket") {
        return new Response(`plain ${request.method}`);
    }
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.send(`${request.method} ${new URL(request.url).pathname} ${request.headers.get("connection")}`);
    server.addEventListener("message", (event) => {
        if (event.data === "close") return server.close(4000, "asked to");
        server.send(typeof event.data === "string" ? "echo:" + event.data : event.data);
    });
    return new Response(null, { status: 101, webSocket: client, headers: { "x-worker": "echo" } });
} };"#;

/// An HTTP/2 connection (prior knowledge, no TLS) to the node, once the node's SETTINGS, which
/// allow extended CONNECT, have arrived: an ordinary request is answered first.
async fn h2(node: &TestNode) -> SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(node.node.http_addr())
        .await
        .expect("connect");
    let (mut send, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let response = send
        .send_request(request(node, Method::GET, "/plain"))
        .await
        .expect("a plain request");
    assert_eq!(response.version(), Version::HTTP_2);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body, "plain GET");
    send
}

fn request(node: &TestNode, method: Method, path: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .method(method)
        .version(Version::HTTP_2)
        .uri(node.url("echo", path))
        .header("sec-websocket-version", "13")
        .body(Empty::new())
        .expect("request")
}

/// RFC 8441's extended CONNECT to `/chat` for `protocol`.
fn extended_connect(node: &TestNode, protocol: &'static str) -> Request<Empty<Bytes>> {
    let mut connect = request(node, Method::CONNECT, "/chat");
    connect
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static(protocol));
    connect
}

#[tokio::test]
async fn a_websocket_over_http2_reaches_the_worker_and_echoes() {
    let node = start(&[("echo", ECHO)]).await;
    let mut send = h2(&node).await;

    let response = send
        .send_request(extended_connect(&node, "websocket"))
        .await
        .expect("extended CONNECT");
    // RFC 8441: a 200, with no HTTP/1.1 handshake headers; the worker's own come along.
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-worker"], "echo");
    assert!(response.headers().get("sec-websocket-accept").is_none());
    let upgraded = hyper::upgrade::on(response).await.expect("the stream");
    let mut socket =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;

    // The worker saw the HTTP/1.1 form of the request.
    assert_eq!(
        next_message(&mut socket).await,
        Message::text("GET /chat upgrade")
    );
    socket.send(Message::text("hello")).await.expect("send");
    assert_eq!(next_message(&mut socket).await, Message::text("echo:hello"));
    socket
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send");
    assert_eq!(
        next_message(&mut socket).await,
        Message::binary(vec![1u8, 2, 3])
    );

    // The same connection serves other requests while the socket is open.
    let response = send
        .send_request(request(&node, Method::GET, "/again"))
        .await
        .expect("a request beside the socket");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body, "plain GET");

    socket.send(Message::text("close")).await.expect("send");
    match next_message(&mut socket).await {
        Message::Close(Some(CloseFrame { code, reason })) => {
            assert_eq!(code, CloseCode::from(4000));
            assert_eq!(reason.as_str(), "asked to");
        }
        other => panic!("expected the worker's close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_connect_for_another_protocol_is_no_websocket() {
    let node = start(&[("echo", ECHO)]).await;
    let mut send = h2(&node).await;
    let response = send
        .send_request(extended_connect(&node, "webtransport"))
        .await
        .expect("extended CONNECT");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    // The connection goes on serving.
    let response = send
        .send_request(request(&node, Method::GET, "/after"))
        .await
        .expect("a request after");
    assert_eq!(response.status(), StatusCode::OK);
}
