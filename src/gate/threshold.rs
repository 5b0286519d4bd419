//! Thresholds: pass/fail targets on a run's results, written as short expressions
//! (`p95 < 500ms`, `error_rate < 1%`, `rps >= 100`, `p95 < 200ms for GET /api/v1/projects/`),
//! from the scenario's `thresholds:` or `--threshold`, and locust-plugins' `--check-*` options.

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use crate::stats::{RequestStats, StatsEntry};

/// What a threshold measures, in its natural unit: milliseconds, a fraction, per second, a count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    Median,
    Average,
    Min,
    Max,
    /// A percentile, in percent (95, 99.9).
    Percentile(f64),
    ErrorRate,
    Rps,
    Requests,
    Failures,
}

impl Metric {
    fn is_time(self) -> bool {
        matches!(
            self,
            Metric::Median | Metric::Average | Metric::Min | Metric::Max | Metric::Percentile(_)
        )
    }

    /// The value in the metric's unit, as the tables show it.
    pub fn show(self, v: f64) -> String {
        match self {
            m if m.is_time() => format!("{v:.1} ms"),
            Metric::ErrorRate => format!("{:.2}%", v * 100.0),
            Metric::Rps => format!("{v:.2}/s"),
            _ => format!("{v:.0}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Lt => actual < limit,
            Op::Le => actual <= limit,
            Op::Gt => actual > limit,
            Op::Ge => actual >= limit,
        }
    }
}

/// Which rows a threshold judges.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The Aggregated row: all requests together.
    All,
    /// Endpoints by name (`*` matches any text), of one method or of any.
    Endpoints {
        method: Option<String>,
        pattern: String,
    },
}

impl Target {
    /// `all` (or `Aggregated`), `Portfolio List`, `GET /api/v1/projects/`, `*Export CSV`.
    pub fn parse(s: &str) -> Target {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") || s == "Aggregated" {
            return Target::All;
        }
        const METHODS: [&str; 11] = [
            "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "WS", "WSR", "SSE", "SSER",
        ];
        match s.split_once(' ') {
            Some((m, rest)) if METHODS.contains(&m) && !rest.trim().is_empty() => {
                Target::Endpoints {
                    method: Some(m.to_string()),
                    pattern: rest.trim().to_string(),
                }
            }
            _ => Target::Endpoints {
                method: None,
                pattern: s.to_string(),
            },
        }
    }

    fn matches(&self, method: &str, name: &str) -> bool {
        match self {
            Target::All => false,
            Target::Endpoints { method: m, pattern } => {
                m.as_deref().is_none_or(|m| m == method) && glob(pattern, name)
            }
        }
    }

    /// Fails, naming the closest name, when no request of the scenario can match: a
    /// threshold on a misspelt endpoint would otherwise never be judged.
    pub fn check(&self, names: &[(String, String)]) -> Result<(), String> {
        let Target::Endpoints { pattern, method } = self else {
            return Ok(());
        };
        if names.iter().any(|(m, n)| self.matches(m, n)) {
            return Ok(());
        }
        if let (Some(wanted), Some((m, n))) = (method, names.iter().find(|(_, n)| glob(pattern, n)))
        {
            return Err(format!(
                "no {wanted} request of the scenario is named `{pattern}` (`{n}` is {m})"
            ));
        }
        let hint = crate::scenario::did_you_mean(pattern, names.iter().map(|(_, n)| n.as_str()))
            .map(|s| format!(", did you mean `{s}`?"))
            .unwrap_or_default();
        Err(format!(
            "no request of the scenario is named `{self}`{hint}"
        ))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::All => f.write_str("All requests"),
            Target::Endpoints {
                method: Some(m),
                pattern,
            } => write!(f, "{m} {pattern}"),
            Target::Endpoints {
                method: None,
                pattern,
            } => f.write_str(pattern),
        }
    }
}

/// `*` matches any text; everything else matches itself.
fn glob(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == name;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as written (`p95 < 500ms`), without its `for` part.
    pub text: String,
    pub target: Target,
    pub metric: Metric,
    pub op: Op,
    /// In the metric's unit.
    pub limit: f64,
    /// Checked every second while the run goes, from this long after the start, and the run
    /// is stopped the first time it fails; `None`: judged at the end only.
    pub abort_after: Option<Duration>,
    /// Which locust-plugins `--check-*` option this came from, if any: its log lines follow.
    pub plugin_check: Option<&'static str>,
}

static EXPRESSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*([a-z_]+(?:\(\s*[0-9.]+\s*\)|[0-9.]+)?)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|%)?\s*(?:\s+for\s+(.+?))?\s*$")
        .expect("valid regex")
});

const GRAMMAR: &str = "write METRIC OP VALUE [for ENDPOINT], e.g. `p95 < 500ms`, `error_rate < 1%`, `rps >= 100`, `median < 300ms for GET Portfolio List`; metrics: median, avg, min, max, p50..p99.99, error_rate, rps, requests, failures";

fn metric(word: &str) -> Result<Metric, String> {
    let w = word.to_ascii_lowercase().replace(['(', ')', ' '], "");
    Ok(match w.as_str() {
        "median" | "med" => Metric::Median,
        "avg" | "average" | "mean" => Metric::Average,
        "min" => Metric::Min,
        "max" => Metric::Max,
        "error_rate" | "fail_ratio" | "failure_rate" => Metric::ErrorRate,
        "rps" | "requests_per_second" => Metric::Rps,
        "requests" => Metric::Requests,
        "failures" => Metric::Failures,
        p if p.starts_with('p') => {
            let n: f64 = p[1..]
                .parse()
                .map_err(|_| format!("`{word}` is not a metric ({GRAMMAR})"))?;
            if !(0.0..=100.0).contains(&n) {
                return Err(format!("`{word}`: a percentile is between p0 and p100"));
            }
            Metric::Percentile(n)
        }
        _ => return Err(format!("`{word}` is not a metric ({GRAMMAR})")),
    })
}

impl Threshold {
    /// Parses `p95 < 500ms` or `p95 < 500ms for GET /api/`; `target` applies when the text
    /// names no endpoint itself.
    pub fn parse(text: &str, target: &Target) -> Result<Threshold, String> {
        let caps = EXPRESSION
            .captures(text)
            .ok_or_else(|| format!("`{}` is not a threshold ({GRAMMAR})", text.trim()))?;
        let metric = metric(&caps[1])?;
        let op = match &caps[2] {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            _ => Op::Ge,
        };
        let number: f64 = caps[3]
            .parse()
            .map_err(|_| format!("`{}` is not a number", &caps[3]))?;
        let unit = caps.get(4).map(|m| m.as_str().to_ascii_lowercase());
        let wrong_unit =
            |u: &str| format!("`{}`: `{u}` is not a unit for {}", text.trim(), &caps[1]);
        let limit = if metric.is_time() {
            match unit.as_deref() {
                None | Some("ms") => number,
                Some("s") => number * 1000.0,
                Some("m") => number * 60_000.0,
                Some(u) => return Err(wrong_unit(u)),
            }
        } else if metric == Metric::ErrorRate {
            match unit.as_deref() {
                Some("%") => number / 100.0,
                None if number <= 1.0 => number,
                None => {
                    return Err(format!(
                        "`{}`: write an error rate as a percentage (1%) or a fraction (0.01)",
                        text.trim()
                    ));
                }
                Some(u) => return Err(wrong_unit(u)),
            }
        } else {
            match unit.as_deref() {
                None => number,
                Some(u) => return Err(wrong_unit(u)),
            }
        };
        if !limit.is_finite() {
            return Err(format!(
                "`{}`: `{}` is too large a number",
                text.trim(),
                &caps[3]
            ));
        }
        let (expression, target) = match caps.get(5) {
            Some(endpoint) => (
                text[..endpoint.start()]
                    .trim()
                    .trim_end_matches("for")
                    .trim()
                    .to_string(),
                Target::parse(endpoint.as_str()),
            ),
            None => (text.trim().to_string(), target.clone()),
        };
        Ok(Threshold {
            text: expression,
            target,
            metric,
            op,
            limit,
            abort_after: None,
            plugin_check: None,
        })
    }
}

/// `--threshold`s, followed by locust-plugins' checks with their meaning: `--check-rps X`
/// fails below X requests/s, `--check-fail-ratio X` above that ratio of failures,
/// `--check-avg-response-time X` above X ms on average.
pub fn from_checks(
    mut thresholds: Vec<Threshold>,
    rps: Option<f64>,
    fail_ratio: Option<f64>,
    avg_response_time: Option<f64>,
) -> Vec<Threshold> {
    let check =
        |option: &'static str, metric: Metric, op: Op, text: String, limit: f64| Threshold {
            text,
            target: Target::All,
            metric,
            op,
            limit,
            abort_after: None,
            plugin_check: Some(option),
        };
    if let Some(x) = fail_ratio {
        thresholds.push(check(
            "--check-fail-ratio",
            Metric::ErrorRate,
            Op::Le,
            format!("error_rate <= {}", crate::pyfmt::int_or_float(x)),
            x,
        ));
    }
    if let Some(x) = rps {
        thresholds.push(check(
            "--check-rps",
            Metric::Rps,
            Op::Ge,
            format!("rps >= {}", crate::pyfmt::int_or_float(x)),
            x,
        ));
    }
    if let Some(x) = avg_response_time {
        thresholds.push(check(
            "--check-avg-response-time",
            Metric::Average,
            Op::Le,
            format!("avg <= {}ms", crate::pyfmt::int_or_float(x)),
            x,
        ));
    }
    thresholds
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// The endpoint got no requests in this run (its tasks were left out by tags or user
    /// types, or never came up): nothing to judge, and not a failure.
    NotRun,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::NotRun => "not run",
        }
    }
}

/// One row of the pass/fail table: a threshold judged on one row of statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub threshold: Threshold,
    /// What it was judged on: `All requests`, `GET Portfolio List`, or the pattern that
    /// matched no endpoint of the run.
    pub endpoint: String,
    /// `None`: no requests to judge.
    pub actual: Option<f64>,
    pub verdict: Verdict,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        self.verdict == Verdict::Fail
    }

    pub fn actual_text(&self) -> String {
        match self.actual {
            Some(v) => self.threshold.metric.show(v),
            None => "no requests".to_string(),
        }
    }
}

fn measure(stats: &RequestStats, e: &StatsEntry, metric: Metric) -> Option<f64> {
    if e.num_requests == 0 && !matches!(metric, Metric::Requests | Metric::Failures) {
        return None;
    }
    Some(match metric {
        Metric::Median => e.median(),
        Metric::Average => e.avg_response_time(),
        Metric::Min => e.min_response_time.unwrap_or(0.0),
        Metric::Max => e.max_response_time,
        Metric::Percentile(p) => e.percentile(p / 100.0)?,
        Metric::ErrorRate => e.fail_ratio(),
        Metric::Rps => stats.total_rates(e).0,
        Metric::Requests => e.num_requests as f64,
        Metric::Failures => e.num_failures as f64,
    })
}

/// Judges every threshold on the statistics: one outcome per matching endpoint; a pattern no
/// endpoint of the run matches is "not run" (names are checked against the scenario before
/// the run, so this is a task left out, not a typo). All requests with none made fails.
pub fn evaluate(thresholds: &[Threshold], stats: &RequestStats) -> Vec<Outcome> {
    let mut out = Vec::new();
    for t in thresholds {
        let rows: Vec<&StatsEntry> = match &t.target {
            Target::All => vec![&stats.total],
            target => stats
                .entries()
                .filter(|e| target.matches(&e.method, &e.name))
                .collect(),
        };
        if rows.is_empty() {
            out.push(Outcome {
                threshold: t.clone(),
                endpoint: t.target.to_string(),
                actual: None,
                verdict: Verdict::NotRun,
            });
        }
        for e in rows {
            let actual = measure(stats, e, t.metric);
            out.push(Outcome {
                threshold: t.clone(),
                endpoint: match t.target {
                    Target::All => t.target.to_string(),
                    _ => format!("{} {}", e.method, e.name),
                },
                actual,
                verdict: if actual.is_some_and(|v| t.op.holds(v, t.limit)) {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{RequestSample, Stats};

    fn parse(s: &str) -> Result<Threshold, String> {
        Threshold::parse(s, &Target::All)
    }

    #[test]
    fn expressions_read_as_written() {
        let t = parse("p95<500ms").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit, &t.target),
            (Metric::Percentile(95.0), Op::Lt, 500.0, &Target::All)
        );
        assert_eq!(parse("p(99.9) <= 2s").unwrap().limit, 2000.0);
        assert_eq!(
            parse("p99.9 <= 2s").unwrap().metric,
            Metric::Percentile(99.9)
        );
        assert_eq!(parse("error_rate < 1%").unwrap().limit, 0.01);
        assert_eq!(parse("fail_ratio<0.05").unwrap().limit, 0.05);
        assert_eq!(parse("rps>=100").unwrap().op, Op::Ge);
        assert_eq!(parse("avg < 50").unwrap().limit, 50.0);
        let t = parse("p95 < 200ms for GET /api/v1/projects/").unwrap();
        assert_eq!(t.text, "p95 < 200ms");
        assert_eq!(
            t.target,
            Target::Endpoints {
                method: Some("GET".into()),
                pattern: "/api/v1/projects/".into()
            }
        );
        assert_eq!(
            parse("median < 2s for *Export CSV").unwrap().target,
            Target::Endpoints {
                method: None,
                pattern: "*Export CSV".into()
            }
        );
        for (bad, says) in [
            ("p95 500ms", "is not a threshold"),
            ("latency < 5ms", "`latency` is not a metric"),
            ("p95 < 5%", "`%` is not a unit for p95"),
            ("error_rate < 5", "as a percentage (1%) or a fraction"),
            ("p101 < 5", "between p0 and p100"),
            ("rps > 5ms", "`ms` is not a unit for rps"),
            (
                &format!("p95 < {}ms", "9".repeat(400)),
                "is too large a number",
            ),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn globs_match_names() {
        assert!(glob("*Search", "Portfolio Search"));
        assert!(glob("Portfolio*", "Portfolio"));
        assert!(glob("*Export*", "Reference Data Export CSV"));
        assert!(!glob("*Search", "Search results"));
        assert!(glob("a*b*c", "a-b-c"));
        assert!(!glob("a*b*c", "a-c-b"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn outcomes_per_endpoint_and_for_nothing_matched() {
        let stats = Stats::new(1, 0.0);
        for (name, ms, ok) in [
            ("Portfolio Search", 100.0, true),
            ("Counterparty Search", 900.0, true),
            ("Login", 5.0, false),
        ] {
            for _ in 0..10 {
                stats.record(&RequestSample {
                    method: "GET",
                    name,
                    response_time_ms: ms,
                    content_length: 10,
                    error: (!ok).then_some("boom"),
                    timestamp: 1.0,
                });
            }
        }
        let state = stats.collect();
        let ts: Vec<Threshold> = [
            "p95 < 500ms for *Search",
            "error_rate < 10%",
            "median < 1s for Nothing",
            "requests >= 30",
        ]
        .iter()
        .map(|s| parse(s).unwrap())
        .collect();
        let got: Vec<(String, String, Verdict)> = evaluate(&ts, &state)
            .iter()
            .map(|o| (o.endpoint.clone(), o.actual_text(), o.verdict))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "GET Counterparty Search".to_string(),
                    "900.0 ms".to_string(),
                    Verdict::Fail
                ),
                (
                    "GET Portfolio Search".to_string(),
                    "100.0 ms".to_string(),
                    Verdict::Pass
                ),
                (
                    "All requests".to_string(),
                    "33.33%".to_string(),
                    Verdict::Fail
                ),
                (
                    "Nothing".to_string(),
                    "no requests".to_string(),
                    Verdict::NotRun
                ),
                ("All requests".to_string(), "30".to_string(), Verdict::Pass),
            ]
        );
        let names = [("GET".to_string(), "Portfolio Search".to_string())];
        assert!(Target::parse("*Search").check(&names).is_ok());
        assert_eq!(
            Target::parse("GET Portfolio Serch")
                .check(&names)
                .unwrap_err(),
            "no request of the scenario is named `GET Portfolio Serch`, did you mean `Portfolio Search`?"
        );
        assert!(
            Target::parse("POST Portfolio Search")
                .check(&names)
                .is_err()
        );
    }
}
