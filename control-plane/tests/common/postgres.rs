//! A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, a server on a
//! free port of 127.0.0.1 with a real password, stopped (gracefully or by a crash) and started
//! again on the same data, and removed when dropped.
//!
//! Self-contained so that other crates' tests can include it with
//! `#[path = "../../control-plane/tests/common/postgres.rs"] mod postgres;`: it uses std, libc,
//! tempfile and anyhow only. Every call blocks (the server's readiness included, up to 30 s).
//!
//! The binaries come from `SKIFF_PG_BIN`, else the directory of the `initdb` on `PATH`, else
//! the newest `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package, which
//! `scripts/setup.sh` installs). `initdb` and `postgres` refuse to run as root: under root they
//! run as the `postgres` system user, which owns the temporary directory. Linux only: `kill`
//! finds the server's processes in `/proc`.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{OpenOptionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long the server may take to accept connections, and to stop.
const READY_WAIT: Duration = Duration::from_secs(30);
const STOP_WAIT: Duration = Duration::from_secs(30);
/// How often readiness and exit are polled.
const POLL: Duration = Duration::from_millis(25);
/// Fresh ports tried when the one picked was taken before the server could bind it.
const PORT_ATTEMPTS: usize = 5;
/// The superuser and the database that `url` names.
const USER: &str = "skiff";
const DATABASE: &str = "skiff";
/// The system user the server runs as when the tests run as root.
const SYSTEM_USER: &str = "postgres";
const SETUP_HINT: &str = "run scripts/setup.sh to install Debian's postgresql package, \
                          or set SKIFF_PG_BIN to a directory holding initdb and postgres";

/// A running (or stopped) PostgreSQL server in its own temporary directory.
pub struct TempPostgres {
    bin: PathBuf,
    /// Who runs `initdb` and `postgres`: None for the current user.
    owner: Option<Owner>,
    port: u16,
    password: String,
    /// The postmaster, when it runs.
    server: Option<Child>,
    dir: tempfile::TempDir,
}

#[derive(Clone, Copy, Debug)]
struct Owner {
    uid: u32,
    gid: u32,
}

/// How a start attempt ended.
enum Attempt {
    Ready,
    /// The postmaster exited before it accepted connections; `log` is what it wrote.
    Exited {
        status: ExitStatus,
        log: String,
    },
}

impl TempPostgres {
    /// Initialises a cluster with superuser `skiff` and a random password, starts it on a free
    /// port, waits until it accepts connections, and creates database `skiff`.
    pub fn start() -> Result<TempPostgres> {
        let bin = bin_dir()?;
        let owner = server_owner()?;
        let dir = tempfile::Builder::new().prefix("skiff-pg-").tempdir()?;
        let mut postgres = TempPostgres {
            bin,
            owner,
            port: 0,
            password: random_password()?,
            server: None,
            dir,
        };
        postgres.init()?;
        postgres.start_on_free_port()?;
        postgres.create_database()?;
        Ok(postgres)
    }

    /// `postgres://skiff:PASSWORD@127.0.0.1:PORT/skiff`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{DATABASE}",
            self.password, self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// The temporary directory holding the data directory, the socket and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server with a fast shutdown (connections are closed, a checkpoint is
    /// written) and waits for it to exit; after `STOP_WAIT` it is killed instead.
    pub fn stop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        signal(server.id(), libc::SIGINT);
        let deadline = Instant::now() + STOP_WAIT;
        while Instant::now() < deadline {
            if matches!(server.try_wait(), Ok(Some(_)) | Err(_)) {
                return;
            }
            std::thread::sleep(POLL);
        }
        kill_server(&mut server);
    }

    /// Kills every server process at once with SIGKILL, as a crash would: no checkpoint, and
    /// the next start recovers from the write-ahead log.
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            kill_server(&mut server);
        }
    }

    /// Starts the server again on the same data directory and port, and waits until it
    /// accepts connections.
    pub fn start_again(&mut self) -> Result<()> {
        self.stop();
        let deadline = Instant::now() + READY_WAIT;
        loop {
            match self.attempt(deadline)? {
                Attempt::Ready => return Ok(()),
                // The processes of a killed server may take a moment to let go of the port
                // and the shared memory.
                Attempt::Exited { log, .. } if transient(&log) && Instant::now() < deadline => {
                    std::thread::sleep(POLL);
                }
                Attempt::Exited { status, log } => {
                    bail!("postgres exited with {status} when started again; its log:\n{log}")
                }
            }
        }
    }

    /// The server's log, from its first start.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn data_path(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_path(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// A command for `initdb` or `postgres`, run as the owner of the directory.
    fn server_command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(self.dir.path());
        if let Some(owner) = self.owner {
            command.uid(owner.uid).gid(owner.gid);
        }
        command
    }

    fn give_to_owner(&self, path: &Path) -> Result<()> {
        if let Some(owner) = self.owner {
            chown(path, Some(owner.uid), Some(owner.gid))
                .with_context(|| format!("chown {} to {SYSTEM_USER}", path.display()))?;
        }
        Ok(())
    }

    fn init(&mut self) -> Result<()> {
        self.give_to_owner(self.dir.path())?;
        fs::create_dir(self.socket_path())?;
        self.give_to_owner(&self.socket_path())?;
        let pwfile = self.dir.path().join("pwfile");
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pwfile)
            .and_then(|mut file| std::io::Write::write_all(&mut file, self.password.as_bytes()))
            .context("writing the password file")?;
        self.give_to_owner(&pwfile)?;
        // --no-sync: the cluster is thrown away if the machine crashes. The server itself
        // keeps fsync on, so committed rows survive a killed server.
        let output = self
            .server_command("initdb")
            .arg("--pgdata")
            .arg(self.data_path())
            .args(["--username", USER, "--auth=scram-sha-256"])
            .arg(arg("--pwfile=", &pwfile))
            .args(["--encoding=UTF8", "--locale=C", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", self.bin.join("initdb").display()))?;
        fs::remove_file(&pwfile)?;
        if !output.status.success() {
            bail!(
                "initdb exited with {}:\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Picks a free port and starts the server on it, with a fresh port when another process
    /// took the port between the pick and the server's bind.
    fn start_on_free_port(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_WAIT;
        for _ in 0..PORT_ATTEMPTS {
            self.port = free_port()?;
            match self.attempt(deadline)? {
                Attempt::Ready => return Ok(()),
                Attempt::Exited { log, .. } if log.contains("Address already in use") => {}
                Attempt::Exited { status, log } => {
                    bail!("postgres exited with {status} on start; its log:\n{log}")
                }
            }
        }
        bail!("postgres found no free port in {PORT_ATTEMPTS} attempts")
    }

    /// Spawns the postmaster and waits until it accepts connections or exits. A timeout is
    /// an error that carries the end of the log.
    fn attempt(&mut self, deadline: Instant) -> Result<Attempt> {
        let log_path = self.log_path();
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let log_start = log.seek(SeekFrom::End(0))?;
        let mut server = self
            .server_command("postgres")
            .arg("-D")
            .arg(self.data_path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.socket_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("running {}", self.bin.join("postgres").display()))?;
        loop {
            if let Some(status) = server.try_wait()? {
                return Ok(Attempt::Exited {
                    status,
                    log: read_from(&log_path, log_start),
                });
            }
            if self.is_ready()? {
                self.server = Some(server);
                return Ok(Attempt::Ready);
            }
            if Instant::now() >= deadline {
                kill_server(&mut server);
                bail!(
                    "postgres did not accept connections on 127.0.0.1:{} within {READY_WAIT:?}; \
                     the end of its log:\n{}",
                    self.port,
                    self.log_tail(40)
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Whether `pg_isready` finds the server accepting connections.
    fn is_ready(&self) -> Result<bool> {
        let status = Command::new(self.bin.join("pg_isready"))
            .args([
                "-q",
                "-t",
                "1",
                "-h",
                "127.0.0.1",
                "-d",
                DATABASE,
                "-U",
                USER,
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("running {}", self.bin.join("pg_isready").display()))?;
        Ok(status.success())
    }

    fn create_database(&self) -> Result<()> {
        let output = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-U", USER, "-w"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg(DATABASE)
            .env("PGPASSWORD", &self.password)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", self.bin.join("createdb").display()))?;
        if !output.status.success() {
            bail!(
                "createdb exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for TempPostgres {
    /// Stops the server; the directory goes with the `TempDir` after it.
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the PostgreSQL binaries are.
fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SKIFF_PG_BIN") {
        let dir = PathBuf::from(dir);
        if !dir.join("initdb").is_file() {
            bail!("SKIFF_PG_BIN={} holds no initdb", dir.display());
        }
        return Ok(dir);
    }
    // The directory of the real file: a symlink on PATH may sit among none of the others
    // (pg_isready, createdb).
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file())
        .and_then(|initdb| fs::canonicalize(initdb).ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf));
    let dir = match on_path {
        Some(dir) => dir,
        None => newest_debian_bin_dir()
            .with_context(|| format!("no PostgreSQL initdb found: {SETUP_HINT}"))?,
    };
    for program in ["postgres", "pg_isready", "createdb"] {
        if !dir.join(program).is_file() {
            bail!(
                "{} has initdb but no {program}: {SETUP_HINT}",
                dir.display()
            );
        }
    }
    Ok(dir)
}

/// The highest-numbered `/usr/lib/postgresql/VERSION/bin` that holds `initdb`.
fn newest_debian_bin_dir() -> Option<PathBuf> {
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// The `postgres` system user under root, None otherwise.
fn server_owner() -> Result<Option<Owner>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new(SYSTEM_USER)?;
    // SAFETY: passwd is plain data for which all zeroes is a valid value.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: every pointer is valid for the call and `buffer.len()` is the buffer's true
    // length; only the numeric fields of `entry` are read afterwards.
    let error = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if error != 0 {
        bail!(
            "looking up user {SYSTEM_USER}: {}",
            std::io::Error::from_raw_os_error(error)
        );
    }
    if found.is_null() {
        bail!(
            "running as root, and initdb refuses root, but there is no {SYSTEM_USER} user to run \
             it as: {SETUP_HINT}"
        );
    }
    Ok(Some(Owner {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    }))
}

/// 32 hex digits from the kernel's random source.
fn random_password() -> Result<String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// A port nobody listened on a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Whether a start failed for a reason that passes: the port or the shared memory of a
/// killed server still held by its exiting processes.
fn transient(log: &str) -> bool {
    log.contains("Address already in use") || log.contains("pre-existing shared memory block")
}

fn arg(flag: &str, path: &Path) -> OsString {
    let mut arg = OsStr::new(flag).to_os_string();
    arg.push(path);
    arg
}

/// The log from byte `start` on.
fn read_from(path: &Path, start: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut file) = File::open(path)
        && file.seek(SeekFrom::Start(start)).is_ok()
    {
        let _ = file.read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}

fn signal(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill has no memory preconditions. Callers pass the postmaster, our unreaped
    // child, or a child of the stopped postmaster, which cannot reap it: neither pid can have
    // been reused by another process.
    unsafe { libc::kill(pid, signal) };
}

/// Kills the postmaster and all its children with SIGKILL, reaps the postmaster and waits
/// until the children have exited. The children are found and killed while the postmaster is
/// stopped, so that it starts no other; each child leads its own process group, so one signal
/// to the postmaster's group would not reach them.
fn kill_server(server: &mut Child) {
    let deadline = Instant::now() + STOP_WAIT;
    signal(server.id(), libc::SIGSTOP);
    while process_state(server.id()).is_some_and(|(state, _)| state != 'T')
        && Instant::now() < deadline
    {
        std::thread::yield_now();
    }
    let children = children_of(server.id());
    for &child in &children {
        signal(child, libc::SIGKILL);
    }
    let _ = server.kill();
    let _ = server.wait();
    while children.iter().any(|&child| is_running(child)) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
}

/// The processes whose parent is `parent`, from `/proc`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| process_state(pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// Whether `pid` exists and is not a zombie.
fn is_running(pid: u32) -> bool {
    process_state(pid).is_some_and(|(state, _)| state != 'Z')
}

/// The state letter and the parent of `pid`, from `/proc/PID/stat`: `PID (COMM) STATE PPID ...`,
/// where COMM may itself hold spaces and parentheses.
fn process_state(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}
