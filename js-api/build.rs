//! Embeds the JavaScript of deno's extension crates and of `js/` into the binary.
//!
//! deno_core 0.413 records extension sources by their absolute path on the build machine and
//! reads them from disk each time a runtime is created (only a startup snapshot would embed
//! them). A `skiff` binary must run on machines without the build's source tree, so this
//! script finds the extension crates' folders (cargo's registry cache, or `cargo metadata`)
//! and writes a table of `include_str!`s of their text without comments and indentation
//! (`src/strip.rs`); `src/embedded.rs` swaps each path for its text at runtime.

#[path = "src/strip.rs"]
mod strip;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crates whose JavaScript the tenant global scope loads.
const EXTENSION_CRATES: &[&str] = &[
    "deno_webidl",
    "deno_web",
    "deno_net",
    "deno_fetch",
    "deno_crypto",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=js");
    println!("cargo:rerun-if-changed=src/strip.rs");

    let mut files = BTreeSet::new();
    collect_js(&manifest_dir.join("js"), &mut files);
    for dir in extension_dirs(&manifest_dir) {
        collect_js(&dir, &mut files);
    }

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let stripped_dir = out_dir.join("js");
    std::fs::create_dir_all(&stripped_dir).expect("create the stripped sources' folder");
    let mut table = String::from("pub static EMBEDDED_JS: &[(&str, &str)] = &[\n");
    for (index, file) in files.iter().enumerate() {
        let path = file.to_str().expect("source paths are UTF-8");
        let source = std::fs::read_to_string(file).expect("read an extension source");
        let stripped = stripped_dir.join(format!("{index}.js"));
        std::fs::write(&stripped, strip::strip(&source)).expect("write a stripped source");
        let stripped = stripped.to_str().expect("OUT_DIR is UTF-8");
        table.push_str(&format!("    ({path:?}, include_str!({stripped:?})),\n"));
    }
    table.push_str("];\n");
    std::fs::write(out_dir.join("embedded_js.rs"), table).expect("write the embedded table");
}

/// The source folders of [`EXTENSION_CRATES`], as resolved for this build: the workspace's
/// patched copy in `vendor/` (see vendor/README.md), else cargo's registry cache at the
/// versions `Cargo.lock` pins (they are dependencies of this crate, so they are there by now),
/// else wherever `cargo metadata` says.
fn extension_dirs(manifest_dir: &Path) -> Vec<PathBuf> {
    let lock = std::fs::read_to_string(manifest_dir.join("../Cargo.lock")).unwrap_or_default();
    println!("cargo:rerun-if-changed=../Cargo.lock");
    let registry = cargo_home().join("registry/src");
    let mut dirs = Vec::new();
    for name in EXTENSION_CRATES {
        let vendored = manifest_dir.join("../vendor").join(name);
        if vendored.join("Cargo.toml").is_file() {
            println!("cargo:rerun-if-changed=../vendor/{name}");
            dirs.push(vendored.canonicalize().unwrap_or(vendored));
            continue;
        }
        let cached = locked_version(&lock, name).and_then(|version| {
            let folder = format!("{name}-{version}");
            std::fs::read_dir(&registry)
                .ok()?
                .flatten()
                .map(|index| index.path().join(&folder))
                .find(|dir| dir.join("Cargo.toml").is_file())
        });
        match cached {
            Some(dir) => dirs.push(dir),
            None => return metadata_dirs(manifest_dir),
        }
    }
    dirs
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

/// The version of package `name` in a `Cargo.lock`, if it holds exactly one.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let needle = format!("name = \"{name}\"\n");
    let mut versions = lock.split("[[package]]").filter_map(|entry| {
        entry.strip_prefix('\n')?.strip_prefix(&needle)?;
        let line = entry.lines().find(|l| l.starts_with("version = "))?;
        Some(
            line.trim_start_matches("version = ")
                .trim_matches('"')
                .to_string(),
        )
    });
    let version = versions.next()?;
    versions.next().is_none().then_some(version)
}

/// The folders from `cargo metadata` (which may download what this target needs).
fn metadata_dirs(manifest_dir: &Path) -> Vec<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = std::env::var("TARGET").expect("cargo sets it");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &target,
        ])
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    EXTENSION_CRATES
        .iter()
        .map(|name| {
            let manifest = packages
                .iter()
                .find(|p| p["name"] == *name)
                .and_then(|p| p["manifest_path"].as_str())
                .unwrap_or_else(|| panic!("{name} is not in the dependency graph"));
            Path::new(manifest)
                .parent()
                .expect("a manifest has a folder")
                .to_path_buf()
        })
        .collect()
}

/// Every `.js` file under `dir` (the extension crates keep their JavaScript in their own
/// folder and a few subfolders).
fn collect_js(dir: &Path, out: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') || name == "target" || name == "tests" {
            continue;
        }
        if path.is_dir() {
            collect_js(&path, out);
        } else if path.extension().is_some_and(|e| e == "js") {
            out.insert(path);
        }
    }
}
