//! Taking values out of a response into the user's variables.

use cookie_store::CookieStore;
use rand::{RngExt, rngs::SmallRng};

use super::http::Response;
use crate::scenario::{Capture, CaptureSource, Pick, Value, Variables};

/// The response body, parsed at most once however many captures read it.
struct Parsed<'a> {
    resp: &'a Response,
    text: Option<std::borrow::Cow<'a, str>>,
    json: Option<Option<serde_json::Value>>,
    html: Option<scraper::Html>,
}

impl<'a> Parsed<'a> {
    fn text(&mut self) -> &str {
        self.text
            .get_or_insert_with(|| String::from_utf8_lossy(&self.resp.body))
    }

    fn json(&mut self) -> Option<&serde_json::Value> {
        self.json
            .get_or_insert_with(|| serde_json::from_slice(&self.resp.body).ok())
            .as_ref()
    }

    fn html(&mut self) -> &scraper::Html {
        if self.html.is_none() {
            let doc = scraper::Html::parse_document(self.text());
            self.html = Some(doc);
        }
        self.html.as_ref().expect("parsed above")
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every match of one capture, or why there is none.
fn matches(c: &Capture, parsed: &mut Parsed<'_>, jar: &CookieStore) -> Result<Vec<String>, String> {
    let found: Vec<String> = match &c.source {
        CaptureSource::Header(h) => parsed
            .resp
            .headers
            .get_all(h)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect(),
        CaptureSource::Cookie(name) => jar
            .get_request_values(&parsed.resp.url)
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.to_string())
            .collect(),
        CaptureSource::Json { path, source } => match parsed.json() {
            None => return Err(format!("`{source}`: the response body is not JSON")),
            Some(value) => path.query(value).all().into_iter().map(json_text).collect(),
        },
        CaptureSource::Regex { regex, group } => {
            let text = parsed.text().to_string();
            regex
                .captures_iter(&text)
                .filter_map(|m| {
                    let g = group.unwrap_or(if m.len() > 1 { 1 } else { 0 });
                    m.get(g).map(|x| x.as_str().to_string())
                })
                .collect()
        }
        CaptureSource::Html { selector, attr, .. } => parsed
            .html()
            .select(selector)
            .filter_map(|el| match attr {
                Some(a) => el.value().attr(a).map(String::from),
                None => Some(el.text().collect::<String>().trim().to_string()),
            })
            .collect(),
    };
    if found.is_empty() {
        let what = match &c.source {
            CaptureSource::Header(h) => format!("no `{h}` header in the response"),
            CaptureSource::Cookie(name) => {
                format!("no cookie `{name}` in the response or the user's cookie jar")
            }
            CaptureSource::Json { source, .. } => {
                format!("`{source}` matched nothing in the response")
            }
            CaptureSource::Regex { regex, .. } => {
                format!("regex `{}` found no match in the response", regex.as_str())
            }
            CaptureSource::Html { source, .. } => format!("{source} is not in the response"),
        };
        return Err(what);
    }
    Ok(found)
}

/// Applies every capture; the first one that finds nothing is reported (the request then
/// counts as failed) but the others still run, so one miss does not hide the rest.
pub fn apply(
    captures: &[Capture],
    resp: &Response,
    jar: &CookieStore,
    vars: &mut Variables,
    rng: &mut SmallRng,
) -> Result<(), String> {
    let mut parsed = Parsed {
        resp,
        text: None,
        json: None,
        html: None,
    };
    let mut first_miss: Option<String> = None;
    for c in captures {
        match matches(c, &mut parsed, jar) {
            Ok(mut found) => {
                let value = match c.pick {
                    Pick::First => Value::Text(found.swap_remove(0)),
                    Pick::Last => Value::Text(found.pop().expect("not empty")),
                    Pick::Random => {
                        let i = rng.random_range(0..found.len());
                        Value::Text(found.swap_remove(i))
                    }
                    Pick::All => Value::List(found),
                };
                vars.set(&c.variable, value);
            }
            Err(why) => {
                first_miss.get_or_insert(format!("capture `{}`: {why}", c.variable));
            }
        }
    }
    first_miss.map_or(Ok(()), Err)
}
