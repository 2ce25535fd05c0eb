//! The node's data directory: the persisted sync state, the bundles and the node id, private
//! to the node's user.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use skiff_protocol::{Bundle, ScriptState};

use super::SyncError;

pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SyncError + '_ {
    move |source| SyncError::Io {
        path: path.to_path_buf(),
        source,
    }
}
/// Reads the node id from `DATA_DIR/node-id`, or creates it (32 random hex digits) so that the
/// node keeps its name across restarts.
pub fn load_or_create_node_id(data_dir: &Path) -> Result<String, SyncError> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io_error(&path)(err)),
    }
    secure_dir(data_dir)?;
    let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    write_atomically_blocking(&path, id.as_bytes())?;
    Ok(id)
}
/// The mode of the data directory and its subdirectories.
const DIR_MODE: u32 = 0o700;
/// The mode of every file in the data directory.
const FILE_MODE: u32 = 0o600;

/// Creates `dir` if needed and makes it and what is in it private: directories 0700 and
/// files 0600, one level of subdirectories deep (`bundles/`).
pub(super) fn secure_dir(dir: &Path) -> Result<(), SyncError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir).map_err(io_error(dir))?;
    set_mode(dir, DIR_MODE)?;
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_error(&path))?;
        if kind.is_file() {
            set_mode(&path, FILE_MODE)?;
        } else if kind.is_dir() {
            set_mode(&path, DIR_MODE)?;
            for inner in std::fs::read_dir(&path).map_err(io_error(&path))? {
                let inner = inner.map_err(io_error(&path))?;
                if inner.file_type().is_ok_and(|kind| kind.is_file()) {
                    set_mode(&inner.path(), FILE_MODE)?;
                }
            }
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), SyncError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(io_error(path))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}
/// What `DATA_DIR/state.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct SavedState {
    pub(super) revision: u64,
    pub(super) scripts: Vec<ScriptState>,
}

/// The node's data directory: `state.json` and `bundles/<sha256>.json`.
#[derive(Clone)]
pub(super) struct Store {
    pub(super) dir: PathBuf,
}

impl Store {
    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn bundles_dir(&self) -> PathBuf {
        self.dir.join("bundles")
    }

    fn bundle_path(&self, hash: &str) -> PathBuf {
        self.bundles_dir().join(format!("{hash}.json"))
    }

    /// The persisted state; empty when there is none yet.
    pub(super) fn load_state(&self) -> Result<SavedState, SyncError> {
        let path = self.state_path();
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SavedState::default());
            }
            Err(err) => return Err(io_error(&path)(err)),
        };
        serde_json::from_slice(&text).map_err(|err| SyncError::State {
            path,
            message: err.to_string(),
        })
    }

    /// A stored bundle, verified again; `None` if absent or damaged.
    pub(super) async fn read_bundle(&self, hash: &str) -> Option<Bundle> {
        let bytes = tokio::fs::read(self.bundle_path(hash)).await.ok()?;
        match Bundle::from_verified_bytes(&bytes, hash) {
            Ok(bundle) => Some(bundle),
            Err(message) => {
                tracing::warn!(%message, "stored bundle is damaged; fetching it again");
                None
            }
        }
    }

    pub(super) fn read_bundle_blocking(&self, hash: &str) -> Result<Bundle, SyncError> {
        let path = self.bundle_path(hash);
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        Bundle::from_verified_bytes(&bytes, hash)
            .map_err(|message| SyncError::State { path, message })
    }

    pub(super) async fn write_bundle(&self, hash: &str, bytes: Vec<u8>) -> Result<(), SyncError> {
        let dir = self.bundles_dir();
        let mut builder = tokio::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(DIR_MODE);
        builder.create(&dir).await.map_err(io_error(&dir))?;
        write_atomically(self.bundle_path(hash), bytes).await
    }

    pub(super) async fn save_state(&self, state: &SavedState) -> Result<(), SyncError> {
        let bytes = serde_json::to_vec(state).map_err(|err| SyncError::State {
            path: self.state_path(),
            message: err.to_string(),
        })?;
        write_atomically(self.state_path(), bytes).await
    }

    /// Deletes stored bundles that `keep` does not name (best effort).
    pub(super) async fn prune_bundles(&self, keep: HashSet<String>) {
        let dir = self.bundles_dir();
        let _ = tokio::task::spawn_blocking(move || {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let hash = name.strip_suffix(".json").unwrap_or(&name);
                if !keep.contains(hash) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        })
        .await;
    }
}

/// Writes `path` through `path.tmp`, fsync and rename, so that a crash leaves the old file or
/// the new one.
pub(super) async fn write_atomically(path: PathBuf, bytes: Vec<u8>) -> Result<(), SyncError> {
    tokio::task::spawn_blocking(move || write_atomically_blocking(&path, &bytes))
        .await
        .map_err(|err| SyncError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(err),
        })?
}

fn write_atomically_blocking(path: &Path, bytes: &[u8]) -> Result<(), SyncError> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // The state holds the scripts' secrets: readable by the node's user only (also when a
    // stale temporary file was left with another mode).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
            .map_err(io_error(&tmp))?;
    }
    file.write_all(bytes).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    // Make the rename itself durable.
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_is_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let id = load_or_create_node_id(&data).expect("created");
        assert_eq!(id.len(), 32);
        assert_eq!(load_or_create_node_id(&data).expect("read"), id);
    }
}
