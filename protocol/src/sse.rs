//! Server-sent events: the framing of the sync channel and of `skiff tail`.

/// Server-sent events, parsed as bytes arrive: `data:` lines joined, a blank line ends an
/// event, `:` lines are comments (pings), other fields are ignored.
pub struct SseParser {
    /// The largest event (plus unparsed input) accepted, in bytes.
    max_bytes: usize,
    buffer: Vec<u8>,
    /// Bytes of `buffer` known to hold no line end.
    scanned: usize,
    data: Vec<u8>,
    has_data: bool,
}

impl SseParser {
    /// A parser that refuses events larger than `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            buffer: Vec::new(),
            scanned: 0,
            data: Vec::new(),
            has_data: false,
        }
    }

    /// Feeds `chunk`; returns the data of the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, String> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.buffer[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + offset;
            let line = &self.buffer[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                if self.has_data {
                    let data = std::mem::take(&mut self.data);
                    self.has_data = false;
                    events.push(
                        String::from_utf8(data)
                            .map_err(|_| "event data is not UTF-8".to_string())?,
                    );
                }
            } else if !line.starts_with(b":") {
                let (field, value) = match line.iter().position(|&b| b == b':') {
                    Some(colon) => (&line[..colon], &line[colon + 1..]),
                    None => (line, &[][..]),
                };
                if field == b"data" {
                    if self.has_data {
                        self.data.push(b'\n');
                    }
                    self.data
                        .extend_from_slice(value.strip_prefix(b" ").unwrap_or(value));
                    self.has_data = true;
                }
            }
            start = end + 1;
            self.scanned = start;
        }
        self.buffer.drain(..start);
        self.scanned = self.buffer.len();
        if self.buffer.len() + self.data.len() > self.max_bytes {
            return Err(format!("an event is larger than {} bytes", self.max_bytes));
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks() {
        let mut parser = SseParser::new(1024);
        assert!(parser.push(b": ping\n\nda").expect("parses").is_empty());
        assert!(parser.push(b"ta: {\"a\":").expect("parses").is_empty());
        let events = parser
            .push(b"1}\r\n\r\ndata:x\ndata: y\nevent: e\n\n")
            .expect("parses");
        assert_eq!(events, vec!["{\"a\":1}".to_string(), "x\ny".to_string()]);
        assert!(parser.push(b"\n\n: ping\n").expect("parses").is_empty());
    }

    #[test]
    fn an_oversized_event_is_refused() {
        let mut parser = SseParser::new(16);
        let err = parser
            .push(b"data: 0123456789abcdef")
            .expect_err("too large");
        assert!(err.contains("larger than 16"), "{err}");
    }
}
