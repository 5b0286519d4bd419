//! The scenario file as written: serde types that mirror the YAML one to one.
//!
//! These types are the single definition of the format: serde reads files with them, schemars
//! derives the JSON Schema from them (shipped for editors, and used to report every unknown key
//! and wrong type of a file at once), and the doc comments become the schema's descriptions.
//! Meaning (which keys combine, what names refer to) is checked afterwards, in `compile`.

use std::borrow::Cow;
use std::time::Duration;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de};

mod step;
mod stream;

pub use step::{RequestDef, StepDef, StepKind};
pub use stream::{
    CloseDef, CountDef, HoldDef, MatchDef, PingDef, SendDef, SseDef, SseMethod, StreamExpectDef,
    StreamStepDef, WsDef,
};

/// A locusta load-test scenario.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "locusta scenario")]
pub struct ScenarioFile {
    /// Base URL for relative paths, e.g. `http://localhost:8000`; `-H/--host` overrides it.
    pub host: Option<String>,
    /// Request settings for every request: headers, auth, timeout, redirects, HTTP/2.
    #[serde(default)]
    pub defaults: Defaults,
    /// CSV data feeders by name; `{{ name.column }}` reads the current row.
    #[serde(default)]
    pub data: IndexMap<String, FeederDef>,
    /// The user types by name (the names typed on the command line).
    pub users: IndexMap<String, UserDef>,
    /// A load shape (Locust's LoadTestShape as data): stages run one after another, each
    /// setting the number of users for its duration; the run ends after the last one, and
    /// `-u`, `-r` and `-t` are ignored.
    #[serde(default)]
    pub stages: Vec<StageDef>,
    /// Pass/fail targets judged at the end of the run, by endpoint: `all` for all requests
    /// together, an endpoint's name (`Portfolio List`, `GET /api/`, `*Search` for several); a
    /// failed one makes the exit code 3.
    #[serde(default)]
    pub thresholds: IndexMap<String, Vec<ThresholdDef>>,
}

/// A threshold: `p95 < 800ms`, `error_rate < 1%`, `rps >= 100`, or one that can stop the run.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ThresholdDef {
    /// `METRIC OP VALUE`: median, avg, min, max, p50..p99.99, error_rate, rps, requests,
    /// failures; `<`, `<=`, `>`, `>=`; `500ms`, `2s`, `1%`, `100`.
    Expression(String),
    Detailed(ThresholdDetail),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdDetail {
    /// The threshold, as `p95 < 800ms`.
    pub check: String,
    /// Also check it every second while the run goes, and stop the run the first time it
    /// fails (from `abort_after` on, default 10 s).
    #[serde(default)]
    pub abort: bool,
    /// How long into the run the early check starts (implies `abort`).
    pub abort_after: Option<Seconds>,
}

/// One stage of a load shape.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageDef {
    /// How long the stage lasts (`2m`, `30s`); stages follow one another.
    pub duration: Seconds,
    /// The users to reach and hold during the stage.
    pub users: u64,
    /// Users started (or stopped) per second on the way; without it, the change is spread
    /// evenly over the stage (k6's ramping).
    pub spawn_rate: Option<f64>,
    /// Only these user types run during the stage (others are stopped); all by default.
    pub user_types: Option<Vec<String>>,
}

/// Settings that apply to every request unless a user type or a step says otherwise.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: IndexMap<String, Scalar>,
    /// Authentication for every request.
    pub auth: Option<AuthDef>,
    /// Request timeout (default 60 s).
    pub timeout: Option<Seconds>,
    /// Follow redirects (default true, at most 30).
    pub follow_redirects: Option<bool>,
    /// Speak HTTP/2 without negotiating it (prior knowledge; h2c for http:// URLs). Without it,
    /// HTTP/2 is used when an https:// server offers it.
    pub http2: Option<bool>,
}

/// A CSV file of rows: the header row names the columns.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeederDef {
    /// The CSV file, relative to the scenario file.
    pub csv: String,
    /// How rows are handed out (default `cycle`).
    pub mode: Option<FeederMode>,
    /// How long a user keeps its row (default `user`).
    pub per: Option<FeederScope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeederMode {
    /// Each row once, in file order; running out is an error.
    Unique,
    /// Rows in file order, starting over at the end.
    Cycle,
    /// A random row each time.
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeederScope {
    /// A user takes a row the first time it reads the feeder and keeps it.
    User,
    /// A user takes a new row for every task it runs.
    Iteration,
}

/// A kind of virtual user.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserDef {
    /// Relative share of users (default 1), as Locust's `weight`.
    pub weight: Option<f64>,
    /// Exactly this many users of this type, spawned before the weighted ones.
    pub fixed_count: Option<u64>,
    /// Leave this type out unless it is named on the command line.
    #[serde(default)]
    pub only_when_named: bool,
    /// Time between tasks (default none), as Locust's wait_time functions.
    pub wait_time: Option<WaitTimeDef>,
    /// Base URL for this type; `-H` still wins.
    pub host: Option<String>,
    /// Headers for every request of this type.
    #[serde(default)]
    pub headers: IndexMap<String, Scalar>,
    /// Authentication for every request of this type.
    pub auth: Option<AuthDef>,
    /// Request timeout for this type.
    pub timeout: Option<Seconds>,
    /// Follow redirects for this type.
    pub follow_redirects: Option<bool>,
    /// Steps run once when a user starts, in order.
    #[serde(default)]
    pub on_start: Vec<StepDef>,
    /// Steps run once when a user stops, in order.
    #[serde(default)]
    pub on_stop: Vec<StepDef>,
    /// The weighted tasks: each time, one is picked by weight and run.
    #[serde(default)]
    pub tasks: Vec<StepDef>,
}

/// Locust's wait-time functions; give exactly one.
///
/// A struct of options rather than an enum: serde_yaml reads enums only from `!tags`, and
/// `{between: [2, 5]}` is what a reader expects to write.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitTimeDef {
    /// A random time in [min, max), seconds or durations.
    pub between: Option<[Seconds; 2]>,
    /// Always the same time.
    pub constant: Option<Seconds>,
    /// Start a task every this often (when tasks are shorter).
    pub constant_pacing: Option<Seconds>,
    /// Task runs per second, per user.
    pub constant_throughput: Option<f64>,
}

/// `{basic: [user, password]}` or `{bearer: token}`; values are templates.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthDef {
    /// HTTP basic authentication: [user, password].
    pub basic: Option<[String; 2]>,
    /// A bearer token (`Authorization: Bearer ...`).
    pub bearer: Option<String>,
}

/// Checks on a response. Every check that fails is reported in Locust's CatchResponseError form.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectDef {
    /// The statuses that count as success (instead of Locust's "below 400").
    pub status: Option<OneOrMany<u16>>,
    /// Text the body must contain.
    pub body_contains: Option<OneOrMany<String>>,
    /// Regular expressions the body must match.
    pub body_matches: Option<OneOrMany<String>>,
    /// JSONPath expressions and the values they must find, e.g. `{"$.status": ok}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub json: IndexMap<String, serde_yaml::Value>,
    /// JSONPath expressions that must find something.
    pub json_exists: Option<OneOrMany<String>>,
    /// The longest the request may take.
    pub max_time: Option<Seconds>,
}

/// Where a captured value comes from: exactly one source, and options.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureDef {
    /// A cookie the response set (or the user's jar holds for this URL).
    pub cookie: Option<String>,
    /// A response header, case-insensitive.
    pub header: Option<String>,
    /// A JSONPath into a JSON body, e.g. `$.data.token`.
    pub json: Option<String>,
    /// A regular expression on the body; its first group (or `group`), else the match.
    pub regex: Option<String>,
    /// The value of an HTML form field by name (Django's `csrfmiddlewaretoken`).
    pub form_field: Option<String>,
    /// A CSS selector into an HTML body; its text, or its `attr` attribute.
    pub css: Option<String>,
    /// With `css`: the attribute to read (for example `href`).
    pub attr: Option<String>,
    /// With `regex`: which group to take.
    pub group: Option<usize>,
    /// Which match to keep: `first` (default), `last`, `random`, or `all` (a list).
    pub pick: Option<Pick>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    First,
    Last,
    Random,
    /// Every match, as a list (read one with `{{ pick(name) }}`).
    All,
}

/// A value or a list of values.
#[derive(Debug, Clone, PartialEq)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        if v.is_sequence() {
            serde_yaml::from_value(v)
                .map(OneOrMany::Many)
                .map_err(de::Error::custom)
        } else {
            serde_yaml::from_value(v)
                .map(OneOrMany::One)
                .map_err(de::Error::custom)
        }
    }
}

impl<T: JsonSchema> JsonSchema for OneOrMany<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<T>();
        json_schema!({"anyOf": [one, {"type": "array", "items": one}]})
    }
}

/// A value written as a string, number or boolean where it ends up as text
/// (`page: 2` in a query, `X-Retry: true` in headers).
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Scalar {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "number", "boolean"]})
    }
}

/// A duration written as seconds (`2`, `0.5`, as Locust's wait times are) or with a unit
/// (`500ms`, `2s`, `1m 30s`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of seconds or a duration such as `500ms`, `2s`, `1m`")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seconds, E> {
                crate::limits::seconds(v)
                    .map(Seconds)
                    .map_err(|e| E::custom(format!("a duration {e}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                self.visit_f64(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                if let Ok(n) = v.trim().parse::<f64>() {
                    return self.visit_f64(n);
                }
                let d = humantime::parse_duration(v).map_err(|e| {
                    E::custom(format!(
                        "`{v}` is not a duration ({e}); write e.g. `500ms`, `2s`, `1m 30s`"
                    ))
                })?;
                crate::limits::span(d)
                    .map(Seconds)
                    .map_err(|e| E::custom(format!("`{v}`: a duration {e}")))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Seconds {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Seconds".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["number", "string"],
            "minimum": 0,
            "description": "seconds (2, 0.5) or a duration (500ms, 2s, 1m 30s)"
        })
    }
}

/// `wait:` inside a flow: a fixed duration, or `{between: [min, max]}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaitDef {
    Fixed(Seconds),
    Between(Seconds, Seconds),
}

impl<'de> Deserialize<'de> for WaitDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Range {
            between: [Seconds; 2],
        }
        let v = serde_yaml::Value::deserialize(d)?;
        if v.is_mapping() {
            let r: Range = serde_yaml::from_value(v).map_err(de::Error::custom)?;
            Ok(WaitDef::Between(r.between[0], r.between[1]))
        } else {
            serde_yaml::from_value(v)
                .map(WaitDef::Fixed)
                .map_err(de::Error::custom)
        }
    }
}

impl JsonSchema for WaitDef {
    fn schema_name() -> Cow<'static, str> {
        "Wait".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let seconds = generator.subschema_for::<Seconds>();
        json_schema!({
            "anyOf": [
                seconds,
                {
                    "type": "object",
                    "properties": {"between": {"type": "array", "items": seconds, "minItems": 2, "maxItems": 2}},
                    "required": ["between"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// `repeat:` a count, or `[min, max]` for a random count in that range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatDef(pub u32, pub u32);

impl<'de> Deserialize<'de> for RepeatDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match OneOrMany::<u32>::deserialize(d)? {
            OneOrMany::One(n) => Ok(RepeatDef(n, n)),
            OneOrMany::Many(v) if v.len() == 2 => Ok(RepeatDef(v[0], v[1])),
            OneOrMany::Many(_) => Err(de::Error::custom("repeat takes a count or [min, max]")),
        }
    }
}

impl JsonSchema for RepeatDef {
    fn schema_name() -> Cow<'static, str> {
        "Repeat".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}
            ]
        })
    }
}

/// One part of a multipart body: text, or a file to upload.
#[derive(Debug, Clone, PartialEq)]
pub enum PartDef {
    Text(Scalar),
    File(FilePartDef),
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilePartDef {
    /// The file to send, relative to the scenario.
    pub file: String,
    /// Its content type (default application/octet-stream).
    pub content_type: Option<String>,
    /// The file name sent (default the file's own name).
    pub filename: Option<String>,
}

impl<'de> Deserialize<'de> for PartDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        if v.is_mapping() {
            serde_yaml::from_value(v)
                .map(PartDef::File)
                .map_err(de::Error::custom)
        } else {
            serde_yaml::from_value(v)
                .map(PartDef::Text)
                .map_err(de::Error::custom)
        }
    }
}

impl JsonSchema for PartDef {
    fn schema_name() -> Cow<'static, str> {
        "Part".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let file = generator.subschema_for::<FilePartDef>();
        json_schema!({"anyOf": [{"type": ["string", "number", "boolean"]}, file]})
    }
}
