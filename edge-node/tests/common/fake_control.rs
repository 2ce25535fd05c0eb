//! A small stand-in for the control plane's node API (`/v1/sync`, `/v1/bundles/{hash}`,
//! `/v1/nodes/{id}/ack`, `/v1/logs`) on 127.0.0.1 port 0, serving what the test deploys and
//! recording what nodes send.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use skiff_protocol::{
    Ack, Bundle, DeployedVersion, Deployment, ScriptChange, ScriptState, SyncEvent, TailEvent,
    VersionInfo,
};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

pub const TOKEN: &str = "node-token";

type Body = BoxBody<Bytes, Infallible>;

/// One version to deploy: its module source, percentage and vars.
pub struct Version<'a> {
    pub source: &'a str,
    pub percentage: f64,
    pub vars: &'a [(&'a str, &'a str)],
}

impl<'a> Version<'a> {
    pub fn all(source: &'a str) -> Self {
        Self {
            source,
            percentage: 100.0,
            vars: &[],
        }
    }
}

/// A script of a deployment: its versions and secrets.
pub struct Script<'a> {
    pub name: &'a str,
    pub versions: &'a [Version<'a>],
    pub secrets: &'a [(&'a str, &'a str)],
}

/// The bundle of a one-module script.
pub fn bundle(source: &str) -> Bundle {
    let mut bundle = Bundle {
        main_module: "index.js".into(),
        ..Bundle::default()
    };
    bundle.modules.insert("index.js".into(), source.into());
    bundle
}

#[derive(Default)]
struct Data {
    revision: u64,
    scripts: BTreeMap<String, ScriptState>,
    /// Every change, with its revision.
    changes: Vec<(u64, ScriptChange)>,
    tailed: Vec<String>,
    bundles: HashMap<String, Vec<u8>>,
    /// Bundles served with different (well-formed) content.
    tampered: HashSet<String>,
    /// Answer every subscription with a snapshot, as a control plane does for a node older
    /// than its change log.
    snapshots_only: bool,
    next_version: u64,
    // Recorded requests.
    sync_requests: Vec<u64>,
    acks: Vec<(String, u64)>,
    logs: Vec<TailEvent>,
}

struct Inner {
    data: Mutex<Data>,
    events: broadcast::Sender<String>,
    /// Bumped to end every open sync stream.
    streams: watch::Sender<u64>,
    stopped: watch::Sender<bool>,
}

pub struct FakeControl {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

impl FakeControl {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let inner = Arc::new(Inner {
            data: Mutex::new(Data::default()),
            events: broadcast::channel(64).0,
            streams: watch::channel(0).0,
            stopped: watch::channel(false).0,
        });
        let server = tokio::spawn(accept(listener, inner.clone()));
        Self {
            addr,
            inner,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.inner.data.lock().expect("fake data")
    }

    /// Deploys `versions` of `name` (secrets `secrets`) as the next revision.
    pub fn deploy(&self, name: &str, versions: &[Version], secrets: &[(&str, &str)]) -> u64 {
        self.deploy_many(&[Script {
            name,
            versions,
            secrets,
        }])
    }

    /// Deploys several scripts in one revision (one `update` event).
    pub fn deploy_many(&self, scripts: &[Script]) -> u64 {
        let mut data = self.data();
        let changes = scripts
            .iter()
            .map(
                |Script {
                     name,
                     versions,
                     secrets,
                 }| {
                    let state = state_of(&mut data, name, versions, secrets);
                    ScriptChange {
                        name: name.to_string(),
                        state: Some(state),
                    }
                },
            )
            .collect();
        self.commit(&mut data, changes)
    }

    /// Deletes `name` as the next revision.
    pub fn delete(&self, name: &str) -> u64 {
        let mut data = self.data();
        let change = ScriptChange {
            name: name.to_string(),
            state: None,
        };
        self.commit(&mut data, vec![change])
    }

    fn commit(&self, data: &mut Data, changes: Vec<ScriptChange>) -> u64 {
        data.revision += 1;
        let revision = data.revision;
        for change in &changes {
            match &change.state {
                Some(state) => data.scripts.insert(change.name.clone(), state.clone()),
                None => data.scripts.remove(&change.name),
            };
            data.changes.push((revision, change.clone()));
        }
        let _ = self.inner.events.send(json(&SyncEvent::Update {
            revision,
            changes,
            kv: Vec::new(),
        }));
        revision
    }

    /// Sets the scripts whose logs nodes forward.
    pub fn tail(&self, scripts: &[&str]) {
        let mut data = self.data();
        data.tailed = scripts.iter().map(|s| s.to_string()).collect();
        let _ = self.inner.events.send(json(&SyncEvent::Tail {
            scripts: data.tailed.clone(),
        }));
    }

    /// Serves the bundle of `source` with other content (or, with `false`, correctly again).
    pub fn tamper(&self, source: &str, tampered: bool) {
        let hash = bundle(source).hash();
        let mut data = self.data();
        if tampered {
            data.tampered.insert(hash);
        } else {
            data.tampered.remove(&hash);
        }
    }

    /// Answers every later subscription with a snapshot (as if the change log were trimmed).
    pub fn snapshots_only(&self) {
        self.data().snapshots_only = true;
    }

    /// Ends every open sync stream (nodes reconnect).
    pub fn drop_streams(&self) {
        self.inner
            .streams
            .send_modify(|generation| *generation += 1);
    }

    /// Stops listening and closes every connection.
    pub fn stop(&self) {
        self.server.abort();
        let _ = self.inner.stopped.send(true);
    }

    /// The `since` of every sync request so far.
    pub fn sync_requests(&self) -> Vec<u64> {
        self.data().sync_requests.clone()
    }

    /// The revisions acknowledged so far (by any node).
    pub fn acks(&self) -> Vec<u64> {
        self.data().acks.iter().map(|(_, r)| *r).collect()
    }

    /// The nodes that acknowledged, in order.
    pub fn acking_nodes(&self) -> Vec<String> {
        self.data().acks.iter().map(|(n, _)| n.clone()).collect()
    }

    pub fn logs(&self) -> Vec<TailEvent> {
        self.data().logs.clone()
    }
}

impl Drop for FakeControl {
    fn drop(&mut self) {
        self.stop();
    }
}

fn state_of(
    data: &mut Data,
    name: &str,
    versions: &[Version],
    secrets: &[(&str, &str)],
) -> ScriptState {
    let mut infos = Vec::new();
    let mut deployed = Vec::new();
    for version in versions {
        let bundle = bundle(version.source);
        let hash = bundle.hash();
        data.bundles.insert(hash.clone(), bundle.to_bytes());
        data.next_version += 1;
        let id = format!("{name}-v{}", data.next_version);
        infos.push(VersionInfo {
            id: id.clone(),
            script: name.to_string(),
            bundle: hash,
            main_module: bundle.main_module.clone(),
            modules: bundle.modules.keys().cloned().collect(),
            size: bundle.size() as u64,
            vars: version
                .vars
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
                .collect(),
            secret_names: Vec::new(),
            compatibility_date: None,
            compatibility_flags: Vec::new(),
            routes: Vec::new(),
            crons: Vec::new(),
            bindings: Vec::new(),
            created_ms: 0,
            startup_time_ms: 0.0,
        });
        deployed.push(DeployedVersion {
            version_id: id,
            percentage: version.percentage,
        });
    }
    ScriptState {
        name: name.to_string(),
        deployment: Deployment {
            versions: deployed,
            created_ms: 0,
        },
        versions: infos,
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serialises")
}

async fn accept(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let mut stopped = inner.stopped.subscribe();
            let service_inner = inner.clone();
            let service = hyper::service::service_fn(move |req| {
                let inner = service_inner.clone();
                async move { Ok::<_, Infallible>(handle(&inner, req).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stopped.wait_for(|stopped| *stopped) => {}
            }
        });
    }
}

fn status(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()).boxed());
    *response.status_mut() = status;
    response
}

/// The credential the fake gives `node` when it enrolls.
fn credential(node: &str) -> String {
    format!("credential-of-{node}")
}

async fn handle(inner: &Arc<Inner>, req: Request<Incoming>) -> Response<Body> {
    let presented = |token: &str| {
        req.headers()
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == format!("Bearer {token}").as_bytes())
    };
    if req.method() == http::Method::POST && req.uri().path() == "/v1/nodes/enroll" {
        if !presented(TOKEN) {
            return status(StatusCode::UNAUTHORIZED);
        }
        let body = req.into_body().collect().await.expect("body").to_bytes();
        let request: skiff_protocol::EnrollRequest =
            serde_json::from_slice(&body).expect("an enrollment");
        let enrollment = skiff_protocol::Enrollment {
            credential: credential(&request.node),
            node: request.node,
        };
        let mut response = Response::new(Full::new(Bytes::from(json(&enrollment))).boxed());
        *response.status_mut() = StatusCode::CREATED;
        return response;
    }
    let node = req
        .headers()
        .get(skiff_protocol::NODE_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(node) = node.filter(|node| presented(&credential(node))) else {
        return status(StatusCode::UNAUTHORIZED);
    };
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method().as_str(), segments.as_slice()) {
        ("GET", ["v1", "sync"]) => {
            let since = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("since="))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            sync_stream(inner, since)
        }
        ("GET", ["v1", "bundles", hash]) => {
            let data = inner.data.lock().expect("fake data");
            let Some(mut bytes) = data.bundles.get(*hash).cloned() else {
                return status(StatusCode::NOT_FOUND);
            };
            if data.tampered.contains(*hash) {
                // Still a well-formed bundle of valid JavaScript: only the hash tells.
                let mut bundle: Bundle = serde_json::from_slice(&bytes).expect("a bundle");
                for source in bundle.modules.values_mut() {
                    source.push_str("\n// tampered\n");
                }
                bytes = bundle.to_bytes();
            }
            Response::new(Full::new(Bytes::from(bytes)).boxed())
        }
        ("POST", ["v1", "nodes", id, "ack"]) => {
            let id = id.to_string();
            let body = req.into_body().collect().await.expect("body").to_bytes();
            let ack: Ack = serde_json::from_slice(&body).expect("an ack");
            assert_eq!(id, node, "acks name the node");
            let mut data = inner.data.lock().expect("fake data");
            data.acks.push((id, ack.revision));
            status(StatusCode::NO_CONTENT)
        }
        ("POST", ["v1", "logs"]) => {
            let body = req.into_body().collect().await.expect("body").to_bytes();
            let events: Vec<TailEvent> = serde_json::from_slice(&body).expect("tail events");
            inner.data.lock().expect("fake data").logs.extend(events);
            status(StatusCode::NO_CONTENT)
        }
        _ => status(StatusCode::NOT_FOUND),
    }
}

/// `GET /v1/sync?since=R`: a snapshot or the changes since R, the tailed set, then every
/// later event, with a ping first.
fn sync_stream(inner: &Arc<Inner>, since: u64) -> Response<Body> {
    let (first, mut events) = {
        let mut data = inner.data.lock().expect("fake data");
        data.sync_requests.push(since);
        let mut first = Vec::new();
        if since == 0 || since > data.revision || data.snapshots_only {
            first.push(json(&SyncEvent::Snapshot {
                revision: data.revision,
                scripts: data.scripts.values().cloned().collect(),
                kv: Vec::new(),
            }));
        } else if since < data.revision {
            let mut changed: BTreeMap<String, ScriptChange> = BTreeMap::new();
            for (revision, change) in &data.changes {
                if *revision > since {
                    changed.insert(change.name.clone(), change.clone());
                }
            }
            first.push(json(&SyncEvent::Update {
                revision: data.revision,
                changes: changed.into_values().collect(),
                kv: Vec::new(),
            }));
        }
        if !data.tailed.is_empty() {
            first.push(json(&SyncEvent::Tail {
                scripts: data.tailed.clone(),
            }));
        }
        (first, inner.events.subscribe())
    };
    let mut streams = inner.streams.subscribe();
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let _ = tx.send(Bytes::from_static(b": ping\n\n")).await;
        for event in first {
            if tx
                .send(Bytes::from(format!("data: {event}\n\n")))
                .await
                .is_err()
            {
                return;
            }
        }
        loop {
            tokio::select! {
                event = events.recv() => {
                    let Ok(event) = event else { return };
                    if tx.send(Bytes::from(format!("data: {event}\n\n"))).await.is_err() {
                        return;
                    }
                }
                _ = streams.changed() => return,
                _ = tx.closed() => return,
            }
        }
    });
    let body = StreamBody::new(futures::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), rx))
    }));
    let mut response = Response::new(BodyExt::boxed(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    response
}
