//! `skiff-conformance`: runs web-platform-tests inside a worker's global scope on a real
//! `skiff node` and on workerd, side by side, judges Skiff against the expected failures in
//! `conformance/expectations/`, and writes `conformance/REPORT.md`.
//!
//! Without `--wpt DIR` it says where to get the WPT files and exits cleanly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use skiff_conformance::expectations;
use skiff_conformance::harness::{self, Script, TestSpec};
use skiff_conformance::meta::{self, Meta};
use skiff_conformance::reasons;
use skiff_conformance::report::{self, Row};
use skiff_conformance::results::FileResult;
use skiff_conformance::serve::ResourceServer;

/// The WPT directories this project measures.
const DIRECTORIES: &[&str] = &[
    "url",
    "encoding",
    "fetch/api/headers",
    "fetch/api/request",
    "fetch/api/response",
    "fetch/api/body",
    "fetch/api/abort",
    "fetch/data-urls",
    "streams",
    "WebCryptoAPI",
    "compression",
    "dom/events",
    "dom/abort",
    "FileAPI/blob",
    "xhr/formdata",
    "html/webappapis/atob",
    "html/webappapis/structured-clone",
    "html/webappapis/timers",
    "html/webappapis/microtask-queuing",
    "hr-time",
    "urlpattern",
    "console",
];

const WHERE_TO_GET_WPT: &str = "\
skiff-conformance: no WPT checkout given (--wpt DIR); nothing to run.

The web-platform-tests files are not part of this repository. Take a copy into a folder outside
it (Node's vendored WPT, test/fixtures/wpt/ of https://github.com/denoland/node_test, with
fetch/api, xhr and fetch/data-urls from undici's copy), then:
  cargo run --release -p skiff-conformance -- --wpt DIR
See conformance/README.md.";

#[derive(Parser, Debug)]
#[command(
    name = "skiff-conformance",
    about = "Runs web-platform-tests on Skiff and workerd"
)]
struct Args {
    /// Root of a web-platform-tests checkout (holds resources/testharness.js).
    #[arg(long)]
    wpt: Option<PathBuf>,
    /// Only these WPT directories (repeatable); default: all of them.
    #[arg(long = "dir")]
    dirs: Vec<String>,
    /// Only test files whose path contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// The skiff binary (default: $CARGO_TARGET_DIR/release/skiff).
    #[arg(long)]
    skiff: Option<PathBuf>,
    /// The workerd binary (default: conformance/.peers/node_modules/.bin/workerd).
    #[arg(long)]
    workerd: Option<PathBuf>,
    /// Measure Skiff alone.
    #[arg(long)]
    no_workerd: bool,
    /// Expectation files' root (default: conformance/expectations).
    #[arg(long)]
    expectations: Option<PathBuf>,
    /// Rewrite the expectation files from this run instead of judging it.
    #[arg(long)]
    update_expectations: bool,
    /// Run nothing: turn raw failure messages in the expectation files into one-line reasons
    /// (see src/reasons.rs) and print how many entries each reason has. Exits 1 when some
    /// entry has no reason.
    #[arg(long)]
    reasons: bool,
    /// Where to write the report (default: conformance/REPORT.md when every directory ran).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Test files requested at once from a runtime.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Test files per runtime process.
    #[arg(long, default_value_t = 40)]
    batch: usize,
    /// Seconds a test file may run (`timeout=long` files get four times as much).
    #[arg(long, default_value_t = 20)]
    timeout_secs: u64,
    /// Keep the generated workers and logs here instead of a temporary directory.
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// One (file, variant) to run.
#[derive(Debug, Clone)]
struct Case {
    /// The WPT directory it belongs to (one of `DIRECTORIES`).
    directory: String,
    /// Its key in expectations: path relative to the directory, plus the variant.
    key: String,
    /// The worker's script name (host `NAME.localhost`).
    script: String,
    budget: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Runtime {
    Skiff,
    Workerd,
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.reasons {
        let root = args
            .expectations
            .clone()
            .unwrap_or_else(|| crate_dir().join("expectations"));
        std::process::exit(reasons_step(&root)?);
    }
    let Some(wpt) = args.wpt.clone() else {
        println!("{WHERE_TO_GET_WPT}");
        return Ok(());
    };
    let code = run(args, wpt).await?;
    std::process::exit(code);
}

async fn run(args: Args, wpt: PathBuf) -> Result<i32> {
    let testharness = std::fs::read_to_string(wpt.join("resources/testharness.js"))
        .with_context(|| format!("{} has no resources/testharness.js", wpt.display()))?;
    let testharness = harness::adapt_testharness(&testharness)?;

    let skiff = args.skiff.clone().unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate_dir().join("../target"));
        target.join("release/skiff")
    });
    if !skiff.is_file() {
        bail!(
            "no skiff binary at {} (cargo build --release -p skiff-cli, or --skiff PATH)",
            skiff.display()
        );
    }
    let workerd = if args.no_workerd {
        None
    } else {
        let path = args
            .workerd
            .clone()
            .unwrap_or_else(|| crate_dir().join(".peers/node_modules/.bin/workerd"));
        match binary_version(&path).await {
            Some(version) => Some((path, version)),
            None => {
                println!(
                    "skiff-conformance: workerd not available at {} (npm install --prefix conformance/.peers workerd); measuring Skiff alone",
                    path.display()
                );
                None
            }
        }
    };

    let directories: Vec<String> = if args.dirs.is_empty() {
        DIRECTORIES.iter().map(|d| d.to_string()).collect()
    } else {
        for dir in &args.dirs {
            if !DIRECTORIES.contains(&dir.as_str()) {
                bail!("{dir} is not one of the measured directories: {DIRECTORIES:?}");
            }
        }
        args.dirs.clone()
    };

    let work = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            WorkDir::Kept(dir.clone())
        }
        None => WorkDir::Temp(tempdir()?),
    };
    let server = ResourceServer::start(wpt.clone()).await?;
    let origin = format!("http://{}", server.addr());
    println!(
        "skiff-conformance: WPT {}, resources on {origin}",
        wpt.display()
    );

    // Build every worker, in batches of one runtime process each.
    let mut cases = Vec::new();
    for directory in &directories {
        let found = discover(&wpt, directory, args.filter.as_deref())?;
        if found.is_empty() {
            println!("  {directory}: no .any.js files in this checkout");
        }
        for path in found {
            let relative = path
                .strip_prefix(&wpt)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let meta = Meta::parse(&source);
            if !meta.runs_in_workers() {
                continue;
            }
            let scripts = match meta_scripts(&wpt, &relative, &meta, server.addr()) {
                Ok(scripts) => scripts,
                Err(e) => {
                    println!("  skipping {relative}: {e:#}");
                    continue;
                }
            };
            let test_source = if relative.contains(".sub.") {
                harness::substitute(&source, "127.0.0.1", server.addr().port())
            } else {
                source.clone()
            };
            let budget =
                Duration::from_secs(args.timeout_secs * if meta.long_timeout { 4 } else { 1 });
            for query in meta.queries() {
                let script = format!("t{:04}", cases.len());
                let key = format!(
                    "{}{query}",
                    relative
                        .strip_prefix(&format!("{directory}/"))
                        .unwrap_or(&relative)
                );
                let spec = TestSpec {
                    url: format!("{origin}/{relative}{query}"),
                    budget_ms: budget.as_millis() as u64,
                    title: meta.title.clone(),
                };
                let module = harness::worker_module(
                    &spec,
                    &testharness,
                    &scripts,
                    &Script {
                        path: relative.clone(),
                        source: test_source.clone(),
                    },
                );
                let batch = cases.len() / args.batch.max(1);
                let file = work.path().join(format!("batch{batch}/{script}.js"));
                write(&file, &module)?;
                cases.push(Case {
                    directory: directory.clone(),
                    key,
                    script,
                    budget,
                });
            }
        }
    }
    println!(
        "skiff-conformance: {} test runs in {} directories",
        cases.len(),
        directories.len()
    );

    let mut results: BTreeMap<(Runtime, String), FileResult> = BTreeMap::new();
    let batches: Vec<Vec<Case>> = cases
        .chunks(args.batch.max(1))
        .map(|c| c.to_vec())
        .collect();
    for (index, batch) in batches.iter().enumerate() {
        let dir = work.path().join(format!("batch{index}"));
        let names: Vec<&str> = batch.iter().map(|c| c.script.as_str()).collect();
        println!(
            "  batch {}/{}: {} .. {}",
            index + 1,
            batches.len(),
            batch.first().map(|c| c.key.as_str()).unwrap_or(""),
            batch.last().map(|c| c.key.as_str()).unwrap_or("")
        );
        let mut node =
            SkiffNode::start(&skiff, &dir, &work.path().join(format!("skiff{index}.log")))
                .await
                .context("starting skiff node")?;
        let got = run_batch(node.addr, batch, args.jobs).await;
        node.stop().await;
        for (case, result) in batch.iter().zip(got) {
            keep_result(&args, &dir, case, "skiff", &result)?;
            results.insert((Runtime::Skiff, case.script.clone()), result);
        }
        if let Some((workerd, _)) = &workerd {
            let config = workerd_config(work.path(), index, &names)?;
            let mut peer = Workerd::start(
                workerd,
                &config,
                &work.path().join(format!("workerd{index}.log")),
            )
            .await
            .context("starting workerd")?;
            let got = run_batch(peer.addr, batch, args.jobs).await;
            peer.stop().await;
            for (case, result) in batch.iter().zip(got) {
                keep_result(&args, &dir, case, "workerd", &result)?;
                results.insert((Runtime::Workerd, case.script.clone()), result);
            }
        }
    }

    // Judge Skiff per directory; figures for the report.
    let expectations_root = args
        .expectations
        .clone()
        .unwrap_or_else(|| crate_dir().join("expectations"));
    let mut rows = Vec::new();
    let mut clean = true;
    for directory in &directories {
        let in_dir: Vec<&Case> = cases.iter().filter(|c| &c.directory == directory).collect();
        let mut run: BTreeMap<String, Vec<(String, bool, String)>> = BTreeMap::new();
        let mut row = Row {
            directory: directory.clone(),
            files: in_dir.len(),
            subtests: 0,
            skiff_passed: 0,
            workerd_passed: workerd.as_ref().map(|_| 0),
        };
        for case in &in_dir {
            let skiff_result = &results[&(Runtime::Skiff, case.script.clone())];
            run.insert(case.key.clone(), skiff_result.outcomes());
            let (skiff_passed, skiff_total) = skiff_result.tally();
            let mut total = skiff_total;
            if let Some(peer) = results.get(&(Runtime::Workerd, case.script.clone())) {
                let (passed, peer_total) = peer.tally();
                total = total.max(peer_total);
                row.workerd_passed = row.workerd_passed.map(|p| p + passed);
            }
            row.subtests += total;
            row.skiff_passed += skiff_passed;
        }
        rows.push(row);

        let path = expectations_root.join(format!("{directory}.json"));
        let expected = expectations::load(&path)?;
        if args.update_expectations {
            let updated = expectations::from_run(&expected, &run, |file, subtest, description| {
                reasons::reason_for(directory, file, subtest, description)
            });
            if updated.is_empty() && !path.exists() {
                continue;
            }
            expectations::save(&path, &updated)?;
            continue;
        }
        let verdict = expectations::judge(&expected, &run);
        if !verdict.is_clean() {
            clean = false;
            println!("\n{directory}: the run does not match {}", path.display());
            for (file, subtest, what) in &verdict.unexpected_failures {
                println!("  unexpected failure: {file} :: {subtest} :: {what}");
            }
            for (file, subtest) in &verdict.unexpected_passes {
                println!("  unexpected pass (remove it from the list): {file} :: {subtest}");
            }
            for (file, subtest) in &verdict.stale {
                println!("  listed but not run (remove it from the list): {file} :: {subtest}");
            }
        }
    }

    let skiff_version = binary_version(&skiff)
        .await
        .unwrap_or_else(|| "skiff, version unknown".to_string());
    let runtimes = match &workerd {
        Some((_, version)) => format!("Skiff ({skiff_version}), {version}"),
        None => format!("Skiff ({skiff_version}) alone: workerd was not available"),
    };
    let args_given: Vec<String> = std::env::args().collect();
    let command = report::command_line(
        &args_given,
        &crate_dir().join(".."),
        &std::env::current_dir()?,
    );
    let text = report::markdown(&rows, &command, &runtimes);
    println!("\n{text}");
    let report_path = match &args.report {
        Some(path) => Some(path.clone()),
        None if args.dirs.is_empty() && args.filter.is_none() => {
            Some(crate_dir().join("REPORT.md"))
        }
        None => None,
    };
    if let Some(path) = report_path {
        write(&path, &text)?;
        println!("skiff-conformance: wrote {}", path.display());
    }
    if args.update_expectations {
        println!(
            "skiff-conformance: expectations updated under {}",
            expectations_root.display()
        );
        return Ok(0);
    }
    if clean {
        println!("skiff-conformance: Skiff matches its expectations");
        Ok(0)
    } else {
        println!("skiff-conformance: Skiff does not match its expectations (see above)");
        Ok(1)
    }
}

/// The `.any.js` files of a directory, recursively, sorted; helper folders (`resources`,
/// `support`) and the legacy multi-byte encoding tests are left out.
fn discover(wpt: &Path, directory: &str, filter: Option<&str>) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let root = wpt.join(directory);
    if !root.is_dir() {
        return Ok(out);
    }
    let mut pending = vec![root];
    let mut visited = 0;
    while let Some(dir) = pending.pop() {
        visited += 1;
        if visited > 10_000 {
            bail!("more than 10000 folders under {directory}");
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if entry.file_type()?.is_dir() {
                if name != "resources" && name != "support" && !name.starts_with("legacy-mb") {
                    pending.push(path);
                }
            } else if name.ends_with(".any.js")
                && filter.is_none_or(|f| path.to_string_lossy().contains(f))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `--reasons`: rewrites raw messages into reasons in each directory's expectation file and
/// prints the reasons by number of entries; 1 when some entry is still unclassified.
fn reasons_step(root: &Path) -> Result<i32> {
    let mut values = Vec::new();
    let mut changed = 0;
    for directory in DIRECTORIES {
        let path = root.join(format!("{directory}.json"));
        if !path.exists() {
            continue;
        }
        let mut listed = expectations::load(&path)?;
        let rewritten = reasons::rewrite(directory, &mut listed);
        if rewritten > 0 {
            expectations::save(&path, &listed)?;
            changed += rewritten;
        }
        for (file, subtests) in &listed {
            for (subtest, reason) in subtests {
                if reason.starts_with(reasons::UNCLASSIFIED) {
                    println!("  {directory}: {file} :: {subtest} :: {reason}");
                }
                values.push(reason.clone());
            }
        }
    }
    println!(
        "skiff-conformance: {changed} raw messages turned into reasons under {}",
        root.display()
    );
    let tally = reasons::tally(values.iter().map(String::as_str));
    let mut unclassified = 0;
    for (reason, count) in &tally {
        println!("{count:6}  {reason}");
        if reason.starts_with(reasons::UNCLASSIFIED.trim_end_matches([':', ' '])) {
            unclassified = *count;
        }
    }
    Ok(i32::from(unclassified > 0))
}

/// The META scripts of a test, resolved and read (with `.sub.` substitutions).
fn meta_scripts(
    wpt: &Path,
    relative: &str,
    meta: &Meta,
    resources: SocketAddr,
) -> Result<Vec<Script>> {
    let test_dir = relative.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let mut out = Vec::new();
    for script in &meta.scripts {
        let Some(path) = meta::resolve_script(test_dir, script) else {
            bail!("META script {script} leaves the WPT root");
        };
        let source = std::fs::read_to_string(wpt.join(&path))
            .with_context(|| format!("META script {path} is not in this checkout"))?;
        let source = if path.contains(".sub.") {
            harness::substitute(&source, "127.0.0.1", resources.port())
        } else {
            source
        };
        out.push(Script { path, source });
    }
    Ok(out)
}

/// Requests every case of a batch from a runtime at `addr`, `jobs` at a time.
async fn run_batch(addr: SocketAddr, batch: &[Case], jobs: usize) -> Vec<FileResult> {
    let mut builder = reqwest::Client::builder().no_proxy();
    for case in batch {
        builder = builder.resolve(&format!("{}.localhost", case.script), addr);
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(e) => {
            return batch
                .iter()
                .map(|_| FileResult::broken(format!("no HTTP client: {e}")))
                .collect();
        }
    };
    let limit = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, case) in batch.iter().enumerate() {
        let client = client.clone();
        let limit = limit.clone();
        let url = format!("http://{}.localhost:{}/", case.script, addr.port());
        // The harness times out pending subtests after the budget; the request gets a margin on
        // top for a worker that is stuck in a loop.
        let deadline = case.budget + Duration::from_secs(15);
        tasks.spawn(async move {
            let _permit = limit.acquire().await;
            (index, fetch_result(&client, &url, deadline).await)
        });
    }
    let mut out: Vec<Option<FileResult>> = vec![None; batch.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, result)) = joined {
            out[index] = Some(result);
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| FileResult::broken("the request task failed")))
        .collect()
}

async fn fetch_result(client: &reqwest::Client, url: &str, deadline: Duration) -> FileResult {
    let response = match client.get(url).timeout(deadline).send().await {
        Ok(response) => response,
        Err(e) if e.is_timeout() => {
            return FileResult::broken(format!("no answer within {} s", deadline.as_secs()));
        }
        Err(e) => return FileResult::broken(format!("request failed: {e}")),
    };
    let status = response.status();
    let body = match response.text().await {
        Ok(body) => body,
        Err(e) => return FileResult::broken(format!("reading the answer failed: {e}")),
    };
    if !status.is_success() {
        let first = body
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>();
        return FileResult::broken(format!("HTTP {}: {first}", status.as_u16()));
    }
    FileResult::parse(&body)
        .unwrap_or_else(|e| FileResult::broken(format!("unreadable results: {e}")))
}

/// With `--work-dir`, keeps what a runtime answered for a case beside its worker
/// (`batchN/NAME.RUNTIME.json`, with the case's key), to compare the runtimes subtest by subtest.
fn keep_result(
    args: &Args,
    batch_dir: &Path,
    case: &Case,
    runtime: &str,
    result: &FileResult,
) -> Result<()> {
    if args.work_dir.is_none() {
        return Ok(());
    }
    let kept =
        serde_json::json!({ "directory": case.directory, "key": case.key, "result": result });
    write(
        &batch_dir.join(format!("{}.{runtime}.json", case.script)),
        &serde_json::to_string_pretty(&kept)?,
    )
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

enum WorkDir {
    Kept(PathBuf),
    Temp(PathBuf),
}

impl WorkDir {
    fn path(&self) -> &Path {
        match self {
            WorkDir::Kept(p) | WorkDir::Temp(p) => p,
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let WorkDir::Temp(p) = self {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("skiff-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A `skiff node` child process serving one batch.
struct SkiffNode {
    child: Child,
    addr: SocketAddr,
}

impl SkiffNode {
    async fn start(skiff: &Path, scripts: &Path, log: &Path) -> Result<SkiffNode> {
        let log_file = std::fs::File::create(log)?;
        let mut child = Command::new(skiff)
            .args([
                "node",
                "--listen",
                "127.0.0.1:0",
                "--allow-private-fetch",
                // One request runs a whole test file: lift the per-request limits that a
                // tenant's worker would have, as workerd's default config has none of them.
                "--cpu-ms",
                "600000",
                "--startup-cpu-ms",
                "600000",
                "--wall-clock-secs",
                "600",
                "--subrequests",
                "10000",
                "--memory-mib",
                "1024",
                // The harness compiles each test file with `new Function` (see harness.rs),
                // which a node refuses to tenants unless told otherwise.
                "--unsafe-eval",
                "--scripts",
            ])
            .arg(scripts)
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", skiff.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("skiff node: listening on http://") {
                    return url.trim().parse::<SocketAddr>().ok();
                }
            }
            None
        })
        .await;
        let Ok(Some(addr)) = found else {
            let _ = child.kill().await;
            bail!(
                "skiff node did not report its address within 60 s (log: {})",
                log.display()
            );
        };
        // Keep draining stdout so the node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(SkiffNode { child, addr })
    }

    async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// A workerd child process serving one batch through a router worker.
struct Workerd {
    child: Child,
    addr: SocketAddr,
}

impl Workerd {
    async fn start(workerd: &Path, config: &(PathBuf, SocketAddr), log: &Path) -> Result<Workerd> {
        let (path, addr) = config;
        let log_file = std::fs::File::create(log)?;
        // `--experimental` admits the test workers' `unsafeEval` binding (see harness.rs).
        let mut child = Command::new(workerd)
            .arg("serve")
            .arg("--experimental")
            .arg(path)
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", workerd.display()))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(Workerd { child, addr: *addr });
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!("workerd exited ({status}); log: {}", log.display());
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill().await;
                bail!(
                    "workerd did not listen within 120 s; log: {}",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// What `PATH --version` prints, or `None` when it cannot run.
async fn binary_version(path: &Path) -> Option<String> {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(path).arg("--version").output(),
    )
    .await
    .ok()?
    .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

const ROUTER: &str = "// Routes NAME.localhost to the test worker NAME (a service binding).
export default {
  fetch(request, env) {
    const name = new URL(request.url).hostname.split('.')[0];
    const target = env[name];
    if (!target) return new Response('no test worker ' + name, { status: 404 });
    return target.fetch(request);
  },
};
";

/// The capnp config for batch `index`: a router on a free loopback port with a binding to each
/// test worker; the workers may fetch from loopback (the resource origin), and have the
/// `unsafeEval` binding that compiles their scripts in sloppy mode (see harness.rs).
fn workerd_config(work: &Path, index: usize, names: &[&str]) -> Result<(PathBuf, SocketAddr)> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    write(&work.join("router.js"), ROUTER)?;
    let date = "2026-11-01";
    let mut services = format!(
        "    (name = \"router\", worker = (modules = [(name = \"router.js\", esModule = embed \"router.js\")], compatibilityDate = \"{date}\", bindings = ["
    );
    services.push_str(
        &names
            .iter()
            .map(|n| format!("(name = \"{n}\", service = \"{n}\")"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    services.push_str("])),\n");
    for name in names {
        services.push_str(&format!(
            "    (name = \"{name}\", worker = (modules = [(name = \"worker.js\", esModule = embed \"batch{index}/{name}.js\")], compatibilityDate = \"{date}\", bindings = [(name = \"__wptEval\", unsafeEval = void)], globalOutbound = \"loopback\")),\n"
        ));
    }
    services.push_str(
        "    (name = \"loopback\", network = (allow = [\"public\", \"private\", \"local\"])),\n",
    );
    let config = format!(
        "using Workerd = import \"/workerd/workerd.capnp\";\n\
         const config :Workerd.Config = (\n  services = [\n{services}  ],\n  \
         sockets = [ (name = \"http\", address = \"{addr}\", http = (), service = \"router\") ],\n);\n"
    );
    let path = work.join(format!("workerd{index}.capnp"));
    write(&path, &config)?;
    Ok((path, addr))
}
