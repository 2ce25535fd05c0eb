//! Builds of real project trees on disk: what the bundle holds, and the errors a user gets,
//! each naming file, line and column.

use std::path::Path;

use skiff_bundler::{BuildError, build};
use skiff_project::Project;

/// Writes `files` (path, contents) under a new temporary folder.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

const CONFIG: (&str, &str) = ("wrangler.toml", "name = \"app\"\nmain = \"src/index.ts\"\n");

fn build_dir(dir: &Path) -> Result<skiff_bundler::Build, BuildError> {
    build(&Project::open(dir).expect("project"), false)
}

fn failure(dir: &Path) -> String {
    let err = build_dir(dir).expect_err("the build fails");
    let text = err.to_string();
    // Nothing from the bundler's internals: no Rust panic or backtrace text.
    assert!(
        !text.contains("panicked") && !text.contains("rolldown"),
        "{text}"
    );
    text
}

#[test]
fn typescript_becomes_one_module_without_types() {
    let dir = project(&[
        CONFIG,
        (
            "src/index.ts",
            "import { greet } from './greet';\n\
             export default { fetch(): Response { return new Response(greet<string>('ts')); } };\n",
        ),
        (
            "src/greet.ts",
            "export interface Named { name: string }\n\
             export function greet<T extends string>(name: T): string { return `hello ${name}`; }\n",
        ),
    ]);
    let built = build_dir(dir.path()).expect("builds");
    assert_eq!(built.bundle.main_module, "index.js");
    assert_eq!(
        built.bundle.modules.keys().collect::<Vec<_>>(),
        ["index.js", "index.js.map"]
    );
    let code = &built.bundle.modules["index.js"];
    assert!(code.contains("hello ${name}"), "{code}");
    assert!(
        !code.contains("interface") && !code.contains("<T extends"),
        "{code}"
    );
    let map: serde_json::Value =
        serde_json::from_str(&built.bundle.modules["index.js.map"]).expect("the map is JSON");
    assert_eq!(
        map["sources"],
        serde_json::json!(["src/greet.ts", "src/index.ts"])
    );
    let files: Vec<_> = built
        .files
        .iter()
        .map(|f| f.file_name().expect("name"))
        .collect();
    assert!(files.contains(&"greet.ts".as_ref()), "{files:?}");
}

#[test]
fn a_typescript_syntax_error_names_file_line_and_column() {
    let dir = project(&[
        CONFIG,
        ("src/index.ts", "import './bad';\nexport default {};\n"),
        (
            "src/bad.ts",
            "const ok = 1;\nconst broken: number = (1 + ;\n",
        ),
    ]);
    let text = failure(dir.path());
    assert!(text.contains("src/bad.ts:2:"), "{text}");
}

#[test]
fn a_package_not_installed_says_to_run_npm_install() {
    let dir = project(&[
        CONFIG,
        (
            "src/index.ts",
            "// a router\nimport { Hono } from 'hono';\nexport default new Hono();\n",
        ),
    ]);
    let text = failure(dir.path());
    assert!(text.contains("src/index.ts:2:"), "{text}");
    assert!(text.contains("npm install"), "{text}");
    assert!(text.contains("\"hono\""), "{text}");
}

#[test]
fn a_missing_relative_import_names_the_importer() {
    let dir = project(&[
        CONFIG,
        (
            "src/index.ts",
            "\n\nimport { x } from './nowhere';\nexport default { x };\n",
        ),
    ]);
    let text = failure(dir.path());
    assert!(text.contains("src/index.ts:3:"), "{text}");
    assert!(text.contains("./nowhere"), "{text}");
}

#[test]
fn a_node_import_names_where_it_is_and_the_chain_that_pulled_it_in() {
    let dir = project(&[
        CONFIG,
        (
            "src/index.ts",
            "import { read } from 'pkg-a';\nexport default { read };\n",
        ),
        (
            "node_modules/pkg-a/package.json",
            r#"{ "name": "pkg-a", "type": "module", "exports": "./index.js" }"#,
        ),
        (
            "node_modules/pkg-a/index.js",
            "import { helper } from './helper.js';\nexport const read = helper;\n",
        ),
        (
            "node_modules/pkg-a/helper.js",
            "// reads files\nimport { readFileSync } from \"node:fs\";\nexport const helper = readFileSync;\n",
        ),
    ]);
    let text = failure(dir.path());
    assert!(
        text.contains("node_modules/pkg-a/helper.js:2:31: node:fs is a Node.js built-in module"),
        "{text}"
    );
    assert!(text.contains("src/index.ts -> pkg-a -> node:fs"), "{text}");
}

#[test]
fn a_bare_node_builtin_says_so() {
    let dir = project(&[
        CONFIG,
        (
            "src/index.ts",
            "import path from 'path';\nexport default { path };\n",
        ),
    ]);
    let text = failure(dir.path());
    assert!(text.contains("src/index.ts:1:"), "{text}");
    assert!(text.contains("Node.js built-in module"), "{text}");
}

#[test]
fn no_bundle_uploads_the_modules_as_they_are() {
    let dir = project(&[
        (
            "wrangler.toml",
            "name = \"app\"\nmain = \"src/index.js\"\nno_bundle = true\n",
        ),
        (
            "src/index.js",
            "import { x } from './lib/x.js';\nexport default { x };\n",
        ),
        ("src/lib/x.js", "export const x = 1;\n"),
    ]);
    let built = build_dir(dir.path()).expect("builds");
    assert_eq!(built.bundle.main_module, "src/index.js");
    assert_eq!(
        built.bundle.modules.keys().collect::<Vec<_>>(),
        ["src/index.js", "src/lib/x.js"]
    );
    assert!(built.bundle.modules["src/index.js"].contains("'./lib/x.js'"));
}
