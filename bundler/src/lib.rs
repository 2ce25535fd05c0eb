//! Bundling a Workers project for upload, as wrangler does: from the project's `main`, its
//! TypeScript, JSX and JavaScript and the npm packages it imports become one ES module (plus a
//! chunk per dynamic import), with rolldown. Files matched by a module rule (Cloudflare's
//! defaults: `.wasm`, `.txt`, `.html`, `.sql`, `.bin`) are inlined as the value their type gives,
//! so the upload is JavaScript only and nodes compile nothing but it.
//!
//! `no_bundle` (`--no-bundle`, or `no_bundle = true` in the configuration) uploads the project's
//! JavaScript modules as they are instead.

mod ascii;
mod plugin;
mod report;
mod rules;

use std::path::PathBuf;
use std::sync::Arc;

use rolldown::{
    Bundler, BundlerOptions, InputItem, OutputFormat, Platform, ResolveOptions, SourceMapType,
};
use rolldown_common::Output;
use skiff_project::Project;
use skiff_protocol::Bundle;

pub use rules::{ModuleKind, Rules};

/// What a build gives: the modules to upload, and the files it read.
#[derive(Clone, Debug)]
pub struct Build {
    /// The modules, each bundled one with its source map beside it (`index.js.map`), so that
    /// the map is stored with the version and nodes map stack traces to the project's files.
    pub bundle: Bundle,
    /// The project's files in the module graph (`node_modules` left out): what `skiff dev`
    /// rebuilds on.
    pub files: Vec<PathBuf>,
}

/// A build failed: one message per problem, each naming its file, line and column where it
/// has one.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{}", .messages.join("\n"))]
pub struct BuildError {
    pub messages: Vec<String>,
}

impl BuildError {
    fn one(message: impl Into<String>) -> Self {
        Self {
            messages: vec![message.into()],
        }
    }
}

/// The resolve conditions wrangler uses for Workers, in its order.
/// (The bundler adds `import` or `require`, by the kind of import, and `default`.)
const CONDITIONS: &[&str] = &["workerd", "worker", "browser"];

/// Builds `project`: bundled from its `main`, or, with `no_bundle` (or the configuration's
/// `no_bundle = true`), its JavaScript modules as they are.
pub fn build(project: &Project, no_bundle: bool) -> Result<Build, BuildError> {
    if no_bundle || project.manifest.no_bundle {
        let bundle = project
            .modules()
            .map_err(|err| BuildError::one(err.to_string()))?;
        let files = (bundle.modules.keys())
            .map(|path| project.root.join(path))
            .collect();
        return Ok(Build { bundle, files });
    }
    let rules = Rules::new(&project.manifest.rules).map_err(BuildError::one)?;
    let root = project
        .root
        .canonicalize()
        .map_err(|err| BuildError::one(format!("{}: {err}", project.root.display())))?;
    // rolldown runs on tokio; a runtime of its own, on a thread of its own, lets a build be
    // called from anywhere (the CLI's runtime included) without nesting runtimes.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
                    .enable_all()
                    .build()
                    .map_err(|err| BuildError::one(format!("starting the bundler: {err}")))?;
                runtime.block_on(bundle(root, &project.main, rules))
            })
            .join()
            .unwrap_or_else(|_| Err(BuildError::one("the bundler panicked")))
    })
}

async fn bundle(root: PathBuf, main: &str, rules: Rules) -> Result<Build, BuildError> {
    let stem = std::path::Path::new(main)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "index".to_string());
    let plugin = plugin::WorkersPlugin::new(root.clone(), rules);
    let findings = plugin.findings();
    let options = BundlerOptions {
        input: Some(vec![InputItem {
            name: Some(stem),
            import: format!("./{main}"),
        }]),
        cwd: Some(root.clone()),
        format: Some(OutputFormat::Esm),
        platform: Some(Platform::Browser),
        entry_filenames: Some("[name].js".to_string().into()),
        chunk_filenames: Some("[name]-[hash].js".to_string().into()),
        sourcemap: Some(SourceMapType::Hidden),
        // Output paths (and so the maps' sources) relative to the project root: the bundle's
        // modules sit at its root, and `src/index.ts` in a map names the project's file.
        dir: Some(".".to_string()),
        resolve: Some(ResolveOptions {
            condition_names: Some(CONDITIONS.iter().map(|c| c.to_string()).collect()),
            main_fields: Some(["browser", "module", "main"].map(String::from).to_vec()),
            ..Default::default()
        }),
        // As wrangler: libraries that branch on it take their production path.
        define: Some(
            [(
                "process.env.NODE_ENV".to_string(),
                "\"production\"".to_string(),
            )]
            .into_iter()
            .collect(),
        ),
        ..Default::default()
    };
    let plugins: Vec<rolldown::plugin::__inner::SharedPluginable> = vec![Arc::new(plugin)];
    let mut bundler = Bundler::with_plugins(options, plugins)
        .map_err(|diagnostics| report::failure(&root, diagnostics.into_vec()))?;
    let output = bundler.generate().await;
    let findings = std::mem::take(&mut *findings.lock().unwrap_or_else(|p| p.into_inner()));
    let output = output.map_err(|diagnostics| report::failure(&root, diagnostics.into_vec()))?;
    // rolldown leaves a bare import it cannot resolve external, with a warning; on Workers
    // nothing is external, so it fails the build.
    let unresolved = report::unresolved_imports(output.warnings);
    if !unresolved.is_empty() {
        return Err(report::failure(&root, unresolved));
    }
    if !findings.node_imports.is_empty() {
        return Err(report::node_imports(findings.node_imports));
    }
    let mut bundle = Bundle::default();
    for asset in output.assets {
        let Output::Chunk(chunk) = asset else {
            continue;
        };
        let filename = chunk.filename.to_string();
        if chunk.is_entry {
            bundle.main_module = filename.clone();
        }
        // In ASCII where that means the same (see ascii.rs), as esbuild writes bundles.
        let (code, map) = match ascii::escape(&chunk.code, chunk.map.as_ref()) {
            Some((code, map)) => (code, map),
            None => (chunk.code.clone(), chunk.map.clone()),
        };
        if let Some(map) = &map {
            // Stored beside the module it maps: the node's loader looks it up there.
            bundle
                .modules
                .insert(format!("{filename}.map"), map.to_json_string());
        }
        bundle.modules.insert(filename, code);
    }
    Ok(Build {
        bundle,
        files: findings.files.into_iter().collect(),
    })
}
