//! Failed requests in python-requests' words: Locust records the exception text, and teams
//! grep their failure reports for it, so a refused connection reads
//! `ConnectionRefusedError(111, 'Connection refused')` whichever HTTP client locusta used.

use std::error::Error as StdError;
use std::time::Duration;

use url::Url;

use super::http::TransportError;
use crate::pyfmt;

/// What went wrong, as much as the text needs: the error with its causes, and what the client
/// knew about it.
#[derive(Clone, Copy)]
pub struct Failure<'a> {
    pub error: &'a (dyn StdError + 'static),
    /// The client's own deadline passed.
    pub timed_out: bool,
    /// It happened while the body arrived (after the status line and headers).
    pub in_body: bool,
}

impl<'a> Failure<'a> {
    pub fn of_reqwest(err: &'a reqwest::Error) -> Failure<'a> {
        Failure {
            error: err,
            timed_out: err.is_timeout(),
            in_body: err.is_body() || err.is_decode(),
        }
    }

    pub fn of(error: &'a (dyn StdError + 'static)) -> Failure<'a> {
        Failure {
            error,
            timed_out: false,
            in_body: false,
        }
    }
}

fn pool_name(url: &Url) -> &'static str {
    if url.scheme() == "https" {
        "HTTPSConnectionPool"
    } else {
        "HTTPConnectionPool"
    }
}

/// python-requests' words for a request that ran out of time.
pub fn timeout_error(url: &Url, timeout: Duration) -> TransportError {
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

/// An I/O error as Python shows the `OSError` it would be: `ConnectionRefusedError(111,
/// 'Connection refused')`, `gaierror(-2, 'Name or service not known')`.
pub fn io_error_repr(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => os_error_repr(errno),
        None if e.to_string().contains("lookup") || e.to_string().contains("resolve") => {
            gai_error_repr(&e.to_string())
        }
        None => pyfmt::exception("OSError", &e.to_string()),
    }
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

/// The exception text python-requests would have recorded: Locust unwraps connection errors
/// down to the operating system's error, so do we.
pub fn describe(failure: Failure<'_>, url: &Url, timeout: Duration) -> TransportError {
    if failure.timed_out {
        return timeout_error(url, timeout);
    }
    let mut innermost_text = failure.error.to_string();
    for e in causes(failure.error) {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(errno) = io.raw_os_error() {
                return TransportError(os_error_repr(errno));
            }
            if let Some(bad) = bad_response(io) {
                return TransportError(bad.to_string());
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
    if failure.in_body {
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
pub fn causes<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// A response locusta's own HTTP/1.1 path could not read, already in python-requests' words.
fn bad_response(io: &std::io::Error) -> Option<&super::h1::BadResponse> {
    io.get_ref()?.downcast_ref::<super::h1::BadResponse>()
}

/// The operating system's error number behind `err`, if any.
fn os_errno(err: &(dyn StdError + 'static)) -> Option<i32> {
    causes(err).find_map(|e| {
        e.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
    })
}

/// Whether the connection ended before the response did.
fn ended_early(err: &(dyn StdError + 'static)) -> bool {
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
pub fn body_error(
    failure: Failure<'_>,
    url: &Url,
    timeout: Duration,
    read: u64,
    expected: Option<u64>,
) -> TransportError {
    if failure.timed_out {
        return timeout_error(url, timeout);
    }
    let cause = if let Some(errno) = os_errno(failure.error) {
        os_error_repr(errno)
    } else if let Some(bad) = causes(failure.error)
        .find_map(|e| e.downcast_ref::<std::io::Error>().and_then(bad_response))
    {
        bad.to_string()
    } else if ended_early(failure.error) {
        match expected {
            Some(len) => format!(
                "IncompleteRead({read} bytes read, {} more expected)",
                len.saturating_sub(read)
            ),
            None => format!("IncompleteRead({read} bytes read)"),
        }
    } else {
        return describe(
            Failure {
                in_body: true,
                ..failure
            },
            url,
            timeout,
        );
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
