//! Builds the worker that runs one WPT test file: an ES module whose fetch handler evaluates
//! testharness.js, the file's META scripts and the test itself in the worker's own global, and
//! answers with the results as JSON (see [`crate::results`]).
//!
//! The scripts are concatenated into the body of one function, called on the first request:
//! like classic scripts of one page they share one scope, and they run inside a request, where
//! both Skiff and workerd allow timers and I/O (workerd forbids them at module evaluation). Like
//! classic scripts, they run in sloppy mode (a module is strict, and some tests assign
//! undeclared globals) unless the test file opens with a `"use strict"` directive. So the body
//! is kept as a string and compiled as a function on the first request: with `Function` on
//! Skiff, and with the `unsafeEval` binding that the runner gives workerd's test workers
//! (workerd refuses code generation from strings otherwise). The same text is served by both
//! runtimes. What the harness adds to the global, identically for
//! both, is listed in `PRELUDE`: a `location` for the test's URL (tests read their variant from
//! it), the `GLOBAL` object of WPT's `.any.js` wrappers, and a `fetch` that resolves relative
//! URLs against the test's URL (a worker has no base URL; the runner serves the WPT files there).

use serde::Serialize;

/// testharness.js picks its environment from the global's class (window, dedicated worker,
/// service worker, ...), and the worker environments expect a client to post results to. A
/// Workers isolate has none, so the harness is told to use its shell environment: results are
/// collected through `add_completion_callback` and no timeout is set by the harness itself.
const ENVIRONMENT_CHOICE: &str = "var test_environment = create_test_environment();";
const SHELL_ENVIRONMENT: &str = "var test_environment = new ShellTestEnvironment();";

/// One test to build a worker for.
#[derive(Debug, Clone, Serialize)]
pub struct TestSpec {
    /// The test's URL on the resource origin, variant query included.
    pub url: String,
    /// How long the harness may run before pending subtests are timed out, in milliseconds.
    pub budget_ms: u64,
    /// `META: title`, if any.
    pub title: Option<String>,
}

/// A script to evaluate: its path (for the comment that marks where it starts) and source.
#[derive(Debug, Clone)]
pub struct Script {
    pub path: String,
    pub source: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The testharness.js given does not have the line that chooses the environment.
    UnknownHarness,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::UnknownHarness => write!(
                f,
                "testharness.js has no `{ENVIRONMENT_CHOICE}` line: this runner does not know that version"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// Adapts upstream testharness.js to a Workers global (see `ENVIRONMENT_CHOICE`).
pub fn adapt_testharness(source: &str) -> Result<String, BuildError> {
    if !source.contains(ENVIRONMENT_CHOICE) {
        return Err(BuildError::UnknownHarness);
    }
    Ok(source.replacen(ENVIRONMENT_CHOICE, SHELL_ENVIRONMENT, 1))
}

/// Replaces the WPT server's substitutions that make sense here (`.sub.` files): the host and
/// the HTTP port of the resource origin.
pub fn substitute(source: &str, host: &str, port: u16) -> String {
    let port = port.to_string();
    source
        .replace("{{host}}", host)
        .replace("{{ports[http][0]}}", &port)
        .replace("{{ports[http][1]}}", &port)
        .replace("{{ports[https][0]}}", &port)
}

const PRELUDE: &str = r#"
const __wptStatus = ["PASS", "FAIL", "TIMEOUT", "NOTRUN", "PRECONDITION_FAILED"];
const __wptHarnessStatus = ["OK", "ERROR", "TIMEOUT", "PRECONDITION_FAILED"];
// JSON with lone surrogates cannot be read by the runner; they become U+FFFD.
const __wptText = (value) =>
  value === undefined || value === null
    ? null
    : String(value).replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");

function __wptInstallGlobals() {
  const url = new URL(__wpt.url);
  if (!("location" in globalThis)) {
    const location = {
      href: url.href, origin: url.origin, protocol: url.protocol, host: url.host,
      hostname: url.hostname, port: url.port, pathname: url.pathname, search: url.search,
      hash: url.hash, toString() { return url.href; },
    };
    Object.defineProperty(globalThis, "location", { value: location, configurable: true, writable: true });
  }
  globalThis.GLOBAL = {
    isWindow: () => false,
    isWorker: () => true,
    isShadowRealm: () => false,
  };
  if (__wpt.title !== null) globalThis.META_TITLE = __wpt.title;
  const nativeFetch = globalThis.fetch;
  if (typeof nativeFetch === "function") {
    const relative = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;
    const wrapper = {
      fetch(input, init = undefined) {
        if (typeof input === "string" && !relative.test(input)) input = new URL(input, url).href;
        return nativeFetch.call(globalThis, input, init);
      },
    };
    Object.defineProperty(globalThis, "fetch", { value: wrapper.fetch, configurable: true, writable: true });
  }
}

let __wptRun = null;

// The test's scripts as the body of one function, sloppy unless the test file is strict (see
// the module's comment in harness.rs).
function __wptCompile(env) {
  const evaluator = env?.__wptEval;
  return evaluator
    ? evaluator.newFunction(__wptSource, "wpt.js", "__wptAfterHarness")
    : new Function("__wptAfterHarness", __wptSource);
}

function __wptStart(env) {
  return new Promise((resolve) => {
    let settled = false;
    let uncaught = null;
    const seen = [];
    const finish = (harness, message, subtests) => {
      if (settled) return;
      settled = true;
      resolve({
        harness,
        harness_message: __wptText(message),
        subtests: subtests.map((t) => ({
          name: __wptText(t.name),
          status: __wptStatus[t.status] ?? "FAIL",
          message: __wptText(t.message),
        })),
      });
    };
    const afterHarness = () => {
      add_result_callback((t) => seen.push(t));
      add_completion_callback((tests, status) => {
        if (uncaught !== null) {
          finish("ERROR", uncaught, tests);
        } else {
          finish(__wptHarnessStatus[status.status] ?? "ERROR", status.message, tests);
        }
      });
    };
    setTimeout(() => {
      if (typeof globalThis.timeout === "function") globalThis.timeout();
    }, __wpt.budget_ms);
    setTimeout(() => finish("TIMEOUT", "the harness did not complete", seen), __wpt.budget_ms + 2000);
    try {
      __wptInstallGlobals();
      __wptCompile(env)(afterHarness);
    } catch (error) {
      uncaught = `uncaught: ${error?.name ?? "error"}: ${error?.message ?? error}`;
      if (typeof globalThis.done === "function") {
        globalThis.done();
      } else {
        finish("ERROR", uncaught, []);
      }
    }
  });
}

export default {
  async fetch(request, env) {
    __wptRun ??= __wptStart(env);
    const result = await __wptRun;
    return new Response(JSON.stringify(result), {
      headers: { "content-type": "application/json" },
    });
  },
};
"#;

/// The worker module for one test: `harness` is testharness.js (already adapted), `scripts`
/// the META scripts in order, then the test itself, all in the string `__wptSource`.
pub fn worker_module(spec: &TestSpec, harness: &str, scripts: &[Script], test: &Script) -> String {
    let mut body = String::with_capacity(
        harness.len()
            + test.source.len()
            + scripts.iter().map(|s| s.source.len()).sum::<usize>()
            + 1024,
    );
    // The body shares one directive prologue: the test file's (see the module's comment).
    if opens_with_use_strict(&test.source) {
        body.push_str("\"use strict\";\n");
    }
    push_script(&mut body, "/resources/testharness.js", harness);
    body.push_str("__wptAfterHarness();\n");
    for script in scripts {
        push_script(&mut body, &script.path, &script.source);
    }
    push_script(&mut body, &test.path, &test.source);

    let mut out = String::with_capacity(body.len() + 8192);
    out.push_str(&format!(
        "// Generated by skiff-conformance for {}.\n",
        comment_safe(&spec.url)
    ));
    let spec_json = serde_json::to_string(spec).unwrap_or_else(|_| "{}".to_string());
    out.push_str(&format!("const __wpt = {spec_json};\n"));
    // A JSON string is a JavaScript string literal.
    let source_json = serde_json::to_string(&body).unwrap_or_else(|_| "\"\"".to_string());
    out.push_str(&format!("const __wptSource = {source_json};\n"));
    out.push_str(PRELUDE);
    out
}

/// Whether a script's directive prologue (after comments and blank lines) is `"use strict"`.
fn opens_with_use_strict(source: &str) -> bool {
    let mut rest = source;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, next)| next);
        } else {
            break;
        }
    }
    ["'use strict'", "\"use strict\""]
        .iter()
        .any(|directive| rest.starts_with(directive))
}

fn push_script(out: &mut String, path: &str, source: &str) {
    out.push_str(&format!("\n// ---- {} ----\n", comment_safe(path)));
    out.push_str(source);
    out.push_str("\n;\n");
}

fn comment_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_harness_is_switched_to_its_shell_environment() {
        let upstream = "a();\n    var test_environment = create_test_environment();\n b();";
        let adapted = adapt_testharness(upstream).expect("known harness");
        assert!(adapted.contains("var test_environment = new ShellTestEnvironment();"));
        assert!(!adapted.contains("create_test_environment();"));
        assert_eq!(
            adapt_testharness("something else"),
            Err(BuildError::UnknownHarness)
        );
    }

    #[test]
    fn a_test_file_that_opens_with_use_strict_makes_the_body_strict() {
        assert!(opens_with_use_strict("'use strict';\ntest(() => {});"));
        assert!(opens_with_use_strict(
            "// META: global=window,worker\n/* x */\n\n\"use strict\";\n"
        ));
        assert!(!opens_with_use_strict(
            "// META: title=x\nx = 1;\n'use strict';"
        ));
        assert!(!opens_with_use_strict("/* unterminated"));
        let spec = TestSpec {
            url: "http://127.0.0.1:1/a.any.js".into(),
            budget_ms: 1000,
            title: None,
        };
        let build = |source: &str| {
            let test = Script {
                path: "a.any.js".into(),
                source: source.into(),
            };
            worker_module(&spec, "/*harness*/", &[], &test)
        };
        assert!(
            build("'use strict';\n/*test*/").contains(r#"const __wptSource = "\"use strict\";"#)
        );
        assert!(build("/*test*/").contains(r#"const __wptSource = "\n// ---- /resources"#));
    }

    #[test]
    fn substitutions_fill_host_and_ports() {
        let source = "var h = '{{host}}:{{ports[http][0]}}'; var o = '{{domains[www]}}';";
        assert_eq!(
            substitute(source, "127.0.0.1", 8000),
            "var h = '127.0.0.1:8000'; var o = '{{domains[www]}}';"
        );
    }

    #[test]
    fn the_module_holds_every_script_in_order_as_one_function_body() {
        let spec = TestSpec {
            url: "http://127.0.0.1:1/url/a.any.js?x".into(),
            budget_ms: 1000,
            title: None,
        };
        let module = worker_module(
            &spec,
            "/*harness*/",
            &[Script {
                path: "common/m.js".into(),
                source: "/*meta*/".into(),
            }],
            &Script {
                path: "url/a.any.js".into(),
                source: "/*test*/".into(),
            },
        );
        let at = |needle: &str| module.find(needle).expect(needle);
        assert!(at("const __wptSource = \"") < at("/*harness*/"));
        assert!(at("/*harness*/") < at("__wptAfterHarness();"));
        assert!(at("__wptAfterHarness();") < at("/*meta*/"));
        assert!(at("/*meta*/") < at("/*test*/"));
        // The body is one string literal: the scripts' line breaks are escaped in it.
        let literal = module[at("const __wptSource = ")..]
            .lines()
            .next()
            .expect("a line");
        assert!(literal.contains("/*test*/") && literal.ends_with("\";"));
        assert!(module.contains("new Function(\"__wptAfterHarness\", __wptSource)"));
        assert!(module.contains(r#""url":"http://127.0.0.1:1/url/a.any.js?x""#));
        assert!(module.contains(r#""budget_ms":1000"#));
        assert!(module.contains("export default"));
    }
}
