//! Machine-readable results: Locust's `--json`/`--json-file` list, and locusta's own summary
//! (`--summary-json`), whose JSON Schema is derived from the types below and shipped as
//! `schemas/summary.schema.json`.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::data::{PERCENTILE_COLUMNS, ReportData, Row};
use crate::gate::{Metric, Op, Outcome, Verdict};
use crate::stats::RequestStats;

/// Python's `json.dumps(..., indent=4)` layout.
fn python_indented(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    if value.serialize(&mut ser).is_err() {
        return "[]".to_string();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Locust's `serialize_stats()`: one object per endpoint that saw requests (Aggregated left
/// out), its keys in Locust's order. Unlike Locust, producing it resets nothing, so the console
/// summary and `--json-file` stay whole. Endpoints come sorted by name and method (Locust's are
/// in order of first request).
pub fn locust_stats(stats: &RequestStats) -> String {
    let entries: Vec<Value> = stats
        .entries()
        .filter(|e| e.num_requests > 0 || e.num_failures > 0)
        .map(|e| {
            let mut o = Map::new();
            o.insert("name".into(), json!(e.name));
            o.insert("method".into(), json!(e.method));
            o.insert(
                "last_request_timestamp".into(),
                json!(e.last_request_timestamp),
            );
            o.insert("start_time".into(), json!(e.start_time));
            o.insert("num_requests".into(), json!(e.num_requests));
            o.insert("num_none_requests".into(), json!(0));
            o.insert("num_failures".into(), json!(e.num_failures));
            o.insert("total_response_time".into(), json!(e.total_response_time));
            o.insert("max_response_time".into(), json!(e.max_response_time));
            o.insert("min_response_time".into(), json!(e.min_response_time));
            o.insert("total_content_length".into(), json!(e.total_content_length));
            let buckets: Map<String, Value> = e
                .locust_buckets()
                .into_iter()
                .map(|(ms, n)| (ms.to_string(), json!(n)))
                .collect();
            o.insert("response_times".into(), Value::Object(buckets));
            let per_second = |pick: fn(&(u64, u64, u64)) -> u64| -> Map<String, Value> {
                e.per_second()
                    .filter(|s| pick(s) > 0)
                    .map(|s| (s.0.to_string(), json!(pick(s))))
                    .collect()
            };
            o.insert(
                "num_reqs_per_sec".into(),
                Value::Object(per_second(|s| s.1)),
            );
            o.insert(
                "num_fail_per_sec".into(),
                Value::Object(per_second(|s| s.2)),
            );
            Value::Object(o)
        })
        .collect();
    python_indented(&Value::Array(entries))
}

/// locusta's summary of a run: everything the console and the CSV files say, and the
/// thresholds, in one document.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "locusta run summary")]
pub struct Summary {
    /// The version of this format; it changes only when a field changes meaning or goes away.
    pub format: u32,
    pub locusta_version: String,
    pub run: RunSummary,
    /// One entry per (method, name), sorted by name then method.
    pub endpoints: Vec<EndpointSummary>,
    /// All requests together (Locust's Aggregated row).
    pub total: EndpointSummary,
    pub failures: Vec<FailureSummary>,
    pub exceptions: Vec<ExceptionSummary>,
    pub thresholds: Vec<ThresholdSummary>,
    /// False when a threshold failed.
    pub thresholds_passed: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RunSummary {
    pub scenario: Option<String>,
    pub host: Option<String>,
    /// The most users the run asked for.
    pub users: Option<u64>,
    pub spawn_rate: Option<f64>,
    /// Planned duration (`-t`, or the stages' total); null: until interrupted.
    pub run_time_seconds: Option<u64>,
    /// RFC 3339, UTC.
    pub started: Option<String>,
    pub ended: Option<String>,
    pub duration_seconds: Option<f64>,
    /// Why it ended: `run_time`, `shape_completed`, `iterations`, `threshold_failed`, `workers_gone`,
    /// `interrupted`.
    pub ending: String,
    pub exit_code: i32,
    /// Users per type when the run ended.
    pub user_counts: BTreeMap<String, u64>,
    /// The commit of the project the run was started in, when it is a git repository.
    pub git_commit: Option<String>,
    /// The load machine: CPU model, cores, memory.
    pub machine: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EndpointSummary {
    /// Empty for the total.
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    /// Failures over requests, 0 to 1.
    pub failure_rate: f64,
    pub median_ms: f64,
    pub average_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub average_content_length: f64,
    /// Over the whole run.
    pub requests_per_second: f64,
    pub failures_per_second: f64,
    /// Exact percentiles in ms by percent ("50", "95", "99.9", ...); empty without requests.
    pub percentiles_ms: IndexMap<String, f64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FailureSummary {
    pub method: String,
    pub name: String,
    /// In Locust's words: `HTTPError('500 Server Error: ...')`.
    pub error: String,
    pub occurrences: u64,
    pub first_seen: String,
    pub last_seen: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExceptionSummary {
    pub count: u64,
    pub message: String,
    pub traceback: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ThresholdSummary {
    /// `All requests`, or the endpoint judged (`GET Portfolio List`).
    pub endpoint: String,
    /// As written: `p95 < 800ms`.
    pub threshold: String,
    /// `median`, `average`, `min`, `max`, `p95`, `error_rate`, `rps`, `requests`, `failures`.
    pub metric: String,
    /// `<`, `<=`, `>`, `>=`.
    pub operator: String,
    /// In the metric's unit: ms, a 0-1 rate, per second, or a count.
    pub limit: f64,
    /// Null when there were no requests to judge.
    pub actual: Option<f64>,
    /// `pass`, `fail`, or `not_run` (the endpoint got no requests).
    pub verdict: String,
}

fn endpoint(r: &Row) -> EndpointSummary {
    let percentiles_ms = match &r.percentiles {
        Some(values) => PERCENTILE_COLUMNS
            .iter()
            .zip(values)
            .map(|(p, v)| (p.trim_end_matches('%').to_string(), *v))
            .collect(),
        None => IndexMap::new(),
    };
    EndpointSummary {
        method: r.method.clone(),
        name: r.name.clone(),
        requests: r.requests,
        failures: r.failures,
        failure_rate: r.fail_ratio(),
        median_ms: r.median,
        average_ms: r.average,
        min_ms: r.min,
        max_ms: r.max,
        average_content_length: r.avg_size,
        requests_per_second: r.rps,
        failures_per_second: r.fps,
        percentiles_ms,
    }
}

fn threshold(o: &Outcome) -> ThresholdSummary {
    let t = &o.threshold;
    ThresholdSummary {
        endpoint: o.endpoint.clone(),
        threshold: t.text.clone(),
        metric: match t.metric {
            Metric::Median => "median".into(),
            Metric::Average => "average".into(),
            Metric::Min => "min".into(),
            Metric::Max => "max".into(),
            Metric::Percentile(p) => format!("p{}", crate::pyfmt::int_or_float(p)),
            Metric::ErrorRate => "error_rate".into(),
            Metric::Rps => "rps".into(),
            Metric::Requests => "requests".into(),
            Metric::Failures => "failures".into(),
        },
        operator: match t.op {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
        .into(),
        limit: t.limit,
        actual: o.actual,
        verdict: match o.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotRun => "not_run",
        }
        .into(),
    }
}

fn rfc3339(t: f64) -> Option<String> {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros((t * 1e6) as i64)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

impl Summary {
    pub fn new(
        data: &ReportData,
        ending: &str,
        exit_code: i32,
        run_time_seconds: Option<u64>,
    ) -> Summary {
        let i = &data.info;
        let empty = Row {
            method: String::new(),
            name: "Aggregated".into(),
            requests: 0,
            failures: 0,
            median: 0.0,
            average: 0.0,
            min: 0.0,
            max: 0.0,
            avg_size: 0.0,
            rps: 0.0,
            fps: 0.0,
            percentiles: None,
        };
        Summary {
            format: 1,
            locusta_version: env!("CARGO_PKG_VERSION").to_string(),
            run: RunSummary {
                scenario: i.scenario.clone(),
                host: i.host.clone(),
                users: i.users,
                spawn_rate: i.spawn_rate,
                run_time_seconds,
                started: i.started.and_then(rfc3339),
                ended: i.ended.and_then(rfc3339),
                duration_seconds: i.started.zip(i.ended).map(|(s, e)| (e - s).max(0.0)),
                ending: ending.to_string(),
                exit_code,
                user_counts: i.user_counts.iter().cloned().collect(),
                git_commit: i.git_commit.clone(),
                machine: i.machine.clone(),
            },
            endpoints: data.rows.iter().map(endpoint).collect(),
            total: endpoint(data.total.as_ref().unwrap_or(&empty)),
            failures: data
                .failures
                .iter()
                .map(|f| FailureSummary {
                    method: f.method.clone(),
                    name: f.name.clone(),
                    error: f.error.clone(),
                    occurrences: f.occurrences,
                    first_seen: f.first_seen.clone(),
                    last_seen: f.last_seen.clone(),
                })
                .collect(),
            exceptions: data
                .exceptions
                .iter()
                .map(|x| ExceptionSummary {
                    count: x.count,
                    message: x.message.clone(),
                    traceback: x.traceback.clone(),
                })
                .collect(),
            thresholds: data.thresholds.iter().map(threshold).collect(),
            thresholds_passed: !data.thresholds.iter().any(Outcome::failed),
        }
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_string());
        text.push('\n');
        text
    }
}

/// The summary format as a JSON Schema (`locusta schema summary`).
pub fn summary_schema_text() -> String {
    let schema = schemars::schema_for!(Summary);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
