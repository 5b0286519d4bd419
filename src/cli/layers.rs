//! Settings that do not come from the command line: `LOCUST_*` environment variables and
//! config files, read the way Locust (configargparse) reads them.
//!
//! Each source yields (option, value) entries, which `cli` parses with the same definitions as
//! command-line options, so a bad value reads the same wherever it was written.

use std::path::{Path, PathBuf};

/// One option set by a config file or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The long option name without dashes (`spawn-rate`).
    pub key: String,
    pub value: Value,
    /// Where it was written, for error messages (`locust.conf:3`, `LOCUST_USERS`).
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    List(Vec<String>),
}

/// Config sources from lowest to highest precedence, as Locust's code really orders them
/// (observed: `pyproject.toml` beats `locust.conf`, although Locust's documentation says the
/// opposite). `locusta.conf` sits just above its Locust namesake in the same folder.
pub fn config_files(home: Option<&Path>, explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(home) = home {
        files.push(home.join(".locust.conf"));
        files.push(home.join(".locusta.conf"));
    }
    files.push(PathBuf::from("locust.conf"));
    files.push(PathBuf::from("locusta.conf"));
    files.push(PathBuf::from("pyproject.toml"));
    if let Some(p) = explicit {
        files.push(p.to_path_buf());
    }
    files
}

/// Reads one config file; `Ok(None)` when an implicit file does not exist.
pub fn read_config_file(path: &Path, must_exist: bool) -> Result<Option<Vec<Entry>>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => return Ok(None),
        Err(e) => return Err(format!("cannot read config file {}: {e}", path.display())),
    };
    let name = path.display().to_string();
    if path.extension().is_some_and(|e| e == "toml") {
        parse_pyproject(&text, &name).map(Some)
    } else {
        parse_conf(&text, &name).map(Some)
    }
}

/// configargparse's `key = value` format: also `key: value` and `key value`; `#`/`;` comments;
/// `[sections]` ignored; a bare `key` is a flag set to true; `[a, b]` is a list.
pub fn parse_conf(text: &str, name: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';', '[']) || line.starts_with("---") {
            continue;
        }
        let origin = format!("{name}:{}", i + 1);
        let split = line.find([':', '=', ' ', '\t']);
        let (key, rest) = match split {
            Some(at) => {
                // `key = value`, `key: value`, `key value`: one separator, spaces around it.
                let rest = line[at..].trim_start();
                let rest = rest.strip_prefix([':', '=']).unwrap_or(rest);
                (&line[..at], Some(rest.trim()))
            }
            None => (line, None),
        };
        if key.is_empty() {
            return Err(format!("Unexpected line {} in {name}: {raw}", i + 1));
        }
        let mut value = match rest {
            None => "true".to_string(),
            Some(v) => strip_inline_comment(v).to_string(),
        };
        for q in ['"', '\''] {
            if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
                value = value[1..value.len() - 1].to_string();
            }
        }
        let value = if value.starts_with('[') && value.ends_with(']') {
            Value::List(parse_list(&value))
        } else {
            Value::Text(value)
        };
        entries.push(Entry {
            key: key.to_string(),
            value,
            origin,
        });
    }
    Ok(entries)
}

fn strip_inline_comment(v: &str) -> &str {
    for (i, c) in v.char_indices() {
        if (c == '#' || c == ';') && i > 0 && v[..i].ends_with(char::is_whitespace) {
            return v[..i].trim_end();
        }
    }
    v
}

fn parse_list(value: &str) -> Vec<String> {
    if let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(value) {
        return items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
    }
    value[1..value.len() - 1]
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `[tool.locust]` of a `pyproject.toml`; values become text as Python's `str()` writes them.
pub fn parse_pyproject(text: &str, name: &str) -> Result<Vec<Entry>, String> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| format!("{name} is not valid TOML: {e}"))?;
    let Some(section) = table
        .get("tool")
        .and_then(|t| t.get("locust"))
        .and_then(|t| t.as_table())
    else {
        return Ok(Vec::new());
    };
    fn python_str(v: &toml::Value) -> String {
        match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Boolean(true) => "True".to_string(),
            toml::Value::Boolean(false) => "False".to_string(),
            other => other.to_string(),
        }
    }
    Ok(section
        .iter()
        .map(|(k, v)| Entry {
            key: k.clone(),
            value: match v {
                toml::Value::Array(items) => Value::List(items.iter().map(python_str).collect()),
                other => Value::Text(python_str(other)),
            },
            origin: format!("{name} [tool.locust]"),
        })
        .collect())
}

/// `LOCUST_*` variables for the given option keys (`spawn-rate` ↔ `LOCUST_SPAWN_RATE`). List
/// options take `[a, b]` (a plain `a b` is one value, as in Locust).
pub fn env_entries(keys: &[(String, bool)], lookup: impl Fn(&str) -> Option<String>) -> Vec<Entry> {
    let mut out = Vec::new();
    for (key, is_list) in keys {
        let (key, is_list) = (key.as_str(), *is_list);
        let var = env_name(key);
        let Some(v) = lookup(&var) else { continue };
        let value = if is_list && v.starts_with('[') && v.ends_with(']') {
            Value::List(parse_list(&v))
        } else if is_list {
            Value::List(vec![v])
        } else {
            Value::Text(v)
        };
        out.push(Entry {
            key: key.to_string(),
            value,
            origin: var,
        });
    }
    out
}

pub fn env_name(key: &str) -> String {
    // Locust's names for the distributed options do not follow its own rule.
    match key {
        "master" => "LOCUST_MODE_MASTER".to_string(),
        "worker" => "LOCUST_MODE_WORKER".to_string(),
        "master-host" => "LOCUST_MASTER_NODE_HOST".to_string(),
        "master-port" => "LOCUST_MASTER_NODE_PORT".to_string(),
        _ => format!("LOCUST_{}", key.to_ascii_uppercase().replace('-', "_")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(key: &str, v: &str, origin: &str) -> Entry {
        Entry {
            key: key.into(),
            value: Value::Text(v.into()),
            origin: origin.into(),
        }
    }

    #[test]
    fn conf_syntax_like_configargparse() {
        let conf = "\
# comment
[section]
users = 7
spawn-rate: 2
host http://localhost:8000
headless
tags = [Critical, Normal]
csv = \"out/run\" # trailing comment
";
        let e = parse_conf(conf, "locust.conf").unwrap();
        assert_eq!(e[0], text("users", "7", "locust.conf:3"));
        assert_eq!(e[1], text("spawn-rate", "2", "locust.conf:4"));
        assert_eq!(e[2], text("host", "http://localhost:8000", "locust.conf:5"));
        assert_eq!(e[3], text("headless", "true", "locust.conf:6"));
        assert_eq!(
            e[4].value,
            Value::List(vec!["Critical".into(), "Normal".into()])
        );
        assert_eq!(e[5], text("csv", "out/run", "locust.conf:8"));
    }

    #[test]
    fn pyproject_values_are_pythons_str() {
        let toml = "[tool.locust]\nusers = 9\nheadless = true\ntags = [\"a\", \"b\"]\n[tool.other]\nx = 1\n";
        let e = parse_pyproject(toml, "pyproject.toml").unwrap();
        let users = e.iter().find(|e| e.key == "users").unwrap();
        assert_eq!(users.value, Value::Text("9".into()));
        let headless = e.iter().find(|e| e.key == "headless").unwrap();
        assert_eq!(headless.value, Value::Text("True".into()));
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn env_lists_need_brackets() {
        let keys = [("tags".to_string(), true), ("users".to_string(), false)];
        let env = |v: &str| match v {
            "LOCUST_TAGS" => Some("[p, q]".to_string()),
            "LOCUST_USERS" => Some("3".to_string()),
            _ => None,
        };
        let e = env_entries(&keys, env);
        assert_eq!(e[0].value, Value::List(vec!["p".into(), "q".into()]));
        assert_eq!(e[1], text("users", "3", "LOCUST_USERS"));
        let e = env_entries(&keys, |v| (v == "LOCUST_TAGS").then(|| "p q".to_string()));
        assert_eq!(e[0].value, Value::List(vec!["p q".into()]));
    }
}
