//! The Download Data tab: the CSV files with the bytes of the `--csv` files and Locust's file
//! names, and the HTML report of the run so far.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Local, TimeZone};

use super::{App, text};
use crate::report::csv::{self, Precision};
use crate::report::html;
use crate::run::controller::Snapshot;

/// `Locust_{start, local time}_{locustfile}{_host}`, as Locust names its downloads (the host
/// unsanitised, as Locust leaves it).
fn file_stem(app: &App, snapshot: &Snapshot) -> String {
    let started = App::stats(snapshot).start_time;
    let when = Local
        .timestamp_opt(started.trunc() as i64, 0)
        .single()
        .map(|t| t.format("%Y-%m-%d-%Hh%M").to_string())
        .unwrap_or_default();
    let host = app.host(snapshot);
    let host = if host.is_empty() {
        String::new()
    } else {
        format!("_{host}")
    };
    format!("Locust_{when}_{}{host}", app.live.locustfile)
}

fn attachment(content_type: &'static str, filename: String, body: Vec<u8>) -> Response {
    let disposition = format!("attachment;filename={filename}");
    let mut r = text(StatusCode::OK, content_type, body);
    if let Ok(v) = header::HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

fn csv_download(
    app: &App,
    kind: &str,
    bytes: impl FnOnce(&crate::stats::RequestStats) -> Vec<u8>,
) -> Response {
    let snapshot = app.snapshot();
    let stats = App::stats(&snapshot);
    let name = format!("{}_{kind}.csv", file_stem(app, &snapshot));
    attachment("text/csv", name, bytes(&stats))
}

pub(super) async fn requests_csv(State(app): State<Arc<App>>) -> Response {
    let precision: Precision = app.live.outputs.csv_precision;
    csv_download(&app, "requests", |s| csv::stats_csv(s, precision))
}

pub(super) async fn failures_csv(State(app): State<Arc<App>>) -> Response {
    csv_download(&app, "failures", csv::failures_csv)
}

pub(super) async fn exceptions_csv(State(app): State<Arc<App>>) -> Response {
    csv_download(&app, "exceptions", csv::exceptions_csv)
}

/// The `--csv` history file as written so far, when `--csv-full-history` keeps one.
pub(super) async fn full_history_csv(State(app): State<Arc<App>>) -> Response {
    let outputs = &app.live.outputs;
    let path = match (&outputs.csv_prefix, outputs.csv_full_history) {
        (Some(prefix), true) => format!("{prefix}_stats_history.csv"),
        _ => {
            return text(
                StatusCode::NOT_FOUND,
                "text/html; charset=utf-8",
                "Error: Server was not started with option to generate full history.",
            );
        }
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let name = std::path::Path::new(&path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(path.clone());
            attachment("text/csv", name, bytes)
        }
        Err(e) => text(
            StatusCode::NOT_FOUND,
            "text/html; charset=utf-8",
            format!("Error: cannot read {path}: {e}"),
        ),
    }
}

/// `GET /stats/report`: the HTML report of the run so far; `?download=1` as an attachment.
pub(super) async fn report(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let snapshot = app.snapshot();
    let page = html::render(&app.report_data(&snapshot));
    if query.get("download").is_some_and(|v| !v.is_empty()) {
        let name = format!("{}.html", file_stem(&app, &snapshot));
        return attachment("text/html; charset=utf-8", name, page.into_bytes());
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}
