//! API tokens: an admin token (everything) and a node token (the node endpoints).
//!
//! Both are generated on first start (32 random bytes, hex) and written to
//! `DATA_DIR/admin.token` and `DATA_DIR/node.token` with mode 0600; later starts read them
//! back. The store keeps only their sha256, and requests are checked by comparing hashes in
//! constant time ([`constant_time_eq`]): how long a check takes says nothing about how much of
//! a guessed token's hash matched.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use skiff_protocol::sha256_hex;

use crate::error::{ApiError, ControlError};
use crate::store::{self, Store};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
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

/// One token: the secret (kept for the embedding program), its file and its hash.
pub struct Token {
    pub secret: String,
    pub path: PathBuf,
    pub hash: String,
}

/// The admin and node tokens.
pub struct Tokens {
    pub admin: Token,
    pub node: Token,
}

impl Tokens {
    /// Reads the token files in `data_dir`, creating the missing ones, and stores their hashes.
    pub async fn load_or_create(data_dir: &Path, store: &Store) -> Result<Self, ControlError> {
        let admin = token_file(data_dir, Role::Admin)?;
        let node = token_file(data_dir, Role::Node)?;
        let hashes = [
            (Role::Admin.name(), admin.hash.clone()),
            (Role::Node.name(), node.hash.clone()),
        ];
        store
            .call(move |conn| {
                for (role, hash) in &hashes {
                    store::set_token_hash(conn, role, hash)?;
                }
                Ok(())
            })
            .await?;
        Ok(Self { admin, node })
    }

    /// The role of a presented token, comparing its hash with both stored ones (always both,
    /// each in constant time).
    fn role_of(&self, token: &str) -> Option<Role> {
        let hash = sha256_hex(token.as_bytes());
        let admin = constant_time_eq(hash.as_bytes(), self.admin.hash.as_bytes());
        let node = constant_time_eq(hash.as_bytes(), self.node.hash.as_bytes());
        match (admin, node) {
            (true, _) => Some(Role::Admin),
            (false, true) => Some(Role::Node),
            (false, false) => None,
        }
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

fn token_file(data_dir: &Path, role: Role) -> Result<Token, ControlError> {
    let path = data_dir.join(format!("{}.token", role.name()));
    let file_error = |source| ControlError::TokenFile {
        path: path.clone(),
        source,
    };
    let secret = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_string(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)
                .map_err(|err| file_error(std::io::Error::other(err.to_string())))?;
            let secret = format!("skiff_{}_{}", role.name(), hex::encode(bytes));
            write_private(&path, &secret).map_err(file_error)?;
            secret
        }
        Err(err) => return Err(file_error(err)),
    };
    if secret.is_empty() {
        return Err(file_error(std::io::Error::other("the file is empty")));
    }
    let hash = sha256_hex(secret.as_bytes());
    Ok(Token { secret, path, hash })
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

fn presented_role(tokens: &Tokens, request: &Request) -> Result<Role, ApiError> {
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "missing or unknown API token");
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(unauthorized)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(unauthorized)?;
    tokens.role_of(token.trim()).ok_or_else(unauthorized)
}

/// Middleware for admin endpoints: the admin token only.
pub async fn require_admin(
    State(tokens): State<Arc<Tokens>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match presented_role(&tokens, &request)? {
        Role::Admin => Ok(next.run(request).await),
        Role::Node => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the node token may not call admin endpoints",
        )),
    }
}

/// Middleware for node endpoints: the node token or the admin token.
pub async fn require_node(
    State(tokens): State<Arc<Tokens>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    presented_role(&tokens, &request)?;
    Ok(next.run(request).await)
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
