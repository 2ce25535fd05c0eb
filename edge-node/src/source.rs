//! Where a node's scripts come from.
//!
//! [`ScriptSource`] gives the scripts a node serves from its start: [`DirectorySource`]
//! (`skiff node --scripts DIR`), or [`NoScripts`]. Scripts from the control plane come through
//! config sync instead (`sync/`), which applies its deployments to the registry itself.
//!
//! A script directory holds one entry per script: a file `NAME.js` (one module), or a project
//! folder `NAME/`, read by `skiff-project`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use skiff_project::{Project, SourceError, io_error, is_module, sorted_entries};
use skiff_protocol::{Bundle, validate_script_name};
use skiff_runtime::{EnvBinding, ScriptBundle};

/// The scripts a node serves.
pub trait ScriptSource: Send + Sync {
    /// Every script, current version.
    fn load_all(&self) -> Result<Vec<ScriptBundle>, SourceError>;
}

/// A source without scripts, for a node that serves only what config sync brings.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoScripts;

impl ScriptSource for NoScripts {
    fn load_all(&self) -> Result<Vec<ScriptBundle>, SourceError> {
        Ok(Vec::new())
    }
}

/// `modules` (`project`'s, as read or as bundled) as a runtime bundle named `name`, with the
/// project's local `env` plus `extra_vars` (see [`Project::env`]).
pub fn project_bundle(
    project: &Project,
    modules: Bundle,
    name: &str,
    extra_vars: &BTreeMap<String, String>,
) -> ScriptBundle {
    ScriptBundle {
        name: name.to_string(),
        main_module: modules.main_module,
        modules: modules.modules,
        env: project.env(extra_vars),
        bindings: project
            .manifest
            .kv_namespaces
            .iter()
            .map(|kv| EnvBinding::Kv {
                name: kv.binding.clone(),
                namespace: kv.id.clone(),
            })
            .chain(
                project
                    .manifest
                    .services
                    .iter()
                    .map(|s| EnvBinding::Service {
                        name: s.binding.clone(),
                        service: s.service.clone(),
                    }),
            )
            .collect(),
        version: None,
        compatibility_date: project.manifest.compatibility_date.clone(),
        compatibility_flags: project.manifest.compatibility_flags.clone(),
    }
}

/// Scripts from a directory: `NAME.js` files and `NAME/` project folders.
#[derive(Clone, Debug)]
pub struct DirectorySource {
    dir: PathBuf,
}

impl DirectorySource {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl ScriptSource for DirectorySource {
    fn load_all(&self) -> Result<Vec<ScriptBundle>, SourceError> {
        let mut bundles = Vec::new();
        for entry in sorted_entries(&self.dir).map_err(io_error(&self.dir))? {
            let path = entry.path();
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if file_name.starts_with('.') {
                continue;
            }
            let name = if path.is_dir() {
                file_name.clone()
            } else if is_module(&path) {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                continue;
            };
            let project = Project::open(&path)?;
            let name = project.manifest.name.clone().unwrap_or(name);
            for warning in project.manifest.warnings() {
                tracing::warn!(script = %name, "{warning}");
            }
            validate_script_name(&name).map_err(|message| SourceError::Invalid {
                path: path.clone(),
                message,
            })?;
            bundles.push(project_bundle(
                &project,
                project.modules()?,
                &name,
                &BTreeMap::new(),
            ));
        }
        Ok(bundles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_source_reads_files_and_folders() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("one.js"), "export default {}").expect("write");
        let two = dir.path().join("two");
        std::fs::create_dir_all(two.join("src/lib")).expect("mkdir");
        std::fs::write(
            two.join("skiff.toml"),
            "main = \"src/index.js\"\n[vars]\nA = \"x\"\nB = { n = 1 }\n",
        )
        .expect("write");
        std::fs::write(two.join("src/index.js"), "import './lib/u.js'").expect("write");
        std::fs::write(two.join("src/lib/u.js"), "").expect("write");
        std::fs::write(two.join(".dev.vars"), "SECRET=s3cret\n").expect("write");
        let bundles = DirectorySource::new(dir.path()).load_all().expect("loads");
        assert_eq!(bundles.len(), 2);
        assert_eq!(bundles[0].name, "one");
        assert_eq!(bundles[1].name, "two");
        assert_eq!(bundles[1].main_module, "src/index.js");
        assert!(bundles[1].modules.contains_key("src/lib/u.js"));
        assert_eq!(bundles[1].env["A"], "x");
        assert_eq!(bundles[1].env["B"]["n"], 1);
        assert_eq!(bundles[1].env["SECRET"], "s3cret");
    }
}
