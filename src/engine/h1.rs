//! locusta's own HTTP/1.1 path for `http://` targets: hyper's connection API and a plain pool
//! of idle connections shared by every user.
//!
//! reqwest's pooled client is the ceiling of a no-wait run: in a bare loop with nothing else
//! it makes 0.52 of wrk's requests per CPU-second, hyper's connections driven directly 0.83
//! (`examples/client_ceiling.rs`, run by `bench/perf.py`). The difference is reqwest's
//! per-request machinery: client and connector clones, a pool checkout racing a connect, a
//! channel to each connection's task. Here a request takes an idle connection (the most
//! recently used, still warm) or opens one, and gives it back once its body has been read.
//! HTTPS, HTTP/2 and multipart bodies still go through reqwest.
//!
//! Because the pool is ours, whether a connection was reused is simply known, which is what
//! the resend of a request that met a connection the server had just closed needs (`reuse`).

use std::collections::{HashMap, VecDeque};
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Waker};

use base64::prelude::{BASE64_STANDARD, Engine as _};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, HOST, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use percent_encoding::percent_decode_str;
use tokio::net::TcpStream;
use tokio::time::Instant;
use url::{Host, Position, Url};

use super::loopback;
use super::timed_io::{Marker, OnWire, Timed};

type Sender = SendRequest<Full<Bytes>>;
type Driver = http1::Connection<TokioIo<Timed<TcpStream>>, Full<Bytes>>;

/// One connection: the handle requests go in by, and hyper's state machine that reads and
/// writes the socket. The driver is polled by the task that sends, not by a task of its own,
/// so a request is written as soon as its user sends it and a response is handled in the
/// user's own wake-up: with a task per connection, a user woken with many others had its
/// request wait until all of them had run (its measured time grew by that queue), and every
/// request cost two extra task wake-ups.
struct Conn {
    sender: Sender,
    /// Dropped when it finishes (the connection closed): that fails any request still waiting
    /// in it, which would otherwise wait forever for a driver nobody polls.
    driver: Option<Driver>,
    /// When the current exchange was on the wire: the response time reported.
    marker: Marker,
}

impl Conn {
    /// Polls the driver without waiting; false once the connection has ended.
    fn poll_driver(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(driver) = &mut self.driver
            && Pin::new(driver).poll(cx).is_ready()
        {
            self.driver = None;
        }
        self.driver.is_some()
    }

    /// Whether an idle connection can take a request: lets hyper see a close or anything
    /// else that arrived while nobody polled it, then asks whether it wants a request.
    fn ready_now(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.poll_driver(&mut cx) && self.sender.is_ready()
    }

    /// Runs `work` (a response, a body frame) while driving the connection.
    async fn drive<F: Future>(&mut self, work: F) -> F::Output {
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| {
            self.poll_driver(cx);
            work.as_mut().poll(cx)
        })
        .await
    }
}

/// `host[:port]` as the URL writes it (no default port): connections are reused only for
/// the same address, and the same text is the Host header, so it is built once per origin.
type Key = Arc<str>;

/// One origin's idle connections, and its Host header.
struct Origin {
    key: Key,
    /// Most recently used last. Boxed: hyper's connection state is large, and it moves in
    /// and out of here (moving it unboxed doubled the memcpy time of a request).
    idle: VecDeque<Box<Conn>>,
    host: HeaderValue,
}

/// What a send failed with: the error (an `io::Error` from connecting, or hyper's), and
/// whether the connection came from the pool.
pub struct SendFailure {
    pub error: Box<dyn StdError + Send + Sync>,
    pub pooled: bool,
}

pub struct Http1Pool {
    origins: Mutex<HashMap<Key, Origin>>,
    user_agent: HeaderValue,
    /// Where connections to a local target come from once 127.0.0.1 has no port left.
    sources: loopback::Sources,
}

/// A connection in use; [`Lease::release`] gives it back once the response has been read to
/// its end. Dropped otherwise, it closes.
pub struct Lease<'a> {
    pool: &'a Http1Pool,
    key: Key,
    conn: Box<Conn>,
    /// When connecting began, for a new connection: the exchange's time counts from there.
    connecting_since: Option<Instant>,
}

impl Lease<'_> {
    /// The next frame of the response's body, driving the connection meanwhile.
    pub async fn frame(
        &mut self,
        body: &mut Incoming,
    ) -> Option<Result<hyper::body::Frame<Bytes>, hyper::Error>> {
        self.conn.drive(body.frame()).await
    }

    /// Gives the connection back and says when the exchange was on the wire.
    pub fn release(mut self) -> Option<OnWire> {
        let on_wire = self.conn.marker.on_wire().map(|span| OnWire {
            from: self.connecting_since.unwrap_or(span.from),
            ..span
        });
        // The driver takes the finished exchange in and goes idle, wanting the next request.
        if self.conn.ready_now()
            && let Some(origin) = self.pool.origins.lock().get_mut(&self.key)
        {
            origin.idle.push_back(self.conn);
            // Nobody polls an idle connection, so one the server closed would stay (and hold
            // its memory and socket) until taken again, and the least recently used may never
            // be: each release looks at that one.
            if origin
                .idle
                .front_mut()
                .is_some_and(|oldest| !oldest.ready_now())
            {
                origin.idle.pop_front();
            }
        }
        on_wire
    }
}

/// Whether a request can take this path.
pub fn handles(url: &Url) -> bool {
    url.scheme() == "http"
}

impl Http1Pool {
    pub fn new(user_agent: &str) -> Result<Http1Pool, String> {
        Ok(Http1Pool {
            origins: Mutex::new(HashMap::new()),
            user_agent: HeaderValue::from_str(user_agent)
                .map_err(|e| format!("bad user agent: {e}"))?,
            sources: loopback::Sources::default(),
        })
    }

    /// The origin's key and Host header, and its most recently used idle connection. Found by
    /// the URL's text, so a request allocates nothing here.
    fn checkout(
        &self,
        address: &str,
    ) -> Result<(Key, HeaderValue, Option<Box<Conn>>), SendFailure> {
        let mut origins = self.origins.lock();
        if !origins.contains_key(address) {
            let host = HeaderValue::from_str(address).map_err(|e| SendFailure {
                error: e.into(),
                pooled: false,
            })?;
            let key: Key = address.into();
            origins.insert(
                key.clone(),
                Origin {
                    key,
                    idle: VecDeque::new(),
                    host,
                },
            );
        }
        let origin = origins.get_mut(address).expect("inserted above");
        Ok((
            origin.key.clone(),
            origin.host.clone(),
            origin.idle.pop_back(),
        ))
    }

    /// Sends one request (no redirects, no cookies: the caller does those) and returns the
    /// response with its body still to read.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<(Response<Incoming>, Lease<'_>), SendFailure> {
        let address = &url[Position::BeforeHost..Position::AfterPort];
        let (key, host, mut idle) = self.checkout(address)?;
        headers.entry(HOST).or_insert(host);
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.user_agent.clone());
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        // `http://user:secret@host/`: Basic auth, as python-requests and reqwest send it.
        if !url.username().is_empty() && !headers.contains_key(AUTHORIZATION) {
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            let pair = format!(
                "{}:{}",
                decode(url.username()),
                decode(url.password().unwrap_or(""))
            );
            let value = format!("Basic {}", BASE64_STANDARD.encode(pair));
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(AUTHORIZATION, v);
            }
        }
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = url[Position::BeforePath..Position::AfterQuery]
            .parse()
            .map_err(|e: http::uri::InvalidUri| SendFailure {
                error: e.into(),
                pooled: false,
            })?;
        *request.headers_mut() = headers;

        // An idle connection that turns out closed before anything was sent on it is simply
        // dropped, whatever the method: the request has not left yet.
        let mut conn = loop {
            match idle.take() {
                Some(mut c) => {
                    if c.ready_now() {
                        break Some(c);
                    }
                    idle = self.checkout(address)?.2;
                }
                None => break None,
            }
        };
        let pooled = conn.is_some();
        let mut connecting_since = None;
        let mut conn = match conn.take() {
            Some(c) => {
                c.marker.begin();
                c
            }
            None => {
                connecting_since = Some(Instant::now());
                let port = url.port_or_known_default().unwrap_or(80);
                Box::pin(self.connect(url, port)).await?
            }
        };
        let sent = conn.sender.send_request(request);
        let response = conn.drive(sent).await.map_err(|e| SendFailure {
            error: e.into(),
            pooled,
        })?;
        Ok((
            response,
            Lease {
                pool: self,
                key,
                conn,
                connecting_since,
            },
        ))
    }

    async fn connect(&self, url: &Url, port: u16) -> Result<Box<Conn>, SendFailure> {
        let io_failure = |e: std::io::Error| SendFailure {
            error: e.into(),
            pooled: false,
        };
        let host = url
            .host()
            .ok_or_else(|| io_failure(std::io::Error::other("the URL has no host")))?;
        let spread = match self.sources.spreading() {
            true => loopback::loopback_v4(&host, port).await,
            false => None,
        };
        let stream = match spread {
            Some(dest) => self.sources.connect(dest).await,
            None => match connect_to(&host, port).await {
                Err(e) if loopback::out_of_ports(&e) => {
                    match loopback::loopback_v4(&host, port).await {
                        Some(dest) => self.sources.connect(dest).await,
                        None => Err(e),
                    }
                }
                other => other,
            },
        }
        .map_err(io_failure)?;
        stream.set_nodelay(true).map_err(io_failure)?;
        let marker = Marker::default();
        let (sender, driver) = http1::handshake(TokioIo::new(Timed::new(stream, marker.clone())))
            .await
            .map_err(|e| SendFailure {
                error: e.into(),
                pooled: false,
            })?;
        Ok(Box::new(Conn {
            sender,
            driver: Some(driver),
            marker,
        }))
    }
}

async fn connect_to(host: &Host<&str>, port: u16) -> std::io::Result<TcpStream> {
    match *host {
        Host::Ipv4(ip) => TcpStream::connect((ip, port)).await,
        Host::Ipv6(ip) => TcpStream::connect((ip, port)).await,
        Host::Domain(name) => TcpStream::connect((name, port)).await,
    }
}

#[cfg(test)]
mod tests {
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

    /// A keep-alive HTTP/1.1 server that answers every request with the request's head as
    /// the body.
    async fn echo_server() -> (u16, Arc<AtomicUsize>) {
        counting_server(|mut socket| async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    continue;
                };
                let head: Vec<u8> = buf.drain(..end + 4).collect();
                let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", head.len());
                let mut out = reply.into_bytes();
                out.extend_from_slice(&head);
                if socket.write_all(&out).await.is_err() {
                    return;
                }
            }
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

    async fn get(pool: &Http1Pool, url: &str) -> String {
        let url = Url::parse(url).unwrap();
        let (response, lease) = pool
            .send(Method::GET, &url, HeaderMap::new(), Bytes::new())
            .await
            .ok()
            .expect("sent");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        lease.release();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn requests_reuse_one_kept_alive_connection_and_say_who_they_are() {
        let (port, accepted) = echo_server().await;
        let pool = Http1Pool::new("locusta/test").unwrap();
        let head = get(&pool, &format!("http://127.0.0.1:{port}/a?b=1")).await;
        assert!(head.starts_with("GET /a?b=1 HTTP/1.1\r\n"), "{head}");
        assert!(
            head.contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{head}"
        );
        assert!(head.contains("user-agent: locusta/test\r\n"), "{head}");
        assert!(head.contains("accept: */*\r\n"), "{head}");
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
    async fn a_connection_not_read_to_the_end_is_not_reused() {
        let (port, accepted) = echo_server().await;
        let pool = Http1Pool::new("locusta/test").unwrap();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let (_response, lease) = pool
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
        let pool = Http1Pool::new("locusta/test").unwrap();
        let url = format!("http://127.0.0.1:{port}/");
        assert_eq!(get(&pool, &url).await, "ok");
        // The server's close arrives while the connection waits in the pool; nobody polls it
        // there, so the next checkout must notice it before sending.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(get(&pool, &url).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_leaves_the_pool_at_the_next_release() {
        // The connection that asked for /close closes, the others stay.
        let (port, _) = closing_server(|head| head.starts_with(b"GET /close ")).await;
        let pool = Http1Pool::new("locusta/test").unwrap();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        // Two requests at once: two connections, the first of which the server will close.
        let closing = url.join("/close").unwrap();
        let (first, mut first_lease) = pool
            .send(Method::GET, &closing, HeaderMap::new(), Bytes::new())
            .await
            .ok()
            .expect("sent");
        let (second, mut second_lease) = pool
            .send(Method::GET, &url, HeaderMap::new(), Bytes::new())
            .await
            .ok()
            .expect("sent");
        for (response, lease) in [(first, &mut first_lease), (second, &mut second_lease)] {
            let mut body = response.into_body();
            while lease.frame(&mut body).await.is_some() {}
        }
        first_lease.release();
        second_lease.release();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let idle = || {
            pool.origins
                .lock()
                .values()
                .map(|o| o.idle.len())
                .sum::<usize>()
        };
        assert_eq!(idle(), 2);
        // The next request takes the most recent (open) connection; giving it back sweeps
        // out the closed one, which no request would take while the other is free.
        assert_eq!(get(&pool, url.as_str()).await, "ok");
        assert_eq!(idle(), 1);
    }

    #[tokio::test]
    async fn credentials_in_the_url_become_basic_auth() {
        let (port, _) = echo_server().await;
        let pool = Http1Pool::new("locusta/test").unwrap();
        let head = get(&pool, &format!("http://user:p%40ss@127.0.0.1:{port}/")).await;
        // base64("user:p@ss")
        assert!(
            head.contains("authorization: Basic dXNlcjpwQHNz\r\n"),
            "{head}"
        );
    }
}
