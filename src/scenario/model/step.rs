//! One step of a user: which kind it is (a request, `flow`, `one_of`, `wait`, `use`, a WebSocket,
//! an SSE stream) and the keys any step can have (`name`, `repeat`, `weight`, `tags`).
//!
//! A kind is told by its head key (`get:`, `flow:`, `ws:`, ...). Each kind is one struct and one
//! entry of `KINDS`; from those come the JSON Schema (the union of every kind's keys, so unknown
//! keys and wrong types are reported with their lines as before) and the check of which keys go
//! with which head. What does not fit is kept as `StepKind::Unreadable`, for `compile` to report
//! at the step's line with every other problem of the file.

use std::borrow::Cow;
use std::sync::LazyLock;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, de};
use serde_yaml::{Mapping, Value};

use super::stream::{SseDef, WsDef};
use super::{AuthDef, CaptureDef, ExpectDef, PartDef, RepeatDef, Scalar, Seconds, WaitDef};

/// A step as written: its kind, and the keys every kind shares.
#[derive(Debug)]
pub struct StepDef {
    /// For a request: its statistics row (Locust's `name=`); for a stream, its rows' first word.
    /// For other steps: their label in `--show-task-ratio`.
    pub name: Option<String>,
    /// Run this step several times: a count or `[min, max]` (random count).
    pub repeat: Option<RepeatDef>,
    /// Relative chance of this task or `one_of` alternative (default 1; 0: never).
    pub weight: Option<u32>,
    /// Tags for `-T/--tags` and `-E/--exclude-tags`.
    pub tags: Vec<String>,
    pub kind: StepKind,
}

#[derive(Debug)]
pub enum StepKind {
    Request(Box<RequestDef>),
    Flow(Vec<StepDef>),
    OneOf(Vec<StepDef>),
    Wait(WaitDef),
    Use(String),
    Ws(Box<WsDef>),
    Sse(Box<SseDef>),
    /// A step that is no kind, or more than one, or has another kind's keys: each problem with
    /// the key it is about (`None`: the step itself).
    Unreadable(Vec<(Option<String>, String)>),
}

/// The keys any step can have.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Common {
    /// For a request: its statistics row (Locust's `name=`); for `ws`/`sse`, the name its rows
    /// start with. For other steps: their label in `--show-task-ratio`.
    name: Option<String>,
    /// Run this step several times: a count or `[min, max]` (random count).
    repeat: Option<RepeatDef>,
    /// Relative chance of this task or `one_of` alternative (default 1; 0: never).
    weight: Option<u32>,
    /// Tags for `-T/--tags` and `-E/--exclude-tags`.
    #[serde(default)]
    tags: Vec<String>,
}

const COMMON_KEYS: [&str; 4] = ["name", "repeat", "weight", "tags"];

/// The method keys of a request, in the order errors list them.
pub const METHOD_KEYS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// An HTTP request.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestDef {
    /// GET this path (joined to the host) or absolute URL.
    pub get: Option<String>,
    /// POST to this path or URL.
    pub post: Option<String>,
    /// PUT to this path or URL.
    pub put: Option<String>,
    /// PATCH this path or URL.
    pub patch: Option<String>,
    /// DELETE this path or URL.
    pub delete: Option<String>,
    /// HEAD this path or URL.
    pub head: Option<String>,
    /// OPTIONS on this path or URL.
    pub options: Option<String>,
    /// Headers of this request (or of a `ws` handshake, an `sse` request).
    #[serde(default)]
    pub headers: IndexMap<String, Scalar>,
    /// Query parameters, appended to the URL.
    #[serde(default)]
    pub query: IndexMap<String, Scalar>,
    /// A form body (application/x-www-form-urlencoded).
    pub form: Option<IndexMap<String, Scalar>>,
    /// A JSON body; strings in it are templates.
    #[schemars(with = "Option<serde_json::Value>")]
    pub json: Option<serde_yaml::Value>,
    /// A raw body (a template).
    pub body: Option<String>,
    /// A raw body read from this file (relative to the scenario).
    pub body_file: Option<String>,
    /// A multipart/form-data body: text fields, and `{file: path}` parts for uploads.
    pub multipart: Option<IndexMap<String, PartDef>>,
    /// Authentication of this request.
    pub auth: Option<AuthDef>,
    /// Checks on the response; a failed check fails the request.
    pub expect: Option<ExpectDef>,
    /// Values taken from the response for later requests of the same user.
    #[serde(default)]
    pub capture: IndexMap<String, CaptureDef>,
    /// Request timeout (for `ws`/`sse`: the longest the whole step may take).
    pub timeout: Option<Seconds>,
    /// Follow redirects.
    pub follow_redirects: Option<bool>,
}

impl RequestDef {
    /// The method keys the step sets, with their URLs.
    pub fn methods(&self) -> Vec<(&'static str, &String)> {
        METHOD_KEYS
            .iter()
            .zip([
                &self.get,
                &self.post,
                &self.put,
                &self.patch,
                &self.delete,
                &self.head,
                &self.options,
            ])
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
            .collect()
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FlowDef {
    /// Steps run in order, as one task (Locust's SequentialTaskSet).
    flow: Vec<StepDef>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OneOfDef {
    /// Weighted alternatives: one is picked each time (a nested group of tasks).
    one_of: Vec<StepDef>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WaitStepDef {
    /// Think time inside a flow: a duration, or `{between: [min, max]}`.
    wait: WaitDef,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UseDef {
    /// Run one of that user type's tasks, picked by their weights.
    #[serde(rename = "use")]
    use_tasks_of: String,
}

/// One kind of step: how errors name it, its head keys, its schema and how it is read.
struct Kind {
    label: &'static str,
    heads: &'static [&'static str],
    schema: fn(&mut SchemaGenerator) -> Schema,
    read: fn(Mapping) -> Result<StepKind, serde_yaml::Error>,
}

fn read<T: DeserializeOwned>(map: Mapping) -> Result<T, serde_yaml::Error> {
    serde_yaml::from_value(Value::Mapping(map))
}

/// Every kind of step. A new kind is a struct and a line here.
const KINDS: &[Kind] = &[
    Kind {
        label: "a request",
        heads: &METHOD_KEYS,
        schema: RequestDef::json_schema,
        read: |m| Ok(StepKind::Request(Box::new(read(m)?))),
    },
    Kind {
        label: "`flow`",
        heads: &["flow"],
        schema: FlowDef::json_schema,
        read: |m| Ok(StepKind::Flow(read::<FlowDef>(m)?.flow)),
    },
    Kind {
        label: "`one_of`",
        heads: &["one_of"],
        schema: OneOfDef::json_schema,
        read: |m| Ok(StepKind::OneOf(read::<OneOfDef>(m)?.one_of)),
    },
    Kind {
        label: "`wait`",
        heads: &["wait"],
        schema: WaitStepDef::json_schema,
        read: |m| Ok(StepKind::Wait(read::<WaitStepDef>(m)?.wait)),
    },
    Kind {
        label: "`use`",
        heads: &["use"],
        schema: UseDef::json_schema,
        read: |m| Ok(StepKind::Use(read::<UseDef>(m)?.use_tasks_of)),
    },
    Kind {
        label: "a `ws` step",
        heads: &["ws"],
        schema: WsDef::json_schema,
        read: |m| Ok(StepKind::Ws(Box::new(read(m)?))),
    },
    Kind {
        label: "an `sse` step",
        heads: &["sse"],
        schema: SseDef::json_schema,
        read: |m| Ok(StepKind::Sse(Box::new(read(m)?))),
    },
];

/// The keys of a schema's top-level properties.
fn property_keys(schema: &Schema) -> Vec<String> {
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Each kind's own keys, from its schema (so they cannot drift from the struct).
static KIND_KEYS: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    let mut generator = SchemaGenerator::default();
    KINDS
        .iter()
        .map(|k| property_keys(&(k.schema)(&mut generator)))
        .collect()
});

/// The kinds a key belongs to, in words: "a request", "a `ws` step or an `sse` step".
fn owners(key: &str) -> Option<String> {
    let labels: Vec<&str> = KINDS
        .iter()
        .zip(KIND_KEYS.iter())
        .filter(|(_, keys)| keys.iter().any(|k| k == key))
        .map(|(kind, _)| kind.label)
        .collect();
    (!labels.is_empty()).then(|| labels.join(" or "))
}

/// The head keys of the kinds a key belongs to, in words: "get/post/...", "`ws` or `sse`".
fn heads_of(key: &str) -> Option<String> {
    let heads: Vec<String> = KINDS
        .iter()
        .zip(KIND_KEYS.iter())
        .filter(|(kind, keys)| keys.iter().any(|k| k == key) && !kind.heads.contains(&key))
        .map(|(kind, _)| match kind.heads {
            [one] => format!("`{one}`"),
            _ => "get/post/...".to_string(),
        })
        .collect();
    (!heads.is_empty()).then(|| heads.join(" or "))
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Which kind `map` is, read as that kind; or what keeps it from being one.
fn read_kind(map: Mapping) -> StepKind {
    let present: Vec<usize> = KINDS
        .iter()
        .enumerate()
        .filter(|(_, k)| k.heads.iter().any(|h| map.contains_key(*h)))
        .map(|(i, _)| i)
        .collect();
    let i = match present.as_slice() {
        [] => {
            // Keys of a kind without its head: say what is missing, key by key.
            let orphans: Vec<(Option<String>, String)> = map
                .keys()
                .map(key_text)
                .filter_map(|k| {
                    let heads = heads_of(&k)?;
                    let owner = owners(&k)?;
                    Some((
                        Some(k.clone()),
                        format!("`{k}` belongs to {owner}, but this step has no {heads}"),
                    ))
                })
                .collect();
            if !orphans.is_empty() {
                return StepKind::Unreadable(orphans);
            }
            return StepKind::Unreadable(vec![(
                None,
                "a step needs a request (get, post, put, patch, delete, head, options), a `flow`, `one_of`, `wait`, `use`, `ws` or `sse`".to_string(),
            )]);
        }
        [one] => *one,
        many => {
            let labels: Vec<&str> = many.iter().map(|&i| KINDS[i].label).collect();
            return StepKind::Unreadable(vec![(
                None,
                format!("a step is one thing; this one is {}", labels.join(" and ")),
            )]);
        }
    };
    let kind = &KINDS[i];
    let own = &KIND_KEYS[i];
    let misplaced: Vec<(Option<String>, String)> = map
        .keys()
        .map(key_text)
        .filter(|k| !own.contains(k))
        .map(|k| {
            let message = match owners(&k) {
                Some(o) => format!("`{k}` belongs to {o}, but this step is {}", kind.label),
                None => format!("unknown key `{k}` in {}", kind.label),
            };
            (Some(k), message)
        })
        .collect();
    if !misplaced.is_empty() {
        return StepKind::Unreadable(misplaced);
    }
    match (kind.read)(map) {
        Ok(k) => k,
        Err(e) => StepKind::Unreadable(vec![(None, e.to_string())]),
    }
}

impl<'de> Deserialize<'de> for StepDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = Mapping::deserialize(d)?;
        let mut common = Mapping::new();
        for key in COMMON_KEYS {
            if let Some(v) = map.remove(key) {
                common.insert(Value::from(key), v);
            }
        }
        let common: Common = read(common).map_err(de::Error::custom)?;
        Ok(StepDef {
            name: common.name,
            repeat: common.repeat,
            weight: common.weight,
            tags: common.tags,
            kind: read_kind(map),
        })
    }
}

impl JsonSchema for StepDef {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }

    /// Every kind's keys in one object: the validator then names an unknown key, or a wrong
    /// type, at its line; which keys go together is `read_kind`'s to say.
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut properties = serde_json::Map::new();
        let schemas = std::iter::once(Common::json_schema(generator))
            .chain(KINDS.iter().map(|k| (k.schema)(generator)))
            .collect::<Vec<_>>();
        for schema in schemas {
            if let Some(p) = schema.get("properties").and_then(|p| p.as_object()) {
                for (k, v) in p {
                    properties.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        json_schema!({
            "description": "One step: a request (get, post, put, patch, delete, head, options), `flow`, `one_of`, `wait`, `use`, `ws` or `sse`, possibly repeated.",
            "type": "object",
            "properties": properties,
            "additionalProperties": false
        })
    }
}
