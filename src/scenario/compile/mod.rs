//! From the file as written (`model`) to what the engine runs, checking what a schema cannot:
//! which keys combine, what names refer to, whether every `{{ variable }}` is captured first.
//! Problems are collected, not stopped at, so one run of `locusta check` lists them all.

mod request;
mod run;
mod stream;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use http::HeaderName;
use regex::Regex;

use super::model::{
    FeederMode, FeederScope, ScenarioFile, StepDef, StepKind, UserDef, WaitDef, WaitTimeDef,
};
use super::positions::{Node, YamlPath};
use super::template::{BUILTIN_VARIABLES, Part, Template};
use super::{Auth, Choice, Diagnostic, Feeder, Scenario, ScenarioError, Step, UserType, WaitTime};

/// The most times a `repeat` may run its step: repeats are bounded, a load loop must end.
const MAX_REPEAT: u32 = 10_000;

/// Closest of `candidates` to `word`, if it is close enough to be a plausible slip: a typo, or
/// the start of the one name that begins so (`Portfolio` for `PortfolioUser`).
pub fn did_you_mean<'a>(
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

/// serde_yaml's messages, without the "at line N column M" we already print in front.
pub(crate) fn explain_serde_error(message: &str) -> String {
    static AT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r" at line \d+ column \d+").expect("valid regex"));
    AT.replace(message, "").into_owned()
}

/// The request settings a step inherits from `defaults` and its user type.
#[derive(Clone, Default)]
pub(crate) struct Inherited {
    headers: Vec<(HeaderName, Template)>,
    auth: Option<Auth>,
    timeout: Option<Duration>,
    follow_redirects: Option<bool>,
}

/// Where a step stands, which decides whether `weight` and `tags` mean anything.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// An entry of `tasks` or of a `one_of`.
    Alternative,
    /// Inside a flow, `on_start` or `on_stop`: steps run in order.
    Sequence,
}

pub(crate) struct Compiler<'a> {
    file: &'a str,
    dir: PathBuf,
    positions: Option<&'a Node>,
    errors: Vec<Diagnostic>,
    user_names: Vec<String>,
    feeders: Vec<Feeder>,
    /// The `id`s of named WebSocket connections, in the order first seen.
    stream_ids: Vec<String>,
    env: &'a dyn Fn(&str) -> Option<String>,
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

    /// A file named in the scenario, relative to the scenario's folder.
    fn file_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Parses a template and resolves its `env.NAME` and `feeder.column` names.
    fn template(&mut self, path: &YamlPath, source: &str) -> Template {
        let parsed = Template::parse(source).and_then(|mut t| {
            let feeders = &self.feeders;
            let env = self.env;
            t.resolve_dotted(|names| resolve_dotted(names, feeders, env))?;
            Ok(t)
        });
        parsed.unwrap_or_else(|e| {
            self.error(path, e.0);
            Template::parse("").expect("empty template parses")
        })
    }

    fn check_host(&mut self, path: &YamlPath, host: &str) {
        if url::Url::parse(host).map_or(true, |u| {
            !matches!(u.scheme(), "http" | "https") || !u.has_host()
        }) {
            self.error(path, format!("`{host}` is not an http:// or https:// URL"));
        }
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
            self.between(&path.key("between"), a.0, b.0)
        } else if let Some(c) = def.constant {
            WaitTime::Constant(c.0)
        } else if let Some(p) = def.constant_pacing {
            WaitTime::ConstantPacing(p.0)
        } else {
            let n = def.constant_throughput.unwrap_or_default();
            // 1/n seconds between task starts: a rate so small that a task would start less
            // than once in 10 years is out of range, as a pacing that long would be.
            match crate::limits::seconds(1.0 / n) {
                Ok(pacing) if n.is_finite() && n > 0.0 => WaitTime::ConstantPacing(pacing),
                _ => {
                    self.error(
                        &path.key("constant_throughput"),
                        format!(
                            "constant_throughput requires a positive rate, at least one task in 10 years, got: {}",
                            crate::pyfmt::float(n)
                        ),
                    );
                    zero
                }
            }
        }
    }

    fn between(&mut self, path: &YamlPath, a: Duration, b: Duration) -> WaitTime {
        if a > b {
            self.error(
                path,
                format!("the minimum ({a:?}) is larger than the maximum ({b:?})"),
            );
        }
        WaitTime::Between(a, b)
    }

    fn feeder(&mut self, name: &str, def: &super::model::FeederDef) -> Option<Feeder> {
        let path = YamlPath::default().key("data").key(name);
        let file = self.file_path(&def.csv);
        let mut reader = match csv::Reader::from_path(&file) {
            Ok(r) => r,
            Err(e) => {
                self.error(
                    &path.key("csv"),
                    format!("cannot read {}: {e}", file.display()),
                );
                return None;
            }
        };
        let columns: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(|c| c.trim().to_string()).collect(),
            Err(e) => {
                self.error(&path.key("csv"), format!("{}: {e}", file.display()));
                return None;
            }
        };
        let mut rows = Vec::new();
        for record in reader.records() {
            match record {
                Ok(r) => rows.push(r.iter().map(String::from).collect::<Vec<_>>()),
                Err(e) => {
                    self.error(&path.key("csv"), format!("{}: {e}", file.display()));
                    return None;
                }
            }
        }
        if columns.iter().any(String::is_empty) {
            self.error(
                &path.key("csv"),
                format!(
                    "{}: every column needs a name in the header row",
                    file.display()
                ),
            );
        }
        if rows.is_empty() {
            self.error(
                &path.key("csv"),
                format!("{} has a header row but no data rows", file.display()),
            );
            return None;
        }
        Some(Feeder::new(
            name.to_string(),
            columns,
            rows,
            def.mode.unwrap_or(FeederMode::Cycle),
            def.per.unwrap_or(FeederScope::User),
        ))
    }

    /// Compiles a step; `place` decides whether `weight`/`tags` may appear.
    fn step(
        &mut self,
        path: &YamlPath,
        def: &StepDef,
        place: Place,
        inherited: &Inherited,
    ) -> Option<Step> {
        if place == Place::Sequence {
            for (key, set) in [
                ("weight", def.weight.is_some()),
                ("tags", !def.tags.is_empty()),
            ] {
                if set {
                    self.error(
                        &path.key(key),
                        format!("`{key}` only applies to tasks and `one_of` alternatives; steps here run in order"),
                    );
                }
            }
        }
        let step = match &def.kind {
            StepKind::Unreadable(problems) => {
                for (key, message) in problems {
                    let at = key.as_ref().map_or_else(|| path.clone(), |k| path.key(k));
                    self.error(&at, message.clone());
                }
                return None;
            }
            StepKind::Request(r) => {
                let methods = r.methods();
                let [(method, url)] = methods.as_slice() else {
                    let keys: Vec<String> = methods.iter().map(|(k, _)| format!("`{k}`")).collect();
                    self.error(
                        path,
                        format!(
                            "{} given: a step makes one request; make a flow of them",
                            keys.join(" and ")
                        ),
                    );
                    return None;
                };
                Step::Request(std::sync::Arc::new(self.request(
                    path,
                    def.name.as_ref(),
                    r,
                    method,
                    url,
                    inherited,
                )))
            }
            StepKind::Flow(flow) => {
                if flow.is_empty() {
                    self.error(&path.key("flow"), "a flow needs at least one step");
                }
                let steps = flow
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| {
                        self.step(&path.key("flow").index(i), s, Place::Sequence, inherited)
                    })
                    .collect();
                Step::Flow(steps)
            }
            StepKind::OneOf(alternatives) => {
                if alternatives.is_empty() {
                    self.error(
                        &path.key("one_of"),
                        "`one_of` needs at least one alternative",
                    );
                }
                Step::OneOf(self.choices(&path.key("one_of"), alternatives, inherited))
            }
            StepKind::Wait(wait) => match *wait {
                WaitDef::Fixed(s) => Step::Wait(WaitTime::Constant(s.0)),
                WaitDef::Between(a, b) => Step::Wait(self.between(&path.key("wait"), a.0, b.0)),
            },
            StepKind::Use(target) => match self.user_names.iter().position(|n| n == target) {
                Some(i) => Step::Use(i),
                None => {
                    let hint = did_you_mean(target, self.user_names.iter().map(String::as_str))
                        .map(|s| format!(", did you mean `{s}`?"))
                        .unwrap_or_default();
                    self.error(
                        &path.key("use"),
                        format!("no user type is named `{target}`{hint}"),
                    );
                    return None;
                }
            },
            StepKind::Ws(ws) => Step::Ws(std::sync::Arc::new(self.ws(
                path,
                def.name.as_ref(),
                ws,
                inherited,
            )?)),
            StepKind::Sse(sse) => Step::Sse(std::sync::Arc::new(self.sse(
                path,
                def.name.as_ref(),
                sse,
                inherited,
            )?)),
        };
        match def.repeat {
            None => Some(step),
            Some(r) => {
                let (min, max) = (r.0, r.1);
                if min > max {
                    self.error(
                        &path.key("repeat"),
                        format!("[{min}, {max}]: the minimum is larger than the maximum"),
                    );
                } else if max > MAX_REPEAT {
                    self.error(
                        &path.key("repeat"),
                        format!("at most {MAX_REPEAT} repeats, got {max}"),
                    );
                }
                Some(Step::Repeat {
                    min,
                    max,
                    step: Box::new(step),
                })
            }
        }
    }

    /// Tasks, or the alternatives of a `one_of`.
    fn choices(&mut self, path: &YamlPath, defs: &[StepDef], inherited: &Inherited) -> Vec<Choice> {
        let mut out = Vec::new();
        for (i, def) in defs.iter().enumerate() {
            let p = path.index(i);
            let Some(step) = self.step(&p, def, Place::Alternative, inherited) else {
                continue;
            };
            let line = self.pos(&p).unwrap_or_default().line;
            let label = def.name.clone().unwrap_or_else(|| match &step {
                Step::Request(r) => format!("{} {}", r.method, r.name),
                Step::Use(t) => self.user_names[*t].clone(),
                Step::Flow(_) => format!("flow at line {line}"),
                Step::OneOf(_) => format!("one_of at line {line}"),
                Step::Wait(_) => format!("wait at line {line}"),
                Step::Ws(w) => format!("WS {}", w.rows.name),
                Step::Sse(e) => format!("SSE {}", e.rows.name),
                Step::Repeat { .. } => format!("repeat at line {line}"),
            });
            out.push(Choice {
                label,
                weight: def.weight.unwrap_or(1),
                tags: def.tags.clone(),
                step,
            });
        }
        out
    }

    fn sequence(&mut self, path: &YamlPath, defs: &[StepDef], inherited: &Inherited) -> Vec<Step> {
        defs.iter()
            .enumerate()
            .filter_map(|(i, d)| self.step(&path.index(i), d, Place::Sequence, inherited))
            .collect()
    }

    fn user(&mut self, name: &str, def: &UserDef, defaults: &Inherited) -> UserType {
        let path = YamlPath::default().key("users").key(name);
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            self.error(&path, format!("`{name}` cannot be a user type name (it is typed on the command line: no spaces)"));
        }
        if let Some(host) = &def.host {
            self.check_host(&path.key("host"), host);
        }
        let weight = def.weight.unwrap_or(1.0);
        if !(weight.is_finite() && (0.0..=crate::limits::MAX_WEIGHT).contains(&weight)) {
            self.error(
                &path.key("weight"),
                format!(
                    "weight must be from 0 to {}, got {weight}",
                    crate::limits::MAX_WEIGHT
                ),
            );
        }
        if let Some(Err(e)) = def.fixed_count.map(crate::limits::users) {
            self.error(&path.key("fixed_count"), format!("fixed_count {e}"));
        }
        let inherited = self.settings(
            &path,
            defaults,
            &def.headers,
            def.auth.as_ref(),
            def.timeout,
            def.follow_redirects,
        );
        let wait_time = self.wait_time(&path.key("wait_time"), def.wait_time);
        let on_start = self.sequence(&path.key("on_start"), &def.on_start, &inherited);
        let on_stop = self.sequence(&path.key("on_stop"), &def.on_stop, &inherited);
        if def.tasks.is_empty() {
            self.error(&path, "this user type has no `tasks`");
        }
        let tasks = self.choices(&path.key("tasks"), &def.tasks, &inherited);
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

/// `env.NAME` and `feeder.column` in templates.
fn resolve_dotted(
    names: &[String],
    feeders: &[Feeder],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Part, String> {
    let joined = names.join(".");
    match names {
        [scope, var] if scope == "env" => env(var).map(Part::Literal).ok_or_else(|| {
            format!("`{{{{ {joined} }}}}`: the environment variable {var} is not set (it is read when the scenario loads)")
        }),
        [feeder, column] => {
            let Some(f) = feeders.iter().position(|f| &f.name == feeder) else {
                let hint = did_you_mean(feeder, feeders.iter().map(|f| f.name.as_str()).chain(["env"]))
                    .map(|s| format!(", did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(format!("`{{{{ {joined} }}}}`: no data feeder is named `{feeder}`{hint}"));
            };
            let columns = &feeders[f].columns;
            match columns.iter().position(|c| c == column) {
                Some(c) => Ok(Part::Feeder { feeder: f, column: c }),
                None => {
                    let hint = did_you_mean(column, columns.iter().map(String::as_str))
                        .map(|s| format!(", did you mean `{s}`?"))
                        .unwrap_or_default();
                    Err(format!(
                        "`{{{{ {joined} }}}}`: data feeder `{feeder}` has no column `{column}`{hint} (columns: {})",
                        columns.join(", ")
                    ))
                }
            }
        }
        _ => Err(format!("`{{{{ {joined} }}}}`: a dotted name is `env.NAME` or `feeder.column`")),
    }
}

/// The steps a user type can reach: its own hooks and tasks, and through `use` those of others.
fn reachable(types: &[UserType], start: usize) -> Vec<&Step> {
    fn walk<'a>(
        types: &'a [UserType],
        step: &'a Step,
        seen: &mut HashSet<usize>,
        out: &mut Vec<&'a Step>,
    ) {
        out.push(step);
        match step {
            Step::Flow(steps) => steps.iter().for_each(|s| walk(types, s, seen, out)),
            Step::OneOf(choices) => choices.iter().for_each(|c| walk(types, &c.step, seen, out)),
            Step::Repeat { step, .. } => walk(types, step, seen, out),
            Step::Use(other) => {
                if seen.insert(*other) {
                    types[*other]
                        .tasks
                        .iter()
                        .for_each(|c| walk(types, &c.step, seen, out));
                }
            }
            Step::Request(_) | Step::Wait(_) | Step::Ws(_) | Step::Sse(_) => {}
        }
    }
    let mut seen = HashSet::from([start]);
    let mut out = Vec::new();
    let u = &types[start];
    for s in u
        .on_start
        .iter()
        .chain(&u.on_stop)
        .chain(u.tasks.iter().map(|c| &c.step))
    {
        walk(types, s, &mut seen, &mut out);
    }
    out
}

fn use_cycle(types: &[UserType], start: usize) -> Option<Vec<usize>> {
    fn uses(step: &Step, out: &mut Vec<usize>) {
        match step {
            Step::Use(t) => out.push(*t),
            Step::Flow(steps) => steps.iter().for_each(|s| uses(s, out)),
            Step::OneOf(choices) => choices.iter().for_each(|c| uses(&c.step, out)),
            Step::Repeat { step, .. } => uses(step, out),
            Step::Request(_) | Step::Wait(_) | Step::Ws(_) | Step::Sse(_) => {}
        }
    }
    fn search(
        types: &[UserType],
        start: usize,
        at: usize,
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        let mut next = Vec::new();
        types[at]
            .tasks
            .iter()
            .for_each(|c| uses(&c.step, &mut next));
        for n in next {
            if n == start {
                let mut cycle = stack.clone();
                cycle.push(n);
                return Some(cycle);
            }
            if !stack.contains(&n) {
                stack.push(n);
                if let Some(c) = search(types, start, n, stack) {
                    return Some(c);
                }
                stack.pop();
            }
        }
        None
    }
    search(types, start, start, &mut vec![start])
}

pub(crate) fn compile(
    file: &str,
    path: &Path,
    model: ScenarioFile,
    positions: Option<&Node>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Scenario, ScenarioError> {
    let mut c = Compiler {
        file,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        positions,
        errors: Vec::new(),
        user_names: model.users.keys().cloned().collect(),
        feeders: Vec::new(),
        stream_ids: Vec::new(),
        env,
    };
    let root = YamlPath::default();
    if let Some(host) = &model.host {
        c.check_host(&root.key("host"), host);
    }
    if model.users.is_empty() {
        c.error(&root.key("users"), "define at least one user type");
    }
    for (name, def) in &model.data {
        if let Some(f) = c.feeder(name, def) {
            c.feeders.push(f);
        }
    }
    let d = &model.defaults;
    let defaults = c.settings(
        &root.key("defaults"),
        &Inherited::default(),
        &d.headers,
        d.auth.as_ref(),
        d.timeout,
        d.follow_redirects,
    );
    let user_types: Vec<UserType> = model
        .users
        .iter()
        .map(|(name, def)| c.user(name, def, &defaults))
        .collect();

    if let Some(cycle) = (0..user_types.len()).find_map(|i| use_cycle(&user_types, i)) {
        let names: Vec<&str> = cycle.iter().map(|&j| user_types[j].name.as_str()).collect();
        c.error(
            &root.key("users").key(names[0]),
            format!("`use` goes round in a circle: {}", names.join(" -> ")),
        );
    }
    check_variables(&mut c, &user_types);
    let stages = run::stages(&mut c, &root.key("stages"), &model.stages);
    let mut request_names: Vec<(String, String)> = (0..user_types.len())
        .flat_map(|i| reachable(&user_types, i))
        .flat_map(row_names)
        .collect();
    request_names.sort();
    request_names.dedup();
    let thresholds = run::thresholds(
        &mut c,
        &root.key("thresholds"),
        &model.thresholds,
        &request_names,
    );
    if !c.errors.is_empty() {
        c.errors.sort_by_key(|d| d.pos.map(|p| (p.line, p.column)));
        return Err(ScenarioError(c.errors));
    }
    Ok(Scenario {
        path: path.to_path_buf(),
        host: model.host,
        http2: model.defaults.http2.unwrap_or(false),
        stream_ids: c.stream_ids,
        feeders: c.feeders,
        user_types,
        stages,
        thresholds,
        request_names,
    })
}

/// The rows (Type, Name) a step writes, for thresholds to refer to.
fn row_names(step: &Step) -> Vec<(String, String)> {
    use crate::scenario::stream::{Rows, StreamStep};
    let rows = |kind: &str, received: &str, rows: &Rows, steps: &[StreamStep], sse: bool| {
        let mut out = vec![
            (kind.to_string(), rows.name.clone()),
            (kind.to_string(), rows.session.clone()),
            (received.to_string(), rows.name.clone()),
        ];
        if sse {
            out.push((kind.to_string(), rows.first_event.clone()));
        }
        for s in steps {
            match s {
                StreamStep::Expect(e) => out.push((kind.to_string(), e.row.clone())),
                StreamStep::Ping { row, .. } => out.push((kind.to_string(), row.clone())),
                StreamStep::Hold(h) => {
                    if let Some(c) = &h.count {
                        out.push((received.to_string(), c.row.clone()));
                    }
                }
                _ => {}
            }
        }
        out
    };
    match step {
        Step::Request(r) => vec![(r.method.to_string(), r.name.clone())],
        Step::Ws(w) => rows("WS", "WSR", &w.rows, &w.steps, false),
        Step::Sse(e) => rows("SSE", "SSER", &e.rows, &e.steps, true),
        _ => Vec::new(),
    }
}

/// Every `{{ variable }}` a user type can reach must be captured by a step that type can reach,
/// or the request would fail on every run; better to say so before the test starts.
fn check_variables(c: &mut Compiler<'_>, types: &[UserType]) {
    let mut reported = HashSet::new();
    for (i, user) in types.iter().enumerate() {
        let uses: Vec<Uses<'_>> = reachable(types, i).into_iter().filter_map(uses).collect();
        let captured: HashSet<&str> = uses
            .iter()
            .flat_map(|u| u.captures.iter().copied())
            .collect();
        for u in &uses {
            for var in &u.reads {
                if captured.contains(var)
                    || !reported.insert((u.origin.path.clone(), var.to_string()))
                {
                    continue;
                }
                let hint = did_you_mean(var, captured.iter().copied().chain(BUILTIN_VARIABLES))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let via = if u.origin.path.starts_with(&format!("users.{}.", user.name)) {
                    String::new()
                } else {
                    ", which runs this step through `use`".to_string()
                };
                c.errors.push(Diagnostic {
                    file: c.file.to_string(),
                    pos: Some(u.origin.pos),
                    message: format!(
                        "{}: `{{{{ {var} }}}}` is never captured by user `{}`{via}{hint}",
                        u.origin.path, user.name
                    ),
                });
            }
        }
    }
}

/// What one step's templates read and its captures set, and where it is written.
struct Uses<'a> {
    origin: &'a super::Origin,
    reads: Vec<&'a str>,
    captures: Vec<&'a str>,
}

fn uses(step: &Step) -> Option<Uses<'_>> {
    use crate::scenario::stream::StreamSpec;
    fn stream(s: &dyn StreamSpec) -> Uses<'_> {
        Uses {
            origin: &s.target().origin,
            reads: s
                .templates()
                .into_iter()
                .flat_map(Template::variables)
                .collect(),
            captures: s
                .captures()
                .into_iter()
                .map(|c| c.variable.as_str())
                .collect(),
        }
    }
    match step {
        Step::Request(r) => Some(Uses {
            origin: &r.origin,
            reads: r.variables(),
            captures: r.captures.iter().map(|c| c.variable.as_str()).collect(),
        }),
        Step::Ws(w) => Some(stream(&**w)),
        Step::Sse(e) => Some(stream(&**e)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
