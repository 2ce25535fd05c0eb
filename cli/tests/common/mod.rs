//! Helpers shared by the CLI's integration tests: `skiff` processes whose output lines are
//! watched, and HTTP clients that resolve any host to a loopback port.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of these helpers"
)]

pub mod platform;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `skiff` process whose stdout and stderr lines arrive on a channel.
pub struct Skiff {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Skiff {
    /// Runs `skiff` with `args` in `dir` to its end: its status and output.
    pub fn run(args: &[&str], dir: &Path) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(args)
            .current_dir(dir)
            .output()
            .expect("skiff runs")
    }

    pub fn spawn(args: &[&str], dir: &Path) -> Self {
        Self::spawn_with_env(args, dir, &[])
    }

    /// Like `spawn`, with extra environment variables.
    pub fn spawn_with_env(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(args)
            .current_dir(dir)
            // Output goes to a pipe: no colour codes whether or not the caller's NO_COLOR is set.
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("skiff starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for reader in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line (from now on) containing `needle`; panics after 60 s.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Every line read so far by [`Skiff::wait_for`].
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    pub fn port_from(line: &str) -> u16 {
        line.rsplit(':')
            .next()
            .and_then(|p| p.trim().trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0);
    }
}

impl Drop for Skiff {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the metrics on admin port `admin` say the node's startup snapshot is ready:
/// the first start of a new binary makes it in the background, which costs CPU and tens of
/// MiB while it runs.
pub fn wait_for_snapshot(admin: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let metrics = reqwest::blocking::get(format!("http://127.0.0.1:{admin}/metrics"))
            .and_then(|r| r.text())
            .unwrap_or_default();
        if metrics
            .lines()
            .any(|l| l == "skiff_startup_snapshot_ready 1")
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the startup snapshot was not ready within 120 s");
}

/// The resident set of process `pid`, in bytes.
pub fn rss(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

pub fn client(host: &str, port: u16) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .resolve(host, ([127, 0, 0, 1], port).into())
        .build()
        .expect("client")
}
