//! Whether a response counts as a success: Locust's status rule, or the step's `expect`.
//!
//! A failure reads as Locust records it: `HTTPError('500 Server Error: ...')` for Locust's own
//! rule, `CatchResponseError('expected status 200, got 302')` for a check the scenario asked
//! for (what `response.failure("...")` records in a locustfile).

use std::time::Duration;

use http::StatusCode;

use crate::pyfmt;
use crate::scenario::Checks;

fn catch(message: &str) -> String {
    pyfmt::exception("CatchResponseError", message)
}

/// python-requests' `raise_for_status()` text, naming the request by its statistics name as
/// Locust does.
pub fn http_error(status: StatusCode, name: &str) -> String {
    let kind = if status.is_client_error() {
        "Client"
    } else {
        "Server"
    };
    let reason = status.canonical_reason().unwrap_or("");
    pyfmt::exception(
        "HTTPError",
        &format!("{} {kind} Error: {reason} for url: {name}", status.as_u16()),
    )
}

fn json_shown(v: &serde_json::Value) -> String {
    v.to_string()
}

/// The first check the response fails, as the failure text; `None` when it passes them all.
pub fn failure(
    checks: &Checks,
    status: StatusCode,
    body: &[u8],
    elapsed: Duration,
    name: &str,
) -> Option<String> {
    let code = status.as_u16();
    match &checks.status {
        Some(expected) if !expected.contains(&code) => {
            let wanted: Vec<String> = expected.iter().map(u16::to_string).collect();
            return Some(catch(&format!(
                "expected status {}, got {code}",
                wanted.join(" or ")
            )));
        }
        Some(_) => {}
        None if (400..600).contains(&code) => return Some(http_error(status, name)),
        None => {}
    }
    if let Some(failed) = content_failure(checks, body) {
        return Some(failed);
    }
    if let Some(limit) = checks.max_time
        && elapsed > limit
    {
        return Some(catch(&format!(
            "expected a response within {} ms, took {} ms",
            limit.as_millis(),
            elapsed.as_millis()
        )));
    }
    None
}

/// The first check on the content (text, regexes, JSONPath values) that `body` fails, as the
/// failure text: for a response's body, a WebSocket message or an SSE event's data alike.
pub fn content_failure(checks: &Checks, body: &[u8]) -> Option<String> {
    if !checks.read_body() {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    for needle in &checks.body_contains {
        if !text.contains(needle.as_str()) {
            return Some(catch(&format!(
                "expected the body to contain {}",
                pyfmt::str_repr(needle)
            )));
        }
    }
    for re in &checks.body_matches {
        if !re.is_match(&text) {
            return Some(catch(&format!(
                "expected the body to match {}",
                pyfmt::str_repr(re.as_str())
            )));
        }
    }
    if !checks.json_equals.is_empty() || !checks.json_exists.is_empty() {
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Some(catch("expected a JSON body"));
        };
        for (path, source, expected) in &checks.json_equals {
            let found = path.query(&doc).first().cloned();
            if found.as_ref() != Some(expected) {
                let shown = found.as_ref().map_or("nothing".to_string(), json_shown);
                return Some(catch(&format!(
                    "expected {source} to be {}, found {shown}",
                    json_shown(expected)
                )));
            }
        }
        for (path, source) in &checks.json_exists {
            if path.query(&doc).is_empty() {
                return Some(catch(&format!("expected {source} to find something")));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles `expect: {yaml}` and runs its checks on a response.
    fn check(yaml: &str, status: u16, body: &[u8], ms: u64) -> Option<String> {
        let full = format!(
            "host: http://x.org\nusers:\n  A:\n    tasks:\n      - get: /\n        expect: {yaml}\n"
        );
        let s = crate::scenario::parse("t.yaml", &full, std::path::Path::new("t.yaml"), &|_| None)
            .unwrap();
        let crate::scenario::Step::Request(r) = &s.user_types[0].tasks[0].step else {
            panic!("a request");
        };
        failure(
            &r.checks,
            StatusCode::from_u16(status).unwrap(),
            body,
            Duration::from_millis(ms),
            "n",
        )
    }

    #[test]
    fn locusts_rule_without_expect() {
        let none = Checks::default();
        let ok = |s: u16| {
            failure(
                &none,
                StatusCode::from_u16(s).unwrap(),
                b"",
                Duration::ZERO,
                "Portfolio List",
            )
        };
        assert_eq!(ok(200), None);
        assert_eq!(ok(302), None);
        assert_eq!(ok(700), None, "Locust does not fail a status above 599");
        assert_eq!(
            ok(500).unwrap(),
            "HTTPError('500 Server Error: Internal Server Error for url: Portfolio List')"
        );
        assert_eq!(
            failure(&none, StatusCode::NOT_FOUND, b"", Duration::ZERO, "it's").unwrap(),
            "HTTPError(\"404 Client Error: Not Found for url: it's\")"
        );
    }

    #[test]
    fn every_check_and_its_message() {
        let body = br#"{"status": "ok", "count": 5, "items": [{"id": 7}]}"#;
        let run = |yaml: &str, status: u16, ms: u64| check(yaml, status, body, ms);
        assert_eq!(run("{status: [200, 201]}", 201, 1), None);
        assert_eq!(
            run("{status: 200}", 302, 1).unwrap(),
            "CatchResponseError('expected status 200, got 302')"
        );
        assert_eq!(
            run("{status: [404]}", 404, 1),
            None,
            "an expected error status passes"
        );
        assert_eq!(run("{body_contains: count}", 200, 1), None);
        assert_eq!(
            run("{body_contains: [count, nope]}", 200, 1).unwrap(),
            "CatchResponseError(\"expected the body to contain 'nope'\")"
        );
        assert_eq!(run("{body_matches: '\"id\": \\d+'}", 200, 1), None);
        assert_eq!(
            run("{body_matches: 'x{3}'}", 200, 1).unwrap(),
            "CatchResponseError(\"expected the body to match 'x{3}'\")"
        );
        assert_eq!(
            run(
                "{json: {'$.status': ok, '$.count': 5, '$.items[0].id': 7}}",
                200,
                1
            ),
            None
        );
        assert_eq!(
            run("{json: {'$.status': error}}", 200, 1).unwrap(),
            r#"CatchResponseError('expected $.status to be "error", found "ok"')"#
        );
        assert_eq!(
            run("{json: {'$.missing': 1}}", 200, 1).unwrap(),
            "CatchResponseError('expected $.missing to be 1, found nothing')"
        );
        assert_eq!(run("{json_exists: ['$.items[0].id']}", 200, 1), None);
        assert_eq!(
            run("{json_exists: '$.nope'}", 200, 1).unwrap(),
            "CatchResponseError('expected $.nope to find something')"
        );
        assert_eq!(run("{max_time: 500ms}", 200, 499), None);
        assert_eq!(
            run("{max_time: 500ms}", 200, 812).unwrap(),
            "CatchResponseError('expected a response within 500 ms, took 812 ms')"
        );
    }
}
