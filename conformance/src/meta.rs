//! The `// META:` header of a WPT `.any.js` file: the scripts to load first, the globals the
//! test is meant for, its variants, its timeout class and its title.

/// What a test file's `// META:` lines say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// `script=` paths in order, as written (absolute from the WPT root or relative to the file).
    pub scripts: Vec<String>,
    /// `global=` entries, split on commas; empty means the WPT default (window, dedicatedworker).
    pub globals: Vec<String>,
    /// `variant=` query strings (`?include=file`); empty means one run without a query.
    pub variants: Vec<String>,
    /// `timeout=long`.
    pub long_timeout: bool,
    /// `title=`.
    pub title: Option<String>,
}

impl Meta {
    /// Reads the META lines at the top of `source`. They must come before any code: parsing
    /// stops at the first line that is neither blank, a comment, nor a META line.
    pub fn parse(source: &str) -> Meta {
        let mut meta = Meta::default();
        for line in source.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some(comment) = line.strip_prefix("//") else {
                break;
            };
            let Some(entry) = comment.trim_start().strip_prefix("META:") else {
                continue;
            };
            let Some((key, value)) = entry.trim().split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "script" => meta.scripts.push(value.to_string()),
                "global" => meta.globals.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(String::from),
                ),
                "variant" => meta.variants.push(value.to_string()),
                "timeout" => meta.long_timeout = value == "long",
                "title" => meta.title = Some(value.to_string()),
                _ => {}
            }
        }
        meta
    }

    /// Whether the file is meant to run in some worker-like global. A Workers isolate has no
    /// document, so files written for `window` alone are not run.
    pub fn runs_in_workers(&self) -> bool {
        let mut positive = self
            .globals
            .iter()
            .filter(|g| !g.starts_with('!'))
            .peekable();
        if positive.peek().is_none() {
            return true;
        }
        positive.any(|g| g.contains("worker") || g == "jsshell" || g == "shadowrealm")
    }

    /// The query strings to run the file with: its variants, or one empty query.
    pub fn queries(&self) -> Vec<String> {
        if self.variants.is_empty() {
            vec![String::new()]
        } else {
            self.variants.clone()
        }
    }
}

/// Resolves a META `script=` path against the file's directory (both relative to the WPT root,
/// `/`-separated). Returns `None` for a path that climbs above the root.
pub fn resolve_script(test_dir: &str, script: &str) -> Option<String> {
    let mut parts: Vec<&str> = if script.starts_with('/') {
        Vec::new()
    } else {
        test_dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in script.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_meta_key_until_code_starts() {
        let source = "// META: global=window,dedicatedworker, shadowrealm\n\
                      // META: script=/common/subset-tests.js\n\
                      //META: script=resources/utils.js\n\
                      // META: timeout=long\n\
                      // META: title=Headers basics\n\
                      // META: variant=?1-10\n\
                      // META: variant=?11-last\n\
                      // a plain comment\n\
                      \n\
                      'use strict';\n\
                      // META: script=/too/late.js\n";
        let meta = Meta::parse(source);
        assert_eq!(
            meta.scripts,
            ["/common/subset-tests.js", "resources/utils.js"]
        );
        assert_eq!(meta.globals, ["window", "dedicatedworker", "shadowrealm"]);
        assert_eq!(meta.variants, ["?1-10", "?11-last"]);
        assert_eq!(meta.queries(), ["?1-10", "?11-last"]);
        assert!(meta.long_timeout);
        assert_eq!(meta.title.as_deref(), Some("Headers basics"));
    }

    #[test]
    fn no_meta_means_defaults() {
        let meta = Meta::parse("test(() => {}, 'x');\n// META: timeout=long\n");
        assert_eq!(meta, Meta::default());
        assert!(meta.runs_in_workers());
        assert_eq!(meta.queries(), [""]);
        assert!(!Meta::parse("// META: timeout=normal\n").long_timeout);
    }

    #[test]
    fn window_only_files_are_not_for_workers() {
        assert!(!Meta::parse("// META: global=window\n").runs_in_workers());
        assert!(!Meta::parse("// META: global=window,!dedicatedworker\n").runs_in_workers());
        assert!(Meta::parse("// META: global=window,worker\n").runs_in_workers());
        assert!(Meta::parse("// META: global=serviceworker\n").runs_in_workers());
        assert!(Meta::parse("// META: global=shadowrealm\n").runs_in_workers());
    }

    #[test]
    fn script_paths_resolve_against_the_test_directory() {
        assert_eq!(
            resolve_script("fetch/api/body", "../resources/utils.js").as_deref(),
            Some("fetch/api/resources/utils.js")
        );
        assert_eq!(
            resolve_script("fetch/api/body", "/common/get-host-info.sub.js").as_deref(),
            Some("common/get-host-info.sub.js")
        );
        assert_eq!(
            resolve_script("url", "./resources/a.js").as_deref(),
            Some("url/resources/a.js")
        );
        assert_eq!(resolve_script("url", "../../x.js"), None);
    }
}
