//! `GET /stats/requests`: Locust 2.47's live statistics, key for key and type for type (an
//! int where Locust writes an int), plus the two top-level keys Locust dropped in 2.15 that
//! ContainerSolutions' exporter still reads, so its p50/p95 gauges stop reading 0.

use serde_json::{Map, Value, json};

pub use crate::distributed::master::WorkerInfo;
use crate::report::csv::{Typed, locust_median, locust_percentile};
use crate::stats::{RequestStats, StatsEntry};

/// Rows and failures at most, as Locust caps them (a page with more is unusable anyway).
pub const MAX_ROWS: usize = 500;

/// Locust's `PERCENTILES_TO_STATISTICS` and `PERCENTILES_TO_CHART`.
const STATISTICS: [f64; 2] = [0.95, 0.99];
const CHART: [f64; 2] = [0.5, 0.95];

fn typed(n: Typed) -> Value {
    match n {
        Typed::Int(i) => json!(i),
        Typed::Float(f) => json!(f),
    }
}

/// Locust's `0` (an int) before anything was measured, the float after.
fn rate(value: f64, seen: bool) -> Value {
    if seen { json!(value) } else { json!(0) }
}

fn entry(stats: &RequestStats, e: &StatsEntry) -> Value {
    let seen = e.num_requests > 0 || e.num_failures > 0;
    let (total_rps, total_fps) = stats.total_rates(e);
    let (current_rps, current_fps) = stats.current_rates(e);
    let percentiles = e.percentiles(&STATISTICS);
    let mut o = Map::new();
    o.insert(
        "avg_content_length".into(),
        e.avg_content_length().map_or(json!(0), |a| json!(a)),
    );
    o.insert("avg_response_time".into(), json!(e.avg_response_time()));
    o.insert("current_fail_per_sec".into(), rate(current_fps, seen));
    o.insert("current_rps".into(), rate(current_rps, seen));
    o.insert(
        "max_response_time".into(),
        json!(e.max_response_time.round()),
    );
    o.insert("median_response_time".into(), typed(locust_median(e)));
    o.insert("method".into(), json!(e.method));
    o.insert(
        "min_response_time".into(),
        e.min_response_time.map_or(json!(0), |m| json!(m.round())),
    );
    o.insert("name".into(), json!(e.name));
    o.insert("num_failures".into(), json!(e.num_failures));
    o.insert("num_requests".into(), json!(e.num_requests));
    for (i, p) in STATISTICS.iter().enumerate() {
        let v = percentiles.as_ref().map_or(0, |v| locust_percentile(v[i]));
        o.insert(format!("response_time_percentile_{p}"), json!(v));
    }
    o.insert("total_fail_per_sec".into(), json!(total_fps));
    o.insert("total_rps".into(), json!(total_rps));
    Value::Object(o)
}

/// The whole answer. `workers` is `Some` on a master.
pub fn stats_requests(
    stats: &RequestStats,
    state: &str,
    user_count: usize,
    workers: Option<&[WorkerInfo]>,
) -> Value {
    let total = &stats.total;
    let mut rows: Vec<Value> = stats
        .entries()
        .take(MAX_ROWS)
        .map(|e| entry(stats, e))
        .collect();
    rows.push(entry(stats, total));
    let errors: Vec<Value> = stats
        .errors()
        .iter()
        .take(MAX_ROWS)
        .map(|e| {
            json!({
                "error": e.error,
                "first_seen": e.first_seen,
                "last_seen": e.last_seen,
                "method": e.method,
                "name": e.name,
                "occurrences": e.occurrences,
            })
        })
        .collect();
    let current = total.current_percentiles(&CHART);
    let current_value = |i: usize| match &current {
        Some(v) => json!(locust_percentile(v[i])),
        None if total.num_requests > 0 => Value::Null,
        None => json!(0),
    };
    let seen = total.num_requests > 0 || total.num_failures > 0;
    let (total_rps, total_fps) = stats.total_rates(total);
    let (current_rps, current_fps) = stats.current_rates(total);
    let mut o = Map::new();
    o.insert("current_fail_per_sec".into(), rate(current_fps, seen));
    o.insert(
        "current_response_time_percentiles".into(),
        json!({
            "response_time_percentile_0.5": current_value(0),
            "response_time_percentile_0.95": current_value(1),
        }),
    );
    // Locust <= 2.15's keys, still read by locust_exporter.
    o.insert(
        "current_response_time_percentile_50".into(),
        current_value(0),
    );
    o.insert(
        "current_response_time_percentile_95".into(),
        current_value(1),
    );
    o.insert("current_rps".into(), rate(current_rps, seen));
    o.insert("errors".into(), Value::Array(errors));
    o.insert("fail_ratio".into(), json!(total.fail_ratio()));
    o.insert("state".into(), json!(state));
    o.insert("stats".into(), Value::Array(rows));
    o.insert("total_fail_per_sec".into(), json!(total_fps));
    o.insert("total_rps".into(), json!(total_rps));
    o.insert("user_count".into(), json!(user_count));
    if let Some(workers) = workers {
        o.insert("worker_count".into(), json!(workers.len()));
        let list: Vec<Value> = workers
            .iter()
            .map(|w| {
                json!({
                    "cpu_usage": w.cpu_usage,
                    "id": w.id,
                    "memory_usage": w.memory_usage,
                    "state": w.state,
                    "user_count": w.user_count,
                })
            })
            .collect();
        o.insert("workers".into(), Value::Array(list));
    }
    Value::Object(o)
}
