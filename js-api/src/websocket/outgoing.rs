//! The worker's own WebSockets: `new WebSocket(url)` and `fetch()` with `Upgrade: websocket`
//! (`js/03_websocket.js`), both through [`op_skiff_ws_connect`].
//!
//! The op keeps to the outbound policy of `fetch()` (`crate::outbound`): unless the node allows
//! private addresses, an IP-literal host that [`is_host_local`] refuses is never dialled, and a
//! name is resolved once and refused when any of its addresses is host-local; the connection
//! goes only to the addresses resolved. The subrequest count and the hop header are the
//! bootstrap's, as for `fetch()`. TLS (`wss:`, `https:`) is rustls with the Mozilla roots that
//! deno_fetch also trusts, offering HTTP/1.1 alone. The handshake is an HTTP/1.1 request on
//! hyper's client connection, so that a server that refuses the upgrade gives its ordinary
//! response, body streamed, to `fetch()`. After a 101 the connection is joined, as the
//! client's side, to a [`SocketEnd`] by a task on the isolate's thread ([`super::join`]); the
//! end's lanes are charged to the isolate's memory like a pair's. No extension is offered, so
//! none is accepted.
//!
//! The task ends with the conversation, or [`CLOSING_GRACE`] after the worker let go of the
//! end (the end closed, its isolate gone, or a 101 that took its lanes ended), whichever comes
//! first: a server that stops reading or never answers a Close holds nothing for long.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use deno_core::url::{Host, Url};
use deno_core::{ByteString, CancelFuture, CancelHandle, OpState, ResourceId, op2};
use deno_error::JsErrorBox;
use http::header::{
    CONNECTION, HOST, HeaderName, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::{Role, SocketEnd, charged_lane};
use crate::body::{RequestBodyResource, body_channel};
use crate::outbound::{is_host_local, refused};

/// How long a connection may still finish its closing handshake once the worker let go of
/// its socket.
pub const CLOSING_GRACE: Duration = Duration::from_secs(10);

/// Chunks of a refused upgrade's response body in flight to the worker.
const BODY_CHUNKS: usize = 4;

/// Request headers the handshake sets itself, or that have no meaning on it.
const HANDSHAKE_HEADERS: &[HeaderName] = &[
    HOST,
    CONNECTION,
    UPGRADE,
    SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION,
    SEC_WEBSOCKET_EXTENSIONS,
    http::header::CONTENT_LENGTH,
    http::header::TRANSFER_ENCODING,
    http::header::TE,
    http::header::TRAILER,
];

/// A connection to open, as the bootstrap asks for it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectArgs {
    /// `ws:`, `wss:`, `http:` or `https:`.
    url: String,
    /// The request's header fields (the hop header and any `Sec-WebSocket-Protocol` included).
    headers: Vec<(ByteString, ByteString)>,
    /// Who asks, for the words of a refusal: `fetch()` or `new WebSocket()`.
    caller: String,
}

/// What the server answered: a socket (`socket_rid`, status 101) or a refusal with its body
/// (`body_rid`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connected {
    status: u16,
    status_text: String,
    headers: Vec<(ByteString, ByteString)>,
    socket_rid: Option<ResourceId>,
    body_rid: Option<ResourceId>,
    protocol: Option<String>,
}

/// Why a connection was not made.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("{0}")]
    Refused(String),
    #[error("Invalid URL: {0}")]
    Url(String),
    #[error("WebSocket connection to {host} failed: {detail}")]
    Network { host: String, detail: String },
    #[error("WebSocket handshake with {host} failed: {detail}")]
    Handshake { host: String, detail: String },
}

/// What workerd says, as an `Error`, of a connection that could not be made or was lost
/// before the answer (and of one that `close()` gave up on).
const CONNECTION_LOST: &str = "Network connection lost.";

impl From<ConnectError> for JsErrorBox {
    /// A refusal by the outbound policy and a malformed URL are TypeErrors with their reason,
    /// as `fetch()`'s are; a network fault is workerd's `Error`, its detail only in the log.
    fn from(err: ConnectError) -> Self {
        match err {
            ConnectError::Refused(_) | ConnectError::Url(_) => {
                JsErrorBox::type_error(err.to_string())
            }
            ConnectError::Network { .. } | ConnectError::Handshake { .. } => {
                tracing::debug!(%err, "outgoing WebSocket failed");
                JsErrorBox::generic(CONNECTION_LOST)
            }
        }
    }
}

/// Where to connect: the URL with an `http(s)` scheme, and whether over TLS.
struct Target {
    url: Url,
    tls: bool,
    port: u16,
}

impl Target {
    fn parse(url: &str) -> Result<Self, ConnectError> {
        let url = Url::parse(url).map_err(|err| ConnectError::Url(err.to_string()))?;
        let tls = match url.scheme() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            other => {
                return Err(ConnectError::Url(format!(
                    "scheme {other}: is not ws(s) or http(s)"
                )));
            }
        };
        if url.host().is_none() {
            return Err(ConnectError::Url(format!("{url} has no host")));
        }
        let port = url.port().unwrap_or(if tls { 443 } else { 80 });
        Ok(Self { url, tls, port })
    }

    /// The host as the `Host` header and the messages give it (with a port other than the
    /// scheme's).
    fn authority(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// The addresses to dial, refused (under the strict policy) when any is host-local.
    async fn addresses(
        &self,
        allow_private: bool,
        caller: &str,
    ) -> Result<Vec<SocketAddr>, ConnectError> {
        let literal = match self.url.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        let refuse = || ConnectError::Refused(refused(caller, &self.authority()).to_string());
        if let Some(ip) = literal {
            if !allow_private && is_host_local(ip) {
                return Err(refuse());
            }
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        let name = self.url.host_str().unwrap_or_default();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, self.port))
            .await
            .map_err(|err| self.network(err))?
            .collect();
        if !allow_private && addrs.iter().any(|addr| is_host_local(addr.ip())) {
            return Err(refuse());
        }
        Ok(addrs)
    }

    fn network(&self, detail: impl std::fmt::Display) -> ConnectError {
        ConnectError::Network {
            host: self.authority(),
            detail: detail.to_string(),
        }
    }

    fn handshake_failed(&self, detail: impl std::fmt::Display) -> ConnectError {
        ConnectError::Handshake {
            host: self.authority(),
            detail: detail.to_string(),
        }
    }
}

/// A connection's byte stream, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// The client TLS settings, made once: the Mozilla roots, ring, HTTP/1.1 alone.
fn tls_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// Connects to the first of `addrs` that answers, with TLS for `wss:` and `https:` (`tls`, or
/// the default settings of [`tls_config`]).
async fn dial(
    target: &Target,
    addrs: &[SocketAddr],
    tls: Option<Arc<ClientConfig>>,
) -> Result<Box<dyn Io>, ConnectError> {
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(err) => last = Some(err),
        }
    }
    let Some(tcp) = tcp else {
        return Err(match last {
            Some(err) => target.network(err),
            None => target.network("the name has no addresses"),
        });
    };
    let _ = tcp.set_nodelay(true);
    if !target.tls {
        return Ok(Box::new(tcp));
    }
    let config = match tls {
        Some(config) => config,
        None => tls_config().map_err(|err| target.network(err))?,
    };
    let host = target.url.host_str().unwrap_or_default();
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(name.to_string()).map_err(|err| target.network(err))?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|err| target.network(err))?;
    Ok(Box::new(tls))
}

/// The handshake request: the worker's header fields, then the handshake's own.
fn handshake_request(
    target: &Target,
    headers: Vec<(ByteString, ByteString)>,
    key: &str,
) -> Result<Request<Empty<Bytes>>, ConnectError> {
    let mut path = target.url.path().to_string();
    if let Some(query) = target.url.query() {
        path.push('?');
        path.push_str(query);
    }
    let mut request = Request::get(path)
        .body(Empty::new())
        .map_err(|err| ConnectError::Url(err.to_string()))?;
    let fields = request.headers_mut();
    for (name, value) in headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&name),
            HeaderValue::from_bytes(&value),
        ) else {
            continue;
        };
        if !HANDSHAKE_HEADERS.contains(&name) {
            fields.append(name, value);
        }
    }
    let own = [
        (HOST, target.authority()),
        (CONNECTION, "Upgrade".to_string()),
        (UPGRADE, "websocket".to_string()),
        (SEC_WEBSOCKET_VERSION, "13".to_string()),
        (SEC_WEBSOCKET_KEY, key.to_string()),
    ];
    for (name, value) in own {
        let value =
            HeaderValue::from_str(&value).map_err(|err| ConnectError::Url(err.to_string()))?;
        fields.insert(name, value);
    }
    Ok(request)
}

/// What the handshake came to.
enum Answer {
    /// The 101, and the connection it handed over.
    Open(Response<Incoming>, TokioIo<hyper::upgrade::Upgraded>),
    Refused(Response<Incoming>),
}

async fn handshake(
    target: Target,
    headers: Vec<(ByteString, ByteString)>,
    allow_private: bool,
    caller: String,
    tls: Option<Arc<ClientConfig>>,
) -> Result<Answer, ConnectError> {
    let addrs = target.addresses(allow_private, &caller).await?;
    let io = dial(&target, &addrs, tls).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|err| target.handshake_failed(err))?;
    // The connection serves the request, then hands its stream over after a 101, or streams
    // a refusal's body until the worker has read it or let it go.
    deno_core::unsync::spawn(async move {
        if let Err(err) = connection.with_upgrades().await {
            tracing::debug!(%err, "outgoing WebSocket handshake connection failed");
        }
    });
    let key = generate_key();
    let request = handshake_request(&target, headers, &key)?;
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|err| target.handshake_failed(err))?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(Answer::Refused(response));
    }
    let fields = response.headers();
    let accepted = fields
        .get(SEC_WEBSOCKET_ACCEPT)
        .is_some_and(|accept| accept.as_bytes() == derive_accept_key(key.as_bytes()).as_bytes());
    let upgrade = fields
        .get(UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    if !accepted || !upgrade {
        return Err(target.handshake_failed(
            "the server's 101 did not accept the WebSocket key (Upgrade, Sec-WebSocket-Accept)",
        ));
    }
    // No extension was offered (RFC 6455 4.1: the client fails one it did not ask for).
    if fields.contains_key(SEC_WEBSOCKET_EXTENSIONS) {
        return Err(target.handshake_failed("the server chose an extension that was not offered"));
    }
    let upgraded = hyper::upgrade::on(&mut response)
        .await
        .map_err(|err| target.handshake_failed(err))?;
    Ok(Answer::Open(response, TokioIo::new(upgraded)))
}

fn head(response: &Response<Incoming>) -> (u16, String, Vec<(ByteString, ByteString)>) {
    let status = response.status();
    let text = status.canonical_reason().unwrap_or_default().to_string();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().into(), value.as_bytes().to_vec().into()))
        .collect();
    (status.as_u16(), text, headers)
}

/// Opens a WebSocket to `args.url` under the node's outbound policy; `cancel_rid` (a cancel
/// handle) stops the attempt. Resolves with the 101 and the socket's end, or with the server's
/// other answer and its body; rejects with a TypeError when no answer came.
#[op2]
#[serde]
pub async fn op_skiff_ws_connect(
    state: Rc<RefCell<OpState>>,
    #[serde] args: ConnectArgs,
    #[smi] cancel_rid: ResourceId,
) -> Result<Connected, JsErrorBox> {
    let (allow_private, memory, cancel) = {
        let state = state.borrow();
        let allow_private =
            crate::ops::configured(&state).is_some_and(|(node, _)| node.outbound.allow_private);
        let cancel = state
            .resource_table
            .get::<CancelHandle>(cancel_rid)
            .map_err(JsErrorBox::from_err)?;
        (allow_private, crate::external_memory(&state), cancel)
    };
    let target = Target::parse(&args.url)?;
    let answer = handshake(target, args.headers, allow_private, args.caller, None)
        .or_cancel(cancel)
        .await
        .map_err(|_| JsErrorBox::generic(CONNECTION_LOST))??;
    match answer {
        Answer::Refused(response) => {
            let (status, status_text, headers) = head(&response);
            let (tx, rx) = body_channel(BODY_CHUNKS);
            let mut body = response.into_body();
            deno_core::unsync::spawn(async move {
                while let Some(frame) = body.frame().await {
                    let chunk = match frame {
                        Ok(frame) => match frame.into_data() {
                            Ok(data) => Ok(data),
                            Err(_) => continue,
                        },
                        Err(err) => Err(std::io::Error::other(err)),
                    };
                    let failed = chunk.is_err();
                    if tx.send(chunk).await.is_err() || failed {
                        break;
                    }
                }
            });
            let body_rid = state
                .borrow_mut()
                .resource_table
                .add(RequestBodyResource::new(rx));
            Ok(Connected {
                status,
                status_text,
                headers,
                socket_rid: None,
                body_rid: Some(body_rid),
                protocol: None,
            })
        }
        Answer::Open(response, connection) => {
            let (status, status_text, headers) = head(&response);
            let protocol = response
                .headers()
                .get(SEC_WEBSOCKET_PROTOCOL)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string);
            let (to_server, from_worker) = charged_lane(Some(memory.clone()));
            let (to_worker, from_server) = charged_lane(Some(memory.clone()));
            let (hold, held) = oneshot::channel::<()>();
            let end = SocketEnd::connected(to_server, from_server, memory, hold);
            let socket_rid = state.borrow_mut().resource_table.add(end);
            // On the isolate's thread, as the lanes' charges must be.
            deno_core::unsync::spawn(async move {
                let let_go = async move {
                    let _ = held.await;
                    tokio::time::sleep(CLOSING_GRACE).await;
                };
                let conversation = super::join(
                    connection,
                    Role::Client,
                    from_worker,
                    to_worker,
                    std::future::pending(),
                );
                tokio::select! {
                    () = conversation => {}
                    () = let_go => {}
                }
            });
            Ok(Connected {
                status,
                status_text,
                headers,
                socket_rid: Some(socket_rid),
                body_rid: None,
                protocol,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::{SinkExt, StreamExt};

    use super::*;

    #[test]
    fn schemes_choose_tls_and_the_default_port() {
        for (url, tls, port, authority) in [
            ("ws://example.com/chat", false, 80, "example.com"),
            ("http://example.com:8080/", false, 8080, "example.com:8080"),
            ("wss://example.com/", true, 443, "example.com"),
            ("https://[::1]:9/", true, 9, "[::1]:9"),
        ] {
            let target = Target::parse(url).expect(url);
            assert_eq!(
                (target.tls, target.port, target.authority().as_str()),
                (tls, port, authority),
                "{url}"
            );
        }
        for url in ["ftp://example.com/", "not a url", "data:text/plain,x"] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }

    #[tokio::test]
    async fn host_local_literals_are_refused_unless_allowed() {
        for url in [
            "ws://127.0.0.1:9/",
            "ws://[::1]/",
            "ws://10.1.2.3/",
            "ws://[::ffff:169.254.169.254]/",
        ] {
            let target = Target::parse(url).expect(url);
            let refused = target.addresses(false, "new WebSocket()").await;
            assert!(
                matches!(&refused, Err(ConnectError::Refused(message)) if message.starts_with("new WebSocket() to ")),
                "{url}: {refused:?}"
            );
            assert_eq!(
                target
                    .addresses(true, "new WebSocket()")
                    .await
                    .expect(url)
                    .len(),
                1,
                "{url}"
            );
        }
        let public = Target::parse("ws://93.184.215.14/").expect("url");
        assert!(public.addresses(false, "fetch()").await.is_ok());
    }

    #[test]
    fn the_handshake_sets_its_own_fields_over_the_workers() {
        let target = Target::parse("ws://example.com:8080/chat?room=1").expect("url");
        let headers = vec![
            ("Host".into(), "evil.example".into()),
            ("upgrade".into(), "websocket".into()),
            ("Sec-WebSocket-Key".into(), "chosen".into()),
            (
                "Sec-WebSocket-Extensions".into(),
                "permessage-deflate".into(),
            ),
            ("Sec-WebSocket-Protocol".into(), "chat".into()),
            ("cf-ew-via".into(), "15".into()),
        ];
        let request = handshake_request(&target, headers, "a2V5").expect("request");
        assert_eq!(request.uri(), "/chat?room=1");
        let field = |name: &str| {
            let values: Vec<_> = request.headers().get_all(name).iter().collect();
            assert_eq!(values.len(), 1, "{name}");
            values[0].to_str().expect("ascii").to_string()
        };
        assert_eq!(field("host"), "example.com:8080");
        assert_eq!(field("upgrade"), "websocket");
        assert_eq!(field("connection"), "Upgrade");
        assert_eq!(field("sec-websocket-key"), "a2V5");
        assert_eq!(field("sec-websocket-version"), "13");
        assert_eq!(field("sec-websocket-protocol"), "chat");
        assert_eq!(field("cf-ew-via"), "15");
        assert!(!request.headers().contains_key("sec-websocket-extensions"));
    }

    /// A TLS WebSocket echo server on 127.0.0.1:0 with a self-signed certificate for
    /// "localhost", and the client settings that trust it.
    async fn tls_echo() -> (SocketAddr, Arc<ClientConfig>) {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let cert = generated.cert.der().clone();
        let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::try_from(
            generated.key_pair.serialize_der(),
        )
        .expect("key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut socket) = tokio_tungstenite::accept_async(tls).await else {
                        return;
                    };
                    while let Some(Ok(message)) = socket.next().await {
                        if message.is_text() || message.is_binary() {
                            let _ = socket.send(message).await;
                        }
                    }
                });
            }
        });
        let mut roots = RootCertStore::empty();
        roots.add(cert).expect("root");
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (addr, Arc::new(client))
    }

    #[tokio::test]
    async fn wss_speaks_tls_and_checks_the_certificate() {
        let (addr, trusting) = tls_echo().await;
        let url = format!("wss://localhost:{}/", addr.port());
        let target = || Target::parse(&url).expect("url");
        let answer = handshake(
            target(),
            vec![],
            true,
            "new WebSocket()".into(),
            Some(trusting),
        )
        .await
        .expect("a TLS handshake with a trusted certificate");
        let Answer::Open(response, connection) = answer else {
            panic!("expected a 101");
        };
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let mut socket = fastwebsockets::WebSocket::after_handshake(connection, Role::Client);
        socket
            .write_frame(fastwebsockets::Frame::text(b"over tls".as_slice().into()))
            .await
            .expect("send");
        let echo = socket.read_frame().await.expect("a message");
        assert_eq!(
            (echo.opcode, &echo.payload[..]),
            (fastwebsockets::OpCode::Text, b"over tls".as_slice())
        );
        // The node's own settings trust the webpki roots only: a self-signed server is refused.
        let refused = handshake(target(), vec![], true, "new WebSocket()".into(), None).await;
        assert!(
            matches!(&refused, Err(ConnectError::Network { detail, .. }) if detail.contains("certificate")),
            "{:?}",
            refused.err()
        );
    }
}
