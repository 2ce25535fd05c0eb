//! `skiff kv namespace ...` and `skiff kv key ...`: Workers KV from the command line, in
//! wrangler's shapes, through the control plane's admin API.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use skiff_project::Project;
use skiff_protocol::ChangeResponse;
use skiff_protocol::kv::{CreateKvNamespace, KvListPage, KvNamespaceInfo, KvWriteResponse};

use crate::client::{Client, ControlArgs};

#[derive(Subcommand)]
pub enum KvCommand {
    /// Create, list and delete namespaces.
    #[command(subcommand)]
    Namespace(NamespaceCommand),
    /// Write, read, list and delete keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Subcommand)]
pub enum NamespaceCommand {
    /// Creates a namespace and prints the config lines that bind it.
    Create {
        title: String,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Lists the namespaces (JSON: id and title).
    List {
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Deletes a namespace and every key in it.
    Delete {
        #[command(flatten)]
        namespace: NamespaceArgs,
        #[command(flatten)]
        control: ControlArgs,
    },
}

/// Which namespace: by id, or by a binding of the project's config.
#[derive(Args, Clone, Debug)]
pub struct NamespaceArgs {
    /// The namespace's id.
    #[arg(long, conflicts_with = "binding", required_unless_present = "binding")]
    namespace_id: Option<String>,
    /// The `[[kv_namespaces]]` binding of the project's config that names the namespace.
    #[arg(long)]
    binding: Option<String>,
    /// The project folder holding its configuration file (with --binding).
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

impl NamespaceArgs {
    fn id(&self) -> Result<String> {
        if let Some(id) = &self.namespace_id {
            return Ok(id.clone());
        }
        let binding = self.binding.as_deref().unwrap_or_default();
        let project = Project::open(&self.project).map_err(|err| anyhow!("{err}"))?;
        project
            .manifest
            .kv_namespaces
            .iter()
            .find(|kv| kv.binding == binding)
            .map(|kv| kv.id.clone())
            .ok_or_else(|| {
                anyhow!("the project's config has no [[kv_namespaces]] binding named {binding:?}")
            })
    }
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Writes a key: the value from the command line or from --path.
    Put {
        key: String,
        /// The value (or use --path).
        #[arg(required_unless_present = "path", conflicts_with = "path")]
        value: Option<String>,
        /// Read the value from this file.
        #[arg(long)]
        path: Option<PathBuf>,
        /// Metadata (JSON, at most 1024 bytes).
        #[arg(long)]
        metadata: Option<String>,
        /// Seconds until the key expires (at least 60).
        #[arg(long)]
        ttl: Option<u64>,
        /// When the key expires, in seconds since the Unix epoch.
        #[arg(long, conflicts_with = "ttl")]
        expiration: Option<u64>,
        #[command(flatten)]
        namespace: NamespaceArgs,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Prints a key's value (its bytes as they are).
    Get {
        key: String,
        #[command(flatten)]
        namespace: NamespaceArgs,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Lists the keys (JSON: name, expiration, metadata), every page.
    List {
        /// Only keys that start with this.
        #[arg(long, default_value = "")]
        prefix: String,
        #[command(flatten)]
        namespace: NamespaceArgs,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Deletes a key.
    Delete {
        key: String,
        #[command(flatten)]
        namespace: NamespaceArgs,
        #[command(flatten)]
        control: ControlArgs,
    },
}

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn value_path(namespace: &str, key: &str) -> String {
    format!(
        "/v1/kv/namespaces/{}/values/{}",
        encode(namespace),
        encode(key)
    )
}

pub async fn run(command: KvCommand) -> Result<()> {
    match command {
        KvCommand::Namespace(command) => namespace(command).await,
        KvCommand::Key(command) => key(command).await,
    }
}

async fn namespace(command: NamespaceCommand) -> Result<()> {
    match command {
        NamespaceCommand::Create { title, control } => {
            let client = Client::new(&control)?;
            let created: KvNamespaceInfo =
                client
                    .json(client.request(Method::POST, "/v1/kv/namespaces").json(
                        &CreateKvNamespace {
                            title: title.clone(),
                        },
                    ))
                    .await
                    .with_context(|| format!("creating KV namespace {title:?}"))?;
            println!("Created KV namespace {title:?} with id {}.", created.id);
            println!("Bind it in skiff.toml or wrangler.toml:\n");
            println!("[[kv_namespaces]]");
            println!("binding = \"{}\"", binding_name(&title));
            println!("id = \"{}\"", created.id);
        }
        NamespaceCommand::List { control } => {
            let client = Client::new(&control)?;
            let namespaces: Vec<KvNamespaceInfo> = client
                .json(client.request(Method::GET, "/v1/kv/namespaces"))
                .await
                .context("listing KV namespaces")?;
            println!("{}", serde_json::to_string_pretty(&namespaces)?);
        }
        NamespaceCommand::Delete { namespace, control } => {
            let id = namespace.id()?;
            let client = Client::new(&control)?;
            let change: ChangeResponse = client
                .json(client.request(
                    Method::DELETE,
                    &format!("/v1/kv/namespaces/{}", encode(&id)),
                ))
                .await
                .with_context(|| format!("deleting KV namespace {id}"))?;
            println!("Deleted KV namespace {id} (revision {}).", change.revision);
        }
    }
    Ok(())
}

/// A binding name from a title, as wrangler suggests one: upper case, `_` for the rest.
fn binding_name(title: &str) -> String {
    let name: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{name}")
    } else {
        name
    }
}

async fn key(command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Put {
            key,
            value,
            path,
            metadata,
            ttl,
            expiration,
            namespace,
            control,
        } => {
            let id = namespace.id()?;
            let bytes = match (value, path) {
                (Some(value), _) => value.into_bytes(),
                (None, Some(path)) => std::fs::read(&path)
                    .with_context(|| format!("reading the value from {}", path.display()))?,
                (None, None) => bail!("give the value, or --path FILE"),
            };
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(metadata) = metadata {
                serde_json::from_str::<serde_json::Value>(&metadata)
                    .context("--metadata is not valid JSON")?;
                query.push(("metadata", metadata));
            }
            if let Some(ttl) = ttl {
                query.push(("expiration_ttl", ttl.to_string()));
            }
            if let Some(expiration) = expiration {
                query.push(("expiration", expiration.to_string()));
            }
            let client = Client::new(&control)?;
            let written: KvWriteResponse = client
                .json(
                    client
                        .request(Method::PUT, &value_path(&id, &key))
                        .query(&query)
                        .body(bytes),
                )
                .await
                .with_context(|| format!("writing key {key:?}"))?;
            println!(
                "Wrote key {key:?} to namespace {id} (revision {}).",
                written.change.revision
            );
        }
        KeyCommand::Get {
            key,
            namespace,
            control,
        } => {
            let id = namespace.id()?;
            let client = Client::new(&control)?;
            let response = client
                .send(client.request(Method::GET, &value_path(&id, &key)))
                .await
                .with_context(|| format!("reading key {key:?}"))?;
            let bytes = response.bytes().await?;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&bytes)?;
            stdout.flush()?;
        }
        KeyCommand::List {
            prefix,
            namespace,
            control,
        } => {
            let id = namespace.id()?;
            let client = Client::new(&control)?;
            let mut keys = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut query = vec![("prefix", prefix.clone())];
                if let Some(cursor) = &cursor {
                    query.push(("cursor", cursor.clone()));
                }
                let page: KvListPage = client
                    .json(
                        client
                            .request(
                                Method::GET,
                                &format!("/v1/kv/namespaces/{}/keys", encode(&id)),
                            )
                            .query(&query),
                    )
                    .await
                    .with_context(|| format!("listing the keys of namespace {id}"))?;
                keys.extend(page.keys);
                match page.cursor {
                    Some(next) if !page.list_complete => cursor = Some(next),
                    _ => break,
                }
            }
            println!("{}", serde_json::to_string_pretty(&keys)?);
        }
        KeyCommand::Delete {
            key,
            namespace,
            control,
        } => {
            let id = namespace.id()?;
            let client = Client::new(&control)?;
            let written: KvWriteResponse = client
                .json(client.request(Method::DELETE, &value_path(&id, &key)))
                .await
                .with_context(|| format!("deleting key {key:?}"))?;
            println!(
                "Deleted key {key:?} from namespace {id} (revision {}).",
                written.change.revision
            );
        }
    }
    Ok(())
}
