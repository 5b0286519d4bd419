//! The CisTrade guide's warning signs, checked automatically: response times rising over the
//! run, requests per second falling, a latency spike, a failure rate above 1%, response times
//! near 0 ms ("not actually hitting the server"), and the load generator's own CPU above 90%
//! (its measurements are suspect then). Each flag names the endpoint and the time.

use super::data::ReportData;
use crate::stats::history::Point;

#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// One short line: what is wrong.
    pub title: String,
    /// What was measured, and where to look.
    pub detail: String,
    pub endpoint: Option<String>,
    /// Unix seconds: when it shows.
    pub when: Option<f64>,
}

/// A failure rate above this is a flag (the guide's "< 1% under peak load").
const FAILURE_RATE: f64 = 0.01;
/// Response times rising: the last third's median is this much above the first third's...
const RISE_FACTOR: f64 = 1.5;
/// ...and by at least this many milliseconds (noise on a 2 ms endpoint is not a trend).
const RISE_MIN_MS: f64 = 5.0;
/// Requests per second falling: the last third below this share of the first third.
const FALL_FACTOR: f64 = 0.7;
/// A spike: a 95th percentile this many times the run's usual one...
const SPIKE_FACTOR: f64 = 3.0;
/// ...and at least this many milliseconds above it.
const SPIKE_MIN_MS: f64 = 100.0;
/// Below this median, responses are not plausibly from a real server.
const NEAR_ZERO_MS: f64 = 1.0;
/// The load generator's CPU share above which its own timing is suspect.
const CPU_LIMIT: f64 = 90.0;
/// Seconds of steady load needed before trends are judged: a shorter run shows no trend.
const MIN_POINTS: usize = 30;
/// Seconds after the last user started during which rates and percentiles, measured over a
/// sliding 10-second window, still mix in the ramp-up.
const SETTLE_SECONDS: f64 = 10.0;
/// A window's 95th percentile counts towards a spike only with this many requests behind it
/// (of fewer, it is simply the slowest one or two).
const SPIKE_MIN_REQUESTS: f64 = 20.0;
/// The width of the window the points' rates and percentiles are measured over.
const WINDOW_SECONDS: f64 = 10.0;

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// The points while the most users ran, once the ramp-up has left the measuring window: trends
/// during ramp-up and ramp-down are expected, not warning signs. Empty when that is too short
/// to judge.
fn steady(points: &[Point], users: u32) -> Vec<&Point> {
    let Some(reached) = points
        .iter()
        .find(|p| p.users == users && users > 0)
        .map(|p| p.t)
    else {
        return Vec::new();
    };
    let during: Vec<&Point> = points
        .iter()
        .filter(|p| p.users == users && p.t >= reached + SETTLE_SECONDS)
        .collect();
    if during.len() >= MIN_POINTS {
        during
    } else {
        Vec::new()
    }
}

fn thirds<T>(values: &[T]) -> (&[T], &[T]) {
    let n = values.len() / 3;
    (&values[..n], &values[values.len() - n..])
}

fn label(key: &(String, String)) -> String {
    if key.1.is_empty() {
        key.0.clone()
    } else {
        format!("{} {}", key.1, key.0)
    }
}

fn rising(out: &mut Vec<Flag>, name: &str, points: &[&Point]) {
    if points.is_empty() {
        return;
    }
    let (first, last) = thirds(points);
    let (Some(a), Some(b)) = (
        median(first.iter().filter_map(|p| p.median).collect()),
        median(last.iter().filter_map(|p| p.median).collect()),
    ) else {
        return;
    };
    if b > a * RISE_FACTOR && b - a > RISE_MIN_MS {
        out.push(Flag {
            title: format!("Response times rose over the run: {name}"),
            detail: format!(
                "The median went from {a:.0} ms in the first third of the run to {b:.0} ms in the last: \
                 a leak or a resource running out?"
            ),
            endpoint: Some(name.to_string()),
            when: last.first().map(|p| p.t),
        });
    }
}

fn spike(out: &mut Vec<Flag>, name: &str, points: &[&Point]) {
    let Some(usual) = median(points.iter().filter_map(|p| p.p95).collect()) else {
        return;
    };
    let worst = points
        .iter()
        .filter(|p| p.rps * WINDOW_SECONDS >= SPIKE_MIN_REQUESTS)
        .filter_map(|p| p.p95.map(|v| (v, p.t)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((peak, t)) = worst
        && peak > usual * SPIKE_FACTOR
        && peak - usual > SPIKE_MIN_MS
    {
        out.push(Flag {
            title: format!("Latency spike: {name}"),
            detail: format!("The 95th percentile reached {peak:.0} ms, against {usual:.0} ms the rest of the run: a timeout or a stall?"),
            endpoint: Some(name.to_string()),
            when: Some(t),
        });
    }
}

/// Every warning sign in the data, worst first by kind.
pub fn red_flags(data: &ReportData) -> Vec<Flag> {
    let mut out = Vec::new();
    let peak_users = data.aggregated.iter().map(|p| p.users).max().unwrap_or(0);

    // Failures above 1%: the run as a whole, then each endpoint.
    if let Some(total) = &data.total
        && total.fail_ratio() > FAILURE_RATE
    {
        let first = data
            .failures
            .iter()
            .map(|f| f.first_seen.as_str())
            .filter(|s| !s.is_empty())
            .min();
        out.push(Flag {
            title: format!("{:.1}% of all requests failed", total.fail_ratio() * 100.0),
            detail: format!(
                "{} of {} requests failed (the guide's limit is 1% under peak load); the failures table says why.{}",
                total.failures,
                total.requests,
                first.map(|f| format!(" First failure at {f}.")).unwrap_or_default()
            ),
            endpoint: None,
            when: None,
        });
    }
    for row in &data.rows {
        if row.fail_ratio() > FAILURE_RATE {
            let name = label(&(row.name.clone(), row.method.clone()));
            let common = data
                .failures
                .iter()
                .filter(|f| f.name == row.name && f.method == row.method)
                .max_by_key(|f| f.occurrences);
            out.push(Flag {
                title: format!(
                    "{:.1}% of requests failed: {name}",
                    row.fail_ratio() * 100.0
                ),
                detail: match common {
                    Some(f) => format!(
                        "{} of {} failed; most often: {} (first at {}).",
                        row.failures, row.requests, f.error, f.first_seen
                    ),
                    None => format!("{} of {} failed.", row.failures, row.requests),
                },
                endpoint: Some(name),
                when: None,
            });
        }
    }

    // Responses too fast to be real.
    if let Some(total) = &data.total
        && total.requests > 0
        && total.median < NEAR_ZERO_MS
    {
        out.push(Flag {
            title: format!("Response times near 0 ms (median {:.2} ms)", total.median),
            detail: "Responses this fast rarely come from a real application: are the requests reaching the server \
                     (cached responses, the wrong host)? The guide calls this \"not actually hitting the server\"."
                .to_string(),
            endpoint: None,
            when: None,
        });
    }

    // Trends: response times rising, spikes (the whole run, then each endpoint); throughput falling.
    let whole = steady(&data.aggregated, peak_users);
    rising(&mut out, "all requests", &whole);
    spike(&mut out, "all requests", &whole);
    for (key, points) in &data.endpoints {
        let during = steady(points, peak_users);
        rising(&mut out, &label(key), &during);
        spike(&mut out, &label(key), &during);
    }
    if !whole.is_empty() {
        let (first, last) = thirds(&whole);
        if let (Some(a), Some(b)) = (
            median(first.iter().map(|p| p.rps).collect()),
            median(last.iter().map(|p| p.rps).collect()),
        ) && a > 1.0
            && b < a * FALL_FACTOR
        {
            out.push(Flag {
                title: "Requests per second fell over the run".to_string(),
                detail: format!(
                    "With {peak_users} users running, throughput went from {a:.1} to {b:.1} requests per second: \
                     a resource running out?"
                ),
                endpoint: None,
                when: last.first().map(|p| p.t),
            });
        }
    }

    // The load generator itself.
    if let Some(p) = data
        .aggregated
        .iter()
        .find(|p| p.cpu.is_some_and(|c| c > CPU_LIMIT))
    {
        let worst = data
            .aggregated
            .iter()
            .filter_map(|p| p.cpu)
            .fold(0.0, f64::max);
        out.push(Flag {
            title: format!("The load generator's CPU passed 90% (up to {worst:.0}%)"),
            detail: "When the machine running locusta is this busy, it measures its own delays as well as the \
                     server's: response times from then on are suspect. Run fewer users per machine."
                .to_string(),
            endpoint: None,
            when: Some(p.t),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::{FailureRow, Row};

    fn point(t: f64, users: u32, rps: f64, median: f64, p95: f64, cpu: f64) -> Point {
        Point {
            t,
            users,
            rps,
            fps: 0.0,
            median: Some(median),
            p95: Some(p95),
            p99: Some(p95),
            requests: 0,
            cpu: Some(cpu),
        }
    }

    fn row(name: &str, requests: u64, failures: u64, median: f64) -> Row {
        Row {
            method: "GET".into(),
            name: name.into(),
            requests,
            failures,
            median,
            average: median,
            min: median,
            max: median,
            avg_size: 0.0,
            rps: 1.0,
            fps: 0.0,
            percentiles: None,
        }
    }

    fn titles(data: &ReportData) -> Vec<String> {
        red_flags(data).into_iter().map(|f| f.title).collect()
    }

    #[test]
    fn a_healthy_run_raises_nothing() {
        let data = ReportData {
            total: Some(row("Aggregated", 1000, 2, 40.0)),
            rows: vec![row("/a", 1000, 2, 40.0)],
            aggregated: (0..60)
                .map(|i| point(i as f64, 10, 50.0, 40.0 + (i % 3) as f64, 90.0, 20.0))
                .collect(),
            ..ReportData::default()
        };
        assert!(red_flags(&data).is_empty(), "{:?}", red_flags(&data));
    }

    #[test]
    fn each_warning_sign_is_named_with_its_place_and_time() {
        let mut aggregated: Vec<Point> = (0..5)
            .map(|i| point(i as f64, (i + 1) * 2, 10.0, 30.0, 60.0, 30.0))
            .collect();
        // Steady at 10 users: response times climb, throughput drops, one spike, CPU saturates.
        aggregated.extend((5..65).map(|i| {
            let f = i as f64;
            let p95 = if i == 40 { 2300.0 } else { 100.0 };
            let cpu = if i >= 50 { 97.0 } else { 40.0 };
            point(f, 10, 100.0 - f, 20.0 + f, p95, cpu)
        }));
        let data = ReportData {
            total: Some(row("Aggregated", 1000, 30, 40.0)),
            rows: vec![row("/slow", 500, 30, 40.0), row("/fast", 500, 0, 0.4)],
            failures: vec![FailureRow {
                method: "GET".into(),
                name: "/slow".into(),
                error: "HTTPError('500 Server Error: x for url: /slow')".into(),
                occurrences: 30,
                first_seen: "2026-11-22T19:01:59Z".into(),
                last_seen: "2026-11-22T19:02:59Z".into(),
            }],
            aggregated,
            ..ReportData::default()
        };
        let flags = red_flags(&data);
        let t = titles(&data);
        assert!(
            t.contains(&"3.0% of all requests failed".to_string()),
            "{t:?}"
        );
        assert!(
            t.contains(&"6.0% of requests failed: GET /slow".to_string()),
            "{t:?}"
        );
        assert!(
            t.iter()
                .any(|x| x.starts_with("Response times rose over the run: all requests")),
            "{t:?}"
        );
        assert!(
            t.contains(&"Requests per second fell over the run".to_string()),
            "{t:?}"
        );
        let spike = flags
            .iter()
            .find(|f| f.title == "Latency spike: all requests")
            .expect("spike");
        assert_eq!(spike.when, Some(40.0));
        assert!(spike.detail.contains("2300 ms"), "{}", spike.detail);
        let cpu = flags
            .iter()
            .find(|f| f.title.starts_with("The load generator's CPU passed 90%"))
            .expect("cpu");
        assert_eq!(cpu.when, Some(50.0));
        let slow = flags
            .iter()
            .find(|f| f.endpoint.as_deref() == Some("GET /slow"))
            .unwrap();
        assert!(
            slow.detail.contains("most often: HTTPError("),
            "{}",
            slow.detail
        );

        let near_zero = ReportData {
            total: Some(row("Aggregated", 100, 0, 0.3)),
            ..ReportData::default()
        };
        assert_eq!(
            titles(&near_zero),
            ["Response times near 0 ms (median 0.30 ms)"]
        );
    }

    #[test]
    fn ramp_up_short_runs_and_quiet_windows_are_not_trends() {
        // Throughput falls and latency climbs, but only while users start and in a 25-second run.
        let short: Vec<Point> = (0..25)
            .map(|i| {
                point(
                    i as f64,
                    (i as u32 + 1).min(10),
                    100.0 - 3.0 * i as f64,
                    10.0 + 5.0 * i as f64,
                    50.0,
                    10.0,
                )
            })
            .collect();
        let data = ReportData {
            aggregated: short,
            ..ReportData::default()
        };
        assert!(titles(&data).is_empty(), "{:?}", titles(&data));
        // A slow request in a window of five is the slowest of five, not a spike.
        let quiet: Vec<Point> = (0..80)
            .map(|i| {
                point(
                    i as f64,
                    10,
                    0.5,
                    40.0,
                    if i == 60 { 900.0 } else { 60.0 },
                    10.0,
                )
            })
            .collect();
        let data = ReportData {
            aggregated: quiet,
            ..ReportData::default()
        };
        assert!(titles(&data).is_empty(), "{:?}", titles(&data));
    }
}
