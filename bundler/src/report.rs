//! Bundler diagnostics as messages a user can act on: `file:line:column: what`, the source
//! line, and what to do about it. Nothing from the bundler's own internals.

use std::path::Path;

use rolldown_error::{BuildDiagnostic, DiagnosticOptions, EventKind, Severity};

use crate::BuildError;

/// Node's built-in modules, which an import may name without `node:`.
const NODE_BUILTINS: &[&str] = &[
    "assert",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "domain",
    "events",
    "fs",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "stream",
    "string_decoder",
    "sys",
    "timers",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

/// The warnings that fail a Workers build: imports that did not resolve.
pub(crate) fn unresolved_imports(warnings: Vec<BuildDiagnostic>) -> Vec<BuildDiagnostic> {
    (warnings.into_iter())
        .filter(|d| matches!(d.kind(), EventKind::UnresolvedImport))
        .collect()
}

/// The problems of a failed build, one message each: its errors, or the warnings it was
/// failed for ([`unresolved_imports`]).
pub(crate) fn failure(root: &Path, diagnostics: Vec<BuildDiagnostic>) -> BuildError {
    let options = DiagnosticOptions {
        cwd: root.to_path_buf(),
    };
    let errors = diagnostics
        .iter()
        .filter(|d| !matches!(d.severity(), Severity::Warning));
    let chosen: Vec<_> = if errors.clone().next().is_some() {
        errors.collect()
    } else {
        diagnostics.iter().collect()
    };
    let mut messages: Vec<String> = chosen
        .into_iter()
        .map(|d| message(root, &options, d))
        .collect();
    if messages.is_empty() {
        messages.push("the build failed without a reason given".to_string());
    }
    messages.dedup();
    BuildError { messages }
}

fn message(root: &Path, options: &DiagnosticOptions, diagnostic: &BuildDiagnostic) -> String {
    let rendered = diagnostic.to_diagnostic_with(options);
    let what = diagnostic.to_message_with(options);
    let place = match rendered.get_primary_location() {
        Some((file, line, column, _)) => format!("{file}:{line}:{}: ", column + 1),
        None => diagnostic
            .id()
            .map(|id| format!("{}: ", options.stabilize_path(id)))
            .unwrap_or_default(),
    };
    let mut text = format!("{place}{what}");
    if matches!(diagnostic.kind(), EventKind::UnresolvedImport)
        && let Some(specifier) = diagnostic.exporter()
        && let Some(hint) = unresolved_hint(root, &specifier)
    {
        text.push_str("\n  ");
        text.push_str(&hint);
    }
    // The source line with the problem marked, as the bundler draws it.
    let frame = rendered.to_string();
    if let Some(start) = frame.find('╭') {
        let frame = frame[..start]
            .rfind('\n')
            .map_or(&frame[..], |n| &frame[n + 1..]);
        // On Workers nothing is external: the build fails instead, as the message says.
        let frame = frame.replace(", treating it as an external dependency", "");
        text.push('\n');
        text.push_str(frame.trim_end());
    }
    text
}

/// What to do about an import that did not resolve.
fn unresolved_hint(root: &Path, specifier: &str) -> Option<String> {
    if specifier.starts_with('.') || specifier.starts_with('/') {
        return Some(format!(
            "there is no file {specifier:?} next to the importing module"
        ));
    }
    let package = package_name(specifier);
    if NODE_BUILTINS.contains(&package) {
        return Some(format!(
            "{package:?} is a Node.js built-in module, which Skiff does not provide"
        ));
    }
    if !root.join("node_modules").join(package).exists() {
        return Some(format!(
            "the package {package:?} is not installed: run `npm install` (or add it with \
             `npm install {package}`)"
        ));
    }
    Some(format!(
        "the package {package:?} is installed but does not export {specifier:?} for Workers"
    ))
}

/// The package a bare specifier names: `hono/jsx` -> `hono`, `@scope/pkg/x` -> `@scope/pkg`.
fn package_name(specifier: &str) -> &str {
    let mut ends = specifier.match_indices('/').map(|(i, _)| i);
    let end = if specifier.starts_with('@') {
        ends.nth(1)
    } else {
        ends.next()
    };
    &specifier[..end.unwrap_or(specifier.len())]
}

/// The `node:` imports a build found: where each is, and the chain of imports that pulled it
/// in.
pub(crate) fn node_imports(imports: Vec<(String, String)>) -> BuildError {
    let messages = imports
        .into_iter()
        .map(|(place, chain)| {
            let module = chain.rsplit(" -> ").next().unwrap_or_default();
            format!(
                "{place}: {module} is a Node.js built-in module, which Skiff does not provide\n  \
                 imported through {chain}"
            )
        })
        .collect();
    BuildError { messages }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_of_bare_specifiers() {
        assert_eq!(package_name("hono"), "hono");
        assert_eq!(package_name("hono/jsx"), "hono");
        assert_eq!(package_name("@scope/pkg/deep/x"), "@scope/pkg");
        assert_eq!(package_name("@scope/pkg"), "@scope/pkg");
    }
}
