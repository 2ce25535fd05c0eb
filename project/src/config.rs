//! A project's configuration file: `skiff.toml`, or, when there is none, wrangler's
//! `wrangler.toml`, `wrangler.json` or `wrangler.jsonc` (comments and trailing commas allowed),
//! read the way wrangler reads them so that a Workers project deploys unchanged.
//!
//! Every format is first read into one JSON tree; the environment chosen with `--env NAME` is
//! then applied as wrangler applies it: the keys of `[env.NAME]` override the top-level ones,
//! bindings (`vars`, `kv_namespaces`, `services`, ...) are not inherited, and the name is
//! `<name>-<NAME>` unless the environment names itself. What Skiff does not support is kept as a
//! list of key paths ([`Manifest::unsupported`]), each once, for the caller to warn about: never
//! dropped silently, never a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{SourceError, io_error};

/// The configuration files a project folder may have, in the order they are looked for.
pub const CONFIG_FILES: [&str; 4] = [
    "skiff.toml",
    "wrangler.toml",
    "wrangler.json",
    "wrangler.jsonc",
];

/// Top-level keys that a named environment does not inherit (wrangler's bindings): the
/// environment has its own or none.
const NOT_INHERITED: &[&str] = &[
    "vars",
    "define",
    "kv_namespaces",
    "services",
    "durable_objects",
    "r2_buckets",
    "d1_databases",
    "queues",
    "vectorize",
    "hyperdrive",
    "analytics_engine_datasets",
    "ai",
    "browser",
    "mtls_certificates",
    "send_email",
    "dispatch_namespaces",
    "workflows",
    "unsafe",
];

/// A module rule: files matching `globs` are imported as `type` (`Text`, `Data`,
/// `CompiledWasm`, `ESModule`, `CommonJS`), as wrangler's `rules` say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRule {
    #[serde(rename = "type")]
    pub kind: String,
    pub globs: Vec<String>,
    #[serde(default)]
    pub fallthrough: bool,
}

/// `[[kv_namespaces]]`: `env.<binding>` is the namespace `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvNamespace {
    pub binding: String,
    pub id: String,
}

/// `[[services]]`: `env.<binding>` calls the worker `service`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceBinding {
    pub binding: String,
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
}

/// A project's configuration, with the chosen environment applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    pub name: Option<String>,
    /// The main module, relative to the project folder (default `index.js`, or `src/index.js`
    /// when that exists).
    pub main: Option<String>,
    pub compatibility_date: Option<String>,
    pub compatibility_flags: Vec<String>,
    pub vars: BTreeMap<String, Value>,
    pub routes: Vec<String>,
    pub rules: Vec<ModuleRule>,
    /// `[triggers] crons`: five-field cron expressions, UTC.
    pub crons: Vec<String>,
    pub kv_namespaces: Vec<KvNamespace>,
    pub services: Vec<ServiceBinding>,
    /// `no_bundle = true`: upload the modules as they are.
    pub no_bundle: bool,
    /// The file this was read from; `None` when the project has none.
    pub path: Option<PathBuf>,
    /// Key paths Skiff does not support (`durable_objects`, `env.staging.r2_buckets`,
    /// `kv_namespaces[].preview_id`), each once, in the order met.
    pub unsupported: Vec<String>,
}

impl Manifest {
    /// The configuration of the project in `root`: its first file of [`CONFIG_FILES`], with
    /// environment `env` applied; the default when it has none (and no `env` is asked for).
    pub fn load(root: &Path, env: Option<&str>) -> Result<Self, SourceError> {
        match Self::find(root) {
            Some(path) => Self::read(&path, env),
            None => match env {
                Some(env) => Err(SourceError::Invalid {
                    path: root.to_path_buf(),
                    message: format!(
                        "--env {env} needs an [env.{env}] section, and there is no skiff.toml \
                         or wrangler.toml/json/jsonc here"
                    ),
                }),
                None => Ok(Self::default()),
            },
        }
    }

    /// The configuration file of the project in `root`, if it has one.
    pub fn find(root: &Path) -> Option<PathBuf> {
        CONFIG_FILES
            .iter()
            .map(|name| root.join(name))
            .find(|path| path.is_file())
    }

    /// Reads the configuration file at `path` (its format from its name) with environment
    /// `env` applied.
    pub fn read(path: &Path, env: Option<&str>) -> Result<Self, SourceError> {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        let invalid = |message: String| SourceError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let tree = parse_tree(path, &text).map_err(invalid)?;
        let mut manifest = Self::from_tree(tree, env).map_err(invalid)?;
        manifest.path = Some(path.to_path_buf());
        Ok(manifest)
    }

    /// The manifest a parsed configuration tree describes, with environment `env` applied.
    pub fn from_tree(tree: Value, env: Option<&str>) -> Result<Self, String> {
        let Value::Object(mut top) = tree else {
            return Err("the configuration is not a table of keys".to_string());
        };
        let mut unsupported = Unsupported::default();
        let mut envs = match top.remove("env") {
            Some(Value::Object(envs)) => envs,
            _ => Map::new(),
        };
        let mut resolved = match env {
            None => {
                // The environments not chosen are only checked for keys Skiff lacks.
                for (name, section) in envs {
                    if let Value::Object(mut section) = section {
                        take_known(&mut section, &format!("env.{name}."), &mut unsupported)?;
                    }
                }
                top
            }
            Some(env) => {
                let Some(Value::Object(section)) = envs.remove(env) else {
                    return Err(format!(
                        "--env {env}: there is no [env.{env}] section (wrangler.json: \"env\": \
                         {{ \"{env}\": {{ ... }} }})"
                    ));
                };
                let top_name = top.get("name").and_then(Value::as_str).map(str::to_string);
                let names_itself = section.contains_key("name");
                let mut resolved: Map<String, Value> = top
                    .into_iter()
                    .filter(|(key, _)| !NOT_INHERITED.contains(&key.as_str()))
                    .collect();
                resolved.extend(section);
                if !names_itself && let Some(name) = top_name {
                    resolved.insert("name".into(), Value::String(format!("{name}-{env}")));
                }
                resolved
            }
        };
        let mut manifest = take_known(&mut resolved, "", &mut unsupported)?;
        manifest.unsupported = unsupported.0;
        Ok(manifest)
    }

    /// One warning line per unsupported key, naming the file.
    pub fn warnings(&self) -> Vec<String> {
        let file = self
            .path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "the configuration".to_string());
        self.unsupported
            .iter()
            .map(|key| format!("{file}: `{key}` is not supported by Skiff and was ignored"))
            .collect()
    }
}

/// Key paths met that Skiff does not support, each once.
#[derive(Default)]
struct Unsupported(Vec<String>);

impl Unsupported {
    fn note(&mut self, path: String) {
        if !self.0.contains(&path) {
            self.0.push(path);
        }
    }
}

/// Parses `text` by the format `path`'s name says into a JSON tree.
fn parse_tree(path: &Path, text: &str) -> Result<Value, String> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension {
        "json" | "jsonc" => {
            let parsed = jsonc_parser::parse_to_serde_value::<Value>(text, &Default::default())
                .map_err(|err| err.to_string())?;
            Ok(parsed)
        }
        _ => {
            let table: toml::Table = toml::from_str(text).map_err(|err| err.to_string())?;
            Ok(toml_to_json(&toml::Value::Table(table)))
        }
    }
}

/// Converts a TOML value into JSON (dates become their text).
pub(crate) fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => items.iter().map(toml_to_json).collect(),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// Takes the keys Skiff supports out of `table` into a manifest and notes the rest under
/// `prefix` (`""` or `"env.NAME."`).
fn take_known(
    table: &mut Map<String, Value>,
    prefix: &str,
    unsupported: &mut Unsupported,
) -> Result<Manifest, String> {
    let mut manifest = Manifest {
        name: take_string(table, prefix, "name")?,
        main: take_string(table, prefix, "main")?,
        compatibility_date: take_string(table, prefix, "compatibility_date")?,
        compatibility_flags: take_strings(table, prefix, "compatibility_flags")?,
        no_bundle: match table.remove("no_bundle") {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(other) => return Err(wrong_type(prefix, "no_bundle", "true or false", &other)),
        },
        ..Manifest::default()
    };
    // A table of strings, numbers, booleans or JSON values.
    match table.remove("vars") {
        None => {}
        Some(Value::Object(vars)) => manifest.vars = vars.into_iter().collect(),
        Some(other) => return Err(wrong_type(prefix, "vars", "a table", &other)),
    }
    // wrangler's `route` (one) and `routes` (strings or `{ pattern, ... }` tables).
    for key in ["route", "routes"] {
        let values = match table.remove(key) {
            None => continue,
            Some(Value::Array(values)) => values,
            Some(value) => vec![value],
        };
        for value in values {
            match value {
                Value::String(pattern) => manifest.routes.push(pattern),
                Value::Object(mut route) => {
                    match route.remove("pattern") {
                        Some(Value::String(pattern)) => manifest.routes.push(pattern),
                        _ => return Err(format!("{prefix}{key}: a route table needs a `pattern`")),
                    }
                    for extra in route.keys() {
                        unsupported.note(format!("{prefix}{key}[].{extra}"));
                    }
                }
                other => return Err(wrong_type(prefix, key, "a pattern", &other)),
            }
        }
    }
    if let Some(value) = table.remove("rules") {
        manifest.rules = entries(
            value,
            prefix,
            "rules",
            &["type", "globs", "fallthrough"],
            unsupported,
        )?;
    }
    match table.remove("triggers") {
        None => {}
        Some(Value::Object(mut triggers)) => {
            manifest.crons = take_strings(&mut triggers, &format!("{prefix}triggers."), "crons")?;
            for key in triggers.keys() {
                unsupported.note(format!("{prefix}triggers.{key}"));
            }
        }
        Some(other) => return Err(wrong_type(prefix, "triggers", "a table", &other)),
    }
    if let Some(value) = table.remove("kv_namespaces") {
        manifest.kv_namespaces = entries(
            value,
            prefix,
            "kv_namespaces",
            &["binding", "id"],
            unsupported,
        )?;
    }
    if let Some(value) = table.remove("services") {
        manifest.services = entries(
            value,
            prefix,
            "services",
            &["binding", "service", "environment", "entrypoint"],
            unsupported,
        )?;
    }
    // A JSON schema reference is for editors, not a setting.
    table.remove("$schema");
    for key in table.keys() {
        unsupported.note(format!("{prefix}{key}"));
    }
    Ok(manifest)
}

/// The entries of an array of tables (`[[kv_namespaces]]`), keeping the `known` keys of each
/// and noting the others.
fn entries<T: serde::de::DeserializeOwned>(
    value: Value,
    prefix: &str,
    key: &str,
    known: &[&str],
    unsupported: &mut Unsupported,
) -> Result<Vec<T>, String> {
    let Value::Array(items) = value else {
        return Err(wrong_type(prefix, key, "an array of tables", &value));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let Value::Object(mut item) = item else {
                return Err(wrong_type(
                    prefix,
                    &format!("{key}[{index}]"),
                    "a table",
                    &item,
                ));
            };
            let extra: Vec<String> = item
                .keys()
                .filter(|k| !known.contains(&k.as_str()))
                .cloned()
                .collect();
            for extra in extra {
                item.remove(&extra);
                unsupported.note(format!("{prefix}{key}[].{extra}"));
            }
            serde_json::from_value(Value::Object(item))
                .map_err(|err| format!("{prefix}{key}[{index}]: {err}"))
        })
        .collect()
}

fn take_string(
    table: &mut Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Option<String>, String> {
    match table.remove(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(prefix, key, "a string", &other)),
    }
}

fn take_strings(
    table: &mut Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<Vec<String>, String> {
    match table.remove(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(wrong_type(prefix, key, "a list of strings", &other)),
            })
            .collect(),
        Some(other) => Err(wrong_type(prefix, key, "a list of strings", &other)),
    }
}

fn wrong_type(prefix: &str, key: &str, expected: &str, found: &Value) -> String {
    format!("{prefix}{key} must be {expected}, not {found}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn toml(text: &str, env: Option<&str>) -> Result<Manifest, String> {
        Manifest::from_tree(parse_tree(Path::new("wrangler.toml"), text)?, env)
    }

    const WRANGLER: &str = r#"
name = "shop"
main = "src/index.ts"
compatibility_date = "2026-11-01"
compatibility_flags = ["nodejs_compat"]
workers_dev = true
routes = ["shop.example.com/*", { pattern = "api.example.com/*", zone_name = "example.com" }]

[vars]
GREETING = "hello"
LIMIT = 3

[triggers]
crons = ["*/5 * * * *"]

[[kv_namespaces]]
binding = "CONFIG"
id = "abc123"
preview_id = "def456"

[[services]]
binding = "AUTH"
service = "auth-worker"

[[rules]]
type = "Text"
globs = ["**/*.md"]

[[durable_objects.bindings]]
name = "ROOM"
class_name = "Room"

[env.staging]
vars = { GREETING = "hi from staging" }
r2_buckets = [{ binding = "B", bucket_name = "b" }]

[env.production]
name = "shop-live"
"#;

    #[test]
    fn wrangler_toml_maps_what_skiff_supports() {
        let m = toml(WRANGLER, None).expect("reads");
        assert_eq!(m.name.as_deref(), Some("shop"));
        assert_eq!(m.main.as_deref(), Some("src/index.ts"));
        assert_eq!(m.compatibility_date.as_deref(), Some("2026-11-01"));
        assert_eq!(m.compatibility_flags, ["nodejs_compat"]);
        assert_eq!(m.vars["GREETING"], json!("hello"));
        assert_eq!(m.vars["LIMIT"], json!(3));
        assert_eq!(m.routes, ["shop.example.com/*", "api.example.com/*"]);
        assert_eq!(m.crons, ["*/5 * * * *"]);
        assert_eq!(
            m.kv_namespaces,
            [KvNamespace {
                binding: "CONFIG".into(),
                id: "abc123".into()
            }]
        );
        assert_eq!(m.services[0].service, "auth-worker");
        assert_eq!(m.rules[0].kind, "Text");
        let mut unsupported = m.unsupported.clone();
        unsupported.sort();
        assert_eq!(
            unsupported,
            [
                "durable_objects",
                "env.staging.r2_buckets",
                "kv_namespaces[].preview_id",
                "routes[].zone_name",
                "workers_dev",
            ]
        );
    }

    #[test]
    fn a_named_environment_overrides_and_does_not_inherit_bindings() {
        let staging = toml(WRANGLER, Some("staging")).expect("reads");
        assert_eq!(
            staging.name.as_deref(),
            Some("shop-staging"),
            "wrangler's default name"
        );
        assert_eq!(staging.main.as_deref(), Some("src/index.ts"), "inherited");
        assert_eq!(staging.crons, ["*/5 * * * *"], "inherited");
        assert_eq!(staging.vars.len(), 1);
        assert_eq!(staging.vars["GREETING"], json!("hi from staging"));
        assert!(
            staging.kv_namespaces.is_empty(),
            "bindings are not inherited"
        );
        assert!(staging.services.is_empty());
        assert!(staging.unsupported.contains(&"r2_buckets".to_string()));

        let production = toml(WRANGLER, Some("production")).expect("reads");
        assert_eq!(production.name.as_deref(), Some("shop-live"));
        assert!(production.vars.is_empty(), "vars are not inherited");

        let missing = toml(WRANGLER, Some("qa")).expect_err("no such environment");
        assert!(missing.contains("[env.qa]"), "{missing}");
    }

    #[test]
    fn jsonc_allows_comments_and_trailing_commas() {
        let text = r#"{
  // The worker's name.
  "$schema": "node_modules/wrangler/config-schema.json",
  "name": "api", /* inline */
  "main": "src/index.ts",
  "vars": { "MODE": "json", "NESTED": { "a": [1, 2,], }, },
  "observability": { "enabled": true },
}"#;
        let m = Manifest::from_tree(
            parse_tree(Path::new("wrangler.jsonc"), text).expect("parses"),
            None,
        )
        .expect("reads");
        assert_eq!(m.name.as_deref(), Some("api"));
        assert_eq!(m.vars["NESTED"], json!({ "a": [1, 2] }));
        assert_eq!(m.unsupported, ["observability"]);

        let broken = parse_tree(Path::new("wrangler.json"), "{\n  \"name\": ,\n}")
            .expect_err("a syntax error");
        assert!(broken.contains("line 2"), "{broken}");
    }

    #[test]
    fn wrong_types_are_errors_that_name_the_key() {
        let err = toml("name = 3", None).expect_err("a number is no name");
        assert!(err.starts_with("name must be a string"), "{err}");
        let err = toml("[triggers]\ncrons = \"* * * * *\"", None).expect_err("not a list");
        assert!(err.starts_with("triggers.crons must be a list"), "{err}");
        let err = toml("[[kv_namespaces]]\nbinding = \"A\"", None).expect_err("no id");
        assert!(err.contains("kv_namespaces[0]"), "{err}");
    }

    #[test]
    fn the_first_config_file_found_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("wrangler.json"),
            r#"{ "name": "from-json" }"#,
        )
        .expect("write");
        let m = Manifest::load(dir.path(), None).expect("loads");
        assert_eq!(m.name.as_deref(), Some("from-json"));
        std::fs::write(dir.path().join("wrangler.toml"), "name = \"from-toml\"").expect("write");
        assert_eq!(
            Manifest::load(dir.path(), None)
                .expect("loads")
                .name
                .as_deref(),
            Some("from-toml")
        );
        std::fs::write(dir.path().join("skiff.toml"), "name = \"from-skiff\"").expect("write");
        let m = Manifest::load(dir.path(), None).expect("loads");
        assert_eq!(m.name.as_deref(), Some("from-skiff"));
        assert_eq!(m.warnings(), Vec::<String>::new());
        std::fs::write(
            dir.path().join("skiff.toml"),
            "name = \"x\"\nlogpush = true",
        )
        .expect("write");
        assert_eq!(
            Manifest::load(dir.path(), None).expect("loads").warnings(),
            ["skiff.toml: `logpush` is not supported by Skiff and was ignored"]
        );
    }
}
