//! The rolldown plugin that makes a bundle a Workers bundle: files matched by a module rule
//! become the value Cloudflare gives for their type, imports of Node's built-in modules are
//! recorded with the chain of imports that pulled them in, and the project's own files are
//! listed for `skiff dev` to watch.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use rolldown::plugin::{
    HookBuildEndArgs, HookLoadArgs, HookLoadOutput, HookLoadReturn, HookNoopReturn,
    HookResolveIdArgs, HookResolveIdOutput, HookResolveIdReturn, HookUsage, Plugin, PluginContext,
    SharedLoadPluginContext,
};
use rolldown_common::{ModuleType, ResolvedExternal};

use crate::rules::{ModuleKind, Rules};

/// What the plugin learned during one build.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// `node:` imports, each with where it is (`file:line:column`) and its chain from the
    /// entry (`src/index.ts -> pkg -> node:fs`).
    pub node_imports: Vec<(String, String)>,
    /// The files of the module graph outside `node_modules`.
    pub files: BTreeSet<PathBuf>,
    /// Imports not yet placed in a chain: (importer id, specifier).
    pending: Vec<(String, String)>,
}

#[derive(Debug)]
pub(crate) struct WorkersPlugin {
    root: PathBuf,
    rules: Rules,
    findings: Arc<Mutex<Findings>>,
}

impl WorkersPlugin {
    pub(crate) fn new(root: PathBuf, rules: Rules) -> Self {
        Self {
            root,
            rules,
            findings: Arc::default(),
        }
    }

    pub(crate) fn findings(&self) -> Arc<Mutex<Findings>> {
        self.findings.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Findings> {
        self.findings.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How a module id reads to the user: a path within the project, or the npm package it is in.
pub(crate) fn display_id(root: &Path, id: &str) -> String {
    if let Some((_, inside)) = id.rsplit_once("/node_modules/") {
        let mut parts = inside.split('/');
        return match (parts.next(), parts.next()) {
            (Some(scope), Some(name)) if scope.starts_with('@') => format!("{scope}/{name}"),
            (Some(name), _) => name.to_string(),
            _ => inside.to_string(),
        };
    }
    relative(root, id)
}

/// `id` relative to `root`, `/`-separated, when it is inside it.
pub(crate) fn relative(root: &Path, id: &str) -> String {
    Path::new(id)
        .strip_prefix(root)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_else(|_| id.to_string())
}

/// Where the module `importer` names `specifier` (its first string literal naming it), as
/// `file:line:column`; the file alone when it cannot be read.
fn locate(root: &Path, importer: &str, specifier: &str) -> String {
    let file = relative(root, importer);
    let Ok(source) = std::fs::read_to_string(importer) else {
        return file;
    };
    let found = ['"', '\''].iter().find_map(|quote| {
        source
            .find(&format!("{quote}{specifier}{quote}"))
            .map(|offset| offset + 1)
    });
    let Some(offset) = found else {
        return file;
    };
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{file}:{line}:{column}")
}

/// JavaScript that decodes `bytes` (base64 in the source) into an `ArrayBuffer` named `bytes`.
fn decode_bytes(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!(
        "const text = atob(\"{encoded}\");\n\
         const bytes = new Uint8Array(text.length);\n\
         for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);\n"
    )
}

impl Plugin for WorkersPlugin {
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("skiff:workers")
    }

    async fn resolve_id(
        &self,
        _ctx: &PluginContext,
        args: &HookResolveIdArgs<'_>,
    ) -> HookResolveIdReturn {
        // The runtime's own module (runtime/src/bundle.rs) stays an import.
        if args.specifier == "cloudflare:workers" {
            return Ok(Some(HookResolveIdOutput {
                id: args.specifier.into(),
                external: Some(ResolvedExternal::Bool(true)),
                ..Default::default()
            }));
        }
        if !args.specifier.starts_with("node:") {
            return Ok(None);
        }
        let importer = args.importer.unwrap_or_default().to_string();
        self.lock()
            .pending
            .push((importer, args.specifier.to_string()));
        // External for now, so that the build goes on and finds every such import; the
        // build fails on them at its end.
        Ok(Some(HookResolveIdOutput {
            id: args.specifier.into(),
            external: Some(ResolvedExternal::Bool(true)),
            ..Default::default()
        }))
    }

    async fn load(&self, _ctx: SharedLoadPluginContext, args: &HookLoadArgs<'_>) -> HookLoadReturn {
        let id = args.id;
        let (path, query) = id.split_once('?').unwrap_or((id, ""));
        if !path.contains("/node_modules/") {
            self.lock().files.insert(PathBuf::from(path));
        }
        let mut name = relative(&self.root, path);
        if !query.is_empty() {
            name = format!("{name}?{query}");
        }
        let kind = match self.rules.kind_of(&name) {
            Some(kind @ (ModuleKind::Text | ModuleKind::Data | ModuleKind::CompiledWasm)) => kind,
            _ => return Ok(None),
        };
        let bytes = std::fs::read(path)?;
        let code = match kind {
            ModuleKind::Text => {
                let text = String::from_utf8_lossy(&bytes);
                format!(
                    "export default {};\n",
                    serde_json::Value::from(text.as_ref())
                )
            }
            ModuleKind::Data => format!("{}export default bytes.buffer;\n", decode_bytes(&bytes)),
            _ => format!(
                "{}export default new WebAssembly.Module(bytes);\n",
                decode_bytes(&bytes)
            ),
        };
        Ok(Some(HookLoadOutput {
            code: code.into(),
            module_type: Some(ModuleType::Js),
            ..Default::default()
        }))
    }

    async fn build_end(
        &self,
        ctx: &PluginContext,
        _args: Option<&HookBuildEndArgs<'_>>,
    ) -> HookNoopReturn {
        let pending = std::mem::take(&mut self.lock().pending);
        let mut chains = BTreeSet::new();
        for (importer, specifier) in pending {
            let importer_id = importer.clone();
            // Walk up from the importer to an entry, the first importer each time.
            let mut chain = vec![specifier];
            let mut seen = BTreeSet::new();
            let mut current = importer_id;
            while !current.is_empty() && seen.insert(current.clone()) {
                let shown = display_id(&self.root, &current);
                if chain.last() != Some(&shown) {
                    chain.push(shown);
                }
                current = match ctx.get_module_info(&current) {
                    Some(info) if !info.is_entry => info
                        .importers
                        .first()
                        .map(|id| id.to_string())
                        .unwrap_or_default(),
                    _ => String::new(),
                };
            }
            chain.reverse();
            let place = locate(
                &self.root,
                &importer,
                chain.last().map_or("", String::as_str),
            );
            chains.insert((place, chain.join(" -> ")));
        }
        self.lock().node_imports.extend(chains);
        Ok(())
    }

    fn register_hook_usage(&self) -> HookUsage {
        HookUsage::ResolveId | HookUsage::Load | HookUsage::BuildEnd
    }
}
