//! The extensions' JavaScript, compiled into the binary (see `build.rs`).
//!
//! deno_core 0.413 names each extension source by its path on the build machine and reads it
//! from disk whenever a runtime is created. [`embed`] swaps those paths for the text embedded
//! at build time, so a runtime needs no source tree and reads no files.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use deno_core::{Extension, ExtensionFileSource, ExtensionFileSourceCode};

include!(concat!(env!("OUT_DIR"), "/embedded_js.rs"));

/// Path -> text, shared by every runtime of the process.
fn table() -> &'static HashMap<&'static str, Arc<str>> {
    static TABLE: OnceLock<HashMap<&'static str, Arc<str>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        EMBEDDED_JS
            .iter()
            .map(|(path, text)| (key(path), Arc::from(*text)))
            .collect()
    })
}

/// How a path is looked up: this crate's own sources and the patched extension crates in the
/// workspace's `vendor/` by their path within the workspace, so that the table matches
/// whichever checkout compiled the crate (cargo shares one build script output between
/// checkouts of the same workspace that build into one target folder); the extension crates'
/// sources in cargo's registry by their whole path.
fn key(path: &str) -> &str {
    path.rfind("/js-api/js/")
        .or_else(|| path.rfind("/vendor/deno_"))
        .map_or(path, |at| &path[at + 1..])
}

/// Replaces every source of `extension` that would be read from disk with its embedded text.
/// A path missing from the table (which `build.rs` would have to learn about) stays as it is.
pub fn embed(extension: &mut Extension) {
    for files in [
        &mut extension.js_files,
        &mut extension.esm_files,
        &mut extension.lazy_loaded_esm_files,
        &mut extension.lazy_loaded_js_files,
    ] {
        if files.iter().all(ExtensionFileSource::is_runtime_loadable) {
            continue;
        }
        *files = files.iter().map(embedded).collect::<Vec<_>>().into();
    }
}

fn embedded(source: &ExtensionFileSource) -> ExtensionFileSource {
    if let ExtensionFileSourceCode::LoadedFromFsDuringSnapshot(path) = &source.code
        && let Some(text) = table().get(key(path))
    {
        return ExtensionFileSource::new_computed(source.specifier, text.clone());
    }
    source.clone()
}
