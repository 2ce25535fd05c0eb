//! skiff-edge-node: the process that answers tenants' HTTP and HTTPS traffic.
//!
//! An [`EdgeNode`] listens for HTTP/1.1 and HTTP/2 (cleartext h2c and TLS with ALPN), applies
//! the input [`Limits`] before any tenant code runs, maps `NAME.<zone>` to script `NAME`
//! through the [`ScriptRegistry`], and streams each request into the script's isolate and the
//! response back. It sees isolates only through `skiff_runtime::IsolateHandle`. With a
//! [`SyncConfig`] it serves what the control plane deploys (one of its replicas at a time),
//! kept in step by the config-sync client (`sync/`). The admin listener (`admin.rs`) serves
//! the metrics and the sync status.

mod admin;
mod conn;
mod hot;
mod kv;
mod limits;
mod metrics;
mod registry;
mod scheduled;
mod server;
mod services;
mod source;
mod sync;
mod tls;
mod usage;
mod websocket;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use skiff_runtime::{
    IsolateLimits, NodeBindings, OutboundPolicy, ResponseCache, WorkerPool, log_to_tracing,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use hot::DEFAULT_WARM_AT_START;
pub use kv::{KvReplica, NodeKv, ReplicaError};
pub use limits::{ConnectionLimits, DEFAULT_WALL_CLOCK, Limits};
pub use metrics::RequestMetrics;
pub use registry::{Deployment, IsolateDefaults, LogHook, ScriptRegistry};
pub use server::NodeBody;
pub use skiff_project::{Manifest, Project, SourceError, parse_dev_vars};
pub use skiff_protocol::validate_script_name;
pub use skiff_runtime::{CacheCounters, CacheLimits};
pub use source::{DirectorySource, NoScripts, ScriptSource, project_bundle};
pub use sync::{
    AppliedRevision, DEFAULT_USAGE_PERIOD, SyncConfig, SyncError, SyncReport, SyncStatus,
    load_or_create_node_id,
};
pub use tls::{SniResolver, TlsError};
pub use usage::{Invocation, Trigger, Usage};

/// A node failed to start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("cannot start worker threads: {0}")]
    Threads(std::io::Error),
    #[error("cannot keep bytecode in {}: {source}", dir.display())]
    BytecodeDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("config sync: {0}")]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Kv(#[from] ReplicaError),
}

/// Everything an edge node is started with.
#[derive(Clone)]
pub struct NodeConfig {
    /// Cleartext HTTP/1.1 and h2c.
    pub listen: SocketAddr,
    /// HTTPS with ALPN h2 and http/1.1, if set.
    pub tls_listen: Option<SocketAddr>,
    /// Admin HTTP (Prometheus `/metrics`, and `/sync` when the node syncs), if set.
    pub admin_listen: Option<SocketAddr>,
    /// Script `NAME` answers for `NAME.<zone>`.
    pub zone: String,
    /// PEM certificates by host name; a self-signed one for the zone when unset.
    pub certs_dir: Option<PathBuf>,
    pub limits: Limits,
    pub outbound: OutboundPolicy,
    /// How long `ctx.waitUntil` work may run after its response.
    pub wait_until: Duration,
    /// CPU, startup CPU and memory per isolate.
    pub isolate_limits: IsolateLimits,
    /// Bounds of the isolate cache.
    pub cache: CacheLimits,
    /// Worker threads for isolates; one per core when zero.
    pub threads: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Where tenants' console output goes.
    pub log: LogHook,
    /// The script that answers hosts outside the zone, if any.
    pub default_script: Option<String>,
    /// Boot isolates at start, so that first requests find them warm: the scripts that were
    /// busiest before the restart (see `hot_list`), else the first ones by name; at most
    /// `warm_at_start` of them, one after the other.
    pub warm_on_start: bool,
    /// How many scripts `warm_on_start` boots at most.
    pub warm_at_start: usize,
    /// Where the node remembers its busiest scripts (written every minute and at shutdown),
    /// to warm them first after a restart.
    pub hot_list: Option<PathBuf>,
    /// Where compiled bytecode outlives the process (`DATA_DIR/bytecode` for `skiff node`), so
    /// that a restarted node compiles nothing it compiled before; in memory only when unset.
    /// The engine keeps one such setting per process: the node sets it at start.
    pub bytecode_dir: Option<PathBuf>,
    /// Serve what the control plane deploys (config sync), if set.
    pub sync: Option<SyncConfig>,
    /// Where a node without config sync keeps its KV namespaces (`skiff dev --persist-to`);
    /// in memory when unset. A synced node keeps its replica in `DATA_DIR/kv.db`.
    pub kv_path: Option<PathBuf>,
    /// The Cache API's node-wide budget in bytes (`--cache-mib`): bodies, header fields and
    /// keys of every tenant's entries together.
    pub response_cache_bytes: u64,
    /// `/__scheduled?cron=...` (and `/cdn-cgi/handler/scheduled`) fire the script's scheduled
    /// handler instead of reaching its fetch handler (`skiff dev --test-scheduled`).
    pub test_scheduled: bool,
}

impl NodeConfig {
    /// Defaults: HTTP on `listen`, zone `localhost`, the standard limits, tenant logs to
    /// `tracing`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            tls_listen: None,
            admin_listen: None,
            zone: "localhost".into(),
            certs_dir: None,
            limits: Limits::default(),
            outbound: OutboundPolicy::default(),
            wait_until: skiff_runtime::DEFAULT_WAIT_UNTIL,
            isolate_limits: IsolateLimits::default(),
            cache: CacheLimits::default(),
            threads: 0,
            shutdown_grace: Duration::from_secs(30),
            log: Arc::new(log_to_tracing),
            default_script: None,
            warm_on_start: true,
            warm_at_start: DEFAULT_WARM_AT_START,
            hot_list: None,
            bytecode_dir: None,
            sync: None,
            kv_path: None,
            response_cache_bytes: skiff_runtime::DEFAULT_CACHE_BYTES,
            test_scheduled: false,
        }
    }
}

/// The node's side of the `env` bindings, made before its registry: the KV replica and store
/// (writing through the control plane when the node syncs), the router of service bindings
/// (attached to the registry once it exists) and the Cache API's store.
struct Bindings {
    node: NodeBindings,
    kv_replica: Arc<KvReplica>,
    control: Option<sync::ControlPlane>,
    services: Arc<services::ServiceRouter>,
    response_cache: Arc<ResponseCache>,
}

impl Bindings {
    fn new(config: &NodeConfig) -> Result<Self, NodeError> {
        let (kv_replica, kv, control) = match &config.sync {
            Some(sync) => {
                let replica = Arc::new(KvReplica::open(&sync.data_dir.join("kv.db"))?);
                let control = sync::ControlPlane::new(sync)?;
                let store = NodeKv::synced(replica.clone(), control.clone());
                (replica, store, Some(control))
            }
            None => {
                let replica = Arc::new(match &config.kv_path {
                    Some(path) => KvReplica::open(path)?,
                    None => KvReplica::in_memory()?,
                });
                (replica.clone(), NodeKv::local(replica), None)
            }
        };
        let response_cache = Arc::new(ResponseCache::new(config.response_cache_bytes));
        let services = Arc::new(services::ServiceRouter::new(config.limits.wall_clock));
        Ok(Self {
            node: NodeBindings {
                kv: Some(Arc::new(kv)),
                services: Some(services.clone()),
                cache: response_cache.clone(),
            },
            kv_replica,
            control,
            services,
            response_cache,
        })
    }
}

/// Starts booting the isolate of the script a TLS ClientHello names, so that it is (nearly)
/// ready when the request arrives after the handshake.
fn prewarm_hook(registry: Arc<ScriptRegistry>, zone: String) -> tls::SniHook {
    Arc::new(move |server_name: &str| {
        let host = server_name.to_ascii_lowercase();
        let Some(script) = server::script_for_host(&host, &zone) else {
            return;
        };
        if !registry.contains(script) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let registry = registry.clone();
        let script = script.to_string();
        runtime.spawn(async move {
            let _ = registry.isolate(&script).await;
        });
    })
}

/// A running edge node.
pub struct EdgeNode {
    registry: Arc<ScriptRegistry>,
    http_addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    accept_loops: Vec<JoinHandle<()>>,
    connections: Arc<conn::Slots>,
    shutdown_grace: Duration,
    sync: Option<sync::SyncTasks>,
    sync_status: Option<Arc<SyncStatus>>,
    /// The Cache API's store, shared by the node's isolates.
    response_cache: Arc<ResponseCache>,
    /// The hot list's path and the task that keeps it.
    hot_list: Option<(PathBuf, JoinHandle<()>)>,
}

impl EdgeNode {
    /// Binds the listeners, loads every script from `source`, and starts serving. Isolates
    /// are created in the background so the first requests find them warm.
    ///
    /// With `config.sync`, the state persisted in its data directory is loaded after
    /// `source` (a synced script replaces a source's script of the same name), then the
    /// sync client subscribes to the control plane; [`EdgeNode::shutdown`] stops it.
    pub async fn start(config: NodeConfig, source: &dyn ScriptSource) -> Result<Self, NodeError> {
        let tailed = Arc::new(sync::TailSet::default());
        let usage = Arc::new(Usage::new(config.sync.is_some()));
        let (log, tail_events) = match &config.sync {
            Some(sync) => {
                let (hook, events) = sync::tail_hook(
                    config.log.clone(),
                    tailed.clone(),
                    sync.node_id.clone(),
                    &usage,
                );
                (hook, Some(events))
            }
            None => (config.log.clone(), None),
        };
        if let Some(dir) = &config.bytecode_dir {
            skiff_runtime::keep_bytecode_in(Some(dir), skiff_runtime::DEFAULT_BYTECODE_DISK_BYTES)
                .map_err(|source| NodeError::BytecodeDir {
                    dir: dir.clone(),
                    source,
                })?;
        }
        let pool = if config.threads == 0 {
            WorkerPool::with_default_threads()
        } else {
            WorkerPool::new(config.threads)
        }
        .map_err(NodeError::Threads)?;
        let Bindings {
            node: bindings,
            kv_replica,
            control,
            services,
            response_cache,
        } = Bindings::new(&config)?;
        let registry = Arc::new(ScriptRegistry::new(
            pool,
            IsolateDefaults {
                outbound: config.outbound.clone(),
                wait_until: config.wait_until,
                limits: config.isolate_limits,
                log,
                bindings,
            },
            config.cache,
        ));
        services.attach(&registry);
        for bundle in source.load_all()? {
            registry.replace(bundle);
        }
        let sync_client = match (&config.sync, control) {
            (Some(sync), Some(control)) => Some(sync::SyncClient::restore(
                sync,
                &config.zone,
                control,
                sync::Serving {
                    registry: registry.clone(),
                    kv: kv_replica,
                    tailed,
                    usage: usage.clone(),
                    wall_clock: config.limits.wall_clock,
                },
            )?),
            _ => None,
        };
        let sync_status = sync_client.as_ref().map(sync::SyncClient::status);

        // A bound listener and the address it got (port 0 picks one).
        let bind = |addr: SocketAddr| async move {
            let listen_error = |source| NodeError::Listen { addr, source };
            let listener = TcpListener::bind(addr).await.map_err(listen_error)?;
            let local = listener.local_addr().map_err(listen_error)?;
            Ok::<_, NodeError>((listener, local))
        };
        let (http, http_addr) = bind(config.listen).await?;
        let (stop, stop_rx) = watch::channel(false);
        let request_metrics = Arc::new(RequestMetrics::with_usage(usage.clone()));
        let shared = Arc::new(server::Shared {
            registry: registry.clone(),
            zone: config.zone.to_ascii_lowercase(),
            limits: config.limits.clone(),
            default_script: config.default_script.clone(),
            test_scheduled: config.test_scheduled,
            sockets: websocket::Sockets::new(request_metrics.connections.clone(), stop_rx.clone()),
            metrics: request_metrics,
        });
        let shared_metrics = shared.metrics.clone();
        let connections = Arc::new(conn::Slots::new(config.limits.connections.max_connections));
        let mut accept_loops = vec![tokio::spawn(conn::serve(conn::Listener {
            listener: http,
            tls: None,
            shared: shared.clone(),
            slots: connections.clone(),
            stop: stop_rx.clone(),
        }))];

        let mut https_addr = None;
        if let Some(tls_listen) = config.tls_listen {
            let resolver = match &config.certs_dir {
                Some(dir) => SniResolver::from_dir(dir)?,
                None => SniResolver::self_signed(&config.zone)?,
            }
            .with_hello_hook(prewarm_hook(registry.clone(), shared.zone.clone()));
            let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(resolver)?);
            let (listener, local) = bind(tls_listen).await?;
            https_addr = Some(local);
            accept_loops.push(tokio::spawn(conn::serve(conn::Listener {
                listener,
                tls: Some(acceptor),
                shared,
                slots: connections.clone(),
                stop: stop_rx,
            })));
        }

        let mut admin_addr = None;
        if let Some(admin_listen) = config.admin_listen {
            let (listener, local) = bind(admin_listen).await?;
            admin_addr = Some(local);
            accept_loops.push(tokio::spawn(admin::serve(
                listener,
                registry.clone(),
                shared_metrics.clone(),
                sync_status.clone(),
                response_cache.clone(),
                stop.subscribe(),
            )));
        }

        if config.warm_on_start {
            let remembered = config
                .hot_list
                .as_deref()
                .map(hot::read)
                .unwrap_or_default();
            let names = hot::to_warm(remembered, registry.names(), config.warm_at_start);
            let warm = registry.clone();
            tokio::spawn(async move { warm.warm_scripts(&names).await });
        }
        let hot_list = config.hot_list.clone().map(|path| {
            let task = tokio::spawn(hot::remember(
                registry.clone(),
                path.clone(),
                stop.subscribe(),
            ));
            (path, task)
        });
        let sync = sync_client
            .zip(tail_events)
            .map(|(client, events)| client.spawn(events));
        tracing::info!(%http_addr, ?https_addr, scripts = registry.names().len(), "edge node serving");
        Ok(Self {
            registry,
            http_addr,
            https_addr,
            admin_addr,
            stop,
            accept_loops,
            connections,
            shutdown_grace: config.shutdown_grace,
            sync,
            sync_status,
            response_cache,
            hot_list,
        })
    }

    /// Starts a node whose scripts all come from config sync (`config.sync`), beginning
    /// with what its data directory already holds.
    pub async fn start_synced(config: NodeConfig) -> Result<Self, NodeError> {
        Self::start(config, &NoScripts).await
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    pub fn registry(&self) -> &Arc<ScriptRegistry> {
        &self.registry
    }

    /// The Cache API's store (its counts and usage).
    pub fn response_cache(&self) -> &Arc<ResponseCache> {
        &self.response_cache
    }

    /// The config-sync subscription's state, when the node syncs.
    pub fn sync_status(&self) -> Option<&Arc<SyncStatus>> {
        self.sync_status.as_ref()
    }

    /// Stops config sync and accepting connections, lets in-flight requests finish (up to the
    /// grace period), then stops the isolates.
    pub async fn shutdown(self) {
        if let Some(sync) = self.sync {
            sync.stop().await;
        }
        let _ = self.stop.send(true);
        for accept in self.accept_loops {
            let _ = accept.await;
        }
        // Each connection saw `stop`: it finishes its in-flight requests, then closes.
        if tokio::time::timeout(self.shutdown_grace, self.connections.all_closed())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
        if let Some((path, task)) = self.hot_list {
            task.abort();
            hot::write(&self.registry, &path);
        }
        self.registry.shutdown_all().await;
        tracing::info!("edge node stopped");
    }
}
