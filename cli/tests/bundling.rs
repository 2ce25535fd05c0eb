//! `skiff dev` and `skiff deploy --dry-run` on Workers projects that need bundling:
//! TypeScript and TSX, packages from `node_modules` (ESM with Workers export conditions and
//! CommonJS-only), and files imported by Cloudflare's default module rules. The packages here
//! are small ones written by the test; real npm packages are tested in `npm_packages.rs`.

mod common;

use std::path::Path;

use common::{Skiff, client};

fn write(dir: &Path, files: &[(&str, &[u8])]) {
    for (path, bytes) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
}

/// `skiff deploy --dry-run` of the project in `dir` into `dir/out`: its output, and that folder.
fn deploy_dry_run(dir: &Path) -> (std::process::Output, std::path::PathBuf) {
    let out = dir.join("out");
    let output = Skiff::run(
        &[
            "deploy",
            "--dry-run",
            "--outdir",
            out.to_str().expect("utf-8 path"),
        ],
        dir,
    );
    (output, out)
}

/// A WebAssembly module exporting `add(i32, i32) -> i32`.
const ADD_WASM: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type: (i32, i32) -> i32
    0x03, 0x02, 0x01, 0x00, // function 0 has type 0
    0x07, 0x07, 0x01, 0x03, b'a', b'd', b'd', 0x00, 0x00, // export "add" = function 0
    0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a,
    0x0b, // local.get 0 1, i32.add
];

const INDEX_TS: &str = r#"import data from "./data.json";
import notes from "./notes.txt";
import page from "./page.html";
import query from "./query.sql";
import blob from "./blob.bin";
import addModule from "./add.wasm";
import { which } from "cond-pkg";
import legacy from "cjs-only";
import { render } from "./view.tsx";

interface Shape { kind: string; area(): number }
enum Color { Red = "red", Green = "green" }
namespace Geometry { export const unit = 2; }
function first<T>(items: T[]): T { return items[0]; }
const square = { kind: "square", area: () => Geometry.unit * Geometry.unit } satisfies Shape;

export default {
  fetch(request: Request, env: { GREETING: string }): Response {
    const add = new WebAssembly.Instance(addModule).exports.add as (a: number, b: number) => number;
    return Response.json({
      greeting: env.GREETING,
      json: data.answer,
      text: notes.trim(),
      html: page.includes("<h1>"),
      sql: query.trim(),
      data: [blob instanceof ArrayBuffer, new Uint8Array(blob).join(",")],
      wasm: add(2, 3),
      condition: which,
      cjs: legacy.shout("hi"),
      ts: [first([Color.Green, Color.Red]), square.area()],
      tsx: render("Ada"),
    });
  },
};
"#;

const VIEW_TSX: &str = r#"function Hello(props: { name: string }) {
  return <p class="greeting">Hello, {props.name}</p>;
}
export function render(name: string): string {
  return String(<Hello name={name} />);
}
"#;

/// A JSX runtime in the shape hono/jsx has: `jsx(type, props)` returns an object whose
/// `toString` renders HTML.
const MINI_JSX: &str = r#"export function jsx(type, props) {
  if (typeof type === "function") return type(props);
  const children = [].concat(props.children ?? []).join("");
  const attrs = Object.entries(props).filter(([k]) => k !== "children")
    .map(([k, v]) => ` ${k}="${v}"`).join("");
  return { toString: () => `<${type}${attrs}>${children}</${type}>` };
}
export const jsxs = jsx;
export const Fragment = "";
"#;

fn typescript_project(dir: &Path) {
    write(
        dir,
        &[
            (
                "wrangler.toml",
                b"name = \"shop\"\nmain = \"src/index.ts\"\ncompatibility_date = \"2025-01-01\"\n\
                  [vars]\nGREETING = \"hello\"\n",
            ),
            (
                "tsconfig.json",
                br#"{ "compilerOptions": { "jsx": "react-jsx", "jsxImportSource": "mini-jsx", "strict": true } }"#,
            ),
            ("src/index.ts", INDEX_TS.as_bytes()),
            ("src/view.tsx", VIEW_TSX.as_bytes()),
            ("src/data.json", br#"{ "answer": 42 }"#),
            ("src/notes.txt", b"plain text\n"),
            ("src/page.html", b"<h1>title</h1>\n"),
            ("src/query.sql", b"SELECT 1;\n"),
            ("src/blob.bin", &[1, 2, 255]),
            ("src/add.wasm", ADD_WASM),
            (
                "node_modules/cond-pkg/package.json",
                br#"{ "name": "cond-pkg", "exports": { ".": { "node": "./node.js", "workerd": "./workerd.js", "default": "./default.js" } } }"#,
            ),
            ("node_modules/cond-pkg/node.js", b"export const which = 'node';\n"),
            ("node_modules/cond-pkg/workerd.js", b"export const which = 'workerd';\n"),
            ("node_modules/cond-pkg/default.js", b"export const which = 'default';\n"),
            (
                "node_modules/cjs-only/package.json",
                br#"{ "name": "cjs-only", "main": "lib/index.js" }"#,
            ),
            (
                "node_modules/cjs-only/lib/index.js",
                b"'use strict';\nmodule.exports = { shout: function (s) { return s.toUpperCase() + '!'; } };\n",
            ),
            (
                "node_modules/mini-jsx/package.json",
                br#"{ "name": "mini-jsx", "type": "module", "exports": { "./jsx-runtime": "./jsx-runtime.js", "./jsx-dev-runtime": "./jsx-runtime.js" } }"#,
            ),
            ("node_modules/mini-jsx/jsx-runtime.js", MINI_JSX.as_bytes()),
        ],
    );
}

#[test]
fn dev_bundles_typescript_packages_and_module_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    typescript_project(dir.path());
    let mut dev = Skiff::spawn(&["dev", "--port", "0"], dir.path());
    let port = Skiff::port_from(&dev.wait_for("ready on http://"));
    let response = client("127.0.0.1", port)
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().expect("json");
    assert_eq!(
        body,
        serde_json::json!({
            "greeting": "hello",
            "json": 42,
            "text": "plain text",
            "html": true,
            "sql": "SELECT 1;",
            "data": [true, "1,2,255"],
            "wasm": 5,
            "condition": "workerd",
            "cjs": "HI!",
            "ts": ["green", 4],
            "tsx": "<p class=\"greeting\">Hello, Ada</p>",
        })
    );
}

/// `deploy --dry-run --outdir` builds and writes what would be uploaded, without a control
/// plane; an unsupported wrangler key is a warning, not a failure.
#[test]
fn deploy_dry_run_writes_the_bundle_and_its_source_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    typescript_project(dir.path());
    let config = dir.path().join("wrangler.toml");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(&config, format!("workers_dev = true\n{text}")).expect("write");
    let (output, out) = deploy_dry_run(dir.path());
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("`workers_dev` is not supported"),
        "{printed}"
    );
    assert!(printed.contains("Built shop"), "{printed}");
    let code = std::fs::read_to_string(out.join("index.js")).expect("index.js written");
    assert!(
        code.contains("export {") || code.contains("export default"),
        "{code}"
    );
    assert!(!code.contains("interface Shape"), "types are gone");
    let map: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("index.js.map")).expect("map"))
            .expect("map is JSON");
    let sources = map["sources"].as_array().expect("sources");
    assert!(
        sources
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.ends_with("src/index.ts"))),
        "{sources:?}"
    );
}

/// A build error in `skiff deploy` names file, line and column, and nothing is uploaded (no
/// control plane is needed to see it).
#[test]
fn deploy_reports_a_missing_package_with_its_place_and_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        &[
            (
                "wrangler.toml",
                b"name = \"app\"\nmain = \"src/index.ts\"\n",
            ),
            (
                "src/index.ts",
                b"import { Hono } from \"hono\";\nexport default new Hono();\n",
            ),
        ],
    );
    let output = Skiff::run(
        &[
            "deploy",
            "--control",
            "http://127.0.0.1:9",
            "--api-token",
            "t",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("src/index.ts:1:22"), "{stderr}");
    assert!(stderr.contains("run `npm install`"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `skiff init` makes a project that runs at once: `ts` (the default) and `js` answer under
/// `skiff dev`; `hono` asks for `npm install`, and building before it says so too.
#[test]
fn init_templates_run_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, template) in [("typed", None), ("plain", Some("js"))] {
        let mut args = vec!["init", name];
        args.extend(template.map(|t| ["--template", t]).into_iter().flatten());
        let out = Skiff::run(&args, dir.path());
        assert!(out.status.success(), "{out:?}");
        let main = if template.is_some() {
            "src/index.js"
        } else {
            "src/index.ts"
        };
        assert!(
            dir.path().join(name).join(main).is_file(),
            "{name}: no {main}"
        );
        let mut dev = Skiff::spawn(&["dev", "--port", "0"], &dir.path().join(name));
        let port = Skiff::port_from(&dev.wait_for("ready on http://"));
        let body = client("127.0.0.1", port)
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .and_then(|r| r.text())
            .expect("request");
        assert_eq!(body, "Hello from 127.0.0.1!\n", "{name}");
    }

    let out = Skiff::run(&["init", "api", "--template", "hono"], dir.path());
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("npm install"));
    let package: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("api/package.json")).expect("package.json"),
    )
    .expect("json");
    assert!(package["dependencies"]["hono"].is_string(), "{package}");
    let out = Skiff::run(&["deploy", "--dry-run"], &dir.path().join("api"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("src/index.ts:1:") && stderr.contains("npm install"),
        "{stderr}"
    );
}

/// An uncaught exception in a bundled TypeScript worker is reported with the project's own
/// file and line (the bundle's source map, stored beside it), not the bundle's.
#[test]
fn an_exception_names_the_typescript_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        &[
            ("wrangler.toml", b"name = \"thrower\"\nmain = \"src/index.ts\"\n"),
            (
                "src/index.ts",
                b"import { check } from \"./check\";\n\
                  export default {\n  fetch(request: Request): Response {\n    \
                  check(new URL(request.url).pathname);\n    return new Response(\"fine\");\n  },\n};\n",
            ),
            (
                "src/check.ts",
                b"interface Rule { path: string }\n\
                  const rule: Rule = { path: \"/ok\" };\n\
                  export function check(path: string): void {\n  \
                  if (path !== rule.path) {\n    throw new Error(`refused ${path}`);\n  }\n}\n",
            ),
        ],
    );
    let mut dev = Skiff::spawn(&["dev", "--port", "0"], dir.path());
    let port = Skiff::port_from(&dev.wait_for("ready on http://"));
    let status = client("127.0.0.1", port)
        .get(format!("http://127.0.0.1:{port}/nope"))
        .send()
        .expect("request")
        .status();
    assert_eq!(status, 500);
    let line = dev.wait_for("src/check.ts:5:");
    assert!(line.contains("src/check.ts:5:11"), "{line}");
}

/// A bundle is written in ASCII, as esbuild writes it (each other character escaped in its
/// string, template, regular expression, name or comment), and means the same: the worker's
/// answers are those of its source, a tagged template's raw text is kept, and an exception
/// after an escaped string on the same line still names the TypeScript file's line and column.
#[test]
fn a_bundle_in_ascii_means_what_its_source_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        &[
            ("wrangler.toml", b"name = \"unicode\"\nmain = \"src/index.ts\"\n"),
            (
                "src/index.ts",
                "import { check } from \"./check\";\n\
                 // Grüße: a comment\n\
                 const café: string = \"crème brûlée 😀\";\n\
                 const wörds = /^[à-ÿ]+$/;\n\
                 export default {\n  fetch(request: Request): Response {\n    \
                 const path = new URL(request.url).pathname;\n    \
                 if (path === \"/throw\") check(path);\n    \
                 const raw = String.raw`é\\n${café.length}`;\n    \
                 return Response.json({ café, length: café.length, accented: wörds.test(\"éèà\"), \
                 plain: wörds.test(\"abc\"), emoji: /😀/u.test(café), template: `ü-${café.slice(0, 5)}`, \
                 raw, rawLength: raw.length });\n  },\n};\n"
                    .as_bytes(),
            ),
            (
                "src/check.ts",
                "export function check(path: string): void {\n  \
                 if (path !== \"ünïcödé 😀\") throw new Error(`refused ${path}`);\n}\n"
                    .as_bytes(),
            ),
        ],
    );
    let (output, out) = deploy_dry_run(dir.path());
    assert!(output.status.success(), "{output:?}");
    let code = std::fs::read_to_string(out.join("index.js")).expect("index.js written");
    let kept: Vec<char> = code.chars().filter(|c| !c.is_ascii()).collect();
    assert_eq!(
        kept,
        ['é'],
        "only the tagged template's raw text stays: {code}"
    );
    assert!(code.contains("caf\\u00e9"), "{code}");

    let mut dev = Skiff::spawn(&["dev", "--port", "0"], dir.path());
    let port = Skiff::port_from(&dev.wait_for("ready on http://"));
    let body: serde_json::Value = client("127.0.0.1", port)
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .and_then(|r| r.json())
        .expect("a JSON answer");
    assert_eq!(
        body,
        serde_json::json!({
            "café": "crème brûlée 😀",
            "length": 15,
            "accented": true,
            "plain": false,
            "emoji": true,
            "template": "ü-crème",
            "raw": "é\\n15",
            "rawLength": 5,
        })
    );
    let status = client("127.0.0.1", port)
        .get(format!("http://127.0.0.1:{port}/throw"))
        .send()
        .expect("request")
        .status();
    assert_eq!(status, 500);
    // `new Error` in check.ts's second line, after the escaped string.
    let column = "  if (path !== \"ünïcödé 😀\") throw "
        .encode_utf16()
        .count()
        + 1;
    let line = dev.wait_for("src/check.ts:2:");
    assert!(line.contains(&format!("src/check.ts:2:{column}")), "{line}");
}
