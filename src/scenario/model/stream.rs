//! `ws:` and `sse:` steps as written: a connection, and the steps run on it.
//!
//! The steps inside a stream (`send`, `expect`, `hold`, `ping`, `close`, `wait`) are one enum,
//! each a single-key map (`- send: ...`), shared by both kinds; `compile` says which of them an
//! SSE stream cannot take (it only receives).

use std::borrow::Cow;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de};

use super::{CaptureDef, OneOrMany, Scalar, Seconds, WaitDef};

/// A WebSocket: opened (or found open, with `id`), then its steps in order.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WsDef {
    /// Open a WebSocket: a path (joined to the host, `http` becoming `ws` and `https` `wss`) or a
    /// `ws://`/`wss://` URL; a template.
    pub ws: String,
    /// Keep the connection open after the steps, under this name: a later `ws` step with the
    /// same `id` goes on on it, without a new handshake. It is closed when the user stops.
    pub id: Option<String>,
    /// Headers of the handshake (the user type's headers and auth apply too).
    #[serde(default)]
    pub headers: IndexMap<String, Scalar>,
    /// Subprotocols offered in the handshake (`Sec-WebSocket-Protocol`).
    #[serde(default)]
    pub subprotocols: Vec<String>,
    /// The longest the connection and handshake may take (default 10 s).
    pub connect_timeout: Option<Seconds>,
    /// The longest silence while a step waits for messages (default 60 s): longer fails the
    /// step and closes the connection.
    pub idle_timeout: Option<Seconds>,
    /// The longest the whole step may take, connecting included (default: no limit beyond
    /// each step's own).
    pub timeout: Option<Seconds>,
    /// What to do on the connection, in order.
    #[serde(default, deserialize_with = "stream_steps")]
    pub steps: Vec<StreamStepDef>,
}

/// A Server-Sent Events stream: one request, then its steps on the events it sends.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SseDef {
    /// Read an event stream from this path or http(s) URL; a template.
    pub sse: String,
    /// The request's method: `GET` (default) or `POST`.
    pub method: Option<SseMethod>,
    /// Headers of the request (the user type's headers and auth apply too).
    #[serde(default)]
    pub headers: IndexMap<String, Scalar>,
    /// Query parameters, appended to the URL.
    #[serde(default)]
    pub query: IndexMap<String, Scalar>,
    /// A JSON body; strings in it are templates.
    #[schemars(with = "Option<serde_json::Value>")]
    pub json: Option<serde_yaml::Value>,
    /// A raw body (a template).
    pub body: Option<String>,
    /// The longest the request may take until the response's headers (default 10 s).
    pub connect_timeout: Option<Seconds>,
    /// The longest silence while a step waits for events (default 60 s).
    pub idle_timeout: Option<Seconds>,
    /// The longest the whole step may take (default: no limit beyond each step's own).
    pub timeout: Option<Seconds>,
    /// When the server ends the stream before the steps are done: reconnect, at most this
    /// many times, sending `Last-Event-ID` and waiting the server's `retry:` (default 0).
    pub reconnect: Option<u32>,
    /// What to do with the events, in order.
    #[serde(default, deserialize_with = "stream_steps")]
    pub steps: Vec<StreamStepDef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum SseMethod {
    #[serde(alias = "get")]
    GET,
    #[serde(alias = "post")]
    POST,
}

/// Stream steps written as single-key maps (`- send: ...`), which serde_yaml reads as enum
/// variants only when asked to.
fn stream_steps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<StreamStepDef>, D::Error> {
    #[derive(Deserialize)]
    struct Item(#[serde(with = "serde_yaml::with::singleton_map")] StreamStepDef);
    Ok(Vec::<Item>::deserialize(d)?
        .into_iter()
        .map(|i| i.0)
        .collect())
}

/// A step on an open stream.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StreamStepDef {
    /// Send a message: text (a template), or `{json: ...}`, `{text: ...}`.
    Send(SendDef),
    /// Wait for a message (an event) matching `match`: the ones not matched by an earlier
    /// `expect` are looked at first, then new ones.
    Expect(StreamExpectDef),
    /// Keep receiving: for a duration (`hold: 30s`), or `{for, messages, until, count}`.
    Hold(HoldDef),
    /// Send a ping and time its pong.
    Ping(Option<PingDef>),
    /// Close the connection (code 1000 unless given).
    Close(Option<CloseDef>),
    /// Think time, the connection staying open: a duration, or `{between: [min, max]}`.
    Wait(WaitDef),
}

/// A message to send.
#[derive(Debug, Clone)]
pub enum SendDef {
    Text(String),
    Json(serde_yaml::Value),
}

impl<'de> Deserialize<'de> for SendDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Keyed {
            text: Option<String>,
            json: Option<serde_yaml::Value>,
        }
        let v = serde_yaml::Value::deserialize(d)?;
        if v.is_mapping() {
            let k: Keyed = serde_yaml::from_value(v).map_err(de::Error::custom)?;
            match (k.text, k.json) {
                (Some(t), None) => Ok(SendDef::Text(t)),
                (None, Some(j)) => Ok(SendDef::Json(j)),
                _ => Err(de::Error::custom("send takes one of `text` or `json`")),
            }
        } else {
            serde_yaml::from_value::<Scalar>(v)
                .map(|s| SendDef::Text(s.0))
                .map_err(de::Error::custom)
        }
    }
}

impl JsonSchema for SendDef {
    fn schema_name() -> Cow<'static, str> {
        "Send".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {"type": ["string", "number", "boolean"]},
                {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "description": "A text message (a template)."},
                        "json": {"description": "A JSON message; strings in it are templates."}
                    },
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// Which messages (events) a step looks for; every key given must hold.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchDef {
    /// (SSE) The event's type (its `event:` field; `message` when it has none).
    pub event: Option<String>,
    /// Text the message must contain.
    pub contains: Option<OneOrMany<String>>,
    /// Regular expressions the message must match.
    pub matches: Option<OneOrMany<String>>,
    /// JSONPath expressions and the values they must find, e.g. `{"$.type": ack}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub json: IndexMap<String, serde_yaml::Value>,
    /// JSONPath expressions that must find something.
    pub json_exists: Option<OneOrMany<String>>,
}

/// Waiting for one message.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamExpectDef {
    /// Its row, after the stream's name: `/ws/prices subscribed` (default `expect`).
    pub name: Option<String>,
    /// The message to wait for (default: any).
    #[serde(rename = "match", default)]
    pub match_: MatchDef,
    /// How long to wait (default 10 s); then the step fails.
    pub within: Option<Seconds>,
    /// The longest it may take and still count as a success.
    pub max_time: Option<Seconds>,
    /// Checks on the matched message: one it fails counts as a failure.
    pub check: Option<MatchDef>,
    /// Values taken from the matched message (`json:` or `regex:`).
    #[serde(default)]
    pub capture: IndexMap<String, CaptureDef>,
}

/// Receiving for a while.
#[derive(Debug, Default)]
pub struct HoldDef {
    pub for_: Option<Seconds>,
    pub messages: Option<u64>,
    pub until: Option<MatchDef>,
    pub count: Option<CountDef>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HoldMap {
    /// How long to keep receiving (with `messages` or `until`: the most; default 60 s there).
    #[serde(rename = "for")]
    for_: Option<Seconds>,
    /// Stop after this many messages.
    messages: Option<u64>,
    /// Stop at the first message matching this.
    until: Option<MatchDef>,
    /// Count the messages matching this in a row of their own, with a minimum.
    count: Option<CountDef>,
}

impl<'de> Deserialize<'de> for HoldDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        if v.is_mapping() {
            let m: HoldMap = serde_yaml::from_value(v).map_err(de::Error::custom)?;
            Ok(HoldDef {
                for_: m.for_,
                messages: m.messages,
                until: m.until,
                count: m.count,
            })
        } else {
            serde_yaml::from_value(v)
                .map(|s| HoldDef {
                    for_: Some(s),
                    ..HoldDef::default()
                })
                .map_err(de::Error::custom)
        }
    }
}

impl JsonSchema for HoldDef {
    fn schema_name() -> Cow<'static, str> {
        "Hold".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let seconds = generator.subschema_for::<Seconds>();
        let map = HoldMap::json_schema(generator);
        json_schema!({"anyOf": [seconds, map]})
    }
}

/// Messages counted in a row of their own.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountDef {
    /// Its row, after the stream's name: `/ws/prices ticks` (default `count`).
    pub name: Option<String>,
    /// The messages counted (default: all).
    #[serde(rename = "match", default)]
    pub match_: MatchDef,
    /// Fewer than this by the end of the hold is a failure.
    pub min: Option<u64>,
}

/// A ping.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PingDef {
    /// Its row, after the stream's name (default `ping`).
    pub name: Option<String>,
    /// How long to wait for the pong (default 10 s).
    pub within: Option<Seconds>,
}

/// Closing a WebSocket.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseDef {
    /// The close code (default 1000, normal closure).
    pub code: Option<u16>,
    /// The reason sent with it.
    pub reason: Option<String>,
}
