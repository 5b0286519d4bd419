//! Gate verdicts for people: the thresholds' pass/fail table and the comparison of two runs,
//! in the console's layout and as Markdown.

use std::fmt::Write;

use crate::gate::compare::{CompareMetric, Comparison, MetricChange};
use crate::gate::{Outcome, Verdict};

/// Widest a column of the console table grows before its text is cut with `...`.
const MAX_COLUMN: usize = 60;

fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let kept: String = s.chars().take(width.saturating_sub(3)).collect();
        format!("{kept}...")
    }
}

fn headline(outcomes: &[Outcome]) -> String {
    let failed = outcomes.iter().filter(|o| o.failed()).count();
    let not_run = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::NotRun)
        .count();
    let judged = outcomes.len() - not_run;
    let also = if not_run > 0 {
        format!(" ({not_run} not run)")
    } else {
        String::new()
    };
    match failed {
        0 => format!("Thresholds: all {judged} passed{also}"),
        n => format!("Thresholds: {n} of {judged} failed{also}"),
    }
}

/// Each column as wide as its widest cell or heading, up to `MAX_COLUMN`.
fn column_widths<H: AsRef<str>, R: AsRef<[String]>>(heads: &[H], rows: &[R]) -> Vec<usize> {
    (0..heads.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.as_ref()[i].chars().count())
                .chain([heads[i].as_ref().len()])
                .max()
                .unwrap_or(0)
                .min(MAX_COLUMN)
        })
        .collect()
}

/// The console table, printed after the final summary.
pub fn thresholds_table(outcomes: &[Outcome]) -> String {
    if outcomes.is_empty() {
        return String::new();
    }
    let rows: Vec<[String; 4]> = outcomes
        .iter()
        .map(|o| {
            [
                o.endpoint.clone(),
                o.threshold.text.clone(),
                o.actual_text(),
                o.verdict.word().to_string(),
            ]
        })
        .collect();
    let heads = ["Endpoint", "Threshold", "Actual", "Result"];
    let widths = column_widths(&heads, &rows);
    let mut out = format!("{}\n", headline(outcomes));
    let line = |out: &mut String, cells: [&str; 4]| {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            cut(cells[0], widths[0]),
            cut(cells[1], widths[1]),
            cut(cells[2], widths[2]),
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        );
    };
    line(&mut out, heads);
    let _ = writeln!(out, "{}", "-".repeat(widths.iter().sum::<usize>() + 6));
    for r in &rows {
        line(&mut out, [&r[0], &r[1], &r[2], &r[3]]);
    }
    out.push('\n');
    out
}

fn markdown_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The same table in Markdown, for a pull-request comment.
pub fn thresholds_markdown(outcomes: &[Outcome]) -> String {
    let mut out = format!(
        "**{}**\n\n| Endpoint | Threshold | Actual | Result |\n| --- | --- | --- | --- |\n",
        headline(outcomes)
    );
    for o in outcomes {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            markdown_cell(&o.endpoint),
            markdown_cell(&o.threshold.text),
            markdown_cell(&o.actual_text()),
            match o.verdict {
                Verdict::Fail => "**FAIL**",
                v => v.word(),
            }
        );
    }
    out
}

fn change_text(m: &MetricChange) -> String {
    match (m.change, m.metric) {
        (None, _) => "-".to_string(),
        (Some(d), CompareMetric::FailureRate) => format!("{:+.2} pt", d * 100.0),
        (Some(d), _) => format!("{:+.1}%", d * 100.0),
    }
}

fn limit_text(m: &MetricChange) -> String {
    match (m.limit, m.metric) {
        (None, _) => String::new(),
        (Some(l), CompareMetric::FailureRate) => format!("limit +{:.2} pt", l * 100.0),
        (Some(l), CompareMetric::Rps) => format!("limit -{:.0}%", l * 100.0),
        (Some(l), _) => format!("limit +{:.0}%", l * 100.0),
    }
}

fn value_text(m: &MetricChange, v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| m.metric.show(v))
}

/// One line per regression: which endpoint, which metric, from what to what.
fn regression_lines(c: &Comparison) -> Vec<String> {
    c.endpoints
        .iter()
        .flat_map(|e| {
            e.metrics.iter().filter(|m| m.regression).map(move |m| {
                format!(
                    "{}: {} {} -> {} ({}, {})",
                    e.label(),
                    m.metric.label(),
                    value_text(m, m.baseline),
                    value_text(m, m.latest),
                    change_text(m),
                    limit_text(m)
                )
            })
        })
        .collect()
}

fn comparison_rows(c: &Comparison) -> Vec<Vec<String>> {
    c.endpoints
        .iter()
        .map(|e| {
            let mut row = vec![
                e.label(),
                format!("{} -> {}", e.baseline_requests, e.latest_requests),
            ];
            row.extend(e.metrics.iter().map(|m| {
                let mark = match (m.regression, c.gated && !e.judged && m.change.is_some()) {
                    (true, _) => "!",
                    (false, true) => "?",
                    _ => "",
                };
                format!("{}{mark}", change_text(m))
            }));
            row
        })
        .collect()
}

pub fn comparison_headline(c: &Comparison) -> String {
    match c.regressions {
        0 => "No regressions beyond the limits".to_string(),
        1 => "1 regression beyond the limits".to_string(),
        n => format!("{n} regressions beyond the limits"),
    }
}

/// The console table: per endpoint, the change of each metric from the baseline (`!` a
/// regression, `?` too few requests to judge), then the regressions in words.
pub fn comparison_table(c: &Comparison) -> String {
    let mut heads = vec!["Endpoint".to_string(), "Requests".to_string()];
    heads.extend(CompareMetric::ALL.iter().map(|m| m.label().to_string()));
    let rows = comparison_rows(c);
    let widths = column_widths(&heads, &rows);
    let mut out = format!(
        "Comparison of {} (baseline) and {} (latest)\n",
        c.baseline, c.latest
    );
    let line = |out: &mut String, cells: &[String]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let cell = cut(cell, widths[i]);
            if i == 0 {
                let _ = write!(text, "{cell:<w$}", w = widths[i]);
            } else {
                let _ = write!(text, "  {cell:>w$}", w = widths[i]);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&mut out, &heads);
    let _ = writeln!(
        out,
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
    );
    for r in &rows {
        line(&mut out, r);
    }
    if !c.added.is_empty() {
        let _ = writeln!(out, "Only in the latest run: {}", c.added.join(", "));
    }
    if !c.removed.is_empty() {
        let _ = writeln!(out, "Only in the baseline: {}", c.removed.join(", "));
    }
    if c.gated {
        let _ = writeln!(
            out,
            "! beyond the limit; ? fewer than {} requests in a run: not judged",
            c.min_requests
        );
    }
    let _ = writeln!(out, "\n{}", comparison_headline(c));
    for l in regression_lines(c) {
        let _ = writeln!(out, "  {l}");
    }
    out
}

/// The same as Markdown, for a pull-request comment.
pub fn comparison_markdown(c: &Comparison) -> String {
    let mut out = format!(
        "### {}\n\nBaseline `{}`, latest `{}`. Changes from the baseline; **bold**: beyond the limit, _italic_: too few requests to judge.\n\n| Endpoint | Requests |",
        comparison_headline(c),
        markdown_cell(&c.baseline),
        markdown_cell(&c.latest)
    );
    for m in CompareMetric::ALL {
        let _ = write!(out, " {} |", m.label());
    }
    out.push_str("\n| --- | ---: |");
    out.push_str(&" ---: |".repeat(CompareMetric::ALL.len()));
    out.push('\n');
    for e in &c.endpoints {
        let _ = write!(
            out,
            "| {} | {} -> {} |",
            markdown_cell(&e.label()),
            e.baseline_requests,
            e.latest_requests
        );
        for m in &e.metrics {
            let text = change_text(m);
            let cell = if m.regression {
                format!("**{text}**")
            } else if c.gated && !e.judged && m.change.is_some() {
                format!("_{text}_")
            } else {
                text
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    if !c.added.is_empty() {
        let _ = write!(
            out,
            "\nOnly in the latest run: {}\n",
            markdown_cell(&c.added.join(", "))
        );
    }
    if !c.removed.is_empty() {
        let _ = write!(
            out,
            "\nOnly in the baseline: {}\n",
            markdown_cell(&c.removed.join(", "))
        );
    }
    let lines = regression_lines(c);
    if !lines.is_empty() {
        out.push('\n');
        for l in lines {
            let _ = writeln!(out, "- {}", markdown_cell(&l));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{Target, Threshold};

    fn outcome(endpoint: &str, text: &str, actual: Option<f64>, verdict: Verdict) -> Outcome {
        Outcome {
            threshold: Threshold::parse(text, &Target::All).unwrap(),
            endpoint: endpoint.to_string(),
            actual,
            verdict,
        }
    }

    #[test]
    fn a_table_a_person_reads_at_a_glance() {
        let outcomes = [
            outcome(
                "All requests",
                "error_rate < 1%",
                Some(0.0025),
                Verdict::Pass,
            ),
            outcome(
                "GET Portfolio List",
                "p95 < 800ms",
                Some(912.5),
                Verdict::Fail,
            ),
            outcome("Nothing|here", "median < 1s", None, Verdict::NotRun),
        ];
        assert_eq!(
            thresholds_table(&outcomes),
            "Thresholds: 1 of 2 failed (1 not run)\n\
             Endpoint            Threshold        Actual       Result\n\
             ---------------------------------------------------------\n\
             All requests        error_rate < 1%  0.25%        pass\n\
             GET Portfolio List  p95 < 800ms      912.5 ms     FAIL\n\
             Nothing|here        median < 1s      no requests  not run\n\n"
        );
        let md = thresholds_markdown(&outcomes);
        assert!(
            md.starts_with("**Thresholds: 1 of 2 failed (1 not run)**\n\n| Endpoint |"),
            "{md}"
        );
        assert!(
            md.contains("| GET Portfolio List | `p95 < 800ms` | 912.5 ms | **FAIL** |"),
            "{md}"
        );
        assert!(md.contains("| Nothing\\|here |"), "{md}");
        assert_eq!(thresholds_table(&[]), "");
    }
}
