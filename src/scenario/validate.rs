//! Every unknown key and wrong type of a scenario file at once, each with its line and column.
//!
//! The JSON Schema is derived from the serde types in `model` (schemars), so the checks cannot
//! drift from what the parser accepts; a mature validator (jsonschema) finds every violation,
//! and this module turns each into a sentence at the right place in the file.

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use serde_json::Value;

use super::compile::did_you_mean;
use super::model::ScenarioFile;
use super::positions::{Node, YamlPath};
use super::{Diagnostic, Pos};

/// The scenario format as a JSON Schema (what `locusta schema` prints and editors load).
pub fn schema() -> &'static Value {
    static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
        serde_json::to_value(schemars::schema_for!(ScenarioFile)).expect("a schema is JSON")
    });
    &SCHEMA
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: LazyLock<jsonschema::Validator> =
        LazyLock::new(|| jsonschema::validator_for(schema()).expect("the derived schema is valid"));
    &VALIDATOR
}

/// A YAML document as JSON, for validation: keys become strings, as YAML allows numbers there.
pub fn to_json(v: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .or_else(|| {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
            })
            .unwrap_or(Value::Null),
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => to_json(&t.value),
    }
}

/// A JSON pointer into `doc` as a YAML path (a numeric segment is an index only in a list).
fn yaml_path(doc: &Value, segments: impl Iterator<Item = String>) -> YamlPath {
    let mut path = YamlPath::default();
    let mut at = Some(doc);
    for seg in segments {
        match at {
            Some(Value::Array(items)) => {
                let i: usize = seg.parse().unwrap_or(usize::MAX);
                at = items.get(i);
                path = path.index(i);
            }
            Some(Value::Object(map)) => {
                at = map.get(&seg);
                path = path.key(&seg);
            }
            _ => {
                at = None;
                path = path.key(&seg);
            }
        }
    }
    path
}

fn segments(location: &jsonschema::paths::Location) -> Vec<String> {
    location
        .iter()
        .map(|s| match s {
            LocationSegment::Property(p) => p.into_owned(),
            LocationSegment::Index(i) => i.to_string(),
        })
        .collect()
}

/// The schema at a keyword location, following `$ref`s as the validator did.
fn schema_at(location: &[String]) -> Option<&'static Value> {
    let root = schema();
    let mut at = root;
    for seg in location {
        if seg == "$ref" {
            let target = at.get("$ref")?.as_str()?.trim_start_matches('#');
            at = root.pointer(target)?;
        } else {
            at = match at {
                Value::Object(m) => m.get(seg)?,
                Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
    }
    Some(at)
}

fn resolve(s: &'static Value) -> &'static Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => schema().pointer(r.trim_start_matches('#')).unwrap_or(s),
        None => s,
    }
}

fn type_word(t: &str) -> &'static str {
    match t {
        "object" => "a map",
        "array" => "a list",
        "string" => "text",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "true or false",
        _ => "nothing",
    }
}

/// What a schema accepts, in words: "a number or text", "a list of whole numbers".
fn describe_schema(s: &'static Value) -> String {
    let s = resolve(s);
    if let Some(options) = s.get("anyOf").and_then(Value::as_array) {
        let words: Vec<String> = options
            .iter()
            .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
            .map(describe_schema)
            .collect();
        return words.join(" or ");
    }
    if let Some(values) = allowed_values(s) {
        let names: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return format!("one of {}", names.join(", "));
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => return "something else".to_string(),
    };
    let words: Vec<String> = types
        .iter()
        .map(|t| match (*t, s.get("items")) {
            ("array", Some(items)) => format!("a list of {}", plural(&describe_schema(items))),
            ("object", _) => match s.get("properties").and_then(Value::as_object) {
                Some(p) if p.len() <= 3 => {
                    let keys: Vec<String> = p.keys().map(|k| format!("`{k}`")).collect();
                    format!("a map with {}", keys.join(" or "))
                }
                _ => "a map".to_string(),
            },
            (t, _) => type_word(t).to_string(),
        })
        .collect();
    words.join(" or ")
}

fn plural(words: &str) -> String {
    words
        .replace("a whole number", "whole numbers")
        .replace("a number", "numbers")
        .replace("a map", "maps")
        .replace("a list", "lists")
}

fn describe_value(v: &Value) -> String {
    match v {
        Value::Null => "nothing".to_string(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text \"{s}\""),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a map".to_string(),
    }
}

/// The values a schema allows, when it is a list of them (`enum`, or a `oneOf` of `const`s,
/// which is how schemars writes documented enum variants).
fn allowed_values(s: &'static Value) -> Option<Vec<String>> {
    let s = resolve(s);
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
        );
    }
    let options = s.get("oneOf").or_else(|| s.get("anyOf"))?.as_array()?;
    options
        .iter()
        .map(|o| o.get("const").and_then(Value::as_str).map(String::from))
        .collect()
}

/// The variants of an enum schemars writes as single-key maps (`{"send": ...}`): each
/// alternative an object requiring exactly one key.
fn single_key_variants(s: &'static Value) -> Option<Vec<String>> {
    let s = resolve(s);
    let options = s.get("oneOf").or_else(|| s.get("anyOf"))?.as_array()?;
    options
        .iter()
        .map(|o| {
            let o = resolve(o);
            match o.get("required")?.as_array()?.as_slice() {
                [Value::String(k)] if o.get("type")? == "object" => Some(k.clone()),
                _ => None,
            }
        })
        .collect()
}

fn not_one_of(found: &Value, names: &[String]) -> String {
    let found = found
        .as_str()
        .map_or_else(|| found.to_string(), String::from);
    let hint = did_you_mean(&found, names.iter().map(String::as_str))
        .map(|s| format!(", did you mean `{s}`?"))
        .unwrap_or_default();
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("`{found}` is not one of {}{hint}", list.join(", "))
}

/// "user `A`" for `users.A`, "`users.A.tasks[0]`" elsewhere, "the scenario" at the top.
fn place(path: &YamlPath) -> String {
    let text = path.to_string();
    if text.is_empty() {
        return "the scenario".to_string();
    }
    match text.strip_prefix("users.") {
        Some(user) if !user.contains(['.', '[']) => format!("user `{user}`"),
        _ => format!("`{text}`"),
    }
}

struct Located {
    path: YamlPath,
    message: String,
}

/// Turns one validator error into sentences (an unknown-keys error names each key).
fn explain(doc: &Value, error: &jsonschema::ValidationError<'_>, out: &mut Vec<Located>) {
    let path = yaml_path(doc, segments(error.instance_path()).into_iter());
    let keyword = segments(error.schema_path());
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let object = schema_at(&keyword[..keyword.len().saturating_sub(1)]);
            let allowed: Vec<&str> = object
                .and_then(|o| o.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            for key in unexpected {
                let message = match did_you_mean(key, allowed.iter().copied()) {
                    Some(s) => format!(
                        "unknown key `{key}` in {}, did you mean `{s}`?",
                        place(&path)
                    ),
                    None if allowed.is_empty() => {
                        format!("unknown key `{key}` in {}", place(&path))
                    }
                    None => {
                        let list: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
                        format!(
                            "unknown key `{key}` in {} (expected one of {})",
                            place(&path),
                            list.join(", ")
                        )
                    }
                };
                out.push(Located {
                    path: path.key(key),
                    message,
                });
            }
        }
        ValidationErrorKind::Required { property } => {
            let key = property.as_str().unwrap_or_default();
            let message = if path.0.is_empty() && key == "users" {
                "missing key `users`: a scenario defines at least one user type".to_string()
            } else {
                format!("missing key `{key}` in {}", place(&path))
            };
            out.push(Located { path, message });
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let holder = schema_at(&keyword[..keyword.len().saturating_sub(1)]);
            if let Some(names) = holder.and_then(allowed_values) {
                out.push(Located {
                    message: not_one_of(error.instance(), &names),
                    path,
                });
                return;
            }
            // An enum written as a single-key map (`- send: ...`): the key says which one.
            if let Some(variants) = holder.and_then(single_key_variants)
                && let Some(map) = error.instance().as_object()
            {
                let keys: Vec<&String> = map.keys().collect();
                match keys.as_slice() {
                    [key] => match variants.iter().position(|v| v == *key) {
                        Some(i) => {
                            for e in context.get(i).into_iter().flatten() {
                                explain(doc, e, out);
                            }
                        }
                        None => out.push(Located {
                            message: not_one_of(&Value::String((*key).clone()), &variants),
                            path: path.key(key),
                        }),
                    },
                    _ => {
                        let list: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
                        out.push(Located {
                            message: format!(
                                "give one key, one of {}; found {}",
                                list.join(", "),
                                if keys.is_empty() {
                                    "none".to_string()
                                } else {
                                    keys.iter()
                                        .map(|k| format!("`{k}`"))
                                        .collect::<Vec<_>>()
                                        .join(" and ")
                                }
                            ),
                            path,
                        });
                    }
                }
                return;
            }
            // The alternative the writer meant is one whose type the value has: its errors say
            // what is wrong inside. When no alternative has the right type, say what would be.
            let here = error.instance_path().as_str();
            let meant = context.iter().find(|errors| {
                !errors.iter().any(|e| {
                    matches!(e.kind(), ValidationErrorKind::Type { .. })
                        && e.instance_path().as_str() == here
                })
            });
            match meant {
                Some(errors) => {
                    for e in errors {
                        explain(doc, e, out);
                    }
                }
                None => {
                    let expected = holder.map(describe_schema).unwrap_or_default();
                    out.push(Located {
                        message: format!(
                            "expected {expected}, found {}",
                            describe_value(error.instance())
                        ),
                        path,
                    });
                }
            }
        }
        ValidationErrorKind::Enum { options } => {
            let names: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect();
            out.push(Located {
                message: not_one_of(error.instance(), &names),
                path,
            });
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => {
            out.push(Located {
                message: format!(
                    "must be at least {limit}, found {}",
                    describe_value(error.instance())
                ),
                path,
            });
        }
        ValidationErrorKind::MinItems { limit } | ValidationErrorKind::MaxItems { limit } => {
            out.push(Located {
                message: format!(
                    "expected {limit} items, found {}",
                    error.instance().as_array().map_or(0, Vec::len)
                ),
                path,
            });
        }
        _ => {
            let parent = schema_at(&keyword[..keyword.len().saturating_sub(1)]);
            let message = match (error.kind(), parent) {
                (ValidationErrorKind::Type { .. }, Some(p)) => {
                    format!(
                        "expected {}, found {}",
                        describe_schema(p),
                        describe_value(error.instance())
                    )
                }
                _ => error.to_string(),
            };
            out.push(Located { path, message });
        }
    }
}

/// Every schema violation of `doc`, located in the file.
pub fn check(file: &str, doc: &Value, positions: Option<&Node>) -> Vec<Diagnostic> {
    let mut located = Vec::new();
    for error in validator().iter_errors(doc) {
        explain(doc, &error, &mut located);
    }
    let mut out: Vec<Diagnostic> = located
        .into_iter()
        .map(|l| {
            let pos = positions.map(|p| p.find(&l.path));
            let message = if l.path.0.is_empty() || l.message.starts_with("unknown key") {
                l.message
            } else {
                format!("{}: {}", l.path, l.message)
            };
            Diagnostic {
                file: file.to_string(),
                pos,
                message,
            }
        })
        .collect();
    out.sort_by_key(|d| d.pos.map(|p: Pos| (p.line, p.column)));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        let positions = super::super::positions::index(yaml);
        check("s.yaml", &to_json(&value), positions.as_ref())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_unknown_key_and_wrong_type_at_once() {
        let yaml = "\
users:
  PortfolioUser:
    wieght: 3
    wait_time: {betwen: [1, 2]}
    tasks:
      - get: /a
        nmae: x
        weight: lots
      - get: /b
        expect: {status: [200, teapot]}
hots: http://x
";
        let p = problems(yaml);
        assert!(
            p.contains(
                &"s.yaml:3:5: unknown key `wieght` in user `PortfolioUser`, did you mean `weight`?"
                    .to_string()
            ),
            "{p:#?}"
        );
        assert!(p.contains(&"s.yaml:4:17: unknown key `betwen` in `users.PortfolioUser.wait_time`, did you mean `between`?".to_string()), "{p:#?}");
        assert!(p.contains(&"s.yaml:7:9: unknown key `nmae` in `users.PortfolioUser.tasks[0]`, did you mean `name`?".to_string()), "{p:#?}");
        assert!(p.contains(&"s.yaml:8:9: users.PortfolioUser.tasks[0].weight: expected a whole number, found the text \"lots\"".to_string()), "{p:#?}");
        assert!(p.contains(&"s.yaml:10:32: users.PortfolioUser.tasks[1].expect.status[1]: expected a whole number, found the text \"teapot\"".to_string()), "{p:#?}");
        assert!(
            p.contains(
                &"s.yaml:11:1: unknown key `hots` in the scenario, did you mean `host`?"
                    .to_string()
            ),
            "{p:#?}"
        );
        assert_eq!(p.len(), 6, "{p:#?}");
    }

    #[test]
    fn shapes_and_choices_in_words() {
        let p = problems("users:\n  A:\n    tasks: {get: /}\n");
        assert_eq!(
            p,
            ["s.yaml:3:5: users.A.tasks: expected a list of maps, found a map"]
        );
        let p = problems("data:\n  logins: {csv: x.csv, mode: uniqe}\nusers: {}\n");
        assert_eq!(
            p,
            [
                "s.yaml:2:24: data.logins.mode: `uniqe` is not one of `unique`, `cycle`, `random`, did you mean `unique`?"
            ]
        );
        let p = problems("users:\n  A:\n    timeout: true\n");
        assert_eq!(
            p,
            ["s.yaml:3:5: users.A.timeout: expected a number or text, found `true`"]
        );
        let p = problems("{}\n");
        assert_eq!(
            p,
            ["s.yaml:1:1: missing key `users`: a scenario defines at least one user type"]
        );
    }
}
