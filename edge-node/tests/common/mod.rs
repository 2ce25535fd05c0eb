//! Helpers for the edge node's integration tests: a node on port 0 over a temporary script
//! directory, and clients that reach `NAME.localhost` on it.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of these helpers"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_edge_node::{DirectorySource, EdgeNode, NodeConfig};
use skiff_runtime::LogEvent;

pub struct TestNode {
    pub node: EdgeNode,
    pub logs: Arc<Mutex<Vec<LogEvent>>>,
    pub dir: tempfile::TempDir,
}

/// Writes `scripts` (name -> source) as `NAME.js` files.
pub fn script_dir(scripts: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, source) in scripts {
        std::fs::write(dir.path().join(format!("{name}.js")), source).expect("write script");
    }
    dir
}

pub fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

pub async fn start_with(
    dir: tempfile::TempDir,
    configure: impl FnOnce(&mut NodeConfig),
) -> TestNode {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = logs.clone();
    let mut config = NodeConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.threads = 2;
    config.log = Arc::new(move |event| sink.lock().expect("logs").push(event));
    configure(&mut config);
    let node = EdgeNode::start(config, &DirectorySource::new(dir.path()))
        .await
        .expect("node starts");
    TestNode { node, logs, dir }
}

pub async fn start(scripts: &[(&str, &str)]) -> TestNode {
    start_with(script_dir(scripts), |_| {}).await
}

impl TestNode {
    pub fn url(&self, script: &str, path: &str) -> String {
        format!(
            "http://{script}.localhost:{}{path}",
            self.node.http_addr().port()
        )
    }

    /// A client that resolves every `*.localhost` name used by `scripts` to the node.
    pub fn client(&self, scripts: &[&str]) -> reqwest::Client {
        client_for(self.node.http_addr(), scripts)
    }

    /// GET `path` on `script`: the status and the body as text.
    pub async fn get(&self, script: &str, path: &str) -> (u16, String) {
        let res = self
            .client(&[script])
            .get(self.url(script, path))
            .send()
            .await
            .expect("request");
        (res.status().as_u16(), res.text().await.expect("body"))
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.logs
            .lock()
            .expect("logs")
            .iter()
            .any(|e| e.message.contains(needle))
    }

    /// Waits until a log line containing `needle` appears, or fails after 10 s.
    pub async fn wait_for_log(&self, needle: &str) {
        wait_until(|| self.logged(needle), &format!("log line {needle:?}")).await;
    }
}

pub fn client_for(addr: SocketAddr, scripts: &[&str]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30));
    for script in scripts {
        builder = builder.resolve(&format!("{script}.localhost"), addr);
    }
    builder.build().expect("client")
}

/// Waits until the node's isolate cache holds `count` isolates (moka counts lazily, so its
/// pending work is run first each time); panics after 10 s.
pub async fn wait_for_cached(node: &TestNode, count: u64, what: &str) {
    let registry = node.node.registry();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        registry.run_pending_evictions().await;
        if registry.cached_isolates() == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `condition` every 10 ms until it holds; panics after 10 s.
pub async fn wait_until(mut condition: impl FnMut() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A node syncing with `sync` (no scripts of its own), with an admin listener.
pub async fn start_synced(sync: skiff_edge_node::SyncConfig) -> TestNode {
    start_with(script_dir(&[]), |config| {
        config.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
        config.sync = Some(sync);
    })
    .await
}

/// The sync status of a node started with a sync configuration.
pub fn sync_status(node: &TestNode) -> &skiff_edge_node::SyncStatus {
    node.node.sync_status().expect("the node syncs")
}

/// Waits until `node` has applied at least `revision`.
pub async fn wait_for_revision(node: &TestNode, revision: u64) {
    wait_until(
        || sync_status(node).revision() >= revision,
        &format!("revision {revision}"),
    )
    .await;
}

/// The next data or close message `socket` receives (pings and pongs skipped), within 10 s.
pub async fn next_message<S>(
    socket: &mut tokio_tungstenite::WebSocketStream<S>,
) -> tokio_tungstenite::tungstenite::Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .expect("a message");
        if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
            return message;
        }
    }
}
