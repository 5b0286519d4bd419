//! `--html FILE` and `locusta report`: one self-contained page (styles, charts and a few lines of
//! script inline; nothing fetched), rendered with askama from `templates/report.html`.
//!
//! Every value reaches the page through the template's escaping; only the SVG built in `svg`
//! (which escapes its own text) is inserted as markup.

use askama::Template;
use chrono::{DateTime, Local, TimeZone, Utc};

use super::data::{ExceptionRow, FailureRow, ReportData, Row};
use super::flags::{Flag, red_flags};
use super::svg::{self, Chart, Line, PALETTE};
use crate::scenario::plan::Ratio;
use crate::stats::history::Point;

/// A table cell: what it shows, and what it sorts by.
struct Cell {
    text: String,
    sort: String,
}

impl Cell {
    fn text(s: &str) -> Cell {
        Cell {
            text: s.to_string(),
            sort: s.to_string(),
        }
    }

    fn ms(v: f64) -> Cell {
        Cell {
            text: svg::number(v),
            sort: v.to_string(),
        }
    }

    fn count(n: u64) -> Cell {
        Cell {
            text: n.to_string(),
            sort: n.to_string(),
        }
    }

    fn rate(v: f64) -> Cell {
        Cell {
            text: format!("{v:.2}"),
            sort: v.to_string(),
        }
    }

    fn none() -> Cell {
        Cell {
            text: "N/A".to_string(),
            sort: "-1".to_string(),
        }
    }
}

struct FlagView {
    title: String,
    detail: String,
    when: Option<String>,
}

struct RatioLine {
    depth: usize,
    percent: String,
    name: String,
}

struct ThresholdView {
    endpoint: String,
    threshold: String,
    actual: String,
    verdict: &'static str,
    failed: bool,
}

/// One chart of the report: what the web UI's Charts tab shows too.
pub struct ChartView {
    pub title: String,
    pub note: String,
    pub svg: String,
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page {
    title: String,
    meta: Vec<(&'static str, String)>,
    flags: Vec<FlagView>,
    thresholds: Vec<ThresholdView>,
    thresholds_failed: usize,
    stats_head: Vec<&'static str>,
    stats_rows: Vec<Vec<Cell>>,
    stats_total: Vec<Cell>,
    percentile_head: Vec<&'static str>,
    percentile_rows: Vec<Vec<Cell>>,
    percentile_total: Vec<Cell>,
    charts: Vec<ChartView>,
    failures: Vec<FailureRow>,
    exceptions: Vec<ExceptionRow>,
    user_counts: Vec<(String, String)>,
    per_class: Vec<RatioLine>,
    total_ratio: Vec<RatioLine>,
    generated: String,
}

fn when(t: f64) -> String {
    let utc = Utc
        .timestamp_opt(t as i64, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let local: DateTime<Local> = utc.with_timezone(&Local);
    format!(
        "{} UTC ({} local)",
        utc.format("%Y-%m-%d %H:%M:%S"),
        local.format("%H:%M:%S %:z")
    )
}

fn stats_cells(r: &Row) -> Vec<Cell> {
    let pct = |p: f64| r.percentile(p).map_or_else(Cell::none, Cell::ms);
    vec![
        Cell::text(&r.method),
        Cell::text(&r.name),
        Cell::count(r.requests),
        Cell::count(r.failures),
        if r.requests > 0 {
            Cell::ms(r.median)
        } else {
            Cell::none()
        },
        pct(0.95),
        pct(0.99),
        Cell::ms(r.average),
        Cell::ms(r.min),
        Cell::ms(r.max),
        Cell {
            text: format!("{:.0}", r.avg_size),
            sort: r.avg_size.to_string(),
        },
        Cell::rate(r.rps),
        Cell::rate(r.fps),
    ]
}

fn percentile_cells(r: &Row) -> Vec<Cell> {
    let mut cells = vec![Cell::text(&r.method), Cell::text(&r.name)];
    match &r.percentiles {
        Some(values) => cells.extend(values.iter().map(|v| Cell::ms(*v))),
        None => cells.extend((0..11).map(|_| Cell::none())),
    }
    cells.push(Cell::count(r.requests));
    cells
}

fn flatten(ratios: &[Ratio], depth: usize, out: &mut Vec<RatioLine>) {
    for r in ratios {
        out.push(RatioLine {
            depth,
            percent: format!("{:.1}%", r.ratio * 100.0),
            name: r.name.clone(),
        });
        flatten(&r.children, depth + 1, out);
    }
}

fn series(points: &[Point], value: impl Fn(&Point) -> Option<f64>) -> Vec<(f64, Option<f64>)> {
    points.iter().map(|p| (p.t, value(p))).collect()
}

fn line(label: &str, color: usize, points: Vec<(f64, Option<f64>)>) -> Line {
    Line {
        label: label.to_string(),
        color: PALETTE[color % PALETTE.len()],
        points,
    }
}

/// The charts, in the order the guide reads them.
pub fn charts(data: &ReportData) -> Vec<ChartView> {
    let a = &data.aggregated;
    let percentiles_note = if data.current_percentiles {
        "Percentiles of the requests of the last 10 seconds."
    } else {
        "Cumulative percentiles, as Locust's history file holds them (--csv-full-history gives the last 10 seconds)."
    };
    let mut out = vec![
        ChartView {
            title: "Total requests per second".into(),
            note: "Should be steady, not declining. Locust's current rate: the mean of the 10 seconds before the last 2.".into(),
            svg: svg::render(&Chart {
                title: "Total requests per second".into(),
                unit: "requests/s",
                lines: vec![
                    line("Requests/s", 0, series(a, |p| Some(p.rps))),
                    line("Failures/s", 1, series(a, |p| Some(p.fps))),
                ],
            }),
        },
        ChartView {
            title: "Response times".into(),
            note: format!("Should be flat, not increasing. {percentiles_note}"),
            svg: svg::render(&Chart {
                title: "Response times (ms)".into(),
                unit: "ms",
                lines: vec![
                    line("Median", 0, series(a, |p| p.median)),
                    line("95th percentile", 1, series(a, |p| p.p95)),
                    line("99th percentile", 3, series(a, |p| p.p99)),
                ],
            }),
        },
        ChartView {
            title: "Number of users".into(),
            note: "The ramp-up, then the users running.".into(),
            svg: svg::render(&Chart {
                title: "Number of users".into(),
                unit: "users",
                lines: vec![line("Users", 2, series(a, |p| Some(f64::from(p.users))))],
            }),
        },
        ChartView {
            title: "Total requests".into(),
            note: "Should increase linearly.".into(),
            svg: svg::render(&Chart {
                title: "Total requests".into(),
                unit: "requests",
                lines: vec![line("Requests", 0, series(a, |p| Some(p.requests as f64)))],
            }),
        },
    ];
    // The five endpoints with the highest 95th percentile over the run.
    let mut slow: Vec<&Row> = data
        .rows
        .iter()
        .filter(|r| r.percentile(0.95).is_some())
        .collect();
    slow.sort_by(|x, y| {
        y.percentile(0.95)
            .unwrap_or(0.0)
            .total_cmp(&x.percentile(0.95).unwrap_or(0.0))
    });
    let lines: Vec<Line> = slow
        .iter()
        .take(5)
        .enumerate()
        .filter_map(|(i, r)| {
            let points = data
                .endpoints
                .iter()
                .find(|(k, _)| k.0 == r.name && k.1 == r.method)
                .map(|(_, p)| p)?;
            let label = if r.method.is_empty() {
                r.name.clone()
            } else {
                format!("{} {}", r.method, r.name)
            };
            Some(line(&label, i, series(points, |p| p.p95)))
        })
        .collect();
    if !lines.is_empty() {
        out.push(ChartView {
            title: "Slowest endpoints".into(),
            note: format!("The 95th percentile over time of the endpoints slowest over the run. {percentiles_note}"),
            svg: svg::render(&Chart {
                title: "Slowest endpoints, 95th percentile (ms)".into(),
                unit: "ms",
                lines,
            }),
        });
    }
    if a.iter().any(|p| p.cpu.is_some()) {
        out.push(ChartView {
            title: "Load generator CPU".into(),
            note:
                "The share of this machine's CPU locusta used; above 90% its own timing is suspect."
                    .into(),
            svg: svg::render(&Chart {
                title: "Load generator CPU (%)".into(),
                unit: "%",
                lines: vec![line("CPU", 3, series(a, |p| p.cpu))],
            }),
        });
    }
    out
}

fn flag_view(f: Flag) -> FlagView {
    FlagView {
        title: f.title,
        detail: f.detail,
        when: f.when.map(when),
    }
}

/// The report as one HTML document.
pub fn render(data: &ReportData) -> String {
    let i = &data.info;
    let mut meta: Vec<(&'static str, String)> = Vec::new();
    let mut add = |label: &'static str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            meta.push((label, v));
        }
    };
    add("Scenario", i.scenario.clone());
    add("Target host", i.host.clone());
    add("Users", i.users.map(|u| u.to_string()));
    add(
        "Spawn rate",
        i.spawn_rate
            .map(|r| format!("{} users/s", crate::pyfmt::int_or_float(r))),
    );
    add("Run time", i.run_time.clone());
    add("Started", i.started.map(when));
    add("Ended", i.ended.map(when));
    add(
        "Duration",
        i.started
            .zip(i.ended)
            .map(|(s, e)| crate::pyfmt::duration_words((e - s).max(0.0) as u64)),
    );
    add("Measured by", Some(i.generator.clone()));
    add("Git commit", i.git_commit.clone());
    add("Load machine", i.machine.clone());

    let (mut per_class, mut total_ratio) = (Vec::new(), Vec::new());
    if let Some((p, t)) = &data.ratios {
        flatten(p, 0, &mut per_class);
        flatten(t, 0, &mut total_ratio);
    }
    let page = Page {
        title: match &i.scenario {
            Some(s) => format!("locusta report: {s}"),
            None => "locusta report".to_string(),
        },
        meta,
        flags: red_flags(data).into_iter().map(flag_view).collect(),
        thresholds: data
            .thresholds
            .iter()
            .map(|o| ThresholdView {
                endpoint: o.endpoint.clone(),
                threshold: o.threshold.text.clone(),
                actual: o.actual_text(),
                verdict: o.verdict.word(),
                failed: o.failed(),
            })
            .collect(),
        thresholds_failed: data.thresholds.iter().filter(|o| o.failed()).count(),
        stats_head: vec![
            "Type",
            "Name",
            "# Requests",
            "# Fails",
            "Median (ms)",
            "95%ile (ms)",
            "99%ile (ms)",
            "Average (ms)",
            "Min (ms)",
            "Max (ms)",
            "Average size (bytes)",
            "RPS",
            "Failures/s",
        ],
        stats_rows: data.rows.iter().map(stats_cells).collect(),
        stats_total: data.total.as_ref().map(stats_cells).unwrap_or_default(),
        percentile_head: vec![
            "Type",
            "Name",
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
            "# Requests",
        ],
        percentile_rows: data.rows.iter().map(percentile_cells).collect(),
        percentile_total: data
            .total
            .as_ref()
            .map(percentile_cells)
            .unwrap_or_default(),
        charts: charts(data),
        failures: data.failures.clone(),
        exceptions: data.exceptions.clone(),
        user_counts: i
            .user_counts
            .iter()
            .map(|(n, c)| (n.clone(), c.to_string()))
            .collect(),
        per_class,
        total_ratio,
        generated: Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    };
    page.render().unwrap_or_else(|e| format!("<!DOCTYPE html><title>locusta report</title><p>The report could not be rendered: {e}</p>"))
}

/// `--html` placeholders, as Locust's: `{u}` users, `{r}` spawn rate, `{t}` run time in seconds
/// (each left as is when not known).
pub fn expand_filename(
    template: &str,
    users: Option<u64>,
    spawn_rate: Option<f64>,
    run_time: Option<u64>,
) -> String {
    let mut out = template.to_string();
    if let Some(u) = users {
        out = out.replace("{u}", &u.to_string());
    }
    if let Some(r) = spawn_rate {
        out = out.replace("{r}", &crate::pyfmt::int_or_float(r));
    }
    if let Some(t) = run_time {
        out = out.replace("{t}", &t.to_string());
    }
    out
}

/// Writes the report (folders created, file replaced whole).
pub fn write(path: &std::path::Path, data: &ReportData) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    super::csv::replace_file(path, render(data).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_like_locust() {
        assert_eq!(
            expand_filename("rep_{u}_{r}_{t}.html", Some(2), Some(0.5), Some(4)),
            "rep_2_0.5_4.html"
        );
        assert_eq!(
            expand_filename("rep_{u}_{r}_{t}.html", Some(100), Some(10.0), None),
            "rep_100_10_{t}.html"
        );
    }

    #[test]
    fn a_two_hour_soak_stays_well_under_a_megabyte() {
        let data = ReportData::synthetic(2 * 3600, 30);
        assert!(
            data.aggregated.len() <= 1801,
            "history is bounded: {}",
            data.aggregated.len()
        );
        let html = render(&data);
        assert!(html.len() < 600_000, "{} bytes", html.len());
        // Every table row is there; the charts are thinned, not cut.
        assert_eq!(
            html.matches("<tr>").count(),
            1 + 30 + 1 + 1 + 30 + 1 + 1 + 30
        );
        assert!(html.contains("Slowest endpoints"));
    }
}
