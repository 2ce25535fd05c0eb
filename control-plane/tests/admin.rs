//! The admin API over real HTTP: tokens, uploads and their validation, deployments, rollback,
//! secrets, and persistence across restarts.

mod common;

use std::time::Duration;

use common::{Api, HELLO, config, start};
use skiff_control_plane::ControlPlane;
use skiff_protocol::{
    Binding, ChangeResponse, DeployedVersion, DeploymentRequest, ErrorBody, NodeList,
    RollbackRequest, ScriptSummary, SecretName, SecretValue, UploadMetadata, VersionList,
};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

async fn error_body(response: reqwest::Response) -> ErrorBody {
    let text = response.text().await.expect("error answer");
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("ErrorBody: {err}: {text}"))
}

async fn scripts(api: &Api) -> Vec<ScriptSummary> {
    api.json("/v1/scripts").await
}

#[tokio::test]
async fn tokens_are_private_files_and_survive_a_restart() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let cp = start(&data).await;
    let (admin, node) = (cp.admin_token().to_string(), cp.node_token().to_string());
    assert!(admin.starts_with("skiff_admin_") && admin.len() == "skiff_admin_".len() + 64);
    assert!(node.starts_with("skiff_node_"));
    assert_ne!(admin, node);
    for (path, token) in [
        (cp.admin_token_path(), &admin),
        (cp.node_token_path(), &node),
    ] {
        assert_eq!(path.parent(), Some(data.as_path()));
        let contents = std::fs::read_to_string(path).expect("token file");
        assert_eq!(contents.trim(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }
    // The database keeps hashes only.
    let db = std::fs::read(data.join("control.db")).expect("database file");
    let wal = std::fs::read(data.join("control.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(admin.len()).any(|w| w == admin.as_bytes()));
    }
    cp.shutdown().await;

    let cp = start(&data).await;
    assert_eq!(cp.admin_token(), admin);
    assert_eq!(cp.node_token(), node);
    assert_eq!(scripts(&Api::admin(&cp)).await, vec![]);
    cp.shutdown().await;
}

#[tokio::test]
async fn missing_wrong_and_node_tokens_change_nothing() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let admin = Api::admin(&cp);

    let anonymous = admin
        .http
        .put(admin.url("/v1/scripts/hello"))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 401);
    assert!(error_body(anonymous).await.error.contains("token"));

    let wrong = Api::with_token(&cp, "skiff_admin_0000");
    assert_eq!(
        wrong.upload("hello", HELLO).await.expect("sent").status(),
        401
    );
    assert_eq!(
        wrong
            .get("/v1/scripts")
            .send()
            .await
            .expect("sent")
            .status(),
        401
    );
    let node = Api::node(&cp);
    let refused = node.upload("hello", HELLO).await.expect("sent");
    assert_eq!(refused.status(), 403);
    assert!(error_body(refused).await.error.contains("node token"));
    for path in ["/v1/scripts", "/v1/nodes", "/v1/scripts/hello/versions"] {
        let status = node.get(path).send().await.expect("sent").status();
        assert_eq!(status, 403, "{path}");
    }
    // A node endpoint without a token.
    let sync = admin
        .http
        .get(admin.url("/v1/sync?since=0"))
        .header("x-skiff-node", "n1")
        .send()
        .await
        .expect("sent");
    assert_eq!(sync.status(), 401);

    assert_eq!(scripts(&admin).await, vec![]);
    let nodes: NodeList = admin.json("/v1/nodes").await;
    assert_eq!(nodes.revision, 0);
    cp.shutdown().await;
}

#[tokio::test]
async fn upload_creates_versions_and_secret_values_never_come_back() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let secret = "s3cr3t-value-4e1f";
    // Bound namespaces and services must exist (a script may bind itself).
    let namespace: skiff_protocol::kv::KvNamespaceInfo = api
        .post("/v1/kv/namespaces")
        .json(&serde_json::json!({ "title": "config" }))
        .send()
        .await
        .expect("create namespace")
        .json()
        .await
        .expect("namespace json");
    let metadata = UploadMetadata {
        main_module: "index.js".into(),
        bindings: vec![
            Binding::PlainText {
                name: "GREETING".into(),
                text: "hi".into(),
            },
            Binding::SecretText {
                name: "API_KEY".into(),
                text: secret.into(),
            },
            Binding::Json {
                name: "LIMITS".into(),
                json: serde_json::json!({"n": 3}),
            },
            Binding::KvNamespace {
                name: "CONFIG".into(),
                namespace_id: namespace.id.clone(),
            },
            Binding::Service {
                name: "AUTH".into(),
                service: "hello".into(),
                environment: None,
                entrypoint: Some("Admin".into()),
            },
        ],
        compatibility_date: Some("2026-11-01".into()),
        compatibility_flags: vec!["nodejs_compat".into()],
        routes: vec!["hello.example.com/*".into()],
        crons: vec!["*/5 * * * *".into()],
    };
    let stored_with_the_version = metadata.bindings[3..].to_vec();
    let response = api
        .upload_with(
            "hello",
            &metadata,
            &[
                ("index.js", "import { x } from './lib/x.js';\nexport default { fetch() { return new Response(x); } };\n"),
                ("lib/x.js", "export const x = 'x';\n"),
            ],
        )
        .await
        .expect("upload sent");
    let status = response.status();
    let first_text = response.text().await.expect("answer");
    assert_eq!(status, 201, "{first_text}");
    assert!(!first_text.contains(secret), "{first_text}");
    let first: skiff_protocol::UploadResponse = serde_json::from_str(&first_text).expect("json");
    assert_eq!(first.version.script, "hello");
    assert_eq!(first.version.modules, vec!["index.js", "lib/x.js"]);
    assert_eq!(first.version.secret_names, vec!["API_KEY"]);
    assert_eq!(first.version.vars["GREETING"], "hi");
    assert_eq!(first.version.vars["LIMITS"], serde_json::json!({"n": 3}));
    assert!(!first.version.vars.contains_key("API_KEY"));
    assert_eq!(first.version.routes, vec!["hello.example.com/*"]);
    assert_eq!(
        first.version.compatibility_date.as_deref(),
        Some("2026-11-01")
    );
    assert!(first.startup_time_ms > 0.0);
    assert_eq!(first.deployment.versions.len(), 1);
    assert_eq!(first.deployment.versions[0].version_id, first.version.id);
    assert_eq!(first.revision, 1);

    let second = api.deploy("hello", HELLO).await;
    assert_ne!(second.version.id, first.version.id);
    assert!(second.revision > first.revision);

    let versions: VersionList = api.json("/v1/scripts/hello/versions").await;
    // The first version's configuration came back from the store whole.
    let stored = &versions.versions[1];
    assert_eq!(stored.compatibility_flags, ["nodejs_compat"]);
    assert_eq!(stored.crons, ["*/5 * * * *"]);
    assert_eq!(stored.bindings, stored_with_the_version);
    assert!(
        !stored.vars.contains_key("CONFIG"),
        "a KV binding is no var"
    );
    let ids: Vec<_> = versions.versions.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![second.version.id.as_str(), first.version.id.as_str()]
    );
    assert_eq!(
        versions.deployment.expect("deployed").versions[0].version_id,
        second.version.id
    );

    let put = api
        .put("/v1/scripts/hello/secrets/OTHER")
        .json(&SecretValue {
            value: format!("{secret}-2"),
        })
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), 200);
    let change: ChangeResponse = put.json().await.expect("ChangeResponse");
    assert!(change.revision > second.revision);

    let names: Vec<SecretName> = api.json("/v1/scripts/hello/secrets").await;
    let names: Vec<_> = names.into_iter().map(|n| n.name).collect();
    assert_eq!(names, vec!["API_KEY", "OTHER"]);

    for path in [
        "/v1/scripts",
        "/v1/scripts/hello/versions",
        "/v1/scripts/hello/secrets",
        "/v1/nodes",
    ] {
        let text = api
            .get(path)
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("body");
        assert!(!text.contains(secret), "{path} returned a secret: {text}");
    }

    let deleted = api
        .delete("/v1/scripts/hello/secrets/OTHER")
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 200);
    let again = api
        .delete("/v1/scripts/hello/secrets/OTHER")
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 404);
    let missing = api
        .put("/v1/scripts/nope/secrets/KEY")
        .json(&SecretValue { value: "v".into() })
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 404);
    assert!(
        error_body(missing)
            .await
            .error
            .contains("deploy the script first")
    );
    cp.shutdown().await;
}

#[tokio::test]
async fn compatibility_dates_and_flags_are_checked_as_cloudflare_checks_them() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let future = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let cases: [(&str, &[&str], String); 5] = [
        (
            "2026-02-30",
            &[],
            "Invalid compatibility date: 2026-02-30".into(),
        ),
        (
            &future,
            &[],
            format!("Can't set compatibility date in the future: {future}"),
        ),
        (
            "2026-01-01",
            &["enable_navigator_language", "disable_navigator_language"],
            "Compatibility flags are mutually contradictory: enable_navigator_language vs \
             disable_navigator_language"
                .into(),
        ),
        (
            "2026-01-01",
            &["nodejs_compat", "nodejs_compat"],
            "Compatibility flag specified multiple times: nodejs_compat".into(),
        ),
        (
            "2026-01-01",
            &["streams_disable_constructors"],
            "The compatibility flag streams_disable_constructors is not supported: Skiff always \
             behaves as streams_enable_constructors"
                .into(),
        ),
    ];
    for (date, flags, expected) in cases {
        let metadata = UploadMetadata {
            main_module: "index.js".into(),
            compatibility_date: Some(date.to_string()),
            compatibility_flags: flags.iter().map(|f| f.to_string()).collect(),
            ..UploadMetadata::default()
        };
        let response = api
            .upload_with("compat", &metadata, &[("index.js", HELLO)])
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "{date} {flags:?}");
        assert_eq!(error_body(response).await.error, expected);
    }
    assert!(scripts(&api).await.is_empty(), "nothing was stored");

    // Today's date and a flag Skiff has no behaviour for are fine.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let metadata = UploadMetadata {
        main_module: "index.js".into(),
        compatibility_date: Some(today),
        compatibility_flags: vec!["nodejs_compat".into(), "no_global_navigator".into()],
        ..UploadMetadata::default()
    };
    let response = api
        .upload_with("compat", &metadata, &[("index.js", HELLO)])
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    cp.shutdown().await;
}

#[tokio::test]
async fn bad_uploads_are_refused_and_nothing_is_stored() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);

    let bad_name = api.upload("Bad_Name", HELLO).await.expect("sent");
    assert_eq!(bad_name.status(), 400);

    let metadata = UploadMetadata {
        main_module: "main.js".into(),
        ..UploadMetadata::default()
    };
    let no_main = api
        .upload_with("hello", &metadata, &[("index.js", HELLO)])
        .await
        .expect("sent");
    assert_eq!(no_main.status(), 400);
    assert!(error_body(no_main).await.error.contains("main.js"));

    let escaping = UploadMetadata {
        main_module: "../index.js".into(),
        ..UploadMetadata::default()
    };
    let escaping = api
        .upload_with("hello", &escaping, &[("../index.js", HELLO)])
        .await
        .expect("sent");
    assert_eq!(escaping.status(), 400);

    let bad_json = reqwest::multipart::Form::new()
        .text("metadata", "{not json")
        .text("index.js", HELLO);
    let bad_json = api
        .put("/v1/scripts/hello")
        .multipart(bad_json)
        .send()
        .await
        .expect("sent");
    assert_eq!(bad_json.status(), 400);
    assert!(error_body(bad_json).await.error.contains("metadata"));

    let metadata_second = reqwest::multipart::Form::new()
        .text("index.js", HELLO)
        .text("metadata", r#"{"main_module":"index.js"}"#);
    let metadata_second = api
        .put("/v1/scripts/hello")
        .multipart(metadata_second)
        .send()
        .await
        .expect("sent");
    assert_eq!(metadata_second.status(), 400);
    assert!(error_body(metadata_second).await.error.contains("metadata"));

    let not_multipart = api
        .put("/v1/scripts/hello")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(not_multipart.status(), 400);

    assert_eq!(scripts(&api).await, vec![]);
    cp.shutdown().await;
}

#[tokio::test]
async fn truncated_multipart_body_is_400_and_stores_nothing() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let boundary = "skiff-test-boundary-7d3a";
    let full = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n\
         {{\"main_module\":\"index.js\"}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"index.js\"; filename=\"index.js\"\r\n\
         Content-Type: application/javascript+module\r\n\r\n{HELLO}\r\n--{boundary}--\r\n"
    );
    let cut = &full[..full.find("Response").expect("module text")];
    let response = api
        .put("/v1/scripts/hello")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(cut.to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    assert!(!error_body(response).await.error.is_empty());
    assert_eq!(scripts(&api).await, vec![]);
    let versions = api
        .get("/v1/scripts/hello/versions")
        .send()
        .await
        .expect("sent");
    assert_eq!(versions.status(), 404);

    // The same body in full is accepted, so the cut was the only fault.
    let response = api
        .put("/v1/scripts/hello")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(full)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    cp.shutdown().await;
}

#[tokio::test]
async fn bundle_over_a_small_limit_is_413() {
    let dir = tempdir();
    let mut config = config(dir.path());
    config.max_bundle_bytes = 2000;
    let cp = ControlPlane::start(config).await.expect("starts");
    let api = Api::admin(&cp);
    let big = format!("{HELLO}// {}\n", "x".repeat(2500));
    let response = api.upload("big", &big).await.expect("sent");
    assert_eq!(response.status(), 413);
    assert!(error_body(response).await.error.contains("limit"));
    // Two modules under the limit each but over it together.
    let half = format!("// {}\n", "y".repeat(1200));
    let metadata = UploadMetadata {
        main_module: "index.js".into(),
        ..UploadMetadata::default()
    };
    let response = api
        .upload_with("big", &metadata, &[("index.js", &half), ("b.js", &half)])
        .await
        .expect("sent");
    assert_eq!(response.status(), 413);
    assert_eq!(scripts(&api).await, vec![]);
    api.deploy("small", HELLO).await;
    cp.shutdown().await;
}

#[tokio::test]
async fn eleven_mib_module_is_413_at_the_default_limit() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let big = format!("{HELLO}// {}\n", "x".repeat(11 * 1024 * 1024));
    let response = api.upload("big", &big).await.expect("sent");
    assert_eq!(response.status(), 413);
    let body = error_body(response).await;
    assert!(body.error.contains("10 MiB"), "{}", body.error);
    assert_eq!(scripts(&api).await, vec![]);
    cp.shutdown().await;
}

#[tokio::test]
async fn syntax_error_is_refused_with_its_line() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let source = "export default {\n  fetch() {\n    return new Response('x' ;\n  }\n};\n";
    let response = api.upload("broken", source).await.expect("sent");
    assert_eq!(response.status(), 400);
    let body = error_body(response).await;
    assert_eq!(body.line, Some(3), "{body:?}");
    assert!(body.error.contains("SyntaxError"), "{}", body.error);
    assert!(body.error.contains("index.js:3"), "{}", body.error);
    assert_eq!(scripts(&api).await, vec![]);
    cp.shutdown().await;
}

#[tokio::test]
async fn top_level_throw_and_endless_startup_are_refused() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let response = api
        .upload(
            "throws",
            "const a = 1;\n\nthrow new Error('boom at startup');\n",
        )
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    let body = error_body(response).await;
    assert!(body.error.contains("boom at startup"), "{}", body.error);
    assert_eq!(body.line, Some(3));

    let response = api
        .upload("spins", "while (true) {}\nexport default {};\n")
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    let body = error_body(response).await;
    assert!(body.error.contains("CPU time limit"), "{}", body.error);
    assert_eq!(scripts(&api).await, vec![]);
    cp.shutdown().await;
}

async fn post_deployment(api: &Api, script: &str, versions: &[(&str, f64)]) -> reqwest::Response {
    let request = DeploymentRequest {
        versions: versions
            .iter()
            .map(|(id, percentage)| DeployedVersion {
                version_id: id.to_string(),
                percentage: *percentage,
            })
            .collect(),
    };
    api.post(&format!("/v1/scripts/{script}/deployments"))
        .json(&request)
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn gradual_deployments_are_validated() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let v1 = api.deploy("hello", HELLO).await.version.id;
    let v2 = api.deploy("hello", "export default {};\n").await.version.id;
    let other = api.deploy("other", HELLO).await.version.id;

    let response = post_deployment(&api, "hello", &[(&v1, 90.0), (&v2, 10.0)]).await;
    assert_eq!(response.status(), 200);
    let change: ChangeResponse = response.json().await.expect("ChangeResponse");
    let deployment = change.deployment.expect("deployment");
    assert_eq!(deployment.versions.len(), 2);
    assert_eq!(deployment.versions[0].percentage, 90.0);

    for bad in [
        vec![(v1.as_str(), 90.0), (v2.as_str(), 20.0)],
        vec![(v1.as_str(), 90.0)],
        vec![(v1.as_str(), 50.0), (v1.as_str(), 50.0)],
        vec![(v1.as_str(), 90.0), (other.as_str(), 10.0)],
        vec![("no-such-version", 100.0)],
        vec![],
    ] {
        let response = post_deployment(&api, "hello", &bad).await;
        assert_eq!(response.status(), 400, "{bad:?}");
    }
    let malformed = api
        .post("/v1/scripts/hello/deployments")
        .header("content-type", "application/json")
        .body("{\"versions\": [")
        .send()
        .await
        .expect("sent");
    assert_eq!(malformed.status(), 400);
    assert!(!error_body(malformed).await.error.is_empty());
    let missing = post_deployment(&api, "nope", &[(&v1, 100.0)]).await;
    assert_eq!(missing.status(), 404);

    let versions: VersionList = api.json("/v1/scripts/hello/versions").await;
    assert_eq!(versions.deployment.expect("deployed"), deployment);
    cp.shutdown().await;
}

#[tokio::test]
async fn rollback_returns_to_the_previous_version() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let v1 = api.deploy("hello", HELLO).await.version.id;

    let none = api
        .post("/v1/scripts/hello/rollback")
        .send()
        .await
        .expect("sent");
    assert_eq!(none.status(), 400);
    assert!(error_body(none).await.error.contains("roll back"));

    let v2 = api.deploy("hello", "export default {};\n").await.version.id;
    let rolled = api
        .post("/v1/scripts/hello/rollback")
        .send()
        .await
        .expect("sent");
    assert_eq!(rolled.status(), 200);
    let change: ChangeResponse = rolled.json().await.expect("ChangeResponse");
    let deployment = change.deployment.expect("deployment");
    assert_eq!(deployment.versions.len(), 1);
    assert_eq!(deployment.versions[0].version_id, v1);
    assert_eq!(deployment.versions[0].percentage, 100.0);

    // Named version.
    let named = api
        .post("/v1/scripts/hello/rollback")
        .json(&RollbackRequest {
            version_id: Some(v2.clone()),
        })
        .send()
        .await
        .expect("sent");
    assert_eq!(named.status(), 200);
    let versions: VersionList = api.json("/v1/scripts/hello/versions").await;
    assert_eq!(
        versions.deployment.expect("deployed").versions[0].version_id,
        v2
    );
    cp.shutdown().await;
}

#[tokio::test]
async fn delete_removes_the_script() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let first = api.deploy("hello", HELLO).await;
    let deleted = api.delete("/v1/scripts/hello").send().await.expect("sent");
    assert_eq!(deleted.status(), 200);
    let change: ChangeResponse = deleted.json().await.expect("ChangeResponse");
    assert!(change.revision > first.revision);
    assert_eq!(scripts(&api).await, vec![]);
    let again = api.delete("/v1/scripts/hello").send().await.expect("sent");
    assert_eq!(again.status(), 404);
    let node = Api::node(&cp);
    let session = common::NodeSession::open(&node, "n1", 0)
        .await
        .expect("session");
    let bundle = session
        .sign(node.get(&format!("/v1/bundles/{}", first.version.bundle)))
        .send()
        .await
        .expect("sent");
    assert_eq!(bundle.status(), 404);
    cp.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let v1 = api.deploy("hello", HELLO).await;
    let v2 = api.deploy("hello", "export default {};\n").await;
    api.put("/v1/scripts/hello/secrets/KEY")
        .json(&SecretValue { value: "v".into() })
        .send()
        .await
        .expect("sent");
    let before: VersionList = api.json("/v1/scripts/hello/versions").await;
    let revision_before = api.json::<NodeList>("/v1/nodes").await.revision;
    cp.shutdown().await;

    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    let after: VersionList = api.json("/v1/scripts/hello/versions").await;
    assert_eq!(after, before);
    assert_eq!(after.versions.len(), 2);
    assert_eq!(
        api.json::<NodeList>("/v1/nodes").await.revision,
        revision_before
    );
    let names: Vec<SecretName> = api.json("/v1/scripts/hello/secrets").await;
    assert_eq!(names.len(), 1);
    // Deployment history survives too: rollback still finds v1.
    let rolled: ChangeResponse = api
        .post("/v1/scripts/hello/rollback")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("ChangeResponse");
    assert!(rolled.revision > revision_before);
    assert_eq!(
        rolled.deployment.expect("deployment").versions[0].version_id,
        v1.version.id
    );
    assert_ne!(v1.version.id, v2.version.id);
    cp.shutdown().await;
}

#[tokio::test]
async fn shutdown_is_prompt_with_an_open_long_poll() {
    let dir = tempdir();
    let cp = start(dir.path()).await;
    let api = Api::admin(&cp);
    api.deploy("hello", HELLO).await;
    // A node that never acks keeps the long poll waiting.
    let node = Api::node(&cp).as_node("slow").await.expect("enrolled");
    let mut stream =
        common::EventStream::open(node.get("/v1/sync?since=0").header("x-skiff-node", "slow"))
            .await
            .expect("sync stream");
    let _snapshot: skiff_protocol::SyncEvent = stream.expect_data(Duration::from_secs(10)).await;
    let poll = tokio::spawn({
        let api = api.clone();
        async move {
            api.get("/v1/nodes?revision=1&timeout_ms=60000")
                .send()
                .await
                .map(|r| r.status())
        }
    });
    tokio::time::timeout(Duration::from_secs(10), cp.shutdown())
        .await
        .expect("shutdown finishes with open streams");
    let status = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("long poll answered")
        .expect("task");
    // Either answered before the listener closed, or the connection was refused.
    if let Ok(status) = status {
        assert_eq!(status, 200);
    }
    assert!(
        stream.next_frame(Duration::from_secs(10)).await.is_err(),
        "the sync stream ends on shutdown"
    );
}
