//! What the HTML report shows, gathered either from a run that just ended or from the CSV files
//! a run left behind (locusta's or Locust's own), so both paths render the same page.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::scenario::plan::Ratio;
use crate::stats::history::{History, Point, Series};
use crate::stats::{PERCENTILES_TO_REPORT, RequestStats, StatsEntry};

/// The run itself: the guide's data sheet.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub scenario: Option<String>,
    pub host: Option<String>,
    pub users: Option<u64>,
    pub spawn_rate: Option<f64>,
    pub run_time: Option<String>,
    /// Unix seconds.
    pub started: Option<f64>,
    pub ended: Option<f64>,
    /// What produced the numbers: "locusta 0.1.0", or the files they were read from.
    pub generator: String,
    pub git_commit: Option<String>,
    /// "AMD EPYC (2 cores), 23.5 GiB RAM".
    pub machine: Option<String>,
    /// Users per type when the run ended.
    pub user_counts: Vec<(String, u64)>,
}

/// One row of the request statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub median: f64,
    pub average: f64,
    pub min: f64,
    pub max: f64,
    pub avg_size: f64,
    pub rps: f64,
    pub fps: f64,
    /// At `PERCENTILES_TO_REPORT`; `None` without requests.
    pub percentiles: Option<Vec<f64>>,
}

impl Row {
    pub fn fail_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failures as f64 / self.requests as f64
        }
    }

    pub fn percentile(&self, p: f64) -> Option<f64> {
        let i = PERCENTILES_TO_REPORT.iter().position(|x| *x == p)?;
        self.percentiles.as_ref().map(|v| v[i])
    }

    fn from_entry(stats: &RequestStats, e: &StatsEntry) -> Row {
        let (rps, fps) = stats.total_rates(e);
        Row {
            method: e.method.clone(),
            name: e.name.clone(),
            requests: e.num_requests,
            failures: e.num_failures,
            median: e.median(),
            average: e.avg_response_time(),
            min: e.min_response_time.unwrap_or(0.0),
            max: e.max_response_time,
            avg_size: e.avg_content_length().unwrap_or(0.0),
            rps,
            fps,
            percentiles: e.percentiles(&PERCENTILES_TO_REPORT),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FailureRow {
    pub method: String,
    pub name: String,
    pub error: String,
    pub occurrences: u64,
    pub first_seen: String,
    pub last_seen: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionRow {
    pub count: u64,
    pub message: String,
    pub traceback: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    pub info: RunInfo,
    /// In Locust's order (name, method); Aggregated separately.
    pub rows: Vec<Row>,
    pub total: Option<Row>,
    pub failures: Vec<FailureRow>,
    pub exceptions: Vec<ExceptionRow>,
    pub aggregated: Vec<Point>,
    /// Per (name, method).
    pub endpoints: Vec<((String, String), Vec<Point>)>,
    /// Whether the percentiles over time are of the last seconds (a run, `--csv-full-history`)
    /// or cumulative (Locust's default history file).
    pub current_percentiles: bool,
    /// Per user type and of all task runs, as `--show-task-ratio`.
    pub ratios: Option<(Vec<Ratio>, Vec<Ratio>)>,
    /// The thresholds, judged.
    pub thresholds: Vec<crate::gate::Outcome>,
}

impl ReportData {
    /// From a run that just ended.
    pub fn from_run(
        info: RunInfo,
        stats: &RequestStats,
        history: &History,
        ratios: Option<(Vec<Ratio>, Vec<Ratio>)>,
    ) -> ReportData {
        let failures = crate::report::csv::failures_in_locust_order(stats.errors())
            .into_iter()
            .map(|e| FailureRow {
                method: e.method.clone(),
                name: e.name.clone(),
                error: e.error.clone(),
                occurrences: e.occurrences,
                first_seen: crate::pyfmt::utc_timestamp(e.first_seen),
                last_seen: crate::pyfmt::utc_timestamp(e.last_seen),
            })
            .collect();
        ReportData {
            info,
            rows: stats.entries().map(|e| Row::from_entry(stats, e)).collect(),
            total: Some(Row::from_entry(stats, &stats.total)),
            failures,
            exceptions: stats
                .exceptions()
                .iter()
                .map(|x| ExceptionRow {
                    count: x.count,
                    message: x.message.clone(),
                    traceback: x.traceback.clone(),
                })
                .collect(),
            aggregated: history.aggregated.points(),
            endpoints: history
                .endpoints
                .iter()
                .map(|(k, s)| (k.clone(), s.points()))
                .collect(),
            current_percentiles: true,
            ratios,
            thresholds: Vec::new(),
        }
    }
}

/// The CSV files of one run: a `PREFIX`, or a folder holding one `*_stats.csv`.
pub fn csv_prefix(input: &Path) -> Result<PathBuf, String> {
    if input.is_dir() {
        let mut prefixes: Vec<PathBuf> = std::fs::read_dir(input)
            .map_err(|e| format!("cannot read {}: {e}", input.display()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix("_stats.csv").map(|p| input.join(p))
            })
            .collect();
        prefixes.sort();
        return match prefixes.len() {
            1 => Ok(prefixes.remove(0)),
            0 => Err(format!(
                "{} holds no *_stats.csv file (give a folder of results or a --csv prefix)",
                input.display()
            )),
            _ => Err(format!(
                "{} holds several runs ({}); give one prefix",
                input.display(),
                prefixes
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
    }
    let prefix = input.to_path_buf();
    let stats = PathBuf::from(format!("{}_stats.csv", prefix.display()));
    if stats.is_file() {
        Ok(prefix)
    } else {
        Err(format!(
            "no {} (give a folder of results or a --csv prefix)",
            stats.display()
        ))
    }
}

fn file(prefix: &Path, kind: &str) -> PathBuf {
    PathBuf::from(format!("{}_{kind}.csv", prefix.display()))
}

/// Rows of a CSV file as maps from header to value.
fn read_rows(path: &Path) -> Result<Vec<BTreeMap<String, String>>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .iter()
        .map(String::from)
        .collect();
    reader
        .records()
        .map(|r| {
            let r = r.map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(headers
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect())
        })
        .collect()
}

fn num(row: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    row.get(key).and_then(|v| v.trim().parse().ok())
}

/// The percentile columns of Locust's files, in `PERCENTILES_TO_REPORT` order.
pub const PERCENTILE_COLUMNS: [&str; 11] = [
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
];

fn stats_row(row: &BTreeMap<String, String>) -> Row {
    let requests = num(row, "Request Count").unwrap_or(0.0) as u64;
    let percentiles: Option<Vec<f64>> = PERCENTILE_COLUMNS.iter().map(|c| num(row, c)).collect();
    Row {
        method: row.get("Type").cloned().unwrap_or_default(),
        name: row.get("Name").cloned().unwrap_or_default(),
        requests,
        failures: num(row, "Failure Count").unwrap_or(0.0) as u64,
        median: num(row, "Median Response Time").unwrap_or(0.0),
        average: num(row, "Average Response Time").unwrap_or(0.0),
        min: num(row, "Min Response Time").unwrap_or(0.0),
        max: num(row, "Max Response Time").unwrap_or(0.0),
        avg_size: num(row, "Average Content Size").unwrap_or(0.0),
        rps: num(row, "Requests/s").unwrap_or(0.0),
        fps: num(row, "Failures/s").unwrap_or(0.0),
        percentiles: percentiles.filter(|_| requests > 0),
    }
}

fn history_point(row: &BTreeMap<String, String>) -> Option<Point> {
    Some(Point {
        t: num(row, "Timestamp")?,
        users: num(row, "User Count").unwrap_or(0.0) as u32,
        rps: num(row, "Requests/s").unwrap_or(0.0),
        fps: num(row, "Failures/s").unwrap_or(0.0),
        median: num(row, "50%").filter(|v| *v > 0.0),
        p95: num(row, "95%").filter(|v| *v > 0.0),
        p99: num(row, "99%").filter(|v| *v > 0.0),
        requests: num(row, "Total Request Count").unwrap_or(0.0) as u64,
        cpu: None,
    })
}

/// Fills what the run sheet next to the CSV files says (locusta writes one; Locust does not).
fn read_run_sheet(path: &Path, info: &mut RunInfo) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let mut cpu = None;
    let mut ram = None;
    for line in text.lines() {
        let Some((key, value)) = line.trim_start_matches("- ").split_once(": ") else {
            continue;
        };
        let value = value.trim().to_string();
        match key {
            "Scenario" => info.scenario = Some(value),
            "Target host" => info.host = Some(value),
            "Users" => info.users = value.parse().ok(),
            "Spawn Rate" => info.spawn_rate = value.parse().ok(),
            "Duration" => info.run_time = Some(value),
            "locusta version" => info.generator = format!("locusta {value}"),
            "Git commit" if !value.starts_with('(') => info.git_commit = Some(value),
            "Load generator CPU" => cpu = Some(value),
            "Load generator RAM" => ram = Some(value),
            _ => {}
        }
    }
    info.machine = match (cpu, ram) {
        (Some(c), Some(r)) => Some(format!("{c}, {r} RAM")),
        (c, r) => c.or(r),
    };
}

impl ReportData {
    /// From the CSV files of a run: `PREFIX_stats.csv` and, when present, the history,
    /// failures and exceptions files, and a `run_sheet.txt` beside them.
    pub fn from_csv(prefix: &Path) -> Result<ReportData, String> {
        let stats_file = file(prefix, "stats");
        let stats = read_rows(&stats_file)?;
        if let Some(first) = stats.first()
            && !["Type", "Name", "Request Count"]
                .iter()
                .all(|c| first.contains_key(*c))
        {
            return Err(format!(
                "{} is not a stats file: it has no Type, Name and Request Count columns",
                stats_file.display()
            ));
        }
        let (mut rows, mut total) = (Vec::new(), None);
        for r in &stats {
            let row = stats_row(r);
            if row.method.is_empty() && row.name == "Aggregated" {
                total = Some(row);
            } else {
                rows.push(row);
            }
        }
        let optional = |kind: &str| -> Result<Vec<BTreeMap<String, String>>, String> {
            let path = file(prefix, kind);
            if path.is_file() {
                read_rows(&path)
            } else {
                Ok(Vec::new())
            }
        };
        let failures = optional("failures")?
            .iter()
            .map(|r| FailureRow {
                method: r.get("Method").cloned().unwrap_or_default(),
                name: r.get("Name").cloned().unwrap_or_default(),
                error: r.get("Error").cloned().unwrap_or_default(),
                occurrences: num(r, "Occurrences").unwrap_or(0.0) as u64,
                first_seen: r.get("First Seen").cloned().unwrap_or_default(),
                last_seen: r.get("Last Seen").cloned().unwrap_or_default(),
            })
            .collect();
        let exceptions = optional("exceptions")?
            .iter()
            .map(|r| ExceptionRow {
                count: num(r, "Count").unwrap_or(0.0) as u64,
                message: r.get("Message").cloned().unwrap_or_default(),
                traceback: r.get("Traceback").cloned().unwrap_or_default(),
            })
            .collect();
        let mut aggregated = Vec::new();
        let mut endpoints: BTreeMap<(String, String), Vec<Point>> = BTreeMap::new();
        for r in optional("stats_history")? {
            let Some(point) = history_point(&r) else {
                continue;
            };
            let (method, name) = (
                r.get("Type").cloned().unwrap_or_default(),
                r.get("Name").cloned().unwrap_or_default(),
            );
            if method.is_empty() && name == "Aggregated" {
                aggregated.push(point);
            } else {
                endpoints.entry((name, method)).or_default().push(point);
            }
        }
        let mut info = RunInfo {
            generator: format!("CSV files {}_*.csv", prefix.display()),
            started: aggregated.first().map(|p| p.t),
            ended: aggregated.last().map(|p| p.t),
            ..RunInfo::default()
        };
        let folder = prefix
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        read_run_sheet(&folder.join("run_sheet.txt"), &mut info);
        Ok(ReportData {
            info,
            rows,
            total,
            failures,
            exceptions,
            aggregated,
            // Locust's full history has current percentiles for every row; without it the
            // Aggregated percentiles are cumulative.
            current_percentiles: !endpoints.is_empty(),
            endpoints: endpoints.into_iter().collect(),
            ratios: None,
            thresholds: Vec::new(),
        })
    }
}

impl ReportData {
    /// A made-up run of `seconds` at full load over `endpoints` endpoints, each second recorded
    /// as a run records it: for measuring the report's size and rendering time on a long soak
    /// (the unit tests and `benches/report.rs`).
    pub fn synthetic(seconds: u32, endpoints: usize) -> ReportData {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let start = 1_795_000_000.0;
        let mut history = History::default();
        let names: Vec<(String, String)> = (0..endpoints)
            .map(|i| {
                (
                    format!("/api/v1/portfolios/{{id}}/positions/section-{i}/"),
                    "GET".to_string(),
                )
            })
            .collect();
        let mut requests = 0;
        for s in 0..seconds {
            let t = start + f64::from(s);
            let users = (s * 10).min(500);
            requests += 800;
            let point = |rng: &mut rand::rngs::SmallRng, rps: f64| Point {
                t,
                users,
                rps,
                fps: rps * 0.001,
                median: Some(40.0 + rng.random_range(0.0..5.0)),
                p95: Some(120.0 + rng.random_range(0.0..40.0)),
                p99: Some(160.0 + rng.random_range(0.0..60.0)),
                requests,
                cpu: Some(35.0 + rng.random_range(0.0..10.0)),
            };
            let p = point(&mut rng, 800.0);
            history.aggregated.push(p);
            for key in &names {
                let p = point(&mut rng, 800.0 / endpoints as f64);
                history
                    .endpoints
                    .entry(key.clone())
                    .or_insert_with(Series::default)
                    .push(p);
            }
        }
        let row = |method: &str, name: &str, n: u64| Row {
            method: method.to_string(),
            name: name.to_string(),
            requests: n,
            failures: n / 1000,
            median: 41.0,
            average: 52.5,
            min: 1.2,
            max: 2300.0,
            avg_size: 5120.0,
            rps: 800.0 / endpoints as f64,
            fps: 0.8 / endpoints as f64,
            percentiles: Some(vec![
                41.0, 55.0, 63.0, 70.0, 98.0, 130.0, 170.0, 210.0, 800.0, 1900.0, 2300.0,
            ]),
        };
        let per_endpoint = requests / endpoints.max(1) as u64;
        ReportData {
            info: RunInfo {
                scenario: Some("scenarios/cistrade.yaml".to_string()),
                host: Some("http://127.0.0.1:8000".to_string()),
                users: Some(500),
                spawn_rate: Some(10.0),
                run_time: Some(crate::pyfmt::duration_words(u64::from(seconds))),
                started: Some(start),
                ended: Some(start + f64::from(seconds)),
                generator: "locusta (synthetic data)".to_string(),
                ..RunInfo::default()
            },
            rows: names.iter().map(|(n, m)| row(m, n, per_endpoint)).collect(),
            total: Some(row("", "Aggregated", requests)),
            failures: names
                .iter()
                .map(|(n, m)| FailureRow {
                    method: m.clone(),
                    name: n.clone(),
                    error: format!(
                        "HTTPError('503 Server Error: Service Unavailable for url: {n}')"
                    ),
                    occurrences: per_endpoint / 1000,
                    first_seen: "2026-11-18T10:00:00Z".to_string(),
                    last_seen: "2026-11-18T12:00:00Z".to_string(),
                })
                .collect(),
            exceptions: Vec::new(),
            aggregated: history.aggregated.points(),
            endpoints: history
                .endpoints
                .iter()
                .map(|(k, s)| (k.clone(), s.points()))
                .collect(),
            current_percentiles: true,
            ratios: None,
            thresholds: Vec::new(),
        }
    }
}
