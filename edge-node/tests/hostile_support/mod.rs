//! Raw-socket clients for the hostile HTTP tests: HTTP/1.1 responses parsed by their own
//! framing (so that bytes a response should not have carried show up as a response of their
//! own), and HTTP/2 frames written and read by hand.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of these helpers"
)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A response as the bytes on the wire frame it.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 connection, read as a client that trusts the framing it is sent would.
pub struct Http1 {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// What reading a response found instead of one.
#[derive(Debug, PartialEq)]
pub enum ReadError {
    Closed,
    TimedOut,
    Malformed(String),
}

impl Http1 {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads more bytes into the buffer; false at EOF or error.
    async fn fill(&mut self, deadline: Instant) -> Result<(), ReadError> {
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Err(ReadError::TimedOut),
            Ok(Ok(0)) | Ok(Err(_)) => Err(ReadError::Closed),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    async fn take_line(&mut self, deadline: Instant) -> Result<String, ReadError> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            self.fill(deadline).await?;
        }
    }

    async fn take_exact(&mut self, n: usize, deadline: Instant) -> Result<Vec<u8>, ReadError> {
        while self.buf.len() < n {
            self.fill(deadline).await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// The next response, framed by its own headers; `bodiless` for a response to HEAD.
    pub async fn response(&mut self, bodiless: bool) -> Result<RawResponse, ReadError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let status_line = self.take_line(deadline).await?;
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| ReadError::Malformed(status_line.clone()))?;
        let mut headers = Vec::new();
        loop {
            let line = self.take_line(deadline).await?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| ReadError::Malformed(line.clone()))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let mut response = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if bodiless || status == 204 || status == 304 {
            return Ok(response);
        }
        if response
            .header("transfer-encoding")
            .is_some_and(|te| te.contains("chunked"))
        {
            loop {
                let size_line = self.take_line(deadline).await?;
                let size = usize::from_str_radix(size_line.split(';').next().unwrap_or(""), 16)
                    .map_err(|_| ReadError::Malformed(size_line.clone()))?;
                let data = self.take_exact(size + 2, deadline).await?;
                if size == 0 {
                    break;
                }
                response.body.extend_from_slice(&data[..size]);
            }
        } else if let Some(length) = response.header("content-length") {
            let length = length
                .parse()
                .map_err(|_| ReadError::Malformed(length.to_string()))?;
            response.body = self.take_exact(length, deadline).await?;
        } else {
            // Close-delimited.
            while self.fill(deadline).await.is_ok() {}
            response.body = std::mem::take(&mut self.buf);
        }
        Ok(response)
    }

    /// Bytes that arrive before the server closes (within `within`): what is left after the
    /// responses a client expected.
    pub async fn rest(&mut self, within: Duration) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + within;
        loop {
            match self.fill(deadline).await {
                Ok(()) => {}
                Err(ReadError::Closed) => return Ok(std::mem::take(&mut self.buf)),
                Err(other) => return Err(other),
            }
        }
    }
}

/// A GET for `host` on a kept-alive connection.
pub fn get(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

/// Reads (and discards) until the server closes the connection; the time that took, or
/// `None` if it was still open after `within`.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let deadline = started + within;
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

// HTTP/2 by hand.

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// One frame: the 9-byte header (with `length` as given, true or not) and the payload.
pub fn frame_with_length(kind: u8, flags: u8, stream: u32, length: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    frame_with_length(kind, flags, stream, payload.len() as u32, payload)
}

/// An HPACK header block for `GET http://{authority}{path}` (static table entries and
/// literals without Huffman coding).
pub fn hpack_get(authority: &str, path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http
    block.push(0x04); // :path, literal without indexing (static name 4)
    block.push(path.len() as u8);
    block.extend_from_slice(path.as_bytes());
    block.push(0x01); // :authority, literal without indexing (static name 1)
    block.push(authority.len() as u8);
    block.extend_from_slice(authority.as_bytes());
    block
}

/// The client's opening: the preface and an empty SETTINGS frame.
pub fn h2_opening() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out
}

/// A frame read from the server.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// The next frame, or `None` at EOF, error or after `within`.
pub async fn read_frame(stream: &mut TcpStream, within: Duration) -> Option<Frame> {
    let deadline = Instant::now() + within;
    let mut head = [0u8; 9];
    tokio::time::timeout_at(deadline, stream.read_exact(&mut head))
        .await
        .ok()?
        .ok()?;
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; length];
    tokio::time::timeout_at(deadline, stream.read_exact(&mut payload))
        .await
        .ok()?
        .ok()?;
    Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// The value of SETTINGS parameter `id` in a SETTINGS payload.
pub fn setting(payload: &[u8], id: u16) -> Option<u32> {
    payload.chunks_exact(6).find_map(|entry| {
        (u16::from_be_bytes([entry[0], entry[1]]) == id)
            .then(|| u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]))
    })
}
