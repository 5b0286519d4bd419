//! An open WebSocket or event stream as the steps see it: messages received, timed and
//! counted in the rows as they arrive, the ones no `expect` has taken yet kept for the next.
//!
//! Every wait on a stream has two bounds: the step's own (an `expect`'s `within`, a `hold`'s
//! `for`, the step's `timeout`) and the stream's idle timeout, the longest silence allowed.
//! One deadline per exchange, as requests have, would let a stream that stalls after its first
//! message pass for a slow one.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::sse::{SseItem, SseSource};
use super::ws::{Incoming, WsConn};
use crate::pyfmt;
use crate::scenario::stream::{Matcher, Rows};
use crate::stats::{RequestSample, Stats, unix_now};

/// Messages kept for a later `expect` at most (the oldest go first), and their bytes: a server
/// that pushes what nobody waits for must not grow a user without bound.
const MAX_UNMATCHED: usize = 1000;
const MAX_UNMATCHED_BYTES: usize = 1024 * 1024;

/// The two protocols' sources.
pub enum Source {
    Ws(WsConn),
    Sse(Box<SseSource>),
    /// Taken away to be closed.
    Closed,
}

/// The Type column of a protocol's rows: connects, waits and sessions; messages received.
#[derive(Clone, Copy)]
pub struct Kinds {
    pub main: &'static str,
    pub received: &'static str,
}

pub const WS: Kinds = Kinds {
    main: "WS",
    received: "WSR",
};
pub const SSE: Kinds = Kinds {
    main: "SSE",
    received: "SSER",
};

/// A received message (an SSE event's data), when it came, and (SSE) its type.
pub struct Message {
    pub data: Vec<u8>,
    pub event: Option<String>,
    pub at: Instant,
}

/// What waiting on a stream brought.
pub enum Received {
    Message(Message),
    Pong(Vec<u8>),
    /// The step's own bound passed.
    Deadline,
    /// Nothing came for the idle timeout: the stream is closed and this is a failure.
    Idle,
    /// The stream is over (its session row is written).
    Ended,
}

pub struct Open {
    pub source: Source,
    pub kinds: Kinds,
    /// When the connection (the current one, after an SSE reconnect) was asked for.
    pub requested: Instant,
    pub opened: Instant,
    /// When the last message came: each message's row times the gap since it.
    last: Instant,
    /// Where an `expect`'s time starts: the last send, or the connect.
    pub anchor: Instant,
    unmatched: VecDeque<Message>,
    unmatched_bytes: usize,
    received_bytes: u64,
    first_seen: bool,
    pub ended: bool,
}

pub fn record(
    stats: &Stats,
    kind: &str,
    name: &str,
    took: Duration,
    bytes: u64,
    error: Option<&str>,
) {
    stats.record(&RequestSample {
        method: kind,
        name,
        response_time_ms: took.as_secs_f64() * 1000.0,
        content_length: bytes,
        error,
        timestamp: unix_now(),
    });
}

/// Whether a message is one `m` looks for.
pub fn matches(m: &Matcher, message: &Message) -> bool {
    if let Some(e) = &m.event
        && message.event.as_deref() != Some(e.as_str())
    {
        return false;
    }
    super::checks::content_failure(&m.checks, &message.data).is_none()
}

impl Open {
    pub fn new(source: Source, kinds: Kinds, requested: Instant) -> Open {
        let now = Instant::now();
        Open {
            source,
            kinds,
            requested,
            opened: now,
            last: now,
            anchor: now,
            unmatched: VecDeque::new(),
            unmatched_bytes: 0,
            received_bytes: 0,
            first_seen: false,
            ended: false,
        }
    }

    /// Records a row of this stream's main Type.
    pub fn row(&self, stats: &Stats, name: &str, took: Duration, bytes: u64, error: Option<&str>) {
        record(stats, self.kinds.main, name, took, bytes, error);
    }

    /// Records a row of this stream's received Type.
    pub fn received_row(
        &self,
        stats: &Stats,
        name: &str,
        took: Duration,
        bytes: u64,
        error: Option<&str>,
    ) {
        record(stats, self.kinds.received, name, took, bytes, error);
    }

    /// Ends the stream. An event stream's session row is written here, open to now (failed with
    /// `error` if there is one); a WebSocket's reader writes its own when the connection drops.
    pub fn end(&mut self, stats: &Stats, rows: &Rows, error: Option<&str>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.unmatched.clear();
        if self.kinds.main == SSE.main {
            self.row(
                stats,
                &rows.session,
                self.opened.elapsed(),
                self.received_bytes,
                error,
            );
        }
        self.source = Source::Closed;
    }

    /// Closes a WebSocket with the close handshake (its reader writes the session's row).
    pub async fn close(&mut self, code: u16, reason: &str, wait: Duration) {
        if let Source::Ws(ws) = std::mem::replace(&mut self.source, Source::Closed) {
            ws.close(code, reason, wait).await;
        }
        self.ended = true;
        self.unmatched.clear();
    }

    /// The first kept message `m` looks for, taken out of the buffer.
    pub fn take_unmatched(&mut self, m: &Matcher) -> Option<Message> {
        let i = self.unmatched.iter().position(|msg| matches(m, msg))?;
        let msg = self.unmatched.remove(i)?;
        self.unmatched_bytes -= msg.data.len();
        Some(msg)
    }

    /// Keeps a message for a later `expect`.
    pub fn keep(&mut self, msg: Message) {
        self.unmatched_bytes += msg.data.len();
        self.unmatched.push_back(msg);
        while self.unmatched.len() > MAX_UNMATCHED || self.unmatched_bytes > MAX_UNMATCHED_BYTES {
            match self.unmatched.pop_front() {
                Some(old) => self.unmatched_bytes -= old.data.len(),
                None => break,
            }
        }
    }

    /// Waits for what comes next, until `deadline` or `idle` without anything. Each message
    /// is recorded as it arrives (the received row, and an SSE connection's first event); a
    /// stream that ends, breaks or stays silent is ended, its session row written. An SSE
    /// stream the server ends is reconnected while the step allows.
    pub async fn receive(
        &mut self,
        client: &super::http::HttpClient,
        jar: &mut cookie_store::CookieStore,
        stats: &Stats,
        rows: &Rows,
        idle: Duration,
        deadline: Instant,
    ) -> Received {
        loop {
            if self.ended {
                return Received::Ended;
            }
            let silent = Instant::now() + idle;
            let until = deadline.min(silent);
            let next = async {
                match &mut self.source {
                    Source::Ws(ws) => match ws.next().await {
                        Incoming::Message(data, at) => Ok((data, None, at)),
                        Incoming::Pong(p) => Err(Some(Ok(p))),
                        Incoming::Ended(r) => Err(Some(Err(r))),
                    },
                    Source::Sse(sse) => match sse.next().await {
                        SseItem::Event { event, data } => {
                            Ok((data.into_bytes(), Some(event), Instant::now()))
                        }
                        SseItem::Ended(r) => Err(Some(Err(r))),
                    },
                    Source::Closed => Err(Some(Err(Ok(())))),
                }
            };
            let got = tokio::select! {
                biased;
                got = next => got,
                _ = tokio::time::sleep_until(until) => Err(None),
            };
            match got {
                Ok((data, event, at)) => {
                    let bytes = data.len() as u64;
                    self.received_bytes += bytes;
                    // A WebSocket's reader records its messages as they arrive.
                    if matches!(self.source, Source::Sse(_)) {
                        self.received_row(
                            stats,
                            &rows.name,
                            at.saturating_duration_since(self.last),
                            bytes,
                            None,
                        );
                        if !self.first_seen {
                            self.first_seen = true;
                            self.row(stats, &rows.first_event, at - self.requested, bytes, None);
                        }
                    }
                    self.last = at;
                    return Received::Message(Message { data, event, at });
                }
                Err(Some(Ok(pong))) => return Received::Pong(pong),
                Err(Some(Err(ended))) => {
                    let error = ended.err();
                    let source = std::mem::replace(&mut self.source, Source::Closed);
                    self.end(stats, rows, error.as_deref());
                    if error.is_none()
                        && let Source::Sse(sse) = source
                        && let Some(again) = Box::pin(reconnect(
                            *sse, self.kinds, client, jar, stats, rows, deadline,
                        ))
                        .await
                    {
                        // An expect's time goes on from the first request, across reconnects.
                        let anchor = self.anchor;
                        *self = again;
                        self.anchor = anchor;
                        continue;
                    }
                    return Received::Ended;
                }
                Err(None) if Instant::now() >= deadline && deadline <= silent => {
                    return Received::Deadline;
                }
                Err(None) => {
                    let why = pyfmt::exception(
                        if matches!(self.source, Source::Ws(_)) {
                            "WebSocketTimeoutException"
                        } else {
                            "ReadTimeout"
                        },
                        &format!("no message for {} s", pyfmt::float(idle.as_secs_f64())),
                    );
                    self.received_row(stats, &rows.name, Instant::now() - self.last, 0, Some(&why));
                    self.end(stats, rows, Some(&why));
                    return Received::Idle;
                }
            }
        }
    }
}

/// An SSE stream the server ended, opened again (after its `retry:`, sending `Last-Event-ID`)
/// while reconnects are left and the step's deadline allows.
async fn reconnect(
    sse: SseSource,
    kinds: Kinds,
    client: &super::http::HttpClient,
    jar: &mut cookie_store::CookieStore,
    stats: &Stats,
    rows: &Rows,
    deadline: Instant,
) -> Option<Open> {
    if sse.reconnects_left == 0 {
        return None;
    }
    // The spec's default reconnection time is "a few seconds"; browsers use 3 s.
    let retry = sse.retry.unwrap_or(Duration::from_secs(3));
    if Instant::now() + retry >= deadline {
        return None;
    }
    tokio::time::sleep(retry).await;
    let requested = Instant::now();
    let last_id = sse.last_id.clone();
    let left = sse.reconnects_left - 1;
    let opened = super::sse::open(client, sse.request, jar, &rows.name, &last_id, left).await;
    match opened {
        Ok((source, took)) => {
            record(stats, kinds.main, &rows.name, took, 0, None);
            Some(Open::new(Source::Sse(Box::new(source)), kinds, requested))
        }
        Err(e) => {
            record(
                stats,
                kinds.main,
                &rows.name,
                requested.elapsed(),
                0,
                Some(&e),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Checks;

    fn matcher(event: Option<&str>, contains: &str) -> Matcher {
        Matcher {
            event: event.map(String::from),
            checks: Checks {
                body_contains: vec![contains.to_string()],
                ..Checks::default()
            },
            shown: contains.to_string(),
        }
    }

    fn message(text: &str, event: Option<&str>) -> Message {
        Message {
            data: text.as_bytes().to_vec(),
            event: event.map(String::from),
            at: Instant::now(),
        }
    }

    fn closed() -> Open {
        Open::new(Source::Closed, WS, Instant::now())
    }

    #[test]
    fn an_expect_takes_the_first_kept_message_it_matches_and_leaves_the_rest_in_order() {
        let mut open = closed();
        for text in ["tick 1", "ack A", "tick 2", "ack B"] {
            open.keep(message(text, None));
        }
        let ack = matcher(None, "ack");
        assert_eq!(open.take_unmatched(&ack).unwrap().data, b"ack A");
        assert_eq!(open.take_unmatched(&ack).unwrap().data, b"ack B");
        assert!(open.take_unmatched(&ack).is_none());
        let tick = matcher(None, "tick");
        assert_eq!(open.take_unmatched(&tick).unwrap().data, b"tick 1");
        assert_eq!(open.take_unmatched(&tick).unwrap().data, b"tick 2");
        assert_eq!(
            open.unmatched_bytes, 0,
            "the byte count follows what is taken"
        );
    }

    #[test]
    fn an_event_type_must_match_as_well_as_the_data() {
        let mut open = closed();
        open.keep(message("{\"done\": true}", Some("tick")));
        open.keep(message("{\"done\": true}", Some("done")));
        let done = matcher(Some("done"), "done");
        assert_eq!(
            open.take_unmatched(&done).unwrap().event.as_deref(),
            Some("done")
        );
        assert!(open.take_unmatched(&done).is_none());
    }

    #[test]
    fn kept_messages_are_bounded_in_number_and_in_bytes_the_oldest_going_first() {
        let mut open = closed();
        for i in 0..(MAX_UNMATCHED + 5) {
            open.keep(message(&format!("m{i}"), None));
        }
        assert_eq!(open.unmatched.len(), MAX_UNMATCHED);
        assert_eq!(open.unmatched.front().unwrap().data, b"m5");

        let mut open = closed();
        let big = "x".repeat(300 * 1024);
        for _ in 0..4 {
            open.keep(message(&big, None));
        }
        // Four of 300 KiB pass 1 MiB: the first goes.
        assert_eq!(open.unmatched.len(), 3);
        assert!(open.unmatched_bytes <= MAX_UNMATCHED_BYTES);
        // A single message above the cap is not kept at all.
        open.keep(message(&"y".repeat(MAX_UNMATCHED_BYTES + 1), None));
        assert!(open.unmatched.is_empty() && open.unmatched_bytes == 0);
    }
}
