//! Sync state into what the registry serves: the bundles a deployment needs and its versions.

use std::collections::HashMap;

use skiff_protocol::{Bundle, ScriptState};
use skiff_runtime::ScriptBundle;

use super::SyncError;
use crate::registry::Deployment;

/// A bundle address as the protocol spells it: 64 lowercase hex digits (it becomes a file
/// name, so nothing else may pass).
fn is_sha256_hex(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The bundle hashes `state`'s deployment needs.
pub(super) fn needed_bundles(name: &str, state: &ScriptState) -> Result<Vec<String>, SyncError> {
    state
        .deployment
        .versions
        .iter()
        .map(|deployed| {
            let version = state
                .versions
                .iter()
                .find(|v| v.id == deployed.version_id)
                .ok_or_else(|| {
                    SyncError::Event(format!(
                        "script {name}: the deployment names version {} but the event does not carry it",
                        deployed.version_id
                    ))
                })?;
            if !is_sha256_hex(&version.bundle) {
                return Err(SyncError::Event(format!(
                    "script {name}: version {} has a malformed bundle hash {:?}",
                    version.id, version.bundle
                )));
            }
            Ok(version.bundle.clone())
        })
        .collect()
}

/// The registry's view of `state`: each deployed version as a bundle with its id, its `env`
/// ([`skiff_protocol::worker_env`]) and its percentage.
pub(super) fn script_versions(
    name: &str,
    state: &ScriptState,
    bundles: &HashMap<String, Bundle>,
) -> Result<Deployment, SyncError> {
    let mut versions = Vec::with_capacity(state.deployment.versions.len());
    for deployed in &state.deployment.versions {
        let missing = || SyncError::Event(format!("script {name}: incomplete deployment"));
        let version = state
            .versions
            .iter()
            .find(|v| v.id == deployed.version_id)
            .ok_or_else(missing)?;
        let bundle = bundles.get(&version.bundle).ok_or_else(missing)?;
        let env = skiff_protocol::worker_env(version.vars.clone(), &state.secrets);
        versions.push((
            ScriptBundle {
                name: name.to_string(),
                main_module: bundle.main_module.clone(),
                modules: bundle.modules.clone(),
                env,
                bindings: env_bindings(&version.bindings),
                version: Some(version.id.clone()),
                compatibility_date: version.compatibility_date.clone(),
                compatibility_flags: version.compatibility_flags.clone(),
            },
            deployed.percentage,
        ));
    }
    Ok(versions)
}

/// The bindings of a version that the runtime serves (KV namespaces, services), as the
/// isolate gets them.
fn env_bindings(bindings: &[skiff_protocol::Binding]) -> Vec<skiff_runtime::EnvBinding> {
    bindings
        .iter()
        .filter_map(|binding| match binding {
            skiff_protocol::Binding::KvNamespace { name, namespace_id } => {
                Some(skiff_runtime::EnvBinding::Kv {
                    name: name.clone(),
                    namespace: namespace_id.clone(),
                })
            }
            skiff_protocol::Binding::Service { name, service, .. } => {
                Some(skiff_runtime::EnvBinding::Service {
                    name: name.clone(),
                    service: service.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_hashes_must_be_hex() {
        assert!(is_sha256_hex(&"ab".repeat(32)));
        assert!(!is_sha256_hex(&format!("../{}", "a".repeat(61))));
        assert!(!is_sha256_hex(&"AB".repeat(32)));
    }
}
