//! `PUT /v1/scripts/{name}`: read the multipart upload, load it in a real isolate, and only
//! then store it as a new version deployed at 100 %.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header::CONTENT_LENGTH};
use axum::response::IntoResponse;
use skiff_protocol::{
    Binding, Bundle, DeployedVersion, Deployment, ErrorBody, UploadMetadata, UploadResponse,
    VersionInfo,
};
use skiff_runtime::{
    BUNDLE_BASE, Compatibility, IsolateLimits, IsolateOptions, LimitKind, RuntimeError,
    ScriptBundle,
};

use crate::error::{ApiError, StoreError};
use crate::state::AppState;
use crate::store::{self, Tx, now_ms};
use crate::validate::{validate_env_name, validate_module_path, validate_script_name};

/// Room for the metadata part and the multipart framing above the module limit.
pub const BODY_OVERHEAD: usize = 1024 * 1024;

/// The largest `metadata` part.
const METADATA_LIMIT: usize = 512 * 1024;

pub async fn put_script(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<impl IntoResponse, ApiError> {
    validate_script_name(&name)?;
    let max = state.config.max_bundle_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > (max + BODY_OVERHEAD) as u64) {
        return Err(too_large(max));
    }
    let multipart = multipart
        .map_err(|err| ApiError::bad_request(format!("bad upload: {}", err.body_text())))?;
    let (metadata, bundle) = read_upload(multipart, max).await?;
    crate::cron::validate(&metadata.crons)?;
    validate_compatibility(&metadata)?;

    // The env the version runs with on a node: vars, then the script's secrets (existing
    // ones, overridden by the ones in this upload).
    let Bindings {
        vars,
        secrets: upload_secrets,
        others: other_bindings,
    } = split_bindings(&metadata.bindings)?;
    let existing = {
        let mut tx = state.store.read().await?;
        let secrets = store::secrets(&mut tx, &name).await?;
        tx.commit().await?;
        secrets
    };
    let env = skiff_protocol::worker_env(
        vars.clone(),
        existing.into_iter().chain(upload_secrets.clone()),
    );

    let startup_time_ms = validate_in_isolate(&state, &name, &bundle, &metadata, env).await?;

    let bytes = bundle.to_bytes();
    let hash = skiff_protocol::sha256_hex(&bytes);
    let now = now_ms();
    let version = VersionInfo {
        id: uuid::Uuid::new_v4().to_string(),
        script: name.clone(),
        bundle: hash.clone(),
        main_module: bundle.main_module.clone(),
        modules: bundle.modules.keys().cloned().collect(),
        size: bundle.size() as u64,
        vars,
        secret_names: upload_secrets.keys().cloned().collect(),
        compatibility_date: metadata.compatibility_date.clone(),
        compatibility_flags: metadata.compatibility_flags.clone(),
        routes: metadata.routes.clone(),
        crons: metadata.crons.clone(),
        bindings: other_bindings,
        created_ms: now,
        startup_time_ms,
    };
    let deployment = Deployment {
        versions: vec![DeployedVersion {
            version_id: version.id.clone(),
            percentage: 100.0,
        }],
        created_ms: now,
    };
    let revision = {
        let mut tx = state.store.write().await?;
        check_bound(&mut tx, &version.script, &version.bindings).await?;
        store::ensure_script(&mut tx, &version.script).await?;
        store::put_bundle(&mut tx, &hash, bytes).await?;
        store::insert_version(&mut tx, &version).await?;
        for (key, value) in &upload_secrets {
            store::put_secret(&mut tx, &version.script, key, value).await?;
        }
        let revision = store::log_change(&mut tx, &version.script).await?;
        store::insert_deployment(&mut tx, &version.script, &deployment, revision).await?;
        // Committed before the answer: a deploy the CLI saw succeed is durable.
        tx.commit().await?;
        revision
    };
    state.published(revision);
    tracing::info!(script = %name, version = %version.id, revision, "new version deployed");
    Ok((
        StatusCode::CREATED,
        Json(UploadResponse {
            version,
            deployment,
            revision,
            startup_time_ms,
        }),
    ))
}

/// Refuses a version bound to a KV namespace or a service that does not exist (a script may
/// bind itself). Checked in the transaction that stores the version.
async fn check_bound(tx: &mut Tx, script: &str, bindings: &[Binding]) -> Result<(), StoreError> {
    for binding in bindings {
        let missing = match binding {
            Binding::KvNamespace { name, namespace_id } => {
                (!crate::kv_store::namespace_exists(tx, namespace_id).await?).then(|| {
                    format!(
                        "binding {name}: no KV namespace with id {namespace_id:?}; create one \
                         with `skiff kv namespace create TITLE` and put its id in the config"
                    )
                })
            }
            Binding::Service { name, service, .. } => {
                (service != script && !store::script_exists(tx, service).await?).then(|| {
                    format!(
                        "binding {name}: no script named {service:?} to bind as a service; \
                         deploy it first"
                    )
                })
            }
            _ => None,
        };
        if let Some(message) = missing {
            return Err(StoreError::Invalid(message));
        }
    }
    Ok(())
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the script's modules exceed the {} limit",
            describe_size(max)
        ),
    )
}

/// `10 MiB`, or `1000 bytes (0.00 MiB)` for a limit that is not whole MiB.
fn describe_size(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes ({:.2} MiB)", bytes as f64 / MIB as f64)
    }
}

fn multipart_error(err: MultipartError, max: usize) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max)
    } else {
        ApiError::bad_request(format!("bad upload: {}", err.body_text()))
    }
}

/// Reads the metadata part and the module parts, counting module bytes against `max`.
async fn read_upload(
    mut multipart: Multipart,
    max: usize,
) -> Result<(UploadMetadata, Bundle), ApiError> {
    let first = multipart
        .next_field()
        .await
        .map_err(|err| multipart_error(err, max))?
        .ok_or_else(|| ApiError::bad_request("bad upload: no parts"))?;
    if first.name() != Some("metadata") {
        return Err(ApiError::bad_request(
            "bad upload: the first part must be `metadata`",
        ));
    }
    let mut metadata_bytes = Vec::new();
    read_part(first, &mut metadata_bytes, METADATA_LIMIT, max, || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the metadata part exceeds {}",
                describe_size(METADATA_LIMIT)
            ),
        )
    })
    .await?;
    let metadata: UploadMetadata = serde_json::from_slice(&metadata_bytes)
        .map_err(|err| ApiError::bad_request(format!("bad upload metadata: {err}")))?;

    let mut modules = BTreeMap::new();
    let mut total = 0usize;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|err| multipart_error(err, max))?
    {
        let path = part_name(&field)
            .ok_or_else(|| ApiError::bad_request("bad upload: a module part has no name"))?;
        validate_module_path(&path)?;
        if path == "metadata" || modules.contains_key(&path) {
            return Err(ApiError::bad_request(format!(
                "bad upload: part {path:?} appears twice"
            )));
        }
        let mut source = Vec::new();
        read_part(field, &mut source, max.saturating_sub(total), max, || {
            too_large(max)
        })
        .await?;
        total += source.len();
        let source = String::from_utf8(source).map_err(|_| {
            ApiError::bad_request(format!("bad upload: module {path:?} is not UTF-8 text"))
        })?;
        modules.insert(path, source);
    }
    if modules.is_empty() {
        return Err(ApiError::bad_request("bad upload: no module parts"));
    }
    if !modules.contains_key(&metadata.main_module) {
        return Err(ApiError::bad_request(format!(
            "main_module {:?} is not one of the uploaded modules ({})",
            metadata.main_module,
            modules.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let bundle = Bundle {
        main_module: metadata.main_module.clone(),
        modules,
    };
    Ok((metadata, bundle))
}

/// A part's name: `name="..."`, or the RFC 5987 form `name*=utf-8''...` that some clients
/// (reqwest among them) use for names with characters such as '/'.
fn part_name(field: &Field<'_>) -> Option<String> {
    if let Some(name) = field.name() {
        return Some(name.to_string());
    }
    let disposition = field
        .headers()
        .get(axum::http::header::CONTENT_DISPOSITION)?
        .to_str()
        .ok()?;
    let value = disposition
        .split(';')
        .map(str::trim)
        .find_map(|param| param.strip_prefix("name*="))?;
    let (charset, rest) = value.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let (_language, encoded) = rest.split_once('\'')?;
    percent_decode(encoded)
}

fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// Appends the part's bytes to `out`, failing with `overflow()` once they exceed `room`.
async fn read_part(
    mut field: Field<'_>,
    out: &mut Vec<u8>,
    room: usize,
    max: usize,
    overflow: impl Fn() -> ApiError,
) -> Result<(), ApiError> {
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|err| multipart_error(err, max))?
    {
        if out.len() + chunk.len() > room {
            return Err(overflow());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(())
}

/// Plain-text and JSON bindings by name.
type Vars = serde_json::Map<String, serde_json::Value>;

/// An upload's bindings by kind.
struct Bindings {
    /// Plain text and JSON.
    vars: Vars,
    secrets: BTreeMap<String, String>,
    /// KV namespaces and services, kept with the version as they came.
    others: Vec<Binding>,
}

/// Sorts bindings by kind, refusing bad and duplicate names.
fn split_bindings(bindings: &[Binding]) -> Result<Bindings, ApiError> {
    let mut split = Bindings {
        vars: serde_json::Map::new(),
        secrets: BTreeMap::new(),
        others: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    for binding in bindings {
        let name = binding.name();
        validate_env_name(name)?;
        if !seen.insert(name.to_string()) {
            return Err(ApiError::bad_request(format!(
                "binding {name:?} is declared twice"
            )));
        }
        match binding {
            Binding::PlainText { name, text } => {
                split
                    .vars
                    .insert(name.clone(), serde_json::Value::String(text.clone()));
            }
            Binding::Json { name, json } => {
                split.vars.insert(name.clone(), json.clone());
            }
            Binding::SecretText { name, text } => {
                split.secrets.insert(name.clone(), text.clone());
            }
            Binding::KvNamespace { .. } | Binding::Service { .. } => {
                split.others.push(binding.clone());
            }
        }
    }
    Ok(split)
}

/// Refuses a compatibility date or flags that the runtime would refuse to load (see
/// [`Compatibility::resolve`]), and a date after today, as Cloudflare does. Today is taken one
/// day ahead of UTC, where it already is in the easternmost time zones.
fn validate_compatibility(metadata: &UploadMetadata) -> Result<(), ApiError> {
    Compatibility::resolve(
        metadata.compatibility_date.as_deref(),
        &metadata.compatibility_flags,
    )
    .map_err(ApiError::bad_request)?;
    let latest = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    match &metadata.compatibility_date {
        // Both are `YYYY-MM-DD`, so their text sorts as their dates do.
        Some(date) if *date > latest => Err(ApiError::bad_request(format!(
            "Can't set compatibility date in the future: {date}"
        ))),
        _ => Ok(()),
    }
}

/// Loads the bundle in an isolate under the startup limits and returns the wall time the
/// load took, in milliseconds (isolate creation included). A top level still running (or
/// awaiting) after `validation_timeout` is refused; the runtime then stops its evaluation,
/// because nothing waits for it any more.
async fn validate_in_isolate(
    state: &AppState,
    name: &str,
    bundle: &Bundle,
    metadata: &UploadMetadata,
    env: serde_json::Map<String, serde_json::Value>,
) -> Result<f64, ApiError> {
    let script = Arc::new(ScriptBundle {
        name: name.to_string(),
        main_module: bundle.main_module.clone(),
        modules: bundle.modules.clone(),
        env,
        // Only the top level runs here, and `env` is not in its reach.
        bindings: Vec::new(),
        version: None,
        compatibility_date: metadata.compatibility_date.clone(),
        compatibility_flags: metadata.compatibility_flags.clone(),
    });
    let mut options = IsolateOptions::new(name);
    // The isolate is stopped right after it loads; nothing it starts is waited for.
    options.wait_until = std::time::Duration::ZERO;
    options.limits = IsolateLimits {
        startup_cpu: state.config.startup_cpu,
        memory: state.config.memory_bytes,
        ..IsolateLimits::default()
    };
    let started = Instant::now();
    let bound = state.config.validation_timeout;
    let Ok(result) = tokio::time::timeout(bound, state.pool.load(script, options)).await else {
        tracing::info!(script = %name, "upload refused: its top level did not finish in time");
        return Err(ApiError::bad_request(format!(
            "the script failed to load: its top level did not finish within {} ms \
             (a top-level await that never settles, or one that waits too long)",
            bound.as_millis()
        )));
    };
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(handle) => {
            handle.shutdown();
            Ok(elapsed)
        }
        Err(RuntimeError::Load { message, .. }) => {
            tracing::info!(script = %name, %message, "upload refused: it does not load");
            Err(load_error(&message))
        }
        Err(RuntimeError::Limit { kind, .. }) => {
            let limit = match kind {
                LimitKind::Cpu => format!("{} ms", state.config.startup_cpu.as_millis()),
                LimitKind::Memory => format!("{} MiB", state.config.memory_bytes >> 20),
            };
            let message = format!(
                "script startup exceeded the {} limit ({limit})",
                kind.name()
            );
            tracing::info!(script = %name, %message, "upload refused: it does not load");
            Err(load_error(&message))
        }
        // The platform's fault, not the upload's: the detail stays in the log.
        Err(err) => {
            tracing::error!(script = %name, error = %err, "could not validate an upload");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not load the script to validate it; try again",
            ))
        }
    }
}

/// A 400 for a bundle that failed to load, with the line the engine reported.
fn load_error(message: &str) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        body: ErrorBody {
            error: format!(
                "the script failed to load: {}",
                message.replace(BUNDLE_BASE, "")
            ),
            line: error_line(message),
        },
    }
}

/// The line of the first `file:///bundle/PATH:LINE:COL` location in an engine message.
fn error_line(message: &str) -> Option<u32> {
    let start = message.find(BUNDLE_BASE)? + BUNDLE_BASE.len();
    let location: &str = message[start..]
        .split(|c: char| c == ')' || c.is_whitespace())
        .next()?;
    let mut parts = location.rsplitn(3, ':');
    let column = parts.next()?;
    let line = parts.next()?;
    parts.next()?;
    column.parse::<u32>().ok()?;
    line.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_comes_from_the_first_bundle_location() {
        assert_eq!(
            error_line(
                "SyntaxError: Unexpected token ';'\n    at <anonymous> (file:///bundle/index.js:3:16)"
            ),
            Some(3)
        );
        assert_eq!(
            error_line("Error: boom\n    at file:///bundle/lib/a.js:12:7\n    at x"),
            Some(12)
        );
        assert_eq!(
            error_line("script startup exceeded the CPU time limit (400 ms)"),
            None
        );
    }

    #[test]
    fn percent_encoded_names_decode() {
        assert_eq!(percent_decode("lib%2Fx.js").as_deref(), Some("lib/x.js"));
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(percent_decode("plain.js").as_deref(), Some("plain.js"));
    }

    #[test]
    fn duplicate_bindings_are_refused() {
        let text = |name: &str| Binding::PlainText {
            name: name.into(),
            text: "x".into(),
        };
        assert!(split_bindings(&[text("A"), text("A")]).is_err());
        let split = split_bindings(&[
            text("A"),
            Binding::SecretText {
                name: "S".into(),
                text: "s".into(),
            },
        ])
        .expect("valid bindings");
        assert_eq!(split.vars.len(), 1);
        assert_eq!(split.secrets.get("S").map(String::as_str), Some("s"));
    }
}
