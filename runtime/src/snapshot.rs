//! The startup snapshot runtimes boot from.
//!
//! Booting a runtime from scratch loads and runs the web APIs' JavaScript: about 60 ms of CPU
//! on QuickJS. A runtime created from a startup snapshot of a booted one skips that and costs
//! about 10 ms. Making the snapshot takes about 3.5 s of CPU and, while it runs, a few hundred
//! MB of memory, so the process makes it at most once, on a thread of its own, when the first
//! pool starts, and keeps it in a cache directory for the next start of the same executable
//! (see [`cache_dir`]). Runtimes booted before it is ready boot from scratch; if it cannot be
//! made, every runtime does.
//!
//! A cached snapshot is named after the executable's path, size and modification time, so a
//! rebuilt or upgraded binary never restores a snapshot made by another build; its contents
//! are checked against the sha256 stored with them before use.

use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

static SNAPSHOT: OnceLock<&'static [u8]> = OnceLock::new();
static PREPARE: Once = Once::new();

/// Cached snapshots of other builds are removed once they have not been written for this long.
const STALE: Duration = Duration::from_secs(24 * 60 * 60);

/// Starts making (or loading) the process's snapshot in the background, unless that has begun.
pub(crate) fn prepare() {
    PREPARE.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("skiff-snapshot".into())
            .spawn(|| {
                if let Some(bytes) = obtain() {
                    // Kept for the life of the process: every runtime created from it refers
                    // to it.
                    let _ = SNAPSHOT.set(Box::leak(bytes));
                }
            });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start the snapshot thread; runtimes boot from scratch");
        }
    });
}

/// The snapshot, once it is ready.
pub(crate) fn current() -> Option<&'static [u8]> {
    SNAPSHOT.get().copied()
}

/// True once runtimes boot from the snapshot.
pub fn snapshot_ready() -> bool {
    current().is_some()
}

/// Where snapshots are cached: `$SKIFF_CACHE_DIR`, else `$XDG_CACHE_HOME/skiff`, else
/// `$HOME/.cache/skiff`. (Never a shared directory such as /tmp: a snapshot is code that runs
/// in every tenant's runtime.)
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("SKIFF_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("skiff")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("skiff")))
}

fn obtain() -> Option<Box<[u8]>> {
    let Some((dir, name)) = cache_dir().zip(cache_name()) else {
        return make();
    };
    let path = dir.join(&name);
    if let Some(bytes) = read_cached(&path) {
        tracing::debug!(
            bytes = bytes.len(),
            "startup snapshot loaded from the cache"
        );
        return Some(bytes);
    }
    // Several processes of a new binary starting at once (a test suite, nodes on one machine)
    // make the snapshot once: the one holding the lock makes it, the others wait for the file.
    let lock = dir.join(format!("{name}.lock"));
    let held = create_private_dir(&dir).is_ok() && take_lock(&lock);
    if !held && let Some(bytes) = wait_for(&path, &lock) {
        return Some(bytes);
    }
    let bytes = make();
    if let Some(bytes) = &bytes
        && let Err(err) = write_cached(&dir, &name, bytes)
    {
        tracing::debug!(%err, dir = %dir.display(), "startup snapshot not cached");
    }
    if held {
        let _ = std::fs::remove_file(&lock);
    }
    bytes
}

/// A lock older than this was left by a process that died while making the snapshot.
const LOCK_STALE: Duration = Duration::from_secs(60);

/// Takes the lock file (holding this process's id), or takes over a stale one.
fn take_lock(lock: &Path) -> bool {
    let create = || {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(lock)
            .and_then(|mut file| write!(file, "{}", std::process::id()))
            .is_ok()
    };
    if create() {
        return true;
    }
    stale(lock) && std::fs::remove_file(lock).is_ok() && create()
}

/// A lock is stale when it is older than [`LOCK_STALE`] or (on Linux) its holder has exited:
/// a node killed while making the snapshot must not hold up the others.
fn stale(lock: &Path) -> bool {
    let old = std::fs::metadata(lock)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > LOCK_STALE);
    let holder_gone = cfg!(target_os = "linux")
        && std::fs::read_to_string(lock)
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
    old || holder_gone
}

/// Waits while another process holds `lock`, then reads what it cached.
fn wait_for(path: &Path, lock: &Path) -> Option<Box<[u8]>> {
    let deadline = std::time::Instant::now() + LOCK_STALE;
    while lock.exists() && !stale(lock) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let bytes = read_cached(path)?;
    tracing::debug!(
        bytes = bytes.len(),
        "startup snapshot made by another process"
    );
    Some(bytes)
}

fn make() -> Option<Box<[u8]>> {
    let tokio = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(tokio) => tokio,
        Err(err) => {
            tracing::warn!(%err, "no runtime for the snapshot; runtimes boot from scratch");
            return None;
        }
    };
    let _entered = tokio.enter();
    let started = std::time::Instant::now();
    let created = skiff_js_api::create_snapshot();
    // The runtime the snapshot was taken of is gone; its memory goes back to the system.
    crate::sys::release_freed_memory();
    match created {
        Ok(bytes) => {
            tracing::debug!(
                bytes = bytes.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "startup snapshot made"
            );
            Some(bytes)
        }
        Err(err) => {
            tracing::warn!(%err, "runtimes boot from scratch");
            None
        }
    }
}

/// `snapshot-<hash of the executable's path, size and mtime>.bin`, or `None` if the
/// executable cannot be looked at.
fn cache_name() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&exe).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?;
    let mut hash = Sha256::new();
    hash.update(exe.as_os_str().as_encoded_bytes());
    hash.update(meta.len().to_le_bytes());
    hash.update(mtime.as_nanos().to_le_bytes());
    let digest = hash.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("snapshot-{hex}.bin"))
}

/// A cached file is the sha256 of the snapshot followed by the snapshot.
fn read_cached(path: &Path) -> Option<Box<[u8]>> {
    let file = std::fs::read(path).ok()?;
    let (sum, bytes) = file.split_at_checked(32)?;
    if Sha256::digest(bytes).as_slice() != sum {
        tracing::warn!(path = %path.display(), "a cached startup snapshot is damaged; ignored");
        return None;
    }
    Some(bytes.into())
}

fn write_cached(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    create_private_dir(dir)?;
    let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
    let mut file = Vec::with_capacity(32 + bytes.len());
    file.extend_from_slice(&Sha256::digest(bytes));
    file.extend_from_slice(bytes);
    std::fs::write(&tmp, &file)?;
    std::fs::rename(&tmp, dir.join(name))?;
    remove_stale(dir, name);
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Removes other builds' snapshots that nobody has written for a day, and the lock and
/// temporary files that processes killed while making one left behind.
fn remove_stale(dir: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with("snapshot-")
            && [".bin", ".lock", ".tmp"]
                .iter()
                .any(|end| name.ends_with(end));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE);
        if ours && name != keep && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_snapshot_round_trips_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("cache");
        write_cached(&cache, "snapshot-x.bin", b"snapshot bytes").expect("written");
        let path = cache.join("snapshot-x.bin");
        assert_eq!(read_cached(&path).as_deref(), Some(&b"snapshot bytes"[..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&cache).expect("dir").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let mut damaged = std::fs::read(&path).expect("read");
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        std::fs::write(&path, damaged).expect("write");
        assert_eq!(read_cached(&path), None);
        assert_eq!(read_cached(&cache.join("absent.bin")), None);
    }

    #[test]
    fn day_old_files_of_other_builds_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let two_days_ago = std::time::SystemTime::now() - 2 * STALE;
        let file = |name: &str, old: bool| {
            let path = dir.path().join(name);
            let file = std::fs::File::create(&path).expect("create");
            if old {
                file.set_modified(two_days_ago).expect("mtime");
            }
            path
        };
        let gone = [
            file("snapshot-a.bin", true),
            file("snapshot-b.bin.lock", true),
            file("snapshot-c.bin.123.tmp", true),
        ];
        let kept = [
            file("snapshot-keep.bin", true),
            file("snapshot-new.bin", false),
            file("snapshot-new.bin.lock", false),
            file("notes.txt", true),
        ];
        remove_stale(dir.path(), "snapshot-keep.bin");
        for path in gone {
            assert!(!path.exists(), "{} removed", path.display());
        }
        for path in kept {
            assert!(path.exists(), "{} kept", path.display());
        }
    }

    #[test]
    fn one_process_holds_the_lock_and_the_others_get_its_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lock = dir.path().join("snapshot-y.bin.lock");
        assert!(take_lock(&lock));
        assert!(!take_lock(&lock), "held by the first taker");
        let waiter = {
            let path = dir.path().join("snapshot-y.bin");
            let lock = lock.clone();
            std::thread::spawn(move || wait_for(&path, &lock))
        };
        write_cached(dir.path(), "snapshot-y.bin", b"made once").expect("written");
        std::fs::remove_file(&lock).expect("unlocked");
        let got = waiter.join().expect("waiter");
        assert_eq!(got.as_deref(), Some(&b"made once"[..]));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_lock_whose_holder_exited_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lock = dir.path().join("snapshot-z.bin.lock");
        // A process id that is not running: a child that has been waited for.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let gone = child.id();
        child.wait().expect("wait");
        std::fs::write(&lock, gone.to_string()).expect("write");
        assert!(stale(&lock));
        assert!(take_lock(&lock), "taken over");
        assert_eq!(
            std::fs::read_to_string(&lock).expect("read"),
            std::process::id().to_string()
        );
        assert!(!stale(&lock), "held by a live process");
    }
}
