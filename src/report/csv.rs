//! `--csv PREFIX`: Locust's four CSV files, same headers, columns, dialect and number formats.
//!
//! The files are rewritten every second during the run and once more at the end (Locust skips
//! that last write, so its files can lag its own summary by a second; ours do not). Rewritten
//! files are replaced by renaming a finished temporary file, so a reader, or a `kill -9`, never
//! sees half a file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::pyfmt;
use crate::stats::{PERCENTILES_TO_REPORT, RequestStats, StatsEntry, StatsError};

pub const STATS_HEADER: [&str; 22] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
];

pub const HISTORY_HEADER: [&str; 24] = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
];

pub const FAILURES_HEADER: [&str; 6] = [
    "Method",
    "Name",
    "Error",
    "Occurrences",
    "First Seen",
    "Last Seen",
];

pub const EXCEPTIONS_HEADER: [&str; 4] = ["Count", "Message", "Traceback", "Nodes"];

/// Python's `csv.writer` defaults: comma, minimal quoting, doubled quotes, CRLF.
fn writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .flexible(true)
        .from_writer(out)
}

fn to_csv(rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = writer(Vec::new());
    for row in rows {
        // Writing to a Vec cannot fail.
        let _ = w.write_record(&row);
    }
    w.into_inner().unwrap_or_default()
}

fn header(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|c| c.to_string()).collect()
}

/// `min or 0`, `max` (initially int 0): Locust prints int zero before the first request.
fn ms_or_int_zero(value: Option<f64>) -> String {
    match value {
        Some(v) if v != 0.0 => pyfmt::float(v),
        Some(_) | None => "0".to_string(),
    }
}

/// How the response-time columns are written: Locust's whole milliseconds (the default, so a
/// drop-in run's files parse as Locust's do), or locusta's exact values (`--csv-precise`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    /// Locust's types: percentiles as integers, the median an integer unless clamped.
    #[default]
    Locust,
    /// The exact HDR values in milliseconds with their microsecond decimals (`29.599`).
    Exact,
}

/// A percentile in Locust's type: `int(...)` of a whole number of milliseconds. Locust takes
/// its value from a bucket (two significant digits); ours is the exact value rounded to the
/// nearest millisecond, ties to even as Python's `round`, so 0.4 ms is written `0` as Locust
/// writes it and 145 ms stays `145` where Locust writes `140`.
fn whole_ms(ms: f64) -> String {
    // Percentiles are clamped to the samples seen, all finite and >= 0.
    locust_percentile(ms).to_string()
}

fn percentile_value(ms: f64, precision: Precision) -> String {
    match precision {
        Precision::Locust => whole_ms(ms),
        Precision::Exact => pyfmt::float(ms),
    }
}

/// A number with the type Locust gives it: a Python int, or a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Typed {
    Int(u64),
    Float(f64),
}

impl Typed {
    fn text(self) -> String {
        match self {
            Typed::Int(n) => n.to_string(),
            Typed::Float(x) => pyfmt::float(x),
        }
    }
}

/// `Median Response Time`: Locust's `median_response_time` is the 50% bucket (an int) clamped
/// to the raw [min, max] (a float then), `0` without samples. The same rule over the rounded
/// exact median gives the same type for the same requests: a single 151.84 ms request is
/// written `151.84...`, as Locust writes it.
pub fn locust_median(e: &StatsEntry) -> Typed {
    if e.num_requests == 0 {
        return Typed::Int(0);
    }
    let rounded = e.median().round_ties_even();
    match e.min_response_time {
        _ if rounded > e.max_response_time => Typed::Float(e.max_response_time),
        Some(min) if rounded < min => Typed::Float(min),
        _ => Typed::Int(rounded.max(0.0) as u64),
    }
}

/// A percentile as Locust's int (see [`whole_ms`]).
pub fn locust_percentile(ms: f64) -> u64 {
    ms.round_ties_even().max(0.0) as u64
}

fn median_field(e: &StatsEntry, precision: Precision) -> String {
    if precision == Precision::Exact && e.num_requests > 0 {
        return pyfmt::float(e.median());
    }
    locust_median(e).text()
}

fn content_field(e: &StatsEntry) -> String {
    e.avg_content_length()
        .map_or_else(|| "0".to_string(), pyfmt::float)
}

fn percentile_fields(
    values: Option<Vec<f64>>,
    has_requests: bool,
    empty: &str,
    precision: Precision,
) -> Vec<String> {
    match values {
        _ if !has_requests => vec!["N/A".to_string(); PERCENTILES_TO_REPORT.len()],
        Some(v) => v
            .into_iter()
            .map(|ms| percentile_value(ms, precision))
            .collect(),
        None => vec![empty.to_string(); PERCENTILES_TO_REPORT.len()],
    }
}

fn stats_row(stats: &RequestStats, e: &StatsEntry, precision: Precision) -> Vec<String> {
    let (rps, fps) = stats.total_rates(e);
    let mut row = vec![
        e.method.clone(),
        e.name.clone(),
        e.num_requests.to_string(),
        e.num_failures.to_string(),
        median_field(e, precision),
        pyfmt::float(e.avg_response_time()),
        ms_or_int_zero(e.min_response_time),
        ms_or_int_zero(Some(e.max_response_time)),
        content_field(e),
        pyfmt::float(rps),
        pyfmt::float(fps),
    ];
    row.extend(percentile_fields(
        e.percentiles(&PERCENTILES_TO_REPORT),
        e.num_requests > 0,
        "0",
        precision,
    ));
    row
}

/// `PREFIX_stats.csv`: entries in (name, method) order, then Aggregated.
pub fn stats_csv(stats: &RequestStats, precision: Precision) -> Vec<u8> {
    let rows = std::iter::once(header(&STATS_HEADER))
        .chain(stats.entries().map(|e| stats_row(stats, e, precision)))
        .chain(std::iter::once(stats_row(stats, &stats.total, precision)));
    to_csv(rows)
}

fn history_row(
    stats: &RequestStats,
    e: &StatsEntry,
    timestamp: u64,
    users: usize,
    current: bool,
    precision: Precision,
) -> Vec<String> {
    let (rps, fps) = stats.current_rates(e);
    let percentiles = if current {
        e.current_percentiles(&PERCENTILES_TO_REPORT)
    } else {
        e.percentiles(&PERCENTILES_TO_REPORT)
    };
    let mut row = vec![
        timestamp.to_string(),
        users.to_string(),
        e.method.clone(),
        e.name.clone(),
        format!("{rps:.6}"),
        format!("{fps:.6}"),
    ];
    row.extend(percentile_fields(
        percentiles,
        e.num_requests > 0,
        "0",
        precision,
    ));
    row.extend([
        e.num_requests.to_string(),
        e.num_failures.to_string(),
        median_field(e, precision),
        pyfmt::float(e.avg_response_time()),
        ms_or_int_zero(e.min_response_time),
        ms_or_int_zero(Some(e.max_response_time)),
        content_field(e),
    ]);
    row
}

/// The rows one tick appends to `PREFIX_stats_history.csv`. Without `--csv-full-history` only
/// the Aggregated row, with cumulative percentiles; with it every entry too, and all rows carry
/// the percentiles of the last ~10 seconds (Locust's behaviour, quirk Q5 of the spec).
pub fn history_rows(
    stats: &RequestStats,
    timestamp: u64,
    users: usize,
    full_history: bool,
    precision: Precision,
) -> Vec<u8> {
    let entries: Vec<&StatsEntry> = if full_history {
        stats.entries().collect()
    } else {
        Vec::new()
    };
    let rows = entries
        .into_iter()
        .map(|e| history_row(stats, e, timestamp, users, true, precision))
        .chain(std::iter::once(history_row(
            stats,
            &stats.total,
            timestamp,
            users,
            full_history,
            precision,
        )));
    to_csv(rows)
}

/// Locust orders failure rows by `sha256("{method}.{name}.{repr(error)}")`: it looks random, but
/// it is what every Locust failures file looks like, so we do the same.
pub fn failures_in_locust_order(errors: &[StatsError]) -> Vec<&StatsError> {
    let mut keyed: Vec<([u8; 32], &StatsError)> =
        errors.iter().map(|e| (e.locust_key(), e)).collect();
    keyed.sort_by_key(|(key, _)| *key);
    keyed.into_iter().map(|(_, e)| e).collect()
}

pub fn failures_csv(stats: &RequestStats) -> Vec<u8> {
    let rows = std::iter::once(header(&FAILURES_HEADER)).chain(
        failures_in_locust_order(stats.errors())
            .into_iter()
            .map(|e| {
                vec![
                    e.method.clone(),
                    e.name.clone(),
                    e.error.clone(),
                    e.occurrences.to_string(),
                    pyfmt::utc_timestamp(e.first_seen),
                    pyfmt::utc_timestamp(e.last_seen),
                ]
            }),
    );
    to_csv(rows)
}

pub fn exceptions_csv(stats: &RequestStats) -> Vec<u8> {
    let rows =
        std::iter::once(header(&EXCEPTIONS_HEADER)).chain(stats.exceptions().iter().map(|x| {
            vec![
                x.count.to_string(),
                x.message.clone(),
                x.traceback.clone(),
                "local".to_string(),
            ]
        }));
    to_csv(rows)
}

/// Writes `bytes` to `path` by way of a temporary file and a rename.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// The four files of one `--csv PREFIX`.
pub struct CsvFiles {
    stats: PathBuf,
    failures: PathBuf,
    exceptions: PathBuf,
    history: File,
    history_path: PathBuf,
    full_history: bool,
    precision: Precision,
}

impl CsvFiles {
    /// Creates the prefix's folders and the four files with their headers, as Locust does at
    /// start-up, so a run that fails early still leaves well-formed files.
    pub fn create(prefix: &str, full_history: bool, precision: Precision) -> io::Result<Self> {
        let path = |suffix: &str| PathBuf::from(format!("{prefix}_{suffix}.csv"));
        if let Some(parent) = Path::new(prefix)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            fs::create_dir_all(parent)?;
        }
        let stats = path("stats");
        let failures = path("failures");
        let exceptions = path("exceptions");
        let history_path = path("stats_history");
        replace_file(&stats, &to_csv([header(&STATS_HEADER)]))?;
        replace_file(&failures, &to_csv([header(&FAILURES_HEADER)]))?;
        replace_file(&exceptions, &to_csv([header(&EXCEPTIONS_HEADER)]))?;
        let mut history = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&history_path)?;
        history.write_all(&to_csv([header(&HISTORY_HEADER)]))?;
        Ok(CsvFiles {
            stats,
            failures,
            exceptions,
            history,
            history_path,
            full_history,
            precision,
        })
    }

    /// One tick: rewrite the three snapshot files, append to the history.
    pub fn write(&mut self, stats: &RequestStats, users: usize, now: f64) -> io::Result<()> {
        replace_file(&self.stats, &stats_csv(stats, self.precision))?;
        replace_file(&self.failures, &failures_csv(stats))?;
        replace_file(&self.exceptions, &exceptions_csv(stats))?;
        // One write per tick keeps each appended block whole.
        self.history.write_all(&history_rows(
            stats,
            now as u64,
            users,
            self.full_history,
            self.precision,
        ))?;
        self.history.flush()
    }

    pub fn paths(&self) -> [&Path; 4] {
        [
            &self.stats,
            &self.history_path,
            &self.failures,
            &self.exceptions,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{RequestSample, Stats};

    fn fixture() -> Stats {
        let stats = Stats::new(1, 1_795_374_118.0);
        let t = 1_795_374_119.5;
        let record = |method, name, ms, len, error| {
            stats.record(&RequestSample {
                method,
                name,
                response_time_ms: ms,
                content_length: len,
                error,
                timestamp: t,
            })
        };
        record("GET", "/", 3.5, 1234, None);
        record("GET", "/", 1.25, 1234, None);
        record("POST", "/b, with \"quotes\"", 2.0, 14, None);
        record(
            "GET",
            "/fail",
            4.0,
            4,
            Some("HTTPError('500 Server Error: Internal Server Error for url: /fail')"),
        );
        record(
            "GET",
            "/refused",
            1.0,
            0,
            Some("ConnectionRefusedError(111, 'Connection refused')"),
        );
        stats
    }

    #[test]
    fn empty_run_matches_locusts_bytes() {
        let stats = Stats::new(1, 0.0);
        let s = stats.collect();
        let got = String::from_utf8(stats_csv(&s, Precision::Locust)).unwrap();
        let want = format!(
            "{}\r\n,Aggregated,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\r\n",
            STATS_HEADER.join(",")
        );
        assert_eq!(got, want);
        let history =
            String::from_utf8(history_rows(&s, 1795374118, 0, false, Precision::Locust)).unwrap();
        assert_eq!(
            history,
            "1795374118,0,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0\r\n"
        );
    }

    #[test]
    fn stats_rows_quote_and_format_like_python() {
        let stats = fixture();
        let s = stats.collect();
        let text = String::from_utf8(stats_csv(&s, Precision::Locust)).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        // The median of [1.25, 3.5] is 3.5 (Locust's upper median), rounded to 4: above the
        // max, so clamped to it as Locust clamps, a float; the percentiles are whole ms.
        assert_eq!(
            lines[1],
            "GET,/,2,0,3.5,2.375,1.25,3.5,1234.0,1.3333333333333333,0.0,4,4,4,4,4,4,4,4,4,4,4"
        );
        let exact = String::from_utf8(stats_csv(&s, Precision::Exact)).unwrap();
        assert_eq!(
            exact.split("\r\n").nth(1).unwrap(),
            "GET,/,2,0,3.5,2.375,1.25,3.5,1234.0,1.3333333333333333,0.0,3.5,3.5,3.5,3.5,3.5,3.5,3.5,3.5,3.5,3.5,3.5"
        );
        assert!(lines[2].starts_with("POST,\"/b, with \"\"quotes\"\"\",1,0,2,2.0,"));
        assert!(lines[5].starts_with(",Aggregated,5,2,"));
        assert_eq!(lines[6], "");
    }

    /// Locust's median rule over whole milliseconds: an int inside [min, max], the raw min or
    /// max (a float) when the rounded value falls outside; 0.4 ms is `0` as Locust writes it.
    #[test]
    fn medians_and_percentiles_take_locusts_types() {
        let cases: [(&[f64], &str, &str); 5] = [
            (&[29.599, 29.7, 31.2], "30", "30"),
            (&[151.84456299999738], "151.84456299999738", "152"),
            (&[0.4], "0.4", "0"),
            (&[145.0, 145.0, 145.0], "145", "145"),
            (&[2.5, 2.5], "2.5", "2"),
        ];
        for (samples, median, p50) in cases {
            let stats = Stats::new(1, 0.0);
            for &ms in samples {
                stats.record(&RequestSample {
                    method: "GET",
                    name: "/",
                    response_time_ms: ms,
                    content_length: 0,
                    error: None,
                    timestamp: 1.0,
                });
            }
            let s = stats.collect();
            let text = String::from_utf8(stats_csv(&s, Precision::Locust)).unwrap();
            let row: Vec<&str> = text.split("\r\n").nth(1).unwrap().split(',').collect();
            assert_eq!((row[4], row[11]), (median, p50), "{samples:?}");
            assert!(
                row[11..].iter().all(|v| v.parse::<u64>().is_ok()),
                "{row:?}"
            );
        }
    }

    /// The sorted-samples oracle still holds after rounding: each integer percentile is the
    /// Locust-rank sample rounded to the nearest ms, within the histogram's 0.1%.
    #[test]
    fn whole_ms_percentiles_are_the_sorted_samples_rounded() {
        use rand::{RngExt, SeedableRng, rngs::SmallRng};
        let mut rng = SmallRng::seed_from_u64(11);
        for round in 0..100 {
            let n = rng.random_range(1..2000);
            let samples: Vec<f64> = (0..n)
                .map(|_| match round % 3 {
                    0 => rng.random_range(0.05..3.0),
                    1 => rng.random_range(1.0..2000.0),
                    _ => rng.random_range(0.0f64..1.0).powi(6) * 30_000.0 + 0.3,
                })
                .collect();
            let stats = Stats::new(1, 0.0);
            for &ms in &samples {
                stats.record(&RequestSample {
                    method: "GET",
                    name: "/",
                    response_time_ms: ms,
                    content_length: 0,
                    error: None,
                    timestamp: 1.0,
                });
            }
            let text = String::from_utf8(stats_csv(&stats.collect(), Precision::Locust)).unwrap();
            let row: Vec<String> = text
                .split("\r\n")
                .nth(1)
                .unwrap()
                .split(',')
                .map(String::from)
                .collect();
            let mut sorted: Vec<f64> = samples
                .iter()
                .map(|ms| (ms * 1000.0).round() / 1000.0)
                .collect();
            sorted.sort_by(f64::total_cmp);
            for (i, p) in PERCENTILES_TO_REPORT.iter().enumerate() {
                let want = sorted[((n as f64 * p) as usize).min(n - 1)];
                let got: u64 = row[11 + i].parse().expect("an integer, as Locust writes");
                let slack = 0.5 + want * 0.001 + 0.0005;
                assert!(
                    (got as f64 - want).abs() <= slack,
                    "round {round}, p {p}: {got} for {want}"
                );
            }
        }
    }

    #[test]
    fn failures_follow_locusts_sha256_order() {
        let stats = fixture();
        let s = stats.collect();
        let text = String::from_utf8(failures_csv(&s)).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        // Same keys as the Locust sample: ConnectionRefused (7409…) sorts before HTTPError (adcb…).
        assert!(
            lines[1].starts_with(
                "GET,/refused,\"ConnectionRefusedError(111, 'Connection refused')\",1,"
            )
        );
        assert!(lines[2].starts_with("GET,/fail,HTTPError("));
        assert!(lines[2].ends_with(",1,2026-11-22T19:01:59Z,2026-11-22T19:01:59Z"));
    }
}
