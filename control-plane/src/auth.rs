//! API tokens: an admin token (everything), the shared node token (enrolls a node, nothing
//! else) and each enrolled node's own credential (that node's endpoints, as that node).
//!
//! The admin and node tokens are generated on first start (32 random bytes, hex) and written
//! to `DATA_DIR/admin.token` and `DATA_DIR/node.token` with mode 0600; later starts read them
//! back. A node presents the node token once, to `POST /v1/nodes/enroll`, and is given a
//! credential bound to the node id it enrolled; every later request presents that credential,
//! and the control plane takes the node's identity from it, so no node can speak for another.
//! The store keeps only sha256 hashes, and the admin and node tokens are checked by comparing
//! hashes in constant time ([`constant_time_eq`]): how long a check takes says nothing about
//! how much of a guessed token's hash matched. Credentials are found by their hash.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use skiff_protocol::{NODE_ID_HEADER, sha256_hex};

use crate::error::{ApiError, ControlError, StoreError};
use crate::store::{self, Store};

/// The token files' roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Admin,
    Node,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Node => "node",
        }
    }
}

/// Who presented a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Admin,
    /// The shared node token: it may enroll a node, nothing else.
    Enrolling,
    /// An enrolled node, by its own credential.
    Node(String),
}

/// One token: the secret (kept for the embedding program), its file and its hash.
pub struct Token {
    /// Empty when another replica of a PostgreSQL store made the token: this one knows only
    /// its hash, and the token file is on that replica's machine.
    pub secret: String,
    pub path: PathBuf,
    pub hash: String,
}

/// The admin and node tokens, and the enrolled nodes' credentials.
pub struct Tokens {
    pub admin: Token,
    pub node: Token,
    /// Node id by credential sha256: the ones seen so far (the store has them all).
    credentials: RwLock<HashMap<String, String>>,
    store: Store,
}

impl Tokens {
    /// The admin and node tokens, and the enrolled nodes' credentials.
    ///
    /// On SQLite (one machine, the store in `data_dir`) the token files are authoritative:
    /// a missing one is made anew (which is how a token is rotated) and its hash stored. On
    /// PostgreSQL the store is: a replica uses the tokens the store has, and makes (and writes
    /// the files of) only the ones it has not; a token file that disagrees with the store is
    /// refused, since the other replicas would not accept it.
    pub async fn load_or_create(data_dir: &Path, store: &Store) -> Result<Self, ControlError> {
        let mut tx = store.bookkeeping().await?;
        let stored = store::nodes::token_hashes(&mut tx).await?;
        let mut tokens = Vec::new();
        for role in [Role::Admin, Role::Node] {
            let path = data_dir.join(format!("{}.token", role.name()));
            let file = read_token_file(&path)?;
            let stored = stored.get(role.name()).cloned();
            let token = match (file, stored, store) {
                (Some(secret), stored, _) => {
                    let hash = sha256_hex(secret.as_bytes());
                    match (stored, store) {
                        (Some(stored), Store::Postgres(_)) if stored != hash => {
                            return Err(ControlError::TokenFile {
                                path,
                                source: std::io::Error::other(
                                    "this is not the token the store has (another replica \
                                     made it); remove the file to use the store's token",
                                ),
                            });
                        }
                        _ => store::nodes::set_token_hash(&mut tx, role.name(), &hash).await?,
                    }
                    Token { secret, path, hash }
                }
                (None, Some(hash), Store::Postgres(_)) => Token {
                    secret: String::new(),
                    path,
                    hash,
                },
                (None, _, _) => {
                    let secret = new_secret(role).map_err(|source| ControlError::TokenFile {
                        path: path.clone(),
                        source,
                    })?;
                    let hash = sha256_hex(secret.as_bytes());
                    let ours = match store {
                        Store::Postgres(_) => {
                            store::nodes::add_token_hash(&mut tx, role.name(), &hash).await?
                        }
                        Store::Sqlite(_) => {
                            store::nodes::set_token_hash(&mut tx, role.name(), &hash).await?;
                            true
                        }
                    };
                    if ours {
                        write_private(&path, &secret).map_err(|source| {
                            ControlError::TokenFile {
                                path: path.clone(),
                                source,
                            }
                        })?;
                        Token { secret, path, hash }
                    } else {
                        // Another replica stored its token first, in this very moment.
                        let hash = store::nodes::token_hashes(&mut tx)
                            .await?
                            .remove(role.name())
                            .unwrap_or_default();
                        Token {
                            secret: String::new(),
                            path,
                            hash,
                        }
                    }
                }
            };
            tokens.push(token);
        }
        let credentials = store::nodes::node_credentials(&mut tx).await?;
        tx.commit().await?;
        let node = tokens.pop().expect("two tokens");
        let admin = tokens.pop().expect("two tokens");
        Ok(Self {
            admin,
            node,
            credentials: RwLock::new(credentials.into_iter().collect()),
            store: store.clone(),
        })
    }

    /// Who presented `token`. Its hash is compared with both tokens' (always both, each in
    /// constant time), then looked up among the credentials: those seen so far, then the
    /// store's (a node may have enrolled on another replica).
    async fn caller_of(&self, token: &str) -> Result<Option<Caller>, StoreError> {
        let hash = sha256_hex(token.as_bytes());
        let admin = constant_time_eq(hash.as_bytes(), self.admin.hash.as_bytes());
        let node = constant_time_eq(hash.as_bytes(), self.node.hash.as_bytes());
        match (admin, node) {
            (true, _) => return Ok(Some(Caller::Admin)),
            (false, true) => return Ok(Some(Caller::Enrolling)),
            (false, false) => {}
        }
        let known = self
            .credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            .cloned();
        if let Some(node) = known {
            return Ok(Some(Caller::Node(node)));
        }
        let mut tx = self.store.read().await?;
        let node = store::nodes::credential_node(&mut tx, &hash).await?;
        tx.commit().await?;
        Ok(node.map(|node| {
            self.admit(hash, &node);
            Caller::Node(node)
        }))
    }

    /// Forgets every credential seen so far (they are looked up in the store again): after
    /// notifications from other replicas may have been missed.
    pub fn forget_credentials(&self) {
        self.credentials
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Makes a new node credential; its hash ([`Self::credential_hash`]) is stored before
    /// [`Self::admit`] lets it in.
    pub fn new_credential() -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(format!("skiff_nodecred_{}", hex::encode(bytes)))
    }

    pub fn credential_hash(credential: &str) -> String {
        sha256_hex(credential.as_bytes())
    }

    /// Accepts the credential with `hash` as `node`'s from now on.
    pub fn admit(&self, hash: String, node: &str) {
        self.credentials
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, node.to_string());
    }

    /// Refuses `node`'s credential from now on.
    pub fn revoke(&self, node: &str) {
        self.credentials
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, id| id != node);
    }
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only, not on where
/// they first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(difference) == 0
}

/// The token in `path`, if the file exists.
fn read_token_file(path: &Path) -> Result<Option<String>, ControlError> {
    let file_error = |source| ControlError::TokenFile {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => {
            Err(file_error(std::io::Error::other("the file is empty")))
        }
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(file_error(err)),
    }
}

fn new_secret(role: Role) -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| std::io::Error::other(err.to_string()))?;
    Ok(format!("skiff_{}_{}", role.name(), hex::encode(bytes)))
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

async fn presented_caller(tokens: &Tokens, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "missing or unknown API token");
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(unauthorized)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(unauthorized)?;
    tokens
        .caller_of(token.trim())
        .await?
        .ok_or_else(unauthorized)
}

/// Middleware for admin endpoints: the admin token only.
pub async fn require_admin(
    State(tokens): State<Arc<Tokens>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match presented_caller(&tokens, request.headers()).await? {
        Caller::Admin => Ok(next.run(request).await),
        Caller::Enrolling | Caller::Node(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a node token may not call admin endpoints",
        )),
    }
}

/// Middleware for node endpoints: a node's own credential, or the admin token. A node speaks
/// only as itself: the `x-skiff-node` of its requests must be the node its credential was
/// given to.
pub async fn require_node(
    State(tokens): State<Arc<Tokens>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match presented_caller(&tokens, request.headers()).await? {
        Caller::Admin => Ok(next.run(request).await),
        Caller::Node(node) => {
            let named = request
                .headers()
                .get(NODE_ID_HEADER)
                .and_then(|value| value.to_str().ok());
            if named == Some(node.as_str()) {
                Ok(next.run(request).await)
            } else {
                Err(ApiError::forbidden(format!(
                    "this credential is node {node}'s; its requests name it in {NODE_ID_HEADER}"
                )))
            }
        }
        Caller::Enrolling => Err(ApiError::forbidden(
            "the shared node token only enrolls a node (POST /v1/nodes/enroll); the node then \
             presents the credential it was given",
        )),
    }
}

/// Middleware for `POST /v1/nodes/enroll`: the shared node token or the admin token.
pub async fn require_enrolling(
    State(tokens): State<Arc<Tokens>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match presented_caller(&tokens, request.headers()).await? {
        Caller::Admin | Caller::Enrolling => Ok(next.run(request).await),
        Caller::Node(node) => Err(ApiError::forbidden(format!(
            "node {node} is enrolled already; enrolling takes the shared node token"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"xbc"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
