//! A worker project on disk, as `skiff dev`, `skiff deploy` and `skiff node --scripts` read it:
//! a folder with an optional configuration file (`skiff.toml`, or wrangler's
//! `wrangler.toml`/`.json`/`.jsonc`: see [`config`]) and an optional `.dev.vars` file of
//! secrets (`KEY=VALUE` lines, as wrangler reads them), or one module file. The CLI and the
//! node both read projects here; what runs them is theirs.

mod config;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use config::{CONFIG_FILES, KvNamespace, Manifest, ModuleRule, ServiceBinding};
use skiff_protocol::Bundle;

/// A project could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Wraps an I/O error with the path it is about.
pub fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Parses `KEY=VALUE` lines (blank lines and `#` comments skipped, optional quotes removed).
pub fn parse_dev_vars(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=VALUE", number + 1));
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        vars.insert(key.trim().to_string(), value.to_string());
    }
    Ok(vars)
}

/// True for a JavaScript module file (`.js`, `.mjs`).
pub fn is_module(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("js" | "mjs")
    )
}

/// The entries of `dir`, sorted by name, so that loading is deterministic.
pub fn sorted_entries(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn collect_modules(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, String>,
) -> Result<(), SourceError> {
    for entry in sorted_entries(dir).map_err(io_error(dir))? {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            collect_modules(root, &path, out)?;
        } else if is_module(&path) {
            let source = std::fs::read_to_string(&path).map_err(io_error(&path))?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(relative, source);
        }
    }
    Ok(())
}

/// A worker project on disk: a folder with an optional `skiff.toml`, or a single module file.
#[derive(Clone, Debug)]
pub struct Project {
    pub manifest: Manifest,
    /// The project folder (for a single file, the folder it is in).
    pub root: PathBuf,
    /// The main module's path relative to `root`.
    pub main: String,
    /// Secrets from `.dev.vars`.
    pub secrets: BTreeMap<String, String>,
    single_file: bool,
}

impl Project {
    /// Opens `path`: a project folder, its configuration file, or a module file.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        Self::open_env(path, None)
    }

    /// Opens `path` as [`open`](Self::open) does, with the configuration's environment `env`
    /// (`--env NAME`) applied.
    pub fn open_env(path: &Path, env: Option<&str>) -> Result<Self, SourceError> {
        let metadata = std::fs::metadata(path).map_err(io_error(path))?;
        if metadata.is_file()
            && let Some(file) = path.file_name()
            && CONFIG_FILES.iter().any(|name| file == *name)
        {
            let root = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            let manifest = Manifest::read(path, env)?;
            return Self::open_dir(&root, manifest);
        }
        if metadata.is_dir() {
            return Self::open_dir(path, Manifest::load(path, env)?);
        }
        let root = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let main = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            manifest: Manifest::load(&root, env)?,
            secrets: read_dev_vars(&root)?,
            root,
            main,
            single_file: true,
        })
    }

    fn open_dir(root: &Path, manifest: Manifest) -> Result<Self, SourceError> {
        let main = match &manifest.main {
            Some(main) => main.trim_start_matches("./").to_string(),
            None if root.join("src/index.js").exists() => "src/index.js".to_string(),
            None => "index.js".to_string(),
        };
        if !root.join(&main).is_file() {
            return Err(SourceError::Invalid {
                path: root.to_path_buf(),
                message: format!("main module {main} does not exist"),
            });
        }
        Ok(Self {
            manifest,
            secrets: read_dev_vars(root)?,
            root: root.to_path_buf(),
            main,
            single_file: false,
        })
    }

    /// The script name: the manifest's `name`, else the folder's or file's name.
    pub fn default_name(&self) -> String {
        if let Some(name) = &self.manifest.name {
            return name.clone();
        }
        let stem = if self.single_file {
            Path::new(&self.main).file_stem().map(|s| s.to_owned())
        } else {
            let root = self
                .root
                .canonicalize()
                .unwrap_or_else(|_| self.root.clone());
            root.file_name().map(|s| s.to_owned())
        };
        stem.map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_else(|| "worker".to_string())
    }

    /// Reads the modules from disk: every `.js` and `.mjs` file under the folder (dot files
    /// and `node_modules` left out), or the one file.
    pub fn modules(&self) -> Result<Bundle, SourceError> {
        let mut modules = BTreeMap::new();
        if self.single_file {
            let path = self.root.join(&self.main);
            let source = std::fs::read_to_string(&path).map_err(io_error(&path))?;
            modules.insert(self.main.clone(), source);
        } else {
            collect_modules(&self.root, &self.root, &mut modules)?;
        }
        Ok(Bundle {
            main_module: self.main.clone(),
            modules,
        })
    }

    /// The `env` the project runs with locally: the manifest's vars, then the secrets of
    /// `.dev.vars` and `extra_vars` ([`skiff_protocol::worker_env`]).
    pub fn env(
        &self,
        extra_vars: &BTreeMap<String, String>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let vars = (self.manifest.vars.iter())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        skiff_protocol::worker_env(vars, self.secrets.iter().chain(extra_vars))
    }
}

fn read_dev_vars(root: &Path) -> Result<BTreeMap<String, String>, SourceError> {
    let path = root.join(".dev.vars");
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    parse_dev_vars(&text).map_err(|message| SourceError::Invalid { path, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_vars_parse() {
        let vars = parse_dev_vars("# c\nA=1\nB = \"two words\"\n\n").expect("parses");
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert!(parse_dev_vars("nonsense").is_err());
    }
}
