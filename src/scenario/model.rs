//! The scenario file as written: serde types that mirror the YAML one to one.
//!
//! Every struct denies unknown keys, so a typo is an error with a line and column rather than a
//! silently ignored setting. Meaning (which keys may combine, what a name refers to) is checked
//! afterwards, in `compile`.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, de};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Base URL for relative paths; `-H/--host` overrides it.
    pub host: Option<String>,
    #[serde(default)]
    pub defaults: Defaults,
    pub users: IndexMap<String, UserDef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Headers sent with every request (a step's own headers win).
    #[serde(default)]
    pub headers: IndexMap<String, Scalar>,
    /// Request timeout unless a step sets its own.
    pub timeout: Option<Seconds>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDef {
    /// Relative share of users (Locust's `weight`, default 1).
    pub weight: Option<f64>,
    /// Exactly this many users, spawned before the weighted ones (Locust's `fixed_count`).
    pub fixed_count: Option<u64>,
    /// Leave this type out unless it is named on the command line.
    #[serde(default)]
    pub only_when_named: bool,
    pub wait_time: Option<WaitTimeDef>,
    /// Overrides the file's `host` for this user type (`-H` still wins).
    pub host: Option<String>,
    #[serde(default)]
    pub headers: IndexMap<String, Scalar>,
    #[serde(default)]
    pub on_start: Vec<StepDef>,
    #[serde(default)]
    pub on_stop: Vec<StepDef>,
    #[serde(default)]
    pub tasks: Vec<StepDef>,
}

/// Locust's wait-time functions, with their names; exactly one is given.
///
/// A struct of options rather than an enum: serde_yaml reads enums only from `!tags`, and
/// `{between: [2, 5]}` is what a reader expects to write.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitTimeDef {
    pub between: Option<[Seconds; 2]>,
    pub constant: Option<Seconds>,
    pub constant_pacing: Option<Seconds>,
    /// Task runs per second, per user.
    pub constant_throughput: Option<f64>,
}

/// One entry of `tasks`, `on_start`, `on_stop` or a `flow`.
///
/// A single type for all of them keeps the vocabulary uniform: a request is written the same
/// way wherever it appears. `compile` rejects the keys that make no sense in a given place
/// (a `weight` inside a flow, a `use` in `on_start`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    pub get: Option<String>,
    pub post: Option<String>,
    pub put: Option<String>,
    pub patch: Option<String>,
    pub delete: Option<String>,
    pub head: Option<String>,
    pub options: Option<String>,
    /// For a request: the statistics row it is counted under (Locust's `name=`). For a flow or
    /// `use`: the task's label in `--show-task-ratio`.
    pub name: Option<String>,
    #[serde(default)]
    pub headers: IndexMap<String, Scalar>,
    #[serde(default)]
    pub query: IndexMap<String, Scalar>,
    pub form: Option<IndexMap<String, Scalar>>,
    pub json: Option<serde_yaml::Value>,
    pub body: Option<String>,
    pub expect: Option<ExpectDef>,
    #[serde(default)]
    pub capture: IndexMap<String, CaptureDef>,
    pub timeout: Option<Seconds>,
    pub weight: Option<u32>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub flow: Option<Vec<StepDef>>,
    #[serde(rename = "use")]
    pub use_tasks_of: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDef {
    pub status: Option<OneOrMany<u16>>,
}

/// Where a captured value comes from. Exactly one source per capture.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureDef {
    /// A cookie the response set (or the user's jar already holds for this URL).
    pub cookie: Option<String>,
    /// A response header, case-insensitive.
    pub header: Option<String>,
    /// A JSONPath into the response body (`$.data.token`).
    pub json: Option<String>,
    /// A regular expression on the body; its first group, or the whole match without groups.
    pub regex: Option<String>,
}

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
        // Through a Value, so a wrong type reads "expected a value or a list" instead of
        // serde's "data did not match any variant".
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

/// A scalar written as a string, number or boolean, used where the value ends up as text
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
                Duration::try_from_secs_f64(v).map(Seconds).map_err(|_| {
                    E::custom(format!(
                        "`{v}` is not a valid number of seconds (it must be 0 or more)"
                    ))
                })
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
                humantime::parse_duration(v).map(Seconds).map_err(|e| {
                    E::custom(format!(
                        "`{v}` is not a duration ({e}); write e.g. `500ms`, `2s`, `1m 30s`"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}
