//! Compiling `ws:` and `sse:` steps: the target, the rows, and the steps on the stream.

use http::Method;

use super::request::{default_name, is_absolute, own_and_inherited};
use super::{Compiler, Inherited};
use crate::scenario::model::{
    CaptureDef, HoldDef, MatchDef, SendDef, SseDef, SseMethod, StreamExpectDef, StreamStepDef,
    WaitDef, WsDef,
};
use crate::scenario::positions::YamlPath;
use crate::scenario::stream::{
    CountSpec, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HOLD, DEFAULT_IDLE_TIMEOUT, DEFAULT_WITHIN,
    ExpectSpec, HoldSpec, Matcher, Rows, SendBody, SseSpec, StreamStep, Target, WsSpec,
};
use crate::scenario::{Capture, CaptureSource, Origin, WaitTime};

/// Which of the two a stream is, for the rules that differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Ws,
    Sse,
}

/// The settings both kinds share, as written.
struct TargetDef<'a> {
    key: &'static str,
    url: &'a str,
    headers: &'a indexmap::IndexMap<String, crate::scenario::model::Scalar>,
    query: Option<&'a indexmap::IndexMap<String, crate::scenario::model::Scalar>>,
    connect_timeout: Option<crate::scenario::model::Seconds>,
    idle_timeout: Option<crate::scenario::model::Seconds>,
    timeout: Option<crate::scenario::model::Seconds>,
}

impl Compiler<'_> {
    pub(super) fn ws(
        &mut self,
        path: &YamlPath,
        name: Option<&String>,
        def: &WsDef,
        inherited: &Inherited,
    ) -> Option<WsSpec> {
        let target = self.target(
            path,
            &TargetDef {
                key: "ws",
                url: &def.ws,
                headers: &def.headers,
                query: None,
                connect_timeout: def.connect_timeout,
                idle_timeout: def.idle_timeout,
                timeout: def.timeout,
            },
            inherited,
        );
        let base = name.cloned().unwrap_or_else(|| stream_name(&def.ws));
        let id =
            def.id.as_ref().map(
                |id| match self.stream_ids.iter().position(|known| known == id) {
                    Some(i) => i,
                    None => {
                        self.stream_ids.push(id.clone());
                        self.stream_ids.len() - 1
                    }
                },
            );
        let steps = self.stream_steps(&path.key("steps"), &def.steps, &base, Protocol::Ws);
        Some(WsSpec {
            target,
            rows: rows(&base),
            id,
            subprotocols: def.subprotocols.clone(),
            steps,
        })
    }

    pub(super) fn sse(
        &mut self,
        path: &YamlPath,
        name: Option<&String>,
        def: &SseDef,
        inherited: &Inherited,
    ) -> Option<SseSpec> {
        let target = self.target(
            path,
            &TargetDef {
                key: "sse",
                url: &def.sse,
                headers: &def.headers,
                query: Some(&def.query),
                connect_timeout: def.connect_timeout,
                idle_timeout: def.idle_timeout,
                timeout: def.timeout,
            },
            inherited,
        );
        let body = match (&def.json, &def.body) {
            (Some(_), Some(_)) => {
                self.error(path, "give one body: `json` or `body`");
                None
            }
            (Some(j), None) => Some(SendBody::Json(self.json(&path.key("json"), j))),
            (None, Some(b)) => Some(SendBody::Text(self.template(&path.key("body"), b))),
            (None, None) => None,
        };
        let method = match def.method.unwrap_or(SseMethod::GET) {
            SseMethod::GET => Method::GET,
            SseMethod::POST => Method::POST,
        };
        if body.is_some() && method == Method::GET {
            self.error(
                &path.key("method"),
                "a body goes with `method: POST` (an event stream's GET has none)",
            );
        }
        let base = name
            .cloned()
            .unwrap_or_else(|| default_name(&stream_name(&def.sse), &def.query));
        let steps = self.stream_steps(&path.key("steps"), &def.steps, &base, Protocol::Sse);
        Some(SseSpec {
            target,
            rows: rows(&base),
            method,
            body,
            reconnect: def.reconnect.unwrap_or(0),
            steps,
        })
    }

    fn target(&mut self, path: &YamlPath, def: &TargetDef<'_>, inherited: &Inherited) -> Target {
        let url_path = path.key(def.key);
        let url = def.url;
        let schemes: &[&str] = if def.key == "ws" {
            &["ws://", "wss://"]
        } else {
            &["http://", "https://"]
        };
        let absolute = schemes.iter().any(|s| {
            url.get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
        });
        if url.is_empty() {
            self.error(&url_path, "the URL is empty");
        } else if !absolute && !url.starts_with('/') && !url.starts_with("{{") {
            self.error(
                &url_path,
                format!(
                    "the URL `{url}` must start with `/` (a path on the host) or be an absolute {} URL",
                    schemes.join(" or ")
                ),
            );
        }
        let template = self.template(&url_path, url);
        let settings = self.settings(path, inherited, def.headers, None, None, None);
        let (headers, auth) = own_and_inherited(settings, def.headers, true);
        let query = def
            .query
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), self.template(&path.key("query").key(k), &v.0)))
            .collect();
        Target {
            url: template,
            absolute,
            query,
            headers,
            auth,
            connect_timeout: def.connect_timeout.map_or(DEFAULT_CONNECT_TIMEOUT, |s| s.0),
            idle_timeout: def.idle_timeout.map_or(DEFAULT_IDLE_TIMEOUT, |s| s.0),
            timeout: def.timeout.map(|s| s.0),
            origin: Origin {
                file: self.file.to_string(),
                pos: self.pos(&url_path).unwrap_or_default(),
                path: path.to_string(),
            },
        }
    }

    fn stream_steps(
        &mut self,
        path: &YamlPath,
        defs: &[StreamStepDef],
        base: &str,
        protocol: Protocol,
    ) -> Vec<StreamStep> {
        let mut out = Vec::new();
        for (i, def) in defs.iter().enumerate() {
            let p = path.index(i);
            let only_ws = |c: &mut Self, key: &str| {
                c.error(
                    &p.key(key),
                    format!("`{key}` is for a WebSocket; an SSE stream only receives"),
                );
            };
            let step = match def {
                StreamStepDef::Send(body) => {
                    if protocol == Protocol::Sse {
                        only_ws(self, "send");
                        continue;
                    }
                    StreamStep::Send(match body {
                        SendDef::Text(t) => SendBody::Text(self.template(&p.key("send"), t)),
                        SendDef::Json(j) => {
                            SendBody::Json(self.json(&p.key("send").key("json"), j))
                        }
                    })
                }
                StreamStepDef::Expect(e) => {
                    StreamStep::Expect(self.expect(&p.key("expect"), e, base, protocol))
                }
                StreamStepDef::Hold(h) => {
                    StreamStep::Hold(self.hold(&p.key("hold"), h, base, protocol))
                }
                StreamStepDef::Ping(ping) => {
                    if protocol == Protocol::Sse {
                        only_ws(self, "ping");
                        continue;
                    }
                    let ping = ping.as_ref();
                    StreamStep::Ping {
                        row: format!(
                            "{base} {}",
                            ping.and_then(|p| p.name.as_deref()).unwrap_or("ping")
                        ),
                        within: ping.and_then(|p| p.within).map_or(DEFAULT_WITHIN, |s| s.0),
                    }
                }
                StreamStepDef::Close(close) => {
                    if protocol == Protocol::Sse {
                        only_ws(self, "close");
                        continue;
                    }
                    let code = close.as_ref().and_then(|c| c.code).unwrap_or(1000);
                    // RFC 6455 7.4: what an endpoint may send (1005/1006/1015 are never sent).
                    if !(code == 1000
                        || (1001..=1003).contains(&code)
                        || (1007..=1014).contains(&code)
                        || (3000..=4999).contains(&code))
                    {
                        self.error(
                            &p.key("close").key("code"),
                            format!("{code} is not a close code a client may send (1000-1003, 1007-1014, 3000-4999)"),
                        );
                    }
                    StreamStep::Close {
                        code,
                        reason: close
                            .as_ref()
                            .and_then(|c| c.reason.clone())
                            .unwrap_or_default(),
                    }
                }
                StreamStepDef::Wait(w) => StreamStep::Wait(match *w {
                    WaitDef::Fixed(s) => WaitTime::Constant(s.0),
                    WaitDef::Between(a, b) => self.between(&p.key("wait"), a.0, b.0),
                }),
            };
            out.push(step);
        }
        out
    }

    fn matcher(&mut self, path: &YamlPath, def: &MatchDef, protocol: Protocol) -> Matcher {
        if def.event.is_some() && protocol == Protocol::Ws {
            self.error(
                &path.key("event"),
                "`event` is an SSE event's type; a WebSocket message has none",
            );
        }
        let checks = self.content_checks(
            path,
            ["contains", "matches", "json", "json_exists"],
            [&def.contains, &def.matches, &def.json_exists],
            &def.json,
        );
        let mut shown: Vec<String> = Vec::new();
        if let Some(e) = &def.event {
            shown.push(format!("event {e}"));
        }
        shown.extend(
            checks
                .body_contains
                .iter()
                .map(|c| format!("containing {}", crate::pyfmt::str_repr(c))),
        );
        shown.extend(
            checks
                .body_matches
                .iter()
                .map(|r| format!("matching {}", crate::pyfmt::str_repr(r.as_str()))),
        );
        shown.extend(
            checks
                .json_equals
                .iter()
                .map(|(_, s, v)| format!("with {s} = {v}")),
        );
        shown.extend(checks.json_exists.iter().map(|(_, s)| format!("with {s}")));
        Matcher {
            event: def.event.clone(),
            checks,
            shown: if shown.is_empty() {
                "any".to_string()
            } else {
                shown.join(", ")
            },
        }
    }

    fn expect(
        &mut self,
        path: &YamlPath,
        def: &StreamExpectDef,
        base: &str,
        protocol: Protocol,
    ) -> ExpectSpec {
        let matcher = self.matcher(&path.key("match"), &def.match_, protocol);
        let check = def
            .check
            .as_ref()
            .map(|c| self.matcher(&path.key("check"), c, protocol));
        let captures = def
            .capture
            .iter()
            .filter_map(|(var, c)| self.message_capture(&path.key("capture").key(var), var, c))
            .collect();
        ExpectSpec {
            row: format!("{base} {}", def.name.as_deref().unwrap_or("expect")),
            matcher,
            within: def.within.map_or(DEFAULT_WITHIN, |s| s.0),
            max_time: def.max_time.map(|s| s.0),
            check,
            captures,
        }
    }

    /// A capture from a message: it has a body but no headers or cookies.
    fn message_capture(
        &mut self,
        path: &YamlPath,
        variable: &str,
        def: &CaptureDef,
    ) -> Option<Capture> {
        for (key, set) in [
            ("cookie", def.cookie.is_some()),
            ("header", def.header.is_some()),
        ] {
            if set {
                self.error(
                    &path.key(key),
                    format!(
                        "a message has no {key}s; capture from it with `json`, `regex` or `css`"
                    ),
                );
                return None;
            }
        }
        let c = self.capture(path, variable, def)?;
        debug_assert!(!matches!(
            c.source,
            CaptureSource::Cookie(_) | CaptureSource::Header(_)
        ));
        Some(c)
    }

    fn hold(&mut self, path: &YamlPath, def: &HoldDef, base: &str, protocol: Protocol) -> HoldSpec {
        let until = def
            .until
            .as_ref()
            .map(|m| self.matcher(&path.key("until"), m, protocol));
        let count = def.count.as_ref().map(|c| CountSpec {
            row: format!("{base} {}", c.name.as_deref().unwrap_or("count")),
            matcher: self.matcher(&path.key("count").key("match"), &c.match_, protocol),
            min: c.min,
        });
        if def.messages == Some(0) {
            self.error(&path.key("messages"), "hold at least 1 message");
        }
        HoldSpec {
            duration: def.for_.map_or(DEFAULT_HOLD, |s| s.0),
            messages: def.messages,
            until,
            count,
        }
    }
}

fn rows(base: &str) -> Rows {
    Rows {
        name: base.to_string(),
        session: format!("{base} session"),
        first_event: format!("{base} first event"),
    }
}

/// A stream's rows are named by its URL as written, without scheme, host and query (a token
/// in the query would make a row per user).
fn stream_name(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or(url);
    if is_absolute(without_query)
        || without_query.starts_with("ws://")
        || without_query.starts_with("wss://")
    {
        let after = &without_query[without_query.find("://").map_or(0, |i| i + 3)..];
        return after
            .find('/')
            .map_or("/".to_string(), |i| after[i..].to_string());
    }
    without_query.to_string()
}
