//! The demo target's endpoints. Lists answer HTML by default and JSON with `?format=json`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use super::data::{self, Portfolio};
use super::pages::{self, escape, link};
use super::{App, Latency, PASSWORD, Session, cookie, random_token, redirect, set_cookie};

const PAGE_SIZE: usize = 50;

type AppState = State<Arc<App>>;
type Params = Query<HashMap<String, String>>;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health/", get(|| async { "ok" }))
        .route("/", get(|| async { redirect("/dashboard/") }))
        .route("/login/", get(login_form).post(login_submit))
        .route("/logout/", get(logout).post(logout))
        .route("/dashboard/", get(dashboard))
        .route("/dashboard/activity/", get(activity))
        .route("/audit-log/", get(audit_log))
        .route("/portfolio/", get(portfolio_list))
        .route("/portfolio/export/", get(portfolio_export))
        .route(
            "/portfolio/create/",
            get(portfolio_create_form).post(portfolio_create),
        )
        .route("/portfolio/{id}/", get(portfolio_detail))
        .route("/reference-data/{kind}/", get(reference_list))
        .route("/reference-data/{kind}/{item}/", get(reference_item))
        .route("/udf/", get(udf_list))
        .route("/udf/{id}/", get(udf_detail))
        .route("/udf/{id}/edit/", get(udf_edit_form).post(udf_edit))
        .route("/ws/stream", get(super::stream::ws_stream))
        .route("/ws/stats", get(super::stream::ws_stats))
        .route("/sse/stream", get(super::stream::sse_stream))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            injected_delay,
        ))
        .with_state(app)
}

/// `--delay`: the extra time configured for the request's path, before it is answered.
async fn injected_delay(
    State(app): AppState,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(d) = app.delay_for(request.uri().path()) {
        tokio::time::sleep(d).await;
    }
    next.run(request).await
}

fn wants_json(q: &HashMap<String, String>) -> bool {
    q.get("format").is_some_and(|f| f == "json")
}

fn forbidden(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(format!("<h1>Forbidden (403)</h1><p>{}</p>", escape(why))),
    )
        .into_response()
}

fn csrf_failure() -> Response {
    forbidden("CSRF verification failed. Request aborted.")
}

/// Django's check: the form field (or `X-CSRFToken` header) must match the `csrftoken` cookie.
fn csrf_ok(headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let Some(expected) = cookie(headers, "csrftoken") else {
        return false;
    };
    let sent = form.get("csrfmiddlewaretoken").cloned().or_else(|| {
        headers
            .get("x-csrftoken")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    });
    sent.as_deref() == Some(expected.as_str())
}

/// The request's CSRF token, and a `Set-Cookie` when it had none yet.
fn csrf_token(headers: &HeaderMap) -> (String, Option<header::HeaderValue>) {
    match cookie(headers, "csrftoken") {
        Some(t) => (t, None),
        None => {
            let t = random_token(32);
            let c = set_cookie("csrftoken", &t);
            (t, Some(c))
        }
    }
}

fn with_cookie(mut resp: Response, c: Option<header::HeaderValue>) -> Response {
    if let Some(c) = c {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

fn page_of<T>(items: &[T], q: &HashMap<String, String>) -> (usize, usize, std::ops::Range<usize>) {
    let pages = items.len().div_ceil(PAGE_SIZE).max(1);
    let page = q
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let start = (page - 1) * PAGE_SIZE;
    (page, pages, start..(start + PAGE_SIZE).min(items.len()))
}

/// The query without `page`, for pagination links.
fn base_query(q: &HashMap<String, String>) -> String {
    let mut pairs: Vec<(&String, &String)> =
        q.iter().filter(|(k, _)| k.as_str() != "page").collect();
    pairs.sort();
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn csv_response(filename: &str, mut rows: Vec<Vec<String>>, header_row: &[&str]) -> Response {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(header_row);
    for r in rows.drain(..) {
        let _ = w.write_record(&r);
    }
    let body = w.into_inner().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn login_form(headers: HeaderMap, q: Params) -> Response {
    let (token, set) = csrf_token(&headers);
    let next = q
        .get("next")
        .cloned()
        .unwrap_or_else(|| "/dashboard/".to_string());
    with_cookie(
        Html(pages::login_page(&token, &next, None)).into_response(),
        set,
    )
}

async fn login_submit(
    State(app): AppState,
    headers: HeaderMap,
    q: Params,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    app.latency(Latency::Login).await;
    if !csrf_ok(&headers, &form) {
        return csrf_failure();
    }
    let username = form.get("username").map(|s| s.trim()).unwrap_or("");
    let next = q
        .get("next")
        .filter(|n| n.starts_with('/'))
        .cloned()
        .unwrap_or_else(|| "/dashboard/".to_string());
    if username.is_empty() || form.get("password").map(String::as_str) != Some(PASSWORD) {
        // Django answers a failed login with the form again, status 200.
        let token = cookie(&headers, "csrftoken").unwrap_or_default();
        let error = "Please enter a correct username and password. Note that both fields may be case-sensitive.";
        return Html(pages::login_page(&token, &next, Some(error))).into_response();
    }
    let session = app.login(username);
    let mut resp = redirect(&next);
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie("sessionid", &session));
    // Django rotates the CSRF token at login.
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie("csrftoken", &random_token(32)),
    );
    resp
}

async fn logout(State(app): AppState, headers: HeaderMap) -> Response {
    app.logout(&headers);
    let mut resp = redirect("/login/");
    resp.headers_mut().append(
        header::SET_COOKIE,
        header::HeaderValue::from_static("sessionid=; Path=/; Max-Age=0"),
    );
    resp
}

async fn dashboard(State(app): AppState, headers: HeaderMap, uri: Uri, q: Params) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    app.latency(Latency::Dashboard).await;
    let active = app
        .data
        .portfolios
        .iter()
        .filter(|p| p.status == "ACTIVE")
        .count();
    let nav: f64 = app.data.portfolios.iter().map(|p| p.nav).sum();
    if wants_json(&q) {
        return Json(
            json!({"portfolios": app.data.portfolios.len(), "active": active, "total_nav": nav,
            "counterparties": app.data.counterparties.len(), "udfs": app.data.udfs.len()}),
        )
        .into_response();
    }
    let body = format!(
        "<ul><li>{} portfolios, {active} active, total NAV {nav:.2}</li><li>{} counterparties</li><li>{} custom fields</li></ul>\n\
         <p>{} | {}</p>",
        app.data.portfolios.len(),
        app.data.counterparties.len(),
        app.data.udfs.len(),
        link("/dashboard/activity/", "Recent activity"),
        link("/audit-log/", "Audit log")
    );
    Html(pages::layout("Dashboard", Some(&s), &body)).into_response()
}

async fn activity(State(app): AppState, headers: HeaderMap, uri: Uri, q: Params) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    app.latency(Latency::Dashboard).await;
    let recent = app.recent_activity();
    let latest: Vec<&data::AuditEntry> = app.data.audit.iter().take(20).collect();
    if wants_json(&q) {
        return Json(json!({"recent": recent, "audit": latest})).into_response();
    }
    let mut body: String = recent
        .iter()
        .map(|e| format!("<p>{}</p>\n", escape(e)))
        .collect();
    body.push_str(&pages::table(
        &["When", "User", "Action", "Entity"],
        latest.iter().map(|a| {
            vec![
                escape(&a.timestamp),
                escape(a.user),
                a.action.to_string(),
                format!("{} {}", a.entity, a.entity_id),
            ]
        }),
    ));
    Html(pages::layout("Recent activity", Some(&s), &body)).into_response()
}

async fn audit_log(State(app): AppState, headers: HeaderMap, uri: Uri, q: Params) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    app.latency(Latency::Audit).await;
    let items: Vec<&data::AuditEntry> = app
        .data
        .audit
        .iter()
        .filter(|a| q.get("user").is_none_or(|u| a.user == u))
        .collect();
    let (page, pages, range) = page_of(&items, &q);
    if wants_json(&q) {
        return Json(json!({"count": items.len(), "page": page, "results": &items[range]}))
            .into_response();
    }
    let table = pages::table(
        &["When", "User", "Action", "Entity"],
        items[range].iter().map(|a| {
            vec![
                escape(&a.timestamp),
                escape(a.user),
                a.action.to_string(),
                format!("{} {}", a.entity, a.entity_id),
            ]
        }),
    );
    let body = format!(
        "{table}{}",
        pages::pagination(&base_query(&q), page, pages, items.len())
    );
    Html(pages::layout("Audit log", Some(&s), &body)).into_response()
}

fn matching_portfolios<'a>(app: &'a App, q: &HashMap<String, String>) -> Vec<&'a Portfolio> {
    let search = q
        .get("search")
        .map(|s| s.to_lowercase())
        .filter(|s| !s.is_empty());
    app.data
        .portfolios
        .iter()
        .filter(|p| {
            search.as_ref().is_none_or(|s| {
                p.name.to_lowercase().contains(s)
                    || p.currency.to_lowercase() == *s
                    || p.status.to_lowercase() == *s
            })
        })
        .filter(|p| {
            q.get("status")
                .is_none_or(|st| st.is_empty() || p.status.eq_ignore_ascii_case(st))
        })
        .filter(|p| {
            q.get("currency")
                .is_none_or(|c| c.is_empty() || p.currency.eq_ignore_ascii_case(c))
        })
        .collect()
}

async fn portfolio_list(State(app): AppState, headers: HeaderMap, uri: Uri, q: Params) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let searching = q.get("search").is_some_and(|s| !s.is_empty());
    app.latency(if searching {
        Latency::Search
    } else {
        Latency::List
    })
    .await;
    let items = matching_portfolios(&app, &q);
    let (page, pages, range) = page_of(&items, &q);
    if wants_json(&q) {
        return Json(
            json!({"count": items.len(), "page": page, "pages": pages, "results": &items[range]}),
        )
        .into_response();
    }
    let table = pages::table(
        &["ID", "Name", "Currency", "Status", "Manager", "NAV"],
        items[range].iter().map(|p| {
            vec![
                p.id.to_string(),
                link(&format!("/portfolio/{}/", p.id), &p.name),
                p.currency.to_string(),
                p.status.to_string(),
                escape(p.manager),
                format!("{:.2}", p.nav),
            ]
        }),
    );
    let body = format!(
        "<p>{} | {}</p>\n{table}{}",
        link("/portfolio/create/", "New portfolio"),
        link("/portfolio/export/", "Export CSV"),
        pages::pagination(&base_query(&q), page, pages, items.len())
    );
    Html(pages::layout("Portfolios", Some(&s), &body)).into_response()
}

async fn portfolio_detail(
    State(app): AppState,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    q: Params,
) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    app.latency(Latency::Detail).await;
    let found = id.parse::<u32>().ok().and_then(|id| {
        app.data
            .portfolios
            .get((id as usize).wrapping_sub(1))
            .cloned()
            .or_else(|| app.created_portfolio(id))
    });
    let Some(p) = found else {
        return not_found_page();
    };
    if wants_json(&q) {
        return Json(&p).into_response();
    }
    let body = format!(
        "<dl><dt>Name</dt><dd>{}</dd><dt>Currency</dt><dd>{}</dd><dt>Status</dt><dd>{}</dd><dt>Manager</dt><dd>{}</dd>\
         <dt>NAV</dt><dd>{:.2}</dd><dt>Inception</dt><dd>{}</dd></dl>\n<p>{}</p>",
        escape(&p.name),
        p.currency,
        p.status,
        escape(p.manager),
        p.nav,
        p.inception,
        link("/portfolio/", "Back to portfolios")
    );
    Html(pages::layout(&p.name, Some(&s), &body)).into_response()
}

async fn portfolio_export(
    State(app): AppState,
    headers: HeaderMap,
    uri: Uri,
    q: Params,
) -> Response {
    if let Err(r) = app.session(&headers, &uri) {
        return r.into_response();
    }
    app.latency(Latency::Export).await;
    let rows = matching_portfolios(&app, &q)
        .into_iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                p.name.clone(),
                p.currency.into(),
                p.status.into(),
                p.manager.into(),
                format!("{:.2}", p.nav),
                p.inception.clone(),
            ]
        })
        .collect();
    csv_response(
        "portfolios.csv",
        rows,
        &[
            "id",
            "name",
            "currency",
            "status",
            "manager",
            "nav",
            "inception",
        ],
    )
}

fn create_form_page(
    s: &Session,
    csrf: &str,
    values: &HashMap<String, String>,
    errors: &[String],
) -> String {
    let v = |k: &str| values.get(k).map(String::as_str).unwrap_or("");
    let errors: String = errors
        .iter()
        .map(|e| format!("<p class=\"errornote\">{}</p>\n", escape(e)))
        .collect();
    let form = pages::form(
        "/portfolio/create/",
        csrf,
        &[
            ("Name", "name", v("name")),
            ("Currency", "currency", v("currency")),
            ("Status", "status", v("status")),
        ],
        "Create",
    );
    pages::layout("New portfolio", Some(s), &format!("{errors}{form}"))
}

async fn portfolio_create_form(State(app): AppState, headers: HeaderMap, uri: Uri) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if !s.may_create_portfolios() {
        return forbidden("Only makers may create portfolios.");
    }
    app.latency(Latency::Detail).await;
    let (token, set) = csrf_token(&headers);
    with_cookie(
        Html(create_form_page(&s, &token, &HashMap::new(), &[])).into_response(),
        set,
    )
}

async fn portfolio_create(
    State(app): AppState,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if !csrf_ok(&headers, &form) {
        return csrf_failure();
    }
    if !s.may_create_portfolios() {
        return forbidden("Only makers may create portfolios.");
    }
    app.latency(Latency::Write).await;
    let name = form
        .get("name")
        .map(|n| n.trim().to_string())
        .unwrap_or_default();
    let currency = form
        .get("currency")
        .map(|c| c.trim().to_uppercase())
        .unwrap_or_default();
    let status = form
        .get("status")
        .map(|c| c.trim().to_uppercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "PENDING".into());
    let mut errors = Vec::new();
    if name.is_empty() || name.len() > 100 {
        errors.push("Name: this field is required (at most 100 characters).".to_string());
    }
    let currency = data::PORTFOLIO_CURRENCIES
        .iter()
        .find(|c| **c == currency)
        .copied();
    if currency.is_none() {
        errors.push(format!(
            "Currency: select one of {}.",
            data::PORTFOLIO_CURRENCIES.join(", ")
        ));
    }
    let status = data::PORTFOLIO_STATUSES
        .iter()
        .find(|c| **c == status)
        .copied();
    if status.is_none() {
        errors.push(format!(
            "Status: select one of {}.",
            data::PORTFOLIO_STATUSES.join(", ")
        ));
    }
    let (Some(currency), Some(status), true) = (currency, status, errors.is_empty()) else {
        let token = cookie(&headers, "csrftoken").unwrap_or_default();
        return Html(create_form_page(&s, &token, &form, &errors)).into_response();
    };
    let id = app.next_portfolio_id();
    app.remember_created(Portfolio {
        id,
        name: name.clone(),
        currency,
        status,
        manager: "A. Rossi",
        nav: 0.0,
        inception: "2025-12-27".into(),
    });
    app.record(format!("CREATE portfolio {id} by {}", s.username));
    redirect(&format!("/portfolio/{id}/"))
}

/// One reference-data list, as a table.
struct RefTable {
    title: &'static str,
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

/// Three-column reference data as table rows of text.
fn text_rows<A: ToString, B: ToString, C: ToString>(items: &[(A, B, C)]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|(a, b, c)| vec![a.to_string(), b.to_string(), c.to_string()])
        .collect()
}

fn reference_rows(app: &App, kind: &str, q: &HashMap<String, String>) -> Option<RefTable> {
    let (title, header, rows) = match kind {
        "currency" => (
            "Currencies",
            vec!["code", "name", "decimals"],
            text_rows(&data::CURRENCIES),
        ),
        "country" => (
            "Countries",
            vec!["code", "name", "currency"],
            text_rows(&data::COUNTRIES),
        ),
        "calendar" => (
            "Calendars",
            vec!["code", "name", "holidays"],
            text_rows(&data::CALENDARS),
        ),
        "counterparty" => {
            let search = q
                .get("search")
                .map(|s| s.to_lowercase())
                .filter(|s| !s.is_empty());
            (
                "Counterparties",
                vec!["id", "name", "kind", "country", "rating", "lei"],
                app.data
                    .counterparties
                    .iter()
                    .filter(|c| {
                        search.as_ref().is_none_or(|s| {
                            c.name.to_lowercase().contains(s) || c.kind.to_lowercase().contains(s)
                        })
                    })
                    .map(|c| {
                        vec![
                            c.id.to_string(),
                            c.name.clone(),
                            c.kind.into(),
                            c.country.into(),
                            c.rating.into(),
                            c.lei.clone(),
                        ]
                    })
                    .collect(),
            )
        }
        _ => return None,
    };
    Some(RefTable {
        title,
        header,
        rows,
    })
}

async fn reference_list(
    State(app): AppState,
    headers: HeaderMap,
    uri: Uri,
    Path(kind): Path<String>,
    q: Params,
) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let searching = q.get("search").is_some_and(|s| !s.is_empty());
    app.latency(if searching {
        Latency::Search
    } else {
        Latency::List
    })
    .await;
    let Some(RefTable {
        title,
        header: head,
        rows,
    }) = reference_rows(&app, &kind, &q)
    else {
        return not_found_page();
    };
    let (page, pages, range) = page_of(&rows, &q);
    if wants_json(&q) {
        let results: Vec<serde_json::Value> = rows[range]
            .iter()
            .map(|r| {
                serde_json::Value::Object(
                    head.iter()
                        .zip(r)
                        .map(|(h, v)| (h.to_string(), json!(v)))
                        .collect(),
                )
            })
            .collect();
        return Json(json!({"count": rows.len(), "page": page, "results": results}))
            .into_response();
    }
    let table = pages::table(
        &head,
        rows[range].iter().map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, cell)| {
                    if kind == "counterparty" && i == 1 {
                        link(&format!("/reference-data/counterparty/{}/", r[0]), cell)
                    } else {
                        escape(cell)
                    }
                })
                .collect()
        }),
    );
    let body = format!(
        "<p>{}</p>\n{table}{}",
        link(&format!("/reference-data/{kind}/export/"), "Export CSV"),
        pages::pagination(&base_query(&q), page, pages, rows.len())
    );
    Html(pages::layout(title, Some(&s), &body)).into_response()
}

/// `/reference-data/<kind>/export/`, or a counterparty's page at `/reference-data/counterparty/<id>/`.
async fn reference_item(
    State(app): AppState,
    headers: HeaderMap,
    uri: Uri,
    Path((kind, item)): Path<(String, String)>,
    q: Params,
) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if item == "export" {
        app.latency(Latency::Export).await;
        return match reference_rows(&app, &kind, &q) {
            Some(t) => csv_response(&format!("{kind}.csv"), t.rows, &t.header),
            None => not_found_page(),
        };
    }
    if kind != "counterparty" {
        return not_found_page();
    }
    app.latency(Latency::Detail).await;
    let Some(c) = item
        .parse::<usize>()
        .ok()
        .and_then(|i| app.data.counterparties.get(i.wrapping_sub(1)))
    else {
        return not_found_page();
    };
    if wants_json(&q) {
        return Json(c).into_response();
    }
    let body = format!(
        "<dl><dt>Kind</dt><dd>{}</dd><dt>Country</dt><dd>{}</dd><dt>Rating</dt><dd>{}</dd><dt>LEI</dt><dd>{}</dd></dl>",
        c.kind, c.country, c.rating, c.lei
    );
    Html(pages::layout(&c.name, Some(&s), &body)).into_response()
}

async fn udf_list(State(app): AppState, headers: HeaderMap, uri: Uri, q: Params) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    app.latency(Latency::List).await;
    let items: Vec<&data::Udf> = app
        .data
        .udfs
        .iter()
        .filter(|u| {
            q.get("entity_type")
                .is_none_or(|t| t.is_empty() || u.entity_type.eq_ignore_ascii_case(t))
        })
        .collect();
    let (page, pages, range) = page_of(&items, &q);
    if wants_json(&q) {
        return Json(json!({"count": items.len(), "page": page, "results": &items[range]}))
            .into_response();
    }
    let table = pages::table(
        &["ID", "Name", "Entity type", "Type", "Required"],
        items[range].iter().map(|u| {
            vec![
                u.id.to_string(),
                link(&format!("/udf/{}/", u.id), &u.name),
                u.entity_type.into(),
                u.data_type.into(),
                u.required.to_string(),
            ]
        }),
    );
    let body = format!(
        "{table}{}",
        pages::pagination(&base_query(&q), page, pages, items.len())
    );
    Html(pages::layout("Custom fields", Some(&s), &body)).into_response()
}

fn find_udf<'a>(app: &'a App, id: &str) -> Option<&'a data::Udf> {
    id.parse::<usize>()
        .ok()
        .and_then(|i| app.data.udfs.get(i.wrapping_sub(1)))
}

async fn udf_detail(
    State(app): AppState,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    q: Params,
) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    app.latency(Latency::Detail).await;
    let Some(u) = find_udf(&app, &id) else {
        return not_found_page();
    };
    let description = app
        .udf_description(u.id)
        .unwrap_or_else(|| u.description.clone());
    if wants_json(&q) {
        return Json(json!({"id": u.id, "name": u.name, "entity_type": u.entity_type, "data_type": u.data_type,
            "required": u.required, "description": description}))
        .into_response();
    }
    let body = format!(
        "<dl><dt>Entity type</dt><dd>{}</dd><dt>Type</dt><dd>{}</dd><dt>Description</dt><dd>{}</dd></dl>\n<p>{}</p>",
        u.entity_type,
        u.data_type,
        escape(&description),
        link(&format!("/udf/{}/edit/", u.id), "Edit")
    );
    Html(pages::layout(&u.name, Some(&s), &body)).into_response()
}

async fn udf_edit_form(
    State(app): AppState,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if !s.may_edit_custom_fields() {
        return forbidden("Only administrators may edit custom fields.");
    }
    app.latency(Latency::Detail).await;
    let Some(u) = find_udf(&app, &id) else {
        return not_found_page();
    };
    let (token, set) = csrf_token(&headers);
    let description = app
        .udf_description(u.id)
        .unwrap_or_else(|| u.description.clone());
    let form = pages::form(
        &format!("/udf/{}/edit/", u.id),
        &token,
        &[("Description", "description", &description)],
        "Save",
    );
    with_cookie(
        Html(pages::layout(&format!("Edit {}", u.name), Some(&s), &form)).into_response(),
        set,
    )
}

async fn udf_edit(
    State(app): AppState,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let s = match app.session(&headers, &uri) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if !csrf_ok(&headers, &form) {
        return csrf_failure();
    }
    if !s.may_edit_custom_fields() {
        return forbidden("Only administrators may edit custom fields.");
    }
    app.latency(Latency::Write).await;
    let Some(u) = find_udf(&app, &id) else {
        return not_found_page();
    };
    let description = form
        .get("description")
        .map(|d| d.trim().to_string())
        .unwrap_or_default();
    app.set_udf_description(u.id, description);
    app.record(format!("UPDATE udf {} by {}", u.id, s.username));
    redirect(&format!("/udf/{}/", u.id))
}

fn not_found_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<h1>Not Found</h1><p>The requested resource was not found on this server.</p>"),
    )
        .into_response()
}

/// Django's `APPEND_SLASH`: `/portfolio` redirects to `/portfolio/`.
async fn not_found(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if method == Method::GET
        && !path.ends_with('/')
        && !path.rsplit('/').next().unwrap_or("").contains('.')
    {
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        return (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, format!("{path}/{query}"))],
        )
            .into_response();
    }
    not_found_page()
}
