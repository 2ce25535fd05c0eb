//! `skiff-syncsim`: many simulated edge nodes on loopback, without isolates, for the fan-out
//! figures of `bench/fanout.sh`.
//!
//! Each simulated node does on the wire what an edge node does, minus the bundles: it enrolls
//! with the shared node token (`POST /v1/nodes/enroll`) and presents its own credential from
//! then on, opens `GET /v1/sync?since=0`, and acknowledges the revision of every `snapshot` and
//! `update` as soon as it arrives (`POST /v1/nodes/{id}/ack` with its session). Like a node's
//! HTTP/1.1 client it holds two connections: the event stream, and a keep-alive connection for
//! its other requests. Nodes are dealt round-robin over the `--control` URLs.
//!
//! Once every node has acknowledged its snapshot, the simulator makes `--deploys` changes
//! through the admin API of the first URL, one at a time: a new version of one script
//! (`PUT /v1/scripts/{name}`, as `skiff deploy` sends it) or a secret of it. For each it takes
//! the time from the admin answer, which carries the revision, until the last node received
//! the event, and until the last node's ack returned. Prints p50, p99 and max of both over the
//! deploys (nearest rank: with 20 deploys the p99 is the max), the connections it holds, and
//! its own RSS.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use skiff_protocol::{
    Ack, ChangeResponse, EnrollRequest, Enrollment, NODE_ID_HEADER, SESSION_HEADER, SecretValue,
    SseParser, SyncEvent, UploadMetadata, UploadResponse,
};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

#[derive(Parser)]
#[command(about = "Simulated edge nodes on loopback: fan-out time of deploys to all of them")]
struct Args {
    /// Control plane URLs (http://IP:PORT on loopback), comma-separated: nodes are dealt
    /// round-robin over them, admin requests go to the first.
    #[arg(long, value_delimiter = ',', required = true)]
    control: Vec<http::Uri>,
    /// Simulated nodes.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// The shared node token (`skiff control` writes it to DATA_DIR/node.token).
    #[arg(long)]
    node_token_file: PathBuf,
    /// The admin token (DATA_DIR/admin.token).
    #[arg(long)]
    admin_token_file: PathBuf,
    /// Deploys to time, one after another.
    #[arg(long, default_value_t = 20)]
    deploys: usize,
    /// What a deploy changes: a new version of the script, or one of its secrets.
    #[arg(long, value_enum, default_value_t = Change::Upload)]
    change: Change,
    /// The script the deploys change (uploaded once before the nodes connect).
    #[arg(long, default_value = "fanout")]
    script: String,
    /// Seconds every node may take to enroll, subscribe and acknowledge its snapshot.
    #[arg(long, default_value_t = 120)]
    connect_timeout_secs: u64,
    /// Seconds a deploy may take to be acknowledged by every node.
    #[arg(long, default_value_t = 30)]
    deploy_timeout_secs: u64,
    /// Nodes enrolling and subscribing at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Change {
    Upload,
    Secret,
}

/// Time limit of one request (an enrollment, an ack, an admin change).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A node that hears nothing, not even a ping (every 15 s), for this long gives up, as edge
/// nodes do.
const SILENCE: Duration = Duration::from_secs(45);
/// The largest event a simulated node accepts.
const MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;
/// File descriptors kept for everything but the connections.
const SPARE_FILES: u64 = 64;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let controls = (args.control.iter())
        .map(Endpoint::parse)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let files = raise_open_files_limit()?;
    let needed = 2 * args.nodes as u64 + SPARE_FILES;
    if files < needed {
        bail!(
            "{} nodes need about {needed} open files; the hard limit is {files} (ulimit -Hn)",
            args.nodes
        );
    }
    let node_token = read_token(&args.node_token_file)?;
    let admin_token = read_token(&args.admin_token_file)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args, controls, node_token, admin_token))
}

async fn run(
    args: Args,
    controls: Vec<Endpoint>,
    node_token: String,
    admin_token: String,
) -> anyhow::Result<()> {
    let connections = Connections::default();
    let mut admin = Client::new(controls[0].clone(), admin_token, connections.clone());
    let first = upload(&mut admin, &args.script, 0).await?;

    let started = Instant::now();
    let (reports, mut fleet) = Fleet::new(args.nodes);
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let run_id = run_id();
    let ids: Vec<String> = (0..args.nodes)
        .map(|index| format!("sim-{run_id}-{index}"))
        .collect();
    let mut tasks = Vec::with_capacity(args.nodes);
    for (index, id) in ids.iter().enumerate() {
        let node = SimNode {
            index,
            id: id.clone(),
            requests: Client::new(
                controls[index % controls.len()].clone(),
                node_token.clone(),
                connections.clone(),
            ),
            reports: reports.clone(),
        };
        tasks.push(tokio::spawn(node.run(gate.clone())));
    }
    drop(reports);
    let measured = measure(&args, &mut admin, &mut fleet, first, started).await;
    let open = connections.open();
    let memory = Memory::read();
    for task in &tasks {
        task.abort();
    }
    // The node rows count against the control plane's --max-nodes: leave none behind.
    let left = forget(&mut admin, &ids).await;
    if left > 0 {
        eprintln!("syncsim: {left} simulated nodes could not be deleted from the control plane");
    }
    let figures = measured?;

    println!(
        "nodes {} on {} control plane(s), connected and synced in {:.1} s",
        args.nodes,
        controls.len(),
        figures.connected.as_secs_f64()
    );
    println!(
        "connections open {open} (sync streams {}, the rest for acks and the admin API)",
        fleet.streams()
    );
    let change = match args.change {
        Change::Upload => "uploads",
        Change::Secret => "secret changes",
    };
    println!("deploys {} ({change}):", args.deploys);
    println!("  admin answer      {}", summary(figures.answers));
    println!("  all received      {}", summary(figures.received));
    println!("  all acknowledged  {}", summary(figures.acknowledged));
    println!(
        "simulator RSS {:.1} MiB (peak {:.1} MiB)",
        memory.rss_kib as f64 / 1024.0,
        memory.peak_kib as f64 / 1024.0
    );
    Ok(())
}

/// What the deploys took: per deploy, the admin request, and the time from its answer until
/// the last node received the event and until its ack returned.
struct Figures {
    connected: Duration,
    answers: Vec<Duration>,
    received: Vec<Duration>,
    acknowledged: Vec<Duration>,
}

/// Waits until every node has acknowledged `first`, then deploys one change at a time and
/// waits until every node has acknowledged it.
async fn measure(
    args: &Args,
    admin: &mut Client,
    fleet: &mut Fleet,
    first: u64,
    started: Instant,
) -> anyhow::Result<Figures> {
    let connect_deadline = started + Duration::from_secs(args.connect_timeout_secs);
    fleet
        .wait_for(first, connect_deadline)
        .await
        .context("connecting the nodes")?;
    let mut figures = Figures {
        connected: started.elapsed(),
        answers: Vec::with_capacity(args.deploys),
        received: Vec::with_capacity(args.deploys),
        acknowledged: Vec::with_capacity(args.deploys),
    };
    for k in 1..=args.deploys {
        let sent = Instant::now();
        let revision = match args.change {
            Change::Upload => upload(admin, &args.script, k).await?,
            Change::Secret => put_secret(admin, &args.script, k).await?,
        };
        let answered = Instant::now();
        let deadline = answered + Duration::from_secs(args.deploy_timeout_secs);
        let arrival = (fleet.wait_for(revision, deadline).await)
            .with_context(|| format!("deploy {k} (revision {revision})"))?;
        figures.answers.push(answered - sent);
        // An event may reach a node before the admin answer reaches the simulator: zero.
        (figures.received).push(arrival.last_received.saturating_duration_since(answered));
        (figures.acknowledged).push(arrival.last_acked.saturating_duration_since(answered));
    }
    Ok(figures)
}

/// Deletes the simulated nodes (`DELETE /v1/nodes/{id}`); how many are left (404 counts as
/// deleted: a node that never enrolled).
async fn forget(admin: &mut Client, ids: &[String]) -> usize {
    let mut left = 0;
    for id in ids {
        let request = admin
            .request(Method::DELETE, &format!("/v1/nodes/{id}"))
            .body(Full::default());
        let status = match request {
            Ok(request) => admin.exchange(request).await.map(|(status, _)| status),
            Err(err) => Err(err.into()),
        };
        if !matches!(status, Ok(StatusCode::NO_CONTENT | StatusCode::NOT_FOUND)) {
            left += 1;
        }
    }
    left
}

/// Uploads version `k` of `script` (one module answering `fanout k`); its revision.
async fn upload(admin: &mut Client, script: &str, k: usize) -> anyhow::Result<u64> {
    let metadata = UploadMetadata {
        main_module: "index.js".into(),
        ..UploadMetadata::default()
    };
    let source =
        format!("export default {{ fetch() {{ return new Response('fanout {k}'); }} }};\n");
    let boundary = format!("skiff-syncsim-{k}");
    let mut body = String::new();
    for (name, file, content_type, content) in [
        (
            "metadata",
            "metadata.json",
            "application/json",
            serde_json::to_string(&metadata)?,
        ),
        (
            "index.js",
            "index.js",
            "application/javascript+module",
            source,
        ),
    ] {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
             filename=\"{file}\"\r\nContent-Type: {content_type}\r\n\r\n{content}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let request = admin
        .request(Method::PUT, &format!("/v1/scripts/{script}"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Full::from(body))?;
    let answer: UploadResponse = admin.json(request, StatusCode::CREATED).await?;
    Ok(answer.revision)
}

/// Sets secret `FANOUT` of `script` to `k`; the revision.
async fn put_secret(admin: &mut Client, script: &str, k: usize) -> anyhow::Result<u64> {
    let body = serde_json::to_vec(&SecretValue {
        value: k.to_string(),
    })?;
    let request = admin
        .request(Method::PUT, &format!("/v1/scripts/{script}/secrets/FANOUT"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::from(body))?;
    let answer: ChangeResponse = admin.json(request, StatusCode::OK).await?;
    Ok(answer.revision)
}

/// What a simulated node tells the simulator.
enum Report {
    Subscribed,
    Acked {
        node: usize,
        revision: u64,
        received: Instant,
        acked: Instant,
    },
    Failed {
        node: usize,
        error: String,
    },
}

/// One simulated node: its id, and the client of its requests other than the event stream.
struct SimNode {
    index: usize,
    id: String,
    requests: Client,
    reports: mpsc::UnboundedSender<Report>,
}

impl SimNode {
    async fn run(mut self, gate: Arc<Semaphore>) {
        if let Err(err) = self.sync(gate).await {
            let _ = self.reports.send(Report::Failed {
                node: self.index,
                error: format!("{} ({}): {err:#}", self.id, self.requests.endpoint.addr),
            });
        }
    }

    /// Enrolls, subscribes and acknowledges every revision it is sent, until the stream ends
    /// or stays silent past `SILENCE`. The gate is held until the snapshot is acknowledged.
    async fn sync(&mut self, gate: Arc<Semaphore>) -> anyhow::Result<()> {
        let mut permit = Some(gate.acquire_owned().await?);
        let request = self
            .requests
            .request(Method::POST, "/v1/nodes/enroll")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::from(serde_json::to_vec(&EnrollRequest {
                node: self.id.clone(),
            })?))?;
        let enrollment: Enrollment = self.requests.json(request, StatusCode::CREATED).await?;
        self.requests.token = enrollment.credential;

        // The event stream has a connection of its own, as an HTTP/1.1 node's has.
        let mut stream = Client::new(
            self.requests.endpoint.clone(),
            self.requests.token.clone(),
            self.requests.connections.clone(),
        );
        let request = stream
            .request(Method::GET, "/v1/sync?since=0")
            .header(NODE_ID_HEADER, &self.id)
            .body(Full::default())?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, stream.send(request))
            .await
            .context("the sync request timed out")??;
        if response.status() != StatusCode::OK {
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            bail!("sync: {status}: {}", String::from_utf8_lossy(&body));
        }
        let session = (response.headers().get(SESSION_HEADER))
            .and_then(|value| value.to_str().ok())
            .context("the sync answer names no session")?
            .to_string();
        let _ = self.reports.send(Report::Subscribed);

        let mut body = response.into_body();
        let mut parser = SseParser::new(MAX_EVENT_BYTES);
        loop {
            let frame = tokio::time::timeout(SILENCE, body.frame())
                .await
                .map_err(|_| anyhow!("nothing on the sync stream for {SILENCE:?}"))?
                .context("the sync stream ended")??;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            for event in parser.push(&data).map_err(|err| anyhow!(err))? {
                let received = Instant::now();
                let revision = match serde_json::from_str(&event)? {
                    SyncEvent::Snapshot { revision, .. } | SyncEvent::Update { revision, .. } => {
                        revision
                    }
                    SyncEvent::Tail { .. } | SyncEvent::Scheduled(_) => continue,
                };
                self.ack(&session, revision).await?;
                let _ = self.reports.send(Report::Acked {
                    node: self.index,
                    revision,
                    received,
                    acked: Instant::now(),
                });
                permit.take();
            }
        }
    }

    async fn ack(&mut self, session: &str, revision: u64) -> anyhow::Result<()> {
        let request = self
            .requests
            .request(Method::POST, &format!("/v1/nodes/{}/ack", self.id))
            .header(header::CONTENT_TYPE, "application/json")
            .header(NODE_ID_HEADER, &self.id)
            .header(SESSION_HEADER, session)
            .body(Full::from(serde_json::to_vec(&Ack { revision })?))?;
        self.requests.call(request, StatusCode::NO_CONTENT).await?;
        Ok(())
    }
}

/// The simulator's view of the nodes: what each acknowledged last, from their reports.
struct Fleet {
    reports: mpsc::UnboundedReceiver<Report>,
    acked: Vec<u64>,
    streams: usize,
}

/// When the last node received a revision, and when its ack returned.
struct Arrival {
    last_received: Instant,
    last_acked: Instant,
}

impl Fleet {
    fn new(nodes: usize) -> (mpsc::UnboundedSender<Report>, Self) {
        let (sender, reports) = mpsc::unbounded_channel();
        let fleet = Self {
            reports,
            acked: vec![0; nodes],
            streams: 0,
        };
        (sender, fleet)
    }

    /// Sync streams opened so far.
    fn streams(&self) -> usize {
        self.streams
    }

    /// Reads reports until every node has acknowledged `revision` (or a later one); fails at
    /// `deadline` or on the first node that fails.
    async fn wait_for(&mut self, revision: u64, deadline: Instant) -> anyhow::Result<Arrival> {
        let mut pending = self.acked.iter().filter(|&&r| r < revision).count();
        let mut arrival: Option<Arrival> = None;
        while pending > 0 {
            let report = tokio::time::timeout_at(deadline, self.reports.recv())
                .await
                .map_err(|_| {
                    anyhow!(
                        "{pending} of {} nodes had not acknowledged revision {revision} in time",
                        self.acked.len()
                    )
                })?
                .context("every node stopped")?;
            match report {
                Report::Subscribed => self.streams += 1,
                Report::Failed { node, error } => bail!("node {node} failed: {error}"),
                Report::Acked {
                    node,
                    revision: acked,
                    received,
                    acked: at,
                } => {
                    if acked >= revision && self.acked[node] < revision {
                        pending -= 1;
                        arrival = Some(match arrival {
                            None => Arrival {
                                last_received: received,
                                last_acked: at,
                            },
                            Some(last) => Arrival {
                                last_received: last.last_received.max(received),
                                last_acked: last.last_acked.max(at),
                            },
                        });
                    }
                    self.acked[node] = self.acked[node].max(acked);
                }
            }
        }
        arrival.context("no node to wait for")
    }
}

/// A control plane's address, from an `http://IP:PORT` URL.
#[derive(Clone)]
struct Endpoint {
    addr: SocketAddr,
    host: String,
}

impl Endpoint {
    fn parse(url: &http::Uri) -> anyhow::Result<Self> {
        if url.scheme_str() != Some("http") {
            bail!("{url}: only http:// control planes are simulated");
        }
        let authority = url.authority().context("the URL has no host:port")?;
        let ip: IpAddr = (authority.host().trim_matches(['[', ']']).parse())
            .with_context(|| format!("{url}: the host must be an IP literal"))?;
        if !ip.is_loopback() {
            bail!("refusing to simulate nodes against {ip}: benchmarks stay on loopback");
        }
        Ok(Self {
            addr: SocketAddr::new(ip, authority.port_u16().unwrap_or(80)),
            host: authority.to_string(),
        })
    }
}

/// Connections opened by the simulator and still open.
#[derive(Clone, Default)]
struct Connections(Arc<AtomicUsize>);

impl Connections {
    fn open(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// HTTP/1.1 requests with one bearer token over one keep-alive connection, opened again when
/// the server closed it.
struct Client {
    endpoint: Endpoint,
    token: String,
    connections: Connections,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
}

impl Client {
    fn new(endpoint: Endpoint, token: String, connections: Connections) -> Self {
        Self {
            endpoint,
            token,
            connections,
            sender: None,
        }
    }

    fn request(&self, method: Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.endpoint.host)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
    }

    async fn connect(&mut self) -> anyhow::Result<&mut http1::SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(self.endpoint.addr)
            .await
            .with_context(|| format!("connecting to {}", self.endpoint.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        let open = self.connections.0.clone();
        open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let _ = connection.await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(self.sender.insert(sender))
    }

    /// Sends `request` on the open connection once it is ready for another request, or on a
    /// new one when there is none or the server closed it before the request went out.
    async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Response> {
        let reusable = match self.sender.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        let sender = match (reusable, self.sender.as_mut()) {
            (true, Some(sender)) => sender,
            _ => self.connect().await?,
        };
        let request = match sender.try_send_request(request).await {
            Ok(response) => return Ok(response),
            Err(mut err) => match err.take_message() {
                Some(request) => request,
                None => {
                    self.sender = None;
                    return Err(err.into_error().into());
                }
            },
        };
        let sender = self.connect().await?;
        let sent = sender.send_request(request).await;
        if sent.is_err() {
            self.sender = None;
        }
        Ok(sent?)
    }

    /// Sends `request` and reads the whole answer: its status and body.
    async fn exchange(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let answered = async {
            let response = self.send(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, answered)
            .await
            .map_err(|_| anyhow!("{method} {uri}: no answer in {REQUEST_TIMEOUT:?}"))?
            .with_context(|| format!("{method} {uri}"))
    }

    /// Sends `request` and reads the whole answer, which must have status `expected`.
    async fn call(
        &mut self,
        request: Request<Full<Bytes>>,
        expected: StatusCode,
    ) -> anyhow::Result<Bytes> {
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let (status, body) = self.exchange(request).await?;
        if status != expected {
            bail!(
                "{method} {uri}: {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(body)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &mut self,
        request: Request<Full<Bytes>>,
        expected: StatusCode,
    ) -> anyhow::Result<T> {
        let body = self.call(request, expected).await?;
        serde_json::from_slice(&body).context("the answer is not the expected JSON")
    }
}

type Response = hyper::Response<Incoming>;

/// p50, p99 and max, nearest rank.
fn summary(mut values: Vec<Duration>) -> String {
    values.sort();
    let at = |p: f64| -> f64 {
        if values.is_empty() {
            return f64::NAN;
        }
        let rank = (p / 100.0 * values.len() as f64).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1].as_secs_f64() * 1000.0
    };
    format!(
        "p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        at(50.0),
        at(99.0),
        at(100.0)
    )
}

/// The simulator's resident memory now and at its peak, from /proc/self/status.
struct Memory {
    rss_kib: u64,
    peak_kib: u64,
}

impl Memory {
    fn read() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| -> u64 {
            (status.lines())
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or(0)
        };
        Self {
            rss_kib: field("VmRSS:"),
            peak_kib: field("VmHWM:"),
        }
    }
}

/// Raises the soft limit on open files to the hard limit; the new soft limit.
fn raise_open_files_limit() -> anyhow::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE)");
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid rlimit, read above, with the soft limit raised to the hard.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error()).context("setrlimit(RLIMIT_NOFILE)");
        }
    }
    Ok(limit.rlim_cur)
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_string();
    if token.is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(token)
}

/// Eight hex digits that keep this run's node ids apart from an earlier run's on the same
/// control plane.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    format!("{:08x}", nanos ^ std::process::id().rotate_left(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_nearest_rank() {
        let values: Vec<Duration> = (1..=20).map(Duration::from_millis).collect();
        assert_eq!(summary(values), "p50 10.0 ms  p99 20.0 ms  max 20.0 ms");
        assert_eq!(summary(Vec::new()), "p50 NaN ms  p99 NaN ms  max NaN ms");
    }

    #[test]
    fn only_loopback_http_endpoints() {
        let parse = |url: &str| Endpoint::parse(&url.parse().expect("a URI"));
        let endpoint = parse("http://127.0.0.1:8700").expect("loopback");
        assert_eq!(endpoint.addr, "127.0.0.1:8700".parse().expect("address"));
        assert_eq!(endpoint.host, "127.0.0.1:8700");
        assert!(parse("http://[::1]:8700").is_ok());
        assert!(parse("http://10.0.0.1:8700").is_err());
        assert!(parse("https://127.0.0.1:8700").is_err());
        assert!(parse("http://localhost:8700").is_err());
    }
}
