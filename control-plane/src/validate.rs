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
    fn env_names_are_identifiers() {
        assert!(validate_env_name("API_KEY").is_ok());
        assert!(validate_env_name("1X").is_err());
        assert!(validate_env_name("a-b").is_err());
        assert!(validate_env_name("").is_err());
    }
}
