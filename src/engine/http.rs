//! Sending one request the way Locust's `HttpUser` (python-requests) does, through one shared
//! reqwest client.
//!
//! The client is shared, so connections are pooled across users and set-up costs are paid
//! once; per-user state (cookies) lives with the user and is applied here. Redirects are
//! followed here rather than by reqwest, because every hop may set cookies (a Django login
//! answers `302` with its `sessionid`) and they must land in that user's jar.

use std::error::Error as StdError;
use std::time::Duration;

use bytes::Bytes;
use cookie_store::{CookieStore, RawCookie};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use tokio::time::Instant;
use url::Url;

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
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            user_agent: format!("locusta/{}", env!("CARGO_PKG_VERSION")),
            http2_prior_knowledge: false,
            insecure: false,
            ca_pem: None,
        }
    }
}

#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
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
            .pool_idle_timeout(Duration::from_secs(90))
            .connector_layer(reuse::counting_layer())
            .tcp_nodelay(true)
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(HttpClient {
            client,
            explained_fd_limit: Default::default(),
        })
    }

    /// Sends `req`, following redirects like python-requests, reading cookies from and into
    /// `jar` on every hop. Never panics and never returns early on a bad response: every
    /// outcome is an `Exchange`.
    pub async fn send(&self, req: Prepared, jar: &mut CookieStore) -> Exchange {
        let start = Instant::now();
        let deadline = start + req.timeout;
        let mut received = 0u64;
        let result = self.send_inner(req, jar, deadline, &mut received).await;
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
        Exchange {
            result,
            elapsed: start.elapsed(),
            partial_len: received,
        }
    }

    async fn send_inner(
        &self,
        req: Prepared,
        jar: &mut CookieStore,
        deadline: Instant,
        received: &mut u64,
    ) -> Result<Response, TransportError> {
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
                return Err(timeout_error(&url, timeout));
            }
            // Built afresh for each attempt (a resend on a stale connection is rare), so the
            // common single attempt copies the headers once, as before.
            let request = || -> Result<reqwest::RequestBuilder, TransportError> {
                let mut hop_headers = headers.clone();
                add_cookies(&mut hop_headers, jar, &url);
                let builder = self
                    .client
                    .request(method.clone(), url.clone())
                    .headers(hop_headers)
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
            let mut resp = loop {
                match reuse::sent_on_pooled(request()?.send()).await {
                    (Ok(resp), _) => break resp,
                    (Err(e), true)
                        if reuse::replayable(&method)
                            && reuse::closed_before_response(&e)
                            && stale_connections < reuse::MAX_STALE_CONNECTIONS =>
                    {
                        stale_connections += 1;
                        tracing::debug!(target: "locusta.runners", "{url}: a kept-alive connection was closed as it was reused ({e}); sending again");
                    }
                    (Err(e), _) => return Err(describe(&e, &url, timeout)),
                }
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
                while let Ok(Some(_)) = resp.chunk().await {}
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
            let headers = resp.headers().clone();
            let expected = resp.content_length();
            let mut kept: Vec<u8> = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        *received += chunk.len() as u64;
                        if keep_body && kept.len() < MAX_KEPT_BODY {
                            let room = MAX_KEPT_BODY - kept.len();
                            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Err(body_error(&e, &url, timeout, *received, expected)),
                }
            }
            return Ok(Response {
                status,
                headers,
                url,
                body: Bytes::from(kept),
                body_len: *received,
            });
        }
        Err(TransportError(pyfmt::exception(
            "TooManyRedirects",
            &format!("Exceeded {MAX_REDIRECTS} redirects."),
        )))
    }
}

fn add_cookies(headers: &mut HeaderMap, jar: &CookieStore, url: &Url) {
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

fn pool_name(url: &Url) -> &'static str {
    if url.scheme() == "https" {
        "HTTPSConnectionPool"
    } else {
        "HTTPConnectionPool"
    }
}

/// python-requests' words for a request that ran out of time.
fn timeout_error(url: &Url, timeout: Duration) -> TransportError {
    let inner = format!(
        "{}(host={}, port={}): Read timed out. (read timeout={})",
        pool_name(url),
        pyfmt::str_repr(url.host_str().unwrap_or_default()),
        url.port_or_known_default().unwrap_or(0),
        pyfmt::int_or_float(timeout.as_secs_f64())
    );
    TransportError(format!(
        "ReadTimeout({})",
        pyfmt::exception("ReadTimeoutError", &inner)
    ))
}

/// The Python exception class for an errno, as `OSError.__new__` picks it.
fn python_os_error_class(errno: i32) -> &'static str {
    match errno {
        libc::ECONNREFUSED => "ConnectionRefusedError",
        libc::ECONNRESET => "ConnectionResetError",
        libc::ECONNABORTED => "ConnectionAbortedError",
        libc::EPIPE => "BrokenPipeError",
        libc::ETIMEDOUT => "TimeoutError",
        _ => "OSError",
    }
}

/// `ConnectionRefusedError(111, 'Connection refused')`.
fn os_error_repr(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    format!(
        "{}({errno}, {})",
        python_os_error_class(errno),
        pyfmt::str_repr(text)
    )
}

fn gai_error_repr(message: &str) -> String {
    // getaddrinfo's messages and codes on Linux (glibc), as Python's socket.gaierror shows them.
    let code = match message {
        m if m.contains("Name or service not known") => -2,
        m if m.contains("Temporary failure in name resolution") => -3,
        m if m.contains("No address associated with hostname") => -5,
        _ => -2,
    };
    let text = message.rsplit(": ").next().unwrap_or(message);
    format!("gaierror({code}, {})", pyfmt::str_repr(text))
}

/// Turns a reqwest error into the exception text python-requests would have recorded:
/// Locust unwraps connection errors down to the operating system's error, so do we.
fn describe(err: &reqwest::Error, url: &Url, timeout: Duration) -> TransportError {
    if err.is_timeout() {
        return timeout_error(url, timeout);
    }
    let mut innermost_text = err.to_string();
    for e in causes(err) {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(errno) = io.raw_os_error() {
                return TransportError(os_error_repr(errno));
            }
            let text = io.to_string();
            if text.contains("failed to lookup address information") {
                return TransportError(gai_error_repr(&text));
            }
            if io.kind() == std::io::ErrorKind::UnexpectedEof {
                return TransportError(remote_disconnected());
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() {
                return TransportError(remote_disconnected());
            }
            if h.is_parse() {
                return TransportError(pyfmt::exception("BadStatusLine", &h.to_string()));
            }
        }
        innermost_text = e.to_string();
    }
    if innermost_text.contains("certificate") || innermost_text.to_ascii_lowercase().contains("tls")
    {
        return TransportError(pyfmt::exception("SSLError", &innermost_text));
    }
    if err.is_body() || err.is_decode() {
        return TransportError(format!(
            "ChunkedEncodingError({})",
            pyfmt::exception(
                "ProtocolError",
                &format!("Connection broken: {innermost_text}")
            )
        ));
    }
    TransportError(pyfmt::exception("ConnectionError", &innermost_text))
}

/// `err` and the errors beneath it, outermost first: reqwest wraps hyper's, which wraps the
/// operating system's.
pub(super) fn causes<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// The operating system's error number behind `err`, if any.
fn os_errno(err: &reqwest::Error) -> Option<i32> {
    causes(err).find_map(|e| {
        e.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
    })
}

/// Whether the connection ended before the response did.
fn ended_early(err: &reqwest::Error) -> bool {
    causes(err).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
            || e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_incomplete_message)
    })
}

/// A failure while the body arrived, after a good status line and headers: python-requests
/// raises `ChunkedEncodingError` around urllib3's `ProtocolError`, whatever the framing, e.g.
/// `ChunkedEncodingError(ProtocolError('Connection broken: IncompleteRead(1000 bytes read,
/// 99000 more expected)', IncompleteRead(1000 bytes read, 99000 more expected)))`.
fn body_error(
    err: &reqwest::Error,
    url: &Url,
    timeout: Duration,
    read: u64,
    expected: Option<u64>,
) -> TransportError {
    if err.is_timeout() {
        return timeout_error(url, timeout);
    }
    let cause = if let Some(errno) = os_errno(err) {
        os_error_repr(errno)
    } else if ended_early(err) {
        match expected {
            Some(len) => format!(
                "IncompleteRead({read} bytes read, {} more expected)",
                len.saturating_sub(read)
            ),
            None => format!("IncompleteRead({read} bytes read)"),
        }
    } else {
        return describe(err, url, timeout);
    };
    TransportError(format!(
        "ChunkedEncodingError(ProtocolError({}, {cause}))",
        pyfmt::str_repr(&format!("Connection broken: {cause}"))
    ))
}

fn remote_disconnected() -> String {
    pyfmt::exception(
        "RemoteDisconnected",
        "Remote end closed connection without response",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_like_python() {
        assert_eq!(
            os_error_repr(111),
            "ConnectionRefusedError(111, 'Connection refused')"
        );
        assert_eq!(
            os_error_repr(104),
            "ConnectionResetError(104, 'Connection reset by peer')"
        );
        assert_eq!(os_error_repr(113), "OSError(113, 'No route to host')");
        assert_eq!(
            gai_error_repr("failed to lookup address information: Name or service not known"),
            "gaierror(-2, 'Name or service not known')"
        );
    }

    #[test]
    fn timeouts_read_like_python_requests() {
        let url = Url::parse("http://127.0.0.1:8765/slow").unwrap();
        assert_eq!(
            timeout_error(&url, Duration::from_millis(50)).0,
            "ReadTimeout(ReadTimeoutError(\"HTTPConnectionPool(host='127.0.0.1', port=8765): Read timed out. (read timeout=0.05)\"))"
        );
    }
}
