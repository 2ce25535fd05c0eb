//! The hostile-tenant suite, control plane part: what a holder of the node token, a slow or
//! silent client, and a hostile upload can no longer do. Each test breaks one guard over real
//! sockets.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Api, EventStream, HELLO, NodeSession, config, start, wait_for};
use skiff_control_plane::{ConnectionLimits, ControlPlane, constant_time_eq};
use skiff_protocol::{ErrorBody, NodeList, SecretValue, SyncEvent, TailEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    // A success may be an event stream that never ends: read its start only.
    let text = tokio::time::timeout(Duration::from_secs(2), response.text())
        .await
        .map(Result::unwrap_or_default)
        .unwrap_or_default();
    let message = serde_json::from_str::<ErrorBody>(&text)
        .map(|body| body.error)
        .unwrap_or(text);
    (status, message)
}

// Item 7: secrets at rest.

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
fn assert_private(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "the data dir");
    for name in [
        "control.db",
        "control.db-wal",
        "control.db-shm",
        "admin.token",
        "node.token",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_and_the_store_with_its_secrets_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempdir();
    let dir = root.path().join("control");
    let cp = start(&dir).await;
    let api = Api::admin(&cp);
    api.deploy("hello", HELLO).await;
    let put = api
        .put("/v1/scripts/hello/secrets/API_KEY")
        .json(&SecretValue {
            value: "hunter2".into(),
        })
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 200);
    assert_private(&dir);
    cp.shutdown().await;

    // A data dir left with loose modes (by an older version, or a copy) is repaired at start.
    let loose = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    loose(&dir, 0o755);
    for entry in std::fs::read_dir(&dir).expect("read dir") {
        loose(&entry.expect("entry").path(), 0o644);
    }
    let cp = start(&dir).await;
    assert_private(&dir);
    cp.shutdown().await;
}

#[test]
fn tokens_are_compared_whole() {
    let hash = skiff_protocol::sha256_hex(b"skiff_node_token");
    assert!(constant_time_eq(hash.as_bytes(), hash.clone().as_bytes()));
    let mut other = hash.clone().into_bytes();
    other[63] ^= 1;
    assert!(!constant_time_eq(hash.as_bytes(), &other));
    other[63] ^= 1;
    other[0] ^= 1;
    assert!(!constant_time_eq(hash.as_bytes(), &other));
    assert!(!constant_time_eq(hash.as_bytes(), &hash.as_bytes()[..63]));
    assert!(constant_time_eq(b"", b""));
}

// Item 8: a node token does only what a node does.

#[tokio::test]
async fn an_ack_of_a_revision_never_issued_is_refused() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    let upload = api.deploy("hello", HELLO).await;
    let mut session = NodeSession::open(&node, "n1", 0).await.expect("session");
    let _snapshot: SyncEvent = session.stream.expect_data(WAIT).await;

    let forged = session
        .sign(node.post("/v1/nodes/n1/ack"))
        .json(&skiff_protocol::Ack { revision: 999_999 })
        .send()
        .await
        .expect("sent");
    let (status, message) = error_of(forged).await;
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("never issued"), "{message}");

    // Without a session, not even a true revision is accepted.
    let bare = node
        .post("/v1/nodes/n1/ack")
        .header("x-skiff-node", "n1")
        .json(&skiff_protocol::Ack {
            revision: upload.revision,
        })
        .send()
        .await
        .expect("sent");
    assert_eq!(bare.status(), 403);

    let nodes: NodeList = api.json("/v1/nodes").await;
    assert_eq!(nodes.nodes[0].revision, 0, "nothing forged was recorded");
    assert_eq!(session.ack(&node, "n1", upload.revision).await, 204);
    let nodes: NodeList = api.json("/v1/nodes").await;
    assert_eq!(nodes.nodes[0].revision, upload.revision);

    // A revision issued after the session's last event was not sent to it: 409 as well.
    let later = api.deploy("other", HELLO).await;
    let early = session.ack(&node, "n1", later.revision).await;
    let _update: SyncEvent = session.stream.expect_data(WAIT).await;
    assert!(
        early == 409 || early == 204,
        "an ack of the newest revision: {early}"
    );
    assert_eq!(session.ack(&node, "n1", later.revision).await, 204);
    cp.shutdown().await;
}

#[tokio::test]
async fn a_node_may_acknowledge_only_for_itself() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    let upload = api.deploy("hello", HELLO).await;
    let mut n1 = NodeSession::open(&node, "n1", 0).await.expect("n1");
    let _snapshot: SyncEvent = n1.stream.expect_data(WAIT).await;
    let mut n2 = NodeSession::open(&node, "n2", 0).await.expect("n2");
    let _snapshot: SyncEvent = n2.stream.expect_data(WAIT).await;

    // n1's session, acking for n2 (by path, then also by header).
    assert_eq!(n1.ack(&node, "n2", upload.revision).await, 403);
    let spoofed = node
        .post("/v1/nodes/n2/ack")
        .header("x-skiff-node", "n2")
        .header("x-skiff-session", &n1.session)
        .json(&skiff_protocol::Ack {
            revision: upload.revision,
        })
        .send()
        .await
        .expect("sent");
    assert_eq!(spoofed.status(), 403);
    // A node id with no session at all creates nothing.
    assert_eq!(n1.ack(&node, "ghost", upload.revision).await, 403);

    let nodes: NodeList = api.json("/v1/nodes").await;
    let ids: Vec<_> = nodes.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, vec!["n1", "n2"]);
    assert!(nodes.nodes.iter().all(|n| n.revision == 0), "{nodes:?}");
    assert_eq!(n2.ack(&node, "n2", upload.revision).await, 204);
    cp.shutdown().await;
}

#[tokio::test]
async fn the_shared_node_token_only_enrolls_and_a_credential_speaks_for_its_node_only() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let shared = Api::node(&cp);
    api.deploy("hello", HELLO).await;

    // The shared token opens no sync stream, under any node id.
    let (status, message) = error_of(
        shared
            .get("/v1/sync?since=0")
            .header("x-skiff-node", "n1")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 403, "{message}");
    assert!(message.contains("only enrolls"), "{message}");

    // It enrolls a node id once; the id is then taken.
    let n1 = shared.as_node("n1").await.expect("n1 enrolled");
    let (status, message) = error_of(shared.enroll("n1").await).await;
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("enrolled already"), "{message}");

    // n1's credential syncs as n1, and as nothing else.
    let sync_as = |node: &Api, id: &str| {
        node.get("/v1/sync?since=0")
            .header("x-skiff-node", id)
            .send()
    };
    let own = sync_as(&n1, "n1").await.expect("sent");
    assert_eq!(own.status(), 200);
    drop(own);
    shared.as_node("n2").await.expect("n2 enrolled");
    for other in ["n2", "ghost"] {
        let (status, message) = error_of(sync_as(&n1, other).await.expect("sent")).await;
        assert_eq!(status, 403, "{other}: {message}");
        assert!(message.contains("node n1's"), "{message}");
    }
    // A credential is no admin token and enrolls nothing.
    assert_eq!(
        n1.get("/v1/nodes").send().await.expect("sent").status(),
        403
    );
    assert_eq!(n1.enroll("n3").await.status(), 403);

    // Credentials outlive a restart of the control plane.
    cp.shutdown().await;
    let cp = start(dir.path()).await;
    let n1 = Api {
        base: format!("http://{}", cp.addr()),
        ..n1
    };
    let api = Api::admin(&cp);
    let own = sync_as(&n1, "n1").await.expect("sent");
    assert_eq!(own.status(), 200);
    drop(own);

    // Deleting a node revokes its credential and frees its id.
    let deleted = api.delete("/v1/nodes/n1").send().await.expect("sent");
    assert_eq!(deleted.status(), 204);
    assert_eq!(sync_as(&n1, "n1").await.expect("sent").status(), 401);
    let shared = Api::node(&cp);
    assert_eq!(shared.enroll("n1").await.status(), 201);
    cp.shutdown().await;
}

#[tokio::test]
async fn node_ids_are_bounded_in_length_and_charset() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    for bad in [
        "a".repeat(65),
        "a".repeat(10_000),
        "n 1".into(),
        "../x".into(),
    ] {
        let response = node.enroll(&bad).await;
        let (status, message) = error_of(response).await;
        assert_eq!(status, 400, "{}: {message}", &bad[..bad.len().min(20)]);
        assert!(message.contains("node id"), "{message}");
    }
    let longest = NodeSession::open(&node, &"a".repeat(64), 0).await;
    assert!(longest.is_ok(), "64 characters are enough for a node id");
    let nodes: NodeList = api.json("/v1/nodes").await;
    assert_eq!(nodes.nodes.len(), 1);
    cp.shutdown().await;
}

#[tokio::test]
async fn node_rows_are_capped() {
    let dir = tempdir();
    let mut config = config(dir.path());
    config.max_nodes = 3;
    let cp = ControlPlane::start(config).await.expect("starts");
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    let mut sessions = Vec::new();
    for id in ["n1", "n2", "n3"] {
        sessions.push(
            NodeSession::open(&node, id, 0)
                .await
                .expect("under the cap"),
        );
    }
    let refused = node.enroll("n4").await;
    let (status, message) = error_of(refused).await;
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("--max-nodes"), "{message}");
    // A node already known comes back.
    sessions.push(NodeSession::open(&node, "n2", 0).await.expect("known node"));
    // Forgetting a stale node makes room.
    let deleted = api.delete("/v1/nodes/n3").send().await.expect("sent");
    assert_eq!(deleted.status(), 204);
    sessions.push(NodeSession::open(&node, "n4", 0).await.expect("room again"));
    let nodes: NodeList = api.json("/v1/nodes").await;
    assert_eq!(nodes.nodes.len(), 3);
    drop(sessions);
    cp.shutdown().await;
}

#[tokio::test]
async fn log_posts_need_a_session_their_own_node_and_a_tailed_script() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    api.deploy("tailed", HELLO).await;
    api.deploy("quiet", HELLO).await;
    let mut session = NodeSession::open(&node, "n1", 0).await.expect("session");
    let _snapshot: SyncEvent = session.stream.expect_data(WAIT).await;
    let mut tail = EventStream::open(api.get("/v1/scripts/tailed/tail"))
        .await
        .expect("tail opens");
    let SyncEvent::Tail { scripts } = session.stream.expect_data(WAIT).await else {
        panic!("a tail event");
    };
    assert_eq!(scripts, vec!["tailed"]);

    let event = |script: &str, node: &str, message: &str| TailEvent {
        script: script.into(),
        version: "v1".into(),
        node: node.into(),
        level: "log".into(),
        time_ms: 1,
        message: message.into(),
        invocation: None,
    };
    let post = |request: reqwest::RequestBuilder, events: Vec<TailEvent>| async move {
        request
            .json(&events)
            .send()
            .await
            .expect("sent")
            .status()
            .as_u16()
    };
    // No session: refused.
    let bare = node.post("/v1/logs").header("x-skiff-node", "n1");
    assert_eq!(
        post(bare, vec![event("tailed", "n1", "forged: no session")]).await,
        403
    );
    // Another node's name on the event: refused.
    assert_eq!(
        post(
            session.sign(node.post("/v1/logs")),
            vec![event("tailed", "n2", "forged: other node")]
        )
        .await,
        403
    );
    // A script nobody tails (or that does not exist): refused.
    for script in ["quiet", "nonexistent"] {
        assert_eq!(
            post(
                session.sign(node.post("/v1/logs")),
                vec![event(script, "n1", "forged: untailed")]
            )
            .await,
            403,
            "{script}"
        );
    }
    // A batch over the cap: refused.
    let flood = vec![event("tailed", "n1", "x"); 1001];
    assert_eq!(post(session.sign(node.post("/v1/logs")), flood).await, 413);

    assert_eq!(
        post(
            session.sign(node.post("/v1/logs")),
            vec![event("tailed", "n1", "genuine")]
        )
        .await,
        204
    );
    let received: TailEvent = tail.expect_data(WAIT).await;
    assert_eq!(
        received.message, "genuine",
        "nothing refused reached the tail"
    );
    cp.shutdown().await;
}

// Item 2 (control plane): slow and silent connections.

fn fast_limits() -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 64,
        first_byte: Duration::from_millis(500),
        header_read: Duration::from_millis(500),
        idle: Duration::from_millis(800),
    }
}

/// Reads until the server closes the connection; the time that took, or None after `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + wait).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slow_silent_and_idle_connections_are_closed() {
    let dir = tempdir();
    let mut config = config(dir.path());
    config.connections = fast_limits();
    let cp = ControlPlane::start(config).await.expect("starts");
    let addr = cp.addr();

    // Silent: never sends a byte.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let took = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(took.is_some(), "a silent connection stays open");

    // Slow head: a byte every 100 ms, forever.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /v1/scripts HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    let trickle = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if slow.write_all(b"x").await.is_err() {
                return Some(deadline - Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut buf = [0u8; 64];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await
            {
                return Some(deadline - Instant::now());
            }
        }
        None
    });
    let left = trickle.await.expect("task");
    assert!(
        left.is_some_and(|left| left > Duration::from_secs(2)),
        "a head trickling in is cut by the header-read timeout (left {left:?})"
    );

    // Idle keep-alive: one request, then nothing.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /v1/scripts HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 401"));
    let took = closed_within(&mut idle, Duration::from_secs(5)).await;
    assert!(took.is_some(), "an idle keep-alive connection stays open");
    assert!(cp.connection_stats().timed_out() >= 3);
    cp.shutdown().await;
}

#[tokio::test]
async fn an_event_stream_outlives_the_idle_timeout() {
    let dir = tempdir();
    let mut config = config(dir.path());
    config.connections = fast_limits();
    let cp = ControlPlane::start(config).await.expect("starts");
    let api = Api::admin(&cp);
    let node = Api::node(&cp);
    let mut session = NodeSession::open(&node, "n1", 0).await.expect("session");
    let _snapshot: SyncEvent = session.stream.expect_data(WAIT).await;
    // Three idle timeouts with nothing on the stream.
    let quiet: Option<SyncEvent> = session
        .stream
        .next_data(Duration::from_millis(2500))
        .await
        .expect("the stream is still open");
    assert_eq!(quiet, None);
    let upload = api.deploy("hello", HELLO).await;
    let SyncEvent::Update { revision, .. } = session.stream.expect_data(WAIT).await else {
        panic!("an update");
    };
    assert_eq!(revision, upload.revision);
    cp.shutdown().await;
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once() {
    let dir = tempdir();
    let mut config = config(dir.path());
    config.connections = ConnectionLimits {
        max_connections: 2,
        ..ConnectionLimits::default()
    };
    let cp = ControlPlane::start(config).await.expect("starts");
    let addr: SocketAddr = cp.addr();
    let held = [
        TcpStream::connect(addr).await.expect("connect"),
        TcpStream::connect(addr).await.expect("connect"),
    ];
    let opened = wait_for(WAIT, || async {
        (cp.connection_stats().open() == 2).then_some(())
    })
    .await;
    assert!(opened.is_some());
    let mut third = TcpStream::connect(addr).await.expect("connect");
    let took = closed_within(&mut third, Duration::from_secs(2)).await;
    assert!(took.is_some(), "the connection past the cap was kept");
    assert_eq!(cp.connection_stats().refused(), 1);
    drop(held);
    let served = wait_for(WAIT, || async {
        let response = Api::admin(&cp).get("/v1/scripts").send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    assert!(served.is_some(), "served again once connections closed");
    cp.shutdown().await;
}

// Item 10: upload validation is bounded.

#[tokio::test]
async fn an_upload_whose_top_level_never_settles_is_refused_in_time() {
    let dir = tempdir();
    let mut config = config(dir.path());
    config.validation_timeout = Duration::from_millis(1500);
    let cp = ControlPlane::start(config).await.expect("starts");
    let api = Api::admin(&cp);
    let hanging = "await new Promise(r => setTimeout(r, 1e9));\nexport default {};\n";
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(20), api.upload("hang", hanging))
        .await
        .expect("the upload is answered")
        .expect("sent");
    let took = started.elapsed();
    let (status, message) = error_of(response).await;
    assert_eq!(status, 400, "{message}");
    assert!(
        message.contains("did not finish within 1500 ms"),
        "{message}"
    );
    assert!(took < Duration::from_secs(6), "answered after {took:?}");

    // Its neighbours: an endless loop and a memory bomb at top level.
    let cases = [
        (
            "spin",
            "while (true) {}\nexport default {};\n",
            "CPU time limit",
        ),
        (
            "bomb",
            "const a = []; while (true) a.push(new Array(1e6).fill(1));\nexport default {};\n",
            "memory limit",
        ),
    ];
    for (name, source, expected) in cases {
        let response = tokio::time::timeout(Duration::from_secs(30), api.upload(name, source))
            .await
            .expect("the upload is answered")
            .expect("sent");
        let (status, message) = error_of(response).await;
        assert_eq!(status, 400, "{name}: {message}");
        assert!(message.contains(expected), "{name}: {message}");
    }
    // Nothing was stored, and the control plane still validates uploads.
    let scripts: Vec<skiff_protocol::ScriptSummary> = api.json("/v1/scripts").await;
    assert!(scripts.is_empty());
    api.deploy("hello", HELLO).await;
    cp.shutdown().await;
}

// Item 2 (control plane): HTTPS, with the sync stream over it.

struct TestCa {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn test_ca() -> TestCa {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "skiff test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
        .expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("cert");
    TestCa {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

#[tokio::test]
async fn the_control_plane_serves_https_and_its_event_streams() {
    let dir = tempdir();
    let ca = test_ca();
    let tls = dir.path().join("tls");
    std::fs::create_dir_all(&tls).expect("mkdir");
    std::fs::write(tls.join("cert.pem"), &ca.cert_pem).expect("write");
    std::fs::write(tls.join("key.pem"), &ca.key_pem).expect("write");
    let mut config = config(&dir.path().join("data"));
    config.tls = Some(skiff_control_plane::TlsFiles {
        cert: tls.join("cert.pem"),
        key: tls.join("key.pem"),
    });
    config.connections = fast_limits();
    let cp = ControlPlane::start(config).await.expect("starts");
    assert!(cp.url().starts_with("https://"));
    let trusted = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).expect("CA"))
        .build()
        .expect("client");
    let api = |token: &str| Api {
        base: cp.url(),
        token: token.to_string(),
        http: trusted.clone(),
        credentials: Default::default(),
    };
    let (admin, node) = (api(cp.admin_token()), api(cp.node_token()));

    // Plain HTTP on the TLS port is not served, and a client without the CA refuses it.
    let plain = reqwest::get(format!("http://{}/v1/scripts", cp.addr())).await;
    assert!(plain.is_err() || !plain.is_ok_and(|r| r.status().is_success()));
    let untrusted = reqwest::Client::new()
        .get(format!("{}/v1/scripts", cp.url()))
        .send()
        .await;
    assert!(untrusted.is_err(), "a client without the CA trusted it");

    let mut session = NodeSession::open(&node, "n1", 0)
        .await
        .expect("session over TLS");
    let _snapshot: SyncEvent = session.stream.expect_data(WAIT).await;
    let quiet: Option<SyncEvent> = session
        .stream
        .next_data(Duration::from_millis(2000))
        .await
        .expect("the stream outlives the idle timeout");
    assert_eq!(quiet, None);
    let upload = admin.deploy("hello", HELLO).await;
    let SyncEvent::Update { revision, .. } = session.stream.expect_data(WAIT).await else {
        panic!("an update over TLS");
    };
    assert_eq!(revision, upload.revision);
    assert_eq!(session.ack(&node, "n1", revision).await, 204);

    // A TLS client that never finishes its handshake is cut by the first-byte timeout.
    let mut stalled = TcpStream::connect(cp.addr()).await.expect("connect");
    let took = closed_within(&mut stalled, Duration::from_secs(5)).await;
    assert!(took.is_some(), "a stalled handshake stays open");
    assert!(cp.connection_stats().handshake_failed() >= 1);
    cp.shutdown().await;
}
