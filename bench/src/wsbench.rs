//! WebSocket load for bench/websocket.sh: echo round trips over many sockets at once, or many
//! sockets held open at once. Prints one JSON line of figures.
//!
//! `skiff-wsbench --addr 127.0.0.1:PORT --host echo.localhost --sockets 32 --secs 5`
//! sends a message on each socket, waits for its echo, and again, for `--secs` seconds or
//! `--max-round-trips` per socket, whichever ends first.
//!
//! `skiff-wsbench --addr ... --host ... --hold 1000` opens that many sockets (64 handshakes in
//! flight at a time), checks that each echoes one message while all are open, and keeps them
//! open for `--hold-secs` (so that the caller can read the server's memory), then closes them.
//! It connects to loopback only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

#[derive(Parser)]
struct Args {
    /// The server's address (a loopback address).
    #[arg(long)]
    addr: SocketAddr,
    /// The Host the requests name (the script, on a Skiff node).
    #[arg(long, default_value = "echo.localhost")]
    host: String,
    /// Sockets sending round trips at once.
    #[arg(long, default_value_t = 32)]
    sockets: usize,
    /// How long each socket sends round trips.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// The most round trips a socket makes.
    #[arg(long, default_value_t = 1_000_000)]
    max_round_trips: u64,
    /// Bytes in each message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Instead of round trips: open this many sockets and hold them.
    #[arg(long)]
    hold: Option<usize>,
    /// How long held sockets stay open once all are.
    #[arg(long, default_value_t = 3)]
    hold_secs: u64,
}

type Socket = WebSocketStream<TcpStream>;

async fn open(args: &Args) -> Result<Socket> {
    let stream = TcpStream::connect(args.addr).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{}:{}/", args.host, args.addr.port());
    let (socket, _) = client_async(url, stream).await.context("handshake")?;
    Ok(socket)
}

async fn round_trip(socket: &mut Socket, message: &str) -> Result<()> {
    socket.send(Message::text(message)).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(echo))) if echo.as_str() == message => return Ok(()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) => bail!("unexpected answer {other:?}"),
            Some(Err(err)) => return Err(err.into()),
            None => bail!("the socket closed"),
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn round_trips(args: Args) -> Result<()> {
    let args = std::sync::Arc::new(args);
    let message: String = "x".repeat(args.size);
    let deadline = Instant::now() + Duration::from_secs(args.secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.sockets {
        let args = args.clone();
        let message = message.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut socket = match open(&args).await {
                Ok(socket) => socket,
                Err(_) => return (latencies, 1u64),
            };
            let mut errors = 0;
            while Instant::now() < deadline && (latencies.len() as u64) < args.max_round_trips {
                let sent = Instant::now();
                match round_trip(&mut socket, &message).await {
                    Ok(()) => latencies.push(sent.elapsed().as_micros() as u64),
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            let _ = socket.close(None).await;
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mine, failed) = task.await?;
        latencies.extend(mine);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "round_trips": latencies.len(),
            "round_trips_per_sec": latencies.len() as f64 / elapsed,
            "p50_us": percentile(&latencies, 0.5),
            "p99_us": percentile(&latencies, 0.99),
            "errors": errors,
        })
    );
    Ok(())
}

async fn hold(args: Args, count: usize) -> Result<()> {
    let args = std::sync::Arc::new(args);
    let started = Instant::now();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for _ in 0..count {
        let args = args.clone();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.ok()?;
            let mut socket = open(&args).await.ok()?;
            drop(permit);
            round_trip(&mut socket, "hello").await.ok()?;
            Some(socket)
        }));
    }
    let mut sockets = Vec::new();
    for task in tasks {
        if let Some(socket) = task.await? {
            sockets.push(socket);
        }
    }
    let opened_secs = started.elapsed().as_secs_f64();
    // Every socket still answers while all are open.
    let mut answering = 0;
    for socket in &mut sockets {
        if round_trip(socket, "still there").await.is_ok() {
            answering += 1;
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "asked": count,
            "open": sockets.len(),
            "answering": answering,
            "open_secs": opened_secs,
        })
    );
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    for mut socket in sockets {
        let _ = socket.close(None).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        bail!("skiff-wsbench sends load to loopback addresses only");
    }
    match args.hold {
        Some(count) => hold(args, count).await,
        None => round_trips(args).await,
    }
}
