//! The resource origin: a static file server over the WPT checkout on loopback, which the
//! workers reach with `fetch()` for the data files tests load by relative URL. Only GET and
//! HEAD of plain files; WPT's Python handlers (`.py`) are not run, so tests that need them fail
//! the same way on both runtimes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A running resource origin; it stops when dropped.
pub struct ResourceServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ResourceServer {
    /// Serves `root` on 127.0.0.1 on a free port.
    pub async fn start(root: PathBuf) -> std::io::Result<ResourceServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let root = Arc::new(root);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let root = root.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let root = root.clone();
                        async move { Ok::<_, Infallible>(answer(&root, &req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(ResourceServer { addr, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ResourceServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(root: &Path, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only\n");
    }
    let Some(path) = file_path(root, req.uri().path()) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let body = if req.method() == Method::HEAD {
                Bytes::new()
            } else {
                Bytes::from(bytes)
            };
            let mut res = Response::new(Full::new(body));
            if let Ok(value) = content_type(&path).parse() {
                res.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
            }
            res
        }
        Err(_) => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *res.status_mut() = status;
    res
}

/// Maps a URL path to a file under `root`; `None` for anything that would leave it.
pub fn file_path(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let relative = Path::new(decoded.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(root.join(relative))
}

fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// The content type WPT's server would send for a file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "js" => "text/javascript",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "txt" => "text/plain",
        "xml" => "application/xml",
        "css" => "text/css",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/w");
        assert_eq!(
            file_path(root, "/url/resources/urltestdata.json"),
            Some(PathBuf::from("/w/url/resources/urltestdata.json"))
        );
        assert_eq!(
            file_path(root, "/a%20b.txt"),
            Some(PathBuf::from("/w/a b.txt"))
        );
        assert_eq!(file_path(root, "/url/../../etc/passwd"), None);
        assert_eq!(file_path(root, "/%2e%2e/etc/passwd"), None);
        // A stray '%' stays a character of the name.
        assert_eq!(file_path(root, "/bad%zz"), Some(PathBuf::from("/w/bad%zz")));
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type(Path::new("a/b.json")), "application/json");
        assert_eq!(content_type(Path::new("x.js")), "text/javascript");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
