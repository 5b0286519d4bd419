//! `GET /metrics`: the Prometheus text format, read off the last snapshot at scrape time.
//!
//! Two families. `locust_*` has the names and labels of ContainerSolutions' locust_exporter
//! (the exporter the Helm charts and the Kubernetes operator run as a sidecar), so its Grafana
//! dashboards work with no exporter, with its bugs fixed: its p50/p95 gauges read keys Locust
//! removed in 2.15 (they read real values here) and its state gauge does not know `spawning`
//! (1 here, as `hatching` was). `locusta_*` is in seconds, with counters for rates and a
//! histogram per endpoint whose buckets are counted from the HDR histograms when scraped: no
//! second recording on the users' path.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::stats_json::WorkerInfo;
use crate::report::csv::locust_median;
use crate::stats::{RequestStats, StatsEntry};
use std::sync::Arc;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Histogram bounds in seconds: Prometheus' defaults with 1 ms and 2.5 ms below and 30 s and
/// 60 s above, for the range web tests see.
const BOUNDS_SECONDS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Debug)]
struct Scrape {
    stats: Arc<RequestStats>,
    state: &'static str,
    user_count: usize,
    workers: Option<Vec<WorkerInfo>>,
}

/// How a `locust_requests_*` gauge reads an entry.
type Field = fn(&RequestStats, &StatsEntry) -> f64;

type Labels<'a> = [(&'static str, &'a str); 2];

fn labels(e: &StatsEntry) -> Labels<'_> {
    [("method", e.method.as_str()), ("name", e.name.as_str())]
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}

/// One gauge per endpoint (the Aggregated row included, as the exporter has it).
fn per_entry(
    encoder: &mut DescriptorEncoder,
    stats: &RequestStats,
    name: &str,
    help: &str,
    value: impl Fn(&RequestStats, &StatsEntry) -> f64,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for e in stats.entries().chain(std::iter::once(&stats.total)) {
        let l = labels(e);
        ConstGauge::new(value(stats, e)).encode(family.encode_family(&l)?)?;
    }
    Ok(())
}

impl Scrape {
    fn exporter(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &*self.stats;
        gauge(encoder, "locust_up", "The web UI answered.", 1.0)?;
        gauge(
            encoder,
            "locust_users",
            "The current number of users.",
            self.user_count as f64,
        )?;
        let running = match self.state {
            "spawning" => 1.0,
            "running" => 2.0,
            _ => 0.0,
        };
        gauge(
            encoder,
            "locust_running",
            "The state: 0 stopped or ready, 1 spawning, 2 running.",
            running,
        )?;
        let fields: [(&str, &str, Field); 9] = [
            ("num_requests", "Requests so far.", |_, e| {
                e.num_requests as f64
            }),
            ("num_failures", "Failed requests so far.", |_, e| {
                e.num_failures as f64
            }),
            (
                "avg_response_time",
                "Average response time (ms).",
                |_, e| e.avg_response_time(),
            ),
            ("min_response_time", "Fastest response (ms).", |_, e| {
                e.min_response_time.unwrap_or(0.0)
            }),
            ("max_response_time", "Slowest response (ms).", |_, e| {
                e.max_response_time
            }),
            (
                "median_response_time",
                "Median response time (ms).",
                |_, e| match locust_median(e) {
                    crate::report::csv::Typed::Int(n) => n as f64,
                    crate::report::csv::Typed::Float(x) => x,
                },
            ),
            (
                "avg_content_length",
                "Average response size (bytes).",
                |_, e| e.avg_content_length().unwrap_or(0.0),
            ),
            (
                "current_rps",
                "Requests per second, recent seconds.",
                |s, e| s.current_rates(e).0,
            ),
            (
                "current_fail_per_sec",
                "Failures per second, recent seconds.",
                |s, e| s.current_rates(e).1,
            ),
        ];
        for (field, help, value) in fields {
            per_entry(encoder, s, &format!("locust_requests_{field}"), help, value)?;
        }
        gauge(
            encoder,
            "locust_requests_fail_ratio",
            "Failed share of all requests (0-1).",
            s.total.fail_ratio(),
        )?;
        let current = s.total.current_percentiles(&[0.5, 0.95]);
        for (i, p) in [50, 95].iter().enumerate() {
            let v = current.as_ref().map_or(0.0, |c| c[i]);
            gauge(
                encoder,
                &format!("locust_requests_current_response_time_percentile_{p}"),
                "Percentile of the recent seconds' response times (ms).",
                v,
            )?;
        }
        let mut errors = encoder.encode_descriptor(
            "locust_errors",
            "Occurrences of each failure.",
            None,
            MetricType::Gauge,
        )?;
        for e in s.errors().iter().take(super::stats_json::MAX_ROWS) {
            let l = [
                ("method", e.method.as_str()),
                ("name", e.name.as_str()),
                ("error", e.error.as_str()),
            ];
            ConstGauge::new(e.occurrences as f64).encode(errors.encode_family(&l)?)?;
        }
        if let Some(workers) = &self.workers {
            let count = |state: &str| workers.iter().filter(|w| w.state == state).count() as f64;
            gauge(
                encoder,
                "locust_workers_count",
                "Workers connected.",
                workers.len() as f64,
            )?;
            gauge(
                encoder,
                "locust_workers_running_count",
                "Workers running users.",
                count("running"),
            )?;
            gauge(
                encoder,
                "locust_workers_hatching_count",
                "Workers spawning users.",
                count("spawning"),
            )?;
            gauge(
                encoder,
                "locust_workers_missing_count",
                "Workers gone silent.",
                count("missing"),
            )?;
            let mut detail = encoder.encode_descriptor(
                "locust_worker_detail",
                "Users per worker.",
                None,
                MetricType::Gauge,
            )?;
            for w in workers {
                let l = [("id", w.id.as_str()), ("state", w.state)];
                ConstGauge::new(w.user_count as f64).encode(detail.encode_family(&l)?)?;
            }
        }
        Ok(())
    }

    fn locusta(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &*self.stats;
        let mut requests = encoder.encode_descriptor(
            "locusta_requests",
            "Requests so far.",
            None,
            MetricType::Counter,
        )?;
        for e in s.entries() {
            ConstCounter::new(e.num_requests).encode(requests.encode_family(&labels(e))?)?;
        }
        let mut failures = encoder.encode_descriptor(
            "locusta_failures",
            "Failed requests so far.",
            None,
            MetricType::Counter,
        )?;
        for e in s.entries() {
            ConstCounter::new(e.num_failures).encode(failures.encode_family(&labels(e))?)?;
        }
        let mut durations = encoder.encode_descriptor(
            "locusta_response_time_seconds",
            "Response times, from the run's HDR histograms.",
            None,
            MetricType::Histogram,
        )?;
        let bounds_ms: Vec<f64> = BOUNDS_SECONDS.iter().map(|b| b * 1000.0).collect();
        for e in s.entries() {
            let counts = e.counts_at_most(&bounds_ms);
            // The encoder takes per-bucket counts and accumulates them itself.
            let mut previous = 0;
            let mut buckets: Vec<(f64, u64)> = BOUNDS_SECONDS
                .iter()
                .zip(counts)
                .map(|(b, c)| {
                    let own = c.saturating_sub(previous);
                    previous = c;
                    (*b, own)
                })
                .collect();
            buckets.push((f64::INFINITY, e.num_requests.saturating_sub(previous)));
            let l = labels(e);
            let mut m = durations.encode_family(&l)?;
            m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                e.total_response_time / 1000.0,
                e.num_requests,
                &buckets,
                None,
            )?;
        }
        gauge(
            encoder,
            "locusta_users",
            "The current number of users.",
            self.user_count as f64,
        )?;
        Ok(())
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.exporter(&mut encoder)?;
        self.locusta(&mut encoder)
    }
}

/// The scrape's body.
pub fn render(
    stats: Arc<RequestStats>,
    state: &'static str,
    user_count: usize,
    workers: Option<Vec<WorkerInfo>>,
) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        stats,
        state,
        user_count,
        workers,
    }));
    let mut out = String::new();
    if prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).is_err() {
        return "# the metrics could not be encoded\n".to_string();
    }
    out
}
