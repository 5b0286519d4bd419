//! `{{ ... }}` templates in URLs, headers, query, form, JSON and raw bodies.
//!
//! Each template is parsed once, when the scenario loads, into literal text, value lookups and
//! built-in calls, so rendering on the request path is a few string appends. The grammar is
//! deliberately small, which lets every name be checked before the run:
//!
//! ```text
//! {{ name }}                          a value this user captured (a list reads as a,b,c)
//! {{ pick(name) }}                    a random item of a captured list
//! {{ logins.username }}               a column of a data feeder's current row
//! {{ env.API_TOKEN }}                 an environment variable, read when the scenario loads
//! {{ user_id }}  {{ iteration }}      the user's number (1, 2, ...) and its task-run count
//! {{ random_int(1, 5000) }}           a random integer, both ends included
//! {{ random_choice('USD', 'EUR') }}   one of the values (or of one list argument)
//! {{ uuid() }}                        a random UUID
//! {{ timestamp() }}  {{ timestamp_ms() }}   Unix time in seconds / milliseconds
//! {{ now() }}  {{ now('%Y-%m-%d') }}  the UTC time, ISO 8601 or in a strftime format
//! {{ 'literal {{ text' }}             quoted text, for text that looks like a template
//! ```

use std::fmt::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::{RngExt, rngs::SmallRng};

use super::model::{FeederMode, FeederScope};

/// Names the engine provides; everything else must be captured, fed or read from `env`.
pub const BUILTIN_VARIABLES: [&str; 2] = ["user_id", "iteration"];
const FUNCTIONS: [&str; 7] = [
    "random_int",
    "random_choice",
    "pick",
    "uuid",
    "timestamp",
    "timestamp_ms",
    "now",
];

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Literal(String),
    Variable(Box<str>),
    Pick(Box<str>),
    /// `a.b`, resolved by the compiler into an environment value or a feeder column.
    Dotted(Vec<String>),
    Feeder {
        feeder: usize,
        column: usize,
    },
    UserId,
    Iteration,
    RandomInt(i64, i64),
    RandomChoice(Vec<String>),
    Uuid,
    Timestamp,
    TimestampMs,
    Now(Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a template could not be rendered for this user at this moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// A value used before anything captured it (for example its capture failed).
    Unset(String),
    /// A `unique` feeder has handed out every row.
    Exhausted { feeder: String, rows: usize },
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Unset(name) => write!(
                f,
                "`{{{{ {name} }}}}` has no value yet: the step that captures it has not succeeded for this user"
            ),
            RenderError::Exhausted { feeder, rows } => write!(
                f,
                "data feeder `{feeder}` has no rows left: its {rows} rows were each used once (mode unique)"
            ),
        }
    }
}

/// A captured value: one text, or every match (`pick: all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    List(Vec<String>),
}

/// The values one virtual user has captured. A handful per user, so a vector beats a map in
/// both speed and memory.
#[derive(Debug, Default, Clone)]
pub struct Variables(Vec<(Box<str>, Value)>);

impl Variables {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| v)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Text(t) => Some(t),
            Value::List(_) => None,
        }
    }

    pub fn set(&mut self, name: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| &**k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.into(), value)),
        }
    }
}

/// A CSV file of rows that users read through `{{ name.column }}`.
#[derive(Debug)]
pub struct Feeder {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub mode: FeederMode,
    pub per: FeederScope,
    /// The next row for `unique` and `cycle`, shared by every user.
    next: AtomicUsize,
}

impl Feeder {
    pub fn new(
        name: String,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        mode: FeederMode,
        per: FeederScope,
    ) -> Self {
        Feeder {
            name,
            columns,
            rows,
            mode,
            per,
            next: AtomicUsize::new(0),
        }
    }

    /// Hands out a row index.
    fn take(&self, rng: &mut SmallRng) -> Result<usize, RenderError> {
        let n = self.rows.len();
        match self.mode {
            FeederMode::Random => Ok(rng.random_range(0..n)),
            FeederMode::Cycle => Ok(self.next.fetch_add(1, Ordering::Relaxed) % n),
            FeederMode::Unique => {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                if i < n {
                    Ok(i)
                } else {
                    Err(RenderError::Exhausted {
                        feeder: self.name.clone(),
                        rows: n,
                    })
                }
            }
        }
    }
}

/// What rendering may look at: the user's values, numbers, feeder rows and random source.
pub struct RenderEnv<'a> {
    pub vars: &'a Variables,
    pub user_id: u64,
    pub iteration: u64,
    pub rng: &'a mut SmallRng,
    pub feeders: &'a [Feeder],
    /// The row this user holds of each feeder, taken on first use.
    pub rows: &'a mut [Option<usize>],
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| {
                TemplateError(format!("`{{{{` without a closing `}}}}` in `{source}`"))
            })?;
            parts.push(parse_expression(after[..end].trim())?);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template {
            parts: merge_literals(parts),
        })
    }

    /// Replaces each `a.b` name through `resolve` (an environment value, a feeder column).
    pub(crate) fn resolve_dotted(
        &mut self,
        mut resolve: impl FnMut(&[String]) -> Result<Part, String>,
    ) -> Result<(), TemplateError> {
        for part in &mut self.parts {
            if let Part::Dotted(path) = part {
                *part = resolve(path).map_err(TemplateError)?;
            }
        }
        self.parts = merge_literals(std::mem::take(&mut self.parts));
        Ok(())
    }

    /// The text, when the template has no `{{ }}` at all.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// The captured values this template reads.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(v) | Part::Pick(v) => Some(&**v),
            _ => None,
        })
    }

    /// The feeders this template reads.
    pub fn feeders(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Feeder { feeder, .. } => Some(*feeder),
            _ => None,
        })
    }

    pub fn render_into(
        &self,
        env: &mut RenderEnv<'_>,
        out: &mut String,
    ) -> Result<(), RenderError> {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Variable(name) => match env.vars.get(name) {
                    Some(Value::Text(v)) => out.push_str(v),
                    Some(Value::List(items)) => out.push_str(&items.join(",")),
                    None => return Err(RenderError::Unset(name.to_string())),
                },
                Part::Pick(name) => match env.vars.get(name) {
                    Some(Value::Text(v)) => out.push_str(v),
                    Some(Value::List(items)) if !items.is_empty() => {
                        out.push_str(&items[env.rng.random_range(0..items.len())]);
                    }
                    _ => return Err(RenderError::Unset(name.to_string())),
                },
                Part::Feeder { feeder, column } => {
                    let row = match env.rows[*feeder] {
                        Some(row) => row,
                        None => {
                            let row = env.feeders[*feeder].take(env.rng)?;
                            env.rows[*feeder] = Some(row);
                            row
                        }
                    };
                    out.push_str(&env.feeders[*feeder].rows[row][*column]);
                }
                Part::UserId => {
                    let _ = write!(out, "{}", env.user_id);
                }
                Part::Iteration => {
                    let _ = write!(out, "{}", env.iteration);
                }
                Part::RandomInt(lo, hi) => {
                    let _ = write!(out, "{}", env.rng.random_range(*lo..=*hi));
                }
                Part::RandomChoice(options) => {
                    out.push_str(&options[env.rng.random_range(0..options.len())])
                }
                Part::Uuid => {
                    let bytes: [u8; 16] = env.rng.random();
                    let _ = write!(
                        out,
                        "{}",
                        uuid::Builder::from_random_bytes(bytes).into_uuid()
                    );
                }
                Part::Timestamp => {
                    let _ = write!(out, "{}", chrono::Utc::now().timestamp());
                }
                Part::TimestampMs => {
                    let _ = write!(out, "{}", chrono::Utc::now().timestamp_millis());
                }
                Part::Now(format) => {
                    let now = chrono::Utc::now();
                    let _ = match format {
                        Some(f) => write!(out, "{}", now.format(f)),
                        None => write!(out, "{}", now.format("%Y-%m-%dT%H:%M:%SZ")),
                    };
                }
                Part::Dotted(path) => return Err(RenderError::Unset(path.join("."))),
            }
        }
        Ok(())
    }

    pub fn render(&self, env: &mut RenderEnv<'_>) -> Result<String, RenderError> {
        let mut out = String::new();
        self.render_into(env, &mut out)?;
        Ok(out)
    }
}

/// Adjacent literals (from quoted strings, resolved values) become one, so static text stays
/// one part.
fn merge_literals(parts: Vec<Part>) -> Vec<Part> {
    let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
    for p in parts {
        match (merged.last_mut(), p) {
            (Some(Part::Literal(a)), Part::Literal(b)) => a.push_str(&b),
            (_, p) => merged.push(p),
        }
    }
    merged
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Int(i64),
    Float(f64),
    Str(String),
    Name(String),
    List(Vec<Arg>),
}

impl Arg {
    fn as_text(&self) -> String {
        match self {
            Arg::Int(n) => n.to_string(),
            Arg::Float(x) => x.to_string(),
            Arg::Str(s) | Arg::Name(s) => s.clone(),
            Arg::List(items) => items.iter().map(Arg::as_text).collect::<Vec<_>>().join(","),
        }
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_expression(expr: &str) -> Result<Part, TemplateError> {
    if expr.is_empty() {
        return Err(TemplateError("empty `{{ }}`".to_string()));
    }
    if expr.starts_with('\'') || expr.starts_with('"') {
        let mut lexer = Lexer { s: expr, i: 0 };
        let s = lexer.string()?;
        lexer.skip_ws();
        if lexer.i != expr.len() {
            return Err(TemplateError(format!(
                "unexpected text after the string in `{{{{ {expr} }}}}`"
            )));
        }
        return Ok(Part::Literal(s));
    }
    if let Some(open) = expr.find('(') {
        let function = expr[..open].trim();
        let close = expr
            .rfind(')')
            .filter(|&c| c > open && expr[c + 1..].trim().is_empty())
            .ok_or_else(|| {
                TemplateError(format!("`{{{{ {expr} }}}}`: a call must end with `)`"))
            })?;
        let mut lexer = Lexer {
            s: &expr[..close],
            i: open + 1,
        };
        let args = lexer.args(None)?;
        return call(function, args, expr);
    }
    if is_ident(expr) {
        return Ok(match expr {
            "user_id" => Part::UserId,
            "iteration" => Part::Iteration,
            _ => Part::Variable(expr.into()),
        });
    }
    let segments: Vec<&str> = expr.split('.').map(str::trim).collect();
    if segments.len() > 1 && segments.iter().all(|s| is_ident(s)) {
        return Ok(Part::Dotted(
            segments.into_iter().map(String::from).collect(),
        ));
    }
    Err(TemplateError(format!(
        "`{{{{ {expr} }}}}` is not a name or a function call (functions: {})",
        FUNCTIONS.join(", ")
    )))
}

fn call(function: &str, args: Vec<Arg>, expr: &str) -> Result<Part, TemplateError> {
    let bad = |usage: &str| Err(TemplateError(format!("`{{{{ {expr} }}}}`: {usage}")));
    match function {
        "random_int" => match args.as_slice() {
            [Arg::Int(a), Arg::Int(b)] if a <= b => Ok(Part::RandomInt(*a, *b)),
            [Arg::Int(a), Arg::Int(b)] => {
                bad(&format!("random_int needs low <= high, got {a} > {b}"))
            }
            _ => bad("random_int takes two integers, e.g. random_int(1, 100)"),
        },
        "random_choice" => {
            let options: Vec<String> = match args.as_slice() {
                [Arg::List(items)] => items.iter().map(Arg::as_text).collect(),
                items => items.iter().map(Arg::as_text).collect(),
            };
            if options.is_empty() {
                return bad("random_choice needs at least one option");
            }
            Ok(Part::RandomChoice(options))
        }
        "pick" => match args.as_slice() {
            [Arg::Name(n)] => Ok(Part::Pick(n.as_str().into())),
            _ => bad("pick takes the name of a captured list, e.g. pick(portfolio_ids)"),
        },
        "uuid" | "timestamp" | "timestamp_ms" if !args.is_empty() => {
            bad(&format!("{function}() takes no arguments"))
        }
        "uuid" => Ok(Part::Uuid),
        "timestamp" => Ok(Part::Timestamp),
        "timestamp_ms" => Ok(Part::TimestampMs),
        "now" => match args.as_slice() {
            [] => Ok(Part::Now(None)),
            [Arg::Str(f)] => {
                let items: Vec<_> = chrono::format::StrftimeItems::new(f).collect();
                if items.contains(&chrono::format::Item::Error) {
                    return bad(&format!("`{f}` is not a strftime format"));
                }
                Ok(Part::Now(Some(f.clone())))
            }
            _ => bad("now takes nothing or a quoted strftime format, e.g. now('%Y-%m-%d')"),
        },
        other => {
            let hint = super::compile::did_you_mean(other, FUNCTIONS)
                .map(|f| format!(" (did you mean `{f}`?)"))
                .unwrap_or_default();
            Err(TemplateError(format!(
                "unknown function `{other}` in `{{{{ {expr} }}}}`{hint}; functions: {}",
                FUNCTIONS.join(", ")
            )))
        }
    }
}

struct Lexer<'a> {
    s: &'a str,
    i: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.s[self.i..].starts_with(char::is_whitespace) {
            self.i += self.s[self.i..].chars().next().map_or(1, char::len_utf8);
        }
    }

    fn peek(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }

    /// Comma-separated arguments up to `close` (or the end of input).
    fn args(&mut self, close: Option<char>) -> Result<Vec<Arg>, TemplateError> {
        let mut args = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None if close.is_none() => return Ok(args),
                Some(c) if Some(c) == close => {
                    self.i += 1;
                    return Ok(args);
                }
                None => {
                    return Err(TemplateError(format!(
                        "missing `{}` in `{}`",
                        close.unwrap_or(')'),
                        self.s
                    )));
                }
                _ => {}
            }
            args.push(self.arg()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.i += 1,
                Some(c) if Some(c) == close => {}
                None => {}
                Some(c) => return Err(TemplateError(format!("unexpected `{c}` in `{}`", self.s))),
            }
        }
    }

    fn arg(&mut self) -> Result<Arg, TemplateError> {
        match self.peek() {
            Some('\'') | Some('"') => self.string().map(Arg::Str),
            Some('[') => {
                self.i += 1;
                self.args(Some(']')).map(Arg::List)
            }
            _ => {
                let start = self.i;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' || c == '+'
                }) {
                    self.i += 1;
                }
                let word = &self.s[start..self.i];
                if let Ok(n) = word.parse::<i64>() {
                    Ok(Arg::Int(n))
                } else if let Ok(x) = word.parse::<f64>() {
                    Ok(Arg::Float(x))
                } else if is_ident(word) {
                    Ok(Arg::Name(word.to_string()))
                } else if word.is_empty() {
                    Err(TemplateError(format!(
                        "expected an argument in `{}`",
                        self.s
                    )))
                } else {
                    Err(TemplateError(format!(
                        "`{word}` is not a number or a name; quote text: '{word}'"
                    )))
                }
            }
        }
    }

    fn string(&mut self) -> Result<String, TemplateError> {
        let quote = self.peek().expect("caller saw a quote");
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.s[self.i..].char_indices();
        while let Some((off, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        out.push(n);
                    }
                }
                c if c == quote => {
                    self.i += off + 1;
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        Err(TemplateError(format!(
            "unterminated string in `{}`",
            self.s
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn render_with(
        t: &str,
        vars: &Variables,
        feeders: &[Feeder],
        rows: &mut [Option<usize>],
    ) -> Result<String, RenderError> {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut env = RenderEnv {
            vars,
            user_id: 42,
            iteration: 3,
            rng: &mut rng,
            feeders,
            rows,
        };
        Template::parse(t).unwrap().render(&mut env)
    }

    fn render(t: &str, vars: &Variables) -> Result<String, RenderError> {
        render_with(t, vars, &[], &mut [])
    }

    #[test]
    fn literals_variables_and_builtins() {
        let mut vars = Variables::default();
        vars.set("csrf", Value::Text("tok123".to_string()));
        vars.set("ids", Value::List(vec!["7".into(), "9".into()]));
        assert_eq!(render("/login/", &vars).unwrap(), "/login/");
        assert_eq!(
            render("a={{ csrf }}&u=trader{{user_id}}&i={{ iteration }}", &vars).unwrap(),
            "a=tok123&u=trader42&i=3"
        );
        assert_eq!(render("{{ ids }}", &vars).unwrap(), "7,9");
        assert!(["7", "9"].contains(&render("{{ pick(ids) }}", &vars).unwrap().as_str()));
        assert_eq!(render("{{ '{{' }}x", &vars).unwrap(), "{{x");
        assert_eq!(
            render("{{ missing }}", &vars).unwrap_err(),
            RenderError::Unset("missing".to_string())
        );
        assert_eq!(Template::parse("/a").unwrap().as_static(), Some("/a"));
        assert!(Template::parse("/a/{{ x }}").unwrap().as_static().is_none());
    }

    #[test]
    fn generated_values() {
        let vars = Variables::default();
        let uuid = render("{{ uuid() }}", &vars).unwrap();
        assert!(uuid::Uuid::parse_str(&uuid).is_ok(), "{uuid}");
        assert_eq!(uuid.len(), 36);
        let t: i64 = render("{{ timestamp() }}", &vars).unwrap().parse().unwrap();
        assert!((t - chrono::Utc::now().timestamp()).abs() < 5);
        let ms: i64 = render("{{ timestamp_ms() }}", &vars)
            .unwrap()
            .parse()
            .unwrap();
        assert!(ms / 1000 - t <= 5);
        assert_eq!(
            render("{{ now('%Y') }}", &vars).unwrap(),
            chrono::Utc::now().format("%Y").to_string()
        );
        assert!(render("{{ now() }}", &vars).unwrap().ends_with('Z'));
        for _ in 0..200 {
            let n: i64 = render("{{ random_int(3, 5) }}", &vars)
                .unwrap()
                .parse()
                .unwrap();
            assert!((3..=5).contains(&n));
        }
    }

    #[test]
    fn feeders_hand_out_rows_by_mode() {
        let rows = |n: usize| (0..n).map(|i| vec![format!("u{i}")]).collect::<Vec<_>>();
        let unique = Feeder::new(
            "logins".into(),
            vec!["name".into()],
            rows(2),
            FeederMode::Unique,
            FeederScope::User,
        );
        let cycle = Feeder::new(
            "terms".into(),
            vec!["name".into()],
            rows(2),
            FeederMode::Cycle,
            FeederScope::User,
        );
        let feeders = [unique, cycle];
        let mut t = Template::parse("{{ logins.name }}/{{ terms.name }}").unwrap();
        t.resolve_dotted(|p| {
            Ok(Part::Feeder {
                feeder: if p[0] == "logins" { 0 } else { 1 },
                column: 0,
            })
        })
        .unwrap();
        let vars = Variables::default();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut render = |rows: &mut [Option<usize>]| {
            let mut env = RenderEnv {
                vars: &vars,
                user_id: 1,
                iteration: 0,
                rng: &mut rng,
                feeders: &feeders,
                rows,
            };
            t.render(&mut env)
        };
        let (mut a, mut b, mut c) = ([None, None], [None, None], [None, None]);
        assert_eq!(render(&mut a).unwrap(), "u0/u0");
        assert_eq!(render(&mut a).unwrap(), "u0/u0", "a user keeps its rows");
        assert_eq!(render(&mut b).unwrap(), "u1/u1");
        assert_eq!(
            render(&mut c).unwrap_err(),
            RenderError::Exhausted {
                feeder: "logins".into(),
                rows: 2
            }
        );
        c[0] = Some(0);
        assert_eq!(render(&mut c).unwrap(), "u0/u0", "cycle starts over");
    }

    #[test]
    fn bad_templates_explain_themselves() {
        let err = |s| Template::parse(s).unwrap_err().0;
        assert!(err("{{ x").contains("without a closing"));
        assert!(err("{{ random_itn(1, 2) }}").contains("did you mean `random_int`"));
        assert!(err("{{ random_int(5, 1) }}").contains("low <= high"));
        assert!(err("{{ random_int(a, 1) }}").contains("random_int takes two integers"));
        assert!(err("{{ random_choice() }}").contains("at least one"));
        assert!(err("{{ pick('x') }}").contains("pick takes the name of a captured list"));
        assert!(err("{{ uuid(1) }}").contains("uuid() takes no arguments"));
        assert!(err("{{ now('%Q') }}").contains("not a strftime format"));
        assert!(err("{{ a b }}").contains("not a name or a function call"));
        assert!(err("{{ }}").contains("empty"));
    }

    #[test]
    fn lists_variables_and_dotted_names() {
        let t = Template::parse("{{ a }}/{{ user_id }}/{{ pick(b) }}/{{ env.HOME }}").unwrap();
        assert_eq!(t.variables().collect::<Vec<_>>(), ["a", "b"]);
        let mut t = t;
        t.resolve_dotted(|p| Ok(Part::Literal(format!("<{}>", p.join("+")))))
            .unwrap();
        assert!(t.parts.contains(&Part::Literal("/<env+HOME>".to_string())));
    }
}
