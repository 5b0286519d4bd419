//! Scenario files: the YAML a user writes, checked and compiled into what the engine runs.
//!
//! Loading goes in four passes, each reporting everything it finds with file, line and column:
//! YAML syntax; the JSON Schema derived from `model` (unknown keys, wrong types, all at once);
//! serde; then `compile`, which checks meaning (names, combinations, captured variables).

mod compile;
pub mod model;
pub mod plan;
pub mod positions;
pub mod select;
pub mod stream;
pub mod template;
pub mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, Method};

pub use compile::did_you_mean;
pub use model::{FeederMode, FeederScope, Pick};
pub use positions::Pos;
pub use select::TagFilter;
pub use template::{Feeder, RenderEnv, RenderError, Template, Value, Variables};

/// Request timeout when nothing sets one. python-requests has none, which lets one hung
/// connection freeze a user forever; a minute is what Locust's FastHttpUser uses.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A problem in a scenario file, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Option<Pos>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}:{}: {}", self.file, p, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Everything wrong with a scenario file (at least one problem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError(pub Vec<Diagnostic>);

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// A compiled scenario.
#[derive(Debug)]
pub struct Scenario {
    pub path: PathBuf,
    pub host: Option<String>,
    /// Speak HTTP/2 without negotiating it.
    pub http2: bool,
    pub feeders: Vec<Feeder>,
    /// The `id`s of named WebSocket connections (a user keeps one of each open at most).
    pub stream_ids: Vec<String>,
    /// In file order (`--list` prints them so).
    pub user_types: Vec<UserType>,
    /// The load shape; empty for a plain `-u`/`-r`/`-t` run.
    pub stages: Vec<Stage>,
    /// Targets the results must meet.
    pub thresholds: Vec<crate::gate::Threshold>,
    /// Every (method, name) a request of the scenario can record, sorted.
    pub request_names: Vec<(String, String)>,
}

/// One stage of a load shape, with its spawn rate worked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub users: u64,
    pub spawn_rate: f64,
    /// Indices of the user types that run in this stage; `None`: all of them.
    pub user_types: Option<Vec<usize>>,
}

impl Stage {
    /// The spawn rate that spreads going from `from` users to `to` evenly over `duration`
    /// (at least one user per `duration`, so a held stage still has a rate to report).
    pub fn even_rate(from: u64, to: u64, duration: Duration) -> f64 {
        let change = from.abs_diff(to).max(1) as f64;
        change / duration.as_secs_f64().max(1.0)
    }

    /// The stage running `elapsed` into the shape, `None` once the last has ended.
    pub fn at(stages: &[Stage], elapsed: Duration) -> Option<&Stage> {
        let mut end = Duration::ZERO;
        stages.iter().find(|s| {
            end += s.duration;
            elapsed < end
        })
    }
}

impl Scenario {
    pub fn user_type(&self, name: &str) -> Option<usize> {
        self.user_types.iter().position(|u| u.name == name)
    }
}

#[derive(Debug)]
pub struct UserType {
    pub name: String,
    pub weight: f64,
    pub fixed_count: u64,
    pub only_when_named: bool,
    pub wait_time: WaitTime,
    pub host: Option<String>,
    pub on_start: Vec<Step>,
    pub on_stop: Vec<Step>,
    pub tasks: Vec<Choice>,
}

/// Locust's wait-time functions (`constant_throughput(n)` is `constant_pacing(1/n)`); inside a
/// flow, `wait:` is a `Constant` or a `Between`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaitTime {
    Constant(Duration),
    Between(Duration, Duration),
    ConstantPacing(Duration),
}

/// A weighted alternative: a task, or an item of a `one_of`.
#[derive(Debug)]
pub struct Choice {
    /// How `--list`/`--show-task-ratio` name it.
    pub label: String,
    pub weight: u32,
    pub tags: Vec<String>,
    pub step: Step,
}

#[derive(Debug)]
pub enum Step {
    Request(Arc<RequestSpec>),
    /// Think time inside a flow.
    Wait(WaitTime),
    /// Steps in order.
    Flow(Vec<Step>),
    /// One alternative, picked by weight.
    OneOf(Vec<Choice>),
    /// The step `min..=max` times (a random count when they differ).
    Repeat {
        min: u32,
        max: u32,
        step: Box<Step>,
    },
    /// One of that user type's tasks, picked by weight.
    Use(usize),
    /// A WebSocket and the steps on it.
    Ws(Arc<stream::WsSpec>),
    /// A Server-Sent Events stream and the steps on it.
    Sse(Arc<stream::SseSpec>),
}

#[derive(Debug)]
pub struct RequestSpec {
    pub method: Method,
    /// A path (joined to the host) or an absolute `http(s)://` URL.
    pub url: Template,
    /// Whether `url` is absolute (then no host is needed).
    pub absolute: bool,
    /// The statistics row; the URL as written unless the step sets `name`.
    pub name: String,
    pub headers: Vec<Header>,
    pub auth: Option<Credentials>,
    pub query: Vec<(String, Template)>,
    pub body: Body,
    pub checks: Checks,
    pub captures: Vec<Capture>,
    pub timeout: Duration,
    pub follow_redirects: bool,
    /// Whether captures or checks read the body (otherwise it is only counted).
    pub keep_body: bool,
    /// Where the step is written, for errors raised while it runs.
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct Origin {
    pub file: String,
    pub pos: Pos,
    pub path: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} ({})", self.file, self.pos, self.path)
    }
}

/// A request header. One set for the whole user type (or in `defaults`) is `inherited`: it is
/// left out while a value it reads is not captured yet, so `auth: {bearer: "{{ token }}"}` on a
/// user type does not stop the very login that captures the token.
#[derive(Debug, Clone)]
pub struct Header {
    pub name: HeaderName,
    pub value: Template,
    pub inherited: bool,
}

/// A request's authentication, `inherited` as a [`Header`] can be.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub auth: Auth,
    pub inherited: bool,
}

#[derive(Debug, Clone)]
pub enum Auth {
    Basic(Template, Template),
    Bearer(Template),
}

#[derive(Debug)]
pub enum Body {
    None,
    Form(Vec<(String, Template)>),
    Json(JsonTemplate),
    Raw(Template),
    /// A file's bytes, read when the scenario loads.
    File(Bytes),
    Multipart(Vec<(String, Part)>),
}

#[derive(Debug)]
pub enum Part {
    Text(Template),
    File {
        bytes: Bytes,
        filename: String,
        content_type: String,
    },
}

/// Checks on a response beyond its status.
#[derive(Debug, Default)]
pub struct Checks {
    /// Statuses that count as success; `None` means Locust's rule (below 400).
    pub status: Option<Vec<u16>>,
    pub body_contains: Vec<String>,
    pub body_matches: Vec<regex::Regex>,
    pub json_equals: Vec<(serde_json_path::JsonPath, String, serde_json::Value)>,
    pub json_exists: Vec<(serde_json_path::JsonPath, String)>,
    pub max_time: Option<Duration>,
}

impl Checks {
    pub fn read_body(&self) -> bool {
        !(self.body_contains.is_empty()
            && self.body_matches.is_empty()
            && self.json_equals.is_empty()
            && self.json_exists.is_empty())
    }
}

/// A JSON value whose strings are templates.
#[derive(Debug)]
pub enum JsonTemplate {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    pub fn render(&self, env: &mut RenderEnv<'_>) -> Result<serde_json::Value, RenderError> {
        use serde_json::Value;
        Ok(match self {
            JsonTemplate::Null => Value::Null,
            JsonTemplate::Bool(b) => Value::Bool(*b),
            JsonTemplate::Number(n) => Value::Number(n.clone()),
            JsonTemplate::String(t) => Value::String(t.render(env)?),
            JsonTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.render(env))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(env)?)))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn templates<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match self {
            JsonTemplate::String(t) => out.push(t),
            JsonTemplate::Array(items) => items.iter().for_each(|i| i.templates(out)),
            JsonTemplate::Object(entries) => entries.iter().for_each(|(_, v)| v.templates(out)),
            _ => {}
        }
    }
}

#[derive(Debug)]
pub struct Capture {
    pub variable: String,
    pub source: CaptureSource,
    pub pick: Pick,
}

#[derive(Debug)]
pub enum CaptureSource {
    Cookie(String),
    Header(HeaderName),
    Json {
        path: serde_json_path::JsonPath,
        source: String,
    },
    Regex {
        regex: regex::Regex,
        group: Option<usize>,
    },
    /// HTML elements by CSS selector: their `attr`, or their text.
    Html {
        selector: scraper::Selector,
        /// The same selector for the streaming matcher, when it is an attribute capture and
        /// lol_html understands the selector: then no tree is built (`engine::capture`).
        streaming: Option<Arc<lol_html::Selector>>,
        source: String,
        attr: Option<String>,
    },
}

impl CaptureSource {
    pub fn reads_body(&self) -> bool {
        !matches!(self, CaptureSource::Cookie(_) | CaptureSource::Header(_))
    }
}

impl RequestSpec {
    /// Every template of the request.
    pub fn templates(&self) -> Vec<&Template> {
        let mut out: Vec<&Template> = vec![&self.url];
        out.extend(self.headers.iter().map(|h| &h.value));
        out.extend(self.query.iter().map(|(_, t)| t));
        match self.auth.as_ref().map(|c| &c.auth) {
            Some(Auth::Basic(u, p)) => out.extend([u, p]),
            Some(Auth::Bearer(t)) => out.push(t),
            None => {}
        }
        match &self.body {
            Body::Form(fields) => out.extend(fields.iter().map(|(_, t)| t)),
            Body::Json(j) => j.templates(&mut out),
            Body::Raw(t) => out.push(t),
            Body::Multipart(parts) => out.extend(parts.iter().filter_map(|(_, p)| match p {
                Part::Text(t) => Some(t),
                Part::File { .. } => None,
            })),
            Body::None | Body::File(_) => {}
        }
        out
    }

    /// Every captured variable this request's templates read.
    pub fn variables(&self) -> Vec<&str> {
        self.templates()
            .into_iter()
            .flat_map(Template::variables)
            .collect()
    }
}

/// Reads and compiles a scenario file; `${NAME}` environment values come from the process.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let fail = |message: String| {
        ScenarioError(vec![Diagnostic {
            file: file.clone(),
            pos: None,
            message,
        }])
    };
    if path.extension().is_some_and(|e| e == "py") {
        return Err(fail(
            "this is a Python locustfile; locusta runs YAML scenarios (see the README's scenario format)".to_string(),
        ));
    }
    let text = match std::fs::read(path) {
        Ok(bytes) => {
            String::from_utf8(bytes).map_err(|_| fail("the file is not UTF-8 text".to_string()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail(
                "no such file (give the scenario with -f FILE)".to_string(),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory || path.is_dir() => {
            return Err(fail("this is a folder; give a scenario file".to_string()));
        }
        Err(e) => return Err(fail(format!("cannot read the file: {e}"))),
    };
    parse(&file, &text, path, &|name| std::env::var(name).ok())
}

/// Compiles scenario text; `file` names it in errors, `path` locates the files it refers to,
/// `env` answers `{{ env.NAME }}`.
pub fn parse(
    file: &str,
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Scenario, ScenarioError> {
    let located = |e: &serde_yaml::Error, message: String| Diagnostic {
        file: file.to_string(),
        pos: e.location().map(|l| Pos {
            line: l.line(),
            column: l.column(),
        }),
        message,
    };
    // 1. Syntax.
    let document: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        ScenarioError(vec![located(
            &e,
            compile::explain_serde_error(&e.to_string()),
        )])
    })?;
    // 2. Every unknown key and wrong type, at once.
    let positions = positions::index(text);
    let problems = validate::check(file, &validate::to_json(&document), positions.as_ref());
    if !problems.is_empty() {
        return Err(ScenarioError(problems));
    }
    // 3. Values the schema cannot judge (a duration that does not parse).
    let model: model::ScenarioFile = serde_yaml::from_str(text).map_err(|e| {
        ScenarioError(vec![located(
            &e,
            compile::explain_serde_error(&e.to_string()),
        )])
    })?;
    // 4. Meaning.
    compile::compile(file, path, model, positions.as_ref(), env)
}
