//! Scenario files: the YAML a user writes, checked and compiled into what the engine runs.
//!
//! `load` reads a file; every problem found is reported with the file, line and column.

mod compile;
pub mod model;
pub mod positions;
pub mod select;
pub mod template;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, Method};

pub use positions::Pos;
pub use select::TagFilter;
pub use template::{RenderEnv, Template, UnsetVariable, Variables};

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
    pub default_timeout: Option<Duration>,
    /// In file order (`--list` prints them so).
    pub user_types: Vec<UserType>,
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
    pub tasks: Vec<Task>,
}

/// Locust's wait-time functions (`constant_throughput(n)` is `constant_pacing(1/n)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaitTime {
    Constant(Duration),
    Between(Duration, Duration),
    ConstantPacing(Duration),
}

#[derive(Debug)]
pub struct Task {
    /// How `--list`/`--show-task-ratio` name it.
    pub label: String,
    pub weight: u32,
    pub tags: Vec<String>,
    pub action: TaskAction,
}

#[derive(Debug)]
pub enum TaskAction {
    /// One request, or a flow of them in order.
    Steps(Vec<Step>),
    /// Pick one of that user type's tasks (by weight), like a nested Locust TaskSet.
    UseTasksOf(usize),
}

#[derive(Debug)]
pub enum Step {
    Request(Box<RequestSpec>),
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
    pub headers: Vec<(HeaderName, Template)>,
    pub query: Vec<(String, Template)>,
    pub body: Body,
    /// Statuses that count as success; `None` means Locust's rule (below 400).
    pub expect_status: Option<Vec<u16>>,
    pub captures: Vec<Capture>,
    pub timeout: Option<Duration>,
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

#[derive(Debug)]
pub enum Body {
    None,
    Form(Vec<(String, Template)>),
    Json(JsonTemplate),
    Raw(Template),
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
    pub fn render(&self, env: &mut RenderEnv<'_>) -> Result<serde_json::Value, UnsetVariable> {
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

    fn variables<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            JsonTemplate::String(t) => out.extend(t.variables()),
            JsonTemplate::Array(items) => items.iter().for_each(|i| i.variables(out)),
            JsonTemplate::Object(entries) => entries.iter().for_each(|(_, v)| v.variables(out)),
            _ => {}
        }
    }
}

#[derive(Debug)]
pub struct Capture {
    pub variable: String,
    pub source: CaptureSource,
}

#[derive(Debug)]
pub enum CaptureSource {
    Cookie(String),
    Header(HeaderName),
    Json {
        path: serde_json_path::JsonPath,
        source: String,
    },
    Regex(regex::Regex),
}

impl RequestSpec {
    /// Every captured variable this request's templates read.
    pub fn variables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.url.variables().collect();
        let header_values = self.headers.iter().map(|(_, t)| t);
        for t in header_values.chain(self.query.iter().map(|(_, t)| t)) {
            out.extend(t.variables());
        }
        match &self.body {
            Body::None => {}
            Body::Form(fields) => fields.iter().for_each(|(_, t)| out.extend(t.variables())),
            Body::Json(j) => j.variables(&mut out),
            Body::Raw(t) => out.extend(t.variables()),
        }
        out
    }
}

/// Reads and compiles a scenario file.
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
        Err(e) => return Err(fail(format!("cannot read the file: {e}"))),
    };
    parse(&file, &text, path)
}

/// Compiles scenario text; `file` names it in errors.
pub fn parse(file: &str, text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let model: model::ScenarioFile = serde_yaml::from_str(text).map_err(|e| {
        let raw = e.to_string();
        let mut pos = e.location().map(|l| Pos {
            line: l.line(),
            column: l.column(),
        });
        let mut message = compile::explain_serde_error(&raw);
        // serde_yaml stops at the first value of the wrong type, even in a file that is not
        // valid YAML further on (`weight: [` never closed reads as "invalid type: sequence").
        // Its own syntax messages are good; only a type error hides a syntax error.
        let type_error = [
            "invalid type",
            "invalid value",
            "invalid length",
            "unknown field",
            "unknown variant",
            "missing field",
        ]
        .iter()
        .any(|k| raw.contains(k));
        if type_error && let Some((at, why)) = positions::syntax_error(text) {
            pos = Some(at);
            message = format!("this is not valid YAML: {why}");
        }
        ScenarioError(vec![Diagnostic {
            file: file.to_string(),
            pos,
            message,
        }])
    })?;
    let positions = positions::index(text);
    compile::compile(file, path, model, positions.as_ref())
}
