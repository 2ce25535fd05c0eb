//! A script version: the modules of a tenant's worker and the `env` it runs with.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deno_core::{
    ModuleLoadOptions, ModuleLoadReferrer, ModuleLoadResponse, ModuleLoader, ModuleResolveResponse,
    ModuleSource, ModuleSourceCode, ModuleSpecifier, ModuleType, ResolutionKind,
};
use sha2::{Digest, Sha256};
use skiff_js_api::{EnvBinding, JsErrorBox};

/// The base URL tenant modules are served under; a module `lib/util.js` has the specifier
/// `file:///bundle/lib/util.js`. Nothing is read from disk: the loader serves the bundle only.
pub const BUNDLE_BASE: &str = "file:///bundle/";

/// One immutable version of a script: its modules and its bindings.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptBundle {
    /// The script's name; it answers for `NAME.<zone>`.
    pub name: String,
    /// The path of the main module within `modules`.
    pub main_module: String,
    /// Module path -> JavaScript source.
    pub modules: BTreeMap<String, String>,
    /// Vars (strings or JSON values) and secrets, as the tenant's `env` sees them.
    pub env: serde_json::Map<String, serde_json::Value>,
    /// The bindings that are more than values (KV namespaces).
    pub bindings: Vec<EnvBinding>,
    /// The control plane's id of this version (what `skiff versions list` shows), when it
    /// came from one. Log and tail events carry it.
    pub version: Option<String>,
    /// The project's `compatibility_date` (`YYYY-MM-DD`), if it names one.
    pub compatibility_date: Option<String>,
    /// The project's `compatibility_flags`, as written.
    pub compatibility_flags: Vec<String>,
}

impl ScriptBundle {
    /// A bundle of one module.
    pub fn single(name: &str, source: impl Into<String>) -> Self {
        let mut modules = BTreeMap::new();
        modules.insert("index.js".to_string(), source.into());
        Self {
            name: name.to_string(),
            main_module: "index.js".to_string(),
            modules,
            env: serde_json::Map::new(),
            bindings: Vec::new(),
            version: None,
            compatibility_date: None,
            compatibility_flags: Vec::new(),
        }
    }

    /// The name of this version in logs: the control plane's id, or else the first 12 digits
    /// of the content address.
    pub fn version_label(&self) -> String {
        match &self.version {
            Some(id) => id.clone(),
            None => self.version_id()[..12].to_string(),
        }
    }

    /// The content address of this version: sha256 over the module paths and sources, the
    /// main module, the env, the other bindings and the compatibility date and flags, hex
    /// encoded.
    pub fn version_id(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.main_module.as_bytes());
        for (path, source) in &self.modules {
            hash.update([0]);
            hash.update(path.as_bytes());
            hash.update([0]);
            hash.update(source.as_bytes());
        }
        hash.update([0]);
        hash.update(
            serde_json::Value::Object(self.env.clone())
                .to_string()
                .as_bytes(),
        );
        for binding in &self.bindings {
            hash.update([0]);
            hash.update(
                serde_json::to_string(binding)
                    .unwrap_or_default()
                    .as_bytes(),
            );
        }
        hash.update([0]);
        hash.update(self.compatibility_date.as_deref().unwrap_or("").as_bytes());
        for flag in &self.compatibility_flags {
            hash.update([0]);
            hash.update(flag.as_bytes());
        }
        hex::encode(hash.finalize())
    }
}

/// The built-in module Workers code imports its entrypoint classes and `env` from.
const CLOUDFLARE_WORKERS: &str = "cloudflare:workers";

/// `cloudflare:workers`: a re-export of the object the bootstrap keeps on the global under a
/// registered symbol (js-api/js/03_entrypoints.js), evaluated before any module that imports it.
const CLOUDFLARE_WORKERS_SOURCE: &str = r#"const m = globalThis[Symbol.for("skiff:cloudflare:workers")];
export const WorkerEntrypoint = m.WorkerEntrypoint;
export const DurableObject = m.DurableObject;
export const RpcTarget = m.RpcTarget;
export const env = m.env;
"#;

/// Serves a bundle's modules from memory, and `cloudflare:workers`. A runtime is created with an empty loader (it may be
/// booted before its tenant is known); the bundle's modules are put in just before the main
/// module is loaded.
#[derive(Default)]
pub(crate) struct BundleLoader(RefCell<HashMap<ModuleSpecifier, Arc<str>>>);

impl BundleLoader {
    /// The bundle's modules, shared: each load hands the engine the same text, not a copy.
    pub(crate) fn set_modules(&self, modules: HashMap<ModuleSpecifier, Arc<str>>) {
        *self.0.borrow_mut() = modules;
    }
}

impl ModuleLoader for BundleLoader {
    fn resolve(
        &self,
        specifier: &str,
        referrer: &str,
        _kind: ResolutionKind,
    ) -> ModuleResolveResponse {
        deno_core::resolve_import(specifier, referrer).map_err(JsErrorBox::from_err)
    }

    fn load(
        &self,
        specifier: &ModuleSpecifier,
        _referrer: Option<&ModuleLoadReferrer>,
        _options: ModuleLoadOptions,
    ) -> ModuleLoadResponse {
        if specifier.as_str() == CLOUDFLARE_WORKERS {
            return ModuleLoadResponse::Sync(Ok(ModuleSource::new(
                ModuleType::JavaScript,
                ModuleSourceCode::String(CLOUDFLARE_WORKERS_SOURCE.to_string().into()),
                specifier,
                None,
            )));
        }
        let source = match self.0.borrow().get(specifier) {
            Some(code) => Ok(ModuleSource::new(
                ModuleType::JavaScript,
                ModuleSourceCode::String(code.clone().into()),
                specifier,
                None,
            )),
            None => Err(JsErrorBox::generic("Module not found")),
        };
        ModuleLoadResponse::Sync(source)
    }

    /// The source map of `file_name`: the bundle's module of the same path plus `.map`, as the
    /// CLI's bundler uploads it. Its sources are project paths (`src/index.ts`), so that a
    /// stack trace names the tenant's own files and lines.
    fn get_source_map(&self, file_name: &str) -> Option<Cow<'_, [u8]>> {
        let map = ModuleSpecifier::parse(&format!("{file_name}.map")).ok()?;
        let modules = self.0.borrow();
        modules
            .get(&map)
            .map(|map| Cow::Owned(map.as_bytes().to_vec()))
    }

    /// A source named by a bundle's map is a project file, not in the bundle: a stack trace
    /// names it all the same.
    fn source_map_source_exists(&self, source_url: &str) -> Option<bool> {
        Some(source_url.starts_with(BUNDLE_BASE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_id_changes_with_source_and_env() {
        let a = ScriptBundle::single("a", "export default {}");
        let mut b = a.clone();
        assert_eq!(a.version_id(), b.version_id());
        b.modules
            .insert("index.js".into(), "export default { x: 1 }".into());
        assert_ne!(a.version_id(), b.version_id());
        let mut c = a.clone();
        c.env.insert("K".into(), "v".into());
        assert_ne!(a.version_id(), c.version_id());
    }
}
