//! Hostile-client suite: a node that runs out of file descriptors. `skiff node` runs with a
//! low RLIMIT_NOFILE (set in its own process only) and the test holds more connections open
//! than it has descriptors. The accept loop must back off instead of spinning, log at most a
//! warning a second, and serve again once the connections are gone.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The node's descriptor limit: enough to start, far fewer than the connections below.
const NOFILE: u64 = 256;
/// Past the descriptors, a few dozen more wait in the listen backlog (more would stall
/// `connect` on SYN retries once the backlog is full).
const CONNECTIONS: usize = NOFILE as usize + 64;

struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_node(scripts: &std::path::Path) -> Node {
    let mut command = Command::new(env!("CARGO_BIN_EXE_skiff"));
    command
        .args([
            "node",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--scripts")
        .arg(scripts)
        .args(["--threads", "1", "--no-warm"])
        // The cap above the descriptor limit, so that accept itself fails.
        .args([
            "--max-connections",
            "100000",
            "--handshake-timeout-secs",
            "60",
        ])
        .env("SKIFF_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: NOFILE as libc::rlim_t,
                rlim_max: NOFILE as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("skiff starts");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    for reader in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    Node { child, lines }
}

impl Node {
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no line with {needle:?}"),
            }
        }
    }

    /// Drops the lines printed so far.
    fn drain(&self) {
        while self.lines.try_recv().is_ok() {}
    }

    /// The lines printed within `window`.
    fn lines_during(&self, window: Duration) -> Vec<String> {
        let end = Instant::now() + window;
        let mut lines = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            lines.push(line);
        }
        lines
    }
}

fn port(line: &str) -> u16 {
    line.trim()
        .trim_end_matches("/metrics")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// A GET on a fresh connection with `Connection: close`: the response text, if any.
fn get(port: u16, host: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    (!response.is_empty()).then_some(response)
}

#[test]
fn a_node_out_of_file_descriptors_backs_off_quietly_and_recovers() {
    let scripts = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        scripts.path().join("hello.js"),
        r#"export default { fetch() { return new Response("hello"); } };"#,
    )
    .expect("write script");
    let started = Instant::now();
    let node = spawn_node(scripts.path());
    let http = port(&node.wait_for("listening on http://"));
    let admin = port(&node.wait_for("metrics on http://"));
    let served = get(http, "hello.localhost", "/").expect("served before");
    assert!(served.ends_with("hello"), "{served}");

    eprintln!("node serving after {:?}", started.elapsed());
    node.drain();
    // More connections than the node has descriptors; they send nothing and stay.
    let held: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(("127.0.0.1", http)).expect("connect"))
        .collect();
    let connected = started.elapsed();
    node.wait_for("accept failed");
    let lines = node.lines_during(Duration::from_secs(2));
    let warnings = lines.iter().filter(|l| l.contains("accept failed")).count();
    eprintln!(
        "{CONNECTIONS} connections held after {connected:?}; {} lines, {warnings} accept warnings in 2 s of exhaustion",
        lines.len()
    );
    for line in lines.iter().take(8) {
        eprintln!("  {line}");
    }
    assert!(
        lines.len() < 100,
        "{} log lines in 2 s, e.g. {:?}",
        lines.len(),
        lines.first()
    );
    assert!(warnings <= 3, "{warnings} accept warnings in 2 s");

    // Once the connections are gone, the node serves again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if get(http, "hello.localhost", "/").is_some_and(|r| r.ends_with("hello")) {
            break;
        }
        assert!(Instant::now() < deadline, "the node never served again");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("served again after {:?}", started.elapsed());
    let metrics = get(admin, "localhost", "/metrics").expect("metrics");
    let accept_errors: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("skiff_accept_errors_total ")?
                .trim()
                .parse()
                .ok()
        })
        .expect("skiff_accept_errors_total");
    assert!(accept_errors > 0, "the descriptors never ran out");
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("accept failed"))
            .all(|l| l.contains("suppressed=")),
        "each warning says how many were left out"
    );
}
