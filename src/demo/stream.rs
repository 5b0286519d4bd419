//! The demo's streaming endpoints, a price feed like the 254Carbon guide's streaming service:
//!
//! - `GET /ws/stream` upgrades to a WebSocket. `{"type": "subscribe", "symbols": [...]}` is
//!   answered with `{"type": "subscribed", "id": ..., "symbols": [...]}`, then ticks
//!   `{"type": "tick", "symbol", "price", "seq"}` come at `rate` a second (the query's `rate`,
//!   or the subscribe's; default 1, at most 1000). `{"type": "ping"}` is answered with
//!   `{"type": "pong"}` (and WebSocket pings with pongs), `unsubscribe` stops the ticks,
//!   `{"type": "drop"}` drops the connection without a close handshake, and
//!   `{"type": "close", "code": N}` closes it with that code. `?token=invalid` is refused
//!   with 401 at the handshake. `GET /ws/stats` says how many feeds are open and how many
//!   ticks and messages they have sent, so a load test can compare what it received.
//! - `GET /sse/stream` sends `count` ticks (default 10, at most 100,000) as `event: tick` with
//!   ids, at `rate` a second (default 10), then `event: done`, and ends; with `Last-Event-ID`
//!   it goes on after that id, as a reconnecting client expects. `?drop_after=N` ends the
//!   stream after N ticks without `done`, to make a client reconnect.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior, interval_at};

/// The fastest feed a connection may ask for.
const MAX_RATE: f64 = 1000.0;
/// The most ticks one SSE stream sends.
const MAX_COUNT: u64 = 100_000;

fn rate_of(v: Option<&str>, default: f64) -> Result<f64, String> {
    match v {
        None => Ok(default),
        Some(s) => match s.parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE => Ok(r),
            _ => Err(format!(
                "rate must be a number above 0 and at most {MAX_RATE}, got {s}"
            )),
        },
    }
}

/// A made-up price that moves with the tick number, so feeds are reproducible.
fn price(symbol: &str, seq: u64) -> f64 {
    let base = symbol.bytes().map(u64::from).sum::<u64>() as f64;
    let wave = ((seq as f64) / 7.0).sin() * base / 100.0;
    ((base + wave) * 100.0).round() / 100.0
}

/// What every WebSocket feed of one demo target has done.
#[derive(Default)]
pub struct FeedCounters {
    open: AtomicU64,
    ticks: AtomicU64,
    messages: AtomicU64,
}

pub async fn ws_stats(State(app): State<Arc<super::App>>) -> Json<Value> {
    let c = &app.feed;
    Json(json!({
        "open": c.open.load(Relaxed),
        "ticks_sent": c.ticks.load(Relaxed),
        "messages_sent": c.messages.load(Relaxed),
    }))
}

/// Counts a feed as open for as long as it lives.
struct OpenFeed(Arc<super::App>);

impl Drop for OpenFeed {
    fn drop(&mut self) {
        self.0.feed.open.fetch_sub(1, Relaxed);
    }
}

pub async fn ws_stream(
    State(app): State<Arc<super::App>>,
    upgrade: WebSocketUpgrade,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("token").is_some_and(|t| t == "invalid") {
        return (StatusCode::UNAUTHORIZED, "invalid token").into_response();
    }
    let rate = match rate_of(q.get("rate").map(String::as_str), 1.0) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    // Small buffers, as the client's: the demo holds as many quiet connections as a load test
    // opens (tungstenite's 128 KiB default read buffer would cost 1.3 GB at 10,000).
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            app.feed.open.fetch_add(1, Relaxed);
            feed(socket, rate, OpenFeed(app))
        })
}

struct Subscription {
    id: String,
    symbols: Vec<String>,
    ticks: tokio::time::Interval,
    seq: u64,
}

fn subscription(msg: &Value, default_rate: f64, n: u64) -> Result<Subscription, String> {
    let symbols: Vec<String> = match msg.get("symbols") {
        None => vec!["BTC-USD".to_string()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|s| s.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or("symbols must be a list of text")?,
        Some(_) => return Err("symbols must be a list of text".to_string()),
    };
    let rate = match msg.get("rate") {
        None => default_rate,
        Some(v) => rate_of(Some(&v.to_string()), default_rate)?,
    };
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut ticks = interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    Ok(Subscription {
        id: format!("sub-{n}"),
        symbols,
        ticks,
        seq: 0,
    })
}

async fn next_tick(sub: &mut Option<Subscription>) -> Option<&mut Subscription> {
    match sub {
        Some(s) => {
            s.ticks.tick().await;
            Some(s)
        }
        None => std::future::pending().await,
    }
}

/// What the feed does with a text message from the client.
enum Answer {
    Reply(Value),
    Drop,
    Close(u16),
}

fn answer(
    text: &str,
    sub: &mut Option<Subscription>,
    subscriptions: &mut u64,
    rate: f64,
) -> Answer {
    let msg: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    Answer::Reply(match msg.get("type").and_then(Value::as_str) {
        Some("subscribe") => {
            *subscriptions += 1;
            match subscription(&msg, rate, *subscriptions) {
                Ok(s) => {
                    let r = json!({"type": "subscribed", "id": s.id, "symbols": s.symbols});
                    *sub = Some(s);
                    r
                }
                Err(e) => json!({"type": "error", "message": e}),
            }
        }
        Some("unsubscribe") => {
            *sub = None;
            json!({"type": "unsubscribed"})
        }
        Some("ping") => json!({"type": "pong"}),
        Some("drop") => return Answer::Drop,
        Some("close") => {
            let code = msg.get("code").and_then(Value::as_u64).unwrap_or(1000);
            return Answer::Close(u16::try_from(code).unwrap_or(1011));
        }
        _ => {
            json!({"type": "error", "message": "unknown message type; send subscribe, unsubscribe, ping, drop or close"})
        }
    })
}

async fn feed(mut socket: WebSocket, default_rate: f64, open: OpenFeed) {
    let counters = &open.0.feed;
    let mut sub: Option<Subscription> = None;
    let mut subscriptions = 0u64;
    loop {
        let (reply, tick) = tokio::select! {
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Text(text))) => {
                    match answer(text.as_str(), &mut sub, &mut subscriptions, default_rate) {
                        Answer::Reply(r) => (r, false),
                        // Gone without a close frame: what a crashed server looks like.
                        Answer::Drop => return,
                        Answer::Close(code) => {
                            let frame = CloseFrame { code, reason: "closed on request".into() };
                            let _ = socket.send(Message::Close(Some(frame))).await;
                            return;
                        }
                    }
                }
                Some(Ok(_)) => continue,
            },
            Some(s) = next_tick(&mut sub) => {
                s.seq += 1;
                let symbol = &s.symbols[(s.seq as usize - 1) % s.symbols.len()];
                (json!({"type": "tick", "id": s.id, "symbol": symbol, "price": price(symbol, s.seq), "seq": s.seq}), true)
            }
        };
        if socket
            .send(Message::Text(reply.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
        counters.messages.fetch_add(1, Relaxed);
        if tick {
            counters.ticks.fetch_add(1, Relaxed);
        }
    }
}

pub async fn sse_stream(headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let rate = match rate_of(q.get("rate").map(String::as_str), 10.0) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let number = |key: &str, default: u64| -> Result<u64, String> {
        match q.get(key) {
            None => Ok(default),
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= MAX_COUNT)
                .ok_or_else(|| format!("{key} must be a whole number up to {MAX_COUNT}, got {s}")),
        }
    };
    let (count, drop_after) = match (number("count", 10), number("drop_after", 0)) {
        (Ok(c), Ok(d)) => (c, d),
        (Err(e), _) | (_, Err(e)) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let symbol = q
        .get("symbol")
        .cloned()
        .unwrap_or_else(|| "BTC-USD".to_string());
    let after: u64 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Sse::new(events(symbol, rate, count, after, drop_after)).into_response()
}

fn events(
    symbol: String,
    rate: f64,
    count: u64,
    after: u64,
    drop_after: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Feed {
        ticks: tokio::time::Interval,
        seq: u64,
        sent: u64,
        greeted: bool,
        done: bool,
    }
    let period = Duration::from_secs_f64(1.0 / rate);
    let feed = Feed {
        ticks: interval_at(Instant::now() + period, period),
        seq: after,
        sent: 0,
        greeted: false,
        done: false,
    };
    futures_util::stream::unfold(feed, move |mut f| {
        let symbol = symbol.clone();
        async move {
            if f.done || (drop_after > 0 && f.sent >= drop_after) {
                return None;
            }
            if !f.greeted {
                // First on the stream: how long a client should wait before reconnecting.
                f.greeted = true;
                let hello = Event::default()
                    .retry(Duration::from_millis(500))
                    .comment("price feed");
                return Some((Ok(hello), f));
            }
            if f.seq >= count {
                f.done = true;
                let end = Event::default()
                    .event("done")
                    .data(json!({"ticks": count}).to_string());
                return Some((Ok(end), f));
            }
            f.ticks.tick().await;
            f.seq += 1;
            f.sent += 1;
            let data = json!({"symbol": symbol, "price": price(&symbol, f.seq), "seq": f.seq});
            let tick = Event::default()
                .event("tick")
                .id(f.seq.to_string())
                .data(data.to_string());
            Some((Ok(tick), f))
        }
    })
}
