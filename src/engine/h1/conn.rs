//! One HTTP/1.1 connection driven by the user that sends on it: the request written in one
//! `write`, the response head parsed by httparse, the body read straight into the caller.
//!
//! hyper's connection API made 0.78 of wrk's requests per CPU-second in a bare loop on an AMD
//! EPYC (`bench/perf.py`, 2026-12-02) and 0.73 on an Intel Xeon: its generality costs a
//! channel between the sender and the connection's state machine, a body channel, wakers
//! cloned per poll and buffers shared through reference counts (about a tenth of locusta's CPU
//! per request in a `perf` profile, more than the rest of the scenario machinery). A load
//! generator needs little of it: one request at a time per connection, no upgrades, no
//! pipelining. So here a request is one `write` of a buffer the connection keeps, and a
//! response is as many `read`s as the bytes need (one for a small answer, as wrk does), into
//! one buffer of [`READ_BUFFER`] bytes that the connection also keeps.
//!
//! The response time is the time on the wire, as the socket saw it: from just before the
//! request's first byte was written to just after the read that brought the response's last
//! byte. Timed around the whole send instead, a request also counts locusta's own work (the
//! template, the cookie lookup, the pool, parsing): a few microseconds when warm, but a user
//! that has just slept through its wait runs it with cold caches; measured with strace, 49 µs
//! passed between the timer's wake-up and the write, and one user 10 ms apart reported a p50
//! 80 µs above wrk's on the same nginx. The server took no part in that time.

use std::io::{self, ErrorKind};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::pyfmt;

/// What a connection reads into. wrk reads 8 KiB at a time; a small response arrives in one
/// read, a large body in reads of this size.
pub const READ_BUFFER: usize = 8 * 1024;
/// A buffer grown past this (a large head, a large request) is given back after the exchange,
/// so an idle connection holds at most this much of each.
pub const KEPT_BUFFER: usize = 16 * 1024;
/// python's http.client refuses a header line longer than this; so does locusta a head.
const MAX_HEAD: usize = 64 * 1024;
/// http.client's `_MAXHEADERS`.
const MAX_HEADERS: usize = 100;
/// Bodies up to this size go out in the same write as the head.
const INLINE_BODY: usize = 64 * 1024;

/// A response that is not HTTP/1.x: python-requests' words for it come with it.
#[derive(Debug)]
pub struct BadResponse(pub String);

impl std::fmt::Display for BadResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadResponse {}

fn bad(text: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, BadResponse(text))
}

/// The connection ended before the response did.
fn ended() -> io::Error {
    io::Error::new(
        ErrorKind::UnexpectedEof,
        "connection closed before the response ended",
    )
}

/// A response's status line and headers.
#[derive(Debug)]
pub struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
}

/// How the body is framed, and how far reading it has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Nothing (left) to read.
    Done,
    /// This many bytes still to come (`Content-Length`).
    Length(u64),
    /// Chunked: the next chunk's size line.
    ChunkSize,
    /// Chunked: this many bytes of the current chunk, then its CRLF.
    ChunkData(u64),
    ChunkEnd,
    /// Chunked: the trailer lines after the last chunk.
    Trailers,
    /// Until the server closes the connection.
    UntilClose,
}

impl Body {
    /// The body's length, when the head said it.
    pub fn known_length(&self) -> Option<u64> {
        match *self {
            Body::Done => Some(0),
            Body::Length(n) => Some(n),
            _ => None,
        }
    }
}

pub struct Conn {
    stream: TcpStream,
    read: BytesMut,
    write: Vec<u8>,
    /// The last read that brought bytes: the end of the exchange on the wire.
    pub last_read: Instant,
    /// Whether the connection can carry another request once this response is read.
    pub keep_alive: bool,
    /// When it went back to the pool.
    pub idle_since: Instant,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        let now = Instant::now();
        Conn {
            stream,
            read: BytesMut::with_capacity(READ_BUFFER),
            write: Vec::new(),
            last_read: now,
            keep_alive: true,
            idle_since: now,
        }
    }

    /// Whether an idle connection can take a request: nothing unread, and no close (or other
    /// bytes) arrived while it waited. tokio clears a socket's readiness after a short read,
    /// so for a connection whose last response was read to its end this costs no system call
    /// unless something did arrive.
    pub fn usable(&mut self) -> bool {
        if !self.read.is_empty() || !self.keep_alive {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                matches!(self.stream.try_read(&mut [0u8; 1]), Err(e) if e.kind() == ErrorKind::WouldBlock)
            }
        }
    }

    /// Writes the request in one write (with its body, when small) and returns the instant
    /// just before the first byte went out.
    pub async fn send(
        &mut self,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> io::Result<Instant> {
        let out = &mut self.write;
        out.clear();
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        // python-requests sends a length for every body, and a zero one for a POST, PUT or
        // PATCH without one.
        let needs_length =
            !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        if needs_length
            && !headers.contains_key(CONTENT_LENGTH)
            && !headers.contains_key(TRANSFER_ENCODING)
        {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        let inline = body.len() <= INLINE_BODY;
        if inline {
            out.extend_from_slice(body);
        }
        let from = Instant::now();
        self.stream.write_all(&self.write).await?;
        if !inline {
            self.stream.write_all(body).await?;
        }
        if self.write.capacity() > KEPT_BUFFER {
            self.write = Vec::new();
        }
        Ok(from)
    }

    /// Reads more bytes into the read buffer; an error when the connection has ended.
    async fn fill(&mut self, want: usize) -> io::Result<()> {
        if self.read.capacity() - self.read.len() < want.min(READ_BUFFER) {
            self.read.reserve(want.clamp(READ_BUFFER, 4 * READ_BUFFER));
        }
        match self.stream.read_buf(&mut self.read).await? {
            0 => Err(ended()),
            _ => {
                self.last_read = Instant::now();
                Ok(())
            }
        }
    }

    /// Reads the response's head (skipping any 1xx before it) and says how its body comes.
    pub async fn head(&mut self, method: &Method) -> io::Result<(Head, Body)> {
        loop {
            let parsed = match parse_head(&self.read)? {
                Some(parsed) => parsed,
                None => {
                    if self.read.len() > MAX_HEAD {
                        return Err(bad(pyfmt::exception(
                            "LineTooLong",
                            &format!("got more than {MAX_HEAD} bytes when reading header line"),
                        )));
                    }
                    match self.fill(READ_BUFFER).await {
                        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !self.read.is_empty() => {
                            return Err(self.cut_short());
                        }
                        other => other?,
                    }
                    continue;
                }
            };
            let (length, head, version) = parsed;
            self.read.advance(length);
            let code = head.status.as_u16();
            if (100..200).contains(&code) && code != 101 {
                continue;
            }
            self.keep_alive = keeps_alive(version, &head.headers);
            let body = framing(method, code, &head.headers)?;
            if body == Body::UntilClose || code == 101 {
                self.keep_alive = false;
            }
            return Ok((head, body));
        }
    }

    /// What a head cut short by the server's close is: python's http.client reads the status
    /// line first, and calls one that is not HTTP a bad status line.
    fn cut_short(&self) -> io::Error {
        if self.read.starts_with(b"HTTP/") {
            ended()
        } else {
            bad(bad_status_line(&self.read))
        }
    }

    /// Reads the body to its end, handing each piece to `sink`.
    pub async fn body(
        &mut self,
        state: &mut Body,
        sink: &mut (dyn FnMut(&[u8]) + Send),
    ) -> io::Result<()> {
        let mut read = 0u64;
        loop {
            match *state {
                Body::Done => return Ok(()),
                Body::Length(left) | Body::ChunkData(left) => {
                    if self.read.is_empty() {
                        self.fill(usize::try_from(left).unwrap_or(usize::MAX))
                            .await?;
                    }
                    let n = self
                        .read
                        .len()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    sink(&self.read[..n]);
                    self.read.advance(n);
                    read += n as u64;
                    let left = left - n as u64;
                    *state = match (*state, left) {
                        (Body::Length(_), 0) => Body::Done,
                        (Body::Length(_), _) => Body::Length(left),
                        (_, 0) => Body::ChunkEnd,
                        _ => Body::ChunkData(left),
                    };
                }
                Body::ChunkSize | Body::ChunkEnd | Body::Trailers => {
                    if self.chunk_framing(state, read)? {
                        self.fill(READ_BUFFER).await?;
                    }
                }
                Body::UntilClose => {
                    if !self.read.is_empty() {
                        sink(&self.read);
                        self.read.clear();
                    }
                    match self.fill(READ_BUFFER).await {
                        Err(e) if e.kind() == ErrorKind::UnexpectedEof => *state = Body::Done,
                        other => other?,
                    }
                }
            }
        }
    }

    /// One step through a chunked body's framing (a size line, a chunk's CRLF, a trailer
    /// line) from what has been read; true when it needs more bytes first.
    fn chunk_framing(&mut self, state: &mut Body, read: u64) -> io::Result<bool> {
        match *state {
            Body::ChunkSize => match httparse::parse_chunk_size(&self.read) {
                Ok(httparse::Status::Complete((used, size))) => {
                    self.read.advance(used);
                    *state = match size {
                        0 => Body::Trailers,
                        _ => Body::ChunkData(size),
                    };
                }
                Ok(httparse::Status::Partial) if self.read.len() < 1024 => return Ok(true),
                _ => return Err(bad(invalid_chunk(&self.read, read))),
            },
            Body::ChunkEnd => {
                if self.read.len() < 2 {
                    return Ok(true);
                }
                if &self.read[..2] != b"\r\n" {
                    return Err(bad(invalid_chunk(&self.read, read)));
                }
                self.read.advance(2);
                *state = Body::ChunkSize;
            }
            Body::Trailers => match self.read.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let empty = end == 0 || (end == 1 && self.read[0] == b'\r');
                    self.read.advance(end + 1);
                    if empty {
                        *state = Body::Done;
                    }
                }
                None if self.read.len() > MAX_HEAD => {
                    return Err(bad(invalid_chunk(&self.read, read)));
                }
                None => return Ok(true),
            },
            _ => {}
        }
        Ok(false)
    }

    /// After an exchange read to its end: a buffer a large response grew is given back.
    pub fn shrink(&mut self) {
        if self.read.capacity() > KEPT_BUFFER && self.read.is_empty() {
            self.read = BytesMut::with_capacity(READ_BUFFER);
        }
    }
}

/// The head, if all of it is in `buf`: its length, status and headers, and the version.
fn parse_head(buf: &[u8]) -> io::Result<Option<(usize, Head, u8)>> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let length = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(bad(pyfmt::exception(
                "HTTPException",
                &format!("got more than {MAX_HEADERS} headers"),
            )));
        }
        Err(httparse::Error::Version | httparse::Error::Status) => {
            return Err(bad(bad_status_line(buf)));
        }
        Err(e) => {
            return Err(bad(pyfmt::exception(
                "InvalidHeader",
                &format!("the response's head is not HTTP: {e}"),
            )));
        }
    };
    let status = response
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| bad(bad_status_line(buf)))?;
    let version = response.version.unwrap_or(1);
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    for h in response.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes());
        let value = HeaderValue::from_bytes(h.value);
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    Ok(Some((length, Head { status, headers }, version)))
}

/// `BadStatusLine('garbage\r\n')`: the first line received, as http.client quotes it.
fn bad_status_line(buf: &[u8]) -> String {
    let end = buf
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |i| i + 1)
        .min(200);
    // ISO-8859-1, as http.client decodes it: every byte is the character of that code.
    let line: String = buf[..end].iter().map(|&b| b as char).collect();
    pyfmt::exception("BadStatusLine", &line)
}

/// urllib3's `InvalidChunkLength(got length b'zz\r\n', 3 bytes read)`: the line as read.
fn invalid_chunk(buf: &[u8], read: u64) -> String {
    let end = buf
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |i| i + 1)
        .min(64);
    let mut text = String::from("b'");
    for &b in &buf[..end] {
        match b {
            b'\\' | b'\'' => {
                text.push('\\');
                text.push(b as char);
            }
            b'\r' => text.push_str("\\r"),
            b'\n' => text.push_str("\\n"),
            b'\t' => text.push_str("\\t"),
            0x20..=0x7e => text.push(b as char),
            _ => text.push_str(&format!("\\x{b:02x}")),
        }
    }
    text.push('\'');
    format!("InvalidChunkLength(got length {text}, {read} bytes read)")
}

/// HTTP/1.1 keeps the connection unless it says `close`; HTTP/1.0 only with `keep-alive`.
fn keeps_alive(version: u8, headers: &HeaderMap) -> bool {
    let says = |token: &str| {
        headers.get_all(CONNECTION).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    match version {
        0 => says("keep-alive"),
        _ => !says("close"),
    }
}

/// How the body is delimited (RFC 9112, section 6.3).
fn framing(method: &Method, code: u16, headers: &HeaderMap) -> io::Result<Body> {
    if *method == Method::HEAD || code == 204 || code == 304 || (100..200).contains(&code) {
        return Ok(Body::Done);
    }
    if let Some(last) = headers.get_all(TRANSFER_ENCODING).iter().next_back() {
        let chunked = last
            .to_str()
            .ok()
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
        return Ok(if chunked {
            Body::ChunkSize
        } else {
            Body::UntilClose
        });
    }
    // As http.client: a length that is not a number is no length (the body lasts until the
    // close); urllib3 refuses differing ones.
    let mut lengths: Vec<u64> = Vec::new();
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.to_str().unwrap_or_default().split(',') {
            if let Ok(n) = part.trim().parse::<u64>()
                && !lengths.contains(&n)
            {
                lengths.push(n);
            }
        }
    }
    if lengths.len() > 1 {
        let values: Vec<String> = lengths.iter().map(u64::to_string).collect();
        let inner = pyfmt::exception(
            "InvalidHeader",
            &format!(
                "Content-Length contained multiple unmatching values ({})",
                values.join(", ")
            ),
        );
        return Err(bad(format!("InvalidHeader({inner})")));
    }
    let length = lengths.first().copied();
    Ok(match length {
        Some(0) => Body::Done,
        Some(n) => Body::Length(n),
        None => Body::UntilClose,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> io::Result<Option<(usize, Head, u8)>> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn a_head_parses_once_complete() {
        assert!(head("HTTP/1.1 200 OK\r\ncontent-le").unwrap().is_none());
        let (n, h, v) = head("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!((n, h.status.as_u16(), v), (53, 404, 1));
        assert_eq!(h.headers["x-a"], "b");
    }

    #[test]
    fn garbage_is_a_bad_status_line_as_http_client_says() {
        let err = head("garbage\r\n").unwrap_err();
        assert_eq!(err.to_string(), "BadStatusLine('garbage\\r\\n')");
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            m
        };
        let get = &Method::GET;
        assert_eq!(
            framing(get, 200, &h(&[("content-length", "5")])).unwrap(),
            Body::Length(5)
        );
        assert_eq!(
            framing(&Method::HEAD, 200, &h(&[("content-length", "5")])).unwrap(),
            Body::Done
        );
        assert_eq!(framing(get, 204, &h(&[])).unwrap(), Body::Done);
        assert_eq!(
            framing(get, 304, &h(&[("content-length", "5")])).unwrap(),
            Body::Done
        );
        assert_eq!(
            framing(
                get,
                200,
                &h(&[
                    ("transfer-encoding", "gzip, chunked"),
                    ("content-length", "5")
                ])
            )
            .unwrap(),
            Body::ChunkSize
        );
        assert_eq!(
            framing(get, 200, &h(&[("transfer-encoding", "gzip")])).unwrap(),
            Body::UntilClose
        );
        assert_eq!(framing(get, 200, &h(&[])).unwrap(), Body::UntilClose);
        assert_eq!(
            framing(get, 200, &h(&[("content-length", "5, 5")])).unwrap(),
            Body::Length(5)
        );
        assert!(
            framing(
                get,
                200,
                &h(&[("content-length", "5"), ("content-length", "6")])
            )
            .is_err()
        );
        assert_eq!(
            framing(get, 200, &h(&[("content-length", "x")])).unwrap(),
            Body::UntilClose
        );
        assert_eq!(
            framing(
                get,
                200,
                &h(&[("content-length", "3"), ("content-length", "4")])
            )
            .unwrap_err()
            .to_string(),
            "InvalidHeader(InvalidHeader('Content-Length contained multiple unmatching values (3, 4)'))"
        );
    }

    #[test]
    fn a_bad_chunk_size_reads_as_urllib3_says() {
        assert_eq!(
            invalid_chunk(b"zz\r\nmore", 0),
            "InvalidChunkLength(got length b'zz\\r\\n', 0 bytes read)"
        );
    }

    #[test]
    fn keep_alive_by_version_and_connection_header() {
        let mut close = HeaderMap::new();
        close.insert(CONNECTION, "Close".parse().unwrap());
        let mut keep = HeaderMap::new();
        keep.insert(CONNECTION, "keep-alive".parse().unwrap());
        assert!(keeps_alive(1, &HeaderMap::new()));
        assert!(!keeps_alive(1, &close));
        assert!(!keeps_alive(0, &HeaderMap::new()));
        assert!(keeps_alive(0, &keep));
    }
}
