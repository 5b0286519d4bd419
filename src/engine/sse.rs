//! Server-Sent Events: one streaming response through the HTTP client, read as events by
//! eventsource-stream (the parser reqwest-eventsource and async-openai use: `data:` lines
//! joined, `event:`, `id:`, `retry:`, comments, CR/LF/CRLF line ends and a split UTF-8
//! character across chunks all as the WHATWG spec says).

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{EventStream, Eventsource};
use futures_util::{Stream, StreamExt};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method};
use url::Url;

use super::checks::http_error;
use super::http::{HttpClient, TransportError};
use crate::pyfmt;

type Body = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// What an SSE request sends, kept to send again when it reconnects.
pub struct SseRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    pub connect_timeout: Duration,
}

/// An open event stream.
pub struct SseSource {
    events: EventStream<Body>,
    pub request: SseRequest,
    /// The last `id:` seen (sent back as `Last-Event-ID` when reconnecting).
    pub last_id: String,
    /// The server's `retry:`, if it sent one.
    pub retry: Option<Duration>,
    /// Reconnects still allowed.
    pub reconnects_left: u32,
}

/// An event, or the end of the stream.
pub enum SseItem {
    Event {
        event: String,
        data: String,
    },
    /// The server ended the stream (`Ok`), or it broke (why, in python-requests' words).
    Ended(Result<(), String>),
}

/// Opens the stream: the answer must be a 2xx `text/event-stream`. Returns the source and how
/// long the headers took.
pub async fn open(
    client: &HttpClient,
    mut request: SseRequest,
    jar: &mut cookie_store::CookieStore,
    name: &str,
    last_id: &str,
    reconnects_left: u32,
) -> Result<(SseSource, Duration), String> {
    let mut headers = request.headers.clone();
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    if !last_id.is_empty()
        && let Ok(v) = HeaderValue::from_str(last_id)
    {
        headers.insert("last-event-id", v);
    }
    let streaming = client
        .open_stream(
            request.method.clone(),
            request.url.clone(),
            headers,
            request.body.clone(),
            jar,
            request.connect_timeout,
        )
        .await
        .map_err(|TransportError(e)| e)?;
    let response = streaming.response;
    let status = response.status();
    if !status.is_success() {
        return Err(http_error(status, name));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
    {
        return Err(pyfmt::exception(
            "CatchResponseError",
            &format!(
                "expected an event stream (text/event-stream), got {}",
                if content_type.is_empty() {
                    "no Content-Type"
                } else {
                    &content_type
                }
            ),
        ));
    }
    // The URL after a reconnect is the same; keep the request for the next one.
    request.url = response.url().clone();
    let body: Body = Box::pin(response.bytes_stream());
    let mut events = body.eventsource();
    events.set_last_event_id(last_id);
    Ok((
        SseSource {
            events,
            request,
            last_id: last_id.to_string(),
            retry: None,
            reconnects_left,
        },
        streaming.elapsed,
    ))
}

impl SseSource {
    pub async fn next(&mut self) -> SseItem {
        match self.events.next().await {
            None => SseItem::Ended(Ok(())),
            Some(Ok(e)) => {
                if let Some(r) = e.retry {
                    self.retry = Some(r);
                }
                self.last_id = self.events.last_event_id().to_string();
                SseItem::Event {
                    event: e.event,
                    data: e.data,
                }
            }
            Some(Err(e)) => SseItem::Ended(Err(pyfmt::exception(
                "ChunkedEncodingError",
                &e.to_string(),
            ))),
        }
    }
}
