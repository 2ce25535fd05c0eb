//! Helpers shared by the runtime's integration tests.

use skiff_runtime::{FetchRequest, ResponseBody, ResponseHead};

/// A GET of `path` on `t.localhost`.
pub fn get(path: &str) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: format!("http://t.localhost{path}"),
        headers: vec![],
        body: None,
        meter: None,
    }
}

/// A complete body as text (`<stream>` for a streamed one).
pub fn text(head: &ResponseHead) -> String {
    match &head.body {
        ResponseBody::Full(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        ResponseBody::Stream(_) => "<stream>".into(),
        ResponseBody::WebSocket(_) => "<websocket>".into(),
    }
}

/// Waits (up to 5 s) until `isolate` has nothing in flight: a response handed to the caller
/// is counted until the isolate has closed its invocation, a moment later on its own thread.
#[allow(dead_code, reason = "not every test file waits for an idle isolate")]
pub async fn wait_until_idle(isolate: &skiff_runtime::IsolateHandle) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while isolate.in_flight() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "still {} in flight after 5 s",
            isolate.in_flight()
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}
