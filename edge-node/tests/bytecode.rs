//! The engine's bytecode cache (`skiff_runtime::keep_bytecode_in`): a node compiles a script
//! once, a restarted node over the same directory reads the bytecode instead of compiling, and
//! a file that fails its check (changed content, or another script's entry under this one's
//! name) is removed and the script compiled from its source, never run: for a file the cache
//! maps (64 KiB or more) and for one it reads whole.
//!
//! One test: the cache and its counters are per process.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use skiff_runtime::{bytecode_cache_stats, forget_bytecode_in_memory};

const MARKED: &str = r#"function handler() { return "compiled from the original source"; }
export default { fetch() { return new Response(handler() + "\n" + handler.toString()); } };"#;
const MARKED_BODY: &str = "compiled from the original source\n\
    function handler() { return \"compiled from the original source\"; }";
const OTHER: &str = r#"export default { fetch() { return new Response("the other script"); } };"#;

/// The marked script with a function whose text (kept in the bytecode for `toString`) makes
/// its entry larger than 64 KiB, so that the cache maps the file rather than reading it.
fn marked_source() -> String {
    format!(
        "{MARKED}\nfunction padding() {{ /* {} */ }}\n",
        "x".repeat(70 << 10)
    )
}

/// Starts a node over `bytecode`, checks both scripts' answers, and stops it.
async fn serve_both(bytecode: &Path) {
    let node = start_with(
        script_dir(&[("marked", &marked_source()), ("other", OTHER)]),
        |config| config.bytecode_dir = Some(bytecode.to_path_buf()),
    )
    .await;
    assert_eq!(node.get("marked", "/").await, (200, MARKED_BODY.into()));
    assert_eq!(
        node.get("other", "/").await,
        (200, "the other script".into())
    );
    node.node.shutdown().await;
}

/// The cache file whose bytes contain `needle`.
fn entry_with(dir: &Path, needle: &[u8]) -> PathBuf {
    let mut found = std::fs::read_dir(dir)
        .expect("the bytecode dir")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| {
            let bytes = std::fs::read(path).expect("an entry's bytes");
            bytes.windows(needle.len()).any(|window| window == needle)
        })
        .collect::<Vec<_>>();
    assert_eq!(found.len(), 1, "entries holding {needle:?}: {found:?}");
    found.pop().expect("one entry")
}

fn replace(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let at = bytes
        .windows(from.len())
        .position(|window| window == from)
        .expect("the text to replace");
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[tokio::test]
async fn bytecode_is_compiled_once_kept_across_restarts_and_checked_before_use() {
    let data = tempfile::tempdir().expect("data dir");
    let bytecode = data.path().join("bytecode");

    // First start: both scripts compile, and their bytecode is written.
    let before = bytecode_cache_stats();
    serve_both(&bytecode).await;
    let first = bytecode_cache_stats();
    assert!(first.misses >= before.misses + 2, "{first:?}");
    let marked = entry_with(&bytecode, b"compiled from the original source");
    let other = entry_with(&bytecode, b"the other script");
    let size = |path: &Path| std::fs::metadata(path).expect("an entry").len();
    assert!(
        size(&marked) >= 64 << 10,
        "the marked entry is mapped when read"
    );
    assert!(size(&other) < 64 << 10, "the other is read whole");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&bytecode)
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "the directory is the node's alone");
        let mode = std::fs::metadata(&marked)
            .expect("entry")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "and so are its files");
    }

    // A restart: the bytecode comes from the files, and the tenant's function still prints
    // its source (checked in serve_both).
    forget_bytecode_in_memory();
    serve_both(&bytecode).await;
    let second = bytecode_cache_stats();
    assert!(second.disk_hits >= first.disk_hits + 2, "{second:?}");
    assert_eq!(second.rejected, first.rejected);

    // Damaged entries: the marked script's string changed in place, and the other script's
    // file replaced by the (whole, valid) entry of the marked one. Read unchecked, the first
    // would answer "tampered" and the second would run the marked script.
    let original = std::fs::read(&marked).expect("marked entry");
    let mut tampered = original.clone();
    replace(&mut tampered, b"original", b"tampered");
    std::fs::write(&marked, &tampered).expect("write marked");
    std::fs::write(&other, &original).expect("write other");
    forget_bytecode_in_memory();
    serve_both(&bytecode).await;
    let third = bytecode_cache_stats();
    assert!(third.rejected >= second.rejected + 2, "{third:?}");

    // Both were compiled again from source and written anew.
    let holds = |path: &Path, needle: &[u8]| {
        let bytes = std::fs::read(path).expect("an entry");
        bytes.windows(needle.len()).any(|window| window == needle)
    };
    assert!(holds(&marked, b"original") && !holds(&marked, b"tampered"));
    assert!(holds(&other, b"the other script"));
}
