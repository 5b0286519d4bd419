//! Compiling one request: URL and name, inherited settings, bodies, checks and captures.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, Method};
use indexmap::IndexMap;

use super::{Compiler, Inherited};
use crate::scenario::model::{
    AuthDef, CaptureDef, ExpectDef, OneOrMany, PartDef, Pick, RequestDef, Scalar, Seconds,
};
use crate::scenario::positions::YamlPath;
use crate::scenario::template::BUILTIN_VARIABLES;
use crate::scenario::{
    Auth, Body, Capture, CaptureSource, Checks, Credentials, DEFAULT_TIMEOUT, Header, JsonTemplate,
    Origin, Part, RequestSpec,
};

/// The headers and credentials a step sends: its own, and those it inherits (marked so, as an
/// inherited one waits for the values it reads).
pub(super) fn own_and_inherited(
    settings: Inherited,
    own: &IndexMap<String, Scalar>,
    auth_inherited: bool,
) -> (Vec<Header>, Option<Credentials>) {
    let headers = settings
        .headers
        .into_iter()
        .map(|(name, value)| {
            let inherited = !own.keys().any(|k| k.eq_ignore_ascii_case(name.as_str()));
            Header {
                name,
                value,
                inherited,
            }
        })
        .collect();
    let auth = settings.auth.map(|auth| Credentials {
        auth,
        inherited: auth_inherited,
    });
    (headers, auth)
}

pub(super) fn is_absolute(url: &str) -> bool {
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
pub(super) fn default_name(url: &str, query: &IndexMap<String, Scalar>) -> String {
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

impl Compiler<'_> {
    /// Request settings at one level (defaults, a user type, a step) over the inherited ones.
    pub(super) fn settings(
        &mut self,
        path: &YamlPath,
        inherited: &Inherited,
        headers: &IndexMap<String, Scalar>,
        auth: Option<&AuthDef>,
        timeout: Option<Seconds>,
        follow_redirects: Option<bool>,
    ) -> Inherited {
        let mut out = inherited.clone();
        for (name, value) in headers {
            let p = path.key("headers").key(name);
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) => {
                    let t = self.template(&p, &value.0);
                    out.headers.retain(|(x, _)| *x != h);
                    out.headers.push((h, t));
                }
                Err(_) => self.error(&p, format!("`{name}` is not a valid HTTP header name")),
            }
        }
        if let Some(a) = auth {
            out.auth = self.auth(&path.key("auth"), a);
        }
        if let Some(t) = timeout {
            out.timeout = Some(t.0);
        }
        if let Some(f) = follow_redirects {
            out.follow_redirects = Some(f);
        }
        out
    }

    fn auth(&mut self, path: &YamlPath, def: &AuthDef) -> Option<Auth> {
        match (&def.basic, &def.bearer) {
            (Some([user, password]), None) => {
                let u = self.template(&path.key("basic"), user);
                let p = self.template(&path.key("basic"), password);
                Some(Auth::Basic(u, p))
            }
            (None, Some(token)) => Some(Auth::Bearer(self.template(&path.key("bearer"), token))),
            _ => {
                self.error(
                    path,
                    "give one of `basic: [user, password]` or `bearer: token`",
                );
                None
            }
        }
    }

    fn read_file(&mut self, path: &YamlPath, name: &str) -> Option<Bytes> {
        let file = self.file_path(name);
        match std::fs::read(&file) {
            Ok(bytes) => Some(Bytes::from(bytes)),
            Err(e) => {
                self.error(path, format!("cannot read {}: {e}", file.display()));
                None
            }
        }
    }

    pub(super) fn capture(
        &mut self,
        path: &YamlPath,
        variable: &str,
        def: &CaptureDef,
    ) -> Option<Capture> {
        if !is_identifier(variable) {
            self.error(
                path,
                format!("`{variable}` is not a valid variable name (letters, digits and `_`)"),
            );
            return None;
        }
        if BUILTIN_VARIABLES.contains(&variable) || variable == "env" {
            self.error(
                path,
                format!("`{variable}` is a built-in name and cannot be captured into"),
            );
            return None;
        }
        let given: Vec<&str> = [
            ("cookie", def.cookie.is_some()),
            ("header", def.header.is_some()),
            ("json", def.json.is_some()),
            ("regex", def.regex.is_some()),
            ("form_field", def.form_field.is_some()),
            ("css", def.css.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        if given.len() != 1 {
            let msg = if given.is_empty() {
                "say where to capture from: one of `cookie`, `header`, `json`, `regex`, `form_field`, `css`".to_string()
            } else {
                format!("give one source per capture, not {}", given.join(" and "))
            };
            self.error(path, msg);
            return None;
        }
        if def.attr.is_some() && def.css.is_none() {
            self.error(&path.key("attr"), "`attr` goes with `css`");
        }
        if def.group.is_some() && def.regex.is_none() {
            self.error(&path.key("group"), "`group` goes with `regex`");
        }
        // lol_html knows most of CSS (not `+`, `~` or `:last-child`, say); what it does not
        // know goes through the tree.
        let streaming = |css: &str, attr: bool| {
            attr.then(|| css.parse::<lol_html::Selector>().ok().map(Arc::new))
                .flatten()
        };
        let selector = |c: &mut Self, css: &str, key: &str| match scraper::Selector::parse(css) {
            Ok(s) => Some(s),
            Err(e) => {
                c.error(
                    &path.key(key),
                    format!("`{css}` is not a CSS selector: {e}"),
                );
                None
            }
        };
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
        } else if let Some(r) = &def.regex {
            match regex::Regex::new(r) {
                Ok(regex) => {
                    if let Some(g) = def.group
                        && g >= regex.captures_len()
                    {
                        self.error(
                            &path.key("group"),
                            format!(
                                "the regex has {} groups, there is no group {g}",
                                regex.captures_len() - 1
                            ),
                        );
                    }
                    CaptureSource::Regex {
                        regex,
                        group: def.group,
                    }
                }
                Err(e) => {
                    let why = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    self.error(
                        &path.key("regex"),
                        format!("invalid regular expression: {why}"),
                    );
                    return None;
                }
            }
        } else if let Some(field) = &def.form_field {
            let css = format!("input[name=\"{}\"]", field.replace('"', "\\\""));
            CaptureSource::Html {
                selector: selector(self, &css, "form_field")?,
                streaming: streaming(&css, true),
                source: format!("form field `{field}`"),
                attr: Some("value".to_string()),
            }
        } else {
            let css = def.css.as_deref().unwrap_or_default();
            CaptureSource::Html {
                selector: selector(self, css, "css")?,
                streaming: streaming(css, def.attr.is_some()),
                source: format!("`{css}`"),
                attr: def.attr.clone(),
            }
        };
        Some(Capture {
            variable: variable.to_string(),
            source,
            pick: def.pick.unwrap_or(Pick::First),
        })
    }

    fn checks(&mut self, path: &YamlPath, def: Option<&ExpectDef>) -> Checks {
        let Some(def) = def else {
            return Checks::default();
        };
        let status = def.status.clone().map(|s| s.into_vec());
        if let Some(statuses) = &status {
            if statuses.is_empty() {
                self.error(&path.key("status"), "list at least one status");
            }
            for s in statuses {
                if !(100..=999).contains(s) {
                    self.error(&path.key("status"), format!("`{s}` is not an HTTP status"));
                }
            }
        }
        let content = self.content_checks(
            path,
            ["body_contains", "body_matches", "json", "json_exists"],
            [&def.body_contains, &def.body_matches, &def.json_exists],
            &def.json,
        );
        Checks {
            status,
            max_time: def.max_time.map(|s| s.0),
            ..content
        }
    }

    /// Checks on a body, a message or an event: text it contains, regexes it matches, JSONPath
    /// values it holds. `keys` name them as the step writes them (for errors), `lists` are
    /// (contains, matches, json_exists).
    pub(super) fn content_checks(
        &mut self,
        path: &YamlPath,
        keys: [&str; 4],
        lists: [&Option<OneOrMany<String>>; 3],
        json: &IndexMap<String, serde_yaml::Value>,
    ) -> Checks {
        let list =
            |l: &Option<OneOrMany<String>>| l.clone().map(|v| v.into_vec()).unwrap_or_default();
        let mut body_matches = Vec::new();
        for r in list(lists[1]) {
            match regex::Regex::new(&r) {
                Ok(re) => body_matches.push(re),
                Err(e) => {
                    let why = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    self.error(
                        &path.key(keys[1]),
                        format!("invalid regular expression: {why}"),
                    );
                }
            }
        }
        let json_path = |c: &mut Self, key: &str, source: &str| {
            match serde_json_path::JsonPath::parse(source) {
                Ok(p) => Some(p),
                Err(e) => {
                    c.error(
                        &path.key(key),
                        format!("`{source}` is not a JSONPath ({e})"),
                    );
                    None
                }
            }
        };
        let mut json_equals = Vec::new();
        for (source, expected) in json {
            if let Some(p) = json_path(self, keys[2], source) {
                json_equals.push((p, source.clone(), super::super::validate::to_json(expected)));
            }
        }
        let mut json_exists = Vec::new();
        for source in list(lists[2]) {
            if let Some(p) = json_path(self, keys[3], &source) {
                json_exists.push((p, source));
            }
        }
        Checks {
            status: None,
            body_contains: list(lists[0]),
            body_matches,
            json_equals,
            json_exists,
            max_time: None,
        }
    }

    pub(super) fn json(&mut self, path: &YamlPath, v: &serde_yaml::Value) -> JsonTemplate {
        use serde_yaml::Value;
        match v {
            Value::Null => JsonTemplate::Null,
            Value::Bool(b) => JsonTemplate::Bool(*b),
            Value::Number(_) => match super::super::validate::to_json(v) {
                serde_json::Value::Number(n) => JsonTemplate::Number(n),
                _ => {
                    self.error(path, format!("`{v:?}` cannot be written in JSON"));
                    JsonTemplate::Null
                }
            },
            Value::String(s) => JsonTemplate::String(self.template(path, s)),
            Value::Sequence(items) => JsonTemplate::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.json(&path.index(i), item))
                    .collect(),
            ),
            Value::Mapping(m) => JsonTemplate::Object(
                m.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Value::String(s) => s.clone(),
                            other => serde_yaml::to_string(other)
                                .unwrap_or_default()
                                .trim()
                                .to_string(),
                        };
                        let value = self.json(&path.key(&key), v);
                        (key, value)
                    })
                    .collect(),
            ),
            Value::Tagged(t) => {
                self.error(path, format!("YAML tag `{}` has no JSON meaning", t.tag));
                JsonTemplate::Null
            }
        }
    }

    fn body(&mut self, path: &YamlPath, def: &RequestDef) -> Body {
        let given: Vec<&str> = [
            ("form", def.form.is_some()),
            ("json", def.json.is_some()),
            ("body", def.body.is_some()),
            ("body_file", def.body_file.is_some()),
            ("multipart", def.multipart.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        if given.len() > 1 {
            self.error(path, format!("give one body, not {}", given.join(" and ")));
        }
        if let Some(form) = &def.form {
            Body::Form(
                form.iter()
                    .map(|(k, v)| (k.clone(), self.template(&path.key("form").key(k), &v.0)))
                    .collect(),
            )
        } else if let Some(json) = &def.json {
            Body::Json(self.json(&path.key("json"), json))
        } else if let Some(raw) = &def.body {
            Body::Raw(self.template(&path.key("body"), raw))
        } else if let Some(file) = &def.body_file {
            self.read_file(&path.key("body_file"), file)
                .map_or(Body::None, Body::File)
        } else if let Some(parts) = &def.multipart {
            let mut out = Vec::new();
            for (name, part) in parts {
                let p = path.key("multipart").key(name);
                match part {
                    PartDef::Text(v) => {
                        out.push((name.clone(), Part::Text(self.template(&p, &v.0))))
                    }
                    PartDef::File(f) => {
                        if let Some(bytes) = self.read_file(&p.key("file"), &f.file) {
                            let filename = f.filename.clone().unwrap_or_else(|| {
                                std::path::Path::new(&f.file)
                                    .file_name()
                                    .map(|n| n.to_string_lossy().into_owned())
                                    .unwrap_or_else(|| f.file.clone())
                            });
                            let content_type = f
                                .content_type
                                .clone()
                                .unwrap_or_else(|| "application/octet-stream".to_string());
                            out.push((
                                name.clone(),
                                Part::File {
                                    bytes,
                                    filename,
                                    content_type,
                                },
                            ));
                        }
                    }
                }
            }
            Body::Multipart(out)
        } else {
            Body::None
        }
    }

    pub(super) fn request(
        &mut self,
        path: &YamlPath,
        name: Option<&String>,
        def: &RequestDef,
        method_key: &str,
        url: &str,
        inherited: &Inherited,
    ) -> RequestSpec {
        let url_path = path.key(method_key);
        if url.is_empty() {
            self.error(&url_path, "the URL is empty");
        } else if !is_absolute(url) && !url.starts_with('/') && !url.starts_with("{{") {
            self.error(
                &url_path,
                format!("the URL `{url}` must start with `/` (a path on the host) or be an absolute http(s):// URL"),
            );
        }
        let url_template = self.template(&url_path, url);
        let settings = self.settings(
            path,
            inherited,
            &def.headers,
            def.auth.as_ref(),
            def.timeout,
            def.follow_redirects,
        );
        let query = def
            .query
            .iter()
            .map(|(k, v)| (k.clone(), self.template(&path.key("query").key(k), &v.0)))
            .collect();
        let body = self.body(path, def);
        let checks = self.checks(&path.key("expect"), def.expect.as_ref());
        let captures: Vec<Capture> = def
            .capture
            .iter()
            .filter_map(|(var, c)| self.capture(&path.key("capture").key(var), var, c))
            .collect();
        let keep_body = checks.read_body() || captures.iter().any(|c| c.source.reads_body());
        let (headers, auth) = own_and_inherited(settings.clone(), &def.headers, def.auth.is_none());
        RequestSpec {
            method: Method::from_bytes(method_key.to_ascii_uppercase().as_bytes())
                .expect("known method"),
            url: url_template,
            absolute: is_absolute(url),
            name: name
                .cloned()
                .unwrap_or_else(|| default_name(url, &def.query)),
            headers,
            auth,
            query,
            body,
            checks,
            captures,
            timeout: settings.timeout.unwrap_or(DEFAULT_TIMEOUT),
            follow_redirects: settings.follow_redirects.unwrap_or(true),
            keep_body,
            origin: Origin {
                file: self.file.to_string(),
                pos: self.pos(&url_path).unwrap_or_default(),
                path: path.to_string(),
            },
        }
    }
}
