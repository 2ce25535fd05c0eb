//! The data directory is private: 0700, and 0600 for every file in it (`control.db` and its
//! `-wal`/`-shm` files hold the secrets in plain text, the token files the API tokens).
//!
//! The modes are set explicitly, whatever the umask, and again at every start, so that a data
//! directory made by an older version (or copied with loose modes) is repaired. `control.db` is
//! created 0600 before SQLite opens it: SQLite gives the `-wal` and `-shm` files the mode of
//! the database file.

use std::path::Path;

use crate::error::ControlError;

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

fn dir_error(path: &Path) -> impl FnOnce(std::io::Error) -> ControlError + '_ {
    move |source| ControlError::DataDir {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (0700) if needed, makes it 0700, creates an empty `control.db` (0600) if
/// there is none, and makes the files in it 0600.
pub fn secure_data_dir(dir: &Path) -> Result<(), ControlError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir).map_err(dir_error(dir))?;
    set_mode(dir, DIR_MODE)?;
    let db = dir.join("control.db");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    match options.open(&db) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(dir_error(&db)(err)),
    }
    secure_files(dir)
}

/// Makes every file directly in `dir` 0600 and every directory 0700.
pub fn secure_files(dir: &Path) -> Result<(), ControlError> {
    for entry in std::fs::read_dir(dir).map_err(dir_error(dir))? {
        let entry = entry.map_err(dir_error(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(dir_error(&path))?;
        if kind.is_file() {
            set_mode(&path, FILE_MODE)?;
        } else if kind.is_dir() {
            set_mode(&path, DIR_MODE)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ControlError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(dir_error(path))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}
