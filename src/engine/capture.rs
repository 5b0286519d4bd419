//! Taking values out of a response into the user's variables.

use cookie_store::CookieStore;

use super::http::Response;
use crate::scenario::{Capture, CaptureSource, Variables};

/// Whether any capture reads the body (so it must be kept, not only counted).
pub fn needs_body(captures: &[Capture]) -> bool {
    captures.iter().any(|c| {
        matches!(
            c.source,
            CaptureSource::Json { .. } | CaptureSource::Regex(_)
        )
    })
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Applies every capture; the first one that finds nothing is reported (the request then
/// counts as failed) but the others still run, so one miss does not hide the rest.
pub fn apply(
    captures: &[Capture],
    resp: &Response,
    jar: &CookieStore,
    vars: &mut Variables,
) -> Result<(), String> {
    let mut first_miss: Option<String> = None;
    let mut json: Option<Result<serde_json::Value, ()>> = None;
    for c in captures {
        let found = match &c.source {
            CaptureSource::Header(h) => resp
                .headers
                .get(h)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .ok_or_else(|| format!("no `{h}` header in the response")),
            CaptureSource::Cookie(name) => jar
                .get_request_values(&resp.url)
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_string())
                .ok_or_else(|| {
                    format!("no cookie `{name}` in the response or the user's cookie jar")
                }),
            CaptureSource::Json { path, source } => {
                let parsed =
                    json.get_or_insert_with(|| serde_json::from_slice(&resp.body).map_err(|_| ()));
                match parsed {
                    Err(()) => Err(format!("`{source}`: the response body is not JSON")),
                    Ok(value) => path
                        .query(value)
                        .first()
                        .map(json_text)
                        .ok_or_else(|| format!("`{source}` matched nothing in the response")),
                }
            }
            CaptureSource::Regex(re) => {
                let text = String::from_utf8_lossy(&resp.body);
                re.captures(&text)
                    .map(|m| {
                        m.get(1)
                            .unwrap_or_else(|| m.get(0).expect("group 0 always exists"))
                            .as_str()
                            .to_string()
                    })
                    .ok_or_else(|| {
                        format!("regex `{}` found no match in the response", re.as_str())
                    })
            }
        };
        match found {
            Ok(value) => vars.set(&c.variable, value),
            Err(why) => {
                first_miss.get_or_insert(format!("capture `{}`: {why}", c.variable));
            }
        }
    }
    first_miss.map_or(Ok(()), Err)
}
