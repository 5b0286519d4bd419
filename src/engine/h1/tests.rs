use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A server on 127.0.0.1 that counts its connections and serves each with `serve`.
async fn counting_server<F, Fut>(serve: F) -> (u16, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(socket));
        }
    });
    (port, accepted)
}

/// Reads one request head from `socket` into `buf`; false once the client has gone.
async fn read_head(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(buf.drain(..end + 4).collect());
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A keep-alive HTTP/1.1 server that answers every request with `reply(head)`.
async fn server(reply: fn(&[u8]) -> Vec<u8>) -> (u16, Arc<AtomicUsize>) {
    counting_server(move |mut socket| async move {
        let mut buf = Vec::new();
        while let Some(head) = read_head(&mut socket, &mut buf).await {
            if socket.write_all(&reply(&head)).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// Answers every request with the request's head as the body.
async fn echo_server() -> (u16, Arc<AtomicUsize>) {
    server(|head| {
        let mut out =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", head.len()).into_bytes();
        out.extend_from_slice(head);
        out
    })
    .await
}

/// Answers "ok" to every request; a connection whose first request `closes(head)` picks
/// is closed 30 ms after the answer, without a header saying so, as by a server whose
/// keep-alive timeout has passed: by then the connection is back in the pool.
async fn closing_server(closes: fn(&[u8]) -> bool) -> (u16, Arc<AtomicUsize>) {
    counting_server(move |mut socket| async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket.read(&mut buf).await {
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if n == 0 || socket.write_all(ok).await.is_err() {
                return;
            }
            if closes(&buf[..n]) {
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                return;
            }
        }
    })
    .await
}

fn pool() -> Arc<Http1Pool> {
    Http1Pool::new("locusta/test", DEFAULT_IDLE_TIMEOUT).unwrap()
}

async fn request(pool: &Http1Pool, method: Method, url: &str) -> Result<(u16, String), String> {
    let url = Url::parse(url).unwrap();
    let (head, mut lease) = pool
        .send(method, &url, HeaderMap::new(), Bytes::new())
        .await
        .map_err(|f| f.error.to_string())?;
    let mut body = Vec::new();
    lease
        .read_body(&mut |piece| body.extend_from_slice(piece))
        .await
        .map_err(|e| e.to_string())?;
    lease.release();
    Ok((head.status.as_u16(), String::from_utf8(body).unwrap()))
}

async fn get(pool: &Http1Pool, url: &str) -> String {
    request(pool, Method::GET, url).await.expect("answered").1
}

#[tokio::test]
async fn requests_reuse_one_kept_alive_connection_and_say_who_they_are() {
    let (port, accepted) = echo_server().await;
    let pool = pool();
    let head = get(&pool, &format!("http://127.0.0.1:{port}/a?b=1")).await;
    assert!(head.starts_with("GET /a?b=1 HTTP/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("host: 127.0.0.1:{port}\r\n")),
        "{head}"
    );
    assert!(head.contains("user-agent: locusta/test\r\n"), "{head}");
    assert!(head.contains("accept: */*\r\n"), "{head}");
    assert!(
        !head.contains("content-length"),
        "a GET without a body says no length: {head}"
    );
    for _ in 0..3 {
        get(&pool, &format!("http://127.0.0.1:{port}/")).await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection, kept alive"
    );
}

#[tokio::test]
async fn a_body_goes_with_its_length_and_an_empty_post_says_zero() {
    let (port, _) = echo_server().await;
    let pool = pool();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let (_, mut lease) = pool
        .send(Method::POST, &url, HeaderMap::new(), Bytes::new())
        .await
        .ok()
        .unwrap();
    let mut head = Vec::new();
    lease
        .read_body(&mut |p| head.extend_from_slice(p))
        .await
        .unwrap();
    drop(lease);
    assert!(String::from_utf8_lossy(&head).contains("content-length: 0\r\n"));
}

#[tokio::test]
async fn chunked_and_close_delimited_bodies_and_informational_answers_are_read() {
    let (port, accepted) = server(|head| {
        if head.starts_with(b"GET /chunked") {
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
              5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
                .to_vec()
        } else if head.starts_with(b"HEAD ") {
            b"HTTP/1.1 200 OK\r\ncontent-length: 999\r\n\r\n".to_vec()
        } else {
            b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()
        }
    })
    .await;
    let pool = pool();
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(get(&pool, &format!("{base}/chunked")).await, "hello world");
    assert_eq!(
        request(&pool, Method::HEAD, &base).await.unwrap(),
        (200, String::new())
    );
    assert_eq!(
        request(&pool, Method::GET, &base).await.unwrap(),
        (204, String::new())
    );
    assert_eq!(get(&pool, &format!("{base}/chunked")).await, "hello world");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "every framing keeps the connection"
    );

    // A body that ends with the connection is read to the close; the connection is not kept.
    let (port, accepted) = counting_server(|mut socket| async move {
        let mut buf = Vec::new();
        if read_head(&mut socket, &mut buf).await.is_some() {
            let _ = socket
                .write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
                .await;
        }
    })
    .await;
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(get(&pool, &url).await, "until the end");
    assert_eq!(get(&pool, &url).await, "until the end");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn garbage_and_a_body_cut_short_fail_in_python_requests_words() {
    let (port, _) = server(|head| match head.starts_with(b"GET /short") {
        true => b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc".to_vec(),
        false => b"garbage\r\n".to_vec(),
    })
    .await;
    let pool = pool();
    let base = format!("http://127.0.0.1:{port}");
    let err = request(&pool, Method::GET, &base).await.unwrap_err();
    assert_eq!(err, "BadStatusLine('garbage\\r\\n')");
    // The server keeps the connection open after the short body: the deadline (here a
    // timeout) ends that exchange, and the connection is not reused.
    let short = tokio::time::timeout(
        Duration::from_millis(300),
        request(&pool, Method::GET, &format!("{base}/short")),
    )
    .await;
    assert!(short.is_err(), "still waiting for the rest of the body");
    assert_eq!(pool.counts(), (0, 0), "nothing idle, nothing in flight");
}

#[tokio::test]
async fn a_connection_not_read_to_the_end_is_not_reused() {
    let (port, accepted) = echo_server().await;
    let pool = pool();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let (_head, lease) = pool
        .send(Method::GET, &url, HeaderMap::new(), Bytes::new())
        .await
        .ok()
        .expect("sent");
    drop(lease);
    get(&pool, url.as_str()).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_idle_connection_the_server_closed_is_not_used() {
    let (port, accepted) = closing_server(|_| true).await;
    let pool = pool();
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(get(&pool, &url).await, "ok");
    // The server's close arrives while the connection waits in the pool; nobody polls it
    // there, so the next checkout must notice it before sending.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(&pool, &url).await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_the_server_closed_leaves_the_pool_at_the_next_release() {
    // The connection that asked for /close closes, the others stay.
    let (port, _) = closing_server(|head| head.starts_with(b"GET /close ")).await;
    let pool = pool();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    // Two requests at once: two connections, the first of which the server will close.
    let closing = url.join("/close").unwrap();
    let (_, mut first) = pool
        .send(Method::GET, &closing, HeaderMap::new(), Bytes::new())
        .await
        .ok()
        .expect("sent");
    let (_, mut second) = pool
        .send(Method::GET, &url, HeaderMap::new(), Bytes::new())
        .await
        .ok()
        .expect("sent");
    first.read_body(&mut |_| ()).await.unwrap();
    second.read_body(&mut |_| ()).await.unwrap();
    first.release();
    second.release();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pool.counts().0, 2);
    // The next request takes the most recent (open) connection; giving it back sweeps
    // out the closed one, which no request would take while the other is free.
    assert_eq!(get(&pool, url.as_str()).await, "ok");
    assert_eq!(pool.counts().0, 1);
}

#[tokio::test]
async fn credentials_in_the_url_become_basic_auth() {
    let (port, _) = echo_server().await;
    let pool = pool();
    let head = get(&pool, &format!("http://user:p%40ss@127.0.0.1:{port}/")).await;
    // base64("user:p@ss")
    assert!(
        head.contains("authorization: Basic dXNlcjpwQHNz\r\n"),
        "{head}"
    );
}

/// `count` requests at once, to the end.
async fn burst(pool: &Arc<Http1Pool>, port: u16, count: usize) {
    let url = format!("http://127.0.0.1:{port}/");
    let all: Vec<_> = (0..count)
        .map(|_| {
            let (pool, url) = (pool.clone(), url.clone());
            tokio::spawn(async move { get(&pool, &url).await })
        })
        .collect();
    for one in all {
        one.await.unwrap();
    }
}

async fn slow_server() -> (u16, Arc<AtomicUsize>) {
    counting_server(|mut socket| async move {
        let mut buf = Vec::new();
        while read_head(&mut socket, &mut buf).await.is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if socket.write_all(ok).await.is_err() {
                return;
            }
        }
    })
    .await
}

#[tokio::test]
async fn idle_connections_follow_the_recent_peak_and_the_idle_timeout() {
    let (port, accepted) = slow_server().await;
    let pool = Http1Pool::new("locusta/test", Duration::from_secs(3)).unwrap();
    burst(&pool, port, 40).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        40,
        "40 requests in flight at once"
    );
    assert_eq!(pool.counts(), (40, 0), "kept: the peak was 40");
    // A trickle of requests keeps reusing the most recent connections; the rest, idle past
    // the timeout, are closed by the sweep.
    let url = format!("http://127.0.0.1:{port}/");
    let since = std::time::Instant::now();
    while since.elapsed() < Duration::from_secs(20) && pool.counts().0 > MIN_IDLE {
        get(&pool, &url).await;
    }
    assert_eq!(pool.counts().0, 1, "only the one the trickle uses is left");
    assert_eq!(accepted.load(Ordering::SeqCst), 40, "nothing reconnected");
}

#[tokio::test(start_paused = true)]
async fn the_peak_decays_over_two_windows() {
    let mut peak = Peak {
        since: Instant::now(),
        current: 0,
        previous: 0,
    };
    peak.see(Instant::now(), 40);
    tokio::time::advance(PEAK_WINDOW).await;
    peak.see(Instant::now(), 3);
    assert_eq!(peak.recent(), 40, "the window before still counts");
    tokio::time::advance(PEAK_WINDOW).await;
    peak.roll(Instant::now());
    assert_eq!(peak.recent(), 3);
    tokio::time::advance(3 * PEAK_WINDOW).await;
    peak.roll(Instant::now());
    assert_eq!(peak.recent(), 0, "long quiet: nothing");
}

#[tokio::test]
async fn a_burst_connects_at_most_max_connecting_at_once() {
    // A listener that never accepts, its backlog full: connects hang, as to a server
    // overwhelmed by a burst of new users.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let _listener = socket.listen(1).unwrap();
    let pool = pool();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let extra = 44;
    // The kernel completes the handshake of the first one or two despite the full backlog.
    let queued = extra - 4;
    let all: Vec<_> = (0..MAX_CONNECTING + extra)
        .map(|_| {
            let (pool, url) = (pool.clone(), url.clone());
            tokio::spawn(async move {
                let _ = pool
                    .send(Method::GET, &url, HeaderMap::new(), Bytes::new())
                    .await;
            })
        })
        .collect();
    let since = std::time::Instant::now();
    while pool.waiting.load(Ordering::SeqCst) < queued && since.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waiting = pool.waiting.load(Ordering::SeqCst);
    assert!(
        (queued..=extra).contains(&waiting),
        "the rest wait their turn: {waiting}"
    );
    assert_eq!(pool.connecting.available_permits(), 0);
    assert_eq!(
        pool.counts().1,
        MAX_CONNECTING + extra,
        "all of them in flight"
    );
    for one in &all {
        one.abort();
    }
    for one in all {
        let _ = one.await;
    }
    assert_eq!(
        pool.waiting.load(Ordering::SeqCst),
        0,
        "requests given up stop waiting"
    );
    assert_eq!(pool.counts(), (0, 0), "and are no longer in flight");
}

#[tokio::test]
async fn no_idle_timeout_means_no_connection_is_kept() {
    let (port, accepted) = echo_server().await;
    let pool = Http1Pool::new("locusta/test", Duration::ZERO).unwrap();
    get(&pool, &format!("http://127.0.0.1:{port}/")).await;
    get(&pool, &format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert_eq!(pool.counts(), (0, 0));
}

#[tokio::test]
async fn a_body_split_anywhere_across_reads_is_read_whole() {
    // Every framing boundary falls between two writes: inside the head, a size line, a chunk,
    // its CRLF and the end of the trailers.
    let (port, accepted) = counting_server(|mut socket| async move {
        let mut buf = Vec::new();
        let pieces: [&[u8]; 7] = [
            b"HTTP/1.1 200 OK\r\ntransfer-enc",
            b"oding: chunked\r\n\r\n5",
            b"\r\nhel",
            b"lo\r",
            b"\n6\r\n world\r\n0\r\n",
            b"x-t: 1\r\n",
            b"\r\n",
        ];
        while read_head(&mut socket, &mut buf).await.is_some() {
            for piece in pieces {
                if socket.write_all(piece).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    })
    .await;
    let pool = pool();
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(get(&pool, &url).await, "hello world");
    assert_eq!(get(&pool, &url).await, "hello world");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "read to its end: kept");
}
