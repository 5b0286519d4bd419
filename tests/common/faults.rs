//! A server that misbehaves on purpose, one way per path, speaking raw HTTP/1.1 over TCP so it
//! can do what no well-behaved framework would: reset mid-body, hang, trickle, answer garbage,
//! stream gigabytes, close kept-alive connections behind the client's back.
//!
//! Every misbehaviour is bounded in time, so nothing here outlives a test.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::runtime;

/// Bytes the `/huge` body streams: 2 GiB.
pub const HUGE_BODY: u64 = 2 << 30;

/// Requests `/drop-next` made the server drop, in this test process.
pub static NEXT_REQUESTS_DROPPED: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// How long `/hang` and `/trickle` keep a connection before giving up on it themselves: long
/// past any run that uses them, so a run that waited for them shows in its duration.
const MAX_MISBEHAVIOUR: Duration = Duration::from_secs(60);

/// Starts the server on a free port of 127.0.0.1.
pub fn fault_server() -> SocketAddr {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(connection(stream));
            }
        });
        addr
    })
}

/// Reads one request head; `None` when the client closed or sent nothing usable.
async fn request_path(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_string();
    line.split_whitespace().nth(1).map(String::from)
}

async fn connection(mut stream: TcpStream) {
    // Keep-alive: answer requests on this connection until a fault ends it.
    while let Some(path) = request_path(&mut stream).await {
        if !answer(&mut stream, &path).await {
            return;
        }
    }
}

/// Answers one request; `false` when the connection is finished.
async fn answer(stream: &mut TcpStream, path: &str) -> bool {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    match path.split('?').next().unwrap_or("") {
        "/ok" => stream.write_all(OK).await.is_ok(),
        // Headers promise 100000 bytes; 1000 come, then a TCP reset.
        "/reset" => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                .await;
            let _ = stream.write_all(&[b'x'; 1000]).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = stream.set_zero_linger();
            false
        }
        // Headers promise 100000 bytes; 1000 come, then the connection closes cleanly.
        "/short" => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                .await;
            let _ = stream.write_all(&[b'x'; 1000]).await;
            false
        }
        // The request is read, and the connection closed without a word.
        "/close" => false,
        // Accepts, reads, never answers.
        "/hang" => {
            tokio::time::sleep(MAX_MISBEHAVIOUR).await;
            false
        }
        // A valid head, then one byte every 100 ms.
        "/trickle" => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
                .await;
            for _ in 0..200 {
                if stream.write_all(b"x").await.is_err() {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        }
        // Not HTTP at all.
        "/garbage" => {
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            false
        }
        // A chunked body whose chunk size is not a number.
        "/bad-chunk" => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            false
        }
        // Gigabytes of zeros, written as fast as the client reads them.
        "/huge" => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {HUGE_BODY}\r\n\r\n");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            let chunk = vec![0u8; 256 * 1024];
            let mut left = HUGE_BODY;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return false;
                }
                left -= n as u64;
            }
            true
        }
        // A normal keep-alive answer, then the server drops the idle connection 20 ms later
        // without having said `Connection: close`.
        "/idle-close" => {
            let _ = stream.write_all(OK).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            false
        }
        // A normal keep-alive answer; the next request on this connection is read and the
        // connection closed without an answer: a keep-alive timeout that fired as the client
        // reused the connection, made certain.
        "/drop-next" => {
            if stream.write_all(OK).await.is_err() {
                return false;
            }
            if request_path(stream).await.is_some() {
                NEXT_REQUESTS_DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            false
        }
        _ => {
            let _ = stream
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .await;
            true
        }
    }
}
