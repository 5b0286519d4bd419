//! From the file as written (`model`) to what the engine runs, checking everything serde cannot:
//! which keys combine, what names refer to, whether every `{{ variable }}` is captured first.
//! Problems are collected, not stopped at, so one run of `locusta` lists them all.

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use http::{HeaderName, Method};
use regex::Regex;

use super::model::{self, CaptureDef, ScenarioFile, StepDef, UserDef, WaitTimeDef};
use super::positions::{Node, YamlPath};
use super::template::{BUILTIN_VARIABLES, Template};
use super::{
    Body, Capture, CaptureSource, Diagnostic, JsonTemplate, Origin, RequestSpec, Scenario,
    ScenarioError, Step, Task, TaskAction, UserType, WaitTime,
};

const METHOD_KEYS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// Closest of `candidates` to `word`, if it is close enough to be a plausible slip: a typo, or
/// the start of the one name that begins so (`Portfolio` for `PortfolioUser`).
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let typo = candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|&(d, c)| d <= 2.max(c.len() / 4) && d < c.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c);
    typo.or_else(|| {
        let lower = word.to_lowercase();
        let mut prefixed = candidates
            .iter()
            .filter(|c| lower.len() >= 3 && c.to_lowercase().starts_with(&lower));
        match (prefixed.next(), prefixed.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

/// Rewrites serde_yaml's messages into ours: no trailing "at line N column M" (the position is
/// printed in front), "key" rather than "field", and a suggestion for typos.
pub(crate) fn explain_serde_error(message: &str) -> String {
    static AT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r" at line \d+ column \d+").expect("valid regex"));
    static UNKNOWN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:(?P<path>[^:`]+): )?unknown (?P<what>field|variant) `(?P<key>[^`]*)`, (?P<rest>expected .*)$")
            .expect("valid regex")
    });
    static MISSING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:(?P<path>[^:`]+): )?missing field `(?P<key>[^`]*)`$").expect("valid regex")
    });
    let message = AT.replace(message, "").into_owned();
    if let Some(c) = UNKNOWN.captures(&message) {
        let key = &c["key"];
        let rest = &c["rest"];
        let candidates: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        let place = match c.name("path").map(|p| p.as_str()) {
            Some(p) => match p.strip_prefix("users.") {
                Some(user) if !user.contains(['.', '[']) => format!(" in user `{user}`"),
                _ => format!(" in `{p}`"),
            },
            None => " at the top level".to_string(),
        };
        let noun = if &c["what"] == "field" {
            "key"
        } else {
            "value"
        };
        let hint = did_you_mean(key, candidates.iter().copied())
            .map(|s| format!(", did you mean `{s}`?"))
            .unwrap_or_default();
        return format!("unknown {noun} `{key}`{place}{hint} ({rest})");
    }
    if let Some(c) = MISSING.captures(&message) {
        let place = c
            .name("path")
            .map(|p| format!(" in `{}`", p.as_str()))
            .unwrap_or_default();
        return format!("missing key `{}`{place}", &c["key"]);
    }
    message
}

struct Compiler<'a> {
    file: &'a str,
    positions: Option<&'a Node>,
    errors: Vec<Diagnostic>,
    user_names: Vec<String>,
}

/// A compiled entry of a task list, before the task-level keys are attached.
enum Entry {
    Request(Box<RequestSpec>),
    Flow(Vec<Step>),
    Use(usize),
}

/// Where a step stands, which decides the keys it may use.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Task,
    FlowStep,
    Hook,
}

impl Compiler<'_> {
    fn pos(&self, path: &YamlPath) -> Option<super::Pos> {
        self.positions.map(|root| root.find(path))
    }

    fn error(&mut self, path: &YamlPath, message: impl Into<String>) {
        let pos = self.pos(path);
        self.errors.push(Diagnostic {
            file: self.file.to_string(),
            pos,
            message: format!("{path}: {}", message.into()),
        });
    }

    fn template(&mut self, path: &YamlPath, source: &str) -> Template {
        Template::parse(source).unwrap_or_else(|e| {
            self.error(path, e.0);
            Template::parse("").expect("empty template parses")
        })
    }

    fn check_url(&mut self, path: &YamlPath, url: &str, what: &str) {
        if url.is_empty() {
            self.error(path, format!("{what} is empty"));
        } else if !is_absolute(url) && !url.starts_with('/') && !url.starts_with("{{") {
            self.error(
                path,
                format!("{what} `{url}` must start with `/` (a path on the host) or be an absolute http(s):// URL"),
            );
        }
    }

    fn check_host(&mut self, path: &YamlPath, host: &str) {
        if url::Url::parse(host).map_or(true, |u| {
            !matches!(u.scheme(), "http" | "https") || !u.has_host()
        }) {
            self.error(path, format!("`{host}` is not an http:// or https:// URL"));
        }
    }

    fn headers(
        &mut self,
        path: &YamlPath,
        map: &indexmap::IndexMap<String, model::Scalar>,
    ) -> Vec<(HeaderName, Template)> {
        let mut out = Vec::new();
        for (name, value) in map {
            let p = path.key(name);
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) => {
                    let t = self.template(&p, &value.0);
                    out.push((h, t));
                }
                Err(_) => self.error(&p, format!("`{name}` is not a valid HTTP header name")),
            }
        }
        out
    }

    fn wait_time(&mut self, path: &YamlPath, def: Option<WaitTimeDef>) -> WaitTime {
        let zero = WaitTime::Constant(Duration::ZERO);
        let Some(def) = def else {
            return zero;
        };
        let given = [
            def.between.is_some(),
            def.constant.is_some(),
            def.constant_pacing.is_some(),
            def.constant_throughput.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            self.error(
                path,
                "give exactly one of `between: [min, max]`, `constant`, `constant_pacing`, `constant_throughput`",
            );
            return zero;
        }
        if let Some([a, b]) = def.between {
            if a.0 > b.0 {
                self.error(
                    &path.key("between"),
                    format!(
                        "the minimum ({:?}) is larger than the maximum ({:?})",
                        a.0, b.0
                    ),
                );
            }
            WaitTime::Between(a.0, b.0)
        } else if let Some(c) = def.constant {
            WaitTime::Constant(c.0)
        } else if let Some(p) = def.constant_pacing {
            WaitTime::ConstantPacing(p.0)
        } else {
            let n = def.constant_throughput.unwrap_or_default();
            if n.is_finite() && n > 0.0 {
                WaitTime::ConstantPacing(Duration::from_secs_f64(1.0 / n))
            } else {
                self.error(
                    &path.key("constant_throughput"),
                    format!("constant_throughput requires a positive rate, got: {n}"),
                );
                zero
            }
        }
    }

    fn capture(&mut self, path: &YamlPath, variable: &str, def: &CaptureDef) -> Option<Capture> {
        if !is_identifier(variable) {
            self.error(
                path,
                format!("`{variable}` is not a valid variable name (letters, digits and `_`)"),
            );
            return None;
        }
        if BUILTIN_VARIABLES.contains(&variable) {
            self.error(
                path,
                format!("`{variable}` is a built-in value and cannot be captured into"),
            );
            return None;
        }
        let given: Vec<&str> = [
            ("cookie", def.cookie.is_some()),
            ("header", def.header.is_some()),
            ("json", def.json.is_some()),
            ("regex", def.regex.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        if given.len() != 1 {
            let msg = if given.is_empty() {
                "say where to capture from: one of `cookie`, `header`, `json`, `regex`".to_string()
            } else {
                format!("give one source per capture, not {}", given.join(" and "))
            };
            self.error(path, msg);
            return None;
        }
        let source = if let Some(c) = &def.cookie {
            CaptureSource::Cookie(c.clone())
        } else if let Some(h) = &def.header {
            match HeaderName::from_bytes(h.as_bytes()) {
                Ok(h) => CaptureSource::Header(h),
                Err(_) => {
                    self.error(
                        &path.key("header"),
                        format!("`{h}` is not a valid HTTP header name"),
                    );
                    return None;
                }
            }
        } else if let Some(j) = &def.json {
            match serde_json_path::JsonPath::parse(j) {
                Ok(p) => CaptureSource::Json {
                    path: p,
                    source: j.clone(),
                },
                Err(e) => {
                    self.error(
                        &path.key("json"),
                        format!("`{j}` is not a JSONPath ({e}); write e.g. `$.data.token`"),
                    );
                    return None;
                }
            }
        } else {
            let r = def.regex.as_deref().unwrap_or_default();
            match Regex::new(r) {
                Ok(re) => CaptureSource::Regex(re),
                Err(e) => {
                    let first_line = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    self.error(
                        &path.key("regex"),
                        format!("invalid regular expression: {first_line}"),
                    );
                    return None;
                }
            }
        };
        Some(Capture {
            variable: variable.to_string(),
            source,
        })
    }

    fn json(&mut self, path: &YamlPath, v: &serde_yaml::Value) -> JsonTemplate {
        use serde_yaml::Value;
        match v {
            Value::Null => JsonTemplate::Null,
            Value::Bool(b) => JsonTemplate::Bool(*b),
            Value::Number(n) => {
                let num = if let Some(i) = n.as_i64() {
                    serde_json::Number::from(i)
                } else if let Some(u) = n.as_u64() {
                    serde_json::Number::from(u)
                } else {
                    n.as_f64()
                        .and_then(serde_json::Number::from_f64)
                        .unwrap_or_else(|| {
                            self.error(path, format!("`{n}` cannot be written in JSON"));
                            serde_json::Number::from(0)
                        })
                };
                JsonTemplate::Number(num)
            }
            Value::String(s) => JsonTemplate::String(self.template(path, s)),
            Value::Sequence(items) => JsonTemplate::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.json(&path.index(i), item))
                    .collect(),
            ),
            Value::Mapping(m) => {
                let mut entries = Vec::new();
                for (k, v) in m {
                    let key = match k {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => {
                            self.error(path, "JSON object keys must be strings");
                            continue;
                        }
                    };
                    let value = self.json(&path.key(&key), v);
                    entries.push((key, value));
                }
                JsonTemplate::Object(entries)
            }
            Value::Tagged(t) => {
                self.error(path, format!("YAML tag `{}` has no JSON meaning", t.tag));
                JsonTemplate::Null
            }
        }
    }

    fn request(
        &mut self,
        path: &YamlPath,
        def: &StepDef,
        method_key: &str,
        url: &str,
        user_headers: &[(HeaderName, Template)],
    ) -> RequestSpec {
        let url_path = path.key(method_key);
        self.check_url(&url_path, url, "the URL");
        let url_template = self.template(&url_path, url);
        let mut headers: Vec<(HeaderName, Template)> = user_headers.to_vec();
        for (name, t) in self.headers(&path.key("headers"), &def.headers) {
            headers.retain(|(h, _)| *h != name);
            headers.push((name, t));
        }
        let query: Vec<(String, Template)> = def
            .query
            .iter()
            .map(|(k, v)| (k.clone(), self.template(&path.key("query").key(k), &v.0)))
            .collect();
        let bodies = [def.form.is_some(), def.json.is_some(), def.body.is_some()];
        if bodies.iter().filter(|b| **b).count() > 1 {
            self.error(path, "give at most one of `form`, `json` and `body`");
        }
        let body = if let Some(form) = &def.form {
            Body::Form(
                form.iter()
                    .map(|(k, v)| (k.clone(), self.template(&path.key("form").key(k), &v.0)))
                    .collect(),
            )
        } else if let Some(json) = &def.json {
            Body::Json(self.json(&path.key("json"), json))
        } else if let Some(raw) = &def.body {
            Body::Raw(self.template(&path.key("body"), raw))
        } else {
            Body::None
        };
        let expect_status = def
            .expect
            .as_ref()
            .and_then(|e| e.status.clone())
            .map(|s| s.into_vec());
        if let Some(statuses) = &expect_status {
            if statuses.is_empty() {
                self.error(
                    &path.key("expect").key("status"),
                    "list at least one status",
                );
            }
            for s in statuses {
                if !(100..=999).contains(s) {
                    self.error(
                        &path.key("expect").key("status"),
                        format!("`{s}` is not an HTTP status"),
                    );
                }
            }
        }
        let captures = def
            .capture
            .iter()
            .filter_map(|(var, c)| self.capture(&path.key("capture").key(var), var, c))
            .collect();
        let name = def
            .name
            .clone()
            .unwrap_or_else(|| default_name(url, &def.query));
        RequestSpec {
            method: Method::from_bytes(method_key.to_ascii_uppercase().as_bytes())
                .expect("known method"),
            url: url_template,
            absolute: is_absolute(url),
            name,
            headers,
            query,
            body,
            expect_status,
            captures,
            timeout: def.timeout.map(|s| s.0),
            origin: Origin {
                file: self.file.to_string(),
                pos: self.pos(&url_path).unwrap_or_default(),
                path: path.to_string(),
            },
        }
    }

    /// Compiles one entry of `tasks`, a flow, `on_start` or `on_stop`.
    fn entry(
        &mut self,
        path: &YamlPath,
        def: &StepDef,
        place: Place,
        user_headers: &[(HeaderName, Template)],
    ) -> Option<Entry> {
        let methods: Vec<(&str, &String)> = METHOD_KEYS
            .iter()
            .zip([
                &def.get,
                &def.post,
                &def.put,
                &def.patch,
                &def.delete,
                &def.head,
                &def.options,
            ])
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
            .collect();
        if methods.len() > 1 {
            let keys: Vec<String> = methods.iter().map(|(k, _)| format!("`{k}`")).collect();
            self.error(
                path,
                format!(
                    "{} given: a step makes one request; split it into a flow",
                    keys.join(" and ")
                ),
            );
            return None;
        }
        if place != Place::Task {
            for (key, set) in [
                ("weight", def.weight.is_some()),
                ("tags", !def.tags.is_empty()),
            ] {
                if set {
                    let why = if place == Place::FlowStep {
                        "steps of a flow run in order"
                    } else {
                        "on_start and on_stop steps always run"
                    };
                    self.error(
                        &path.key(key),
                        format!("`{key}` only applies to tasks ({why})"),
                    );
                }
            }
            if def.use_tasks_of.is_some() {
                self.error(&path.key("use"), "`use` only applies to tasks");
            }
            if def.flow.is_some() {
                self.error(
                    &path.key("flow"),
                    "a flow cannot be nested here; list its requests directly",
                );
            }
        }
        let kinds = [
            !methods.is_empty(),
            def.flow.is_some(),
            def.use_tasks_of.is_some(),
        ]
        .iter()
        .filter(|k| **k)
        .count();
        if kinds > 1 {
            self.error(path, "a task is one of: a request (get, post, ...), a `flow`, or `use`; this one mixes them");
            return None;
        }
        let request_only = [
            ("headers", !def.headers.is_empty()),
            ("query", !def.query.is_empty()),
            ("form", def.form.is_some()),
            ("json", def.json.is_some()),
            ("body", def.body.is_some()),
            ("expect", def.expect.is_some()),
            ("capture", !def.capture.is_empty()),
            ("timeout", def.timeout.is_some()),
        ];
        if let Some((method, url)) = methods.first() {
            return Some(Entry::Request(Box::new(self.request(
                path,
                def,
                method,
                url,
                user_headers,
            ))));
        }
        let mut misplaced = false;
        for (key, set) in request_only {
            if set {
                self.error(
                    &path.key(key),
                    format!("`{key}` belongs to a request, but this step has no get/post/..."),
                );
                misplaced = true;
            }
        }
        if let Some(flow) = &def.flow {
            if place != Place::Task {
                return None;
            }
            if flow.is_empty() {
                self.error(&path.key("flow"), "a flow needs at least one step");
            }
            let steps = flow
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    match self.entry(
                        &path.key("flow").index(i),
                        s,
                        Place::FlowStep,
                        user_headers,
                    )? {
                        Entry::Request(r) => Some(Step::Request(r)),
                        _ => None,
                    }
                })
                .collect();
            return Some(Entry::Flow(steps));
        }
        if let Some(target) = &def.use_tasks_of {
            return match self.user_names.iter().position(|n| n == target) {
                Some(i) => Some(Entry::Use(i)),
                None => {
                    let hint = did_you_mean(target, self.user_names.iter().map(String::as_str))
                        .map(|s| format!(", did you mean `{s}`?"))
                        .unwrap_or_default();
                    self.error(
                        &path.key("use"),
                        format!("no user type is named `{target}`{hint}"),
                    );
                    None
                }
            };
        }
        if misplaced {
            return None;
        }
        let wanted = if place == Place::Task {
            "a task needs a request (get, post, put, patch, delete, head, options), a `flow` or `use`"
        } else {
            "a step needs a request: one of get, post, put, patch, delete, head, options"
        };
        self.error(path, wanted);
        None
    }

    fn steps(
        &mut self,
        path: &YamlPath,
        defs: &[StepDef],
        user_headers: &[(HeaderName, Template)],
    ) -> Vec<Step> {
        defs.iter()
            .enumerate()
            .filter_map(|(i, d)| {
                match self.entry(&path.index(i), d, Place::Hook, user_headers)? {
                    Entry::Request(r) => Some(Step::Request(r)),
                    _ => None,
                }
            })
            .collect()
    }

    fn user(&mut self, name: &str, def: &UserDef, defaults: &[(HeaderName, Template)]) -> UserType {
        let path = YamlPath::default().key("users").key(name);
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            self.error(&path, format!("`{name}` cannot be a user type name (no spaces: it is typed on the command line)"));
        }
        if let Some(host) = &def.host {
            self.check_host(&path.key("host"), host);
        }
        let weight = def.weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight >= 0.0) {
            self.error(
                &path.key("weight"),
                format!("weight must be 0 or more, got {weight}"),
            );
        }
        let mut headers = defaults.to_vec();
        for (h, t) in self.headers(&path.key("headers"), &def.headers) {
            headers.retain(|(x, _)| *x != h);
            headers.push((h, t));
        }
        let wait_time = self.wait_time(&path.key("wait_time"), def.wait_time);
        let on_start = self.steps(&path.key("on_start"), &def.on_start, &headers);
        let on_stop = self.steps(&path.key("on_stop"), &def.on_stop, &headers);
        if def.tasks.is_empty() {
            self.error(&path, "this user type has no `tasks`");
        }
        let mut tasks = Vec::new();
        for (i, t) in def.tasks.iter().enumerate() {
            let tpath = path.key("tasks").index(i);
            let Some(entry) = self.entry(&tpath, t, Place::Task, &headers) else {
                continue;
            };
            let (label, action) = match entry {
                Entry::Request(r) => (
                    t.name
                        .clone()
                        .unwrap_or_else(|| format!("{} {}", r.method, r.name)),
                    TaskAction::Steps(vec![Step::Request(r)]),
                ),
                Entry::Flow(steps) => (
                    t.name.clone().unwrap_or_else(|| {
                        format!("flow at line {}", self.pos(&tpath).unwrap_or_default().line)
                    }),
                    TaskAction::Steps(steps),
                ),
                Entry::Use(target) => (
                    t.name
                        .clone()
                        .unwrap_or_else(|| self.user_names[target].clone()),
                    TaskAction::UseTasksOf(target),
                ),
            };
            tasks.push(Task {
                label,
                weight: t.weight.unwrap_or(1),
                tags: t.tags.clone(),
                action,
            });
        }
        UserType {
            name: name.to_string(),
            weight,
            fixed_count: def.fixed_count.unwrap_or(0),
            only_when_named: def.only_when_named,
            wait_time,
            host: def.host.clone(),
            on_start,
            on_stop,
            tasks,
        }
    }
}

fn is_absolute(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The row a request is counted under when the step names none: the URL as written, without
/// scheme and host (as Locust names absolute URLs by their path). Keeping the `{{ }}` text means
/// `/portfolio/{{ random_int(1, 5000) }}/` is one row rather than thousands.
fn default_name(url: &str, query: &indexmap::IndexMap<String, model::Scalar>) -> String {
    let mut name = if is_absolute(url) {
        let after_scheme = &url[url.find("://").map_or(0, |i| i + 3)..];
        match after_scheme.find('/') {
            Some(i) => after_scheme[i..].to_string(),
            None => "/".to_string(),
        }
    } else {
        url.to_string()
    };
    if !query.is_empty() {
        let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", v.0)).collect();
        name.push(if name.contains('?') { '&' } else { '?' });
        name.push_str(&pairs.join("&"));
    }
    name
}

/// The tasks a user type can reach: its own, and through `use` those of other types.
fn reachable_steps<'a>(
    types: &'a [UserType],
    start: usize,
    seen: &mut HashSet<usize>,
    out: &mut Vec<&'a Step>,
) {
    if !seen.insert(start) {
        return;
    }
    for task in &types[start].tasks {
        match &task.action {
            TaskAction::Steps(steps) => out.extend(steps),
            TaskAction::UseTasksOf(other) => reachable_steps(types, *other, seen, out),
        }
    }
}

fn use_cycle(
    types: &[UserType],
    start: usize,
    at: usize,
    stack: &mut Vec<usize>,
) -> Option<Vec<usize>> {
    for task in &types[at].tasks {
        if let TaskAction::UseTasksOf(next) = task.action {
            if next == start {
                let mut cycle = stack.clone();
                cycle.push(next);
                return Some(cycle);
            }
            if !stack.contains(&next) {
                stack.push(next);
                if let Some(c) = use_cycle(types, start, next, stack) {
                    return Some(c);
                }
                stack.pop();
            }
        }
    }
    None
}

pub(crate) fn compile(
    file: &str,
    path: &Path,
    model: ScenarioFile,
    positions: Option<&Node>,
) -> Result<Scenario, ScenarioError> {
    let mut c = Compiler {
        file,
        positions,
        errors: Vec::new(),
        user_names: model.users.keys().cloned().collect(),
    };
    let root = YamlPath::default();
    if let Some(host) = &model.host {
        c.check_host(&root.key("host"), host);
    }
    if model.users.is_empty() {
        c.error(&root.key("users"), "define at least one user type");
    }
    let defaults = c.headers(
        &root.key("defaults").key("headers"),
        &model.defaults.headers,
    );
    let user_types: Vec<UserType> = model
        .users
        .iter()
        .map(|(name, def)| c.user(name, def, &defaults))
        .collect();

    for (i, u) in user_types.iter().enumerate() {
        if let Some(cycle) = use_cycle(&user_types, i, i, &mut vec![i]) {
            let names: Vec<&str> = cycle.iter().map(|&j| user_types[j].name.as_str()).collect();
            c.error(
                &root.key("users").key(&u.name),
                format!("`use` goes round in a circle: {}", names.join(" -> ")),
            );
            // One report per cycle is enough.
            break;
        }
    }
    check_variables(&mut c, &user_types);
    if !c.errors.is_empty() {
        return Err(ScenarioError(c.errors));
    }
    Ok(Scenario {
        path: path.to_path_buf(),
        host: model.host,
        default_timeout: model.defaults.timeout.map(|s| s.0),
        user_types,
    })
}

/// Every `{{ variable }}` a user type can reach must be captured by a step that type can reach,
/// or the request would fail on every run; better to say so before the test starts.
fn check_variables(c: &mut Compiler<'_>, types: &[UserType]) {
    let mut reported = HashSet::new();
    for (i, user) in types.iter().enumerate() {
        let mut steps: Vec<&Step> = user.on_start.iter().chain(&user.on_stop).collect();
        reachable_steps(types, i, &mut HashSet::new(), &mut steps);
        let captured: HashSet<&str> = steps
            .iter()
            .flat_map(|Step::Request(r)| r.captures.iter().map(|c| c.variable.as_str()))
            .collect();
        for Step::Request(r) in &steps {
            for var in r.variables() {
                if captured.contains(var)
                    || !reported.insert((r.origin.path.clone(), var.to_string(), i))
                {
                    continue;
                }
                let hint = did_you_mean(var, captured.iter().copied().chain(BUILTIN_VARIABLES))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let via = if r.origin.path.starts_with(&format!("users.{}.", user.name)) {
                    String::new()
                } else {
                    ", which runs this step through `use`".to_string()
                };
                c.errors.push(Diagnostic {
                    file: c.file.to_string(),
                    pos: Some(r.origin.pos),
                    message: format!(
                        "{}: `{{{{ {var} }}}}` is never captured by user `{}`{via}{hint}",
                        r.origin.path, user.name
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        match super::super::parse("s.yaml", yaml, Path::new("s.yaml")) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn unknown_keys_name_line_column_and_suggest() {
        let e = errors("users:\n  A:\n    wieght: 3\n    tasks: [{get: /}]\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(
                "s.yaml:3:5: unknown key `wieght` in user `A`, did you mean `weight`?"
            ),
            "{}",
            e[0]
        );
        let e = errors("users:\n  A:\n    wait_time: {betwen: [1, 2]}\n    tasks: [{get: /}]\n");
        assert!(
            e[0].contains("unknown key `betwen`") && e[0].contains("did you mean `between`?"),
            "{}",
            e[0]
        );
        let e = errors(
            "users:\n  A:\n    wait_time: {between: [1, 2], constant: 1}\n    tasks: [{get: /}]\n",
        );
        assert!(
            e[0].starts_with("s.yaml:3:5: users.A.wait_time: give exactly one of"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn semantic_errors_are_all_reported_with_positions() {
        let yaml = "\
host: localhost:8000
users:
  A:
    tasks:
      - get: /a
        post: /b
      - use: Portfolio
      - flow:
          - get: x
            weight: 2
      - capture: {t: {cookie: c}}
";
        let e = errors(yaml);
        assert!(
            e.iter()
                .any(|m| m.starts_with("s.yaml:1:1: host: `localhost:8000` is not an http")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("s.yaml:5:9: users.A.tasks[0]: `get` and `post` given")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.starts_with(
                "s.yaml:7:9: users.A.tasks[1].use: no user type is named `Portfolio`"
            )),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.starts_with(
                "s.yaml:9:13: users.A.tasks[2].flow[0].get: the URL `x` must start with `/`"
            )),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.starts_with(
                "s.yaml:10:13: users.A.tasks[2].flow[0].weight: `weight` only applies to tasks"
            )),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.starts_with(
                "s.yaml:11:9: users.A.tasks[3].capture: `capture` belongs to a request"
            )),
            "{e:?}"
        );
        assert_eq!(e.len(), 6, "{e:?}");
    }

    #[test]
    fn uncaptured_variables_are_caught_before_the_run() {
        let yaml = "\
users:
  A:
    on_start:
      - get: /login/
        capture: {csrf: {cookie: csrftoken}}
    tasks:
      - post: /x
        form: {t: '{{ csrf }}', u: '{{ user_id }}'}
  Mixed:
    tasks:
      - use: A
";
        let e = errors(yaml);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("s.yaml:7:9: users.A.tasks[0]: `{{ csrf }}` is never captured by user `Mixed`, which runs this step through `use`"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn suggestions_cover_typos_and_prefixes() {
        let names = ["PortfolioUser", "ReferenceDataUser", "UDFUser"];
        assert_eq!(did_you_mean("PortfolioUsr", names), Some("PortfolioUser"));
        assert_eq!(did_you_mean("Portfolio", names), Some("PortfolioUser"));
        assert_eq!(did_you_mean("portfolio", names), Some("PortfolioUser"));
        assert_eq!(did_you_mean("Dashboard", names), None);
        assert_eq!(did_you_mean("U", names), None);
    }

    #[test]
    fn every_wait_time_form_and_its_errors() {
        let wait = |w: &str| {
            let yaml = format!("users:\n  A:\n    wait_time: {w}\n    tasks: [{{get: /}}]\n");
            super::super::parse("s.yaml", &yaml, Path::new("s.yaml"))
                .map(|s| s.user_types[0].wait_time)
        };
        let secs = Duration::from_secs_f64;
        assert_eq!(wait("{constant: 1.5}"), Ok(WaitTime::Constant(secs(1.5))));
        assert_eq!(wait("{constant: 500ms}"), Ok(WaitTime::Constant(secs(0.5))));
        assert_eq!(
            wait("{constant_pacing: 10}"),
            Ok(WaitTime::ConstantPacing(secs(10.0)))
        );
        // Locust: constant_throughput(n) is constant_pacing(1 / n).
        assert_eq!(
            wait("{constant_throughput: 4}"),
            Ok(WaitTime::ConstantPacing(secs(0.25)))
        );
        let err = |w: &str| wait(w).unwrap_err().to_string();
        assert!(
            err("{constant_throughput: 0}")
                .contains("constant_throughput requires a positive rate, got: 0")
        );
        assert!(
            err("{between: [5, 2]}").contains("the minimum (5s) is larger than the maximum (2s)")
        );
        assert!(err("{constant: -1}").contains("not a valid number of seconds"));
        assert!(err("{constant: soon}").contains("`soon` is not a duration"));
        assert!(err("{}").contains("give exactly one of"));
    }

    #[test]
    fn use_cycles_are_rejected() {
        let e = errors("users:\n  A:\n    tasks: [{use: B}]\n  B:\n    tasks: [{use: A}]\n");
        assert!(
            e[0].contains("goes round in a circle: A -> B -> A"),
            "{e:?}"
        );
    }

    #[test]
    fn compiles_defaults_and_names() {
        let yaml = "\
host: http://localhost:8000
defaults:
  headers: {Accept: text/html}
  timeout: 2s
users:
  A:
    weight: 3
    wait_time: {between: [0.5, 2]}
    headers: {X-User: '{{ user_id }}'}
    tasks:
      - get: /portfolio/{{ random_int(1, 10) }}/
        weight: 5
      - get: http://127.0.0.1:1/refused
      - get: /search
        query: {q: USD}
        name: Search
        headers: {Accept: application/json}
";
        let s = super::super::parse("s.yaml", yaml, Path::new("s.yaml")).unwrap();
        assert_eq!(s.default_timeout, Some(std::time::Duration::from_secs(2)));
        let a = &s.user_types[0];
        assert_eq!(a.weight, 3.0);
        assert_eq!(
            a.wait_time,
            WaitTime::Between(
                std::time::Duration::from_millis(500),
                std::time::Duration::from_secs(2)
            )
        );
        let names: Vec<(String, u32)> = a
            .tasks
            .iter()
            .map(|t| (t.label.clone(), t.weight))
            .collect();
        assert_eq!(
            names,
            [
                ("GET /portfolio/{{ random_int(1, 10) }}/".to_string(), 5),
                ("GET /refused".to_string(), 1),
                ("Search".to_string(), 1)
            ]
        );
        let TaskAction::Steps(steps) = &a.tasks[2].action else {
            panic!()
        };
        let Step::Request(r) = &steps[0];
        let headers: Vec<&str> = r.headers.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(headers, ["x-user", "accept"]);
        assert_eq!(r.headers[1].1.as_static(), Some("application/json"));
    }

    #[test]
    fn default_names_follow_locust() {
        let q = indexmap::IndexMap::new();
        assert_eq!(default_name("http://127.0.0.1:1/refused", &q), "/refused");
        assert_eq!(default_name("https://x.org", &q), "/");
        let mut q = indexmap::IndexMap::new();
        q.insert("id".to_string(), model::Scalar("{{ id }}".to_string()));
        assert_eq!(default_name("/item", &q), "/item?id={{ id }}");
    }
}
