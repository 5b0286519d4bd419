//! `locusta compare`: two runs side by side, per endpoint, and the regressions beyond the
//! limits given (the CisTrade guide's weekly "more than 20% slower" rule, built in).

use serde::Serialize;

use crate::report::data::{ReportData, Row};

/// What is compared, per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareMetric {
    Median,
    P95,
    P99,
    Average,
    Rps,
    FailureRate,
}

impl CompareMetric {
    pub const ALL: [CompareMetric; 6] = [
        CompareMetric::Median,
        CompareMetric::P95,
        CompareMetric::P99,
        CompareMetric::Average,
        CompareMetric::Rps,
        CompareMetric::FailureRate,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CompareMetric::Median => "Median",
            CompareMetric::P95 => "95%ile",
            CompareMetric::P99 => "99%ile",
            CompareMetric::Average => "Average",
            CompareMetric::Rps => "RPS",
            CompareMetric::FailureRate => "Failure rate",
        }
    }

    fn value(self, r: &Row) -> Option<f64> {
        if r.requests == 0 {
            return None;
        }
        match self {
            CompareMetric::Median => Some(r.median),
            CompareMetric::P95 => r.percentile(0.95),
            CompareMetric::P99 => r.percentile(0.99),
            CompareMetric::Average => Some(r.average),
            CompareMetric::Rps => Some(r.rps),
            CompareMetric::FailureRate => Some(r.fail_ratio()),
        }
    }

    /// The value as the tables show it.
    pub fn show(self, v: f64) -> String {
        match self {
            CompareMetric::Rps => format!("{v:.2}"),
            CompareMetric::FailureRate => format!("{:.2}%", v * 100.0),
            _ => format!("{v:.1} ms"),
        }
    }
}

/// How much worse each metric may get before it is a regression: latencies may grow and
/// requests per second drop by a fraction; the failure rate may rise by points (0.01 = 1%).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub median: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub average: Option<f64>,
    pub rps: Option<f64>,
    pub failure_rate: Option<f64>,
    /// Endpoints with fewer requests than this in either run are shown but not judged: their
    /// percentiles are a handful of samples.
    pub min_requests: u64,
}

impl Limits {
    fn of(&self, m: CompareMetric) -> Option<f64> {
        match m {
            CompareMetric::Median => self.median,
            CompareMetric::P95 => self.p95,
            CompareMetric::P99 => self.p99,
            CompareMetric::Average => self.average,
            CompareMetric::Rps => self.rps,
            CompareMetric::FailureRate => self.failure_rate,
        }
    }

    pub fn any(&self) -> bool {
        CompareMetric::ALL.iter().any(|m| self.of(*m).is_some())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricChange {
    pub metric: CompareMetric,
    pub baseline: Option<f64>,
    pub latest: Option<f64>,
    /// Relative change (0.25 = 25% more); for the failure rate, the difference in points.
    pub change: Option<f64>,
    /// The limit it was judged against, when one was given and the endpoint was judged.
    pub limit: Option<f64>,
    pub regression: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointChange {
    /// Empty for all requests together.
    pub method: String,
    pub name: String,
    pub baseline_requests: u64,
    pub latest_requests: u64,
    /// False when either run had fewer than `min_requests` requests here.
    pub judged: bool,
    pub metrics: Vec<MetricChange>,
}

impl EndpointChange {
    pub fn label(&self) -> String {
        if self.method.is_empty() {
            "All requests".to_string()
        } else {
            format!("{} {}", self.method, self.name)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub latest: String,
    /// Endpoints in both runs, then all requests together.
    pub endpoints: Vec<EndpointChange>,
    /// "METHOD name" of endpoints only in the latest run, and only in the baseline.
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Whether any limit was given (without one, the comparison only reports).
    pub gated: bool,
    pub min_requests: u64,
    pub regressions: usize,
}

fn change(m: CompareMetric, baseline: f64, latest: f64) -> Option<f64> {
    match m {
        CompareMetric::FailureRate => Some(latest - baseline),
        _ if baseline > 0.0 => Some(latest / baseline - 1.0),
        _ => None,
    }
}

/// The smallest rise in a latency that counts as a regression: the resolution of Locust's
/// files (whole milliseconds, which locusta writes too). Without it a 1 ms endpoint that reads
/// 2 ms in the next run is "+100%", a change of a rounding, not of the application.
pub const MIN_LATENCY_RISE_MS: f64 = 1.0;

/// Worse than allowed: latencies up by more than the limit (and by a millisecond at least),
/// requests per second down by more, failure rate up by more points.
fn regressed(m: CompareMetric, baseline: f64, latest: f64, change: f64, limit: f64) -> bool {
    match m {
        CompareMetric::Rps => change < -limit,
        CompareMetric::FailureRate => change > limit,
        _ => change > limit && latest - baseline >= MIN_LATENCY_RISE_MS,
    }
}

fn endpoint(base: &Row, latest: &Row, limits: &Limits) -> EndpointChange {
    let judged = base.requests >= limits.min_requests.max(1)
        && latest.requests >= limits.min_requests.max(1);
    let metrics = CompareMetric::ALL
        .iter()
        .map(|&m| {
            let (b, l) = (m.value(base), m.value(latest));
            let delta = b.zip(l).and_then(|(b, l)| change(m, b, l));
            let limit = limits.of(m).filter(|_| judged);
            MetricChange {
                metric: m,
                baseline: b,
                latest: l,
                change: delta,
                limit,
                regression: match (b, l, delta, limit) {
                    (Some(b), Some(l), Some(d), Some(lim)) => regressed(m, b, l, d, lim),
                    _ => false,
                },
            }
        })
        .collect();
    EndpointChange {
        method: latest.method.clone(),
        name: latest.name.clone(),
        baseline_requests: base.requests,
        latest_requests: latest.requests,
        judged,
        metrics,
    }
}

fn key(r: &Row) -> String {
    format!("{} {}", r.method, r.name)
}

pub fn compare(baseline: &ReportData, latest: &ReportData, limits: &Limits) -> Comparison {
    let mut endpoints: Vec<EndpointChange> = latest
        .rows
        .iter()
        .filter_map(|l| {
            let b = baseline
                .rows
                .iter()
                .find(|b| b.method == l.method && b.name == l.name)?;
            Some(endpoint(b, l, limits))
        })
        .collect();
    if let (Some(b), Some(l)) = (&baseline.total, &latest.total) {
        endpoints.push(endpoint(b, l, limits));
    }
    let regressions = endpoints
        .iter()
        .flat_map(|e| &e.metrics)
        .filter(|m| m.regression)
        .count();
    Comparison {
        baseline: baseline.info.generator.clone(),
        latest: latest.info.generator.clone(),
        endpoints,
        added: latest
            .rows
            .iter()
            .filter(|l| {
                !baseline
                    .rows
                    .iter()
                    .any(|b| b.method == l.method && b.name == l.name)
            })
            .map(key)
            .collect(),
        removed: baseline
            .rows
            .iter()
            .filter(|b| {
                !latest
                    .rows
                    .iter()
                    .any(|l| b.method == l.method && b.name == l.name)
            })
            .map(key)
            .collect(),
        gated: limits.any(),
        min_requests: limits.min_requests,
        regressions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, requests: u64, failures: u64, median: f64, p95: f64, rps: f64) -> Row {
        Row {
            method: "GET".into(),
            name: name.into(),
            requests,
            failures,
            median,
            average: median,
            min: 1.0,
            max: p95,
            avg_size: 0.0,
            rps,
            fps: 0.0,
            percentiles: Some(vec![
                median, median, median, median, p95, p95, p95, p95, p95, p95, p95,
            ]),
        }
    }

    fn run(rows: Vec<Row>) -> ReportData {
        ReportData {
            rows,
            ..ReportData::default()
        }
    }

    #[test]
    fn regressions_beyond_the_limits_and_nothing_else() {
        let base = run(vec![
            row("/a", 100, 0, 30.0, 60.0, 10.0),
            row("/b", 100, 1, 50.0, 90.0, 10.0),
            row("/gone", 100, 0, 1.0, 1.0, 1.0),
            row("/rare", 3, 0, 10.0, 10.0, 0.1),
            row("/fast", 100, 0, 1.0, 1.0, 10.0),
        ]);
        let latest = run(vec![
            row("/a", 100, 0, 40.0, 61.0, 10.0),
            row("/b", 100, 5, 50.0, 90.0, 7.0),
            row("/new", 5, 0, 1.0, 1.0, 1.0),
            row("/rare", 3, 0, 90.0, 90.0, 0.1),
            row("/fast", 100, 0, 1.0, 1.9, 10.0),
        ]);
        let limits = Limits {
            median: Some(0.2),
            p95: Some(0.2),
            rps: Some(0.2),
            failure_rate: Some(0.01),
            min_requests: 20,
            ..Limits::default()
        };
        let c = compare(&base, &latest, &limits);
        let flagged: Vec<(String, CompareMetric)> = c
            .endpoints
            .iter()
            .flat_map(|e| {
                e.metrics
                    .iter()
                    .filter(|m| m.regression)
                    .map(move |m| (e.name.clone(), m.metric))
            })
            .collect();
        // /a: median +33% (p95 +1.7% is fine); /b: RPS -30%, failure rate +4 points;
        // /rare is 9x slower but has 3 requests: shown, not judged; /fast's p95 is +90% but
        // 0.9 ms, under the files' millisecond resolution.
        assert_eq!(
            flagged,
            [
                ("/a".to_string(), CompareMetric::Median),
                ("/b".to_string(), CompareMetric::Rps),
                ("/b".to_string(), CompareMetric::FailureRate)
            ]
        );
        assert_eq!(c.regressions, 3);
        assert_eq!(
            (c.added.clone(), c.removed.clone()),
            (vec!["GET /new".to_string()], vec!["GET /gone".to_string()])
        );
        let a = &c.endpoints[0].metrics[0];
        assert!((a.change.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert!(
            !c.endpoints
                .iter()
                .find(|e| e.name == "/rare")
                .unwrap()
                .judged
        );
        // Without limits, nothing is a regression.
        assert_eq!(compare(&base, &latest, &Limits::default()).regressions, 0);
    }
}
