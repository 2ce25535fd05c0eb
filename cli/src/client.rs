//! The control plane as the CLI sees it: a base URL, the API token, and errors that say what
//! to do.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use skiff_protocol::{ErrorBody, SseParser};

/// Where the control plane is and how to reach it; the flags every platform command shares.
#[derive(clap::Args, Clone, Debug)]
pub struct ControlArgs {
    /// The control plane's URL.
    #[arg(
        long = "control",
        env = "SKIFF_CONTROL_URL",
        default_value = "http://127.0.0.1:8700"
    )]
    pub url: String,
    /// The API token (`skiff control` writes the admin token to DATA_DIR/admin.token).
    #[arg(long = "api-token", env = "SKIFF_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM certificates to trust for an https:// control plane, besides the built-in roots.
    #[arg(long = "control-ca", env = "SKIFF_CONTROL_CA")]
    pub ca: Option<std::path::PathBuf>,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(args: &ControlArgs) -> Result<Self> {
        let Some(token) = args.token.clone().filter(|t| !t.trim().is_empty()) else {
            bail!(
                "no API token: set SKIFF_API_TOKEN to the admin token \
                 (`skiff control` writes it to DATA_DIR/admin.token)"
            );
        };
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
        if let Some(ca) = &args.ca {
            let pem = std::fs::read(ca)
                .map_err(|err| anyhow!("reading the control plane CA {}: {err}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|err| anyhow!("the control plane CA {}: {err}", ca.display()))?;
            if certs.is_empty() {
                bail!(
                    "the control plane CA {}: no certificate in it",
                    ca.display()
                );
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build()?;
        Ok(Self {
            http,
            base: args.url.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
        })
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Sends `request`; a non-2xx answer becomes an error that says what went wrong.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request.send().await.map_err(|err| self.unreachable(err))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.refused(response).await)
    }

    pub async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let response = self.send(request).await?;
        response.json().await.map_err(|err| {
            anyhow!("the control plane sent an answer this skiff cannot read: {err}")
        })
    }

    fn unreachable(&self, err: reqwest::Error) -> anyhow::Error {
        let mut cause: &dyn std::error::Error = &err;
        while let Some(next) = cause.source() {
            cause = next;
        }
        anyhow!(
            "cannot reach the control plane at {}: {cause}\n\
             Is `skiff control` running there? Set SKIFF_CONTROL_URL (or --control) to its URL.",
            self.base
        )
    }

    async fn refused(&self, response: Response) -> anyhow::Error {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|body| match body.line {
                Some(line) => format!("{} (line {line})", body.error),
                None => body.error,
            })
            .unwrap_or_else(|_| text.trim().to_string());
        match status {
            StatusCode::UNAUTHORIZED => anyhow!(
                "the control plane at {} refused the API token (401): check SKIFF_API_TOKEN \
                 (the admin token is in the control plane's DATA_DIR/admin.token)",
                self.base
            ),
            StatusCode::FORBIDDEN => anyhow!(
                "this token may not do that (403): {message}\nUse the admin token, not a node token."
            ),
            _ => anyhow!("{message} ({status})"),
        }
    }
}

/// The largest tail event the CLI accepts.
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Reads a server-sent event stream and calls `on_data` with each event's `data`.
pub async fn read_events(
    response: Response,
    mut on_data: impl FnMut(&str) -> Result<()>,
) -> Result<()> {
    let mut stream = response.bytes_stream();
    let mut parser = SseParser::new(MAX_EVENT_BYTES);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| anyhow!("the event stream broke: {err}"))?;
        for data in parser
            .push(&chunk)
            .map_err(|err| anyhow!("the event stream: {err}"))?
        {
            on_data(&data)?;
        }
    }
    Ok(())
}
