//! Which scripts to warm at start: the ones that were busiest before the restart, remembered
//! in a small JSON file (a list of names, busiest first), or else the first ones by name. A
//! node with hundreds of scripts thus boots the few its traffic needs, not all of them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::ScriptRegistry;

/// Scripts warmed at start, at most, unless configured.
pub const DEFAULT_WARM_AT_START: usize = 16;

/// Names the hot list keeps, at most.
const REMEMBERED: usize = 64;

/// How often the hot list is written while the node runs.
const PERIOD: Duration = Duration::from_secs(60);

/// The names in the hot list at `path`; none if it is missing or unreadable.
pub(crate) fn read(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read(path) else {
        return Vec::new();
    };
    match serde_json::from_slice::<Vec<String>>(&text) {
        Ok(names) => names,
        Err(err) => {
            tracing::warn!(path = %path.display(), %err, "ignoring an unreadable hot list");
            Vec::new()
        }
    }
}

/// What to warm, at most `limit`: the remembered scripts still served, in their order; with
/// nothing remembered, the first served scripts by name.
pub(crate) fn to_warm(remembered: Vec<String>, served: Vec<String>, limit: usize) -> Vec<String> {
    if remembered.is_empty() {
        return served.into_iter().take(limit).collect();
    }
    remembered
        .into_iter()
        .filter(|name| served.contains(name))
        .take(limit)
        .collect()
}

/// Writes the busiest scripts to `path` (through a temporary file and a rename). A node that
/// serves nothing yet leaves the previous list in place.
pub(crate) fn write(registry: &ScriptRegistry, path: &Path) {
    let names = registry.busiest_scripts(REMEMBERED);
    if names.is_empty() {
        return;
    }
    let tmp = path.with_extension("tmp");
    let written = serde_json::to_vec(&names)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(err) = written {
        tracing::warn!(path = %path.display(), %err, "could not write the hot list");
    }
}

/// Writes the hot list every [`PERIOD`] until `stop` flips.
pub(crate) async fn remember(
    registry: Arc<ScriptRegistry>,
    path: std::path::PathBuf,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => write(&registry, &path),
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn remembered_scripts_come_first_and_the_count_is_bounded() {
        let served = names(&["a", "b", "c", "d"]);
        assert_eq!(to_warm(Vec::new(), served.clone(), 2), names(&["a", "b"]));
        assert_eq!(
            to_warm(names(&["d", "gone", "b"]), served.clone(), 5),
            names(&["d", "b"])
        );
        assert_eq!(to_warm(names(&["d", "b"]), served, 1), names(&["d"]));
    }
}
