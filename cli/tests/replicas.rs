//! Several `skiff control` replicas on one PostgreSQL (a throwaway server of the test's own),
//! with `skiff node` processes spread over them: deploys through any replica reach every node,
//! and the platform survives a replica killed and the database restarted.

mod common;
#[path = "../../control-plane/tests/common/postgres.rs"]
mod postgres;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::Skiff;
use common::platform::{Node, read_token, text};
use postgres::TempPostgres;

/// Replicas of one control plane on one database, and nodes syncing from them.
struct Replicas {
    dir: tempfile::TempDir,
    postgres: TempPostgres,
    replicas: Vec<Option<Skiff>>,
    ports: Vec<u16>,
    admin_token: String,
    node_token_file: PathBuf,
    nodes: Vec<Option<Node>>,
}

impl Replicas {
    fn start(replicas: usize) -> Self {
        let postgres = TempPostgres::start().expect("a throwaway PostgreSQL");
        let mut platform = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            postgres,
            replicas: Vec::new(),
            ports: Vec::new(),
            admin_token: String::new(),
            node_token_file: PathBuf::new(),
            nodes: Vec::new(),
        };
        for index in 0..replicas {
            platform.replicas.push(None);
            platform.ports.push(0);
            platform.start_replica(index);
        }
        // The first replica made the tokens and wrote their files; the others use the store's.
        let data = platform.dir.path().join("control-0");
        platform.admin_token = read_token(&data.join("admin.token"));
        platform.node_token_file = data.join("node.token");
        platform
    }

    fn url(&self, replica: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[replica])
    }

    /// Starts replica `index` (again on the same port after the first time).
    fn start_replica(&mut self, index: usize) {
        let listen = format!("127.0.0.1:{}", self.ports[index]);
        let data = format!("control-{index}");
        let store = self.postgres.url();
        let mut process = Skiff::spawn(
            &[
                "control",
                "--listen",
                &listen,
                "--data-dir",
                &data,
                "--store",
                &store,
            ],
            self.dir.path(),
        );
        self.ports[index] = Skiff::port_from(&process.wait_for("listening on http://"));
        self.replicas[index] = Some(process);
    }

    /// SIGKILL: no goodbye to the nodes or the store.
    fn kill_replica(&mut self, index: usize) {
        if let Some(mut process) = self.replicas[index].take() {
            process.signal(libc::SIGKILL);
            let _ = process.child.wait();
        }
    }

    /// Adds a node syncing from `controls` (a comma-separated list of replica URLs).
    fn add_node(&mut self, controls: &str) -> usize {
        let index = self.nodes.len();
        let token = self.node_token_file.to_string_lossy().into_owned();
        let node = Node::start(self.dir.path(), index, controls, &token, &[]);
        node.wait_connected();
        self.nodes.push(Some(node));
        index
    }

    fn node(&self, index: usize) -> &Node {
        self.nodes[index].as_ref().expect("node running")
    }

    /// The CLI against replica `replica`, in `cwd`.
    fn cli(&self, replica: usize, args: &[&str], cwd: &Path) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(args)
            .current_dir(cwd)
            .env("SKIFF_CONTROL_URL", self.url(replica))
            .env("SKIFF_API_TOKEN", &self.admin_token)
            .env("NO_COLOR", "1")
            .output()
            .expect("skiff runs")
    }

    /// A project `name` answering `body`.
    fn project(&self, name: &str, body: &str) -> PathBuf {
        let projects = self.dir.path().join("projects");
        std::fs::create_dir_all(&projects).expect("mkdir");
        let dir = projects.join(name);
        if !dir.exists() {
            let out = self.cli(0, &["init", name, "--template", "js"], &projects);
            assert!(out.status.success(), "init: {}", text(&out));
        }
        let source =
            format!("export default {{ fetch() {{ return new Response({body:?}); }} }};\n");
        std::fs::write(dir.join("src/index.js"), source).expect("write module");
        dir
    }

    /// Node `index`'s answer for `script`: status and body.
    fn get(&self, index: usize, script: &str) -> (u16, String) {
        self.node(index).get(script)
    }

    fn healthz(&self, replica: usize) -> u16 {
        reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("client")
            .get(format!("{}/healthz", self.url(replica)))
            .send()
            .map_or(0, |r| r.status().as_u16())
    }
}

fn version_of(out: &Output) -> Option<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("version")
                .map(|v| v.trim().to_string())
        })
}

/// Two replicas, five nodes split between them: a deploy on either replica is served by every
/// node, and `skiff deploy` on one waits for the nodes connected to the other.
#[test]
fn deploys_through_either_replica_reach_the_nodes_of_both() {
    let mut platform = Replicas::start(2);
    let (r0, r1) = (platform.url(0), platform.url(1));
    for index in 0..5 {
        let controls = if index < 3 { r0.clone() } else { r1.clone() };
        platform.add_node(&controls);
    }
    assert_eq!((platform.healthz(0), platform.healthz(1)), (200, 200));

    let project = platform.project("hello", "one");
    let out = platform.cli(0, &["deploy"], &project);
    assert!(out.status.success(), "deploy on replica 0: {}", text(&out));
    assert!(text(&out).contains("Live on 5/5 nodes"), "{}", text(&out));
    for node in 0..5 {
        assert_eq!(
            platform.get(node, "hello"),
            (200, "one".to_string()),
            "node {node}"
        );
    }

    // Through the other replica, with the token the first one made: the deploy returns only
    // once the first replica's nodes serve it too.
    let project = platform.project("hello", "two");
    let out = platform.cli(1, &["deploy"], &project);
    assert!(out.status.success(), "deploy on replica 1: {}", text(&out));
    assert!(text(&out).contains("Live on 5/5 nodes"), "{}", text(&out));
    for node in 0..5 {
        assert_eq!(
            platform.get(node, "hello"),
            (200, "two".to_string()),
            "node {node}"
        );
    }

    let out = platform.cli(
        1,
        &["nodes", "list", "--format", "json"],
        platform.dir.path(),
    );
    assert!(out.status.success(), "nodes list: {}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let nodes = list["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 5, "{list}");
    let replicas: BTreeSet<_> = nodes.iter().filter_map(|n| n["replica"].as_str()).collect();
    assert_eq!(
        replicas,
        BTreeSet::from([r0.as_str(), r1.as_str()]),
        "{list}"
    );
}

/// Deploys every 200 ms through both replicas while one replica is killed and restarted and
/// then the database restarts: every deploy the CLI saw succeed is kept, every node ends on
/// the last one, no node ever goes back to an older revision, and the deploys made while the
/// database was down fail with a clear error, in bounded time.
#[test]
fn the_platform_survives_a_killed_replica_and_a_database_restart() {
    let mut platform = Replicas::start(2);
    let (r0, r1) = (platform.url(0), platform.url(1));
    for controls in [
        format!("{r0},{r1}"),
        format!("{r1},{r0}"),
        format!("{r0},{r1}"),
    ] {
        platform.add_node(&controls);
    }
    let mut succeeded = Vec::new();
    let mut failed_while_down = Vec::new();
    let mut last_body = String::new();
    for round in 0..30 {
        match round {
            8 => platform.kill_replica(0),
            14 => platform.start_replica(0),
            20 => platform.postgres.stop(),
            24 => platform
                .postgres
                .start_again()
                .expect("PostgreSQL starts again"),
            _ => {}
        }
        let database_down = (20..24).contains(&round);
        let body = format!("round {round}");
        let project = platform.project("chaos", &body);
        let replica = round % 2;
        let started = Instant::now();
        let out = platform.cli(replica, &["deploy", "--no-wait"], &project);
        let took = started.elapsed();
        if out.status.success() {
            assert!(
                !database_down,
                "a deploy succeeded with the database down: {}",
                text(&out)
            );
            succeeded.push(version_of(&out).expect("a version id"));
            last_body = body;
        } else if database_down {
            assert!(took < Duration::from_secs(20), "a deploy hung for {took:?}");
            failed_while_down.push(text(&out));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        succeeded.len() >= 15,
        "only {} deploys succeeded",
        succeeded.len()
    );
    assert_eq!(
        failed_while_down.len(),
        4,
        "every deploy failed while the database was down"
    );
    for failure in &failed_while_down {
        assert!(
            failure.contains("unavailable"),
            "not a clear error: {failure}"
        );
    }

    for node in 0..3 {
        platform
            .node(node)
            .wait_for_body("chaos", &last_body, Duration::from_secs(30));
    }
    let out = platform.cli(
        1,
        &["versions", "list", "--name", "chaos", "--format", "json"],
        platform.dir.path(),
    );
    assert!(out.status.success(), "versions list: {}", text(&out));
    let listed = text(&out);
    for version in &succeeded {
        assert!(
            listed.contains(version.as_str()),
            "version {version} is lost:\n{listed}"
        );
    }
    for node in 0..3 {
        let sync = platform.node(node).sync();
        let applied: Vec<u64> = sync["applied"]
            .as_array()
            .expect("the applied revisions")
            .iter()
            .filter_map(|entry| entry["revision"].as_u64())
            .collect();
        assert!(
            applied.windows(2).all(|pair| pair[0] <= pair[1]),
            "node {node} went backwards: {applied:?}"
        );
        assert!(!applied.is_empty(), "node {node} applied nothing: {sync}");
    }
}
