//! The platform commands: `init`, `deploy`, `versions`, `rollback`, `delete`, `secret` and
//! `tail`. They talk to the control plane (`client.rs`) and read the project's `skiff.toml`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use skiff_project::{Manifest, Project};
use skiff_protocol::validate_script_name;
use skiff_protocol::{
    Binding, ChangeResponse, DeployedVersion, DeploymentRequest, MAX_BUNDLE_BYTES, NodeList,
    RollbackRequest, SecretName, SecretValue, TailEvent, UploadMetadata, UploadResponse,
    VersionInfo, VersionList,
};
use skiff_runtime::escape_control;

use crate::client::{Client, ControlArgs, read_events};

/// Which script a command acts on: `--name`, else the `name` in the project's configuration.
#[derive(Args, Clone, Debug)]
pub struct ScriptArgs {
    /// The script (default: `name` from the project's skiff.toml or wrangler.toml/json/jsonc).
    #[arg(long)]
    name: Option<String>,
    /// The project folder holding its configuration file.
    #[arg(long, default_value = ".")]
    project: PathBuf,
    /// Use the configuration's `[env.NAME]` section, as wrangler does (its name is
    /// `<name>-<NAME>` unless the section sets one).
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
}

impl ScriptArgs {
    fn resolve(&self) -> Result<String> {
        let manifest_name = match &self.name {
            Some(_) => None,
            None => self.open_project()?.manifest.name,
        };
        self.pick(manifest_name)
    }

    /// `--name`, else `manifest_name`, checked.
    fn pick(&self, manifest_name: Option<String>) -> Result<String> {
        let name = self
            .name
            .clone()
            .or(manifest_name)
            .ok_or_else(|| no_name(&self.project))?;
        validate_script_name(&name).map_err(|message| anyhow!(message))?;
        Ok(name)
    }

    /// Opens the project in `--project`, which must have a configuration file, with `--env`
    /// applied; warns once about each key Skiff does not support.
    fn open_project(&self) -> Result<Project> {
        let dir = &self.project;
        if Manifest::find(dir).is_none() {
            bail!(
                "no skiff.toml or wrangler.toml/json/jsonc in {}: run this in a project folder \
                 (or pass --project DIR), or create one with `skiff init NAME`",
                display_dir(dir)
            );
        }
        let project = Project::open_env(dir, self.env.as_deref())
            .with_context(|| format!("reading the project in {}", display_dir(dir)))?;
        warn_unsupported(&project);
        Ok(project)
    }
}

fn no_name(project: &Path) -> anyhow::Error {
    let config = Manifest::find(project).unwrap_or_else(|| project.join("skiff.toml"));
    anyhow!(
        "{} has no `name`: add `name = \"my-worker\"` to it or pass --name",
        config.display()
    )
}

/// Prints a warning for each configuration key Skiff does not support.
pub fn warn_unsupported(project: &Project) {
    for warning in project.manifest.warnings() {
        eprintln!("warning: {warning}");
    }
}

fn display_dir(dir: &Path) -> String {
    if dir == Path::new(".") {
        "the current folder".to_string()
    } else {
        dir.display().to_string()
    }
}

/// How deploying commands wait for the nodes.
#[derive(Args, Clone, Debug)]
pub struct WaitArgs {
    /// Return once the control plane has the change, without waiting for the nodes.
    #[arg(long)]
    no_wait: bool,
    /// Seconds to wait for every connected node to apply the change.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
}

/// How a project becomes the modules that are uploaded.
#[derive(Args, Clone, Debug, Default)]
pub struct BuildArgs {
    /// Upload the project's JavaScript modules as they are, without bundling (also
    /// `no_bundle = true` in the configuration).
    #[arg(long)]
    pub no_bundle: bool,
    /// Write what would be uploaded (modules and source maps) to DIR.
    #[arg(long, value_name = "DIR")]
    pub outdir: Option<PathBuf>,
}

impl BuildArgs {
    /// Builds `project` (see `skiff_bundler`), writing the result to `--outdir` when given.
    pub fn build(&self, project: &Project) -> Result<skiff_bundler::Build> {
        let built = skiff_bundler::build(project, self.no_bundle).map_err(|err| anyhow!(err))?;
        if let Some(dir) = &self.outdir {
            write_outdir(dir, &built)?;
        }
        Ok(built)
    }
}

/// Writes the modules of `built` (source maps included) under `dir`.
fn write_outdir(dir: &Path, built: &skiff_bundler::Build) -> Result<()> {
    for (path, text) in &built.bundle.modules {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[derive(Args)]
pub struct DeployArgs {
    #[command(flatten)]
    script: ScriptArgs,
    #[command(flatten)]
    build: BuildArgs,
    /// Build (and write `--outdir`), but upload nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    control: ControlArgs,
}

#[derive(Subcommand)]
pub enum VersionsCommand {
    /// The script's versions, newest first, and what is deployed.
    List {
        #[command(flatten)]
        script: ScriptArgs,
        #[arg(long, value_enum, default_value_t = Format::Pretty)]
        format: Format,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Deploy one version, or two with percentages for a gradual rollout: `V1@90 V2@10`.
    Deploy {
        /// VERSION[@PERCENT]; a unique prefix of a version id is enough.
        #[arg(required = true, num_args = 1..=2)]
        versions: Vec<String>,
        #[command(flatten)]
        script: ScriptArgs,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        control: ControlArgs,
    },
}

#[derive(Args)]
pub struct RollbackArgs {
    /// The version to return to (default: the one deployed before the current deployment).
    version: Option<String>,
    #[command(flatten)]
    script: ScriptArgs,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    control: ControlArgs,
}

#[derive(Args)]
pub struct DeleteArgs {
    /// The script to delete from every node.
    name: String,
    #[command(flatten)]
    control: ControlArgs,
}

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Sets a secret; the value is read from stdin (never from the command line).
    Put {
        key: String,
        #[command(flatten)]
        script: ScriptArgs,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// The names of the script's secrets (values are never shown).
    List {
        #[command(flatten)]
        script: ScriptArgs,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Removes a secret.
    Delete {
        key: String,
        #[command(flatten)]
        script: ScriptArgs,
        #[command(flatten)]
        control: ControlArgs,
    },
}

#[derive(Args)]
pub struct TailArgs {
    /// The script whose console output and exceptions to stream.
    name: String,
    #[arg(long, value_enum, default_value_t = Format::Pretty)]
    format: Format,
    #[command(flatten)]
    control: ControlArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Pretty,
    Json,
}

/// The upload of a project: metadata and module parts, shaped like Cloudflare's script upload.
fn upload_form(project: &Project, bundle: skiff_protocol::Bundle) -> Result<(Form, usize)> {
    let bindings = project
        .manifest
        .vars
        .iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => Binding::PlainText {
                name: key.clone(),
                text: text.clone(),
            },
            other => Binding::Json {
                name: key.clone(),
                json: other.clone(),
            },
        })
        .chain(
            project
                .manifest
                .kv_namespaces
                .iter()
                .map(|kv| Binding::KvNamespace {
                    name: kv.binding.clone(),
                    namespace_id: kv.id.clone(),
                }),
        )
        .chain(project.manifest.services.iter().map(|s| Binding::Service {
            name: s.binding.clone(),
            service: s.service.clone(),
            environment: s.environment.clone(),
            entrypoint: s.entrypoint.clone(),
        }))
        .collect();
    let metadata = UploadMetadata {
        main_module: bundle.main_module.clone(),
        bindings,
        compatibility_date: project.manifest.compatibility_date.clone(),
        compatibility_flags: project.manifest.compatibility_flags.clone(),
        routes: project.manifest.routes.clone(),
        crons: project.manifest.crons.clone(),
    };
    let metadata = Part::text(serde_json::to_string(&metadata)?)
        .file_name("metadata.json")
        .mime_str("application/json")?;
    // Part names are module paths such as `lib/util.js`: sent as they are, not percent-encoded.
    let mut form = Form::new().percent_encode_noop().part("metadata", metadata);
    let mut size = 0;
    for (path, source) in bundle.modules {
        size += source.len();
        let part = Part::text(source)
            .file_name(path.clone())
            .mime_str("application/javascript+module")?;
        form = form.part(path, part);
    }
    Ok((form, size))
}

pub async fn deploy(args: DeployArgs) -> Result<()> {
    let project = args.script.open_project()?;
    let name = args.script.pick(project.manifest.name.clone())?;
    let started = Instant::now();
    let built = (args.build.build(&project))
        .with_context(|| format!("building {name} from {}", display_dir(&project.root)))?;
    let code = (built.bundle.modules.iter()).filter(|(path, _)| !path.ends_with(".map"));
    let (count, bytes) = code.fold((0, 0), |(n, b), (_, text)| (n + 1, b + text.len()));
    println!(
        "Built {name} ({} in {count} module{}) in {} ms",
        human_size(bytes as u64),
        if count == 1 { "" } else { "s" },
        started.elapsed().as_millis()
    );
    if args.dry_run {
        return Ok(());
    }
    let client = Client::new(&args.control)?;
    let (form, size) = upload_form(&project, built.bundle)?;
    // The control plane refuses these with 413 too; saying so before sending them spares the
    // upload and gives the reason even when the connection is cut mid-body.
    if size > MAX_BUNDLE_BYTES {
        bail!(
            "the modules of {name} add up to {}; the control plane accepts at most {} \
             (413 Payload Too Large). Leave large assets out of the bundle.",
            human_size(size as u64),
            human_size(MAX_BUNDLE_BYTES as u64)
        );
    }
    let started = Instant::now();
    let uploaded: UploadResponse = client
        .json(
            client
                .request(Method::PUT, &format!("/v1/scripts/{name}"))
                .multipart(form),
        )
        .await
        .with_context(|| format!("deploying {name}"))?;
    println!(
        "Uploaded {name} ({}) in {} ms",
        human_size(size as u64),
        started.elapsed().as_millis()
    );
    println!("  version  {}", uploaded.version.id);
    println!("  startup  {:.1} ms", uploaded.startup_time_ms);
    wait_for_nodes(&client, uploaded.revision, &args.wait).await
}

/// Waits until every connected node has applied `revision`, showing progress.
async fn wait_for_nodes(client: &Client, revision: u64, wait: &WaitArgs) -> Result<()> {
    if wait.no_wait {
        println!("Not waiting for the nodes (revision {revision}).");
        return Ok(());
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(wait.wait_secs);
    let progress = indicatif::ProgressBar::new_spinner();
    progress.enable_steady_tick(Duration::from_millis(80));
    loop {
        let list: NodeList = client
            .json(client.request(
                Method::GET,
                &format!("/v1/nodes?revision={revision}&timeout_ms=1000"),
            ))
            .await?;
        let connected: Vec<_> = list.nodes.iter().filter(|n| n.connected).collect();
        let applied = connected.iter().filter(|n| n.revision >= revision).count();
        progress.set_message(format!(
            "waiting for the nodes: {applied}/{} applied",
            connected.len()
        ));
        if connected.is_empty() {
            progress.finish_and_clear();
            println!("No edge node is connected: nodes get this version when they connect.");
            return Ok(());
        }
        if applied == connected.len() {
            progress.finish_and_clear();
            println!(
                "Live on {applied}/{applied} nodes in {} ms",
                started.elapsed().as_millis()
            );
            return Ok(());
        }
        if Instant::now() >= deadline {
            progress.finish_and_clear();
            let lagging: Vec<_> = connected
                .iter()
                .filter(|n| n.revision < revision)
                .map(|n| format!("{} (at revision {})", n.id, n.revision))
                .collect();
            bail!(
                "only {applied}/{} nodes applied revision {revision} within {} s; waiting for: {}\n\
                 The change is stored: nodes apply it when they catch up.",
                connected.len(),
                wait.wait_secs,
                lagging.join(", ")
            );
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
fn format_utc(time_ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(time_ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

async fn versions_of(client: &Client, name: &str) -> Result<VersionList> {
    client
        .json(client.request(Method::GET, &format!("/v1/scripts/{name}/versions")))
        .await
        .with_context(|| format!("listing the versions of {name}"))
}

/// The version whose id is `prefix` or starts with it, if exactly one does.
fn resolve_version<'a>(versions: &'a [VersionInfo], prefix: &str) -> Result<&'a VersionInfo> {
    if let Some(exact) = versions.iter().find(|v| v.id == prefix) {
        return Ok(exact);
    }
    let matches: Vec<_> = versions
        .iter()
        .filter(|v| v.id.starts_with(prefix))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => bail!("no version {prefix:?}: `skiff versions list` shows them"),
        _ => bail!("{prefix:?} names more than one version: give more of the id"),
    }
}

/// Parses `VERSION@PERCENT` arguments; one version alone gets 100.
fn parse_split(args: &[String]) -> Result<Vec<(String, f64)>> {
    let mut split = Vec::new();
    for arg in args {
        let (version, percentage) = match arg.split_once('@') {
            Some((version, pct)) => {
                let pct: f64 = pct
                    .trim_end_matches('%')
                    .parse()
                    .map_err(|_| anyhow!("{arg:?}: the percentage after @ must be a number"))?;
                (version.to_string(), pct)
            }
            None if args.len() == 1 => (arg.clone(), 100.0),
            None => bail!("{arg:?}: give each version a percentage, like V1@90 V2@10"),
        };
        split.push((version, percentage));
    }
    let total: f64 = split.iter().map(|(_, p)| p).sum();
    if (total - 100.0).abs() > 1e-9 {
        bail!("the percentages add up to {total}, not 100");
    }
    Ok(split)
}

pub async fn versions(command: VersionsCommand) -> Result<()> {
    match command {
        VersionsCommand::List {
            script,
            format,
            control,
        } => {
            let name = script.resolve()?;
            let client = Client::new(&control)?;
            let list = versions_of(&client, &name).await?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let deployed: BTreeMap<&str, f64> = list
                .deployment
                .iter()
                .flat_map(|d| &d.versions)
                .map(|v| (v.version_id.as_str(), v.percentage))
                .collect();
            println!(
                "{:<36}  {:<19}  {:>10}  {:>9}  deployed",
                "version", "created (UTC)", "size", "startup"
            );
            for version in &list.versions {
                let share = deployed
                    .get(version.id.as_str())
                    .map(|p| format!("{p}%"))
                    .unwrap_or_default();
                println!(
                    "{:<36}  {:<19}  {:>10}  {:>6.1} ms  {share}",
                    version.id,
                    format_utc(version.created_ms),
                    human_size(version.size),
                    version.startup_time_ms,
                );
            }
            Ok(())
        }
        VersionsCommand::Deploy {
            versions,
            script,
            wait,
            control,
        } => {
            let name = script.resolve()?;
            let split = parse_split(&versions)?;
            let client = Client::new(&control)?;
            let list = versions_of(&client, &name).await?;
            let mut request = DeploymentRequest {
                versions: Vec::new(),
            };
            for (prefix, percentage) in split {
                let version = resolve_version(&list.versions, &prefix)?;
                request.versions.push(DeployedVersion {
                    version_id: version.id.clone(),
                    percentage,
                });
            }
            let change: ChangeResponse = client
                .json(
                    client
                        .request(Method::POST, &format!("/v1/scripts/{name}/deployments"))
                        .json(&request),
                )
                .await
                .with_context(|| format!("deploying versions of {name}"))?;
            let shares: Vec<_> = request
                .versions
                .iter()
                .map(|v| format!("{}@{}%", v.version_id, v.percentage))
                .collect();
            println!("Deployed {name}: {}", shares.join(", "));
            wait_for_nodes(&client, change.revision, &wait).await
        }
    }
}

pub async fn rollback(args: RollbackArgs) -> Result<()> {
    let name = args.script.resolve()?;
    let client = Client::new(&args.control)?;
    let version_id = match &args.version {
        Some(prefix) => {
            let list = versions_of(&client, &name).await?;
            Some(resolve_version(&list.versions, prefix)?.id.clone())
        }
        None => None,
    };
    let change: ChangeResponse = client
        .json(
            client
                .request(Method::POST, &format!("/v1/scripts/{name}/rollback"))
                .json(&RollbackRequest { version_id }),
        )
        .await
        .with_context(|| format!("rolling back {name}"))?;
    let to = change
        .deployment
        .as_ref()
        .and_then(|d| d.versions.first())
        .map(|v| v.version_id.as_str())
        .unwrap_or("?");
    println!("Rolled back {name} to version {to}");
    wait_for_nodes(&client, change.revision, &args.wait).await
}

pub async fn delete(args: DeleteArgs) -> Result<()> {
    validate_script_name(&args.name).map_err(|message| anyhow!(message))?;
    let client = Client::new(&args.control)?;
    let change: ChangeResponse = client
        .json(client.request(Method::DELETE, &format!("/v1/scripts/{}", args.name)))
        .await
        .with_context(|| format!("deleting {}", args.name))?;
    println!(
        "Deleted {}: nodes stop serving it (revision {}).",
        args.name, change.revision
    );
    Ok(())
}

/// The secret's value from stdin: one line typed without echo at a terminal, else all of
/// stdin without its final newline.
fn read_secret_value(key: &str) -> Result<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Value for {key}: ")).context("reading the value")?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the value from stdin")?;
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string()
    };
    if value.is_empty() {
        bail!(
            "the value for {key} is empty: pipe it on stdin, e.g. `echo -n VALUE | skiff secret put {key}`"
        );
    }
    Ok(value)
}

pub async fn secret(command: SecretCommand) -> Result<()> {
    match command {
        SecretCommand::Put {
            key,
            script,
            control,
        } => {
            let name = script.resolve()?;
            let client = Client::new(&control)?;
            let value = read_secret_value(&key)?;
            let change: ChangeResponse = client
                .json(
                    client
                        .request(Method::PUT, &format!("/v1/scripts/{name}/secrets/{key}"))
                        .json(&SecretValue { value }),
                )
                .await
                .with_context(|| format!("setting secret {key} of {name}"))?;
            println!("Secret {key} of {name} set (revision {}).", change.revision);
        }
        SecretCommand::List { script, control } => {
            let name = script.resolve()?;
            let client = Client::new(&control)?;
            let secrets: Vec<SecretName> = client
                .json(client.request(Method::GET, &format!("/v1/scripts/{name}/secrets")))
                .await
                .with_context(|| format!("listing the secrets of {name}"))?;
            if secrets.is_empty() {
                println!("{name} has no secrets.");
            }
            for secret in secrets {
                println!("{}", secret.name);
            }
        }
        SecretCommand::Delete {
            key,
            script,
            control,
        } => {
            let name = script.resolve()?;
            let client = Client::new(&control)?;
            let change: ChangeResponse = client
                .json(client.request(Method::DELETE, &format!("/v1/scripts/{name}/secrets/{key}")))
                .await
                .with_context(|| format!("deleting secret {key} of {name}"))?;
            println!(
                "Secret {key} of {name} deleted (revision {}).",
                change.revision
            );
        }
    }
    Ok(())
}

pub async fn tail(args: TailArgs) -> Result<()> {
    validate_script_name(&args.name).map_err(|message| anyhow!(message))?;
    let client = Client::new(&args.control)?;
    let response = client
        .send(client.request(Method::GET, &format!("/v1/scripts/{}/tail", args.name)))
        .await
        .with_context(|| format!("tailing {}", args.name))?;
    let colors = crate::colour(&std::io::stdout());
    if args.format == Format::Pretty {
        eprintln!(
            "Tailing {}: console output and exceptions from every node. Ctrl-C stops.",
            args.name
        );
    }
    let format = args.format;
    let read = read_events(response, move |data| {
        let mut out = std::io::stdout().lock();
        if format == Format::Json {
            writeln!(out, "{}", escape_json_line(data))?;
        } else {
            let event: TailEvent = serde_json::from_str(data)
                .map_err(|err| anyhow!("unreadable tail event: {err}"))?;
            writeln!(out, "{}", pretty_event(&event, colors))?;
        }
        out.flush()?;
        Ok(())
    });
    tokio::select! {
        result = read => {
            result?;
            bail!("the control plane closed the tail stream");
        }
        result = crate::wait_for_signal() => result,
    }
}

/// A tail event's JSON text with the controls JSON lets through raw (DEL and the C1 controls,
/// which some terminals obey) written as `\u` escapes; outside strings JSON text is ASCII, so
/// the result is the same JSON. (Newlines and the C0 controls are already escaped in JSON.)
fn escape_json_line(data: &str) -> std::borrow::Cow<'_, str> {
    let raw = |c: char| c.is_control();
    if !data.chars().any(raw) {
        return std::borrow::Cow::Borrowed(data);
    }
    let mut out = String::with_capacity(data.len() + 16);
    for c in data.chars() {
        if raw(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One tail event as one line for a terminal: every field the tenant or a node chose goes
/// through [`skiff_runtime::escape_control`], so a message cannot forge lines or send the
/// terminal escape sequences.
fn pretty_event(event: &TailEvent, colors: bool) -> String {
    let paint = |code: &str, text: &str| {
        if colors {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let level_color = match event.level.as_str() {
        "error" => "31",
        "warn" => "33",
        "info" => "36",
        "debug" => "2",
        _ => "37",
    };
    format!(
        "{} {} {} {}",
        paint("2", &format_utc(event.time_ms)),
        paint(
            "2",
            &format!(
                "[{}] {}",
                escape_control(&event.node),
                escape_control(&event.version)
            )
        ),
        paint(level_color, &format!("{:<5}", escape_control(&event.level))),
        escape_control(&event.message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str) -> TailEvent {
        TailEvent {
            script: "s".into(),
            version: "v\u{1b}]0;x\u{7}".into(),
            node: "n\u{1b}[2J".into(),
            level: "log".into(),
            time_ms: 0,
            message: message.into(),
            invocation: None,
        }
    }

    #[test]
    fn tail_lines_carry_no_control_characters() {
        let line = pretty_event(&event("a\nFORGED line \u{1b}]0;owned\u{7} \u{9b}2J"), false);
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        assert!(
            line.ends_with("a\\nFORGED line \\u{1b}]0;owned\\u{7} \\u{9b}2J"),
            "{line}"
        );
        assert!(line.contains("[n\\u{1b}[2J]"), "{line}");
        assert!(line.contains("] v\\u{1b}]0;x\\u{7} "), "{line}");
        // With colours on, the only escape sequences are the ones Skiff adds.
        let coloured = pretty_event(&event("\u{1b}[31mred"), true);
        assert_eq!(coloured.matches('\u{1b}').count(), 6, "{coloured:?}");
    }

    #[test]
    fn json_tail_lines_escape_what_json_leaves_raw() {
        let data = serde_json::to_string(&event("x\u{9b}2J\u{7f}\ny")).expect("json");
        let line = escape_json_line(&data);
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        let back: TailEvent = serde_json::from_str(&line).expect("still json");
        assert_eq!(back.message, "x\u{9b}2J\u{7f}\ny");
    }

    #[test]
    fn split_needs_percentages_adding_to_100() {
        assert_eq!(
            parse_split(&["abc".into()]).expect("one version"),
            vec![("abc".to_string(), 100.0)]
        );
        assert_eq!(
            parse_split(&["a@90".into(), "b@10".into()]).expect("two"),
            vec![("a".to_string(), 90.0), ("b".to_string(), 10.0)]
        );
        assert!(parse_split(&["a@90".into(), "b@20".into()]).is_err());
        assert!(parse_split(&["a".into(), "b@10".into()]).is_err());
        assert!(parse_split(&["a@x".into()]).is_err());
    }
}
