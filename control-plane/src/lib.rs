//! skiff-control-plane: the single writer of what edge nodes serve.
//!
//! It stores scripts, their immutable versions (bundles addressed by sha256), deployments and
//! secrets in SQLite ([`store`]), answers the admin API the CLI talks to, validates every
//! upload by loading it in a real isolate, and pushes each change to the nodes over a
//! server-sent-events sync channel. Every change gets the next revision; nodes acknowledge
//! the revisions they serve. `protocol/PROTOCOL.md` lists the endpoints.
//!
//! It serves HTTP, or HTTPS with [`ControlConfig::tls`], through its own accept loop
//! ([`server`]) that bounds slow and idle connections and their number. The data directory and
//! everything in it (the store with its secrets, the token files) are private to the owner
//! (0700 and 0600), set explicitly at every start.

mod admin;
mod auth;
mod error;
mod extract;
mod kv;
mod kv_store;
mod private;
mod server;
mod state;
mod store;
mod sync;
mod tail;
mod upload;
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

use crate::auth::Tokens;
use crate::state::AppState;
use crate::store::Store;

/// How the control plane runs.
#[derive(Clone, Debug)]
pub struct ControlConfig {
    /// Where the API listens (port 0 picks a free port; see [`ControlPlane::addr`]).
    pub listen: SocketAddr,
    /// Holds `control.db` and the token files; created when missing.
    pub data_dir: PathBuf,
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
}

impl ControlConfig {
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            data_dir,
            max_bundle_bytes: skiff_protocol::MAX_BUNDLE_BYTES,
            startup_cpu: skiff_runtime::DEFAULT_STARTUP_CPU,
            memory_bytes: skiff_runtime::DEFAULT_MEMORY,
            validation_timeout: Duration::from_secs(5),
            tls: None,
            connections: ConnectionLimits::default(),
            max_nodes: 1000,
        }
    }
}

/// A running control plane.
pub struct ControlPlane {
    addr: SocketAddr,
    state: Arc<AppState>,
    server: JoinHandle<()>,
    https: bool,
    stats: Arc<ConnectionStats>,
}

impl ControlPlane {
    /// Opens the store in `config.data_dir` (creating the tokens on first start), starts the
    /// validation pool and serves the API.
    pub async fn start(config: ControlConfig) -> Result<ControlPlane, ControlError> {
        let data_dir = config.data_dir.clone();
        tokio::task::spawn_blocking(move || private::secure_data_dir(&data_dir))
            .await
            .map_err(|err| StoreError::Task(err.to_string()))??;
        let db_path = config.data_dir.join("control.db");
        let store = tokio::task::spawn_blocking(move || Store::open(&db_path))
            .await
            .map_err(|err| StoreError::Task(err.to_string()))??;
        let tokens = Tokens::load_or_create(&config.data_dir, &store).await?;
        // SQLite made the -wal/-shm files when it opened the store: private too.
        private::secure_files(&config.data_dir)?;
        let tls = config.tls.as_ref().map(server::tls_acceptor).transpose()?;
        let revision = store.call(|conn| store::current_revision(conn)).await?;
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
        tracing::info!(
            %addr,
            https,
            admin_token = %tokens.admin.path.display(),
            node_token = %tokens.node.path.display(),
            revision,
            "control plane listening; the API tokens are in the token files"
        );
        let state = Arc::new(AppState::new(config, store, tokens, pool, revision));
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

    pub fn admin_token(&self) -> &str {
        &self.state.tokens.admin.secret
    }

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
        // Dropping the worker pool joins its thread: not on the async runtime.
        let state = self.state;
        let _ = tokio::task::spawn_blocking(move || drop(state)).await;
        tracing::info!("control plane stopped");
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
        .fallback(admin::not_found)
        .with_state(state)
}
