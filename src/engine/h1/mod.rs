//! locusta's own HTTP/1.1 path for `http://` targets: minimal connections (`conn`) and one
//! pool of idle connections shared by every user.
//!
//! reqwest's pooled client is the ceiling of a no-wait run: in a bare loop with nothing else
//! it makes 0.52 of wrk's requests per CPU-second (`examples/client_ceiling.rs`, run by
//! `bench/perf.py`), because of its per-request machinery: client and connector clones, a pool
//! checkout racing a connect, a channel to each connection's task. Here a request takes an idle
//! connection (the most recently used, still warm) or opens one, and gives it back once its
//! body has been read. HTTPS, HTTP/2 and multipart bodies still go through reqwest.
//!
//! The pool follows the requests in flight, not the users: a connection is opened only when
//! no idle one is left, so there are never more than the most requests that were in flight at
//! once; the idle ones are capped at the peak of the last [`PEAK_WINDOW`]s (two windows), so
//! when the load drops the connections do too; one idle longer than `idle_timeout` (90 s by
//! default, as reqwest) is closed, and one whose buffers a large exchange grew gives them back.
//! A burst of new users (a ramp's group, a worker told to start thousands at once) connects at
//! most [`MAX_CONNECTING`] at a time; the others wait for a connection to come free or for
//! their turn to connect, and that wait counts in their response time.
//!
//! Because the pool is ours, whether a connection was reused is simply known, which is what
//! the resend of a request that met a connection the server had just closed needs (`reuse`).

mod conn;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;

use base64::prelude::{BASE64_STANDARD, Engine as _};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, HOST, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method};
use parking_lot::Mutex;
use percent_encoding::percent_decode_str;
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use url::{Host, Position, Url};

use super::loopback;
pub use conn::{BadResponse, Head};
use conn::{Body, Conn};

/// The window over which the peak of requests in flight is taken: idle connections beyond
/// the larger of the last two windows' peaks are closed.
pub const PEAK_WINDOW: Duration = Duration::from_secs(10);
/// Idle connections kept per origin whatever the peak, so a trickle of requests reuses them.
const MIN_IDLE: usize = 4;
/// Connects in progress at once, per pool.
pub const MAX_CONNECTING: usize = 256;
/// How often idle connections are looked at when nothing else happens.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// reqwest's default, and within the 60-90 s that servers keep idle connections.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// From the first byte written (or the start of connecting) to the last byte read.
#[derive(Clone, Copy, Debug)]
pub struct OnWire {
    pub from: Instant,
    pub to: Instant,
}

/// `host[:port]` as the URL writes it (no default port): connections are reused only for
/// the same address, and the same text is the Host header, so it is built once per origin.
type Key = Arc<str>;

/// The most requests in flight at once, over the current window and the one before.
struct Peak {
    since: Instant,
    current: usize,
    previous: usize,
}

impl Peak {
    fn roll(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.since);
        if age >= PEAK_WINDOW {
            self.previous = if age >= 2 * PEAK_WINDOW {
                0
            } else {
                self.current
            };
            self.current = 0;
            self.since = now;
        }
    }

    fn see(&mut self, now: Instant, in_flight: usize) {
        self.roll(now);
        self.current = self.current.max(in_flight);
    }

    fn recent(&self) -> usize {
        self.current.max(self.previous)
    }
}

/// One origin's idle connections, its Host header and its requests in flight.
struct Origin {
    key: Key,
    /// Most recently used last.
    idle: VecDeque<Conn>,
    host: HeaderValue,
    in_flight: usize,
    peak: Peak,
}

impl Origin {
    /// The idle connections this origin keeps.
    fn cap(&self) -> usize {
        self.peak.recent().max(self.in_flight).max(MIN_IDLE)
    }

    /// Moves the idle connections that must go into `closed`: over the cap, idle too long,
    /// or closed by the server (looked at from the oldest, until one is fine).
    fn trim(&mut self, now: Instant, idle_timeout: Duration, closed: &mut Vec<Conn>) {
        let cap = self.cap();
        while self.idle.len() > cap
            || self.idle.front_mut().is_some_and(|oldest| {
                now.saturating_duration_since(oldest.idle_since) >= idle_timeout || !oldest.usable()
            })
        {
            closed.extend(self.idle.pop_front());
        }
    }
}

/// What a send failed with: the error (an `io::Error` from connecting, writing or reading),
/// and whether the connection came from the pool.
pub struct SendFailure {
    pub error: Box<dyn StdError + Send + Sync>,
    pub pooled: bool,
}

impl SendFailure {
    fn new(error: impl Into<Box<dyn StdError + Send + Sync>>, pooled: bool) -> SendFailure {
        SendFailure {
            error: error.into(),
            pooled,
        }
    }
}

pub struct Http1Pool {
    origins: Mutex<HashMap<Key, Origin>>,
    user_agent: HeaderValue,
    idle_timeout: Duration,
    /// Where connections to a local target come from once 127.0.0.1 has no port left.
    sources: loopback::Sources,
    connecting: Semaphore,
    /// Told when a connection goes back to the pool, if someone waits for one.
    released: Notify,
    waiting: AtomicUsize,
    sweeping: AtomicBool,
    me: Weak<Http1Pool>,
}

/// A connection in use, its response's body still to read; [`Lease::release`] once the body
/// has been read to its end gives the connection back. Dropped otherwise, it closes.
pub struct Lease<'a> {
    pool: &'a Http1Pool,
    key: Key,
    conn: Option<Conn>,
    body: Body,
    /// Where the exchange's time counts from.
    from: Instant,
    read_to_end: bool,
}

impl Lease<'_> {
    /// The body's length, when the head said it.
    pub fn content_length(&self) -> Option<u64> {
        self.body.known_length()
    }

    /// Reads the body to its end, handing each piece to `sink` (as it arrives: a body the
    /// caller does not keep is never held whole).
    pub async fn read_body(&mut self, sink: &mut (dyn FnMut(&[u8]) + Send)) -> std::io::Result<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        conn.body(&mut self.body, sink).await?;
        self.read_to_end = true;
        Ok(())
    }

    /// Gives the connection back (when the body was read to its end and the server keeps
    /// it) and says when the exchange was on the wire.
    pub fn release(self) -> OnWire {
        OnWire {
            from: self.from,
            to: self.conn.as_ref().map_or(self.from, |c| c.last_read),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let conn = self
            .conn
            .take()
            .filter(|c| self.read_to_end && c.keep_alive && !self.pool.idle_timeout.is_zero());
        self.pool.give_back(&self.key, conn);
    }
}

/// Whether a request can take this path.
pub fn handles(url: &Url) -> bool {
    url.scheme() == "http"
}

impl Http1Pool {
    pub fn new(user_agent: &str, idle_timeout: Duration) -> Result<Arc<Http1Pool>, String> {
        let user_agent =
            HeaderValue::from_str(user_agent).map_err(|e| format!("bad user agent: {e}"))?;
        Ok(Arc::new_cyclic(|me| Http1Pool {
            origins: Mutex::new(HashMap::new()),
            user_agent,
            idle_timeout,
            sources: loopback::Sources::default(),
            connecting: Semaphore::new(MAX_CONNECTING),
            released: Notify::new(),
            waiting: AtomicUsize::new(0),
            sweeping: AtomicBool::new(false),
            me: me.clone(),
        }))
    }

    /// The origin's key and Host header, counting the request in flight. Found by the URL's
    /// text, so a request allocates nothing here.
    fn checkout(&self, address: &str, now: Instant) -> Result<(Key, HeaderValue), SendFailure> {
        let mut origins = self.origins.lock();
        if !origins.contains_key(address) {
            let host = HeaderValue::from_str(address).map_err(|e| SendFailure::new(e, false))?;
            let key: Key = address.into();
            origins.insert(
                key.clone(),
                Origin {
                    key,
                    idle: VecDeque::new(),
                    host,
                    in_flight: 0,
                    peak: Peak {
                        since: now,
                        current: 0,
                        previous: 0,
                    },
                },
            );
        }
        let origin = origins.get_mut(address).expect("inserted above");
        origin.in_flight += 1;
        origin.peak.see(now, origin.in_flight);
        Ok((origin.key.clone(), origin.host.clone()))
    }

    /// The most recently used idle connection that can take a request; those found closed
    /// on the way are dropped, whatever the method: the request has not left yet.
    fn take_idle(&self, key: &Key) -> Option<Conn> {
        let mut closed = Vec::new();
        let found = {
            let mut origins = self.origins.lock();
            let idle = &mut origins.get_mut(key)?.idle;
            loop {
                match idle.pop_back() {
                    Some(mut c) => match c.usable() {
                        true => break Some(c),
                        false => closed.push(c),
                    },
                    None => break None,
                }
            }
        };
        drop(closed);
        found
    }

    /// The end of a request: `conn` back to the idle ones, if it can take another.
    fn give_back(&self, key: &Key, conn: Option<Conn>) {
        let mut closed = Vec::new();
        {
            let mut origins = self.origins.lock();
            let Some(origin) = origins.get_mut(key) else {
                return;
            };
            origin.in_flight = origin.in_flight.saturating_sub(1);
            if let Some(mut c) = conn {
                c.shrink();
                let now = c.last_read;
                c.idle_since = now;
                origin.idle.push_back(c);
                origin.trim(now, self.idle_timeout, &mut closed);
            }
        }
        if self.waiting.load(Relaxed) > 0 {
            self.released.notify_one();
        }
        drop(closed);
    }

    /// Closes what idle connections must go when no request comes to do it: after a drop in
    /// the load, at the end of the idle timeout.
    fn sweep(&self) {
        let now = Instant::now();
        let mut closed = Vec::new();
        for origin in self.origins.lock().values_mut() {
            origin.peak.roll(now);
            origin.trim(now, self.idle_timeout, &mut closed);
        }
        drop(closed);
    }

    fn start_sweeping(&self) {
        // Read first: a swap on every request would bounce the flag's cache line between the
        // engine's threads.
        if self.sweeping.load(Relaxed) || self.sweeping.swap(true, Relaxed) {
            return;
        }
        let pool = self.me.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                match pool.upgrade() {
                    Some(pool) => pool.sweep(),
                    None => return,
                }
            }
        });
    }

    /// Requests in flight, over every origin.
    pub fn in_flight(&self) -> usize {
        self.origins.lock().values().map(|o| o.in_flight).sum()
    }

    /// Idle connections and requests in flight, over every origin.
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        let origins = self.origins.lock();
        let idle = origins.values().map(|o| o.idle.len()).sum();
        let in_flight = origins.values().map(|o| o.in_flight).sum();
        (idle, in_flight)
    }

    /// Sends one request (no redirects, no cookies: the caller does those) and returns the
    /// response's head, its body still to read through the lease.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<(Head, Lease<'_>), SendFailure> {
        self.start_sweeping();
        let address = &url[Position::BeforeHost..Position::AfterPort];
        let started = Instant::now();
        let (key, host) = self.checkout(address, started)?;
        let mut lease = Lease {
            pool: self,
            key,
            conn: None,
            body: Body::Done,
            from: started,
            read_to_end: false,
        };
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
        let target = match &url[Position::BeforePath..Position::AfterQuery] {
            "" => "/",
            t => t,
        };
        let (mut conn, pooled) = match self.take_idle(&lease.key) {
            Some(c) => (c, true),
            None => self.connect_or_wait(url, &lease.key).await?,
        };
        let wrote = conn
            .send(&method, target, &headers, &body)
            .await
            .map_err(|e| SendFailure::new(e, pooled))?;
        // A reused connection's exchange starts with its write; a new one's when this
        // request began to look for it (connecting, or waiting its turn to).
        if pooled {
            lease.from = wrote;
        }
        let head = conn.head(&method).await;
        lease.conn = Some(conn);
        let (head, body) = head.map_err(|e| SendFailure::new(e, pooled))?;
        lease.body = body;
        lease.read_to_end = body == Body::Done;
        Ok((head, lease))
    }

    /// A new connection, once fewer than [`MAX_CONNECTING`] are being made; or an idle one
    /// given back meanwhile (then `true`: it came from the pool).
    async fn connect_or_wait(&self, url: &Url, key: &Key) -> Result<(Conn, bool), SendFailure> {
        loop {
            if let Ok(_turn) = self.connecting.try_acquire() {
                return Ok((self.connect(url).await?, false));
            }
            let outcome = {
                // Counted while it waits, however the wait ends (a timeout drops it midway).
                let _waiting = Waiting::count(&self.waiting);
                tokio::select! {
                    turn = self.connecting.acquire() => Some(turn),
                    _ = self.released.notified() => None,
                }
            };
            match outcome {
                Some(_turn) => return Ok((self.connect(url).await?, false)),
                None => {
                    if let Some(c) = self.take_idle(key) {
                        return Ok((c, true));
                    }
                }
            }
        }
    }

    async fn connect(&self, url: &Url) -> Result<Conn, SendFailure> {
        let io_failure = |e: std::io::Error| SendFailure::new(e, false);
        let host = url
            .host()
            .ok_or_else(|| io_failure(std::io::Error::other("the URL has no host")))?;
        let port = url.port_or_known_default().unwrap_or(80);
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
        Ok(Conn::new(stream))
    }
}

/// One request waiting for a connection, counted for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicUsize) -> Waiting<'a> {
        waiting.fetch_add(1, Relaxed);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

async fn connect_to(host: &Host<&str>, port: u16) -> std::io::Result<TcpStream> {
    match *host {
        Host::Ipv4(ip) => TcpStream::connect((ip, port)).await,
        Host::Ipv6(ip) => TcpStream::connect((ip, port)).await,
        Host::Domain(name) => TcpStream::connect((name, port)).await,
    }
}
