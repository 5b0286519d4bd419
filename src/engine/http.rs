//! Sending one request the way Locust's `HttpUser` (python-requests) does: `http://` over
//! locusta's own HTTP/1.1 path (`h1`, on httparse), HTTPS, HTTP/2 and multipart
//! bodies through one shared reqwest client.
//!
//! Both pool their connections across users, so set-up costs are paid once; per-user state
//! (cookies) lives with the user and is applied here. Redirects are
//! followed here rather than by reqwest, because every hop may set cookies (a Django login
//! answers `302` with its `sessionid`) and they must land in that user's jar.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use cookie_store::{CookieStore, RawCookie};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use tokio::time::{Instant, Sleep};
use url::Url;

use super::errors::{self, Failure};
use super::h1;
use super::h1::OnWire;
use super::reuse;
use crate::pyfmt;

/// python-requests follows at most 30 redirects.
const MAX_REDIRECTS: usize = 30;

/// At most this much of a body is kept for captures; the rest is only counted.
const MAX_KEPT_BODY: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub user_agent: String,
    /// Speak HTTP/2 without negotiating it (h2c on http://).
    pub http2_prior_knowledge: bool,
    /// Accept any TLS certificate (`--insecure`).
    pub insecure: bool,
    /// Extra root certificates, PEM (`--ca-file`).
    pub ca_pem: Option<Vec<u8>>,
    /// How long an idle kept-alive connection stays open (`--connection-idle-timeout`).
    pub idle_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            user_agent: format!("locusta/{}", env!("CARGO_PKG_VERSION")),
            http2_prior_knowledge: false,
            insecure: false,
            ca_pem: None,
            idle_timeout: h1::DEFAULT_IDLE_TIMEOUT,
        }
    }
}

#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// The HTTP/1.1 path for `http://` (see `h1`); `None` with HTTP/2 prior knowledge.
    direct: Option<std::sync::Arc<h1::Http1Pool>>,
    /// Whether "Too many open files" has been explained yet (once a run is enough).
    explained_fd_limit: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A request ready to send.
#[derive(Debug)]
pub struct Prepared {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: PreparedBody,
    pub timeout: Duration,
    pub follow_redirects: bool,
    /// Whether the caller reads the body (captures, checks); otherwise it is only counted.
    pub keep_body: bool,
}

#[derive(Debug, Clone)]
pub enum PreparedBody {
    None,
    Bytes(Bytes),
    /// Rebuilt for every hop, since a multipart form is consumed by sending it.
    Multipart(Vec<(String, MultipartPart)>),
}

#[derive(Debug, Clone)]
pub enum MultipartPart {
    Text(String),
    File {
        bytes: Bytes,
        filename: String,
        content_type: String,
    },
}

fn multipart_form(parts: &[(String, MultipartPart)]) -> Result<reqwest::multipart::Form, String> {
    let mut form = reqwest::multipart::Form::new();
    for (name, part) in parts {
        form = match part {
            MultipartPart::Text(v) => form.text(name.clone(), v.clone()),
            MultipartPart::File {
                bytes,
                filename,
                content_type,
            } => {
                let p = reqwest::multipart::Part::stream_with_length(
                    reqwest::Body::from(bytes.clone()),
                    bytes.len() as u64,
                )
                .file_name(filename.clone())
                .mime_str(content_type)
                .map_err(|e| format!("multipart part `{name}`: {e}"))?;
                form.part(name.clone(), p)
            }
        };
    }
    Ok(form)
}

/// The final response, after any redirects.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub url: Url,
    /// The body, when it was asked for.
    pub body: Bytes,
    /// Bytes received, kept or not: Locust's "content size".
    pub body_len: u64,
}

/// A request that got no usable response, described as Locust (python-requests) words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError(pub String);

/// The result of sending, with the time it took: connect, every redirect hop and the body.
/// On locusta's own `http://` path that is the time on the wire (`h1::conn`): from the first byte
/// written, or the start of connecting, to the last byte read; otherwise, and for a failure,
/// the time `send` took.
#[derive(Debug)]
pub struct Exchange {
    pub result: Result<Response, TransportError>,
    pub elapsed: Duration,
    /// Bytes received before a failure, so content size counts what did arrive.
    pub partial_len: u64,
}

impl HttpClient {
    pub fn new(options: &ClientOptions) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder();
        if options.http2_prior_knowledge {
            builder = builder.http2_prior_knowledge();
        }
        if options.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        if let Some(pem) = &options.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("cannot read the CA certificates: {e}"))?;
            if certs.is_empty() {
                return Err("the CA file holds no PEM certificate".to_string());
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            // A load tester must not resend on its own: that hides failures and adds load.
            .retry(reqwest::retry::never())
            .user_agent(options.user_agent.clone())
            .pool_max_idle_per_host(usize::MAX)
            .pool_idle_timeout(options.idle_timeout)
            .connector_layer(reuse::counting_layer())
            .tcp_nodelay(true)
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        let direct = if options.http2_prior_knowledge {
            None
        } else {
            Some(h1::Http1Pool::new(
                &options.user_agent,
                options.idle_timeout,
            )?)
        };
        Ok(HttpClient {
            client,
            direct,
            explained_fd_limit: Default::default(),
        })
    }

    /// Sends `req`, following redirects like python-requests, reading cookies from and into
    /// `jar` on every hop. Never panics and never returns early on a bad response: every
    /// outcome is an `Exchange`.
    pub async fn send(&self, req: Prepared, jar: &mut CookieStore) -> Exchange {
        let start = Instant::now();
        // One timer for the whole exchange (every hop and the body), registered once.
        let timer = tokio::time::sleep_until(start + req.timeout);
        tokio::pin!(timer);
        let mut progress = Progress::default();
        let result = self.send_inner(req, jar, timer, &mut progress).await;
        if let Err(e) = &result
            && e.0.starts_with(&format!("OSError({}, ", libc::EMFILE))
            && !self
                .explained_fd_limit
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::error!(
                target: "locusta.runners",
                "Too many open files: the users need more connections than this process may open \
                 (its open-files limit is {}). Raise the hard limit (ulimit -Hn, or LimitNOFILE= for a \
                 systemd service) or run fewer users; until then these requests fail.",
                crate::machine::open_files_limit().map_or("unknown".to_string(), |n| n.to_string())
            );
        }
        let elapsed = match (&result, progress.on_wire) {
            (Ok(_), Some(span)) if !progress.untimed_hop => span.to - span.from,
            _ => start.elapsed(),
        };
        Exchange {
            result,
            elapsed,
            partial_len: progress.received,
        }
    }

    async fn send_inner(
        &self,
        req: Prepared,
        jar: &mut CookieStore,
        mut timer: Pin<&mut Sleep>,
        progress: &mut Progress,
    ) -> Result<Response, TransportError> {
        let deadline = timer.deadline();
        let Prepared {
            mut method,
            mut url,
            mut headers,
            mut body,
            timeout,
            follow_redirects,
            keep_body,
        } = req;
        for _ in 0..=MAX_REDIRECTS {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(errors::timeout_error(&url, timeout));
            }
            // Built afresh for each attempt (a resend on a stale connection is rare), so the
            // common single attempt copies the headers once, as before.
            // The step's headers and the user's cookies for this URL, per attempt.
            let hop_headers = || {
                let mut h = headers.clone();
                add_cookies(&mut h, jar, &url);
                h
            };
            let request = || -> Result<reqwest::RequestBuilder, TransportError> {
                let builder = self
                    .client
                    .request(method.clone(), url.clone())
                    .headers(hop_headers())
                    .timeout(deadline.saturating_duration_since(Instant::now()));
                Ok(match &body {
                    PreparedBody::None => builder,
                    PreparedBody::Bytes(b) => builder.body(b.clone()),
                    PreparedBody::Multipart(parts) => {
                        builder.multipart(multipart_form(parts).map_err(TransportError)?)
                    }
                })
            };
            // Every stale connection found is dropped from the pool, so this ends at the latest
            // with a new connection, whose failure is the server's.
            let mut stale_connections = 0;
            let direct = self
                .direct
                .as_ref()
                .filter(|_| h1::handles(&url) && !matches!(body, PreparedBody::Multipart(_)));
            let mut resp = loop {
                let (failed, pooled) = match direct {
                    Some(pool) => {
                        let bytes = match &body {
                            PreparedBody::Bytes(b) => b.clone(),
                            _ => Bytes::new(),
                        };
                        let sent = pool.send(method.clone(), &url, hop_headers(), bytes);
                        let sent = tokio::select! {
                            biased;
                            sent = sent => sent,
                            _ = timer.as_mut() => return Err(errors::timeout_error(&url, timeout)),
                        };
                        match sent {
                            Ok((head, lease)) => {
                                break Answer::Direct(head, Some(lease), None);
                            }
                            Err(failure) => (Failed::Direct(failure.error), failure.pooled),
                        }
                    }
                    None => match reuse::sent_on_pooled(request()?.send()).await {
                        (Ok(resp), _) => break Answer::Reqwest(resp),
                        (Err(e), pooled) => (Failed::Reqwest(e), pooled),
                    },
                };
                if pooled
                    && reuse::replayable(&method)
                    && reuse::closed_before_response(failed.failure())
                    && stale_connections < reuse::MAX_STALE_CONNECTIONS
                {
                    stale_connections += 1;
                    // The attempt that met the closed connection took time too, unmarked.
                    progress.untimed_hop = true;
                    tracing::debug!(target: "locusta.runners", "{url}: a kept-alive connection was closed as it was reused ({}); sending again", failed.failure().error);
                    continue;
                }
                return Err(errors::describe(failed.failure(), &url, timeout));
            };
            store_cookies(jar, resp.headers(), &url);
            let status = resp.status();
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok());
            let redirect =
                follow_redirects && status.is_redirection() && status != StatusCode::NOT_MODIFIED;
            if let (true, Some(next)) = (redirect, location) {
                // Read the (usually tiny) body so the connection goes back to the pool.
                let _ = resp.read_body(timer.as_mut(), &mut |_| ()).await;
                progress.hop_done(resp.on_wire());
                let to_get = match status {
                    StatusCode::SEE_OTHER => method != Method::HEAD,
                    StatusCode::FOUND | StatusCode::MOVED_PERMANENTLY => method == Method::POST,
                    _ => false,
                };
                if to_get {
                    method = Method::GET;
                    body = PreparedBody::None;
                    headers.remove(CONTENT_TYPE);
                    headers.remove(CONTENT_LENGTH);
                }
                if next.host_str() != url.host_str() {
                    headers.remove(AUTHORIZATION);
                }
                url = next;
                continue;
            }
            let headers = resp.take_headers();
            let expected = resp.content_length();
            let mut kept: Vec<u8> = Vec::new();
            let received = &mut progress.received;
            let read = resp
                .read_body(timer.as_mut(), &mut |piece| {
                    *received += piece.len() as u64;
                    if keep_body && kept.len() < MAX_KEPT_BODY {
                        let room = MAX_KEPT_BODY - kept.len();
                        kept.extend_from_slice(&piece[..piece.len().min(room)]);
                    }
                })
                .await;
            match read {
                Ok(()) => progress.hop_done(resp.on_wire()),
                Err(Failed::TimedOut) => return Err(errors::timeout_error(&url, timeout)),
                Err(e) => {
                    return Err(errors::body_error(
                        e.failure(),
                        &url,
                        timeout,
                        progress.received,
                        expected,
                    ));
                }
            }
            return Ok(Response {
                status,
                headers,
                url,
                body: Bytes::from(kept),
                body_len: progress.received,
            });
        }
        Err(TransportError(pyfmt::exception(
            "TooManyRedirects",
            &format!("Exceeded {MAX_REDIRECTS} redirects."),
        )))
    }
}

impl HttpClient {
    /// Requests in flight on locusta's own HTTP/1.1 path (0 when it is not used): what a
    /// starting batch of users waits on to find connections to share.
    pub fn requests_in_flight(&self) -> usize {
        self.direct.as_ref().map_or(0, |pool| pool.in_flight())
    }
}

/// A response whose body is read as it comes (an event stream), and how long its headers took.
pub struct Streaming {
    pub response: reqwest::Response,
    pub elapsed: Duration,
}

impl HttpClient {
    /// Sends a request whose answer is a stream, through reqwest (every scheme, the run's TLS
    /// settings), and returns once the headers are in, within `timeout`: the body has no
    /// deadline, its reader sets its own. Cookies go out from `jar` and come back into it;
    /// redirects are not followed (an event stream does not redirect).
    pub async fn open_stream(
        &self,
        method: Method,
        url: Url,
        mut headers: HeaderMap,
        body: Option<Bytes>,
        jar: &mut CookieStore,
        timeout: Duration,
    ) -> Result<Streaming, TransportError> {
        let start = Instant::now();
        add_cookies(&mut headers, jar, &url);
        let mut builder = self.client.request(method, url.clone()).headers(headers);
        if let Some(b) = body {
            builder = builder.body(b);
        }
        let response = match tokio::time::timeout(timeout, builder.send()).await {
            Err(_) => return Err(errors::timeout_error(&url, timeout)),
            Ok(Err(e)) => return Err(errors::describe(Failure::of_reqwest(&e), &url, timeout)),
            Ok(Ok(r)) => r,
        };
        store_cookies(jar, response.headers(), &url);
        Ok(Streaming {
            response,
            elapsed: start.elapsed(),
        })
    }
}

/// How far an exchange got, kept whether it ends well or not.
#[derive(Default)]
struct Progress {
    /// Bytes of bodies received.
    received: u64,
    /// From the first hop's first byte written to the last hop's last byte read.
    on_wire: Option<OnWire>,
    /// A hop, or an attempt, whose time on the wire is not known: `send` times itself.
    untimed_hop: bool,
}

impl Progress {
    fn hop_done(&mut self, hop: Option<OnWire>) {
        match hop {
            Some(hop) => {
                self.on_wire = Some(OnWire {
                    from: self.on_wire.map_or(hop.from, |w| w.from),
                    to: hop.to,
                })
            }
            None => self.untimed_hop = true,
        }
    }
}

/// A response from either client, its body still to read.
enum Answer<'a> {
    Reqwest(reqwest::Response),
    /// The lease goes back to the pool when the body has been read to its end, saying when
    /// the exchange was on the wire.
    Direct(h1::Head, Option<h1::Lease<'a>>, Option<OnWire>),
}

/// A failure from either client.
enum Failed {
    Reqwest(reqwest::Error),
    Direct(Box<dyn std::error::Error + Send + Sync>),
    /// The deadline passed while the direct path waited.
    TimedOut,
}

/// Stands in for the error of a deadline that passed.
#[derive(Debug)]
struct DeadlinePassed;

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for DeadlinePassed {}

impl Failed {
    fn failure(&self) -> Failure<'_> {
        match self {
            Failed::Reqwest(e) => Failure::of_reqwest(e),
            Failed::Direct(e) => Failure::of(e.as_ref()),
            Failed::TimedOut => Failure {
                error: &DeadlinePassed,
                timed_out: true,
                in_body: false,
            },
        }
    }
}

impl Answer<'_> {
    fn status(&self) -> StatusCode {
        match self {
            Answer::Reqwest(r) => r.status(),
            Answer::Direct(head, _, _) => head.status,
        }
    }

    fn headers(&self) -> &HeaderMap {
        match self {
            Answer::Reqwest(r) => r.headers(),
            Answer::Direct(head, _, _) => &head.headers,
        }
    }

    /// The headers, moved out: the caller is done with the head once the body is read.
    fn take_headers(&mut self) -> HeaderMap {
        match self {
            Answer::Reqwest(r) => std::mem::take(r.headers_mut()),
            Answer::Direct(head, _, _) => std::mem::take(&mut head.headers),
        }
    }

    /// When the exchange was on the wire, once its body has been read (direct path only).
    fn on_wire(&self) -> Option<OnWire> {
        match self {
            Answer::Reqwest(_) => None,
            Answer::Direct(_, _, on_wire) => *on_wire,
        }
    }

    fn content_length(&self) -> Option<u64> {
        match self {
            Answer::Reqwest(r) => r.content_length(),
            Answer::Direct(_, lease, _) => lease.as_ref().and_then(h1::Lease::content_length),
        }
    }

    /// Reads the body to its end, handing each piece to `sink`; a direct connection then goes
    /// back to the pool.
    async fn read_body(
        &mut self,
        mut timer: Pin<&mut Sleep>,
        sink: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<(), Failed> {
        match self {
            Answer::Reqwest(r) => {
                while let Some(chunk) = r.chunk().await.map_err(Failed::Reqwest)? {
                    sink(&chunk);
                }
                Ok(())
            }
            Answer::Direct(_, lease, on_wire) => {
                let Some(mut lease) = lease.take() else {
                    return Ok(());
                };
                let read = tokio::select! {
                    biased;
                    read = lease.read_body(sink) => read,
                    _ = timer.as_mut() => return Err(Failed::TimedOut),
                };
                read.map_err(|e| Failed::Direct(e.into()))?;
                *on_wire = Some(lease.release());
                Ok(())
            }
        }
    }
}

pub(crate) fn add_cookies(headers: &mut HeaderMap, jar: &CookieStore, url: &Url) {
    let mut pairs = String::new();
    for (name, value) in jar.get_request_values(url) {
        if !pairs.is_empty() {
            pairs.push_str("; ");
        }
        pairs.push_str(name);
        pairs.push('=');
        pairs.push_str(value);
    }
    if pairs.is_empty() {
        return;
    }
    // Cookies the step set itself come first.
    let value = match headers.get(COOKIE).and_then(|v| v.to_str().ok()) {
        Some(own) if !own.is_empty() => format!("{own}; {pairs}"),
        _ => pairs,
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(COOKIE, v);
    }
}

fn store_cookies(jar: &mut CookieStore, headers: &HeaderMap, url: &Url) {
    let cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|s| RawCookie::parse(s.to_string()).ok());
    jar.store_response_cookies(cookies, url);
}
