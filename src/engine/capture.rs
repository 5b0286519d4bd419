//! Taking values out of a response into the user's variables.
//!
//! An attribute capture (`css:` with `attr:`, `form_field:`) reads the body with lol_html's
//! streaming matcher, every such capture of the response in one pass, instead of building
//! html5ever's whole tree: the tree was the largest single cost of the CisTrade journey (~11%
//! of a profile's samples). Text captures, and selectors lol_html does not know, still use the
//! tree, built at most once per response.

use cookie_store::CookieStore;
use rand::{RngExt, rngs::SmallRng};

use super::http::Response;
use crate::scenario::{Capture, CaptureSource, Pick, Value, Variables};

/// What captures read: a response's body, headers and URL, or a message's text alone.
pub struct Payload<'a> {
    pub body: &'a [u8],
    pub headers: Option<&'a http::HeaderMap>,
    pub url: Option<&'a url::Url>,
}

impl<'a> From<&'a Response> for Payload<'a> {
    fn from(r: &'a Response) -> Self {
        Payload {
            body: &r.body,
            headers: Some(&r.headers),
            url: Some(&r.url),
        }
    }
}

/// The body, parsed at most once however many captures read it.
struct Parsed<'a> {
    resp: &'a Payload<'a>,
    text: Option<std::borrow::Cow<'a, str>>,
    json: Option<Option<serde_json::Value>>,
    html: Option<scraper::Html>,
}

impl<'a> Parsed<'a> {
    fn text(&mut self) -> &str {
        self.text
            .get_or_insert_with(|| String::from_utf8_lossy(self.resp.body))
    }

    fn json(&mut self) -> Option<&serde_json::Value> {
        self.json
            .get_or_insert_with(|| serde_json::from_slice(self.resp.body).ok())
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
fn matches(
    c: &Capture,
    parsed: &mut Parsed<'_>,
    jar: &CookieStore,
    streamed: &mut Option<Vec<String>>,
) -> Result<Vec<String>, String> {
    let found: Vec<String> = match &c.source {
        CaptureSource::Header(h) => parsed
            .resp
            .headers
            .into_iter()
            .flat_map(|headers| headers.get_all(h))
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect(),
        CaptureSource::Cookie(name) => parsed
            .resp
            .url
            .into_iter()
            .flat_map(|url| jar.get_request_values(url))
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
        CaptureSource::Html { selector, attr, .. } => match streamed.take() {
            Some(found) => found,
            None => parsed
                .html()
                .select(selector)
                .filter_map(|el| match attr {
                    Some(a) => el.value().attr(a).map(String::from),
                    None => Some(el.text().collect::<String>().trim().to_string()),
                })
                .collect(),
        },
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

/// The values of every attribute capture lol_html can match, from one pass over the body;
/// `None` for the others (and for all, should the body not parse), which then use the tree.
fn stream_attributes(captures: &[Capture], body: &[u8]) -> Vec<Option<Vec<String>>> {
    use lol_html::html_content::Element;
    use lol_html::{ElementContentHandlers, HtmlRewriter, Settings};
    use std::borrow::Cow;
    use std::cell::RefCell;

    let streams = |c: &Capture| {
        matches!(
            &c.source,
            CaptureSource::Html {
                streaming: Some(_),
                attr: Some(_),
                ..
            }
        )
    };
    if !captures.iter().any(streams) {
        return vec![None; captures.len()];
    }
    let found: Vec<RefCell<Option<Vec<String>>>> =
        captures.iter().map(|_| RefCell::new(None)).collect();
    let mut settings = Settings::new();
    for (c, cell) in captures.iter().zip(&found) {
        let CaptureSource::Html {
            streaming: Some(selector),
            attr: Some(attr),
            ..
        } = &c.source
        else {
            continue;
        };
        *cell.borrow_mut() = Some(Vec::new());
        let handler = ElementContentHandlers::default().element(move |el: &mut Element<'_, '_>| {
            if let Some(value) = el.get_attribute(attr)
                && let Some(values) = cell.borrow_mut().as_mut()
            {
                // lol_html leaves entities as written; a tree decodes them.
                values.push(html_escape::decode_html_entities(&value).into_owned());
            }
            Ok(())
        });
        settings = settings.append_element_content_handler((Cow::Borrowed(&**selector), handler));
    }
    let parsed = {
        let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
        match rewriter.write(body) {
            Ok(()) => rewriter.end().is_ok(),
            Err(_) => false,
        }
    };
    let found: Vec<Option<Vec<String>>> = found.into_iter().map(RefCell::into_inner).collect();
    match parsed {
        true => found,
        false => vec![None; captures.len()],
    }
}

/// Applies every capture; the first one that finds nothing is reported (the request then
/// counts as failed) but the others still run, so one miss does not hide the rest.
pub fn apply(
    captures: &[Capture],
    resp: &Payload<'_>,
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
    let mut streamed = stream_attributes(captures, resp.body);
    for (c, streamed) in captures.iter().zip(streamed.iter_mut()) {
        match matches(c, &mut parsed, jar, streamed) {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn capture(css: &str, attr: &str) -> Capture {
        Capture {
            variable: "v".to_string(),
            source: CaptureSource::Html {
                selector: scraper::Selector::parse(css).unwrap(),
                streaming: css.parse::<lol_html::Selector>().ok().map(Arc::new),
                source: css.to_string(),
                attr: Some(attr.to_string()),
            },
            pick: Pick::All,
        }
    }

    /// What the streaming matcher finds, and what html5ever's tree does.
    fn both(css: &str, attr: &str, html: &str) -> (Vec<String>, Vec<String>) {
        let c = capture(css, attr);
        let streamed = stream_attributes(std::slice::from_ref(&c), html.as_bytes())
            .pop()
            .flatten()
            .expect("streamed");
        let tree = scraper::Html::parse_document(html)
            .select(&scraper::Selector::parse(css).unwrap())
            .filter_map(|el| el.value().attr(attr).map(String::from))
            .collect();
        (streamed, tree)
    }

    #[test]
    fn streaming_finds_what_the_tree_finds() {
        let page = r#"<!doctype html><HTML><body>
            <form method=post><INPUT type=hidden NAME="csrfmiddlewaretoken" value=Zm9v&amp;YmFy></form>
            <table><tr><td><a href="/portfolio/17/?a=1&amp;b=&#x27;2&#39;">Growth</a></td>
            <td><a href='/portfolio/42/'>Income</a><a href="/other/">x</a></td></tr>
            <tr><td><span><a href="/portfolio/99/" title="&quot;q&quot; &lt;&gt;">deep</a></span></td></tr></table>
            <p><a href="/portfolio/outside/">not in a cell</a></p></body></HTML>"#;
        for (css, attr) in [
            (r#"input[name="csrfmiddlewaretoken"]"#, "value"),
            (r#"td a[href^="/portfolio/"]"#, "href"),
            ("td > a", "href"),
            ("a[title]", "title"),
            ("tr:first-child a", "href"),
            ("a:not([href$=\"/other/\"])", "href"),
        ] {
            let (streamed, tree) = both(css, attr, page);
            assert!(!tree.is_empty(), "{css}");
            assert_eq!(streamed, tree, "{css}");
        }
    }

    #[test]
    fn selectors_lol_html_does_not_know_use_the_tree() {
        let c = capture("a + a", "href");
        assert!(matches!(
            &c.source,
            CaptureSource::Html {
                streaming: None,
                ..
            }
        ));
        assert_eq!(
            stream_attributes(&[c], b"<a href=1></a><a href=2></a>"),
            vec![None]
        );
    }
}
