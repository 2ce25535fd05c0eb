//! Errors: [`ControlError`] for starting the control plane, [`ApiError`] for one HTTP call.
//! An `ApiError` says whose fault it is through its status; `IntoResponse` is the one place
//! that turns it into an [`ErrorBody`].

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use skiff_protocol::ErrorBody;

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("token file {path}: {source}")]
    TokenFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("could not start the worker pool that validates uploads: {0}")]
    Pool(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

/// A failure inside the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing the caller named does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The caller asked for something the data does not allow (400).
    #[error("{0}")]
    Invalid(String),
    /// A limit on what the store keeps was reached (409).
    #[error("{0}")]
    Full(String),
    /// What the caller would create exists already (409).
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached now (503: try again).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The database's schema is newer than this build understands.
    #[error(
        "the store's schema is version {found}, newer than this skiff understands (version \
         {known}); run the skiff release that migrated it, or a newer one"
    )]
    SchemaTooNew { found: u64, known: u64 },
    /// What the store holds is not what this build expects.
    #[error("the store holds something unexpected: {0}")]
    Corrupt(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the store's worker thread failed: {0}")]
    Task(String),
}

/// The answer to a failed API call: a status and an [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: message.into(),
                line: None,
            },
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(message) => Self::not_found(message),
            StoreError::Invalid(message) => Self::bad_request(message),
            StoreError::Full(message) | StoreError::Conflict(message) => {
                Self::new(StatusCode::CONFLICT, message)
            }
            StoreError::Unavailable(message) => {
                tracing::warn!(%message, "the store is unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the store is unavailable: {message}"),
                )
            }
            StoreError::Postgres(err) if err.as_db_error().is_none() => {
                tracing::warn!(error = %err, "the store's connection failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the store is unavailable (its connection failed): {err}"),
                )
            }
            other => {
                tracing::error!(error = %other, "store failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal store error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
