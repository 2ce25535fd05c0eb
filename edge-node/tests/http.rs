//! The node's HTTP surface: input limits, HTTP/2, TLS with SNI, and graceful shutdown.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ECHO_LEN: &str = r#"export default { async fetch(req) {
    const body = await req.arrayBuffer();
    return new Response(`${req.method} ${body.byteLength}`);
} };"#;

/// Sends raw bytes on a fresh connection and returns the status line's code.
async fn raw_status(addr: std::net::SocketAddr, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("response before the deadline");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                response.extend_from_slice(&buf[..n]);
                if response.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn input_limits_answer_before_tenant_code() {
    let node = start_with(script_dir(&[("echo", ECHO_LEN)]), |config| {
        config.limits.max_body_bytes = 1024 * 1024;
    })
    .await;
    let client = node.client(&["echo"]);
    let addr = node.node.http_addr();

    // URL over 16 KiB -> 414.
    let long = format!("/{}", "a".repeat(17 * 1024));
    let res = client
        .get(node.url("echo", &long))
        .send()
        .await
        .expect("long url");
    assert_eq!(res.status(), 414);
    let res = client
        .get(node.url("echo", &format!("/{}", "a".repeat(15 * 1024))))
        .send()
        .await
        .expect("url under the limit");
    assert_eq!(res.status(), 200);

    // Headers over 64 KiB -> 431 (several headers, each under hyper's own limits).
    let mut request = client.get(node.url("echo", "/"));
    for i in 0..9 {
        request = request.header(format!("x-big-{i}"), "b".repeat(8 * 1024));
    }
    assert_eq!(request.send().await.expect("big headers").status(), 431);

    // A declared body over the limit -> 413 without reading it.
    let res = client
        .post(node.url("echo", "/"))
        .body(vec![0u8; 1024 * 1024 + 1])
        .send()
        .await
        .expect("big body");
    assert_eq!(res.status(), 413);
    // A chunked body that turns out too large -> 413 too.
    let chunks = futures::stream::iter(
        (0..20).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![1u8; 64 * 1024]))),
    );
    let res = client
        .post(node.url("echo", "/"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("chunked body");
    assert_eq!(res.status(), 413);
    // Under the limit the tenant sees the whole body.
    let res = client
        .post(node.url("echo", "/"))
        .body(vec![7u8; 512 * 1024])
        .send()
        .await
        .expect("body under the limit");
    assert_eq!(
        res.text().await.expect("body"),
        format!("POST {}", 512 * 1024)
    );

    // Malformed requests -> 400.
    assert_eq!(raw_status(addr, b"NOT A REQUEST\r\n\r\n").await, 400);
    assert_eq!(
        raw_status(
            addr,
            b"GET / HTTP/1.1\r\nHost: echo.localhost\r\nBad Header\r\n\r\n"
        )
        .await,
        400
    );
    assert_eq!(
        raw_status(
            addr,
            b"POST / HTTP/1.1\r\nHost: echo.localhost\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello"
        )
        .await,
        400
    );

    // Unknown host -> 404 with a short message.
    let res = client_for(addr, &["nobody"])
        .get(format!("http://nobody.localhost:{}/", addr.port()))
        .send()
        .await
        .expect("unknown host");
    assert_eq!(res.status(), 404);
    assert!(res.text().await.expect("body").contains("nobody.localhost"));

    // None of it hurt the node.
    let res = client
        .get(node.url("echo", "/"))
        .send()
        .await
        .expect("still serving");
    assert_eq!(res.text().await.expect("body"), "GET 0");
}

#[tokio::test]
async fn http2_cleartext_and_over_tls() {
    let node = start_with(script_dir(&[("hello", ECHO_LEN)]), |config| {
        config.tls_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("hello.localhost", node.node.http_addr())
        .build()
        .expect("client");
    for _ in 0..3 {
        let res = h2c
            .post(node.url("hello", "/"))
            .body("four")
            .send()
            .await
            .expect("h2c");
        assert_eq!(res.version(), reqwest::Version::HTTP_2);
        assert_eq!(res.text().await.expect("body"), "POST 4");
    }
    let https_addr = node.node.https_addr().expect("tls listener");
    let tls = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .resolve("hello.localhost", https_addr)
        .build()
        .expect("client");
    let res = tls
        .get(format!("https://hello.localhost:{}/", https_addr.port()))
        .send()
        .await
        .expect("https");
    assert_eq!(res.version(), reqwest::Version::HTTP_2, "ALPN picks h2");
    assert_eq!(res.text().await.expect("body"), "GET 0");
}

#[tokio::test]
async fn sni_chooses_the_certificate_for_the_host() {
    let certs = tempfile::tempdir().expect("tempdir");
    let mut roots = Vec::new();
    for host in ["alpha.localhost", "beta.localhost"] {
        let generated = rcgen::generate_simple_self_signed(vec![host.to_string()]).expect("cert");
        std::fs::write(
            certs.path().join(format!("{host}.crt")),
            generated.cert.pem(),
        )
        .expect("write");
        std::fs::write(
            certs.path().join(format!("{host}.key")),
            generated.key_pair.serialize_pem(),
        )
        .expect("write");
        roots.push(reqwest::Certificate::from_pem(generated.cert.pem().as_bytes()).expect("root"));
    }
    let cert_dir = certs.path().to_path_buf();
    let node = start_with(
        script_dir(&[("alpha", ECHO_LEN), ("beta", ECHO_LEN)]),
        move |config| {
            config.tls_listen = Some("127.0.0.1:0".parse().expect("addr"));
            config.certs_dir = Some(cert_dir);
        },
    )
    .await;
    let addr = node.node.https_addr().expect("tls listener");
    // A client trusting only alpha's certificate: verification (which checks the name too)
    // passes for alpha and fails for beta, so the node chose by SNI.
    let trusts_alpha = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(roots[0].clone())
        .resolve("alpha.localhost", addr)
        .resolve("beta.localhost", addr)
        .build()
        .expect("client");
    let res = trusts_alpha
        .get(format!("https://alpha.localhost:{}/", addr.port()))
        .send()
        .await
        .expect("alpha verifies");
    assert_eq!(res.status(), 200);
    assert!(
        trusts_alpha
            .get(format!("https://beta.localhost:{}/", addr.port()))
            .send()
            .await
            .is_err(),
        "beta must be served beta's certificate"
    );
    let trusts_beta = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(roots[1].clone())
        .resolve("beta.localhost", addr)
        .build()
        .expect("client");
    let res = trusts_beta
        .get(format!("https://beta.localhost:{}/", addr.port()))
        .send()
        .await
        .expect("beta verifies");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let node = start(&[(
        "slow",
        r#"export default { async fetch() {
            console.log("slow request started");
            await new Promise((r) => setTimeout(r, 300));
            return new Response("finished");
        } };"#,
    )])
    .await;
    let client = node.client(&["slow"]);
    let url = node.url("slow", "/");
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = url.clone();
        async move { client.get(url).send().await?.text().await }
    });
    node.wait_for_log("slow request started").await;
    let addr = node.node.http_addr();
    let TestNode { node: edge, .. } = node;
    let shutdown = tokio::spawn(edge.shutdown());
    let body = in_flight
        .await
        .expect("task")
        .expect("in-flight request completes");
    assert_eq!(body, "finished");
    shutdown.await.expect("shutdown");
    // After shutdown nothing listens.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_client_hello_starts_booting_the_tenant_before_any_request() {
    let node = start_with(
        script_dir(&[("early", ECHO_LEN), ("other", ECHO_LEN)]),
        |config| {
            config.tls_listen = Some("127.0.0.1:0".parse().expect("addr"));
            config.warm_on_start = false;
        },
    )
    .await;
    let registry = node.node.registry().clone();
    assert_eq!(registry.cached_isolates(), 0);
    // Only a handshake naming early.localhost: no HTTP request is ever sent.
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(insecure_client_config()));
    let stream = TcpStream::connect(node.node.https_addr().expect("tls listener"))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("early.localhost").expect("name");
    let _tls = tls.connect(name, stream).await.expect("handshake");
    wait_for_cached(&node, 1, "the isolate booted by the ClientHello").await;
    assert_eq!(
        registry
            .counters()
            .cold_starts
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "only the named tenant"
    );
}

/// A rustls client that accepts any certificate (the node's is self-signed).
fn insecure_client_config() -> rustls::ClientConfig {
    #[derive(Debug)]
    struct AcceptAny(std::sync::Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(AcceptAny(provider)))
        .with_no_client_auth()
}

/// A response made from a string with at most a content type goes out without its body being
/// built in the isolate (05_dispatch.js, and the deno_fetch patch that keeps it lazy): it must
/// still answer as one built the long way does, and a response already sent, or read, is not
/// sent again.
#[tokio::test]
async fn string_responses_go_out_as_made_and_only_once() {
    const SCRIPT: &str = r#"
const shared = new Response("shared", { headers: { "content-type": "text/html; charset=utf-8" } });
export default { async fetch(req) {
    const p = new URL(req.url).pathname;
    if (p === "/html") return new Response("<p>hi</p>", { headers: { "Content-Type": "text/html; charset=utf-8" } });
    if (p === "/default") return new Response("plain", {});
    if (p === "/status") return new Response("made", { status: 201, headers: { "content-type": "text/x-a" } });
    if (p === "/trimmed") return new Response("t", { headers: { "content-type": " text/x-b\t" } });
    if (p === "/shared") return shared;
    if (p === "/read") { const r = new Response("read", { headers: { "content-type": "text/x-c" } }); await r.text(); return r; }
    if (p === "/changed") { const r = new Response("c", { headers: { "content-type": "text/x-d" } }); r.headers.set("x-extra", "1"); return r; }
    if (p === "/head") return new Response("é ✓", { headers: { "content-type": "text/plain; charset=utf-8" } });
    return new Response("?", { status: 404 });
} };"#;
    let node = start(&[("lazy", SCRIPT)]).await;
    let client = node.client(&["lazy"]);
    let get = |path: &str| {
        let request = client.get(node.url("lazy", path));
        async move {
            let res = request.send().await.expect("request");
            let status = res.status().as_u16();
            let header = |name: &str| {
                res.headers()
                    .get(name)
                    .map(|v| v.to_str().expect("text").to_string())
            };
            let (content_type, extra) = (header("content-type"), header("x-extra"));
            (status, content_type, extra, res.text().await.expect("body"))
        }
    };
    let ct = |s: &str| Some(s.to_string());
    assert_eq!(
        get("/html").await,
        (
            200,
            ct("text/html; charset=utf-8"),
            None,
            "<p>hi</p>".into()
        )
    );
    assert_eq!(
        get("/default").await,
        (200, ct("text/plain;charset=UTF-8"), None, "plain".into())
    );
    assert_eq!(
        get("/status").await,
        (201, ct("text/x-a"), None, "made".into())
    );
    assert_eq!(
        get("/trimmed").await,
        (200, ct("text/x-b"), None, "t".into())
    );
    assert_eq!(
        get("/changed").await,
        (200, ct("text/x-d"), ct("1"), "c".into())
    );
    assert_eq!(
        get("/head").await,
        (200, ct("text/plain; charset=utf-8"), None, "é ✓".into())
    );
    assert_eq!(
        get("/shared").await,
        (200, ct("text/html; charset=utf-8"), None, "shared".into())
    );
    // Its body went out with the first answer; a second send has none to give.
    assert_eq!(get("/shared").await.0, 500);
    assert_eq!(get("/read").await.0, 500);
}

/// A module of 64 KiB or more that is not all ASCII becomes an engine string in one pass (v8x
/// patch, `new_long_string`), and is read back for compiling in one (`flat_text`): the
/// characters its author wrote arrive as written, whether the engine holds the text in 8 bits
/// (Latin-1 only) or in 16 (with a surrogate pair). The same text under another name is found
/// by the hash of its characters (`flat_chars_digest`) and answers the same.
#[tokio::test]
async fn a_long_module_keeps_its_characters() {
    let padding = format!("// {}\n", "x".repeat(70 << 10));
    let latin = format!(
        "{padding}export default {{ fetch() {{ return new Response(\"caf\u{e9} \u{ff} \" + \"\u{e9}\".length); }} }};"
    );
    let wide = format!(
        "{padding}export default {{ fetch() {{ const s = \"\u{4e2d}\u{6587} \u{1F600} caf\u{e9}\"; return new Response(s + \" \" + s.length); }} }};"
    );
    let node = start(&[("latin", &latin), ("wide", &wide), ("again", &wide)]).await;
    for (script, expected) in [
        ("latin", "caf\u{e9} \u{ff} 1"),
        ("wide", "\u{4e2d}\u{6587} \u{1F600} caf\u{e9} 10"),
        ("again", "\u{4e2d}\u{6587} \u{1F600} caf\u{e9} 10"),
    ] {
        let res = node
            .client(&[script])
            .get(node.url(script, "/"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), 200, "{script}");
        assert_eq!(res.text().await.expect("body"), expected, "{script}");
    }
}

/// A lazy text response (`op_skiff_respond_text`, which reads its strings through the engine's
/// string view) goes out with the bytes of the long way (`core.encode`): its body in UTF-8
/// with one U+FFFD for a lone surrogate, as V8 makes it, and its content type as a
/// ByteString, one byte for each character.
#[tokio::test]
async fn a_text_response_keeps_its_characters() {
    const SCRIPT: &str = r#"
export default { fetch(req) {
    const body = "caf\u00e9 \ud800 ok \u{1F600}";
    if (new URL(req.url).pathname === "/lazy") {
        return new Response(body, { headers: { "content-type": "text/x; q=\u00e9" } });
    }
    return new Response(body, { status: 201, headers: { "content-type": "text/x; q=\u00e9", "x-way": "long" } });
} };"#;
    let node = start(&[("text", SCRIPT)]).await;
    let client = node.client(&["text"]);
    for (path, status) in [("/lazy", 200), ("/long", 201)] {
        let res = client
            .get(node.url("text", path))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), status, "{path}");
        let content_type = res.headers().get("content-type").expect("content type");
        assert_eq!(content_type.as_bytes(), b"text/x; q=\xe9", "{path}");
        let body = res.bytes().await.expect("body");
        assert_eq!(
            &body[..],
            "caf\u{e9} \u{fffd} ok \u{1F600}".as_bytes(),
            "{path}"
        );
    }
}
