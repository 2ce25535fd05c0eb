//! Helpers shared by the runtime's integration tests.

use skiff_runtime::{FetchRequest, ResponseBody, ResponseHead};

/// A GET of `path` on `t.localhost`.
pub fn get(path: &str) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: format!("http://t.localhost{path}"),
        headers: vec![],
        body: None,
    }
}

/// A complete body as text (`<stream>` for a streamed one).
pub fn text(head: &ResponseHead) -> String {
    match &head.body {
        ResponseBody::Full(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        ResponseBody::Stream(_) => "<stream>".into(),
    }
}
