//! Hostile-client suite, generated: malformed HTTP/1.1 byte streams (random bytes, mutated
//! requests, broken chunked bodies, huge header lines, bad content lengths, pipelined garbage)
//! and HTTP/2 frame sequences (random types, flags, stream ids and lengths, some of them
//! lies) go to one real node over real sockets. Every connection must be answered or closed
//! within a deadline, nothing may panic, and a well-formed request must work after each case.

mod common;
mod hostile_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use hostile_support::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const ECHO: &str = r#"export default { async fetch(req) {
    const body = await req.arrayBuffer();
    return new Response(`${req.method} ${body.byteLength}`);
} };"#;

/// How long a connection may stay open after the client's last byte: the node's handshake
/// and idle timeouts are set far below it.
const DEADLINE: Duration = Duration::from_secs(5);
const CASES: u32 = 96;

fn valid_requests() -> Vec<Vec<u8>> {
    [
        "GET / HTTP/1.1\r\nHost: fuzz.localhost\r\n\r\n",
        "POST /p?q=1 HTTP/1.1\r\nHost: fuzz.localhost\r\nContent-Length: 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: fuzz.localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: fuzz.localhost\r\n\r\nGET /2 HTTP/1.1\r\nHost: fuzz.localhost\r\n\r\n",
        "HEAD / HTTP/1.0\r\nHost: fuzz.localhost\r\nConnection: keep-alive\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: fuzz.localhost\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    ]
    .iter()
    .map(|r| r.as_bytes().to_vec())
    .collect()
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip(at, byte)),
        (any::<usize>(), vec(any::<u8>(), 1..16)).prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<usize>(), 1usize..16).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len().max(1);
        match mutation {
            Mutation::Flip(at, byte) => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b = *byte;
                }
            }
            Mutation::Insert(at, inserted) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Mutation::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Mutation::Duplicate(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                if at < end {
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(end..end, copy);
                }
            }
        }
    }
    bytes
}

fn broken_chunked() -> impl Strategy<Value = Vec<u8>> {
    let size_line = prop_oneof![
        "[0-9a-fA-F]{1,4}",
        Just("ffffffffffffffffffffffff".to_string()),
        Just("-1".to_string()),
        Just("0x10".to_string()),
        Just(" 5".to_string()),
        Just("5;ext=\"unterminated".to_string()),
        Just(String::new()),
    ];
    let chunk = (size_line, vec(any::<u8>(), 0..48), any::<bool>());
    let encoding = prop_oneof![
        Just("Transfer-Encoding: chunked\r\n"),
        Just("Transfer-Encoding: chunked, identity\r\n"),
        Just("Transfer-Encoding: identity, chunked\r\n"),
        Just("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"),
        Just("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        Just("Transfer-Encoding:\tchunked\r\n"),
    ];
    (encoding, vec(chunk, 0..5), any::<bool>()).prop_map(|(encoding, chunks, finish)| {
        let mut out =
            format!("POST / HTTP/1.1\r\nHost: fuzz.localhost\r\n{encoding}\r\n").into_bytes();
        for (size, data, crlf) in chunks {
            out.extend_from_slice(size.as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&data);
            if crlf {
                out.extend_from_slice(b"\r\n");
            }
        }
        if finish {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        out
    })
}

fn huge_head() -> impl Strategy<Value = Vec<u8>> {
    let size = prop_oneof![Just(70 * 1024), Just(200 * 1024), 1usize..300 * 1024];
    let shape = 0u8..4;
    (size, shape).prop_map(|(size, shape)| {
        let filler = "a".repeat(size);
        match shape {
            0 => format!("GET / HTTP/1.1\r\nHost: fuzz.localhost\r\nX-Big: {filler}\r\n\r\n"),
            1 => format!("GET /{filler} HTTP/1.1\r\nHost: fuzz.localhost\r\n\r\n"),
            2 => format!("GET / HTTP/1.1\r\nHost: {filler}.localhost\r\n\r\n"),
            _ => {
                let many: String = (0..size / 1024 + 1)
                    .map(|i| format!("X-{i}: {}\r\n", "b".repeat(8)))
                    .collect();
                format!("GET / HTTP/1.1\r\nHost: fuzz.localhost\r\n{many}\r\n")
            }
        }
        .into_bytes()
    })
}

fn bad_content_length() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just("-1"),
        Just("1e3"),
        Just(" 5"),
        Just("5, 6"),
        Just("99999999999999999999999"),
        Just("18446744073709551615"),
        Just("0x10"),
        Just("+5"),
        Just("5 5"),
        Just(""),
        Just("100"),
    ];
    (value, vec(any::<u8>(), 0..64), any::<bool>()).prop_map(|(value, body, twice)| {
        let second = if twice { "Content-Length: 2\r\n" } else { "" };
        let mut out = format!(
            "POST / HTTP/1.1\r\nHost: fuzz.localhost\r\nContent-Length: {value}\r\n{second}\r\n"
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    })
}

fn http1_stream() -> impl Strategy<Value = Vec<u8>> {
    let valid = valid_requests();
    let count = valid.len();
    let mutated = {
        let valid = valid.clone();
        (0..count, vec(mutation(), 1..6))
            .prop_map(move |(i, mutations)| mutate(valid[i].clone(), &mutations))
    };
    let pipelined = (0..count, vec(any::<u8>(), 1..512)).prop_map(move |(i, garbage)| {
        let mut out = valid[i].clone();
        out.extend_from_slice(&garbage);
        out
    });
    prop_oneof![
        vec(any::<u8>(), 0..1024),
        mutated,
        broken_chunked(),
        huge_head(),
        bad_content_length(),
        pipelined,
    ]
}

/// An HTTP/2 frame as sent: its header may lie about its length.
#[derive(Clone, Debug)]
struct RawFrame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
    lie: Option<u32>,
}

fn raw_frame() -> impl Strategy<Value = RawFrame> {
    let random = (
        prop_oneof![0u8..=9, any::<u8>()],
        any::<u8>(),
        prop_oneof![0u32..8, any::<u32>()],
        vec(any::<u8>(), 0..64),
        proptest::option::weighted(0.15, 0u32..0x0100_0000),
    )
        .prop_map(|(kind, flags, stream, payload, lie)| RawFrame {
            kind,
            flags,
            stream,
            payload,
            lie,
        });
    // A well-formed request now and then, so that streams reach the tenant.
    let request = (0u32..10, any::<bool>()).prop_map(|(n, end)| RawFrame {
        kind: HEADERS,
        flags: END_HEADERS | if end { END_STREAM } else { 0 },
        stream: 2 * n + 1,
        payload: hpack_get("fuzz.localhost", "/"),
        lie: None,
    });
    prop_oneof![4 => random, 1 => request]
}

fn http2_stream() -> impl Strategy<Value = Vec<u8>> {
    (0u8..3, vec(raw_frame(), 0..8), 0usize..24).prop_map(|(opening, frames, cut)| {
        let mut out = match opening {
            0 => h2_opening(),
            1 => PREFACE.to_vec(),
            // A preface cut short, then the frames as garbage.
            _ => PREFACE[..cut].to_vec(),
        };
        for f in frames {
            let length = f.lie.unwrap_or(f.payload.len() as u32);
            out.extend(frame_with_length(
                f.kind, f.flags, f.stream, length, &f.payload,
            ));
        }
        out
    })
}

/// Sends `bytes`, then requires the node to close the connection within the deadline (having
/// answered or not), and to serve a well-formed request after it.
async fn check(addr: SocketAddr, bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|err| TestCaseError::fail(format!("connect: {err}")))?;
    // The node may close before it has read everything (a 400 or 431 midway): a failed
    // write is fine, a write that hangs is not.
    let written = tokio::time::timeout(DEADLINE, stream.write_all(bytes)).await;
    prop_assert!(written.is_ok(), "the node neither read nor closed");
    let closed = closed_within(&mut stream, DEADLINE).await;
    prop_assert!(
        closed.is_some(),
        "connection still open {DEADLINE:?} after the last byte"
    );

    let mut conn = Http1::connect(addr).await;
    conn.send(b"GET / HTTP/1.1\r\nHost: fuzz.localhost\r\nConnection: close\r\n\r\n")
        .await;
    let res = conn.response(false).await;
    prop_assert!(
        matches!(&res, Ok(res) if res.text() == "GET 0"),
        "the node stopped serving: {res:?}"
    );
    Ok(())
}

#[test]
fn malformed_http1_and_http2_never_wedge_the_node() {
    let panics = Arc::new(AtomicUsize::new(0));
    let default_hook = std::panic::take_hook();
    let counted = panics.clone();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let node = runtime.block_on(start_with(script_dir(&[("fuzz", ECHO)]), |config| {
        config.limits.max_body_bytes = 64 * 1024;
        config.limits.wall_clock = Duration::from_secs(2);
        config.limits.connections.handshake_timeout = Duration::from_millis(300);
        config.limits.connections.idle_timeout = Duration::from_millis(300);
    }));
    let addr = node.node.http_addr();
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    };
    let started = std::time::Instant::now();
    for (what, strategy) in [
        ("HTTP/1.1", http1_stream().boxed()),
        ("HTTP/2", http2_stream().boxed()),
    ] {
        TestRunner::new(config.clone())
            .run(&strategy, |bytes| runtime.block_on(check(addr, &bytes)))
            .unwrap_or_else(|err| panic!("{what}: {err}"));
    }
    eprintln!(
        "{} cases of each protocol in {:?}",
        CASES,
        started.elapsed()
    );
    assert_eq!(panics.load(Ordering::SeqCst), 0, "something panicked");
    runtime.block_on(node.node.shutdown());
}
