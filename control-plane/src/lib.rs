//! skiff-control-plane: the single writer of what edge nodes serve.
//!
//! It stores scripts, their immutable versions (bundles addressed by sha256), deployments and
//! secrets in SQLite or PostgreSQL ([`store`]), answers the admin API the CLI talks to,
//! validates every upload by loading it in a real isolate, and pushes each change to the nodes
//! over a server-sent-events sync channel. Every change gets the next revision; nodes
//! acknowledge the revisions they serve. `protocol/PROTOCOL.md` lists the endpoints.
//!
//! On PostgreSQL any number of control planes serve one platform as replicas: the database
//! hands out the revisions, and each replica hears of the others' changes ([`replica`]).
//!
//! Each replica also runs the cron scheduler ([`cron`]), which gives every tick of a deployed
//! script's cron triggers to one connected node, and stores the nodes' usage batches
//! ([`usage`]).
//!
//! It serves HTTP, or HTTPS with [`ControlConfig::tls`], through its own accept loop
//! ([`server`]) that bounds slow and idle connections and their number. The data directory and
//! everything in it (the store with its secrets, the token files) are private to the owner
//! (0700 and 0600), set explicitly at every start.

mod acks;
mod admin;
mod auth;
mod cron;
mod error;
mod extract;
mod kv;
mod kv_store;
mod private;
mod replica;
mod scheduled;
mod server;
mod state;
mod store;
mod sync;
mod tail;
mod upload;
mod usage;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post, put};
use skiff_runtime::WorkerPool;
use tokio::task::JoinHandle;

pub use auth::constant_time_eq;
pub use error::{ControlError, StoreError};
pub use server::{ConnectionLimits, ConnectionStats, TlsFiles};
pub use store::import::Imported;
pub use store::{SCHEMA_VERSION, StoreSpec};

use crate::auth::Tokens;
use crate::replica::Replica;
use crate::state::AppState;
use crate::store::Store;

/// How the control plane runs.
#[derive(Clone, Debug)]
pub struct ControlConfig {
    /// Where the API listens (port 0 picks a free port; see [`ControlPlane::addr`]).
    pub listen: SocketAddr,
    /// Holds the token files, and `control.db` when the store is SQLite's default; created when
    /// missing.
    pub data_dir: PathBuf,
    /// The store; `None` is SQLite in `data_dir/control.db`.
    pub store: Option<StoreSpec>,
    /// The URL this replica is reached at, shown by `skiff nodes list` (default: the address
    /// it listens on).
    pub advertise_url: Option<String>,
    /// Nodes not seen for this long no longer count (and drop out of the node list).
    pub node_ttl: Duration,
    /// The largest upload (sum of module sizes) accepted.
    pub max_bundle_bytes: usize,
    /// CPU time an upload's top level may take when it is validated.
    pub startup_cpu: Duration,
    /// Engine heap an upload may use when it is validated.
    pub memory_bytes: usize,
    /// Wall-clock time an upload's top level (its awaits included) may take when it is
    /// validated; a top level still pending then is refused with 400.
    pub validation_timeout: Duration,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Bounds on connections: their number, first byte, request heads, idle keep-alive.
    pub connections: ConnectionLimits,
    /// Node rows the store keeps at most; a new node id past it is refused with 409.
    pub max_nodes: usize,
    /// How fast the cron scheduler's clock runs against real time (1: real time). Tests run
    /// it faster: at 60 a `* * * * *` trigger ticks every real second.
    pub clock_speed: f64,
}

impl ControlConfig {
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            data_dir,
            store: None,
            advertise_url: None,
            node_ttl: Duration::from_secs(600),
            max_bundle_bytes: skiff_protocol::MAX_BUNDLE_BYTES,
            startup_cpu: skiff_runtime::DEFAULT_STARTUP_CPU,
            memory_bytes: skiff_runtime::DEFAULT_MEMORY,
            validation_timeout: Duration::from_secs(5),
            tls: None,
            connections: ConnectionLimits::default(),
            max_nodes: 1000,
            clock_speed: 1.0,
        }
    }
}

/// A running control plane.
pub struct ControlPlane {
    addr: SocketAddr,
    state: Arc<AppState>,
    server: JoinHandle<()>,
    replica_task: JoinHandle<()>,
    scheduler: JoinHandle<()>,
    https: bool,
    stats: Arc<ConnectionStats>,
}

impl ControlPlane {
    /// Opens the store (migrating its schema), loads or creates the tokens, starts the
    /// validation pool and serves the API.
    pub async fn start(config: ControlConfig) -> Result<ControlPlane, ControlError> {
        let data_dir = config.data_dir.clone();
        tokio::task::spawn_blocking(move || private::secure_data_dir(&data_dir))
            .await
            .map_err(|err| StoreError::Task(err.to_string()))??;
        let spec = config.store_spec();
        let store = Store::open(&spec).await?;
        let tokens = Tokens::load_or_create(&config.data_dir, &store).await?;
        // SQLite made the -wal/-shm files when it opened the store: private too.
        private::secure_files(&config.data_dir)?;
        let tls = config.tls.as_ref().map(server::tls_acceptor).transpose()?;
        let revision = {
            let mut tx = store.read().await?;
            let revision = store::current_revision(&mut tx).await?;
            tx.commit().await?;
            revision
        };
        let pool = WorkerPool::new(1).map_err(ControlError::Pool)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ControlError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ControlError::Listen {
                addr: config.listen,
                source,
            })?;
        let https = tls.is_some();
        let url = config.advertise_url.clone().unwrap_or_else(|| {
            let scheme = if https { "https" } else { "http" };
            format!("{scheme}://{addr}")
        });
        tracing::info!(
            %addr,
            https,
            store = %spec.redacted(),
            admin_token = %tokens.admin.path.display(),
            node_token = %tokens.node.path.display(),
            revision,
            "control plane listening; the API tokens are in the token files"
        );
        let (replica, notes) = Replica::new(url);
        let state = Arc::new(AppState::new(
            config, store, replica, tokens, pool, revision,
        ));
        replica::heartbeat(&state).await?;
        let replica_task = replica::spawn(state.clone(), notes);
        let scheduler = cron::spawn(state.clone());
        let stats = Arc::new(ConnectionStats::default());
        let server = server::Server {
            app: router(state.clone()),
            tls,
            limits: state.config.connections,
            stats: stats.clone(),
            stop: state.shutdown.subscribe(),
        };
        let server = tokio::spawn(server::serve(listener, server));
        Ok(ControlPlane {
            addr,
            state,
            server,
            replica_task,
            scheduler,
            https,
            stats,
        })
    }

    /// The address the API listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's base URL: `http://ADDR`, or `https://ADDR` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Counters of the connection limits.
    pub fn connection_stats(&self) -> &ConnectionStats {
        &self.stats
    }

    /// The admin token, or "" when another replica made it (and has its file).
    pub fn admin_token(&self) -> &str {
        &self.state.tokens.admin.secret
    }

    /// The node token, or "" when another replica made it.
    pub fn node_token(&self) -> &str {
        &self.state.tokens.node.secret
    }

    pub fn admin_token_path(&self) -> &Path {
        &self.state.tokens.admin.path
    }

    pub fn node_token_path(&self) -> &Path {
        &self.state.tokens.node.path
    }

    /// Stops accepting connections, ends open event streams and long polls, and waits for
    /// the requests in flight to finish.
    pub async fn shutdown(self) {
        self.state.shutdown.send_replace(true);
        if let Err(err) = self.server.await {
            tracing::error!(error = %err, "control plane server task failed");
        }
        let _ = self.replica_task.await;
        let _ = self.scheduler.await;
        if let Err(err) = replica::leave(&self.state).await {
            tracing::warn!(error = %err, "could not record this replica leaving");
        }
        // Dropping the worker pool joins its thread: not on the async runtime.
        let state = self.state;
        let _ = tokio::task::spawn_blocking(move || drop(state)).await;
        tracing::info!("control plane stopped");
    }
}

impl ControlConfig {
    /// The store: `--store`, or SQLite in the data directory.
    pub fn store_spec(&self) -> StoreSpec {
        self.store
            .clone()
            .unwrap_or_else(|| StoreSpec::Sqlite(self.data_dir.join("control.db")))
    }
}

/// Brings the store's schema up to date; the schema version it is at then.
pub async fn migrate_only(spec: &StoreSpec) -> Result<u64, ControlError> {
    Store::open(spec).await?;
    Ok(SCHEMA_VERSION)
}

/// Copies a single-machine platform (a SQLite store) into an empty store (PostgreSQL): every
/// script, version, bundle, deployment, secret, KV entry, token hash and node, in one
/// transaction. The revisions carry on from the old store's.
pub async fn import(from: &StoreSpec, to: &StoreSpec) -> Result<Imported, ControlError> {
    let source = Store::open(from).await?;
    let target = Store::open(to).await?;
    Ok(store::import::import(&source, &target).await?)
}

/// `GET /healthz`: 200 while the store answers, 503 when it does not (for load balancers).
async fn healthz(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> (axum::http::StatusCode, String) {
    match state.store.ping().await {
        Ok(()) => (axum::http::StatusCode::OK, "ok\n".into()),
        Err(err) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("store unreachable: {err}\n"),
        ),
    }
}

fn router(state: Arc<AppState>) -> Router {
    let upload_limit = state.config.max_bundle_bytes + upload::BODY_OVERHEAD;
    let admin = Router::new()
        .route("/v1/scripts", get(admin::list_scripts))
        .route(
            "/v1/scripts/{name}",
            put(upload::put_script)
                .delete(admin::delete_script)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/v1/scripts/{name}/versions", get(admin::list_versions))
        .route(
            "/v1/scripts/{name}/deployments",
            post(admin::create_deployment),
        )
        .route("/v1/scripts/{name}/rollback", post(admin::rollback))
        .route("/v1/scripts/{name}/secrets", get(admin::list_secrets))
        .route(
            "/v1/scripts/{name}/secrets/{key}",
            put(admin::put_secret).delete(admin::delete_secret),
        )
        .route("/v1/scripts/{name}/tail", get(tail::tail))
        .route("/v1/scripts/{name}/schedules", get(scheduled::schedules))
        .route("/v1/usage", get(usage::get_usage))
        .route("/v1/nodes", get(sync::list_nodes))
        .route("/v1/nodes/{id}", delete(sync::delete_node))
        .route(
            "/v1/kv/namespaces",
            get(kv::list_namespaces).post(kv::create_namespace),
        )
        .route("/v1/kv/namespaces/{id}", delete(kv::delete_namespace))
        .route("/v1/kv/namespaces/{id}/keys", get(kv::list_keys))
        .route_layer(middleware::from_fn_with_state(
            state.tokens.clone(),
            auth::require_admin,
        ));
    let node = Router::new()
        .route("/v1/sync", get(sync::sync))
        .route("/v1/bundles/{sha256}", get(sync::get_bundle))
        .route("/v1/nodes/{id}/ack", post(sync::ack))
        .route("/v1/logs", post(tail::post_logs))
        .route("/v1/scheduled/{id}", post(scheduled::report))
        .route("/v1/usage", post(usage::post_usage))
        // Nodes write KV on their tenants' behalf; the admin may call these too.
        .route(
            "/v1/kv/namespaces/{id}/values/{key}",
            get(kv::get_value)
                .put(kv::put_value)
                .delete(kv::delete_value)
                .layer(DefaultBodyLimit::max(
                    skiff_protocol::kv::MAX_VALUE_BYTES + 1,
                )),
        )
        .route_layer(middleware::from_fn_with_state(
            state.tokens.clone(),
            auth::require_node,
        ));
    let enroll = Router::new()
        .route("/v1/nodes/enroll", post(sync::enroll))
        .route_layer(middleware::from_fn_with_state(
            state.tokens.clone(),
            auth::require_enrolling,
        ));
    admin
        .merge(node)
        .merge(enroll)
        .route("/healthz", get(healthz))
        .fallback(admin::not_found)
        .with_state(state)
}
