//! `{{ ... }}` templates in URLs, headers, query, form and bodies.
//!
//! Each template is parsed once, when the scenario loads, into literal text, variable lookups
//! and built-in calls, so rendering on the request path is a few string appends. The grammar is
//! deliberately small:
//!
//! ```text
//! {{ name }}                       a value captured earlier by this user
//! {{ user_id }}                    this virtual user's number, 1-based
//! {{ random_int(1, 5000) }}        a random integer, both ends included
//! {{ random_choice('USD', 'EUR') }}  one of the arguments (or of one list argument)
//! {{ 'literal {{ text' }}          a quoted string, for text that looks like a template
//! ```

use std::fmt::{self, Write};

use rand::{RngExt, rngs::SmallRng};

/// Names the engine provides; everything else must be captured by the scenario.
pub const BUILTIN_VARIABLES: [&str; 1] = ["user_id"];
const FUNCTIONS: [&str; 2] = ["random_int", "random_choice"];

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Variable(Box<str>),
    UserId,
    RandomInt(i64, i64),
    RandomChoice(Vec<String>),
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

/// A value was used before anything set it (for example a capture that has not run yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetVariable(pub String);

/// The values one virtual user has captured. A handful per user, so a vector beats a map in
/// both speed and memory.
#[derive(Debug, Default, Clone)]
pub struct Variables(Vec<(Box<str>, String)>);

impl Variables {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: String) {
        match self.0.iter_mut().find(|(k, _)| &**k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.into(), value)),
        }
    }
}

/// What rendering may look at: the user's captured values, number and random source.
pub struct RenderEnv<'a> {
    pub vars: &'a Variables,
    pub user_id: u64,
    pub rng: &'a mut SmallRng,
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
        // Adjacent literals (from quoted-string expressions) are merged so static text stays
        // one part.
        let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
        for p in parts {
            match (merged.last_mut(), p) {
                (Some(Part::Literal(a)), Part::Literal(b)) => a.push_str(&b),
                (_, p) => merged.push(p),
            }
        }
        Ok(Template { parts: merged })
    }

    /// The text, when the template has no `{{ }}` at all.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// The captured variables this template reads.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(v) => Some(&**v),
            _ => None,
        })
    }

    pub fn render_into(
        &self,
        env: &mut RenderEnv<'_>,
        out: &mut String,
    ) -> Result<(), UnsetVariable> {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Variable(name) => match env.vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => return Err(UnsetVariable(name.to_string())),
                },
                Part::UserId => {
                    let _ = write!(out, "{}", env.user_id);
                }
                Part::RandomInt(lo, hi) => {
                    let _ = write!(out, "{}", env.rng.random_range(*lo..=*hi));
                }
                Part::RandomChoice(options) => {
                    out.push_str(&options[env.rng.random_range(0..options.len())])
                }
            }
        }
        Ok(())
    }

    pub fn render(&self, env: &mut RenderEnv<'_>) -> Result<String, UnsetVariable> {
        let mut out = String::new();
        self.render_into(env, &mut out)?;
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Arg>),
}

impl Arg {
    fn as_text(&self) -> String {
        match self {
            Arg::Int(n) => n.to_string(),
            Arg::Float(x) => x.to_string(),
            Arg::Str(s) => s.clone(),
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
        return Ok(if expr == "user_id" {
            Part::UserId
        } else {
            Part::Variable(expr.into())
        });
    }
    Err(TemplateError(format!(
        "`{{{{ {expr} }}}}` is not a variable name or a function call (functions: {})",
        FUNCTIONS.join(", ")
    )))
}

fn call(function: &str, args: Vec<Arg>, expr: &str) -> Result<Part, TemplateError> {
    match function {
        "random_int" => match args.as_slice() {
            [Arg::Int(a), Arg::Int(b)] if a <= b => Ok(Part::RandomInt(*a, *b)),
            [Arg::Int(a), Arg::Int(b)] => Err(TemplateError(format!(
                "`{{{{ {expr} }}}}`: random_int needs low <= high, got {a} > {b}"
            ))),
            _ => Err(TemplateError(format!(
                "`{{{{ {expr} }}}}`: random_int takes two integers, e.g. random_int(1, 100)"
            ))),
        },
        "random_choice" => {
            let options: Vec<String> = match args.as_slice() {
                [Arg::List(items)] => items.iter().map(Arg::as_text).collect(),
                items => items.iter().map(Arg::as_text).collect(),
            };
            if options.is_empty() {
                return Err(TemplateError(format!(
                    "`{{{{ {expr} }}}}`: random_choice needs at least one option"
                )));
            }
            Ok(Part::RandomChoice(options))
        }
        other => {
            let hint = FUNCTIONS
                .iter()
                .min_by_key(|f| strsim::levenshtein(f, other))
                .filter(|f| strsim::levenshtein(f, other) <= 3)
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
                None if close.is_none() => {}
                Some(c) => return Err(TemplateError(format!("unexpected `{c}` in `{}`", self.s))),
                None => {}
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
                } else if word.is_empty() {
                    Err(TemplateError(format!(
                        "expected an argument in `{}`",
                        self.s
                    )))
                } else {
                    Err(TemplateError(format!(
                        "`{word}` is not a number; quote text arguments: '{word}'"
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

    fn render(t: &str, vars: &Variables) -> Result<String, UnsetVariable> {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut env = RenderEnv {
            vars,
            user_id: 42,
            rng: &mut rng,
        };
        Template::parse(t).unwrap().render(&mut env)
    }

    #[test]
    fn literals_variables_and_builtins() {
        let mut vars = Variables::default();
        vars.set("csrf", "tok123".to_string());
        assert_eq!(render("/login/", &vars).unwrap(), "/login/");
        assert_eq!(
            render("a={{ csrf }}&u=trader{{user_id}}", &vars).unwrap(),
            "a=tok123&u=trader42"
        );
        assert_eq!(render("{{ '{{' }}x", &vars).unwrap(), "{{x");
        assert_eq!(
            render("{{ missing }}", &vars).unwrap_err(),
            UnsetVariable("missing".to_string())
        );
        assert_eq!(Template::parse("/a").unwrap().as_static(), Some("/a"));
        assert!(Template::parse("/a/{{ x }}").unwrap().as_static().is_none());
    }

    #[test]
    fn random_builtins_stay_in_range() {
        let vars = Variables::default();
        for _ in 0..200 {
            let n: i64 = render("{{ random_int(3, 5) }}", &vars)
                .unwrap()
                .parse()
                .unwrap();
            assert!((3..=5).contains(&n));
        }
        let mut rng = SmallRng::seed_from_u64(9);
        let t = Template::parse("{{ random_choice('USD', \"EUR\", 'GBP') }}").unwrap();
        let list = Template::parse("{{ random_choice(['USD', 'EUR', 'GBP']) }}").unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut env = RenderEnv {
                vars: &vars,
                user_id: 1,
                rng: &mut rng,
            };
            seen.insert(t.render(&mut env).unwrap());
            seen.insert(list.render(&mut env).unwrap());
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn bad_templates_explain_themselves() {
        let err = |s| Template::parse(s).unwrap_err().0;
        assert!(err("{{ x").contains("without a closing"));
        assert!(err("{{ random_itn(1, 2) }}").contains("did you mean `random_int`"));
        assert!(err("{{ random_int(5, 1) }}").contains("low <= high"));
        assert!(err("{{ random_int(a, 1) }}").contains("not a number"));
        assert!(err("{{ random_choice() }}").contains("at least one"));
        assert!(err("{{ a b }}").contains("not a variable name"));
        assert!(err("{{ }}").contains("empty"));
    }

    #[test]
    fn lists_variables() {
        let t = Template::parse("{{ a }}/{{ user_id }}/{{ b }}").unwrap();
        assert_eq!(t.variables().collect::<Vec<_>>(), ["a", "b"]);
    }
}
