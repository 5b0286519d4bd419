//! The JSON routes of Locust's API (`/swarm`, `/stop`, `/stats/reset`, `/stats/requests`,
//! `/exceptions`, `/tasks`, `/logs`, `/worker-count`), `/metrics`, and locusta's own `/state`
//! and `/charts` that the page polls.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawForm, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tracing::error;

use super::stats_json::{self, WorkerInfo};
use super::{App, metrics, pyjson, text};
use crate::report::data::{ReportData, RunInfo};
use crate::report::{flags, html, scenario as scenario_report};
use crate::run::controller::{Command, Snapshot, State as RunState};
use crate::run::options::TestOptions;
use crate::scenario::plan;
use crate::stats::RequestStats;

/// Locust's `jsonify`.
pub(super) fn json_response(value: Value) -> Response {
    text(StatusCode::OK, "application/json", pyjson::to_string(value))
}

impl App {
    pub(super) fn snapshot(&self) -> Snapshot {
        self.live.control.snapshot()
    }

    /// The statistics as of the last tick (empty before the first).
    pub(super) fn stats(snapshot: &Snapshot) -> Arc<RequestStats> {
        snapshot
            .shared
            .as_ref()
            .map(|s| s.stats.clone())
            .unwrap_or_else(|| Arc::new(RequestStats::new(crate::stats::unix_now())))
    }

    pub(super) fn workers(&self) -> Option<Vec<WorkerInfo>> {
        self.live.master.as_ref().map(|m| m.worker_rows())
    }

    /// The options of the current test, or the command line's before the first.
    pub(super) fn options(&self, snapshot: &Snapshot) -> TestOptions {
        snapshot
            .options
            .clone()
            .unwrap_or_else(|| self.live.defaults.clone())
    }

    /// The host the current test runs against, as Locust's `environment.host`.
    pub(super) fn host(&self, snapshot: &Snapshot) -> String {
        self.options(snapshot)
            .host
            .or_else(|| self.live.scenario.host.clone())
            .unwrap_or_default()
    }

    /// The report of the run so far, with its red flags.
    pub(super) fn report_data(&self, snapshot: &Snapshot) -> ReportData {
        let stats = App::stats(snapshot);
        let options = self.options(snapshot);
        let history = snapshot
            .shared
            .as_ref()
            .map(|s| s.history.clone())
            .unwrap_or_default();
        let info = RunInfo {
            scenario: Some(self.live.locustfile.clone()),
            host: Some(self.host(snapshot)).filter(|h| !h.is_empty()),
            users: options.users,
            spawn_rate: Some(options.spawn_rate),
            run_time: options
                .run_time
                .map(|t| crate::pyfmt::duration_words(t.as_secs())),
            started: snapshot.started,
            ended: Some(crate::stats::unix_now()),
            generator: format!("locusta {} (web UI)", env!("CARGO_PKG_VERSION")),
            user_counts: snapshot.running_counts.clone(),
            ..RunInfo::default()
        };
        ReportData::from_run(info, &stats, &history, Some(self.ratios(snapshot)))
    }

    /// Task ratios of the users running now, per type and of all (Locust's `/tasks`).
    pub(super) fn ratios(&self, snapshot: &Snapshot) -> (Vec<plan::Ratio>, Vec<plan::Ratio>) {
        let (scenario, types, tags) = (&self.live.scenario, &self.live.types, &self.live.tags);
        let counts: Vec<f64> = types
            .iter()
            .map(|&i| {
                let name = &scenario.user_types[i].name;
                snapshot
                    .running_counts
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0.0, |(_, c)| *c as f64)
            })
            .collect();
        (
            plan::ratios_of(scenario, types, counts.clone(), tags, false),
            plan::ratios_of(scenario, types, counts, tags, true),
        )
    }
}

pub(super) async fn stats_requests(State(app): State<Arc<App>>) -> Response {
    let snapshot = app.snapshot();
    let render = || {
        pyjson::to_string(stats_json::stats_requests(
            &App::stats(&snapshot),
            snapshot.state.name(),
            snapshot.user_count,
            app.workers().as_deref(),
        ))
    };
    // A master's workers change between ticks: its answer is not cached.
    let body = if app.live.master.is_some() {
        Arc::new(render())
    } else {
        app.rendered("stats", &snapshot, render)
    };
    text(StatusCode::OK, "application/json", (*body).clone())
}

pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    let snapshot = app.snapshot();
    let body = metrics::render(
        App::stats(&snapshot),
        snapshot.state.name(),
        snapshot.user_count,
        app.workers(),
    );
    text(StatusCode::OK, metrics::CONTENT_TYPE, body)
}

/// Locust's `{"success": false}` answer, logged as Locust's web module logs it.
fn refused(host: &str, message: String) -> Response {
    error!(target: "locusta.web", "{message}");
    json_response(json!({"host": host, "message": message, "success": false}))
}

/// The form fields of a `/swarm`, checked as Locust checks them, into the test to start.
struct Swarm {
    users: Option<u64>,
    spawn_rate: Option<f64>,
    host: Option<String>,
    run_time: Option<Duration>,
    user_types: Vec<String>,
}

fn parse_swarm(form: &[u8]) -> Result<Swarm, String> {
    let mut swarm = Swarm {
        users: None,
        spawn_rate: None,
        host: None,
        run_time: None,
        user_types: Vec::new(),
    };
    for (key, value) in url::form_urlencoded::parse(form) {
        let value = value.trim().to_string();
        match key.as_ref() {
            "user_count" => {
                let digits = value.strip_prefix('-').unwrap_or(&value);
                let whole = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                let n: i64 = match value.parse() {
                    Ok(n) => n,
                    // An integer, only too large for any run.
                    Err(_) if whole && !value.starts_with('-') => i64::MAX,
                    Err(_) => {
                        return Err(format!(
                            "Invalid user_count value: '{value}' (must be an integer)"
                        ));
                    }
                };
                if n < 0 {
                    return Err(
                        "Missing or invalid user_count or spawn_rate from /swarm request".into(),
                    );
                }
                let n = crate::limits::users(n as u64)
                    .map_err(|e| format!("Invalid user_count value: '{value}' ({e})"))?;
                swarm.users = Some(n);
            }
            "spawn_rate" => {
                let r: f64 = value.parse().map_err(|_| {
                    format!("Invalid spawn_rate value: '{value}' (must be a number)")
                })?;
                if !(r.is_finite() && r > 0.0) {
                    return Err(
                        "Missing or invalid user_count or spawn_rate from /swarm request".into(),
                    );
                }
                let r = crate::limits::spawn_rate(r)
                    .map_err(|e| format!("Invalid spawn_rate value: '{value}' ({e})"))?;
                swarm.spawn_rate = Some(r);
            }
            "host" => {
                let host: String = value.chars().filter(|c| *c != '<' && *c != '>').collect();
                if !host.is_empty() {
                    crate::cli::values::host(&host)?;
                }
                swarm.host = Some(host);
            }
            "run_time" if value.is_empty() => {}
            "run_time" => {
                let secs = crate::cli::values::timespan(&value).map_err(|_| {
                    "Valid run_time formats are : 20, 20s, 3m, 2h, 1h20m, 3h30m10s, etc."
                        .to_string()
                })?;
                swarm.run_time = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "user_classes" if !value.is_empty() => swarm.user_types.push(value),
            // Locust ignores keys it does not know (and `profile`, `shape_class` have no
            // meaning for a YAML scenario).
            _ => {}
        }
    }
    Ok(swarm)
}

/// `POST /swarm`: starts a test (from ready or stopped) or changes the running one's users
/// and spawn rate (Locust's Edit). Errors are `200 {"success": false, "message"}`.
pub(super) async fn swarm(State(app): State<Arc<App>>, RawForm(form): RawForm) -> Response {
    let snapshot = app.snapshot();
    let mut host = app.host(&snapshot);
    let swarm = match parse_swarm(&form) {
        Ok(s) => s,
        Err(message) => return refused(&host, message),
    };
    if let Some(h) = &swarm.host {
        host = if h.is_empty() {
            app.live.scenario.host.clone().unwrap_or_default()
        } else {
            h.clone()
        };
    }
    let shape = app.live.defaults.stages.is_some() || !app.live.scenario.stages.is_empty();
    let (users, spawn_rate) = match (swarm.users, swarm.spawn_rate) {
        (Some(u), Some(r)) => (u, r),
        _ if shape => (0, 1.0),
        _ => {
            return refused(
                &host,
                "Missing or invalid user_count or spawn_rate from /swarm request".into(),
            );
        }
    };
    match snapshot.state {
        RunState::Spawning | RunState::Running => {
            if shape {
                return refused(
                    &host,
                    "This test follows its stages: its users cannot be edited".into(),
                );
            }
            app.live.control.send(Command::Edit { users, spawn_rate });
            return json_response(
                json!({"host": host, "message": "Swarming started", "success": true}),
            );
        }
        RunState::Stopping => {
            return refused(
                &host,
                "The test is stopping: start a new one once it has stopped".into(),
            );
        }
        RunState::Ready | RunState::Stopped => {}
    }
    let mut options = app.live.defaults.clone();
    if !shape {
        options.users = Some(users);
        options.spawn_rate = spawn_rate;
    }
    options.run_time = swarm.run_time;
    if let Some(h) = &swarm.host {
        options.host = Some(h.clone()).filter(|h| !h.is_empty());
    }
    if !swarm.user_types.is_empty() {
        options.user_types = swarm.user_types.clone();
    }
    let (reply, answer) = oneshot::channel();
    if !app.live.control.send(Command::Start(options, Some(reply))) {
        return refused(&host, "The run is shutting down".into());
    }
    match answer.await {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return refused(&host, message),
        Err(_) => return refused(&host, "The run is shutting down".into()),
    }
    let mut body = json!({"host": host, "message": "Swarming started", "success": true});
    if let Some(t) = swarm.run_time {
        body["run_time"] = json!(t.as_secs());
    }
    if shape {
        body["message"] = json!("Swarming started using the scenario's stages");
    }
    if !swarm.user_types.is_empty() {
        let mut sorted = swarm.user_types;
        sorted.sort();
        body["user_classes"] = json!(sorted);
    }
    json_response(body)
}

/// `POST /stop`: stops the test and answers once its users are gone, as Locust does (within
/// the stop timeout and a minute).
pub(super) async fn stop(State(app): State<Arc<App>>) -> Response {
    let mut watch = app.live.control.watch();
    let running = matches!(
        watch.borrow().state,
        RunState::Spawning | RunState::Running | RunState::Stopping
    );
    if running {
        app.live
            .control
            .send(Command::Stop(crate::run::Ending::Requested));
        let wait = app.options(&watch.borrow().clone()).stop_timeout + Duration::from_secs(60);
        let _ = tokio::time::timeout(wait, watch.wait_for(|s| s.state == RunState::Stopped)).await;
    }
    json_response(json!({"message": "Test stopped", "success": true}))
}

/// `POST /stats/reset`: the counters start over; the users keep running.
pub(super) async fn reset(State(app): State<Arc<App>>) -> Response {
    app.live.control.send(Command::ResetStats);
    text(StatusCode::OK, "text/html; charset=utf-8", "ok")
}

pub(super) async fn exceptions(State(app): State<Arc<App>>) -> Response {
    let stats = App::stats(&app.snapshot());
    let list: Vec<Value> = stats
        .exceptions()
        .iter()
        .map(|x| {
            json!({"count": x.count, "msg": x.message, "nodes": "local", "traceback": x.traceback})
        })
        .collect();
    json_response(json!({ "exceptions": list }))
}

/// `GET /tasks`: the task ratios of the users running now, as Locust's.
pub(super) async fn tasks(State(app): State<Arc<App>>) -> Response {
    let snapshot = app.snapshot();
    let (per_class, total) = app.ratios(&snapshot);
    json_response(json!({
        "per_class": scenario_report::ratio_json(&per_class),
        "total": scenario_report::ratio_json(&total),
    }))
}

pub(super) async fn logs(State(app): State<Arc<App>>) -> Response {
    let workers: serde_json::Map<String, Value> = app
        .workers()
        .unwrap_or_default()
        .into_iter()
        .map(|w| (w.id, json!([])))
        .collect();
    json_response(json!({"master": crate::logging::recent(), "workers": workers}))
}

pub(super) async fn worker_count(State(app): State<Arc<App>>) -> Response {
    let n = app.workers().map_or(0, |w| w.len());
    json_response(json!({ "worker_count": n }))
}

/// locusta's `/state`: what the page needs every poll besides the table (Locust puts it in
/// the page's template arguments, which go stale).
pub(super) async fn state(State(app): State<Arc<App>>) -> Response {
    let snapshot = app.snapshot();
    json_response(state_json(&app, &snapshot))
}

pub(super) fn state_json(app: &App, snapshot: &Snapshot) -> Value {
    let options = app.options(snapshot);
    let types: Vec<Value> = app
        .live
        .types
        .iter()
        .map(|&i| {
            let u = &app.live.scenario.user_types[i];
            json!({"name": u.name, "weight": u.weight, "fixed_count": u.fixed_count, "host": u.host})
        })
        .collect();
    json!({
        "state": snapshot.state.name(),
        "user_count": snapshot.user_count,
        "tests": snapshot.tests,
        "ending": snapshot.ending.map(|e| e.name()),
        "started": snapshot.started,
        "ended": snapshot.ended,
        "host": app.host(snapshot),
        "num_users": options.users,
        "spawn_rate": options.spawn_rate,
        "run_time": options.run_time.map(|t| t.as_secs()),
        "user_types": types,
        "selected_user_types": options.user_types,
        "running_counts": snapshot.running_counts.iter().map(|(n, c)| json!([n, c])).collect::<Vec<_>>(),
        "is_distributed": app.live.master.is_some(),
        "worker_count": app.workers().map_or(0, |w| w.len()),
        "shape": app.live.defaults.stages.is_some() || !app.live.scenario.stages.is_empty(),
        "stats_history_enabled": app.live.outputs.csv_full_history,
        "locustfile": app.live.locustfile,
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// locusta's `/charts`: the report's charts and red flags of the run so far, drawn on the
/// server from its bounded history, so a reload or a page opened late shows the whole run.
pub(super) async fn charts(State(app): State<Arc<App>>) -> Response {
    let snapshot = app.snapshot();
    let body = app.rendered("charts", &snapshot, || {
        let data = app.report_data(&snapshot);
        let charts: Vec<Value> = html::charts(&data)
            .into_iter()
            .map(|c| json!({"title": c.title, "note": c.note, "svg": c.svg}))
            .collect();
        let red: Vec<Value> = if data.aggregated.len() >= 10 {
            flags::red_flags(&data)
                .into_iter()
                .map(|f| json!({"title": f.title, "detail": f.detail, "endpoint": f.endpoint, "when": f.when}))
                .collect()
        } else {
            Vec::new()
        };
        pyjson::to_string(json!({"charts": charts, "flags": red}))
    });
    text(StatusCode::OK, "application/json", (*body).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Any form body: an answer in one line or a test within the limits, never a panic.
        #[test]
        fn any_swarm_form_is_refused_in_one_line_or_in_range(
            users in prop_oneof![any::<i64>().prop_map(|n| n.to_string()), "[0-9eE.+-]{0,30}", any::<f64>().prop_map(|x| x.to_string())],
            rate in prop_oneof![any::<f64>().prop_map(|x| x.to_string()), "[0-9eE.+-]{0,30}", Just("inf".to_string()), Just("NaN".to_string())],
            run_time in "[0-9hms]{0,24}",
        ) {
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("user_count", &users)
                .append_pair("spawn_rate", &rate)
                .append_pair("run_time", &run_time)
                .finish();
            match parse_swarm(form.as_bytes()) {
                Ok(s) => {
                    prop_assert!(s.users.unwrap_or(0) <= crate::limits::MAX_USERS);
                    let r = s.spawn_rate.unwrap_or(1.0);
                    prop_assert!(r.is_finite() && r > 0.0);
                    prop_assert!(s.run_time.is_none_or(|t| t <= crate::limits::MAX_DURATION));
                }
                Err(e) => prop_assert!(!e.is_empty() && !e.contains('\n'), "{e}"),
            }
        }
    }

    #[test]
    fn locusts_refusals_word_for_word() {
        let err = |form: &str| parse_swarm(form.as_bytes()).err().unwrap_or_default();
        assert_eq!(
            err("user_count=abc"),
            "Invalid user_count value: 'abc' (must be an integer)"
        );
        assert_eq!(
            err("spawn_rate=x"),
            "Invalid spawn_rate value: 'x' (must be a number)"
        );
        assert_eq!(
            err("run_time=5x"),
            "Valid run_time formats are : 20, 20s, 3m, 2h, 1h20m, 3h30m10s, etc."
        );
        assert!(err("user_count=99999999999999999999999").contains("at most 10000000 users"));
        assert!(err("host=ftp%3A%2F%2Fx").contains("not a base URL"));
    }
}
