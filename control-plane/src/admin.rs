//! The admin endpoints besides the upload: scripts, versions, deployments, rollback, secrets.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use skiff_protocol::{
    ChangeResponse, DeployedVersion, Deployment, DeploymentRequest, RollbackRequest, ScriptSummary,
    SecretName, SecretValue, VersionList,
};

use crate::error::{ApiError, StoreError};
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::store::{self, Tx, now_ms};
use crate::validate::{validate_env_name, validate_script_name};

pub async fn list_scripts(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<ScriptSummary>>, ApiError> {
    let mut tx = state.store.read().await?;
    let scripts = store::list_scripts(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(scripts))
}

pub async fn delete_script(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let mut tx = state.store.write().await?;
    if !store::delete_script(&mut tx, &name).await? {
        return Err(StoreError::NotFound(format!("no script named {name:?}")).into());
    }
    let revision = store::log_change(&mut tx, &name).await?;
    tx.commit().await?;
    state.published(revision);
    Ok(Json(ChangeResponse {
        revision,
        deployment: None,
    }))
}

pub async fn list_versions(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<VersionList>, ApiError> {
    let mut tx = state.store.read().await?;
    let list = store::version_list(&mut tx, &name).await?;
    tx.commit().await?;
    Ok(Json(list))
}

/// One version at 100, or two different versions adding up to 100.
fn validate_split(versions: &[DeployedVersion]) -> Result<(), ApiError> {
    let in_range = versions
        .iter()
        .all(|v| v.percentage.is_finite() && (0.0..=100.0).contains(&v.percentage));
    let total: f64 = versions.iter().map(|v| v.percentage).sum();
    let distinct = versions.len() != 2 || versions[0].version_id != versions[1].version_id;
    if (1..=2).contains(&versions.len()) && in_range && distinct && (total - 100.0).abs() < 1e-9 {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "a deployment is one version at 100 % or two different versions whose \
             percentages add up to 100",
        ))
    }
}

/// Records `versions` as the script's new deployment, after checking they are its own.
async fn deploy(
    tx: &mut Tx,
    script: &str,
    versions: Vec<DeployedVersion>,
) -> Result<(u64, Deployment), StoreError> {
    store::require_script(tx, script).await?;
    for deployed in &versions {
        match store::version(tx, &deployed.version_id).await? {
            Some(version) if version.script == script => {}
            _ => {
                return Err(StoreError::Invalid(format!(
                    "version {} is not a version of script {script:?}",
                    deployed.version_id
                )));
            }
        }
    }
    let deployment = Deployment {
        versions,
        created_ms: now_ms(),
    };
    let revision = store::log_change(tx, script).await?;
    store::insert_deployment(tx, script, &deployment, revision).await?;
    Ok((revision, deployment))
}

pub async fn create_deployment(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<DeploymentRequest>,
) -> Result<Json<ChangeResponse>, ApiError> {
    validate_split(&request.versions)?;
    let mut tx = state.store.write().await?;
    let (revision, deployment) = deploy(&mut tx, &name, request.versions).await?;
    tx.commit().await?;
    state.published(revision);
    Ok(Json(ChangeResponse {
        revision,
        deployment: Some(deployment),
    }))
}

/// The version to roll back to when none is named: walking back from the current deployment,
/// the first earlier deployment that differs from it, and of that the version with the
/// largest share.
fn previous_version(history: &[Deployment]) -> Option<String> {
    let (current, earlier) = history.split_first()?;
    earlier
        .iter()
        .find(|d| d.versions != current.versions)
        .and_then(|d| {
            d.versions
                .iter()
                .max_by(|a, b| a.percentage.total_cmp(&b.percentage))
                .map(|v| v.version_id.clone())
        })
}

pub async fn rollback(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<ChangeResponse>, ApiError> {
    // The body is optional: empty means "the previous version".
    let requested = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<RollbackRequest>(&body)
            .map_err(|err| ApiError::bad_request(format!("bad rollback request: {err}")))?
            .version_id
    };
    let mut tx = state.store.write().await?;
    store::require_script(&mut tx, &name).await?;
    let version_id = match requested {
        Some(id) => id,
        None => previous_version(&store::deployments(&mut tx, &name).await?).ok_or_else(|| {
            StoreError::Invalid(format!(
                "script {name:?} has no earlier deployment to roll back to"
            ))
        })?,
    };
    let (revision, deployment) = deploy(
        &mut tx,
        &name,
        vec![DeployedVersion {
            version_id,
            percentage: 100.0,
        }],
    )
    .await?;
    tx.commit().await?;
    state.published(revision);
    Ok(Json(ChangeResponse {
        revision,
        deployment: Some(deployment),
    }))
}

pub async fn list_secrets(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Vec<SecretName>>, ApiError> {
    let mut tx = state.store.read().await?;
    store::require_script(&mut tx, &name).await?;
    let names = store::secrets(&mut tx, &name).await?.into_keys();
    tx.commit().await?;
    Ok(Json(
        names.into_iter().map(|name| SecretName { name }).collect(),
    ))
}

pub async fn put_secret(
    State(state): State<Arc<AppState>>,
    Path((name, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<SecretValue>,
) -> Result<Json<ChangeResponse>, ApiError> {
    validate_script_name(&name)?;
    validate_env_name(&key)?;
    let mut tx = state.store.write().await?;
    if !store::script_exists(&mut tx, &name).await? {
        return Err(StoreError::NotFound(format!(
            "no script named {name:?}: deploy the script first"
        ))
        .into());
    }
    store::put_secret(&mut tx, &name, &key, &body.value).await?;
    let revision = store::log_change(&mut tx, &name).await?;
    tx.commit().await?;
    state.published(revision);
    Ok(Json(ChangeResponse {
        revision,
        deployment: None,
    }))
}

pub async fn delete_secret(
    State(state): State<Arc<AppState>>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let mut tx = state.store.write().await?;
    store::require_script(&mut tx, &name).await?;
    if !store::delete_secret(&mut tx, &name, &key).await? {
        return Err(StoreError::NotFound(format!("script {name:?} has no secret {key:?}")).into());
    }
    let revision = store::log_change(&mut tx, &name).await?;
    tx.commit().await?;
    state.published(revision);
    Ok(Json(ChangeResponse {
        revision,
        deployment: None,
    }))
}

/// 404 for anything else under `/v1`.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(versions: &[(&str, f64)]) -> Deployment {
        Deployment {
            versions: versions
                .iter()
                .map(|(id, percentage)| DeployedVersion {
                    version_id: id.to_string(),
                    percentage: *percentage,
                })
                .collect(),
            created_ms: 0,
        }
    }

    #[test]
    fn splits_are_one_at_100_or_two_adding_up() {
        let ok = |v: &[(&str, f64)]| validate_split(&deployment(v).versions).is_ok();
        assert!(ok(&[("a", 100.0)]));
        assert!(ok(&[("a", 90.0), ("b", 10.0)]));
        assert!(!ok(&[("a", 90.0)]));
        assert!(!ok(&[("a", 90.0), ("b", 20.0)]));
        assert!(!ok(&[("a", 50.0), ("a", 50.0)]));
        assert!(!ok(&[("a", 110.0), ("b", -10.0)]));
        assert!(!ok(&[]));
        assert!(!ok(&[("a", 50.0), ("b", 25.0), ("c", 25.0)]));
    }

    #[test]
    fn rollback_skips_deployments_equal_to_the_current_one() {
        let history = [
            deployment(&[("v2", 100.0)]),
            deployment(&[("v2", 100.0)]),
            deployment(&[("v1", 90.0), ("v2", 10.0)]),
            deployment(&[("v1", 100.0)]),
        ];
        assert_eq!(previous_version(&history).as_deref(), Some("v1"));
        assert_eq!(previous_version(&history[..1]), None);
    }
}
