//! Checks on names that come from API callers.

use crate::error::ApiError;

/// A script name is a lowercase DNS label (`skiff_protocol::validate_script_name`).
pub fn validate_script_name(name: &str) -> Result<(), ApiError> {
    skiff_protocol::validate_script_name(name).map_err(ApiError::bad_request)
}

/// A module path is relative, has no `.`/`..` or empty segments and no backslashes.
pub fn validate_module_path(path: &str) -> Result<(), ApiError> {
    let valid = !path.is_empty()
        && path.len() <= 512
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains(':')
        && !path.chars().any(char::is_control)
        && path
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "bad module path {path:?}: it must be relative, without '..', '.' or empty segments"
        )))
    }
}

/// The longest node id.
pub const MAX_NODE_ID: usize = 64;

/// A node id (`x-skiff-node`) is 1 to 64 ASCII letters, digits, '-' and '_' (nodes make
/// theirs from 32 hex digits).
pub fn validate_node_id(id: &str) -> Result<(), ApiError> {
    let valid = (1..=MAX_NODE_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        let shown: String = id.chars().take(MAX_NODE_ID).collect();
        Err(ApiError::bad_request(format!(
            "bad node id {shown:?}: use 1 to {MAX_NODE_ID} ASCII letters, digits, '-' and '_'"
        )))
    }
}

/// A binding or secret name is a JavaScript identifier of ASCII letters, digits and '_'.
pub fn validate_env_name(name: &str) -> Result<(), ApiError> {
    let valid = (1..=256).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "bad binding name {name:?}: use letters, digits and '_', not starting with a digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_stay_inside_the_bundle() {
        for good in ["index.js", "lib/util.js", "a-b/c_d.mjs"] {
            assert!(validate_module_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/abs.js",
            "../up.js",
            "a/../b.js",
            "a//b.js",
            "./a.js",
            "c:\\x.js",
        ] {
            assert!(validate_module_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_ids_are_short_plain_words() {
        assert!(validate_node_id("0123456789abcdef0123456789abcdef").is_ok());
        assert!(validate_node_id("edge-1_a").is_ok());
        assert!(validate_node_id(&"a".repeat(MAX_NODE_ID)).is_ok());
        assert!(validate_node_id(&"a".repeat(MAX_NODE_ID + 1)).is_err());
        assert!(validate_node_id("").is_err());
        assert!(validate_node_id("a b").is_err());
        assert!(validate_node_id("a/../b").is_err());
        assert!(validate_node_id("é").is_err());
    }

    #[test]
    fn env_names_are_identifiers() {
        assert!(validate_env_name("API_KEY").is_ok());
        assert!(validate_env_name("1X").is_err());
        assert!(validate_env_name("a-b").is_err());
        assert!(validate_env_name("").is_err());
    }
}
