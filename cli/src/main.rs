//! `skiff`: run a worker locally (`skiff dev`), an edge node (`skiff node`) or the control
//! plane (`skiff control`), and deploy workers through the control plane (`deploy`,
//! `versions`, `secret`, ...).

mod client;
mod dev;
mod init;
mod kv;
mod network;
mod nodes;
mod platform;
mod usage;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use skiff_control_plane::{ControlConfig, ControlPlane, StoreSpec, TlsFiles};
use skiff_edge_node::{
    CacheLimits, ConnectionLimits, DirectorySource, EdgeNode, Limits, NodeConfig, SyncConfig,
};
use skiff_runtime::{IsolateLimits, OutboundPolicy};

#[derive(Parser)]
#[command(
    name = "skiff",
    version,
    about = "Skiff, an edge runtime for Workers-style JavaScript: run a worker locally, an edge \
             node or the control plane, and deploy workers to the nodes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of the largest variant (the node's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve one worker locally, reloading when its files change.
    Dev(dev::DevArgs),
    /// Run the control plane: scripts, versions, deployments and secrets, pushed to the nodes.
    Control(ControlPlaneArgs),
    /// Run an edge node serving what the control plane deploys, or the scripts in a directory.
    Node(Box<NodeArgs>),
    /// Create a worker project from a template: `ts` (default), `js` or `hono`.
    Init(init::InitArgs),
    /// Upload the project in the current folder and deploy it to every edge node.
    Deploy(platform::DeployArgs),
    /// List a script's versions, or deploy versions (gradual rollouts: V1@90 V2@10).
    #[command(subcommand)]
    Versions(platform::VersionsCommand),
    /// Deploy the previous version again (or the one named).
    Rollback(platform::RollbackArgs),
    /// Stop serving a script on every node and delete it.
    Delete(platform::DeleteArgs),
    /// Manage a script's secrets (values from stdin, never shown again).
    #[command(subcommand)]
    Secret(platform::SecretCommand),
    /// Stream a script's console output and exceptions from every node.
    Tail(platform::TailArgs),
    /// Workers KV: namespaces and keys.
    #[command(subcommand)]
    Kv(kv::KvCommand),
    /// The edge nodes the control plane knows: zone, revision, replica, last seen.
    #[command(subcommand)]
    Nodes(nodes::NodesCommand),
    /// Requests, errors, CPU milliseconds, wall time and egress per script, from every node.
    Usage(usage::UsageArgs),
}

/// Settings shared by `skiff node` and `skiff dev`.
#[derive(Args, Clone, Debug)]
pub struct RuntimeArgs {
    /// Largest request body accepted, in bytes (413 above).
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    max_body_bytes: u64,
    /// Let workers fetch() loopback and private addresses (local development and tests).
    #[arg(long)]
    allow_private_fetch: bool,
    /// Subrequests (fetch calls) allowed per incoming request.
    #[arg(long, default_value_t = skiff_runtime::DEFAULT_SUBREQUESTS)]
    subrequests: u32,
    /// Seconds ctx.waitUntil() work may run after its response.
    #[arg(long, default_value_t = skiff_runtime::DEFAULT_WAIT_UNTIL.as_secs())]
    wait_until_secs: u64,
    /// Worker threads for isolates (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Threads for the network: connections, TLS and HTTP, beside the isolates' own threads
    /// (0: half the cores, at least one).
    #[arg(long, default_value_t = 0)]
    io_threads: usize,
    /// CPU milliseconds a request may use (503 above).
    #[arg(long, default_value_t = skiff_runtime::DEFAULT_CPU.as_millis() as u64)]
    cpu_ms: u64,
    /// CPU milliseconds a script's top level may use when it loads.
    #[arg(long, default_value_t = skiff_runtime::DEFAULT_STARTUP_CPU.as_millis() as u64)]
    startup_cpu_ms: u64,
    /// JavaScript heap per isolate, in MiB (503 above).
    #[arg(long, default_value_t = skiff_runtime::DEFAULT_MEMORY >> 20)]
    memory_mib: usize,
    /// Seconds a request may take to produce its response head (503 above).
    #[arg(long, default_value_t = skiff_edge_node::DEFAULT_WALL_CLOCK.as_secs())]
    wall_clock_secs: u64,
    /// Total engine heap of cached isolates, in MiB; the least recently used are evicted.
    #[arg(long, default_value_t = 4096)]
    cache_memory_mib: u64,
    /// Seconds an isolate may sit idle before it is evicted.
    #[arg(long, default_value_t = 900)]
    isolate_idle_secs: u64,
    /// Isolates one busy script version may run at once, on different threads (0: one per
    /// worker thread).
    #[arg(long, default_value_t = 0)]
    isolates_per_script: usize,
    /// The Cache API's store (caches.default, caches.open), in MiB for the whole node; a
    /// response larger than an eighth of it is not stored.
    #[arg(long, default_value_t = skiff_runtime::DEFAULT_CACHE_BYTES >> 20)]
    cache_mib: u64,
    /// Let workers compile strings (eval, new Function), which Workers refuses: for
    /// conformance runs, whose harness compiles test files that way. Never on a shared node.
    #[arg(long, hide = true)]
    unsafe_eval: bool,
}

impl RuntimeArgs {
    /// The threads the async runtime gets for the network. Half the cores by default: the
    /// isolate threads (one per core) do the JavaScript, and a network thread per core beside
    /// them only adds wake-ups and context switches (on 2 cores, one network thread served 4 to
    /// 14 % more requests/s of every bench workload than two).
    fn io_threads(&self) -> usize {
        if self.io_threads > 0 {
            return self.io_threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cores.div_ceil(2)
    }

    fn apply(&self, config: &mut NodeConfig) {
        config.limits = Limits {
            max_body_bytes: self.max_body_bytes,
            wall_clock: Duration::from_secs(self.wall_clock_secs),
            ..Limits::default()
        };
        config.cache = CacheLimits {
            memory_bytes: self.cache_memory_mib * 1024 * 1024,
            idle_ttl: Duration::from_secs(self.isolate_idle_secs),
            isolates_per_version: self.isolates_per_script,
            ..CacheLimits::default()
        };
        config.isolate_limits = IsolateLimits {
            cpu: Duration::from_millis(self.cpu_ms),
            startup_cpu: Duration::from_millis(self.startup_cpu_ms),
            memory: self.memory_mib * 1024 * 1024,
            code_from_strings: self.unsafe_eval,
            ..IsolateLimits::default()
        };
        config.outbound = OutboundPolicy {
            allow_private: self.allow_private_fetch,
            subrequests: self.subrequests,
        };
        config.wait_until = Duration::from_secs(self.wait_until_secs);
        config.threads = self.threads;
        config.response_cache_bytes = self.cache_mib.saturating_mul(1024 * 1024);
    }
}

#[derive(Args)]
struct ControlPlaneArgs {
    /// Address of the API and of the nodes' sync channel.
    #[arg(long, default_value = "127.0.0.1:8700")]
    listen: SocketAddr,
    /// Where the API tokens live, and the store when it is SQLite's default (made private:
    /// 0700, files 0600).
    #[arg(long, default_value = "skiff-control")]
    data_dir: PathBuf,
    /// The store: sqlite:PATH (default: sqlite:DATA_DIR/control.db, for one machine) or
    /// postgres://USER:PASS@HOST:PORT/DB (any number of replicas on one database).
    #[arg(long, env = "SKIFF_STORE", hide_env_values = true)]
    store: Option<String>,
    /// Apply the store's migrations and exit.
    #[arg(long)]
    migrate_only: bool,
    /// Copy a single-machine platform (sqlite:OLD/control.db) into --store, which must be
    /// empty, and exit.
    #[arg(long, value_name = "sqlite:PATH")]
    import: Option<String>,
    /// The URL nodes and admins reach this replica at, as `skiff nodes list` shows it
    /// (default: the address it listens on).
    #[arg(long)]
    advertise_url: Option<String>,
    /// How long after it was last seen a node no longer counts in "Live on N/N nodes" and
    /// drops out of `skiff nodes list`: seconds, or with a unit (`90s`, `10m`, `1h`).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    node_ttl: Duration,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Open connections at most; past it new ones are closed at once.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a new connection may take to send its first byte (or finish its TLS handshake).
    #[arg(long, default_value_t = 10)]
    first_byte_timeout_secs: u64,
    /// Seconds a request head may take to arrive once it has begun.
    #[arg(long, default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit with no request in progress.
    #[arg(long, default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Milliseconds an upload's top level (its awaits included) may take when it is validated.
    #[arg(long, default_value_t = 5000)]
    validation_timeout_ms: u64,
    /// Node rows kept at most; a new node past it is refused until stale ones are deleted.
    #[arg(long, default_value_t = 1000)]
    max_nodes: usize,
    /// For tests: the cron scheduler's clock runs this many times faster than real time
    /// (60: a `* * * * *` trigger fires every second).
    #[arg(long, hide = true, default_value_t = 1.0)]
    test_clock_speed: f64,
}

#[derive(Args)]
struct NodeArgs {
    /// Address for HTTP/1.1 and h2c.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address for HTTPS (HTTP/2 and HTTP/1.1 by ALPN).
    #[arg(long)]
    tls_listen: Option<SocketAddr>,
    /// Address for the admin listener (Prometheus metrics at /metrics).
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// Directory of scripts: NAME.js files and NAME/ project folders.
    #[arg(long, required_unless_present = "control")]
    scripts: Option<PathBuf>,
    /// The control plane to sync scripts from (needs the node token and --data-dir): its URL,
    /// or its replicas' URLs, comma-separated or the flag repeated. The node syncs from one
    /// replica at a time and moves to the next when its stream ends or cannot open.
    #[arg(long, requires = "data_dir", value_delimiter = ',', value_name = "URL")]
    control: Vec<String>,
    /// A file holding the node token (`skiff control` writes it to its DATA_DIR/node.token).
    /// The token may also come from SKIFF_NODE_TOKEN; never from an argument, which every
    /// local user can read in the process list.
    #[arg(long, env = "SKIFF_NODE_TOKEN_FILE")]
    node_token_file: Option<PathBuf>,
    /// Refused: a token given as an argument shows in the process list.
    #[arg(long, hide = true)]
    node_token: Option<String>,
    /// PEM certificates to trust for an https:// control plane, besides the built-in roots.
    #[arg(long, env = "SKIFF_CONTROL_CA")]
    control_ca: Option<PathBuf>,
    /// Where the node keeps what it applied, to serve it also when the control plane is down,
    /// its busiest scripts, to warm them first after a restart, and the bytecode it compiled
    /// (DATA_DIR/bytecode, at most 1 GiB), so that a restart compiles nothing twice.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Script NAME answers for NAME.<zone>.
    #[arg(long, default_value = "localhost")]
    zone: String,
    /// Directory of HOST.crt/HOST.key PEM pairs (self-signed certificate when absent).
    #[arg(long)]
    certs: Option<PathBuf>,
    /// Do not boot the scripts' isolates at start (each boots on its first request).
    #[arg(long)]
    no_warm: bool,
    /// Scripts whose isolates boot at start, at most: the busiest before the restart (with
    /// --data-dir), else the first by name.
    #[arg(long, default_value_t = skiff_edge_node::DEFAULT_WARM_AT_START)]
    warm_at_start: usize,
    /// Seconds in-flight requests get to finish on SIGTERM.
    #[arg(long, default_value_t = 30)]
    shutdown_grace_secs: u64,
    /// Milliseconds between shipments of usage to the control plane.
    #[arg(long, hide = true, default_value_t = skiff_edge_node::DEFAULT_USAGE_PERIOD.as_millis() as u64)]
    usage_period_ms: u64,
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[command(flatten)]
    connections: ConnectionArgs,
}

/// Connection limits of `skiff node`.
#[derive(Args, Clone, Debug)]
struct ConnectionArgs {
    /// Most connections open at once (all listeners); more are closed as soon as accepted.
    #[arg(long, default_value_t = ConnectionLimits::default().max_connections)]
    max_connections: usize,
    /// Seconds a new connection gets for its TLS handshake and its first request head.
    #[arg(long, default_value_t = ConnectionLimits::default().handshake_timeout.as_secs())]
    handshake_timeout_secs: u64,
    /// Seconds a connection may stay open with no request in flight.
    #[arg(long, default_value_t = ConnectionLimits::default().idle_timeout.as_secs())]
    idle_timeout_secs: u64,
    /// Seconds a response write may wait for a client that stopped reading; then the
    /// connection is closed.
    #[arg(long, default_value_t = ConnectionLimits::default().send_timeout.as_secs())]
    send_timeout_secs: u64,
    /// HTTP/2 streams a client may have open at once on one connection.
    #[arg(long, default_value_t = ConnectionLimits::default().h2_max_concurrent_streams)]
    h2_max_concurrent_streams: u32,
}

impl ConnectionArgs {
    fn apply(&self, limits: &mut ConnectionLimits) {
        limits.max_connections = self.max_connections;
        limits.handshake_timeout = Duration::from_secs(self.handshake_timeout_secs);
        limits.idle_timeout = Duration::from_secs(self.idle_timeout_secs);
        limits.send_timeout = Duration::from_secs(self.send_timeout_secs);
        limits.h2_max_concurrent_streams = self.h2_max_concurrent_streams;
    }
}

/// Whether output to `stream` may carry ANSI colour codes: only on a terminal, and never when
/// `NO_COLOR` is set to a non-empty value (<https://no-color.org>). Log lines written to a file
/// or a pipe stay plain text.
pub(crate) fn colour(stream: &impl IsTerminal) -> bool {
    colour_allowed(stream.is_terminal(), std::env::var_os("NO_COLOR"))
}

fn colour_allowed(terminal: bool, no_color: Option<OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // The message and its causes, one per line; no backtrace for users.
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  {}", cause.to_string().replace('\n', "\n  "));
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let serving = match &cli.command {
        Command::Node(args) => Some(&args.runtime),
        Command::Dev(args) => Some(&args.runtime),
        _ => None,
    };
    if let Some(runtime_args) = serving {
        builder
            .worker_threads(runtime_args.io_threads())
            .thread_name("skiff-io")
            .on_thread_unpark(network::woke);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Control(args) => {
            init_tracing();
            runtime.block_on(run_control(args))
        }
        Command::Node(args) => {
            init_tracing();
            runtime.block_on(run_node(*args))
        }
        Command::Dev(args) => runtime.block_on(dev::run(args)),
        Command::Init(args) => init::init(args),
        Command::Deploy(args) => runtime.block_on(platform::deploy(args)),
        Command::Versions(command) => runtime.block_on(platform::versions(command)),
        Command::Rollback(args) => runtime.block_on(platform::rollback(args)),
        Command::Delete(args) => runtime.block_on(platform::delete(args)),
        Command::Secret(command) => runtime.block_on(platform::secret(command)),
        Command::Tail(args) => runtime.block_on(platform::tail(args)),
        Command::Kv(command) => runtime.block_on(kv::run(command)),
        Command::Nodes(command) => runtime.block_on(nodes::run(command)),
        Command::Usage(args) => runtime.block_on(usage::run(args)),
    }
}

async fn run_node(args: NodeArgs) -> Result<()> {
    let mut config = NodeConfig::new(args.listen);
    config.tls_listen = args.tls_listen;
    config.admin_listen = args.admin_listen;
    config.warm_on_start = !args.no_warm;
    config.warm_at_start = args.warm_at_start;
    if let Some(data_dir) = &args.data_dir {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data dir {}", data_dir.display()))?;
        config.hot_list = Some(data_dir.join("hot-scripts.json"));
        config.bytecode_dir = Some(data_dir.join("bytecode"));
    }
    config.zone = args.zone;
    config.certs_dir = args.certs;
    config.shutdown_grace = Duration::from_secs(args.shutdown_grace_secs);
    args.runtime.apply(&mut config);
    args.connections.apply(&mut config.limits.connections);
    if args.node_token.is_some() {
        bail!(
            "--node-token is refused: an argument shows in the process list, where every local \
             user can read it. Use --node-token-file FILE (such as the control plane's \
             DATA_DIR/node.token) or the SKIFF_NODE_TOKEN environment variable."
        );
    }
    if !args.control.is_empty()
        && let Some(data_dir) = &args.data_dir
    {
        let urls = control_urls(&args.control)?;
        let token = node_token(args.node_token_file.as_deref())?;
        let mut sync = SyncConfig::with_replicas(urls.clone(), token, data_dir)
            .with_context(|| format!("preparing the data dir {}", data_dir.display()))?;
        if let Some(ca) = &args.control_ca {
            let pem = std::fs::read(ca)
                .with_context(|| format!("reading the control plane CA {}", ca.display()))?;
            sync = sync.with_control_ca(pem);
        }
        sync.usage_period = Duration::from_millis(args.usage_period_ms.max(100));
        println!(
            "skiff node: syncing from {} as node {}",
            urls.join(", "),
            sync.node_id
        );
        config.sync = Some(sync);
    }
    let node = match &args.scripts {
        Some(scripts) => EdgeNode::start(config, &DirectorySource::new(scripts))
            .await
            .with_context(|| {
                format!(
                    "starting the edge node with scripts from {}",
                    scripts.display()
                )
            })?,
        None => EdgeNode::start_synced(config)
            .await
            .context("starting the edge node")?,
    };
    println!("skiff node: listening on http://{}", node.http_addr());
    if let Some(addr) = node.https_addr() {
        println!("skiff node: listening on https://{addr}");
    }
    if let Some(addr) = node.admin_addr() {
        println!("skiff node: metrics on http://{addr}/metrics");
    }
    println!("skiff node: scripts {}", node.registry().names().join(", "));
    wait_for_signal().await?;
    println!("skiff node: shutting down");
    node.shutdown().await;
    Ok(())
}

/// The `--control` URLs, checked: each an http:// or https:// URL.
fn control_urls(args: &[String]) -> Result<Vec<String>> {
    args.iter()
        .map(|arg| {
            let url = arg.trim();
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
                    Ok(url.trim_end_matches('/').to_string())
                }
                _ => bail!(
                    "--control {arg:?}: not an http:// or https:// URL (give each replica's URL, \
                     comma-separated, like http://10.0.0.1:8700,http://10.0.0.2:8700)"
                ),
            }
        })
        .collect()
}

/// The node token, from `file` or else from SKIFF_NODE_TOKEN.
fn node_token(file: Option<&Path>) -> Result<String> {
    let token = match file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("reading the node token from {}", file.display()))?,
        None => std::env::var("SKIFF_NODE_TOKEN").unwrap_or_default(),
    };
    let token = token.trim();
    if token.is_empty() {
        bail!(
            "no node token: pass --node-token-file FILE (the control plane writes it to its \
             DATA_DIR/node.token) or set SKIFF_NODE_TOKEN"
        );
    }
    Ok(token.to_string())
}

/// `600`, `600s`, `10m`, `1h` or `7d`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 600, 90s, 10m or 1h"))?;
    let seconds = match unit {
        "s" => number,
        "m" => number.saturating_mul(60),
        "h" => number.saturating_mul(3600),
        "d" => number.saturating_mul(86_400),
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    Ok(Duration::from_secs(seconds))
}

async fn run_control(args: ControlPlaneArgs) -> Result<()> {
    let mut config = ControlConfig::new(args.listen, args.data_dir.clone());
    config.store = args
        .store
        .as_deref()
        .map(StoreSpec::parse)
        .transpose()
        .map_err(|err| anyhow::anyhow!("--store: {err}"))?;
    let store = config.store_spec();
    if let Some(from) = &args.import {
        let from = StoreSpec::parse(from).map_err(|err| anyhow::anyhow!("--import: {err}"))?;
        let imported = skiff_control_plane::import(&from, &store)
            .await
            .with_context(|| format!("importing {from:?} into {store:?}"))?;
        for (table, rows) in &imported.rows {
            println!("skiff control: imported {rows} rows of {table}");
        }
        println!(
            "skiff control: {from:?} is now in {store:?}, at revision {}",
            imported.revision
        );
        return Ok(());
    }
    if args.migrate_only {
        let version = skiff_control_plane::migrate_only(&store)
            .await
            .with_context(|| format!("migrating {store:?}"))?;
        println!("skiff control: {store:?} is at schema version {version}");
        return Ok(());
    }
    config.advertise_url = args.advertise_url;
    config.node_ttl = args.node_ttl;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(TlsFiles { cert, key });
    }
    config.connections = skiff_control_plane::ConnectionLimits {
        max_connections: args.max_connections,
        first_byte: Duration::from_secs(args.first_byte_timeout_secs),
        header_read: Duration::from_secs(args.header_timeout_secs),
        idle: Duration::from_secs(args.idle_timeout_secs),
    };
    config.validation_timeout = Duration::from_millis(args.validation_timeout_ms);
    config.max_nodes = args.max_nodes;
    config.clock_speed = args.test_clock_speed;
    let control = ControlPlane::start(config)
        .await
        .with_context(|| format!("starting the control plane on {store:?}"))?;
    println!("skiff control: listening on {}", control.url());
    for (what, token, path, usage) in [
        (
            "admin",
            control.admin_token(),
            control.admin_token_path(),
            "for the CLI: SKIFF_API_TOKEN",
        ),
        (
            "node",
            control.node_token(),
            control.node_token_path(),
            "for skiff node --node-token-file",
        ),
    ] {
        if token.is_empty() {
            println!(
                "skiff control: {what} token from the store (another replica made it and wrote \
                 its file)"
            );
        } else {
            println!(
                "skiff control: {what} token in {} ({usage})",
                path.display()
            );
        }
    }
    wait_for_signal().await?;
    println!("skiff control: shutting down");
    control.shutdown().await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn wait_for_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
    }
    Ok(())
}

/// A log hook shared by the node and dev commands.
pub type SharedLog = Arc<dyn Fn(skiff_runtime::LogEvent) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_takes_several_urls() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["skiff", "node", "--data-dir", "d"], args].concat())
                .expect("parses");
            match cli.command {
                Command::Node(node) => control_urls(&node.control),
                _ => panic!("not the node command"),
            }
        };
        let one = parse(&["--control", "http://a:8700/"]).expect("one URL");
        assert_eq!(one, ["http://a:8700"]);
        let listed = parse(&["--control", "http://a:8700,https://b:8700"]).expect("a list");
        assert_eq!(listed, ["http://a:8700", "https://b:8700"]);
        let repeated = parse(&["--control", "http://a", "--control", "http://b"]).expect("two");
        assert_eq!(repeated, ["http://a", "http://b"]);
        assert!(parse(&["--control", "http://a,,http://b"]).is_err());
        assert!(parse(&["--control", "a:8700"]).is_err());
    }

    #[test]
    fn node_ttls_take_units() {
        assert_eq!(parse_duration("600"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("10 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("-5").is_err());
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_allowed(true, None));
        assert!(colour_allowed(true, Some(OsString::new())));
        assert!(!colour_allowed(true, Some("1".into())));
        assert!(!colour_allowed(false, None));
        assert!(!colour_allowed(false, Some("1".into())));
    }
}
