//! The whole platform as a user runs it: `skiff control` and `skiff node` processes syncing
//! from it, on loopback with ports picked by the kernel, and the CLI talking to them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{Skiff, client};

/// A control plane and the edge nodes syncing from it.
pub struct Platform {
    pub dir: tempfile::TempDir,
    pub control: Option<Skiff>,
    pub control_port: u16,
    pub admin_token: String,
    pub node_token: String,
    pub nodes: Vec<Option<Node>>,
    /// The flags each node is started with besides the usual ones.
    node_flags: Vec<Vec<String>>,
    /// The flags the control plane is started with besides the usual ones.
    control_flags: Vec<String>,
}

pub struct Node {
    /// Killed when the node is dropped.
    process: Skiff,
    pub port: u16,
    /// The admin listener's port (`/metrics`, `/sync`).
    pub admin_port: u16,
}

impl Node {
    /// `skiff node` in `dir` with data dir `node-INDEX`, syncing from `controls` (one URL or
    /// several, comma-separated) with the node token in `token_file`, and `flags`.
    pub fn start(
        dir: &Path,
        index: usize,
        controls: &str,
        token_file: &str,
        flags: &[&str],
    ) -> Self {
        let data_dir = format!("node-{index}");
        let mut args = vec![
            "node",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--threads",
            "1",
            "--data-dir",
            &data_dir,
            "--control",
            controls,
            "--node-token-file",
            token_file,
        ];
        args.extend(flags);
        let mut process = Skiff::spawn(&args, dir);
        let port = Skiff::port_from(&process.wait_for("listening on http://"));
        let metrics = process.wait_for("metrics on http://");
        let admin_port = Skiff::port_from(metrics.trim_end_matches("/metrics"));
        Node {
            process,
            port,
            admin_port,
        }
    }

    /// Waits (up to 60 s) until the node's sync stream is open: a deploy made then waits for
    /// this node.
    pub fn wait_connected(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.sync()["connected"] != true {
            assert!(
                Instant::now() < deadline,
                "the node on port {} did not connect",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The node process's id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// One request to `NAME.localhost`: status and body (status 0 and the error when the
    /// request failed).
    pub fn get(&self, script: &str) -> (u16, String) {
        self.get_path(script, "/")
    }

    /// One request for `path` at `NAME.localhost`, as [`Node::get`].
    pub fn get_path(&self, script: &str, path: &str) -> (u16, String) {
        let host = format!("{script}.localhost");
        match client(&host, self.port)
            .get(format!("http://{host}:{}{path}", self.port))
            .send()
        {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().unwrap_or_default())
            }
            Err(err) => (0, err.to_string()),
        }
    }

    /// Waits (up to `within`) until the node answers `expected` for `script`.
    pub fn wait_for_body(&self, script: &str, expected: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let (status, body) = self.get(script);
            if status == 200 && body == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the node on port {} still answers {status} {body:?} for {script}, not \
                 {expected:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The node's `GET /sync` (its admin listener): the sync status as JSON.
    pub fn sync(&self) -> serde_json::Value {
        reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
            .get(format!("http://127.0.0.1:{}/sync", self.admin_port))
            .send()
            .expect("GET /sync")
            .json()
            .expect("the sync status is JSON")
    }
}

impl Platform {
    pub fn start(nodes: usize) -> Self {
        Self::start_with(nodes, &[])
    }

    /// A platform whose control plane is started with `control_flags` too, at every start.
    pub fn start_with(nodes: usize, control_flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut platform = Self {
            dir,
            control: None,
            control_port: 0,
            admin_token: String::new(),
            node_token: String::new(),
            nodes: Vec::new(),
            node_flags: Vec::new(),
            control_flags: control_flags.iter().map(|f| f.to_string()).collect(),
        };
        platform.start_control();
        let data = platform.dir.path().join("control");
        platform.admin_token = read_token(&data.join("admin.token"));
        platform.node_token = read_token(&data.join("node.token"));
        for _ in 0..nodes {
            platform.add_node();
        }
        platform
    }

    pub fn control_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.control_port)
    }

    /// Starts the control plane (again, on the same port and data dir after the first time).
    pub fn start_control(&mut self) {
        let listen = format!("127.0.0.1:{}", self.control_port);
        let mut args = vec!["control", "--listen", &listen, "--data-dir", "control"];
        args.extend(self.control_flags.iter().map(String::as_str));
        let mut control = Skiff::spawn(&args, self.dir.path());
        self.control_port = Skiff::port_from(&control.wait_for("listening on http://"));
        self.control = Some(control);
    }

    pub fn stop_control(&mut self) {
        self.control = None;
    }

    pub fn add_node(&mut self) -> usize {
        self.add_node_with(&[])
    }

    /// Adds a node started with `flags` too (such as `--zone Z`), at every start.
    pub fn add_node_with(&mut self, flags: &[&str]) -> usize {
        self.nodes.push(None);
        self.node_flags
            .push(flags.iter().map(|flag| flag.to_string()).collect());
        let index = self.nodes.len() - 1;
        self.start_node(index);
        index
    }

    /// Starts node `index` with its own data dir (kept across restarts), and waits until it is
    /// connected when the control plane runs.
    pub fn start_node(&mut self, index: usize) {
        let url = self.control_url();
        let flags: Vec<&str> = self.node_flags[index].iter().map(String::as_str).collect();
        let node = Node::start(self.dir.path(), index, &url, "control/node.token", &flags);
        if self.control.is_some() {
            node.wait_connected();
        }
        self.nodes[index] = Some(node);
    }

    /// The id node `index` has (kept in its data dir).
    pub fn node_id(&self, index: usize) -> String {
        let path = self.dir.path().join(format!("node-{index}/node-id"));
        let id = std::fs::read_to_string(&path).expect("the node's id");
        id.trim().to_string()
    }

    /// Node `index`'s `GET /sync` (its admin listener): the sync status as JSON.
    pub fn node_sync(&self, index: usize) -> serde_json::Value {
        self.nodes[index].as_ref().expect("node running").sync()
    }

    pub fn stop_node(&mut self, index: usize) {
        self.nodes[index] = None;
    }

    pub fn node_port(&self, index: usize) -> u16 {
        self.nodes[index].as_ref().expect("node running").port
    }

    /// Runs the CLI in `cwd` with the admin token; `stdin` is piped in.
    pub fn cli(&self, args: &[&str], cwd: &Path, stdin: &str) -> Output {
        self.cli_with_token(args, cwd, stdin, &self.admin_token)
    }

    pub fn cli_with_token(&self, args: &[&str], cwd: &Path, stdin: &str, token: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(args)
            .current_dir(cwd)
            .env("SKIFF_CONTROL_URL", self.control_url())
            .env("SKIFF_API_TOKEN", token)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("skiff runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("skiff finishes")
    }

    /// `skiff init NAME` and a `src/index.js` of `source`; returns the project folder.
    pub fn project(&self, name: &str, source: &str) -> PathBuf {
        let projects = self.dir.path().join("projects");
        std::fs::create_dir_all(&projects).expect("mkdir");
        let dir = projects.join(name);
        if !dir.exists() {
            let out = self.cli(&["init", name, "--template", "js"], &projects, "");
            assert!(out.status.success(), "init: {}", text(&out));
        }
        std::fs::write(dir.join("src/index.js"), source).expect("write module");
        dir
    }

    /// One request to `NAME.localhost` on node `index`: status and body.
    pub fn get(&self, index: usize, script: &str) -> (u16, String) {
        let port = self.node_port(index);
        let host = format!("{script}.localhost");
        let response = client(&host, port)
            .get(format!("http://{host}:{port}/"))
            .send()
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().expect("body"))
    }

    /// Waits (up to 30 s) until node `index` answers `expected` for `script`.
    pub fn wait_for_body(&self, index: usize, script: &str, expected: &str) {
        let node = self.nodes[index].as_ref().expect("node running");
        node.wait_for_body(script, expected, Duration::from_secs(30));
    }

    /// Waits (up to 30 s) until node `index` answers 200 for `script` with a body that starts
    /// with `prefix`.
    pub fn wait_for_body_prefix(&self, index: usize, script: &str, prefix: &str) {
        let node = self.nodes[index].as_ref().expect("node running");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = node.get(script);
            if status == 200 && body.starts_with(prefix) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {index} still answers {status} {body:?} for {script}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A raw admin API call.
    pub fn api(&self, method: reqwest::Method, path: &str) -> (u16, String) {
        let response = reqwest::blocking::Client::new()
            .request(method, format!("{}{path}", self.control_url()))
            .bearer_auth(&self.admin_token)
            .send()
            .expect("api call");
        let status = response.status().as_u16();
        (status, response.text().expect("body"))
    }
}

pub fn read_token(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(token) = std::fs::read_to_string(path)
            && !token.trim().is_empty()
        {
            return token.trim().to_string();
        }
        assert!(Instant::now() < deadline, "no token in {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// stdout and stderr of a CLI run.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
