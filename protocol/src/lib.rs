//! skiff-protocol: the JSON the control plane speaks, with the CLI (the admin API) and with the
//! edge nodes (config sync). Every type here is plain data; `PROTOCOL.md` beside this crate
//! lists the endpoints that carry them.

pub mod kv;
mod sse;
pub mod usage;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use sse::SseParser;

/// The header a node names itself with on every request to the control plane.
pub const NODE_ID_HEADER: &str = "x-skiff-node";

/// The header of the sync stream's answer that names the node's session; the node sends it
/// back on its bundle fetches, acks and log posts, which are refused without it.
pub const SESSION_HEADER: &str = "x-skiff-session";

/// The header of a node's sync request that names the zone it serves (shown by
/// `skiff nodes list`).
pub const ZONE_HEADER: &str = "x-skiff-zone";

/// The largest bundle (sum of the module sizes) the control plane accepts.
pub const MAX_BUNDLE_BYTES: usize = 10 * 1024 * 1024;

/// Script names are DNS labels (1-63 of `[a-z0-9-]`, no '-' at either end): a script answers
/// for the host `NAME.<zone>`.
pub fn validate_script_name(name: &str) -> Result<(), String> {
    let valid = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "bad script name {name:?}: use 1 to 63 lowercase letters, digits and '-', \
             not starting or ending with '-'"
        ))
    }
}

/// The `metadata` part of an upload, shaped like Cloudflare's script upload metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadMetadata {
    /// The module that exports the handlers: the name of one of the module parts.
    pub main_module: String,
    #[serde(default)]
    pub bindings: Vec<Binding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_date: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compatibility_flags: Vec<String>,
    #[serde(default)]
    pub routes: Vec<String>,
    /// Skiff's addition to Cloudflare's shape (which sets schedules through an API of their
    /// own): the project's `[triggers] crons`, five-field cron expressions in UTC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crons: Vec<String>,
}

/// One `env` binding of an upload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Binding {
    /// `env.NAME` is the string `text`.
    PlainText { name: String, text: String },
    /// `env.NAME` is the string `text`, stored as a secret: never returned by the API.
    SecretText { name: String, text: String },
    /// `env.NAME` is the JSON value `json`.
    Json {
        name: String,
        json: serde_json::Value,
    },
    /// `env.NAME` is the KV namespace `namespace_id`, which must exist when the version is
    /// uploaded.
    KvNamespace { name: String, namespace_id: String },
    /// `env.NAME` calls the worker `service` on the same node; it must exist when the version
    /// is uploaded.
    Service {
        name: String,
        service: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        environment: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entrypoint: Option<String>,
    },
}

impl Binding {
    /// The name the binding has in `env`.
    pub fn name(&self) -> &str {
        match self {
            Binding::PlainText { name, .. }
            | Binding::SecretText { name, .. }
            | Binding::Json { name, .. }
            | Binding::KvNamespace { name, .. }
            | Binding::Service { name, .. } => name,
        }
    }
}

/// A script's code: the content a version points at. Its address is the sha256 of its
/// canonical JSON ([`Bundle::to_bytes`]); nodes fetch it by that hash and verify it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub main_module: String,
    /// Module path -> JavaScript source.
    pub modules: BTreeMap<String, String>,
}

impl Bundle {
    /// The canonical bytes: compact JSON, modules in path order.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings and a BTreeMap cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// sha256 of the canonical bytes, lowercase hex.
    pub fn hash(&self) -> String {
        sha256_hex(&self.to_bytes())
    }

    /// Parses bundle bytes fetched by `expected_hash`, refusing bytes that do not hash to it.
    pub fn from_verified_bytes(bytes: &[u8], expected_hash: &str) -> Result<Self, String> {
        let actual = sha256_hex(bytes);
        if actual != expected_hash {
            return Err(format!(
                "bundle {expected_hash} arrived with sha256 {actual}: refusing it"
            ));
        }
        serde_json::from_slice(bytes).map_err(|err| format!("bundle {expected_hash}: {err}"))
    }

    /// Total size of the module sources, in bytes.
    pub fn size(&self) -> usize {
        self.modules.values().map(String::len).sum()
    }
}

/// The `env` a worker version runs with: its vars, then its script's secrets; a secret wins
/// over a var of the same name. The control plane, the node and `skiff dev` all build `env`
/// here.
pub fn worker_env<K, V>(
    vars: serde_json::Map<String, serde_json::Value>,
    secrets: impl IntoIterator<Item = (K, V)>,
) -> serde_json::Map<String, serde_json::Value>
where
    K: Into<String>,
    V: Into<String>,
{
    let mut env = vars;
    for (key, value) in secrets {
        env.insert(key.into(), serde_json::Value::String(value.into()));
    }
    env
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An immutable version of a script, as the API shows it. Secret values are never part of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub id: String,
    pub script: String,
    /// sha256 of the [`Bundle`].
    pub bundle: String,
    pub main_module: String,
    pub modules: Vec<String>,
    /// Bundle size in bytes.
    pub size: u64,
    /// Plain-text and JSON bindings.
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// Names of the secrets the version was uploaded with (values are never returned).
    pub secret_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_date: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compatibility_flags: Vec<String>,
    pub routes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crons: Vec<String>,
    /// The bindings that are neither vars nor secrets (KV namespaces, services).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Wall time of loading the upload in an isolate at the control plane (isolate creation included).
    pub startup_time_ms: f64,
}

/// One version of a deployment and the share of requests it gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeployedVersion {
    pub version_id: String,
    /// 0 to 100; the percentages of a deployment add up to 100.
    pub percentage: f64,
}

/// What a script serves: one version at 100 %, or two during a gradual rollout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub versions: Vec<DeployedVersion>,
    pub created_ms: u64,
}

/// `PUT /v1/scripts/{name}` answer: the new version, now deployed at 100 %.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UploadResponse {
    pub version: VersionInfo,
    pub deployment: Deployment,
    /// The revision that carries the deployment; nodes acknowledge it once they serve it.
    pub revision: u64,
    pub startup_time_ms: f64,
}

/// `GET /v1/scripts` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptSummary {
    pub name: String,
    pub deployment: Option<Deployment>,
}

/// `GET /v1/scripts/{name}/versions` answer, newest version first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionList {
    pub versions: Vec<VersionInfo>,
    pub deployment: Option<Deployment>,
}

/// `POST /v1/scripts/{name}/deployments` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRequest {
    pub versions: Vec<DeployedVersion>,
}

/// `POST /v1/scripts/{name}/rollback` body: the version to return to, or (none) the one
/// deployed before the current deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RollbackRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// Answer of every call that changes what nodes serve (deployments, rollback, secrets,
/// deletion): the revision nodes will acknowledge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeResponse {
    pub revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
}

/// `PUT /v1/scripts/{name}/secrets/{key}` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretValue {
    pub value: String,
}

/// `GET /v1/scripts/{name}/secrets` entry: a name, never a value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretName {
    pub name: String,
}

/// Every error body: `{"error": "..."}`, with extra detail when the upload failed to load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    /// Line of the tenant module where loading failed, when the engine reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// `GET /v1/nodes` entry: what the control plane knows about a node. Nodes not seen for the
/// control plane's `--node-ttl` are left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: String,
    /// Holds a sync subscription right now (to any replica of the control plane).
    pub connected: bool,
    /// The last revision the node acknowledged.
    pub revision: u64,
    pub last_seen_ms: u64,
    /// The zone the node serves (`NAME.<zone>`), as its sync request named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The control-plane replica its sync stream is open on, while it is connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

/// `GET /v1/nodes` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeList {
    /// The control plane's current revision.
    pub revision: u64,
    pub nodes: Vec<NodeStatus>,
}

/// Everything a node needs to serve one script: its deployment, the deployed versions and the
/// script's secrets (sent to nodes only, over the node-token sync channel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptState {
    pub name: String,
    pub deployment: Deployment,
    /// The versions the deployment names.
    pub versions: Vec<VersionInfo>,
    pub secrets: BTreeMap<String, String>,
}

/// One script in an [`SyncEvent::Update`]: its new state, or `None` when it was deleted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptChange {
    pub name: String,
    pub state: Option<ScriptState>,
}

/// What the sync channel (`GET /v1/sync`, server-sent events, one JSON object per `data:`
/// line) carries to a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncEvent {
    /// Everything at `revision`: scripts not listed are no longer served, and `kv` is every
    /// live KV entry (the node's KV replica becomes exactly this).
    Snapshot {
        revision: u64,
        scripts: Vec<ScriptState>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kv: Vec<kv::KvChange>,
    },
    /// The scripts that changed since the node's (or the previous event's) revision, each in
    /// its state at `revision`, and the KV keys written or deleted since, each in its latest
    /// state. Apply all of them, then acknowledge `revision`.
    Update {
        revision: u64,
        changes: Vec<ScriptChange>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kv: Vec<kv::KvChange>,
    },
    /// The scripts someone runs `skiff tail` on: the node forwards their log events.
    Tail { scripts: Vec<String> },
    /// Run one tick of a cron trigger on this node now, and report it with
    /// `POST /v1/scheduled/{id}` ([`ScheduledReport`]). The control plane gives each tick to
    /// one node; a node that gets the same `id` again (after a reconnect) runs it once.
    Scheduled(ScheduledTick),
}

/// One tick of one cron trigger of one script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledTick {
    pub id: String,
    pub script: String,
    /// The cron expression, as the project's `[triggers] crons` wrote it.
    pub cron: String,
    /// When the tick was due, in milliseconds since the Unix epoch (`controller.scheduledTime`).
    pub scheduled_time_ms: u64,
}

/// `POST /v1/scheduled/{id}` body (node, session): how the node's run of a tick ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledReport {
    pub outcome: usage::Outcome,
    /// The handler called `controller.noRetry()`: a failed run is not tried again.
    #[serde(default)]
    pub no_retry: bool,
}

/// `POST /v1/nodes/enroll` body: the id a new node chose for itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub node: String,
}

/// `POST /v1/nodes/enroll` answer: the node's own credential, shown this once. Every later
/// request of the node presents it as its bearer token, and the control plane takes the
/// node's identity from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub node: String,
    pub credential: String,
}

/// `POST /v1/nodes/{id}/ack` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub revision: u64,
}

/// A tenant's console output or uncaught exception, from a node (`POST /v1/logs`, a JSON
/// array) to `skiff tail` (`GET /v1/scripts/{name}/tail`, server-sent events).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TailEvent {
    pub script: String,
    /// The version that logged it, as `skiff versions list` names it (empty from a node that
    /// predates the field).
    #[serde(default)]
    pub version: String,
    pub node: String,
    /// `debug`, `log`, `warn` or `error`.
    pub level: String,
    pub time_ms: u64,
    pub message: String,
    /// Set on the event that ends an invocation (`level` is then `log`, or `error` when it did
    /// not end `ok`): how it ended, with its CPU and wall time. Absent on console output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<InvocationSummary>,
}

/// The end of one invocation, as `skiff tail` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvocationSummary {
    /// `fetch` or `scheduled`.
    pub event: String,
    pub outcome: usage::Outcome,
    pub cpu_ms: f64,
    pub wall_ms: f64,
    /// The response status of a fetch that got one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names_are_labels() {
        for good in ["a", "hello-2", &"x".repeat(63)] {
            assert!(validate_script_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Hello", "a.b", "-a", "a-", "a_b", &"x".repeat(64)] {
            assert!(validate_script_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bundle_hash_is_verified() {
        let mut bundle = Bundle {
            main_module: "index.js".into(),
            ..Bundle::default()
        };
        bundle
            .modules
            .insert("index.js".into(), "export default {}".into());
        let bytes = bundle.to_bytes();
        let hash = bundle.hash();
        assert_eq!(Bundle::from_verified_bytes(&bytes, &hash), Ok(bundle));
        let mut tampered = bytes.clone();
        let last = tampered.len() - 3;
        tampered[last] ^= 1;
        let err = Bundle::from_verified_bytes(&tampered, &hash).expect_err("tampered bytes");
        assert!(err.contains("refusing"), "{err}");
    }

    #[test]
    fn bindings_use_cloudflare_names() {
        let metadata: UploadMetadata = serde_json::from_str(
            r#"{"main_module":"index.js","bindings":[
                {"type":"plain_text","name":"A","text":"a"},
                {"type":"secret_text","name":"S","text":"s"},
                {"type":"json","name":"J","json":{"x":1}}]}"#,
        )
        .expect("metadata parses");
        assert_eq!(metadata.bindings.len(), 3);
        assert!(matches!(&metadata.bindings[1], Binding::SecretText { name, .. } if name == "S"));
    }

    #[test]
    fn sync_events_are_tagged() {
        let event = SyncEvent::Tail {
            scripts: vec!["a".into()],
        };
        let text = serde_json::to_string(&event).expect("serialises");
        assert_eq!(text, r#"{"type":"tail","scripts":["a"]}"#);
    }
}
