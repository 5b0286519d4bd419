//! HTML of the demo target: plain server-rendered pages shaped like a Django admin-style app.

use std::fmt::Write;

use super::Session;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

pub fn layout(title: &str, user: Option<&Session>, body: &str) -> String {
    let who = user.map_or(String::new(), |s| {
        format!(
            "<span class=\"user\">{} ({:?})</span> <a href=\"/logout/\">Log out</a>",
            escape(&s.username),
            s.role
        )
    });
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>CisTrade - {t}</title></head>\n<body>\n\
         <nav><a href=\"/dashboard/\">Dashboard</a> | <a href=\"/portfolio/\">Portfolios</a> | \
         <a href=\"/reference-data/currency/\">Currencies</a> | <a href=\"/reference-data/country/\">Countries</a> | \
         <a href=\"/reference-data/calendar/\">Calendars</a> | <a href=\"/reference-data/counterparty/\">Counterparties</a> | \
         <a href=\"/udf/\">Custom fields</a> | <a href=\"/audit-log/\">Audit log</a> {who}</nav>\n\
         <h1>{t}</h1>\n{body}\n</body></html>\n",
        t = escape(title)
    )
}

/// A table; cells are HTML already (escape text before passing it).
pub fn table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut out = String::from("<table>\n<thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    out
}

pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", escape(href), escape(text))
}

/// "Page 2 of 100" with previous/next links that keep the other query parameters.
pub fn pagination(base_query: &str, page: usize, pages: usize, total: usize) -> String {
    let sep = if base_query.is_empty() { "?" } else { "&" };
    let mut out = format!("<p class=\"pagination\">{total} results. Page {page} of {pages}.");
    if page > 1 {
        let _ = write!(
            out,
            " <a href=\"?{}{sep}page={}\">previous</a>",
            escape(base_query),
            page - 1
        );
    }
    if page < pages {
        let _ = write!(
            out,
            " <a href=\"?{}{sep}page={}\">next</a>",
            escape(base_query),
            page + 1
        );
    }
    out.push_str("</p>\n");
    out
}

/// A POST form with Django's CSRF field; `fields` are (label, name, value).
pub fn form(action: &str, csrf: &str, fields: &[(&str, &str, &str)], submit: &str) -> String {
    let mut out = format!(
        "<form method=\"post\" action=\"{}\">\n<input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{}\">\n",
        escape(action),
        escape(csrf)
    );
    for (label, name, value) in fields {
        let kind = if *name == "password" {
            "password"
        } else {
            "text"
        };
        let _ = writeln!(
            out,
            "<p><label for=\"id_{name}\">{}</label> <input type=\"{kind}\" name=\"{name}\" id=\"id_{name}\" value=\"{}\"></p>",
            escape(label),
            escape(value)
        );
    }
    let _ = write!(
        out,
        "<button type=\"submit\">{}</button>\n</form>\n",
        escape(submit)
    );
    out
}

pub fn login_page(csrf: &str, next: &str, error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"errornote\">{}</p>\n", escape(e))
    });
    let action = format!("/login/?next={}", next);
    let body = format!(
        "{error}{}",
        form(
            &action,
            csrf,
            &[("Username", "username", ""), ("Password", "password", "")],
            "Log in"
        )
    );
    layout("Log in", None, &body)
}
