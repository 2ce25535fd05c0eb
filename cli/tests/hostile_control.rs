//! The hostile-tenant suite, platform part: an HTTPS control plane with a node syncing over it
//! and the CLI deploying through it, the node token kept out of the process list, and private
//! data directories on both sides, all as a user runs them.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Skiff, client};

/// A CA and a certificate it signed for 127.0.0.1, as PEM files in `dir`.
fn write_tls(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "skiff test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
        .expect("params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("cert");
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write");
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn skiff(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("skiff runs")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_node_syncs_over_https_with_its_token_from_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_tls(&root.join("tls"));
    let mut control = Skiff::spawn(
        &[
            "control",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "control",
            "--tls-cert",
            "tls/cert.pem",
            "--tls-key",
            "tls/key.pem",
        ],
        root,
    );
    let port = Skiff::port_from(&control.wait_for("listening on https://"));
    let url = format!("https://127.0.0.1:{port}");
    control.wait_for("node token in");
    let token = std::fs::read_to_string(root.join("control/node.token")).expect("node token");
    let token = token.trim();

    // A token on the command line is refused, naming the safe ways.
    let refused = skiff(
        &[
            "node",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "node-x",
            "--control",
            &url,
            "--node-token",
            token,
        ],
        root,
        &[],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("--node-token-file"),
        "{}",
        text(&refused)
    );

    let mut node = Skiff::spawn(
        &[
            "node",
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "1",
            "--data-dir",
            "node-1",
            "--control",
            &url,
            "--node-token-file",
            "control/node.token",
            "--control-ca",
            "tls/ca.pem",
        ],
        root,
    );
    let node_port = Skiff::port_from(&node.wait_for("listening on http://"));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", node.child.id())).expect("cmdline");
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(token),
        "the node token shows in the process list"
    );

    // The CLI deploys over HTTPS, trusting the same CA, and the node goes live over it.
    let projects = root.join("projects");
    std::fs::create_dir_all(&projects).expect("mkdir");
    let init = skiff(&["init", "hello", "--template", "js"], &projects, &[]);
    assert!(init.status.success(), "{}", text(&init));
    let project = projects.join("hello");
    std::fs::write(
        project.join("src/index.js"),
        "export default { fetch() { return new Response('over tls'); } };\n",
    )
    .expect("write");
    let admin = std::fs::read_to_string(root.join("control/admin.token")).expect("admin token");
    let env = [
        ("SKIFF_CONTROL_URL", url.as_str()),
        ("SKIFF_API_TOKEN", admin.trim()),
        ("SKIFF_CONTROL_CA", "../../tls/ca.pem"),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let deployed = skiff(&["deploy"], &project, &env);
        if text(&deployed).contains("Live on 1/1 nodes") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deploy over https: {}",
            text(&deployed)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let host = "hello.localhost";
    let response = client(host, node_port)
        .get(format!("http://{host}:{node_port}/"))
        .send()
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().expect("body"), "over tls");

    // Without the CA the CLI refuses the control plane's certificate.
    let untrusted = skiff(
        &["versions", "list"],
        &project,
        &[
            ("SKIFF_CONTROL_URL", url.as_str()),
            ("SKIFF_API_TOKEN", admin.trim()),
        ],
    );
    assert!(!untrusted.status.success(), "{}", text(&untrusted));

    // Both data dirs, holding the secrets' carriers, are private.
    #[cfg(unix)]
    {
        let node_dir = root.join("node-1");
        assert_eq!(mode(&node_dir), 0o700);
        assert_eq!(mode(&node_dir.join("state.json")), 0o600);
        assert_eq!(mode(&node_dir.join("node-id")), 0o600);
        assert_eq!(mode(&node_dir.join("bundles")), 0o700);
        for entry in std::fs::read_dir(node_dir.join("bundles")).expect("bundles") {
            assert_eq!(mode(&entry.expect("entry").path()), 0o600);
        }
        assert_eq!(mode(&root.join("control")), 0o700);
        assert_eq!(mode(&root.join("control/control.db")), 0o600);
    }
}
