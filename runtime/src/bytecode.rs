//! The engine's compiled bytecode, kept so that a script version is compiled once.
//!
//! The engine layer (vendor/v8x, `src/quickjs/code_cache.rs`) writes a module's bytecode the
//! first time an isolate compiles it and reads it back for every later isolate of the same
//! code: from memory in this process (at most 128 MiB, oldest first out), and, once
//! [`keep_bytecode_in`] has named a directory, from a file there after a restart. Entries are
//! keyed by BLAKE3 hashes over the engine build, the module's name and its source, and a file
//! is read only after its header (engine build, key, length) and the BLAKE3 hash of its content
//! check out; anything else is removed and the module compiled from source. Tenant code keeps
//! its source text in the bytecode (`Function.prototype.toString` is unchanged).

use std::path::Path;

pub use deno_core::v8::CodeCacheStats as BytecodeCacheStats;

/// The directory's default budget: past it, the oldest files go.
pub const DEFAULT_BYTECODE_DISK_BYTES: u64 = 1 << 30;

/// Keep bytecode in `dir` (created owner-only) across restarts, at most `budget_bytes` of it
/// (0: [`DEFAULT_BYTECODE_DISK_BYTES`]); `None` keeps it in memory only. One setting per
/// process: call it before isolates load.
pub fn keep_bytecode_in(dir: Option<&Path>, budget_bytes: u64) -> std::io::Result<()> {
    deno_core::v8::set_code_cache_dir(dir, budget_bytes)
}

/// How the cache has answered since the process started.
pub fn bytecode_cache_stats() -> BytecodeCacheStats {
    deno_core::v8::code_cache_stats()
}

/// Forget what this process holds in memory (the directory stays), so that the next load of
/// each module reads its file or compiles: for tests and benchmarks of the disk side.
pub fn forget_bytecode_in_memory() {
    deno_core::v8::forget_code_cache_in_memory()
}
