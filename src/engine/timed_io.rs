//! When an exchange was on the wire, as its socket saw it: from just before the request's
//! first byte was written to just after the response's last byte was read. That is the
//! response time locusta reports for `http://` requests, and what wrk reports.
//!
//! Timed around the whole `send` instead, a request also counts locusta's own work: the
//! template, the cookie lookup, the pool, hyper's encoding before the write, parsing and the
//! body loop after the read. That is a few microseconds when warm, but a user that has just
//! slept through its wait runs it with cold caches: measured with strace, 49 µs passed between
//! the timer's wake-up and the write, and one user 10 ms apart reported a p50 80 µs above
//! wrk's on the same nginx. The server took no part in that time.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Nanoseconds after `base`, plus one; zero for no mark. Atomics rather than a lock: they are
/// written on every request, by the one task that drives the connection.
struct Marks {
    base: Instant,
    first_write: AtomicU64,
    last_read: AtomicU64,
}

impl Marks {
    fn stamp(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).map_or(u64::MAX, |n| n.saturating_add(1))
    }

    fn instant(&self, stamp: u64) -> Option<Instant> {
        let nanos = stamp.checked_sub(1)?;
        Some(self.base + Duration::from_nanos(nanos))
    }
}

/// A connection's marks, read by whoever sends on it; the stream writes them.
#[derive(Clone)]
pub struct Marker(Arc<Marks>);

impl Default for Marker {
    fn default() -> Marker {
        Marker(Arc::new(Marks {
            base: Instant::now(),
            first_write: AtomicU64::new(0),
            last_read: AtomicU64::new(0),
        }))
    }
}

/// From the first byte written to the last byte read.
#[derive(Clone, Copy, Debug)]
pub struct OnWire {
    pub from: Instant,
    pub to: Instant,
}

impl Marker {
    /// A new exchange begins: its first write starts the clock.
    pub fn begin(&self) {
        self.0.first_write.store(0, Relaxed);
        self.0.last_read.store(0, Relaxed);
    }

    /// The exchange since `begin`, once something was written and read.
    pub fn on_wire(&self) -> Option<OnWire> {
        let marks = &self.0;
        Some(OnWire {
            from: marks.instant(marks.first_write.load(Relaxed))?,
            to: marks.instant(marks.last_read.load(Relaxed))?,
        })
    }
}

/// A stream that marks its first write and every read that brought bytes.
pub struct Timed<S> {
    inner: S,
    marker: Marker,
}

impl<S> Timed<S> {
    pub fn new(inner: S, marker: Marker) -> Timed<S> {
        Timed { inner, marker }
    }

    fn mark_write(&self) {
        let marks = &self.marker.0;
        if marks.first_write.load(Relaxed) == 0 {
            marks.first_write.store(marks.stamp(), Relaxed);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let marks = &self.marker.0;
            marks.last_read.store(marks.stamp(), Relaxed);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.mark_write();
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.mark_write();
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn the_span_runs_from_the_first_write_to_the_last_read_that_brought_bytes() {
        let (near, mut far) = tokio::io::duplex(64);
        let marker = Marker::default();
        let mut stream = Timed::new(near, marker.clone());
        assert!(marker.on_wire().is_none(), "nothing written or read yet");

        let before_write = Instant::now();
        stream.write_all(b"GET").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        stream.write_all(b" /").await.unwrap();
        assert!(marker.on_wire().is_none(), "nothing read yet");

        let mut request = [0u8; 5];
        far.read_exact(&mut request).await.unwrap();
        far.write_all(b"200").await.unwrap();
        let mut answer = [0u8; 3];
        stream.read_exact(&mut answer).await.unwrap();
        let after_read = Instant::now();
        let span = marker.on_wire().expect("written and read");
        assert!(span.from >= before_write && span.from < before_write + Duration::from_millis(20));
        assert!(span.to >= span.from + Duration::from_millis(20) && span.to <= after_read);

        // A read that brings nothing (the peer closed) does not move the end.
        drop(far);
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert_eq!(marker.on_wire().unwrap().to, span.to);

        marker.begin();
        assert!(marker.on_wire().is_none(), "a new exchange starts unmarked");
    }

    #[tokio::test]
    async fn a_redirected_request_counts_from_the_first_hops_write_to_the_last_hops_read() {
        use axum::response::Redirect;
        use axum::routing::get;

        use crate::engine::http::{ClientOptions, HttpClient, Prepared, PreparedBody};

        let slow = Duration::from_millis(30);
        let app = axum::Router::new()
            .route(
                "/first",
                get(move || async move {
                    tokio::time::sleep(slow).await;
                    Redirect::to("/second")
                }),
            )
            .route(
                "/second",
                get(move || async move {
                    tokio::time::sleep(slow).await;
                    "done"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let client = HttpClient::new(&ClientOptions::default()).unwrap();
        let mut jar = cookie_store::CookieStore::default();
        // The first on a new connection, the second on the kept-alive one.
        for _ in 0..2 {
            let exchange = client
                .send(
                    Prepared {
                        method: http::Method::GET,
                        url: format!("http://{addr}/first").parse().unwrap(),
                        headers: http::HeaderMap::new(),
                        body: PreparedBody::None,
                        timeout: Duration::from_secs(10),
                        follow_redirects: true,
                        keep_body: false,
                    },
                    &mut jar,
                )
                .await;
            let response = exchange.result.expect("answered");
            assert_eq!(response.url.path(), "/second");
            assert!(
                exchange.elapsed >= 2 * slow,
                "both hops' server time counts: {:?}",
                exchange.elapsed
            );
        }
    }
}
