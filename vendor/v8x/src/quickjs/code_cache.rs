// skiff patch: this whole file. The bytecode cache behind `bc_load` and
// `bc_write` (module.rs), in place of upstream's disk cache, whose entries
// were named by a 64-bit non-cryptographic hash and read back unverified.
//
// - Keys are BLAKE3 hashes over the engine build's tag, the kind of code,
//   the module's name and its source text's BLAKE3 hash (a cryptographic hash
//   at over twice SHA-256's speed here): two keys are equal only for the same
//   program, so one tenant's bytecode can never be read for another's
//   source, and bytecode from another engine build is never read.
// - One store per process, in memory (bounded, first in first out), shared
//   by every isolate on every thread: a version's later isolates read the
//   bytecode its first one wrote.
// - On disk only in the directory the embedder gives (`set_code_cache_dir`);
//   none by default. Each file carries a header (magic, engine tag, key,
//   payload length and the payload's BLAKE3 hash), checked in full before the
//   engine reads a byte of it: a truncated, corrupted or misplaced file is
//   removed and the module compiled from source. The directory is trusted
//   as the embedder's own data is: whoever can write there can write a valid
//   entry.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

/// Identifies one program for one engine build.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key([u8; 32]);

/// What kind of code a key is for: the same text compiles differently as a
/// module and as a script (and as a script under different eval flags).
pub(crate) enum Kind {
  Module,
  Script { eval_flags: u64 },
}

/// The second format: the first's keys and checksums were SHA-256.
const FILE_MAGIC: &[u8; 8] = b"SKQJSBC2";
/// magic, engine tag, key, payload length, payload BLAKE3 hash.
const HEADER_LEN: usize = 8 + 8 + 32 + 8 + 32;
const DEFAULT_MEMORY_BYTES: usize = 128 << 20;
const DEFAULT_DISK_BYTES: u64 = 1 << 30;

fn engine_tag() -> u64 {
  u64::from_str_radix(env!("V82JSC_QUICKJS_CACHE_TAG"), 16)
    .expect("invalid QuickJS cache tag")
}

pub(crate) fn key(kind: Kind, name: &str, source: &[u8]) -> Key {
  key_of_digest(kind, name, &source_digest(source))
}

/// The hash of a source text, from which its keys are made: a caller that
/// keeps it (`PreparedModule` in module.rs) hashes a large text once.
pub(crate) fn source_digest(source: &[u8]) -> [u8; 32] {
  blake3::hash(source).into()
}

/// The key of the source whose `source_digest` is `digest`.
pub(crate) fn key_of_digest(kind: Kind, name: &str, digest: &[u8; 32]) -> Key {
  let mut hash = blake3::Hasher::new();
  hash.update(FILE_MAGIC);
  hash.update(&engine_tag().to_le_bytes());
  hash.update(env!("CARGO_PKG_VERSION").as_bytes());
  match kind {
    Kind::Module => hash.update(&[0u8]),
    Kind::Script { eval_flags } => {
      hash.update(&[1u8]);
      hash.update(&eval_flags.to_le_bytes())
    }
  };
  hash.update(&(name.len() as u64).to_le_bytes());
  hash.update(name.as_bytes());
  hash.update(digest);
  Key(hash.finalize().into())
}

/// Bytecode as the cache holds it: what this process compiled, or a file of
/// the directory mapped into memory, header and all (reading it into a new
/// buffer was a copy and a page fault per 4 KiB: 0.8 ms of a new isolate of
/// an 800 KB bundle). The cache never changes a file in place (it writes a
/// new one and renames it over), so a mapping stays whole while it is held.
pub(crate) struct Bytecode {
  bytes: Bytes,
  /// Where the bytecode starts: after the header, in a file.
  start: usize,
}

enum Bytes {
  /// Compiled by this process, or a file smaller than `MAP_MIN_BYTES`.
  Owned(Vec<u8>),
  Mapped(memmap2::Mmap),
}

impl Bytecode {
  /// A copy of bytecode this process compiled.
  fn compiled(bytes: &[u8]) -> Self {
    Self {
      bytes: Bytes::Owned(bytes.to_vec()),
      start: 0,
    }
  }
}

impl Bytes {
  fn as_slice(&self) -> &[u8] {
    match self {
      Bytes::Owned(bytes) => bytes,
      Bytes::Mapped(mapping) => mapping,
    }
  }
}

/// Files at least this large are mapped; smaller ones are read, so that the
/// memory side's 128 MiB never needs more than 2,048 mappings.
const MAP_MIN_BYTES: u64 = 64 << 10;

impl std::ops::Deref for Bytecode {
  type Target = [u8];
  fn deref(&self) -> &[u8] {
    &self.bytes.as_slice()[self.start..]
  }
}

/// How the cache has answered since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeCacheStats {
  /// Loads answered from memory.
  pub memory_hits: u64,
  /// Loads answered from the directory (verified).
  pub disk_hits: u64,
  /// Loads that found nothing, so the code was compiled.
  pub misses: u64,
  /// Files refused by the check: removed, and the code compiled instead.
  pub rejected: u64,
  /// Bytecode written after a compile.
  pub stored: u64,
}

static MEMORY_HITS: AtomicU64 = AtomicU64::new(0);
static DISK_HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);
static REJECTED: AtomicU64 = AtomicU64::new(0);
static STORED: AtomicU64 = AtomicU64::new(0);

pub fn code_cache_stats() -> CodeCacheStats {
  CodeCacheStats {
    memory_hits: MEMORY_HITS.load(Ordering::Relaxed),
    disk_hits: DISK_HITS.load(Ordering::Relaxed),
    misses: MISSES.load(Ordering::Relaxed),
    rejected: REJECTED.load(Ordering::Relaxed),
    stored: STORED.load(Ordering::Relaxed),
  }
}

struct Memory {
  entries: HashMap<Key, Arc<Bytecode>>,
  order: VecDeque<Key>,
  bytes: usize,
  budget: usize,
}

impl Memory {
  fn insert(&mut self, key: Key, bytes: Arc<Bytecode>) {
    if bytes.len() > self.budget || self.entries.contains_key(&key) {
      return;
    }
    while self.bytes + bytes.len() > self.budget {
      let Some(oldest) = self.order.pop_front() else {
        break;
      };
      if let Some(gone) = self.entries.remove(&oldest) {
        self.bytes -= gone.len();
      }
    }
    self.bytes += bytes.len();
    self.order.push_back(key);
    self.entries.insert(key, bytes);
  }
}

static MEMORY: Mutex<Option<Memory>> = Mutex::new(None);

fn with_memory<R>(f: impl FnOnce(&mut Memory) -> R) -> R {
  let mut guard = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
  let memory = guard.get_or_insert_with(|| Memory {
    entries: HashMap::new(),
    order: VecDeque::new(),
    bytes: 0,
    budget: DEFAULT_MEMORY_BYTES,
  });
  f(memory)
}

/// Drops what the process holds in memory (the directory stays): the next
/// load of each program reads its file, or compiles.
pub fn forget_code_cache_in_memory() {
  with_memory(|memory| {
    memory.entries.clear();
    memory.order.clear();
    memory.bytes = 0;
  });
}

struct Disk {
  dir: PathBuf,
  /// The directory's size as this process last counted it, plus its writes.
  bytes: AtomicU64,
  budget: u64,
}

static DISK: Mutex<Option<Arc<Disk>>> = Mutex::new(None);

fn disk() -> Option<Arc<Disk>> {
  DISK.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Keeps compiled bytecode in `dir` (created, owner-only), at most
/// `budget_bytes` of it (the oldest files go first), so that it outlives the
/// process; `None` keeps it in memory only. Call before isolates compile.
pub fn set_code_cache_dir(
  dir: Option<&Path>,
  budget_bytes: u64,
) -> std::io::Result<()> {
  let next = match dir {
    Some(dir) => {
      create_private_dir(dir)?;
      let disk = Disk {
        dir: dir.to_path_buf(),
        bytes: AtomicU64::new(0),
        budget: if budget_bytes == 0 {
          DEFAULT_DISK_BYTES
        } else {
          budget_bytes
        },
      };
      prune(&disk);
      Some(Arc::new(disk))
    }
    None => None,
  };
  *DISK.lock().unwrap_or_else(|e| e.into_inner()) = next;
  Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
  let mut builder = std::fs::DirBuilder::new();
  builder.recursive(true);
  #[cfg(unix)]
  std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
  builder.create(dir)
}

fn file_of(disk: &Disk, key: &Key) -> PathBuf {
  let mut name = std::string::String::with_capacity(68);
  for byte in key.0 {
    name.push_str(&format!("{byte:02x}"));
  }
  name.push_str(".qbc");
  disk.dir.join(name)
}

/// The bytecode stored for `key`, from memory, else from the directory once
/// its file passes the check.
pub(crate) fn load(key: &Key) -> Option<Arc<Bytecode>> {
  if let Some(bytes) = with_memory(|memory| memory.entries.get(key).cloned()) {
    MEMORY_HITS.fetch_add(1, Ordering::Relaxed);
    return Some(bytes);
  }
  let found = disk().and_then(|disk| {
    let path = file_of(&disk, key);
    let file = read_file(&path)?;
    if verified_payload(file.as_slice(), key).is_some() {
      Some(Arc::new(Bytecode {
        bytes: file,
        start: HEADER_LEN,
      }))
    } else {
      REJECTED.fetch_add(1, Ordering::Relaxed);
      let _ = std::fs::remove_file(&path);
      None
    }
  });
  match found {
    Some(bytes) => {
      DISK_HITS.fetch_add(1, Ordering::Relaxed);
      with_memory(|memory| memory.insert(*key, bytes.clone()));
      Some(bytes)
    }
    None => {
      MISSES.fetch_add(1, Ordering::Relaxed);
      None
    }
  }
}

/// A cache file as it is on disk: mapped when large, else read.
fn read_file(path: &Path) -> Option<Bytes> {
  use std::io::Read;
  let mut file = std::fs::File::open(path).ok()?;
  let len = file.metadata().ok()?.len();
  if len >= MAP_MIN_BYTES {
    // SAFETY: the cache never changes a file in place (it writes a new one and
    // renames it over), so the mapped bytes stay as they are while held; the
    // directory is trusted as the embedder's own data is (see the top of this
    // file).
    return unsafe { memmap2::Mmap::map(&file) }.ok().map(Bytes::Mapped);
  }
  let mut bytes = Vec::with_capacity(len as usize);
  file.read_to_end(&mut bytes).ok()?;
  Some(Bytes::Owned(bytes))
}

/// The payload of a cache file, if the file is whole and is the entry for
/// `key` made by this engine build.
fn verified_payload<'a>(file: &'a [u8], key: &Key) -> Option<&'a [u8]> {
  if file.len() < HEADER_LEN {
    return None;
  }
  let (header, payload) = file.split_at(HEADER_LEN);
  let (magic, rest) = header.split_at(8);
  let (tag, rest) = rest.split_at(8);
  let (stored_key, rest) = rest.split_at(32);
  let (length, digest) = rest.split_at(8);
  let whole = magic == FILE_MAGIC
    && tag == engine_tag().to_le_bytes()
    && stored_key == key.0
    && length == (payload.len() as u64).to_le_bytes()
    && !payload.is_empty();
  (whole && digest == blake3::hash(payload).as_bytes()).then_some(payload)
}

/// Keeps `bytes` for `key` in memory and, with a directory, on disk.
pub(crate) fn store(key: &Key, bytes: &[u8]) {
  if bytes.is_empty() {
    return;
  }
  STORED.fetch_add(1, Ordering::Relaxed);
  let kept = Arc::new(Bytecode::compiled(bytes));
  with_memory(|memory| memory.insert(*key, kept));
  let Some(disk) = disk() else {
    return;
  };
  let path = file_of(&disk, key);
  if path.exists() {
    return;
  }
  let mut file = Vec::with_capacity(HEADER_LEN + bytes.len());
  file.extend_from_slice(FILE_MAGIC);
  file.extend_from_slice(&engine_tag().to_le_bytes());
  file.extend_from_slice(&key.0);
  file.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
  file.extend_from_slice(blake3::hash(bytes).as_bytes());
  file.extend_from_slice(bytes);
  static WRITES: AtomicU64 = AtomicU64::new(0);
  let temporary = path.with_extension(format!(
    "{}.{}.tmp",
    std::process::id(),
    WRITES.fetch_add(1, Ordering::Relaxed)
  ));
  if write_private(&temporary, &file).is_err()
    || std::fs::rename(&temporary, &path).is_err()
  {
    let _ = std::fs::remove_file(&temporary);
    return;
  }
  let total = disk.bytes.fetch_add(file.len() as u64, Ordering::Relaxed)
    + file.len() as u64;
  if total > disk.budget {
    prune(&disk);
  }
}

/// Writes a new file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
  use std::io::Write;
  let mut options = std::fs::OpenOptions::new();
  options.write(true).create_new(true);
  #[cfg(unix)]
  std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
  options.open(path)?.write_all(bytes)
}

/// Counts the directory and, when it is over its budget, removes the oldest
/// files until it holds three quarters of it. Leftover temporary files go.
fn prune(disk: &Disk) {
  let Ok(entries) = std::fs::read_dir(&disk.dir) else {
    return;
  };
  let mut files = Vec::new();
  for entry in entries.flatten() {
    let path = entry.path();
    let Ok(meta) = entry.metadata() else { continue };
    if !meta.is_file() {
      continue;
    }
    match path.extension().and_then(|e| e.to_str()) {
      Some("qbc") => {
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        files.push((modified, meta.len(), path));
      }
      Some("tmp") => {
        // Another process may be writing it: only old ones are leftovers.
        let old = meta
          .modified()
          .ok()
          .and_then(|m| m.elapsed().ok())
          .is_some_and(|age| age.as_secs() > 600);
        if old {
          let _ = std::fs::remove_file(&path);
        }
      }
      _ => {}
    }
  }
  let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
  if total > disk.budget {
    files.sort();
    for (_, len, path) in &files {
      if total <= disk.budget / 4 * 3 {
        break;
      }
      if std::fs::remove_file(path).is_ok() {
        total -= len;
      }
    }
  }
  disk.bytes.store(total, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn keys_differ_by_kind_name_and_source() {
    let module = key(Kind::Module, "file:///a.js", b"export default 1;");
    assert!(module == key(Kind::Module, "file:///a.js", b"export default 1;"));
    assert!(module != key(Kind::Module, "file:///b.js", b"export default 1;"));
    assert!(module != key(Kind::Module, "file:///a.js", b"export default 2;"));
    assert!(
      module
        != key(
          Kind::Script { eval_flags: 0 },
          "file:///a.js",
          b"export default 1;"
        )
    );
    // The name's length is hashed, so a name's end cannot move into the
    // source.
    assert!(
      key(Kind::Module, "file:///a.js", b"xy")
        != key(Kind::Module, "file:///a.jsx", b"y")
    );
  }

  fn file_for(key: &Key, payload: &[u8]) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(FILE_MAGIC);
    file.extend_from_slice(&engine_tag().to_le_bytes());
    file.extend_from_slice(&key.0);
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(blake3::hash(payload).as_bytes());
    file.extend_from_slice(payload);
    file
  }

  #[test]
  fn only_a_whole_file_for_the_same_key_is_read() {
    let key_a = key(Kind::Module, "file:///a.js", b"a");
    let key_b = key(Kind::Module, "file:///b.js", b"b");
    let file = file_for(&key_a, b"bytecode");
    assert_eq!(verified_payload(&file, &key_a), Some(&b"bytecode"[..]));
    assert_eq!(verified_payload(&file, &key_b), None, "another key's file");
    assert_eq!(verified_payload(&file[..file.len() - 1], &key_a), None);
    let mut flipped = file.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(verified_payload(&flipped, &key_a), None, "payload changed");
    let mut other_build = file.clone();
    other_build[8] ^= 1;
    assert_eq!(verified_payload(&other_build, &key_a), None, "engine tag");
    assert_eq!(verified_payload(&file[..HEADER_LEN], &key_a), None);
  }

  fn kept(bytes: &[u8]) -> Arc<Bytecode> {
    Arc::new(Bytecode::compiled(bytes))
  }

  #[test]
  fn memory_keeps_the_newest_within_its_budget() {
    let mut memory = Memory {
      entries: HashMap::new(),
      order: VecDeque::new(),
      bytes: 0,
      budget: 10,
    };
    let keys: Vec<Key> =
      (0..3u8).map(|i| key(Kind::Module, "m", &[i])).collect();
    memory.insert(keys[0], kept(&[0u8; 4]));
    memory.insert(keys[1], kept(&[1u8; 4]));
    memory.insert(keys[2], kept(&[2u8; 4]));
    assert!(!memory.entries.contains_key(&keys[0]));
    assert!(memory.entries.contains_key(&keys[1]));
    assert!(memory.entries.contains_key(&keys[2]));
    assert_eq!(memory.bytes, 8);
    memory.insert(key(Kind::Module, "big", b""), kept(&[0u8; 11]));
    assert_eq!(memory.bytes, 8, "larger than the whole budget: not kept");
  }
}
