//! `skiff dev`: one worker on 127.0.0.1:8787, console output in colour, reload on change.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use notify::{RecursiveMode, Watcher};
use skiff_edge_node::{EdgeNode, NodeConfig, ScriptSource, project_bundle};
use skiff_project::{Project, SourceError};
use skiff_runtime::{BUNDLE_BASE, LogEvent, LogLevel, ScriptBundle};

use crate::RuntimeArgs;
use crate::platform::BuildArgs;

#[derive(Args)]
pub struct DevArgs {
    /// The worker: a module file, a project folder, or its configuration file (skiff.toml, or
    /// wrangler.toml/json/jsonc; default: the current folder).
    entry: Option<PathBuf>,
    /// Use the configuration's `[env.NAME]` section, as wrangler does.
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// Port to listen on.
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// A var for the worker's env, KEY=VALUE (repeatable).
    #[arg(long = "var", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// Where local state (KV namespaces, in `kv.db`) is kept across restarts, as wrangler's
    /// `--persist-to` (default: `.skiff/state` in the project folder).
    #[arg(long, value_name = "DIR")]
    persist_to: Option<PathBuf>,
    /// Serve the project at PATH as script NAME beside the worker, for its `[[services]]`
    /// bindings (repeatable).
    #[arg(long = "service", value_name = "NAME=PATH", value_parser = parse_service)]
    services: Vec<(String, PathBuf)>,
    /// Serve /__scheduled?cron=... (and /cdn-cgi/handler/scheduled), which runs the worker's
    /// scheduled handler now, as wrangler's --test-scheduled.
    #[arg(long)]
    test_scheduled: bool,
    #[command(flatten)]
    build: BuildArgs,
    #[command(flatten)]
    pub(crate) runtime: RuntimeArgs,
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))
}

fn parse_service(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = text
        .split_once('=')
        .filter(|(name, path)| !name.is_empty() && !path.is_empty())
        .ok_or_else(|| format!("expected NAME=PATH, got {text:?}"))?;
    skiff_protocol::validate_script_name(name)?;
    Ok((name.to_string(), PathBuf::from(path)))
}

struct Colors {
    on: bool,
}

impl Colors {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn level(&self, level: LogLevel) -> String {
        let (code, label) = match level {
            LogLevel::Debug => ("2", "debug"),
            LogLevel::Log => ("37", "log  "),
            LogLevel::Warn => ("33", "warn "),
            LogLevel::Error => ("31", "error"),
        };
        self.paint(code, label)
    }
}

fn colors() -> Colors {
    Colors {
        on: crate::colour(&std::io::stdout()),
    }
}

/// Rewrites engine locations (`file:///bundle/src/index.js:3:9`) to project paths.
fn project_locations(message: &str, root: &Path) -> String {
    let root = root.display().to_string();
    let root = root.trim_end_matches('/');
    message.replace(BUNDLE_BASE, &format!("{root}/"))
}

struct DevSource {
    project: Project,
    name: String,
    vars: BTreeMap<String, String>,
    build: BuildArgs,
    /// The projects served beside it for service bindings, by script name.
    services: Vec<(String, Project)>,
}

impl DevSource {
    fn open(
        entry: &Path,
        env: Option<&str>,
        vars: BTreeMap<String, String>,
        build: BuildArgs,
    ) -> Result<Self, SourceError> {
        let project = Project::open_env(entry, env)?;
        let name = project.default_name();
        Ok(Self {
            project,
            name,
            vars,
            build,
            services: Vec::new(),
        })
    }

    /// Every bundle the dev node serves: the worker's, then its services'.
    fn bundles(&self) -> Result<Vec<ScriptBundle>, SourceError> {
        let mut bundles = vec![self.bundle()?];
        for (name, project) in &self.services {
            let built = self
                .build
                .build(project)
                .map_err(|err| SourceError::Invalid {
                    path: project.root.clone(),
                    message: format!("{err:#}"),
                })?;
            bundles.push(project_bundle(
                project,
                built.bundle,
                name,
                &BTreeMap::new(),
            ));
        }
        Ok(bundles)
    }

    /// Builds the project (bundled, unless `--no-bundle`) into the bundle the node runs.
    fn bundle(&self) -> Result<ScriptBundle, SourceError> {
        let built = self
            .build
            .build(&self.project)
            .map_err(|err| SourceError::Invalid {
                path: self.project.root.clone(),
                message: format!("{err:#}"),
            })?;
        Ok(project_bundle(
            &self.project,
            built.bundle,
            &self.name,
            &self.vars,
        ))
    }
}

impl ScriptSource for DevSource {
    fn load_all(&self) -> Result<Vec<ScriptBundle>, SourceError> {
        self.bundles()
    }
}

pub async fn run(args: DevArgs) -> Result<()> {
    let entry = args.entry.clone().unwrap_or_else(|| PathBuf::from("."));
    let vars: BTreeMap<String, String> = args.vars.iter().cloned().collect();
    let mut source = DevSource::open(&entry, args.env.as_deref(), vars, args.build.clone())
        .with_context(|| format!("opening the worker at {}", entry.display()))?;
    for (name, path) in &args.services {
        let project = Project::open(path)
            .with_context(|| format!("opening service {name} at {}", path.display()))?;
        source.services.push((name.clone(), project));
    }
    crate::platform::warn_unsupported(&source.project);
    let root = source.project.root.clone();
    let colors = Arc::new(colors());

    let mut config = NodeConfig::new(SocketAddr::new(args.ip, args.port));
    args.runtime.apply(&mut config);
    config.default_script = Some(source.name.clone());
    config.test_scheduled = args.test_scheduled;
    let state_dir = args
        .persist_to
        .clone()
        .unwrap_or_else(|| root.join(".skiff").join("state"));
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("creating the local state folder {}", state_dir.display()))?;
    config.kv_path = Some(state_dir.join("kv.db"));
    let log_colors = colors.clone();
    let log_root = root.clone();
    config.log = Arc::new(move |event: LogEvent| {
        let time = log_colors.paint("2", &format_time(event.time_ms));
        // One event, one line: the worker's control characters are escaped.
        let message = project_locations(&event.message, &log_root);
        let message = skiff_runtime::escape_control(&message);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{time} {} {message}", log_colors.level(event.level));
    });
    let node = EdgeNode::start(config, &source)
        .await
        .context("starting the dev server")?;
    let registry = node.registry().clone();
    // Watch before saying "ready", so that no change made after it is missed.
    let (changed_tx, mut changed_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && (event.kind.is_modify() || event.kind.is_create() || event.kind.is_remove())
            && concerns_the_build(&event.paths)
        {
            let _ = changed_tx.send(());
        }
    })
    .context("starting the file watcher")?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", root.display()))?;
    for (name, project) in &source.services {
        watcher
            .watch(&project.root, RecursiveMode::Recursive)
            .with_context(|| format!("watching service {name} at {}", project.root.display()))?;
    }

    // Load now, so that a broken script is reported before the first request.
    if let Some(Err(err)) = registry.isolate(&source.name).await {
        eprintln!(
            "{}",
            colors.paint("31", &project_locations(&err.to_string(), &root))
        );
    }
    println!(
        "skiff dev: {} ready on http://{}",
        source.name,
        node.http_addr()
    );

    let signal = crate::wait_for_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            result = &mut signal => {
                result?;
                break;
            }
            Some(()) = changed_rx.recv() => {
                // Let a burst of editor writes settle, then reload once.
                tokio::time::sleep(Duration::from_millis(100)).await;
                while changed_rx.try_recv().is_ok() {}
                match source.bundles() {
                    Ok(bundles) => {
                        let mut failed = false;
                        for bundle in bundles {
                            if let Err(err) = registry.install(bundle).await {
                                failed = true;
                                eprintln!(
                                    "{}",
                                    colors.paint("31", &project_locations(&err.to_string(), &root))
                                );
                            }
                        }
                        if !failed {
                            println!("{}", colors.paint("32", "skiff dev: reloaded"));
                        }
                    }
                    Err(err) => eprintln!("{}", colors.paint("31", &err.to_string())),
                }
            }
        }
    }
    node.shutdown().await;
    Ok(())
}

/// Whether a change to `paths` can change the build: not when every one is inside
/// `node_modules` (an `npm install` rewrites thousands of files; restart `skiff dev` after it),
/// `.git`, or the local state of `.skiff` and `.wrangler` (every KV write changes it).
fn concerns_the_build(paths: &[PathBuf]) -> bool {
    paths.iter().any(|path| {
        !path.components().any(|part| {
            matches!(
                part.as_os_str().to_str(),
                Some("node_modules" | ".git" | ".skiff" | ".wrangler")
            )
        })
    })
}

fn format_time(time_ms: u64) -> String {
    let secs = time_ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02}.{:03}", time_ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_inside_node_modules_or_git_do_not_rebuild() {
        let project = Path::new("/work/app");
        let change =
            |parts: &[&str]| -> Vec<PathBuf> { parts.iter().map(|p| project.join(p)).collect() };
        assert!(concerns_the_build(&change(&["src/index.ts"])));
        assert!(!concerns_the_build(&change(&[
            "node_modules/hono/dist/index.js"
        ])));
        assert!(!concerns_the_build(&change(&[".git/index"])));
        assert!(!concerns_the_build(&change(&[".skiff/state/kv.db-wal"])));
        assert!(concerns_the_build(&change(&[
            "node_modules/x/a.js",
            "src/util.ts"
        ])));
    }
}
