//! Module rules: which files are imported as what, as wrangler's `rules` say, with Cloudflare's
//! defaults after the project's own.

use globset::{Glob, GlobMatcher};
use skiff_project::ModuleRule;

/// What an import of a matching file gives the importer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    /// JavaScript, ESM or CommonJS: bundled as code.
    JavaScript,
    /// The file's text, as a string (`Text`).
    Text,
    /// The file's bytes, as an `ArrayBuffer` (`Data`).
    Data,
    /// The file compiled as a `WebAssembly.Module` (`CompiledWasm`).
    CompiledWasm,
}

impl ModuleKind {
    fn parse(kind: &str) -> Option<Self> {
        match kind {
            "ESModule" | "CommonJS" => Some(Self::JavaScript),
            "Text" => Some(Self::Text),
            "Data" => Some(Self::Data),
            "CompiledWasm" => Some(Self::CompiledWasm),
            _ => None,
        }
    }
}

/// Cloudflare's default rules, in wrangler's order.
const DEFAULT_RULES: &[(&str, &[&str])] = &[
    ("ESModule", &["**/*.mjs"]),
    ("CommonJS", &["**/*.js", "**/*.cjs"]),
    ("CompiledWasm", &["**/*.wasm", "**/*.wasm?module"]),
    ("Text", &["**/*.txt", "**/*.html", "**/*.sql"]),
    ("Data", &["**/*.bin"]),
];

/// The rules of a project: its own first, then the defaults whose type it did not claim.
#[derive(Clone, Debug)]
pub struct Rules {
    rules: Vec<(GlobMatcher, ModuleKind)>,
}

impl Rules {
    /// The project's `rules` followed by Cloudflare's defaults. As in wrangler, a rule of the
    /// project's without `fallthrough = true` replaces the default rules of its type.
    pub fn new(configured: &[ModuleRule]) -> Result<Self, String> {
        let mut rules = Vec::new();
        let mut claimed = Vec::new();
        for rule in configured {
            let kind = ModuleKind::parse(&rule.kind).ok_or_else(|| {
                format!(
                    "rules: unknown module type `{}` (expected ESModule, CommonJS, Text, Data \
                     or CompiledWasm)",
                    rule.kind
                )
            })?;
            for glob in &rule.globs {
                rules.push((matcher(glob)?, kind));
            }
            if !rule.fallthrough {
                claimed.push(rule.kind.as_str());
            }
        }
        for (kind, globs) in DEFAULT_RULES {
            if claimed.contains(kind) {
                continue;
            }
            for glob in *globs {
                let parsed = ModuleKind::parse(kind).unwrap_or(ModuleKind::JavaScript);
                rules.push((matcher(glob)?, parsed));
            }
        }
        Ok(Self { rules })
    }

    /// The kind of the module at `path` (relative to the project, `/`-separated, with any
    /// `?module` suffix kept), or `None` when no rule matches.
    pub fn kind_of(&self, path: &str) -> Option<ModuleKind> {
        (self.rules.iter())
            .find(|(glob, _)| glob.is_match(path))
            .map(|(_, kind)| *kind)
    }
}

fn matcher(glob: &str) -> Result<GlobMatcher, String> {
    Glob::new(glob)
        .map(|glob| glob.compile_matcher())
        .map_err(|err| format!("rules: bad glob `{glob}`: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: &str, globs: &[&str], fallthrough: bool) -> ModuleRule {
        ModuleRule {
            kind: kind.to_string(),
            globs: globs.iter().map(|g| g.to_string()).collect(),
            fallthrough,
        }
    }

    #[test]
    fn cloudflare_defaults_apply_anywhere_in_the_tree() {
        let rules = Rules::new(&[]).expect("rules");
        assert_eq!(rules.kind_of("src/page.html"), Some(ModuleKind::Text));
        assert_eq!(rules.kind_of("query.sql"), Some(ModuleKind::Text));
        assert_eq!(rules.kind_of("a/b/c/blob.bin"), Some(ModuleKind::Data));
        assert_eq!(
            rules.kind_of("node_modules/pkg/add.wasm"),
            Some(ModuleKind::CompiledWasm)
        );
        assert_eq!(rules.kind_of("src/index.js"), Some(ModuleKind::JavaScript));
        assert_eq!(rules.kind_of("src/index.ts"), None);
    }

    #[test]
    fn project_rules_come_first_and_replace_their_type() {
        let rules = Rules::new(&[rule("Text", &["**/*.md"], false)]).expect("rules");
        assert_eq!(rules.kind_of("docs/readme.md"), Some(ModuleKind::Text));
        // The project claimed Text without fallthrough: the default Text globs are gone.
        assert_eq!(rules.kind_of("page.html"), None);
        let rules = Rules::new(&[rule("Text", &["**/*.md"], true)]).expect("rules");
        assert_eq!(rules.kind_of("page.html"), Some(ModuleKind::Text));
        let rules = Rules::new(&[rule("Data", &["**/*.html"], false)]).expect("rules");
        assert_eq!(rules.kind_of("page.html"), Some(ModuleKind::Data));
    }

    #[test]
    fn an_unknown_type_is_an_error_naming_it() {
        let err = Rules::new(&[rule("Binary", &["**/*.x"], false)]).expect_err("refused");
        assert!(err.contains("`Binary`"), "{err}");
    }
}
