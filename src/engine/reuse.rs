//! A kept-alive connection the server closed just as the client reused it.
//!
//! Servers close idle connections (gunicorn after 2 s, nginx after 75 s), and a request can be
//! put on such a connection in the moment between the server's close and the client noticing
//! it. The request then fails with a reset or "closed without response" although the
//! application never saw it. urllib3 (so Locust) checks the socket just before reusing it, and
//! Go's net/http sends such a request once more; hyper notices a close only when the
//! connection's task runs, which a busy load generator delays, and the pool is shared between
//! users, so one user may pick up the connection another user's server just closed.
//!
//! So, as Go does: a request that failed before any byte of a response, on a connection taken
//! from the pool, is sent again when repeating it is safe (GET, HEAD, OPTIONS, TRACE), until it
//! gets an answer or fails on a new connection. On the `http://` path the pool is locusta's own
//! (`h1`), which knows. Through reqwest, whether the connection came from the pool is known by
//! counting the connections completed inside the request's own task: hyper-util races
//! a new connect against the pool, and when the pool wins, the connect finishes in a task of its
//! own (where nothing is counted). Counting connects started instead would call a request on a
//! pooled connection "new" whenever the pool was empty for a moment, and miss the resend.

use std::cell::Cell;
use std::future::Future;

use http::Method;

use super::errors::{Failure, causes};

tokio::task_local! {
    static CONNECTS: Cell<u32>;
}

/// A bound on the stale connections tried for one request, should the pool hold many.
pub const MAX_STALE_CONNECTIONS: u32 = 16;

/// The connector layer that counts the connections made for the request being sent.
pub fn counting_layer<C>() -> tower::util::MapResponseLayer<fn(C) -> C> {
    tower::util::MapResponseLayer::new(note_connect::<C>)
}

fn note_connect<C>(conn: C) -> C {
    // Outside `sent_on_pooled` (a connect finishing in the background) there is nothing to note.
    let _ = CONNECTS.try_with(|c| c.set(c.get() + 1));
    conn
}

/// Runs `send`, saying whether the connection it used was an idle one from the pool.
pub async fn sent_on_pooled<F: Future>(send: F) -> (F::Output, bool) {
    CONNECTS
        .scope(Cell::new(0), async {
            let out = send.await;
            (out, CONNECTS.with(Cell::get) == 0)
        })
        .await
}

/// Methods a client may repeat on its own (Go's `isReplayable`).
pub fn replayable(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(method)
}

/// Whether `err` is the connection going away before the response began: closed without a
/// word, reset, or a broken pipe while writing. Timeouts and everything else are real failures.
pub fn closed_before_response(failure: Failure<'_>) -> bool {
    if failure.timed_out {
        return false;
    }
    for e in causes(failure.error) {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            );
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed() || h.is_canceled())
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_made_inside_the_send_is_counted() {
        let (_, pooled) = sent_on_pooled(async {}).await;
        assert!(pooled, "no connect: the pool's connection");
        let (_, pooled) = sent_on_pooled(async {
            note_connect(());
        })
        .await;
        assert!(!pooled, "a connection was made");
        // Outside a send, nothing happens and nothing panics.
        note_connect(());
    }

    #[test]
    fn only_safe_methods_are_repeated() {
        assert!(replayable(&Method::GET) && replayable(&Method::HEAD));
        assert!(!replayable(&Method::POST) && !replayable(&Method::PATCH));
    }
}
