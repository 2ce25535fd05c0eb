//! `skiff-paced`: an open-loop HTTP/1.1 load at a fixed request rate, for latency figures that a
//! saturating closed loop (wrk) cannot give.
//!
//! wrk sends the next request as soon as the last one answered, so the server is always
//! saturated and its p99 is mostly queueing behind the load generator's own requests; any CPU
//! taken from the machine shows up as latency. Here request `k` is due at `start + k / rate`
//! whatever happened before. Its latency is counted from that due time when the request is
//! late because an earlier one on its connection answered late (so a stalled server is charged
//! for the requests that queued behind the stall, as in wrk2), else from when it was sent. The
//! requests are dealt round-robin over `--connections` keep-alive connections.
//!
//! Prints one line: `requests N errors E p50 X ms p99 Y ms max Z ms`.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

#[derive(Parser)]
#[command(about = "Open-loop HTTP/1.1 load at a fixed rate; prints latency percentiles")]
struct Args {
    /// The URL to request (http://IP:PORT/PATH; loopback only).
    url: http::Uri,
    /// The Host header to send.
    #[arg(long)]
    host: Option<String>,
    /// Requests per second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Seconds of load.
    #[arg(long, default_value_t = 5)]
    duration: u32,
    /// Keep-alive connections the requests are dealt over.
    #[arg(long, default_value_t = 8)]
    connections: u32,
}

/// A request that takes longer than this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let authority = args
        .url
        .authority()
        .context("the URL has no host:port")?
        .clone();
    let ip: std::net::IpAddr = authority
        .host()
        .trim_matches(['[', ']'])
        .parse()
        .context("the URL's host must be an IP literal")?;
    if !ip.is_loopback() {
        bail!("refusing to send load to {ip}: benchmarks stay on loopback");
    }
    let port = authority.port_u16().unwrap_or(80);
    let host = args.host.clone().unwrap_or_else(|| authority.to_string());
    let total = u64::from(args.rate) * u64::from(args.duration);
    let connections = u64::from(args.connections.max(1));
    let interval = Duration::from_secs(1) / args.rate.max(1);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcomes = runtime.block_on(async {
        let start = Instant::now() + Duration::from_millis(50);
        let mut tasks = Vec::new();
        for first in 0..connections.min(total) {
            let target = Target {
                addr: (ip, port).into(),
                host: host.clone(),
                uri: args.url.clone(),
            };
            let due: Vec<Instant> = (first..total)
                .step_by(connections as usize)
                .map(|k| start + interval * k as u32)
                .collect();
            tasks.push(tokio::spawn(target.run(due)));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.extend(task.await?);
        }
        anyhow::Ok(outcomes)
    })?;

    let mut latencies: Vec<Duration> = outcomes.iter().filter_map(|o| *o).collect();
    let errors = outcomes.len() - latencies.len();
    latencies.sort();
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "requests {} errors {errors} p50 {:.3} ms p99 {:.3} ms max {:.3} ms",
        outcomes.len(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied()),
    );
    Ok(())
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

struct Target {
    addr: std::net::SocketAddr,
    host: String,
    uri: http::Uri,
}

impl Target {
    /// Sends one request at each due time over one connection (reconnecting after an error);
    /// each outcome is the latency from the due time, or `None` for an error.
    async fn run(self, due: Vec<Instant>) -> Vec<Option<Duration>> {
        let mut sender = None;
        let mut outcomes = Vec::with_capacity(due.len());
        for at in due {
            // Behind schedule (the previous request on this connection answered late), the
            // wait since the due time is the server's; ahead of it, tokio's timer wakes up to a
            // millisecond late, and that wait is not, so the clock starts on waking.
            let from = if Instant::now() >= at {
                at
            } else {
                tokio::time::sleep_until(at).await;
                Instant::now()
            };
            let sent = tokio::time::timeout(REQUEST_TIMEOUT, self.request(&mut sender)).await;
            match sent {
                Ok(Ok(())) => outcomes.push(Some(from.elapsed())),
                _ => {
                    sender = None;
                    outcomes.push(None);
                }
            }
        }
        outcomes
    }

    async fn request(
        &self,
        sender: &mut Option<http1::SendRequest<Empty<Bytes>>>,
    ) -> anyhow::Result<()> {
        if sender.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            let (send, conn) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            *sender = Some(send);
        }
        let send = sender.as_mut().context("no connection")?;
        send.ready().await?;
        let request = http::Request::get(self.uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(http::header::HOST, &self.host)
            .body(Empty::new())?;
        let response = send.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        if !status.is_success() {
            bail!("status {status}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&values, 99.0), Some(Duration::from_millis(198)));
        assert_eq!(percentile(&values, 100.0), Some(Duration::from_millis(200)));
        assert_eq!(
            percentile(&values[..1], 99.0),
            Some(Duration::from_millis(1))
        );
        assert_eq!(percentile(&[], 50.0), None);
    }
}
